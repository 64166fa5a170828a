/*
 * The monitor: the unprivileged process that speaks to clients, owns the
 * sessions and their executions, dispatches tool calls and enforces caps.
 *
 * It is built in layers (DESIGN.md, "The monitor"); each file calls only
 * into its own layer or the ones below, never up:
 *
 *	front ends	client.c pool.c control.c metrics.c
 *	core		core.c, the state machine, and its entry points
 *			workermsg.c brokermsg.c; the records it changes:
 *			session.c exec.c fileop.c toolcall.c plots.c
 *			worker.c spare.c; its services audit.c policy.c
 *	wire		wire.c (the broker's and workers' channels),
 *			conn.c (clients' connections), reply.c, defer.c,
 *			idle.c, stats.c, tools.c, sanitize.c
 *
 * monitor.c, the process itself, puts them together.  What a lower layer
 * must tell a higher one goes through a function the higher one gave it:
 * the handlers of a channel's table, a connection's conn_ops, a
 * session's owner, an audit wait's callback.
 *
 * Ownership: the core owns sessions, workers and jobs; client.c owns
 * clients, pool.c pools, conn.c connections.  Nothing is freed under a
 * caller: a failure (a worker lost, a client gone, a deadline, a send
 * that could not go) is deferred to the end of the loop turn (defer.c),
 * where its owner handles it, and an object done with is unlinked at
 * once and freed then.
 */

#ifndef MONITOR_H
#define MONITOR_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event.h>
#include <stdint.h>

#include "chan.h"
#include "securerd.h"

struct cJSON;
struct conn;
struct msg_error;
struct msg_file;
struct msg_output;
struct msg_plot;
struct msg_result;
struct msg_snap_done;
struct msg_text;
struct msg_tool_call;

/* defer.c: work for the end of the loop turn, in the order asked for. */
struct deferred {
	TAILQ_ENTRY(deferred)	 entry;
	void			(*fn)(void *);
	void			*arg;
	int			 queued;
};

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

/* What a sweep (core_sweep_begin(): hibernate them all) came to. */
struct sweep_counts {
	uint32_t	hibernated;	/* by it */
	uint32_t	asleep;		/* hibernated already */
	uint32_t	failed;
	uint32_t	closed;		/* before their turn */
};

/* A token bucket: rate per second, up to burst saved. */
struct bucket {
	double		tokens;
	uint64_t	last_us;
};

#define PEER_GROUPS_MAX	64

/* session.c's record of a session, stored with its snapshot. */
#define SESSION_RECORD_VERSION	1

/* Who is at the other end of a connection, as the kernel says. */
struct peer_cred {
	uid_t		 uid;
	gid_t		 gid;
	gid_t		 groups[PEER_GROUPS_MAX];
	int		 ngroups;
	pid_t		 pid;
};

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
	TAILQ_HEAD(, session)	 kept;		/* named, their client gone */
	TAILQ_HEAD(, session)	 named;		/* all its named sessions */
};

/* A connection that speaks the client protocol (client.c's). */
struct client {
	TAILQ_ENTRY(client)	 entry;
	TAILQ_HEAD(, session)	 sessions;	/* its own, not pools' */
	struct conn		*conn;
	struct identity		*ident;		/* after hello */
	uid_t			 uid;
	gid_t			 gid;
	gid_t			 groups[PEER_GROUPS_MAX];
	int			 ngroups;
	pid_t			 pid;
	int			 hello;
	int			 binary;	/* reads binary vectors */
	int			 frames;	/* ... and frames of them */
	int			 behind;	/* its output waits: hold workers */
	int			 gone;
	char			 rule[AUDIT_RULE_LEN];	/* for the audit log */
	struct deferred		 d_free;
};

enum session_state {
	S_STARTING,		/* waiting for a worker to be set up */
	S_IDLE,
	S_BUSY,
	S_SAVING,		/* its state asked for, then stored */
	S_HIBERNATED,		/* its state on disk, no worker */
	S_RESUMING,		/* a worker and its state on their way */
};

/*
 * What a session does, one at a time: an execution of code or a file
 * operation.  Each has its deadline, its audit start and end, and one
 * reply to the client that asked.
 */
enum job_kind {
	JOB_EXEC,
	JOB_FILE,
};

