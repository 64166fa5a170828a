/*
 * securerd's processes: proc.c has the table, DESIGN.md says why each
 * is what it is.  Every channel between two of them is in channels.h.
 */

#ifndef SECURER_PROC_H
#define SECURER_PROC_H

enum proc_id {
	PROC_BROKER,		/* securerd: the privileged parent */
	PROC_MONITOR,		/* securerd -M: clients, sessions, tools */
	PROC_TEMPLATE,		/* securer-worker: R started once */
	PROC_WORKER,		/* a session's R, forked by the template */
	PROC_MAX
};

struct proc_info {
	const char	*name;		/* in logs and the tables */
	const char	*program;	/* what runs */
	const char	*started;	/* by whom, how */
	const char	*runs_as;	/* its privileges */
};

extern const struct proc_info	procs[PROC_MAX];

#endif /* SECURER_PROC_H */
