/*
 * The channels between securerd's processes and every message that may
 * cross them.  One row per message:
 *
 *	M(type, sender, size rule, receiver's states, fd, peerid, handler)
 *
 * The dispatcher (chan.c) refuses whatever a row does not allow before
 * any handler runs.  Size rules: EMPTY, FIXED(struct) for an exact size,
 * LENSn(struct, fields) for a header whose uint32 fields declare the
 * lengths of what follows (they must add up exactly), TAIL(struct, max)
 * for a header and at most max bytes.  The handler is a function of the
 * receiving process; each process binds the rows it receives (CHAN_RECV
 * in chan.h).  channels.c makes the tables from these rows, and
 * t_channels checks DESIGN.md against them.
 */

#ifndef SECURER_CHANNELS_H
#define SECURER_CHANNELS_H

#include <stddef.h>

#include "chan.h"
#include "securerd.h"

#define ST(s)			(1U << (s))
#define EMPTY			RULE_EXACT, 0, 0, 0, 0, 0
#define FIXED(t)		RULE_EXACT, sizeof(t), 0, 0, 0, 0
#define LENS1(t, a)		RULE_LENS, sizeof(t), 0, LEN_AT(t, a), 0, 0
#define LENS2(t, a, b)		RULE_LENS, sizeof(t), 0, LEN_AT(t, a),	\
				    LEN_AT(t, b), 0
#define LENS3(t, a, b, c)	RULE_LENS, sizeof(t), 0, LEN_AT(t, a),	\
				    LEN_AT(t, b), LEN_AT(t, c)
#define TAIL(t, m)		RULE_TAIL, sizeof(t), (m), 0, 0, 0
#define TEXT(m)			RULE_TAIL, 0, (m), 0, 0, 0
#define LEN_AT(t, f)		(offsetof(t, f) + 1)

/*
 * broker <-> monitor.  The broker is trusted by the monitor and the
 * monitor by nobody: a violation by the monitor gets it killed and
 * restarted, one by the broker ends the monitor.
 */
enum {				/* the monitor, receiving */
	MB_CONF,		/* exec'd: waiting for its configuration */
	MB_ADOPT,		/* taking on the stored sessions, not serving */
	MB_RUN,
};
#define MB_UP			(ST(MB_ADOPT) | ST(MB_RUN))
enum {				/* the broker, receiving */
	BM_RUN,
	BM_DRAIN,		/* the monitor died: its last records */
};
#define BROKER_MONITOR_CHANNEL(M)					\
	/* broker -> monitor */						\
	M(IMSG_CONF, BROKER, FIXED(struct securerd_conf),		\
	    ST(MB_CONF) | MB_UP, FD_NO, ID_ANY, monitor_recv_conf)	\
	M(IMSG_WORKER_FD, BROKER, FIXED(struct worker_ref),		\
	    MB_UP, FD_YES, ID_ANY, monitor_recv_worker_fd)		\
	M(IMSG_SPAWN_FAILED, BROKER, FIXED(struct spawn_failed),	\
	    MB_UP, FD_NO, ID_ANY, monitor_recv_spawn_failed)		\
	M(IMSG_WORKER_EXIT, BROKER, FIXED(struct worker_exit),		\
	    MB_UP, FD_NO, ID_ANY, monitor_recv_worker_exit)		\
	M(IMSG_CTL_FD, BROKER, EMPTY,					\
	    MB_UP, FD_YES, ID_ANY, monitor_recv_ctl_fd)			\
	M(IMSG_AUDIT_ACK, BROKER, FIXED(struct audit_ack),		\
	    MB_UP, FD_NO, ID_ANY, monitor_recv_audit_ack)		\
	M(IMSG_AUDIT_STATE, BROKER, FIXED(struct audit_state),		\
	    MB_UP, FD_NO, ID_ANY, monitor_recv_audit_state)		\
	M(IMSG_WORKER_RAN, BROKER, FIXED(struct worker_ran),		\
	    MB_UP, FD_NO, ID_ANY, monitor_recv_worker_ran)		\
	M(IMSG_SNAP_STORED, BROKER, FIXED(struct snap_result),		\
	    ST(MB_RUN), FD_NO, ID_ANY, monitor_recv_snap_stored)	\
	M(IMSG_SNAP_LOADED, BROKER, FIXED(struct snap_result),		\
	    ST(MB_RUN), FD_YES, ID_ANY, monitor_recv_snap_loaded)	\
	M(IMSG_SNAP_FAILED, BROKER, FIXED(struct snap_result),		\
	    ST(MB_RUN), FD_NO, ID_ANY, monitor_recv_snap_failed)	\
	M(IMSG_SNAP_ADOPT, BROKER, LENS1(struct snap_info, record_len),	\
	    ST(MB_ADOPT), FD_NO, ID_ANY, monitor_recv_snap_adopt)	\
	M(IMSG_SNAP_LISTED, BROKER, FIXED(struct snap_listed),		\
	    ST(MB_ADOPT), FD_NO, ID_ANY, monitor_recv_snap_listed)	\
	M(IMSG_STOP, BROKER, EMPTY,					\
	    MB_UP, FD_NO, ID_ANY, monitor_recv_stop)			\
	/* monitor -> broker */						\
	M(IMSG_SPAWN, MONITOR, FIXED(struct spawn_req),			\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_spawn)		\
	M(IMSG_KILL, MONITOR, FIXED(struct worker_ref),			\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_kill)		\
	M(IMSG_WORKER_IDLE, MONITOR, FIXED(struct worker_ref),		\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_worker_idle)		\
	M(IMSG_WORKER_WAKE, MONITOR, FIXED(struct worker_ref),		\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_worker_wake)		\
	M(IMSG_AUDIT, MONITOR, LENS3(struct audit_event, text_len[0],	\
	    text_len[1], text_len[2]),					\
	    ST(BM_RUN) | ST(BM_DRAIN), FD_NO, ID_ANY, broker_recv_audit)\
	M(IMSG_CTL_RELOAD, MONITOR, EMPTY,				\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_reload)		\
	M(IMSG_SNAP_STORE, MONITOR, LENS1(struct snap_req, record_len),	\
	    ST(BM_RUN), FD_YES, ID_ANY, broker_recv_snap_store)		\
	M(IMSG_SNAP_LOAD, MONITOR, FIXED(struct snap_req),		\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_snap_load)		\
	M(IMSG_SNAP_DELETE, MONITOR, FIXED(struct snap_req),		\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_snap_delete)		\
	M(IMSG_SNAP_COPY, MONITOR, LENS1(struct snap_req, record_len),	\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_snap_copy)		\
	M(IMSG_SNAP_LIST, MONITOR, EMPTY,				\
	    ST(BM_RUN), FD_NO, ID_ANY, broker_recv_snap_list)