struct job {
	enum job_kind	 kind;
	struct session	*session;
	struct client	*client;	/* gets the reply; NULL: gone */
	uint64_t	 req_id;
	uint32_t	 id;		/* peerid on the worker's channel */
	double		 timeout;	/* 0 none */
	struct event	 timer;
	uint64_t	 start_us;
	int		 sent;		/* handed to the worker */
	int		 answered;	/* ended by the worker's own answer */
	int		 unaudited;	/* a put's middle chunk: no records */
	char		*code;		/* exec: the code; file: what is done */
	size_t		 code_len;
	uint32_t	 audit_token;	/* its exec_start's, 0 not sent */
	int		 audit_acked;	/* the start is durable */
	char		 abort_cause[128]; /* the worker died under it */
	struct deferred	 d_timeout;
	struct deferred	 d_free;
};

/* A tool call forwarded to the client, waiting for its answer. */
struct toolcall {
	uint64_t	 id;		/* the client's */
	uint32_t	 peerid;	/* the worker's */
	uint64_t	 start_us;
	char		*tool;
};

/* The pages an execution drew, as they come, for its reply. */
struct plotset {
	struct cJSON	*pages;
	struct cJSON	*omitted;
	size_t		 b64;		/* base64 bytes of pages */
	uint32_t	 count;		/* pages the worker reported */
};

/* Refused tool calls of an execution audited one by one. */
#define REFUSALS_AUDITED	8

struct exec {
	struct job	 job;		/* first: a job may be an exec */
	int		 flags;		/* EXEC_ECHO */
	int		 sanitize;	/* execution errors too */
	uint64_t	 out_bytes;
	uint64_t	 out_lines;
	uint64_t	 max_out_bytes;
	uint64_t	 max_out_lines;
	int		 truncated;
	uint64_t	 tool_calls;
	uint64_t	 max_tool_calls;
	int		 tool_calls_exceeded;
	uint64_t	 refused;	/* tool calls refused */
	char		 refused_last[65];	/* the last one's tool */
	struct toolcall	*call;		/* pending, NULL none */
	uint64_t	 messages;	/* from the worker */
	char		*advisory;	/* the worker's risky names */
	struct plotset	 plots;
	char		*value;		/* IMSG_W_RESULT_PARTs so far */
	size_t		 value_len;
	size_t		 value_cap;
	uint64_t	 value_total;	/* bytes the worker sent of it */
	int		 value_refused;	/* 1 result-size, 2 result-memory */
	uint32_t	 sent_flags;	/* EXEC_* the worker was given */
	struct frame	*frame;		/* IMSG_W_FRAME_PARTs so far */
	uint64_t	 frame_total;	/* bytes the worker sent of it */
};

struct fileop {
	struct job	 job;		/* first: a job may be a fileop */
	uint32_t	 op;		/* IMSG_W_FILE_PUT or _GET */
	char		*name;
	unsigned char	*data;		/* put: its chunk, until sent */
	size_t		 len;
	uint64_t	 offset;	/* of the chunk or range */
	uint64_t	 length;	/* get: of the range at most */
	uint32_t	 flags;		/* FILE_MORE, FILE_WHOLE */
	uint64_t	 held;		/* bytes counted in held.c */
};

/* Why the core gave up on a worker (struct worker's lost). */
enum worker_loss {
	LOST_PROTOCOL = 1,	/* it broke its channel's rules */
	LOST_FLOOD,		/* past the "messages" limit */
	LOST_CHANNEL,		/* a send to it could not go */
};

struct worker {
	TAILQ_ENTRY(worker)	 entry;
	struct chan		 chan;		/* state: WS_* */
	struct session		*session;
	uint32_t		 id;
	int			 attached;	/* its channel came */
	int			 killed;	/* we asked the broker */
	char			 cause[128];	/* why it is going */
	struct worker_limits	 limits;	/* it was spawned with */
	TAILQ_ENTRY(worker)	 spare_entry;	/* spare.c's list */
	int			 spare;		/* no session yet */
	int			 from_spare;	/* taken from the spares */
	int			 closed;	/* it closed its channel */
	struct event		 ev_closed;	/* ... and still runs? */
	int			 resting;	/* held still by the broker */
	int			 held;		/* its client is behind */
	int			 lost;		/* enum worker_loss, 0 not */
	char			 lost_why[160];
	struct deferred		 d_lost;
	struct deferred		 d_free;
};

