/*
 * Declarations shared by securerd's processes: the imsg types, grouped
 * by channel, the structs that cross process boundaries and the common
 * helpers.  Who may send which message, in which state, of which size,
 * with an fd or not, and who handles it: channels.h.
 */

#ifndef SECURERD_H
#define SECURERD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "json.h"
#include "proto.h"
#include "utf8.h"

#define WORKER_IMSG_MAX		(8U * 1024 * 1024 + 4096)
#define BROKER_IMSG_MAX		(256U * 1024)
#define WORKER_RESULT_MAX	(4U * 1024 * 1024)	/* "result-size" default */
#define WORKER_RESULT_LIMIT	(1024ULL * 1024 * 1024)	/* "result-size" at most */
#define WORKER_PART_MAX		(WORKER_IMSG_MAX - 4096 - 64) /* of a part */
#define RESULT_MEMORY_DEFAULT	(256ULL * 1024 * 1024)	/* "result-memory" */
#define RESULT_MEMORY_LIMIT	(16ULL * 1024 * 1024 * 1024)
#define AUDIT_CODE_MAX		10000	/* code bytes kept: the default */
#define AUDIT_CODE_LIMIT	(200U * 1024)	/* "audit-code" at most */
#define AUDIT_SUMMARY_MAX	200	/* bytes of a tool result kept */
#define ADVISORY_MAX		1024	/* bytes of IMSG_W_ADVISORY */

#define SECURERD_USER		"_securer"
#define WORKER_UID_BASE		200000
#define WORKER_UID_COUNT	65536
#define READY_MAX		64	/* workers ready ... max */
#define READY_DEFAULT		2
#define READY_DEFAULT_MAX	8

/*
 * The messages, one block per channel (channels.h); the payload of each
 * is in its comment.  Values are part of no stable interface: every
 * process is built from one tree.
 */
enum imsg_type {
	IMSG_NONE,

	/* broker <-> monitor: BROKER_MONITOR_CHANNEL */
	IMSG_CONF = 100,	/* struct securerd_conf */
	IMSG_WORKER_FD,		/* struct worker_ref, fd */
	IMSG_SPAWN_FAILED,	/* struct spawn_failed */
	IMSG_WORKER_EXIT,	/* struct worker_exit */
	IMSG_CTL_FD,		/* empty, fd: a securerctl connection */
	IMSG_AUDIT_ACK,		/* struct audit_ack: a record's durability */
	IMSG_AUDIT_STATE,	/* struct audit_state: log writable or not */
	IMSG_SPAWN,		/* struct spawn_req */
	IMSG_KILL,		/* struct worker_ref */
	IMSG_AUDIT,		/* struct audit_event + texts */
	IMSG_CTL_RELOAD,	/* empty: securerctl reload */
	IMSG_WORKER_IDLE,	/* struct worker_ref: its job ended, hold it */
	IMSG_WORKER_WAKE,	/* struct worker_ref: a job comes, let it run */
	IMSG_WORKER_RAN,	/* struct worker_ran: it ran while idle */
	IMSG_SNAP_STORE,	/* struct snap_req + record, fd: read it */
	IMSG_SNAP_LOAD,		/* struct snap_req: a snapshot, checked */
	IMSG_SNAP_DELETE,	/* struct snap_req: no answer */
	IMSG_SNAP_COPY,		/* struct snap_req + record: from's, stored */
	IMSG_SNAP_STORED,	/* struct snap_result */
	IMSG_SNAP_LOADED,	/* struct snap_result, fd: a sealed memfd */
	IMSG_SNAP_FAILED,	/* struct snap_result: store or load */
	IMSG_SNAP_LIST,		/* empty: the stored sessions, once */
	IMSG_SNAP_ADOPT,	/* struct snap_info + record: one of them */
	IMSG_SNAP_LISTED,	/* struct snap_listed: that was all */
	IMSG_STOP,		/* empty: hibernate the sessions, then exit */

