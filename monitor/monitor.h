/*
 * The monitor: the unprivileged process that speaks to clients, owns the
 * sessions and their executions, dispatches tool calls and enforces caps.
 */

#ifndef MONITOR_H
#define MONITOR_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event.h>
#include <stdint.h>

#include "securerd.h"

struct cJSON;
struct bufferevent;

enum tool_type {
	TT_ANY,
	TT_NUMERIC,
	TT_CHARACTER,
	TT_LOGICAL,
	TT_INTEGER,
	TT_LIST,
	TT_DATA_FRAME,
};

struct tool_arg {
	char		*name;
	enum tool_type	 type;
};

struct tool {
	char		*name;
	char		*description;
	struct tool_arg	*args;
	size_t		 nargs;
};

/* A token bucket: rate per second, up to burst saved. */
struct bucket {
	double		tokens;
	uint64_t	last_us;
};

#define PEER_GROUPS_MAX	64

/*
 * Who a client is: its uid and the token it authenticated with.  Every
 * connection of one identity shares its counts and rate buckets; the
 * limits are resolved from the rule that let it in.
 */
struct identity {
	TAILQ_ENTRY(identity)	 entry;
	uid_t			 uid;
	gid_t			 gid;
	gid_t			 groups[PEER_GROUPS_MAX];
	int			 ngroups;
	char			 token[POLICY_TOKEN_MAX];
	struct identity_limits	 limits;
	uint32_t		 sessions;
	uint32_t		 executions;
	uint32_t		 clients;	/* connections after hello */
	struct bucket		 requests;
	struct bucket		 tools;
};

struct client {
	TAILQ_ENTRY(client)	 entry;
	TAILQ_HEAD(, session)	 sessions;
	struct bufferevent	*bev;
	struct event		 ev_free;
	struct event		 ev_grace;	/* replies unread */
	struct identity		*ident;		/* after hello */
	uid_t			 uid;
	gid_t			 gid;
	gid_t			 groups[PEER_GROUPS_MAX];
	int			 ngroups;
	pid_t			 pid;
	int			 hello;
	int			 binary;	/* reads binary vectors */
	int			 closing;
	char			 rule[AUDIT_RULE_LEN];	/* for the audit log */
};

enum session_state {
	S_STARTING,		/* waiting for a worker to be ready */
	S_IDLE,
	S_BUSY,
};

struct exec {
	struct session	*session;
	struct event	 timer;
	char		*code;
	size_t		 code_len;
	uint64_t	 req_id;	/* the client's request id */
	uint32_t	 exec_id;
	int		 flags;		/* EXEC_ECHO */
	int		 sent;		/* handed to the worker */
	double		 timeout;	/* 0 none */
	uint64_t	 start_us;
	uint64_t	 tool_calls;
	uint64_t	 max_tool_calls;
	int		 tool_calls_exceeded;
	uint64_t	 out_bytes;
	uint64_t	 out_lines;
	uint64_t	 max_out_bytes;
	uint64_t	 max_out_lines;
	int		 truncated;
	uint64_t	 call_id;	/* pending tool call, 0 none */
	uint32_t	 call_peerid;	/* the worker's id for it */
	uint64_t	 call_start_us;
	char		*call_tool;
	int		 sanitize;	/* execution errors too */
	uint64_t	 messages;	/* from the worker */
	char		*advisory;	/* the worker's risky names */
	uint32_t	 audit_token;	/* its exec_start's, 0 not sent */
	int		 audit_acked;	/* the start is durable */
	const char	*abort_cause;	/* the worker died under it */
	struct cJSON	*plots;		/* files.c: pages sent so far */
	struct cJSON	*plots_omitted;
	size_t		 plot_b64;	/* their base64 bytes */
	uint32_t	 nplots;	/* pages the worker reported */
	uint32_t	 file_op;	/* IMSG_W_FILE_PUT/GET, 0 code */
	char		*file_name;
	char		*file_data;	/* put: until sent */
	size_t		 file_len;
	char		*value;		/* IMSG_W_RESULT_PARTs so far */
	size_t		 value_len;
	size_t		 value_cap;
	uint64_t	 value_total;	/* bytes the worker sent of it */
	int		 value_refused;	/* 1 result-size, 2 result-memory */
};

struct worker {
	TAILQ_ENTRY(worker)	 entry;
	struct imsgev		 iev;
	struct session		*session;
	uint32_t		 id;
	int			 has_channel;
	int			 waiting;	/* said it is set up and warm */
	int			 ready;
	int			 exited;
	int			 killed;	/* we asked the broker */
	char			 cause[128];	/* why it is going */
	struct worker_limits	 limits;	/* it was spawned with */
	TAILQ_ENTRY(worker)	 spare_entry;	/* ready.c's list */
	int			 spare;		/* ready, no session yet */
	int			 from_spare;	/* taken from the ready ones */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* client's list */
	char			 id[SESSION_ID_LEN + 1];
	struct client		*client;
	enum session_state	 state;
	struct worker		*worker;
	struct tool		*tools;
	size_t			 ntools;
	char			*setup;		/* tools JSON for workers */
	struct worker_limits	 limits;
	double			 timeout;
	uint64_t		 max_executions;
	uint64_t		 executions;
	uint64_t		 create_req;	/* reply pending, 0 none */
	uint64_t		 restart_req;
	struct exec		*exec;
	time_t			 created;
	uint64_t		 created_us;	/* for the start histogram */
	struct identity		*ident;
	struct pool		*pool;		/* NULL: the client's own */
	int			 opened;	/* audited as open */
	int			 clocks;	/* idle and lifetime running */
	int			 closing;
	int			 reset_pending;	/* reset_between_uses */
	uint64_t		 memory;	/* charged to the capacity */
	struct event		 ev_idle;	/* idle-ttl */
	struct event		 ev_life;	/* lifetime */
	uint32_t		 files_put;	/* file.put requests */
};