/* What a session tells the front end that owns it (a pool). */
struct session_owner {
	void	(*ready)(struct session *);	/* idle, nothing waiting */
	void	(*dead)(struct session *);	/* its worker cannot start */
	void	(*gone)(struct session *);	/* destroyed */
	void	(*job_done)(struct session *);	/* a job ended */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* its client's or pool's */
	char			 id[SESSION_ID_LEN + 1];
	struct client		*client;	/* its own: the owner */
	struct pool		*pool;		/* a pool's: NULL client */
	const struct session_owner *owner;
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
	struct job		*job;
	time_t			 created;
	uint64_t		 created_us;	/* for the start histogram */
	struct identity		*ident;
	int			 opened;	/* audited as open */
	int			 clocks;	/* idle and lifetime running */
	int			 closing;
	int			 reset_pending;	/* reset_between_uses */
	uint64_t		 memory;	/* charged to the capacity */
	struct event		 ev_idle;	/* idle-ttl */
	struct event		 ev_life;	/* lifetime */
	uint32_t		 files_put;	/* uploads started */
	char			*upload;	/* unfinished: its name, or NULL */
	uint64_t		 upload_size;	/* its bytes so far */
	const char		*expired;	/* idle-ttl or lifetime */
	char			 idle_loss[200]; /* its worker broke rest */
	/* Hibernation (core.c's transitions, hibernate.c's records): */
	struct client		*hib_client;	/* session.hibernate's */
	uint64_t		 hib_req;	/* ... reply pending, 0 none */
	struct event		 ev_hib;	/* hibernate-after, deadline */
	int			 hib_timer;	/* ev_hib is set */
	uint32_t		 snap_token;	/* the broker's answer awaited */
	int			 snap_waiting;	/* on hibernate.c's list */
	TAILQ_ENTRY(session)	 snap_entry;
	int			 snap_fd;	/* the memfd, -1 none */
	int			 snap_stored;	/* on disk: deleted at close */
	uint64_t		 snap_bytes;
	uint64_t		 snap_t0;	/* the hibernation's or resume's */
	int			 resume_loaded;	/* its state is in snap_fd */
	int			 resume_worker;	/* its worker is set up */
	int			 resumed;	/* said in the next reply */
	int			 unheld;	/* its capacity given back */
	uint64_t		 resume_us;
	char			*resume_note;	/* what was not restored */
	/*
	 * session.fork: the source saves for fork_child (NULL once that
	 * is gone) while fork_saving; the new session, born hibernated,
	 * waits for its store with create_req set and forked_from.
	 */
	int			 fork_saving;
	struct session		*fork_child;
	struct session		*fork_src;	/* the child's, while saving */
	char			 forked_from[SESSION_ID_LEN + 1];
	/*
	 * A named session outlives its connection: kept, hibernated, on
	 * its identity's list (entry) with no client, for session.attach,
	 * until "retention" (ev_keep) closes it.
	 */
	char			 name[SESSION_NAME_MAX + 1];
	TAILQ_ENTRY(session)	 name_entry;	/* its identity's named */
	int			 kept;
	int			 sweep;		/* in core.c's sweep */
	struct event		 ev_keep;
	const char		*hib_reason;	/* for the audit log */
	struct deferred		 d_expire;
	struct deferred		 d_free;
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
	uint64_t	connections_refused;	/* at a cap, at accept */
	uint64_t	hello_timeouts;
	uint64_t	clients_over_budget;
};

enum tool_outcome {
	TOOL_OK,		/* the client answered a value */
	TOOL_ERROR,		/* the client answered an error */
	TOOL_REFUSED,		/* unknown tool or bad arguments */
	TOOL_TOO_MANY,		/* past the execution's max_tool_calls */
	TOOL_RATE_LIMITED,	/* counted as counters.tool_rate_limited */
	TOOL_OUTCOMES
};

extern struct securerd_conf	*conf;
extern struct counters		 counters;

/*
 * The wire layer.
 */

/* defer.c */
void	 defer(struct deferred *, void (*)(void *), void *);
void	 defer_cancel(struct deferred *);

/* idle.c */
void	 idle_init(uint32_t);
void	 idle_hold(void);
void	 idle_release(void);

/* wire.c */
void	 wire_broker_open(int, const struct chan_handler *, size_t);
int	 wire_broker_conf(void);
void	 wire_broker_run(void);
void	 wire_worker_handlers(const struct chan_handler *, size_t);
void	 wire_worker_open(struct chan *, int, void *,
	    void (*)(struct chan *, const char *));