	/* broker <-> template: BROKER_TEMPLATE_CHANNEL */
	IMSG_TPL_SPAWN = 200,	/* struct tpl_spawn, fd */
	IMSG_TPL_UP,		/* empty: R is initialised */
	IMSG_TPL_SPAWNED,	/* struct tpl_spawned */
	IMSG_TPL_FAILED,	/* struct spawn_failed */

	/* monitor <-> worker: WORKER_CHANNEL */
	IMSG_W_SETUP = 300,	/* struct w_setup + tools JSON */
	IMSG_W_EXEC,		/* struct w_exec + code; peerid exec id */
	IMSG_W_TOOL_RESULT,	/* struct w_tool_result + text; peerid call */
	IMSG_W_FILE_PUT,	/* struct w_file_req + name + data; exec id */
	IMSG_W_FILE_GET,	/* struct w_file_req + name; exec id */
	IMSG_W_READY,		/* empty: sandboxed and warm, a ready worker */
	IMSG_W_SETUP_DONE,	/* struct w_setup_done: the tools are defined */
	IMSG_W_OUTPUT,		/* struct w_output + text; exec id */
	IMSG_W_TOOL_CALL,	/* struct w_tool_call + name + args; call id */
	IMSG_W_RESULT,		/* struct w_result + value + printed; exec id */
	IMSG_W_ERROR,		/* struct w_error + message + call; exec id */
	IMSG_W_ADVISORY,	/* risky names, comma separated; exec id */
	IMSG_W_PLOT,		/* struct w_plot + PNG bytes; exec id */
	IMSG_W_FILE,		/* struct w_file_reply + data; exec id */
	IMSG_W_RESULT_PART,	/* bytes of the value, before IMSG_W_RESULT */
	IMSG_W_FRAME_PART,	/* bytes of the value's frame, the same */
	IMSG_W_SNAPSHOT,	/* struct w_snapshot, fd: write the state */
	IMSG_W_RESTORE,		/* struct w_restore, fd: read the state */
	IMSG_W_SNAPSHOT_DONE,	/* struct w_snap_done + note */
	IMSG_W_RESTORED,	/* struct w_snap_done + note */
	IMSG_MAX
};

/* Resource limits of a worker; LIMIT_NONE means unlimited. */
#define LIMIT_NONE	UINT64_MAX
struct worker_limits {
	uint64_t	cpu;		/* seconds of CPU time */
	uint64_t	memory;		/* bytes of address space */
	uint64_t	fsize;		/* bytes per file written */
	uint64_t	nproc;		/* processes of the worker's uid */
	uint64_t	nofile;		/* open files */
	uint64_t	stack;		/* bytes of stack */
	uint64_t	tmp_size;	/* bytes of its /tmp */
};

struct spawn_req {
	uint32_t		worker_id;
	uint32_t		pad;
	struct worker_limits	limits;
};

struct worker_ref {
	uint32_t	worker_id;
};

/* A worker that used CPU after its job ended: the broker killed it. */
struct worker_ran {
	uint32_t	worker_id;
	uint32_t	pad;
	uint64_t	cpu_us;		/* used since its job ended */
};

struct spawn_failed {
	uint32_t	worker_id;
	int32_t		error;		/* errno */
};

enum exit_cause {
	EXIT_NORMAL,		/* exited by itself; status is the code */
	EXIT_SIGNAL,		/* killed by a signal it got; status is it */
	EXIT_KILLED,		/* killed on the monitor's request */
	EXIT_CPU,		/* CPU time limit */
	EXIT_MEMORY,		/* memory limit (OOM kill) */
	EXIT_VIOLATION,		/* killed by its seccomp filter (SIGSYS) */
};

struct worker_exit {
	uint32_t	worker_id;
	uint32_t	cause;		/* enum exit_cause */
	int32_t		status;		/* exit code or signal number */
};

