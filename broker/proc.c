/*
 * The monitor process seen from the broker: exec it (child.c), give it
 * its configuration first, serve what it may ask for (spawn and kill
 * workers, hold them still between their jobs, write audit records,
 * reload), and when it dies, write the records it sent before it went,
 * kill its workers, close its executions in the audit log and start
 * another one.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "channels.h"
#include "log.h"
#include "msg.h"

static struct event	ev_down;	/* connections while it is down */
static struct event	ev_stop;	/* hibernate-on-stop's grace */
static int		stopping;

/* The monitor's own working set, beside what clients make it hold. */
#define MONITOR_MEMORY_BASE	(512ULL << 20)

#define CHAN_RECV_MONITOR(t, fn)	CHAN_HANDLER(t, fn)
#define CHAN_RECV_BROKER(t, fn)
static const struct chan_handler broker_dispatch_monitor[] = {
	BROKER_MONITOR_CHANNEL(CHAN_RECV)
};

static void	monitor_exec(struct child *);
static void	monitor_started(struct child *);
static void	monitor_lost(struct chan *, const char *);
static void	monitor_died(struct child *, int);
static void	monitor_exited(struct child *);
static int	monitor_restart_ok(struct child *);

/*
 * Restarted 0.1 s after it dies, doubling up to 10 s while it keeps
 * dying, back to 0.1 s once one stayed up 30 s; never given up on.
 */
static struct child	monitor = {
	.name = "monitor",
	.spec = &chan_broker_monitor,
	.handlers = broker_dispatch_monitor,
	.nhandlers = sizeof(broker_dispatch_monitor) /
	    sizeof(broker_dispatch_monitor[0]),
	.first_state = BM_RUN,
	.extra_fd = -1,
	.min_ms = 100,
	.max_ms = 10000,
	.stable_secs = 30,
	.give_up = 0,
	.exec = monitor_exec,
	.started = monitor_started,
	.lost = monitor_lost,
	.died = monitor_died,
	.exited = monitor_exited,
	.restart_ok = monitor_restart_ok,
	.pid = -1,
};

/*
 * securerd -M, from the very binary the broker runs (even if it was
 * replaced on disk since), with the listening socket as fd 4 and the
 * broker's environment, as a fork would have had it: the operator's,
 * sanitizer and test hooks (LD_PRELOAD, ASAN_OPTIONS) included; the
 * monitor reads nothing from it but those.
 */
/*
 * What the monitor may hold: its own working set, what clients may
 * have buffered (twice: a request line is parsed into a tree as large),
 * and the values of executions held at once with their replies built.
 * Over it malloc fails and the monitor ends, to be started afresh:
 * a bug costs its clients their connections, never the host its memory.
 * RLIMIT_DATA counts the heap and private mappings, which is all the
 * monitor allocates; the sanitizers' shadow memory is such a mapping,
 * so their builds run without it.
 */
static void
monitor_memory_limit(void)
{
#if !defined(__SANITIZE_ADDRESS__)
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = MONITOR_MEMORY_BASE +
	    2 * conf->client_memory + 3 * conf->max_result_memory;
	if (setrlimit(RLIMIT_DATA, &rl) == -1)
		log_warn("monitor memory limit");
#endif
}

static void
monitor_exec(struct child *c)
{
	static char	 vflag[8] = "-v";
	char		*argv[5];
	size_t		 i, a = 0;

	monitor_memory_limit();
	argv[a++] = "securerd";
	argv[a++] = "-M";
	if (log_getforeground())
		argv[a++] = "-d";
	if (log_getverbose() > 0) {
		for (i = 1; i < 7 && i <= (size_t)log_getverbose(); i++)
			vflag[i] = 'v';
		vflag[i] = '\0';
		argv[a++] = vflag;
	}
	argv[a] = NULL;
	execve("/proc/self/exe", argv, environ);
}