void	 wire_spawn(uint32_t, const struct worker_limits *);
void	 wire_kill(uint32_t);
void	 wire_snap(uint32_t, const struct snap_req *, const char *, size_t,
	    int);
void	 wire_snap_list(void);
void	 wire_broker_drain(void);
void	 wire_snap_listed(void);
void	 wire_worker_idle(uint32_t);
void	 wire_worker_wake(uint32_t);
void	 wire_broker_ahead(void);
void	 wire_audit(const struct audit_event *, const struct msg_text *);
void	 wire_reload(void);

/* conn.c: clients' connections */
struct conn_ops {
	int	(*admit)(const struct peer_cred *);	/* -1: refused */
	void	(*opened)(struct conn *);
	void	(*line)(struct conn *, char *, size_t);
	void	(*gone)(struct conn *);
	/* Over its output's high mark; read down to the low one again. */
	void	(*behind)(struct conn *);
	void	(*caught_up)(struct conn *);
};
void	 conn_listen(int, const struct conn_ops *);
void	 conn_accepting(void);
const struct peer_cred	*conn_cred(const struct conn *);
void	 conn_set_data(struct conn *, void *);
void	*conn_data(const struct conn *);
const char	*conn_why(const struct conn *);
void	 conn_send(struct conn *, const char *, size_t);
void	 conn_send_more(struct conn *, const char *, size_t);
void	 conn_message_end(struct conn *);

/* frame.c */
struct frame;
struct ibuf;
struct frame	*frame_new(void);
void		 frame_add(struct frame *, struct ibuf *);
size_t		 frame_len(const struct frame *);
uint64_t	 frame_held(void);

/* held.c */
enum held_kind { HELD_VALUES, HELD_FILES, HELD_KINDS };
void		 held_charge(enum held_kind, int64_t);
uint64_t	 held_total(void);
int		 held_fits(uint64_t);
void		 frame_send(struct frame *, struct conn *);
void		 frame_free(struct frame *);
void	 conn_send_ref(struct conn *, const char *, size_t,
	    void (*)(const void *, size_t, void *), void *);
void	 conn_drop(struct conn *, const char *, int);
size_t	 conn_count(void);
void	 conn_authenticated(struct conn *);

/* msgends.c: where a connection's queued messages end */
struct msgends {
	uint64_t	*end;		/* a ring of offsets, oldest at head */
	size_t		 cap, head, n;
	uint64_t	 passed;	/* the last end written */
};
size_t	 msgends_push(struct msgends *, uint64_t, uint64_t);
void	 msgends_written(struct msgends *, uint64_t);
int	 msgends_cut(const struct msgends *, uint64_t, uint64_t *);
size_t	 msgends_clear(struct msgends *);

/* connlimit.c: connections and buffered bytes per uid and in all */
struct connuser;
void	 connlimit_init(void);
struct connuser	*connlimit_admit(uid_t, const char **);
void	 connlimit_release(struct connuser *);
void	 connlimit_charge(struct connuser *, int64_t);
int	 connlimit_user_over(const struct connuser *);
int	 connlimit_total_over(void);
uint64_t connlimit_total_bytes(void);
uint64_t connlimit_user_bytes(void);

/* reply.c */
void	 reply_merge(struct cJSON *, struct cJSON *);
struct cJSON	*reply_new(uint64_t, int);
void	 reply_send(struct client *, struct cJSON *);
void	 reply_ok(struct client *, uint64_t, struct cJSON *);
void	 reply_error(struct client *, uint64_t, const char *, struct cJSON *,
	    const char *, ...) __attribute__((__format__ (printf, 5, 6)));
void	 reply_event(struct client *, uint64_t, const char *, struct cJSON *);
struct cJSON	*json_raw_value(const char *, size_t);
struct cJSON	*json_pass_value(const char *, size_t);
void		 reply_add_frame(struct cJSON *, struct frame *);
void		 reply_free(struct cJSON *);
#define SECONDS_MAX	315360000	/* ten years: a timeout at most */
int	 json_get_seconds(struct cJSON *, const char *, double, double *);
int	 json_get_count(struct cJSON *, const char *, uint64_t *);

