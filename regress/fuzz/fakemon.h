/*
 * The monitor in the fuzzer's process (fakemon.c): the real monitor
 * (monitor_connect() and monitor_setup(), all of monitor/ but the
 * process's privileges and seccomp) with its libevent loop run until
 * quiet, real client connections over a listening socket, and a fake
 * broker and fake workers at the other ends of its real channels.
 */

#ifndef FAKEMON_H
#define FAKEMON_H

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "securerd.h"

#define FM_CLIENTS	4

/* A client connection, seen from the client's end. */
struct fm_client {
	int		 fd;		/* -1: not connected */
	char		*in;		/* what came, not yet a line */
	size_t		 inlen;
	char		 session[64];	/* the last session named to it */
	uint64_t	 call;		/* the last tool call asked of it */
	uint64_t	 next_id;
	unsigned	 oks;		/* replies with ok true */
	unsigned	 errors;	/* and false */
	char		 error[64];	/* the last one's code */
};

/* A worker, seen from the worker's end of its channel. */
struct fm_worker {
	uint32_t	 id;
	int		 fd;		/* -1: gone */
	struct imsgbuf	 ib;
	int		 alive;		/* no exit reported yet */
	int		 setup;		/* SETUP came: a session's */
	uint32_t	 exec_id;	/* the last IMSG_W_EXEC, 0 none */
	uint32_t	 call_id;	/* its last tool call */
	int		 waiting;	/* for a tool result */
};

extern struct fm_client	 fm_clients[FM_CLIENTS];
extern int		 fm_auto;
#define FM_AUTO_WORKER	0x01	/* workers answer executions */
#define FM_AUTO_TOOLS	0x02	/* clients answer tool calls */
extern int		 fm_spawn_fail;	/* spawns to fail */
extern int		 fm_manual;	/* each flag for once, then cleared: */
#define FM_NO_READY	0x01	/* the next new worker does not say ready */
#define FM_NO_SETUP	0x02	/* the next set up does not say it is done */
#define FM_NO_SNAP	0x04	/* the next snapshot or restore: no answer */
extern int		 fm_snap_fail;	/* the snapshot's steps that fail: */
#define FM_SNAP_WRITE	0x01	/* the worker could not write it */
#define FM_SNAP_STORE	0x02	/* the broker is over the quota */
#define FM_SNAP_LOAD	0x04	/* the broker finds it tampered with */
#define FM_SNAP_RESTORE	0x08	/* the worker could not read it */
extern unsigned		 fm_audits[AUDIT_MAX];	/* records, by type */
extern unsigned		 fm_kills;		/* workers killed */
extern unsigned		 fm_idles;		/* IMSG_WORKER_IDLE */
extern unsigned		 fm_wakes;		/* IMSG_WORKER_WAKE */

void		 fm_init(void);
struct fm_client *fm_connect(void);
void		 fm_send(struct fm_client *, const char *, size_t);
void		 fm_request(struct fm_client *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
void		 fm_disconnect(struct fm_client *);
void		 fm_pump(void);
struct fm_worker *fm_worker_last(void);
struct fm_worker *fm_worker_spare(void);
void		 fm_worker_send(struct fm_worker *, uint32_t, uint32_t,
		    const void *, size_t);
void		 fm_worker_exit(struct fm_worker *, uint32_t, int);
void		 fm_worker_ran(struct fm_worker *, uint64_t);
void		 fm_deadlines(void);
void		 fm_control(const char *, size_t);
void		 fm_end(void);

#endif /* FAKEMON_H */
