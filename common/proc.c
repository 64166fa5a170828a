/*
 * The table of securerd's processes.  It is documentation as much as
 * data: t_channels prints it into DESIGN.md and checks that the copy
 * there is this one.
 */

#include "proc.h"

const struct proc_info	procs[PROC_MAX] = {
	[PROC_BROKER] = {
		"broker", "securerd",
		"by the operator or a client's private start",
		"root (or the user, single-user); never parses client "
		"input, never runs R",
	},
	[PROC_MONITOR] = {
		"monitor", "securerd -M",
		"exec'd by the broker, again after each crash",
		"_securer, chrooted to an empty directory, no_new_privs, "
		"seccomp",
	},
	[PROC_TEMPLATE] = {
		"template", "securer-worker",
		"exec'd by the broker, again after each crash",
		"root; R initialised once, never runs a client's code",
	},
	[PROC_WORKER] = {
		"worker", "securer-worker (forked)",
		"forked by the template on the broker's request, a child "
		"of the broker (CLONE_PARENT)",
		"a uid of its own, new namespaces, rlimits, cgroup limits, "
		"seccomp",
	},
};