/* stats.c */
void	 stats_exec_end(enum exec_status, int, uint64_t);
void	 stats_session_start(uint64_t);
void	 stats_tool_call(enum tool_outcome, uint64_t);
void	 stats_pool_timeout(void);
void	 stats_spawn_failed(void);
void	 stats_worker_exit(int, const char *, const struct worker_exit *);
struct evbuffer;
void	 stats_put_counters(struct evbuffer *);
void	 prom_label(struct evbuffer *, const char *, const char *);
void	 prom_family(struct evbuffer *, const char *, const char *,
	    const char *);
void	 prom_labelled(struct evbuffer *, const char *, const char *,
	    const char *, uint64_t);
void	 prom_gauge(struct evbuffer *, const char *, const char *, uint64_t);

/* tools.c */
int	 tools_parse(struct cJSON *, struct tool **, size_t *, char **,
	    char *, size_t);
void	 tools_free(struct tool *, size_t);
struct tool	*tools_copy(const struct tool *, size_t);
struct tool	*tools_find(struct tool *, size_t, const char *);
int	 tools_check_args(const struct tool *, struct cJSON *, char *,
	    size_t);

/* sanitize.c */
char	*sanitize_error(const char *, size_t);

/*
 * The core.
 */

/* audit.c */
extern int	 audit_down;
uint32_t audit_session(struct session *, enum audit_type, uint32_t,
	    uint64_t, uint32_t, const char *, const char *, const char *);
void	 audit_auth(const struct client *, const char *);
void	 audit_auth_peer(uid_t, pid_t, const char *);
void	 audit_adopt_failed(const char *, uid_t, const char *);
void	 audit_spare_violation(uint32_t, const char *);
int		 audit_waits(void);
void	 audit_wait_start(uint32_t, void (*)(void *, int), void *);
void	 audit_hold_reply(struct client *, uint64_t, struct cJSON *,
	    uint32_t);
void	 audit_forget(const void *);
void	 audit_client_gone(struct client *);
void	 audit_rule_name(char *, size_t, const struct policy_rule *);
void	 monitor_recv_audit_ack(struct chan *, struct imsg *);
void	 monitor_recv_audit_state(struct chan *, struct imsg *);

/* policy.c */
int	 policy_hello(struct client *, uint64_t, struct cJSON *);
int	 policy_may_connect(uid_t, gid_t, const gid_t *, int);
void	 policy_refused_at_accept(uid_t, pid_t);
int	 policy_request(struct client *, uint64_t);
int	 policy_tool_call(struct identity *, double *);
int	 policy_session_admit(struct client *, struct identity *, uint64_t,
	    uint64_t);
void	 policy_session_gone(struct identity *, uint64_t, int);
void	 policy_capacity_release(uint64_t);
void	 policy_token_digest(const struct identity *, char *, size_t);
struct identity	*policy_identity_adopt(uid_t, gid_t, const gid_t *, int,
	    const char *);
void	 policy_session_adopted(struct identity *);
int	 policy_session_admit_asleep(struct client *, struct identity *,
	    uint64_t);
int	 policy_capacity_take(struct client *, uint64_t, uint64_t);
int	 policy_exec_admit(struct client *, uint64_t, struct identity *);
void	 policy_exec_gone(struct identity *);
void	 policy_reload(void);
void	 policy_client_gone(struct client *);
void	 identity_walk(void (*)(struct identity *, void *), void *);
uint64_t policy_memory_used(void);

/* worker.c: worker records */
struct worker	*worker_spawn(struct session *, const struct worker_limits *);
struct worker	*worker_find(uint32_t);
void	 worker_attach(struct worker *, int,
	    void (*)(struct chan *, const char *));
int	 worker_setup(struct worker *);
void	 worker_kill(struct worker *, const char *);
void	 worker_hold(struct worker *);
void	 worker_release_held(void);
void	 worker_detach(struct worker *);
void	 worker_retire(struct worker *);
size_t	 worker_count(void);

/* spare.c: ready workers */
void	 spare_init(void);
void	 spare_refill(void);
void	 spare_reload(void);
struct worker	*spare_take(struct session *);
void	 spare_lost(struct worker *);
uint32_t spare_ready(void);
uint32_t spare_count(void);

/* hibernate.c: snapshots asked for, stored, loaded, handed back */
int	 hib_snapshot_send(struct session *);
void	 hib_store(struct session *, uint64_t);
void	 hib_store_fork(struct session *, struct session *, uint64_t);
void	 hib_copy(struct session *, const struct session *);
void	 hib_load(struct session *);
int	 hib_restore_send(struct session *);
void	 hib_delete(struct session *);
struct session	*hib_answered(uint32_t);
void	 hib_forget(struct session *);
void	 hib_resumed_json(struct session *, struct cJSON *);
const char	*hib_error_code(uint32_t);
const char	*hib_error_str(const struct snap_result *, char *, size_t);

