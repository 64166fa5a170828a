/*
 * Helpers shared by the seccomp filters of the worker and the monitor.
 */

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "filter.h"
#include "log.h"

/*
 * An empty filter that kills on anything not allowed later, and on any
 * system call of a foreign ABI (which would bypass every rule).  Callers
 * set no_new_privs themselves.
 */
scmp_filter_ctx
filter_new(void)
{
	scmp_filter_ctx	ctx;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("seccomp_init");
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0)
		fatalx("seccomp_attr_set");
	return (ctx);
}

void
filter_add_list(scmp_filter_ctx ctx, uint32_t action, const int *nr,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, action, nr[i], 0) != 0)
			fatalx("seccomp rule for syscall %d", nr[i]);
}