#define TPL_NAMESPACES	0x01	/* new namespaces and root (full sandbox) */
#define TPL_SECCOMP	0x02	/* the worker's seccomp filter */
#define TPL_CGROUP	0x04	/* the broker moves it into a cgroup */
struct tpl_spawn {
	uint32_t		worker_id;
	uint32_t		uid;
	uint32_t		gid;
	uint32_t		flags;		/* TPL_* */
	struct worker_limits	limits;
};

struct tpl_spawned {
	uint32_t	worker_id;
	int32_t		pid;
};

/* Monitor <-> worker payloads. */
#define EXEC_ECHO	0x01	/* print visible values as R's top level */
#define EXEC_BINARY	0x02	/* vectors may take the binary form */
#define EXEC_FRAMES	0x04	/* ... with their bytes in a frame */
#define EXEC_NO_PLAIN	0x08	/* no printed form of a plain vector */

struct w_setup {
	uint32_t	tools_len;	/* JSON: names and argument names */
};

struct w_exec {
	uint32_t	flags;
	uint32_t	code_len;
	uint64_t	max_value;	/* bytes of the encoded value; 0: 4 MiB */
};

struct w_tool_result {
	uint32_t	is_error;	/* text: message, else value JSON */
	uint32_t	len;
};

struct w_setup_done {
	int32_t		pid;
	uint32_t	pad;
};

enum w_stream {
	STREAM_STDOUT = 1,
	STREAM_STDERR,
	STREAM_MESSAGE,
	STREAM_WARNING,
};

struct w_output {
	uint32_t	stream;		/* enum w_stream */
	uint32_t	len;
};

struct w_tool_call {
	uint32_t	name_len;
	uint32_t	args_len;	/* JSON object: name -> value */
};

/*
 * A value over WORKER_PART_MAX comes as IMSG_W_RESULT_PARTs, in order,
 * then the IMSG_W_RESULT with the rest: value_total is the whole's size.
 * RESULT_OMITTED: an invisible value over max_value, sent as null;
 * omitted_size is what it would have taken.  EXEC_FRAMES: the frame
 * its JSON points into comes as IMSG_W_FRAME_PARTs, after the JSON's
 * parts and before the result, frame_total bytes in all.
 */
#define RESULT_OMITTED	0x01
struct w_result {
	uint32_t	visible;
	uint32_t	value_len;	/* JSON value, the last part */
	uint32_t	printed_len;
	uint32_t	flags;		/* RESULT_* */
	uint64_t	value_total;	/* the parts' bytes and value_len */
	uint64_t	omitted_size;
	uint64_t	frame_total;	/* the frame parts' bytes */
};

enum w_error_kind {
	WERR_R = 1,		/* an R error while evaluating */
	WERR_PARSE,		/* the code did not parse; nothing ran */
	WERR_ENCODE,		/* the value could not be sent */
};

#define W_CLASSES_MAX	512	/* bytes of an error's classes */
struct w_error {
	uint32_t	kind;		/* enum w_error_kind */
	int32_t		line;		/* parse errors, else 0 */
	int32_t		column;
	uint32_t	msg_len;
	uint32_t	call_len;
	uint32_t	classes_len;	/* the condition's classes, comma
					   separated, after the call */
};

/*
 * Plots and files.  The worker's own bounds hold whatever the operator
 * says; the operator's caps ("plots", "plot-size", "files",
 * "file-size" in securerd.conf(5)) are at most these.
 */
#define PLOT_SIZE_MAX		(4U * 1024 * 1024)	/* bytes of one plot */
#define PLOTS_MAX		64	/* plots sent per execution */
#define PLOTS_LISTED_MAX	1024	/* plots reported at all */
#define FILE_SIZE_MAX		(4ULL * 1024 * 1024 * 1024) /* bytes of a file */
#define FILE_CHUNK_MAX		(4U * 1024 * 1024)	/* bytes of one message */
#define FILES_MAX		1024	/* files put in one session */