/*
 * broker <-> template.  Each trusts the other's messages no further
 * than this table: a violation kills the template (the broker starts
 * another) or ends it.
 */
enum {				/* the broker, receiving */
	BT_START,		/* R is being initialised */
	BT_UP,
};
enum {				/* the template, receiving */
	TB_RUN,
};
#define BROKER_TEMPLATE_CHANNEL(M)					\
	/* broker -> template */					\
	M(IMSG_TPL_SPAWN, BROKER, FIXED(struct tpl_spawn),		\
	    ST(TB_RUN), FD_YES, ID_ANY, template_recv_spawn)		\
	/* template -> broker */					\
	M(IMSG_TPL_UP, TEMPLATE, EMPTY,					\
	    ST(BT_START), FD_NO, ID_ANY, broker_recv_tpl_up)		\
	M(IMSG_TPL_SPAWNED, TEMPLATE, FIXED(struct tpl_spawned),	\
	    ST(BT_UP), FD_NO, ID_ANY, broker_recv_tpl_spawned)		\
	M(IMSG_TPL_FAILED, TEMPLATE, FIXED(struct spawn_failed),	\
	    ST(BT_UP), FD_NO, ID_ANY, broker_recv_tpl_failed)

/*
 * monitor <-> worker.  The worker runs hostile code and may send any
 * bytes at any time: whatever this table does not allow kills it, with
 * the violation audited.  A worker that is set up and idle, or waits for
 * a tool's result, may send nothing at all.
 */
