/*
 * The broker: securerd's privileged parent.  It reads the configuration,
 * opens the socket and the audit log, forks the monitor, has the worker
 * template spawn workers, reaps them all and writes the audit log.  It
 * never parses client input and never runs R.
 */

#ifndef BROKER_H
#define BROKER_H

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <event.h>
#include <time.h>

#include "chan.h"
#include "securerd.h"

/*
 * A child the broker keeps running (child.c): the monitor or the worker
 * template, exec'd with its channel, restarted when it dies.
 */
struct child {
	const char			*name;
	const struct chan_spec		*spec;
	const struct chan_handler	*handlers;
	size_t				 nhandlers;
	uint32_t			 first_state;	/* its channel's */
	int				 extra_fd;	/* as fd 4, -1 none */
	long				 min_ms;	/* restart delays */
	long				 max_ms;
	time_t				 stable_secs;	/* up: not quick */
	int				 give_up;	/* quick deaths; 0 never */
	void				(*exec)(struct child *);
	void				(*started)(struct child *);
	void				(*lost)(struct chan *, const char *);
	void				(*died)(struct child *, int);
	void				(*exited)(struct child *);
	int				(*restart_ok)(struct child *);
	pid_t				 pid;
	struct chan			 chan;
	time_t				 started_at;
	long				 delay_ms;
	int				 quick_deaths;
	struct event			 ev_restart;
};

struct worker_proc {
	TAILQ_ENTRY(worker_proc) entry;
	uint32_t		 id;
	pid_t			 pid;		/* 0 until spawned */
	uid_t			 uid;
	int			 monitor_fd;	/* until handed over */
	int			 sent;		/* to the template */
	int			 kill_requested;
	struct worker_limits	 limits;
	int			 rest;		/* enum rest_state (rest.c) */
	struct event		 ev_rest;	/* its next check */
	int			 rest_timer;	/* ev_rest is set */
	int			 rest_based;	/* rest_cpu0 was read */
	uint64_t		 rest_cpu0;	/* ns of CPU, first read */
	uint64_t		 rest_us;	/* when it ended */
	int			 rest_marked;	/* rest_mark is set */
	uint64_t		 rest_mark;	/* monitor_read_mark() */
};

enum rest_state {
	REST_NONE,		/* running a job, or none yet */
	REST_WATCHED,		/* its job ended: its CPU time watched */
	REST_STOPPED,		/* held still until its next job */
};

extern struct securerd_conf	*conf;

/* securerd.c */
__attribute__((__noreturn__)) void	broker_shutdown(int);
void	 broker_reload(void);

/* config.c */
void	 config_defaults(struct securerd_conf *);
int	 config_finish(struct securerd_conf *);
int	 config_chroot(struct securerd_conf *);
void	 config_print(const struct securerd_conf *);
void	 config_keep_fixed(struct securerd_conf *,
	    const struct securerd_conf *);
void	 config_cleanup(const struct securerd_conf *);

/* parse.y */
int	 parse_config(const char *, struct securerd_conf *);

/* socket.c */
int	 socket_open(const struct securerd_conf *);
int	 control_open(const struct securerd_conf *);
void	 control_events(int);
void	 socket_cleanup(void);

/* monitor/monitor.c: the monitor's entry point, securerd -M */
__attribute__((__noreturn__)) void	monitor_main(int, int);

/* child.c */
int	 child_start(struct child *);
int	 child_reaped(struct child *, pid_t, int);
int	 child_running(const struct child *);
uint64_t monitor_read_mark(void);
int	 monitor_read_past(uint64_t);
void	 child_kill(struct child *, const char *);
void	 child_stop(struct child *);

/* proc.c: the monitor, and the handlers of what it sends */
void	 monitor_start(int);
void	 monitor_send(uint32_t, uint32_t, int, const void *, size_t);
void	 monitor_send_snap_info(const struct snap_info *, const void *);
int	 monitor_reaped(pid_t, int);
void	 monitor_stop(void);
int	 monitor_stop_gently(void);
void	 broker_recv_spawn(struct chan *, struct imsg *);
void	 broker_recv_kill(struct chan *, struct imsg *);
void	 broker_recv_audit(struct chan *, struct imsg *);
void	 broker_recv_reload(struct chan *, struct imsg *);
void	 broker_recv_worker_idle(struct chan *, struct imsg *);
void	 broker_recv_worker_wake(struct chan *, struct imsg *);

/* snapshot.c: snapshots of sessions' state under the state directory */
void	 snapshot_init(const struct securerd_conf *);
void	 broker_recv_snap_store(struct chan *, struct imsg *);
void	 broker_recv_snap_load(struct chan *, struct imsg *);
void	 broker_recv_snap_delete(struct chan *, struct imsg *);
void	 broker_recv_snap_copy(struct chan *, struct imsg *);
void	 broker_recv_snap_list(struct chan *, struct imsg *);
void	 snapshot_monitor_new(void);

/* hibernate-on-stop: what storing the saved sessions may take past it. */
#define STOP_STORE_SECS	30

/* rest.c */
void	 rest_begin(struct worker_proc *);
void	 rest_end(struct worker_proc *);
void	 rest_cancel(struct worker_proc *);

/* spawn.c */
void	 spawn_request(const struct spawn_req *);
void	 spawn_kill(uint32_t);
void	 spawn_flush(void);
void	 spawn_started(const struct tpl_spawned *);
void	 spawn_failed(uint32_t, int);
void	 spawn_template_lost(void);
int	 spawn_reaped(pid_t, int, const struct rusage *);
void	 spawn_kill_all(void);
int	 spawn_worker_uid(uint32_t, uid_t *);
void	 spawn_idle(uint32_t);
void	 spawn_wake(uint32_t);

/* template.c: the worker template, and the handlers of what it sends */
void	 template_start(void);
int	 template_ready(void);
int	 template_spawn(const struct tpl_spawn *, int);
int	 template_reaped(pid_t, int);
void	 template_stop(void);
void	 broker_recv_tpl_up(struct chan *, struct imsg *);
void	 broker_recv_tpl_spawned(struct chan *, struct imsg *);
void	 broker_recv_tpl_failed(struct chan *, struct imsg *);

/* probe.c */
int	 sandbox_probe(struct securerd_conf *);

/* cgroup.c */
int	 cgroup_init(char *, size_t);
int	 cgroup_create(uint32_t, const struct worker_limits *);
int	 cgroup_attach(uint32_t, pid_t);
int	 cgroup_oom(uint32_t);
void	 cgroup_remove(uint32_t);
void	 cgroup_cleanup(void);

/* audit.c */
int	 audit_open(const char *);
struct msg_text;
int	 audit_monitor_event(const struct audit_event *,
	    const struct msg_text *);
void	 audit_worker_exit(uint32_t, pid_t, const char *);
void	 audit_daemon(const char *, const char *);
void	 audit_repaired(int64_t);
void	 audit_abort_open(const char *);
void	 audit_rotate(const char *);
void	 audit_state_changed(int);

/* auditfile.c */
int	 auditfile_open(const char *);
void	 auditfile_lock_owner(pid_t, const char *);
int	 auditfile_fd(void);
uint64_t auditfile_newest_rotated(char *, size_t);
int	 auditfile_append(char *, size_t, int);
int	 auditfile_down(void);
void	 auditfile_events(void);
int	 auditfile_full(void);
int	 auditfile_rotate(uint64_t, char *, size_t);

#endif /* BROKER_H */