#define PLOT_OMITTED	0x01	/* over the worker's bounds: no bytes */
struct w_plot {
	uint32_t	index;		/* page number, from 1 */
	uint32_t	flags;		/* PLOT_* */
	uint64_t	size;		/* of the file, sent or not */
};

/*
 * A file moves in chunks of at most FILE_CHUNK_MAX bytes.  A put's
 * chunk goes at offset of a partial file, which becomes the file at the
 * chunk without FILE_MORE; a get reads length bytes from offset, or
 * with FILE_WHOLE refuses a rest longer than length.
 */
#define FILE_MORE	0x01	/* put: chunks follow */
#define FILE_WHOLE	0x02	/* get: the rest of the file or nothing */
struct w_file_req {
	uint32_t	name_len;
	uint32_t	data_len;	/* put: the bytes that follow */
	uint64_t	offset;		/* of the chunk or range */
	uint64_t	length;		/* get: of the range at most */
	uint64_t	max;		/* the largest file: file-size */
	uint32_t	flags;		/* FILE_* */
	uint32_t	pad;
};

/* What went wrong with a file, for the monitor's typed error. */
enum w_file_status {
	WFILE_OK,
	WFILE_NOT_FOUND,
	WFILE_NOT_REGULAR,	/* a symlink, FIFO, directory... */
	WFILE_TOO_LARGE,
	WFILE_EXISTS,		/* put: the name is taken */
	WFILE_IO,		/* errno in error */
	WFILE_BAD_OFFSET,	/* get: past the end; put: not the partial's */
};

struct w_file_reply {
	uint32_t	status;		/* enum w_file_status */
	int32_t		error;		/* errno for WFILE_IO */
	uint64_t	size;		/* put: bytes so far; get: the file's */
	uint64_t	offset;		/* get: of the bytes that follow */
};

/*
 * Snapshots of a session's state (hibernation).  The worker writes its
 * state, R's serialization of a list made inside the sandbox, into an
 * empty memfd the monitor made (charged to the worker's memory limit),
 * and says how many bytes; the broker stores exactly that many, if the
 * file holds them and they are within max_bytes and the owner's quota,
 * under the state directory with a keyed MAC over owner, session id and
 * content.  A load checks the MAC and hands over a sealed memfd holding
 * exactly the checked bytes, which only a worker of the same owner reads.
 */
#define SNAP_NOTE_MAX		1024	/* bytes of a worker's note */
#define SNAPSHOT_SIZE_MAX	(4ULL * 1024 * 1024 * 1024)
#define RETENTION_DEFAULT	86400	/* "retention": a day */
#define SNAPSHOT_DEFAULT	(256ULL * 1024 * 1024)	/* snapshot-size */
#define SNAPSHOT_QUOTA_DEFAULT	(4ULL * 1024 * 1024 * 1024) /* per uid */

struct w_snapshot {
	uint64_t	max_bytes;	/* stop and fail past this */
};

struct w_restore {
	uint64_t	bytes;		/* in the memfd, from offset 0 */
};

enum w_snap_status {
	WSNAP_OK,		/* note: what was left out or not restored */
	WSNAP_TOO_LARGE,	/* over max_bytes: nothing usable written */
	WSNAP_FAILED,		/* note: R's error */
};

struct w_snap_done {
	uint32_t	status;		/* enum w_snap_status */
	uint32_t	pad;
	uint64_t	bytes;		/* written (snapshot) or read (restore) */
};

/*
 * A store or a copy carries the session's record: what the monitor
 * needs to take the session on again after a restart (its owner, name,
 * tools, limits), opaque to the broker, stored and MACed with the
 * state and handed back at the next monitor's IMSG_SNAP_LIST.
 */
#define SNAP_RECORD_MAX		(64 * 1024)