/* session.c: session records */
struct session	*session_alloc(struct cJSON *, char *, size_t, const char **);
struct session	*session_alloc_like(const struct session *);
char		*session_record(const struct session *, size_t *);
struct session	*session_from_record(const char *, size_t, const char *,
		    struct peer_cred *, char *, size_t, char *, size_t);
int	 session_name_ok(const char *);
void	 session_free(struct session *);
struct session	*session_lookup(struct client *, const char *);
const char	*session_state_str(const struct session *);
const char	*session_sandbox(void);
const char	*session_tool_names(const struct session *);
struct cJSON	*session_json(const struct session *);
size_t	 session_count(void);

/* exec.c: execution records */
struct exec	*exec_alloc(struct session *, struct cJSON *, char *, size_t);
void	 exec_free(struct exec *);
size_t	 exec_output_fits(struct exec *, const char *, size_t);
struct cJSON	*exec_output_event(enum w_stream, const char *, size_t);
void	 exec_add_warnings(const struct exec *, struct cJSON *);
struct cJSON	*exec_error_extra(struct exec *, const struct msg_text *,
	    size_t);
void	 exec_add_classes(struct cJSON *, const struct msg_text *);
void	 exec_add_omitted(struct cJSON *, const struct msg_result *);
void	 exec_value_part(struct exec *, const struct msg_text *);
struct cJSON	*exec_value(struct exec *, const struct msg_text *);
void	 exec_frame_part(struct exec *, struct ibuf *);
struct frame	*exec_take_frame(struct exec *);

/* fileop.c: file operation records */
const char	*fileop_name_ok(const struct cJSON *);
int	 fileop_line_has_nul(const char *, size_t);
struct fileop	*fileop_alloc(struct client *, uint64_t, struct cJSON *, int,
	    struct session *);
void	 fileop_free(struct fileop *);
int	 fileop_send(struct fileop *, struct chan *);
int	 fileop_starts_upload(const struct fileop *);
void	 fileop_upload_end(struct session *);
struct cJSON	*fileop_reply(struct fileop *, const struct msg_file *, char *,
	    size_t, const char **, struct cJSON **);

/* toolcall.c: tool calls */
struct toolcall	*toolcall_new(uint32_t, const char *);
void	 toolcall_free(struct toolcall *);
struct cJSON	*toolcall_event(const struct toolcall *, const struct session *,
	    struct cJSON *);
char	*toolcall_answer_text(struct cJSON *, struct cJSON *, size_t *);

/* plots.c: an execution's pages */
int	 plots_add(struct plotset *, const struct msg_plot *);
void	 plots_into(struct plotset *, struct cJSON *, size_t);
void	 plots_free(struct plotset *);

/* core.c: the state machine of sessions, workers and jobs */
void	 core_init(void);
void	 core_adopt_begin(void (*)(void));
void	 core_session_adopt(const struct snap_info *, const struct msg_text *);
void	 core_adopt_done(const struct snap_listed *);
int	 core_sweep_begin(const char *, void (*)(const struct sweep_counts *,
	    void *), void *);
void	 core_sweep_add(struct session *);
void	 core_sweep_end(void);
void	 core_stop_begin(void);
struct session	*core_session_new(struct client *, uint64_t, struct cJSON *,
	    struct pool *, const struct session_owner *);
void	 core_session_restart(struct session *, uint64_t);
void	 core_session_destroy(struct session *, const char *);
void	 core_session_reset(struct session *, const char *);
void	 core_session_retry(struct session *, const char *);
int	 core_exec_submit(struct client *, uint64_t, struct cJSON *,
	    struct session *);
void	 core_file_submit(struct client *, uint64_t, struct cJSON *,
	    struct session *, int);
void	 core_tool_result(struct client *, uint64_t, struct session *,
	    struct cJSON *);
