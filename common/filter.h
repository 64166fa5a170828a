/*
 * Helpers shared by the seccomp filters of the worker and the monitor.
 */

#ifndef SECURER_FILTER_H
#define SECURER_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include <seccomp.h>

scmp_filter_ctx	filter_new(void);
void	filter_add_list(scmp_filter_ctx, uint32_t, const int *, size_t);

/* One rule per system call of a list, all with the same action. */
#define FILTER_ADD(ctx, action, list) \
	filter_add_list(ctx, action, list, sizeof(list) / sizeof(list[0]))

#endif /* SECURER_FILTER_H */