struct snap_req {
	char		session[SESSION_ID_LEN + 1];
	char		pad[3];
	char		from[SESSION_ID_LEN + 1]; /* copy: the source, else "" */
	char		pad2[3];
	uint32_t	uid;		/* the owner's */
	uint32_t	token;		/* the monitor's, in the answer */
	uint64_t	max_bytes;	/* store: the most to keep */
	uint64_t	bytes;		/* store: what the worker said it wrote */
	uint32_t	record_len;	/* store, copy: the record's bytes */
	uint32_t	pad3;
};

/* A stored session, for the monitor to adopt; its record follows. */
struct snap_info {
	char		session[SESSION_ID_LEN + 1];
	char		pad[3];
	uint32_t	uid;
	uint32_t	record_len;
	int64_t		stored;		/* when, seconds since the epoch */
	uint64_t	bytes;		/* its state's */
};

struct snap_listed {
	uint32_t	count;		/* IMSG_SNAP_ADOPTs sent */
	uint32_t	refused;	/* snapshots whose record did not verify */
};

enum snap_error {
	SNAP_OK,
	SNAP_TOO_LARGE,		/* store: over max_bytes, nothing kept */
	SNAP_QUOTA,		/* store: over the owner's disk quota */
	SNAP_MISSING,		/* load: no such snapshot */
	SNAP_TAMPERED,		/* load: MAC, owner or session do not match */
	SNAP_IO,		/* errno in error */
};

struct snap_result {
	uint32_t	token;
	uint32_t	status;		/* enum snap_error */
	int32_t		error;		/* errno for SNAP_IO */
	uint32_t	pad;
	uint64_t	bytes;		/* stored, or in the memfd */
	uint64_t	elapsed_us;	/* the broker's time on it */
};

/* Audit events: the monitor sends them, the broker numbers and writes. */
enum audit_type {
	AUDIT_SESSION_OPEN = 1,		/* t0: tool names */
	AUDIT_SESSION_CLOSE,		/* t0: reason */
	AUDIT_SESSION_RESTART,		/* t0: reason */
	AUDIT_EXEC_START,		/* t0: code (cut), t1: its SHA-256 */
	AUDIT_EXEC_END,			/* status; t0: error code, t1: msg */
	AUDIT_TOOL_CALL,		/* status; t0: tool, t1: error,
					   t2: result summary */
	AUDIT_TIMEOUT,			/* duration: the deadline */
	AUDIT_WORKER_EXIT,		/* written by the broker itself */
	AUDIT_PROTOCOL,			/* t0: what was violated */
	AUDIT_AUTH_FAIL,		/* t0: why */
	AUDIT_EXEC_ABORT,		/* t0: cause, t1: error code */
	AUDIT_SESSION_HIBERNATE,	/* status; duration; t0: why, t1: error */
	AUDIT_SESSION_RESUME,		/* status; duration; t0: note, t1: error */
	AUDIT_SESSION_FORK,		/* status; duration; t0: the source,
					   t1: error; t2: bytes */
	AUDIT_SESSION_DETACH,		/* t0: its name */
	AUDIT_SESSION_ATTACH,		/* t0: its name */
	AUDIT_SESSION_ADOPT,		/* status; t0: its name, t1: error,
					   t2: bytes */
	AUDIT_MAX
};

enum exec_status {
	EXEC_OK,
	EXEC_ERROR,
	EXEC_TIMEOUT,
	EXEC_KILLED,
	EXEC_ABORTED,
};

#define AUDIT_TEXTS	3
#define AUDIT_RULE_LEN	48	/* "allow group NAME" */
#define AUDIT_F_ACK	0x01	/* answer with IMSG_AUDIT_ACK, token */
struct audit_event {
	uint32_t	type;		/* enum audit_type */
	uint32_t	status;
	uint64_t	duration_us;
	uint32_t	uid;		/* client's */
	int32_t		pid;
	uint32_t	worker_id;
	uint32_t	exec_id;
	char		session[SESSION_ID_LEN + 1];
	char		pad[7];
	char		rule[AUDIT_RULE_LEN];	/* the policy rule matched */
	uint32_t	text_len[AUDIT_TEXTS];
	uint32_t	flags;		/* AUDIT_F_* */
	uint32_t	token;		/* the monitor's, for the ack */
	uint32_t	code_len;	/* the whole code's, for exec_start */
};