/* A request waiting for a pool's session: pool.execute's acquire_timeout. */
struct pool_waiter {
	TAILQ_ENTRY(pool_waiter) entry;
	struct pool		*pool;
	struct client		*client;
	uint64_t		 req_id;
	struct cJSON		*req;
	struct event		 timer;
};

/*
 * A named set of warm sessions of one identity, shared by all its
 * connections; an execution takes an idle one.
 */
struct pool {
	TAILQ_ENTRY(pool)	 entry;
	TAILQ_HEAD(, session)	 sessions;
	TAILQ_HEAD(, pool_waiter) waiters;
	char			 name[65];
	struct identity		*ident;
	uint32_t		 size;
	int			 reset;		/* reset_between_uses */
	int			 closing;
	struct cJSON		*spec;		/* session.create members */
	struct client		*create_client;	/* reply pending */
	uint64_t		 create_req;
	uint64_t		 executions;
	struct event		 ev_refill;
};

/* monitor.c */
extern struct securerd_conf	*conf;
__attribute__((__noreturn__)) void	monitor_main(struct securerd_conf *,
	    int, int);
void	 monitor_compose_broker(uint32_t, uint32_t, const void *, size_t);
void	 monitor_flush_broker(void);
void	 monitor_activity(void);

/* sandbox.c */
void	 monitor_sandbox(int);

/* client.c */
void	 client_listen(int);
void	 client_send(struct client *, struct cJSON *);
void	 client_close(struct client *);
size_t	 client_count(void);
void	 client_walk(void (*)(struct client *, void *), void *);

/* reply.c */
void	 reply_merge(struct cJSON *, struct cJSON *);
void	 reply_ok(struct client *, uint64_t, struct cJSON *);
void	 reply_error(struct client *, uint64_t, const char *, struct cJSON *,
	    const char *, ...) __attribute__((__format__ (printf, 5, 6)));
void	 reply_event(struct client *, uint64_t, const char *, struct cJSON *);
struct cJSON	*json_raw_value(const char *, size_t);
struct cJSON	*json_pass_value(const char *, size_t);
int		 exec_result_part(struct exec *, struct imsg *);
int	 json_get_number(struct cJSON *, const char *, double, double *);
int	 json_get_count(struct cJSON *, const char *, uint64_t *);

/* session.c */
void	 session_create(struct client *, uint64_t, struct cJSON *);
struct session	*session_new(struct client *, uint64_t, struct cJSON *,
	    struct pool *);
const char	*session_state_str(struct session *);
struct session	*session_find(struct client *, struct cJSON *, uint64_t);
void	 session_restart_req(struct client *, uint64_t, struct cJSON *);
void	 session_close_req(struct client *, uint64_t, struct cJSON *);
void	 session_status(struct client *, uint64_t, struct cJSON *);
void	 session_destroy(struct session *, const char *);
void	 session_worker_ready(struct session *);
void	 session_worker_lost(struct session *, int, const char *,
	    const char *);
void	 session_respawn(struct session *, const char *);
size_t	 session_count(void);
uint32_t audit_session(struct session *, enum audit_type, uint32_t,
	    uint64_t, uint32_t, const char *, const char *, const char *);

/* auditwait.c */
extern int	 audit_down;
uint32_t audit_token(void);
void	 audit_wait_start(struct exec *, uint32_t);
void	 audit_wait_reply(struct client *, uint64_t, struct cJSON *,
	    uint32_t);
struct cJSON *audit_reply_new(uint64_t, int);
void	 audit_ack(struct imsg *);
void	 audit_state(struct imsg *);
void	 audit_client_gone(struct client *);
void	 audit_exec_gone(struct exec *);
void	 audit_rule_name(char *, size_t, const struct policy_rule *);

/* exec.c */
void	 exec_request(struct client *, uint64_t, struct cJSON *);
int	 exec_submit(struct client *, uint64_t, struct cJSON *,
	    struct session *);
void	 exec_start(struct exec *);
void	 exec_start_acked(struct exec *, int);
void	 exec_output(struct exec *, enum w_stream, const char *, size_t);
void	 exec_result(struct exec *, struct imsg *);
void	 exec_error(struct exec *, struct imsg *);
void	 exec_fail(struct exec *, enum exec_status, const char *,
	    struct cJSON *, const char *, ...)
	    __attribute__((__format__ (printf, 5, 6)));