/* The configuration before anything else, then the audit log's state. */
static void
monitor_started(struct child *c)
{
	struct audit_state	st = { 0 };

	event_del(&ev_down);
	snapshot_monitor_new();
	if (msg_send_conf(&c->chan, conf) == -1)
		fatal("monitor channel");
	if (auditfile_down())
		monitor_send(IMSG_AUDIT_STATE, 0, -1, &st, sizeof(st));
}

/*
 * While no monitor runs (from a death to its restart, which backs off up
 * to 10 s), a connection would wait in the listening socket's queue with
 * nobody to answer it: the broker takes it and says so, reading nothing
 * from it.  The socket is non-blocking (the monitor set it so).
 */
static void
monitor_down_refuse(int fd, short event, void *arg)
{
	static const char	line[] = "{\"id\":null,\"ok\":false,"
	    "\"error\":{\"code\":\"unavailable\",\"message\":\"the "
	    "daemon is restarting its monitor; try again in a moment\"}}\n";
	int			s;

	if ((s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	if (write(s, line, sizeof(line) - 1) == -1)
		log_debug("refused connection: %s", strerror(errno));
	close(s);
}

void
monitor_start(int listen_fd)
{
	monitor.extra_fd = listen_fd;
	event_set(&ev_down, listen_fd, EV_READ | EV_PERSIST,
	    monitor_down_refuse, NULL);
	if (child_start(&monitor) == -1)
		fatalx("the monitor could not be started");
}

/* A monitor that breaks the protocol is killed, and started afresh. */
static void
monitor_lost(struct chan *ch, const char *why)
{
	if (why != NULL)
		child_kill(&monitor, why);
}

/*
 * Records the monitor sent before it died are written before its open
 * executions are aborted: SIGCHLD may come before the channel's last
 * bytes were read.  Only records (state BM_DRAIN): what it asked for
 * dies with it.
 */
static void
monitor_died(struct child *c, int status)
{
	char	detail[64];

	snprintf(detail, sizeof(detail), "status %#x", status);
	if (stopping) {
		log_warnx("monitor died (%s) while it stopped", detail);
		broker_shutdown(0);
	}
	log_warnx("monitor died (%s), restarting it", detail);
	audit_daemon("monitor_died", detail);
	if (c->chan.open && !c->chan.failed) {
		c->chan.state = BM_DRAIN;
		chan_read_all(&c->chan);
	}
	spawn_kill_all();
	audit_abort_open("monitor died");
	event_add(&ev_down, NULL);
}

/* It went by itself (idle exit, SIGTERM): so does the daemon. */
static void
monitor_exited(struct child *c)
{
	log_info("monitor exited");
	broker_shutdown(0);
}

static int
monitor_restart_ok(struct child *c)
{
	if (config_chroot(conf) == -1) {
		log_warnx("monitor not restarted: no chroot directory");
		return (-1);
	}
	audit_daemon("monitor_restart", NULL);
	return (0);
}

int
monitor_reaped(pid_t pid, int status)
{
	return (child_reaped(&monitor, pid, status));
}

void
monitor_stop(void)
{
	child_stop(&monitor);
}

static void
monitor_stop_late(int fd, short event, void *arg)
{
	log_warnx("the monitor did not stop in %u seconds: stopping it",
	    conf->hibernate_on_stop);
	broker_shutdown(0);
}

/*
 * SIGTERM with hibernate-on-stop: the monitor hibernates every session
 * it can, waiting up to the grace for executions under way to end,
 * then exits, and the daemon with it (monitor_exited).  -1 if there is
 * nothing to wait for, or this is the second SIGTERM: stop at once.
 */
int
monitor_stop_gently(void)
{
	struct timeval	tv = { conf->hibernate_on_stop, 0 };

	if (stopping || conf->hibernate_on_stop == 0 ||
	    !child_running(&monitor) || monitor.chan.failed)
		return (-1);
	if (msg_send_fixed(&monitor.chan, IMSG_STOP, 0, -1, NULL, 0) == -1)
		return (-1);
	stopping = 1;
	/* Beyond the grace, the time to store what it saved. */
	tv.tv_sec += STOP_STORE_SECS;
	evtimer_set(&ev_stop, monitor_stop_late, NULL);
	evtimer_add(&ev_stop, &tv);
	log_info("hibernating the sessions before the stop (up to %u s)",
	    conf->hibernate_on_stop);
	return (0);
}

/*
 * Where the monitor's channel will have been read to once everything in
 * its socket now is read (rest.c: what it had sent by then).
 */
uint64_t
monitor_read_mark(void)
{
	int	queued = 0;

	if (child_running(&monitor) &&
	    ioctl(monitor.chan.ibuf.fd, FIONREAD, &queued) == -1)
		queued = 0;
	return (monitor.chan.rbytes + (uint64_t)queued);
}

/* Whether the broker read the monitor's channel up to mark (or lost it). */
int
monitor_read_past(uint64_t mark)
{
	return (!child_running(&monitor) || monitor.chan.failed ||
	    monitor.chan.rbytes >= mark);
}

/* A fixed message for the monitor; dropped (fd closed) if it is down. */
void
monitor_send(uint32_t type, uint32_t peerid, int fd, const void *data,
    size_t len)
{
	if (!child_running(&monitor) || msg_send_fixed(&monitor.chan, type,
	    peerid, fd, data, len) == -1) {
		if (fd != -1)
			close(fd);
	}
}

/* A stored session and its record, for the monitor to take on. */
void
monitor_send_snap_info(const struct snap_info *si, const void *rec)
{
	if (child_running(&monitor))
		(void)msg_send_snap_info(&monitor.chan, si, rec);
}

void
broker_recv_spawn(struct chan *ch, struct imsg *imsg)
{
	struct spawn_req	req;

	msg_get_fixed(imsg, &req, sizeof(req));
	spawn_request(&req);
}

void
broker_recv_kill(struct chan *ch, struct imsg *imsg)
{
	struct worker_ref	ref;

	msg_get_fixed(imsg, &ref, sizeof(ref));
	spawn_kill(ref.worker_id);
}

/* The monitor says a job of the worker ended, or is coming (rest.c). */
void
broker_recv_worker_idle(struct chan *ch, struct imsg *imsg)
{
	struct worker_ref	ref;

	msg_get_fixed(imsg, &ref, sizeof(ref));
	spawn_idle(ref.worker_id);
}

void
broker_recv_worker_wake(struct chan *ch, struct imsg *imsg)
{
	struct worker_ref	ref;

	msg_get_fixed(imsg, &ref, sizeof(ref));
	spawn_wake(ref.worker_id);
}

/*
 * Where "a start is durable before the execution runs" is enforced, on
 * the broker's side: a record the monitor sends with AUDIT_F_ACK is
 * answered only once auditfile_append() says it is as durable as the
 * policy promises, or that the log is down.  The monitor holds the
 * execution (start) or its reply (end) until then, so the ack goes at
 * once, not at the end of the turn.
 */
void
broker_recv_audit(struct chan *ch, struct imsg *imsg)
{
	struct audit_event	ev;
	struct audit_ack	ack;
	struct msg_text		texts[AUDIT_TEXTS];

	if (msg_get_audit(imsg, &ev, texts) == -1) {
		chan_fail(ch, "a bad audit record");
		return;
	}
	ack.durable = audit_monitor_event(&ev, texts);
	ack.token = ev.token;
	if (!(ev.flags & AUDIT_F_ACK) || ch->state != BM_RUN)
		return;
	if (msg_send_fixed(ch, IMSG_AUDIT_ACK, 0, -1, &ack, sizeof(ack)) ==
	    -1 || chan_flush(ch) == -1)
		child_kill(&monitor, "unwritable channel");
}

/* Root asked over the control socket; the monitor relays. */
void
broker_recv_reload(struct chan *ch, struct imsg *imsg)
{
	broker_reload();
}