/*
 * The broker's answer to a record sent with AUDIT_F_ACK: durable is 1
 * once it is as durable as "audit-sync" promises, 0 if the log could
 * not be written (the broker keeps it and writes it when it can).
 */
struct audit_ack {
	uint32_t	token;
	uint32_t	durable;
};

struct audit_state {
	uint32_t	up;		/* 0: "audit log unavailable" */
};

/* "audit-sync" */
#define AUDIT_SYNC_NEVER	0	/* written, the kernel flushes */
#define AUDIT_SYNC_ALWAYS	1	/* fdatasync(2) each record */
#define AUDIT_SYNC_BATCH	2	/* fdatasync(2) every audit_sync_ms */
#define AUDIT_BATCH_RECORDS	128	/* or after this many records */

/* "sandbox strict|fallback" in securerd.conf(5). */
#define SANDBOX_STRICT		1	/* refuse to start without all */
#define SANDBOX_FALLBACK	2	/* warn once, run with what there is */

/* The isolation the host offers, probed by the broker at start-up. */
#define SBX_NAMESPACES	0x01	/* user, mount, pid, net, ipc, uts, cgroup */
#define SBX_SECCOMP	0x02	/* seccomp filters with kill_process */
#define SBX_NNP		0x04	/* no_new_privs */
#define SBX_CGROUPS	0x08	/* memory and pids controllers */
#define SBX_UIDS	0x10	/* a worker uid range of its own */
#define SBX_ALL		0x1f

/* What a session's "sandbox" says. */
#define SANDBOX_LEVEL_FULL	"full"
#define SANDBOX_LEVEL_PARTIAL	"partial"

/*
 * Who may connect, and with what limits: "allow" and "deny" rules of
 * securerd.conf(5), first match wins.  In a rule's limits 0 means the
 * global value; in the global limits 0 means none.
 */
#define POLICY_RULES_MAX	64
#define POLICY_TOKEN_MAX	128
#define POLICY_NAME_MAX		32

struct identity_limits {
	uint32_t	sessions;	/* open at once */
	uint32_t	executions;	/* running at once */
	uint32_t	pool_size;	/* sessions in one pool */
	uint32_t	pad;
	double		requests;	/* per second */
	double		requests_burst;
	double		tool_rate;	/* tool calls per second */
	double		tool_burst;
};

#define RULE_ALLOW	1
#define RULE_DENY	2
#define MATCH_ALL	0
#define MATCH_USER	1
#define MATCH_GROUP	2
struct policy_rule {
	uint8_t			action;		/* RULE_* */
	uint8_t			match;		/* MATCH_* */
	uint16_t		pad;
	uint32_t		id;		/* uid or gid */
	char			name[POLICY_NAME_MAX];	/* as written */
	char			token[POLICY_TOKEN_MAX]; /* "" none */
	struct identity_limits	limits;
};

/*
 * The configuration: parsed by the broker, inherited by the monitor when
 * it is forked.  Sizes are bytes, times seconds.
 */
/* Capacities not configured, so derived from the host (config.c). */
#define CAP_AUTO_WORKERS	0x01
#define CAP_AUTO_MEMORY		0x02
#define CAP_AUTO_SESSIONS	0x04
#define CAP_AUTO_CLIENTS	0x08	/* client-memory, user-client-memory */
#define CLIENT_MEMORY_MAX	(1ULL << 30)	/* the derived default's top */