void	 exec_free(struct exec *);
void	 exec_init(struct exec *);
void	 exec_end(struct exec *, struct cJSON *);
void	 exec_advisory(struct exec *, struct imsg *);
int	 exec_message(struct exec *);
int	 exec_texts(struct imsg *, size_t, const uint32_t *, int,
	    const char **);

/* files.c */
const char	*files_name_ok(const struct cJSON *);
void	 files_request_line(const char *, size_t);
void	 files_plot(struct exec *, struct imsg *);
void	 files_add_plots(struct exec *, struct cJSON *, size_t);
void	 files_free(struct exec *);
void	 files_request(struct client *, uint64_t, struct cJSON *, int);
void	 files_put_req(struct client *, uint64_t, struct cJSON *);
void	 files_get_req(struct client *, uint64_t, struct cJSON *);
int	 files_start(struct exec *);
void	 files_reply(struct exec *, struct imsg *);

/* tool.c */
int	 tools_parse(struct cJSON *, struct tool **, size_t *, char **,
	    char *, size_t);
void	 tools_free(struct tool *, size_t);
void	 tool_call(struct exec *, uint32_t, struct imsg *);
void	 tool_result_req(struct client *, uint64_t, struct cJSON *);

/* workerchan.c */
struct worker	*worker_new(struct session *);
struct worker	*worker_spawn(struct session *, const struct worker_limits *);
void	 worker_assign(struct worker *, struct session *);
struct worker	*worker_find(uint32_t);
void	 worker_attach(struct worker *, int);
void	 worker_kill(struct worker *, const char *);
void	 worker_violation(struct worker *, const char *);
void	 worker_exited(struct worker *, const struct worker_exit *);
void	 worker_spawn_failed(struct worker *, int);
void	 worker_channel_lost(struct worker *);
int	 worker_send(struct worker *, uint32_t, uint32_t,
	    const struct iovec *, int);
size_t	 worker_count(void);

/* ready.c */
void	 ready_init(void);
void	 ready_refill(void);
void	 ready_reload(void);
struct worker	*ready_take(struct session *);
void	 ready_lost(struct worker *);
uint32_t	 workers_ready(void);

/* Counted for securerctl show counters. */
struct counters {
	uint64_t	connections;
	uint64_t	auth_failures;
	uint64_t	rate_limited;
	uint64_t	tool_rate_limited;
	uint64_t	sessions_opened;
	uint64_t	sessions_closed;
	uint64_t	sessions_expired;
	uint64_t	executions;
	uint64_t	capacity_refused;
	uint64_t	limit_refused;
	uint64_t	pool_busy;
	uint64_t	reloads;
	uint64_t	operator_kills;
};
extern struct counters	counters;

/* metrics.c */
enum tool_outcome {
	TOOL_OK,		/* the client answered a value */
	TOOL_ERROR,		/* the client answered an error */
	TOOL_REFUSED,		/* unknown tool or bad arguments */
	TOOL_TOO_MANY,		/* past the execution's max_tool_calls */
	TOOL_RATE_LIMITED,	/* counted as counters.tool_rate_limited */
	TOOL_OUTCOMES
};
void	 metrics_exec_end(struct exec *, enum exec_status);
void	 metrics_session_start(struct session *);
void	 metrics_tool_call(struct exec *, enum tool_outcome);
void	 metrics_pool_timeout(void);
void	 metrics_spawn_failed(void);
void	 metrics_worker_exit(const struct worker *,
	    const struct worker_exit *);
struct cJSON	*metrics_json(void);

/* control.c */
void	 control_connection(struct imsg *);

/* pool.c */
void	 pool_create_req(struct client *, uint64_t, struct cJSON *);
void	 pool_execute_req(struct client *, uint64_t, struct cJSON *);
void	 pool_status_req(struct client *, uint64_t, struct cJSON *);
void	 pool_close_req(struct client *, uint64_t, struct cJSON *);
void	 pool_exec_done(struct session *);
void	 pool_member_ready(struct session *);
void	 pool_member_dead(struct session *);
void	 pool_member_gone(struct session *);
void	 pool_client_gone(struct client *);
struct session	*pool_session_of(struct client *, const char *);
void	 pool_walk(void (*)(struct pool *, void *), void *);

/* policy.c */
int	 policy_hello(struct client *, uint64_t, struct cJSON *);
int	 policy_request(struct client *, uint64_t);
int	 policy_tool_call(struct identity *, double *);
int	 policy_session_admit(struct client *, struct identity *, uint64_t,
	    struct session *);
void	 policy_session_gone(struct session *);
int	 policy_exec_admit(struct client *, uint64_t, struct session *);
void	 policy_exec_gone(struct session *);
void	 policy_reload(struct imsg *);
void	 policy_session_timers(struct session *);
void	 policy_session_opened(struct session *);
void	 policy_session_idle(struct session *);
void	 identity_walk(void (*)(struct identity *, void *), void *);
uint64_t policy_memory_used(void);

/* sanitize.c */
char	*sanitize_error(const char *, size_t);

#endif /* MONITOR_H */
