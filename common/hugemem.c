/*
 * A value of tens of megabytes is written into memory just allocated:
 * on a virtual machine each 4 KiB page of it costs a fault of ten
 * microseconds or more (a third of a second for 80 MB, more than the
 * copies themselves).  Asking for transparent huge pages before the
 * first touch makes that a fault per 2 MiB.
 *
 * Only advice: the buffer stays malloc(3)'s (free(3) and realloc(3)
 * work as before), only the 2 MiB-aligned part inside it is advised,
 * and where the kernel has no such pages nothing changes.
 */

#include <sys/mman.h>

#include <stdint.h>

#include "hugemem.h"

#define HUGE_PAGE	(2UL * 1024 * 1024)
#define HUGE_MIN	(4 * HUGE_PAGE)	/* smaller buffers are left alone */

void
hugemem_advise(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
	uintptr_t	start, end;

	if (p == NULL || len < HUGE_MIN)
		return;
	start = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	end = ((uintptr_t)p + len) & ~(uintptr_t)(HUGE_PAGE - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
	(void)p;
	(void)len;
#endif
}