struct securerd_conf {
	char			 socket_path[108];	/* sun_path */
	char			 control_path[108];	/* securerctl's */
	mode_t			 socket_mode;
	char			 user[64];		/* the monitor's */
	char			 chroot[256];
	char			 audit_path[256];
	char			 worker_path[256];
	uint32_t		 uid_base;		/* workers' uids */
	uint32_t		 uid_count;
	double			 default_timeout;	/* 0 none */
	double			 max_timeout;
	struct worker_limits	 default_limits;
	struct worker_limits	 max_limits;
	uint64_t		 max_code;
	uint64_t		 max_output_bytes;
	uint64_t		 max_output_lines;	/* 0 none */
	uint64_t		 max_tool_calls;	/* 0 none */
	uint64_t		 max_messages;		/* per execution, 0 none */
	uint64_t		 max_result;		/* bytes of a value */
#define LIBRARIES_MAX	8
	char			 libraries[LIBRARIES_MAX][200];	/* R's */
	uint32_t		 nlibraries;
#define PRELOAD_MAX	16
#define PACKAGE_NAME_MAX 64	/* with its NUL */
	char			 preload[PRELOAD_MAX][PACKAGE_NAME_MAX];
	uint32_t		 npreload;		/* namespaces */
	int			 audit_sync;		/* AUDIT_SYNC_* */
	uint32_t		 audit_sync_ms;		/* batch interval */
	uint64_t		 audit_rotate;		/* bytes, 0 never */
	uint32_t		 audit_code;		/* code bytes kept */
	uint32_t		 max_sessions;		/* per client */
	uint32_t		 idle_exit;		/* 0 never */
	int			 single_user;
	int			 sandbox_policy;	/* SANDBOX_* */
	uint32_t		 sandbox_have;		/* SBX_*, probed */
	int			 cgroup_version;	/* 0 none, 1, 2 */
	char			 sandbox_missing[256];	/* for messages */
	int64_t			 socket_uid;		/* -1 unchanged */
	int64_t			 socket_gid;
	char			 socket_owner[POLICY_NAME_MAX];
	char			 socket_group[POLICY_NAME_MAX];
	struct identity_limits	 ident;			/* per identity */
	uint32_t		 cap_workers;		/* 0 none */
	uint32_t		 idle_ttl;		/* seconds, 0 never */
	uint64_t		 cap_memory;		/* bytes, 0 none */
	uint32_t		 lifetime;		/* seconds, 0 none */
	uint32_t		 client_grace;		/* seconds, 0 none */
	uint32_t		 ready_min;		/* workers ready */
	uint32_t		 ready_max;		/* under bursts */
	uint32_t		 nrules;
	struct policy_rule	 rules[POLICY_RULES_MAX];
	uint32_t		 max_plots;		/* per execution */
	uint32_t		 max_files;		/* put per session */
	uint64_t		 max_plot_size;		/* bytes */
	uint64_t		 max_file_size;		/* bytes */
	uint64_t		 max_result_memory;	/* values held at once */
	uint32_t		 cap_auto;		/* CAP_AUTO_*: derived */
	uint32_t		 max_connections;	/* 0: from the fd limit */
	uint32_t		 user_connections;	/* per uid, 0: a share */
	uint32_t		 hello_timeout;		/* seconds, 0 none */
	uint64_t		 client_memory;		/* buffered, 0: derived */
	uint64_t		 user_client_memory;	/* per uid, 0: a share */
	char			 state_dir[256];	/* snapshots, the key */
	uint64_t		 max_snapshot;		/* bytes of one */
	uint64_t		 snapshot_quota;	/* bytes per uid */
	uint32_t		 hibernate_after;	/* seconds idle, 0 off */
	uint32_t		 retention;		/* a kept session's, 0 none */
	uint32_t		 hibernate_on_stop;	/* seconds' grace, 0 off */
};

/* util.c */
const char	*exit_cause_str(enum exit_cause, int, char *, size_t);
const char	*exec_status_str(enum exec_status);
uint64_t	 now_us(void);

#endif /* SECURERD_H */