void	 core_job_abort(struct session *, const char *);
void	 core_client_gone(struct client *, const char *);
void	 core_client_caught_up(struct client *);
void	 core_worker_fd(uint32_t, int);
void	 core_worker_exit(const struct worker_exit *);
void	 core_worker_ran(const struct worker_ran *);
void	 core_spawn_failed(uint32_t, int);
void	 core_worker_ready(struct worker *);
void	 core_worker_setup_done(struct worker *);
void	 core_worker_violation(struct worker *, const char *);
void	 core_output(struct worker *, const struct msg_output *);
void	 core_tool_call(struct worker *, uint32_t, const struct msg_tool_call *);
void	 core_result_part(struct worker *, const struct msg_text *);
void	 core_frame_part(struct worker *, struct ibuf *);
void	 core_result(struct worker *, const struct msg_result *);
void	 core_error(struct worker *, const struct msg_error *);
void	 core_advisory(struct worker *, const struct msg_text *);
void	 core_plot(struct worker *, const struct msg_plot *);
void	 core_file_reply(struct worker *, const struct msg_file *);
void	 core_session_idle_clock(struct session *);
void	 core_session_hibernate(struct client *, uint64_t, struct session *);
void	 core_session_fork(struct client *, uint64_t, struct session *);
void	 core_session_attach(struct client *, uint64_t, struct cJSON *);
void	 core_snapshot_done(struct worker *, const struct msg_snap_done *);
void	 core_restored(struct worker *, const struct msg_snap_done *);
void	 core_snap_stored(const struct snap_result *);
void	 core_snap_loaded(const struct snap_result *, int);
void	 core_snap_failed(const struct snap_result *);

/* workermsg.c, brokermsg.c: the handlers of the channels' tables */
void	 monitor_recv_ready(struct chan *, struct imsg *);
void	 monitor_recv_setup_done(struct chan *, struct imsg *);
void	 monitor_recv_output(struct chan *, struct imsg *);
void	 monitor_recv_tool_call(struct chan *, struct imsg *);
void	 monitor_recv_result_part(struct chan *, struct imsg *);
void	 monitor_recv_frame_part(struct chan *, struct imsg *);
void	 monitor_recv_result(struct chan *, struct imsg *);
void	 monitor_recv_error(struct chan *, struct imsg *);
void	 monitor_recv_advisory(struct chan *, struct imsg *);
void	 monitor_recv_plot(struct chan *, struct imsg *);
void	 monitor_recv_file(struct chan *, struct imsg *);
void	 monitor_recv_conf(struct chan *, struct imsg *);
void	 monitor_recv_worker_fd(struct chan *, struct imsg *);
void	 monitor_recv_spawn_failed(struct chan *, struct imsg *);
void	 monitor_recv_worker_exit(struct chan *, struct imsg *);
void	 monitor_recv_worker_ran(struct chan *, struct imsg *);
void	 monitor_recv_snapshot_done(struct chan *, struct imsg *);
void	 monitor_recv_restored(struct chan *, struct imsg *);
void	 monitor_recv_snap_stored(struct chan *, struct imsg *);
void	 monitor_recv_snap_loaded(struct chan *, struct imsg *);
void	 monitor_recv_snap_failed(struct chan *, struct imsg *);
void	 monitor_recv_snap_adopt(struct chan *, struct imsg *);
void	 monitor_recv_snap_listed(struct chan *, struct imsg *);
void	 monitor_lost_worker(struct chan *, const char *);

/*
 * Front ends.
 */

/* client.c */
extern const struct conn_ops	client_conn_ops;
size_t	 client_count(void);
void	 client_walk(void (*)(struct client *, void *), void *);

/* pool.c */
void	 pool_create_req(struct client *, uint64_t, struct cJSON *);
void	 pool_execute_req(struct client *, uint64_t, struct cJSON *);
void	 pool_status_req(struct client *, uint64_t, struct cJSON *);
void	 pool_close_req(struct client *, uint64_t, struct cJSON *);
void	 pool_client_gone(struct client *);
struct session	*pool_session_of(struct client *, const char *);
void	 pool_walk(void (*)(struct pool *, void *), void *);

/* control.c */
void	 monitor_recv_ctl_fd(struct chan *, struct imsg *);
void	 monitor_recv_stop(struct chan *, struct imsg *);

/* metrics.c */
struct cJSON	*metrics_json(void);

/*
 * The process.
 */

/* monitor.c */
__attribute__((__noreturn__)) void	monitor_main(int, int);
void	 monitor_connect(int);
void	 monitor_setup(int, int);

/* sandbox.c */
void	 monitor_sandbox(int);

#endif /* MONITOR_H */
