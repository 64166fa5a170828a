/*
 * Helpers shared by the seccomp filters of the worker and the monitor.
 */

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "filter.h"
#include "log.h"

void
filter_add_list(scmp_filter_ctx ctx, uint32_t action, const int *nr,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, action, nr[i], 0) != 0)
			fatalx("seccomp rule for syscall %d", nr[i]);
}