enum {				/* the monitor, receiving */
	WS_BOOT,		/* started, not heard from */
	WS_READY,		/* sandboxed and warm, no session yet */
	WS_SETUP_EARLY,		/* its setup sent before it said ready */
	WS_SETUP,		/* its setup sent */
	WS_IDLE,		/* set up, nothing to do */
	WS_EXEC,		/* an execution sent, nothing heard of it */
	WS_RUN,			/* the execution under way */
	WS_TOOL,		/* waiting for a tool's result */
	WS_FILE,		/* a file operation sent */
	WS_SNAP,		/* asked for its state (hibernation) */
	WS_RESTORE,		/* given a state to restore */
};
enum {				/* the worker, receiving */
	WK_BOOT,		/* waiting for its setup */
	WK_IDLE,		/* waiting for work */
	WK_TOOL,		/* in a tool call, waiting for its result */
};
#define WORKER_CHANNEL(M)						\
	/* monitor -> worker */						\
	M(IMSG_W_SETUP, MONITOR, LENS1(struct w_setup, tools_len),	\
	    ST(WK_BOOT), FD_NO, ID_ANY, worker_recv_setup)		\
	M(IMSG_W_EXEC, MONITOR, LENS1(struct w_exec, code_len),		\
	    ST(WK_IDLE), FD_NO, ID_ANY, worker_recv_exec)		\
	M(IMSG_W_TOOL_RESULT, MONITOR, LENS1(struct w_tool_result, len),\
	    ST(WK_TOOL), FD_NO, ID_EXPECTED, worker_recv_tool_result)	\
	M(IMSG_W_FILE_PUT, MONITOR, LENS2(struct w_file_req, name_len,	\
	    data_len), ST(WK_IDLE), FD_NO, ID_ANY, worker_recv_file_put)\
	M(IMSG_W_FILE_GET, MONITOR, LENS2(struct w_file_req, name_len,	\
	    data_len), ST(WK_IDLE), FD_NO, ID_ANY, worker_recv_file_get)\
	M(IMSG_W_SNAPSHOT, MONITOR, FIXED(struct w_snapshot),		\
	    ST(WK_IDLE), FD_YES, ID_ANY, worker_recv_snapshot)		\
	M(IMSG_W_RESTORE, MONITOR, FIXED(struct w_restore),		\
	    ST(WK_IDLE), FD_YES, ID_ANY, worker_recv_restore)		\
	/* worker -> monitor */						\
	M(IMSG_W_READY, WORKER, EMPTY,					\
	    ST(WS_BOOT) | ST(WS_SETUP_EARLY), FD_NO, ID_ANY,		\
	    monitor_recv_ready)						\
	M(IMSG_W_SETUP_DONE, WORKER, FIXED(struct w_setup_done),	\
	    ST(WS_SETUP), FD_NO, ID_ANY, monitor_recv_setup_done)	\
	M(IMSG_W_OUTPUT, WORKER, LENS1(struct w_output, len),		\
	    ST(WS_EXEC) | ST(WS_RUN), FD_NO, ID_EXPECTED,		\
	    monitor_recv_output)					\
	M(IMSG_W_TOOL_CALL, WORKER, LENS2(struct w_tool_call, name_len,	\
	    args_len), ST(WS_EXEC) | ST(WS_RUN), FD_NO, ID_ANY,		\
	    monitor_recv_tool_call)					\
	M(IMSG_W_RESULT, WORKER, LENS2(struct w_result, value_len,	\
	    printed_len), ST(WS_EXEC) | ST(WS_RUN), FD_NO, ID_EXPECTED,	\
	    monitor_recv_result)					\
	M(IMSG_W_RESULT_PART, WORKER, TEXT(WORKER_PART_MAX),		\
	    ST(WS_EXEC) | ST(WS_RUN), FD_NO, ID_EXPECTED,		\
	    monitor_recv_result_part)					\
	M(IMSG_W_FRAME_PART, WORKER, TEXT(WORKER_PART_MAX),		\
	    ST(WS_EXEC) | ST(WS_RUN), FD_NO, ID_EXPECTED,		\
	    monitor_recv_frame_part)					\
	M(IMSG_W_ERROR, WORKER, LENS3(struct w_error, msg_len,		\
	    call_len, classes_len), ST(WS_EXEC) | ST(WS_RUN), FD_NO,	\
	    ID_EXPECTED, monitor_recv_error)				\
	M(IMSG_W_ADVISORY, WORKER, TEXT(ADVISORY_MAX),			\
	    ST(WS_EXEC), FD_NO, ID_EXPECTED, monitor_recv_advisory)	\
	M(IMSG_W_PLOT, WORKER, TAIL(struct w_plot, PLOT_SIZE_MAX),	\
	    ST(WS_EXEC) | ST(WS_RUN), FD_NO, ID_EXPECTED,		\
	    monitor_recv_plot)						\
	M(IMSG_W_FILE, WORKER, TAIL(struct w_file_reply, FILE_CHUNK_MAX),\
	    ST(WS_FILE), FD_NO, ID_EXPECTED, monitor_recv_file)		\
	M(IMSG_W_SNAPSHOT_DONE, WORKER, TAIL(struct w_snap_done,	\
	    SNAP_NOTE_MAX), ST(WS_SNAP), FD_NO, ID_ANY,			\
	    monitor_recv_snapshot_done)					\
	M(IMSG_W_RESTORED, WORKER, TAIL(struct w_snap_done,		\
	    SNAP_NOTE_MAX), ST(WS_RESTORE), FD_NO, ID_ANY,		\
	    monitor_recv_restored)

extern const struct chan_spec	chan_broker_monitor;
extern const struct chan_spec	chan_broker_template;
extern const struct chan_spec	chan_worker;

#endif /* SECURER_CHANNELS_H */
