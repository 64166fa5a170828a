/*
 * The monitor process seen from the broker: fork it, serve what it may
 * ask for (spawn and kill workers, write audit records), and when it
 * dies, kill its workers, close its executions in the audit log and
 * start another one after a backoff.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

static struct imsgev	 iev_monitor;
static pid_t		 monitor_pid = -1;
static int		 monitor_listen_fd = -1;
static struct event	 ev_restart;
static struct timeval	 restart_delay;
static time_t		 monitor_started;

#define RESTART_MIN_MS	100
#define RESTART_MAX_MS	10000
#define RESTART_STABLE	30	/* seconds up that reset the backoff */

static void	broker_dispatch_monitor(int, short, void *);
static int	audit_check(struct imsg *, struct audit_event *,
		    const char **);

/*
 * The monitor gets its channel as fd 3 and the listening socket as fd 4,
 * and nothing else: not the audit log, not the template's channel.
 */
static __attribute__((__noreturn__)) void
monitor_child(int channel, int listen_fd)
{
	int	ch, ls;

	if ((ch = fcntl(channel, F_DUPFD, 10)) == -1 ||
	    (ls = fcntl(listen_fd, F_DUPFD, 10)) == -1 ||
	    dup2(ch, 3) == -1 || dup2(ls, 4) == -1)
		fatal("monitor fds");
	if (close_range(5, ~0U, 0) == -1)
		fatal("close_range");
	/* A restarted monitor must not run the broker's handlers. */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	monitor_main(conf, 3, 4);
}

/*
 * Forked before the broker makes its event base, so the monitor starts
 * from a clean libevent state; monitor_events() registers the channel.
 */
void
monitor_start(int listen_fd)
{
	int	pair[2];

	monitor_listen_fd = listen_fd;
	monitor_started = time(NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1)
		fatal("socketpair");
	switch (monitor_pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		close(pair[0]);
		monitor_child(pair[1], listen_fd);
	}
	close(pair[1]);
	if (fcntl(pair[0], F_SETFL, O_NONBLOCK) == -1 ||
	    imsgbuf_init(&iev_monitor.ibuf, pair[0]) == -1 ||
	    imsgbuf_set_maxsize(&iev_monitor.ibuf, BROKER_IMSG_MAX) == -1)
		fatal("monitor channel");
	imsgbuf_allow_fdpass(&iev_monitor.ibuf);
	iev_monitor.handler = broker_dispatch_monitor;
}

static void
monitor_restart(int fd, short event, void *arg)
{
	if (config_chroot(conf) == -1) {
		log_warnx("monitor not restarted: no chroot directory");
		broker_shutdown(1);
	}
	monitor_start(monitor_listen_fd);
	monitor_events();
	monitor_audit_state();
	log_info("monitor restarted");
	audit_daemon("monitor_restart", NULL);
}

/*
 * Records the monitor sent before it died are written before its open
 * executions are aborted: SIGCHLD may come before the channel's last
 * bytes were read.  Only records; what it asked for dies with it.
 */
static void
monitor_drain(void)
{
	struct audit_event	 ev;
	const char		*texts[AUDIT_TEXTS];
	struct imsg		 imsg;
	ssize_t			 n;

	while ((n = imsgbuf_read(&iev_monitor.ibuf)) > 0)
		;
	while (imsg_get(&iev_monitor.ibuf, &imsg) > 0) {
		if (imsg_get_type(&imsg) == IMSG_AUDIT &&
		    audit_check(&imsg, &ev, texts) == 0)
			audit_monitor_event(&ev, texts);
		imsg_free(&imsg);
	}
}

/*
 * The monitor died: what it ran goes with it.  Its workers are killed
 * (no R outlives the monitor that would answer for it), its executions
 * get exec_abort, and a new monitor starts on the same listening socket
 * after 0.1 s, doubling up to 10 s while it keeps dying, back to 0.1 s
 * once one stayed up RESTART_STABLE seconds.  Clients see EOF and
 * connect again.
 */
static void
monitor_died(int status)
{
	char		detail[64];
	long		ms;

	snprintf(detail, sizeof(detail), "status %#x", status);
	log_warnx("monitor died (%s), restarting it", detail);
	audit_daemon("monitor_died", detail);
	monitor_drain();
	event_del(&iev_monitor.ev);
	imsgbuf_clear(&iev_monitor.ibuf);
	close(iev_monitor.ibuf.fd);
	spawn_kill_all();
	audit_abort_open("monitor died");
	ms = restart_delay.tv_sec * 1000 + restart_delay.tv_usec / 1000;
	if (ms == 0 || time(NULL) - monitor_started >= RESTART_STABLE)
		ms = RESTART_MIN_MS;
	else if ((ms *= 2) > RESTART_MAX_MS)
		ms = RESTART_MAX_MS;
	restart_delay.tv_sec = ms / 1000;
	restart_delay.tv_usec = (ms % 1000) * 1000;
	evtimer_set(&ev_restart, monitor_restart, NULL);
	evtimer_add(&ev_restart, &restart_delay);
}

/* A fresh monitor hears whether the audit log can be written. */
void
monitor_audit_state(void)
{
	struct audit_state	st;

	if (auditfile_down()) {
		st.up = 0;
		monitor_send(IMSG_AUDIT_STATE, 0, -1, &st, sizeof(st));
	}
}

void
monitor_events(void)
{
	imsg_event_add(&iev_monitor);
}

void
monitor_send(uint32_t type, uint32_t peerid, int fd, const void *data,
    size_t len)
{
	if (monitor_pid == -1) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (imsg_compose_event(&iev_monitor, type, peerid, 0, fd, data,
	    len) == -1)
		fatal("%s", __func__);
}

int
monitor_reaped(pid_t pid, int status)
{
	if (pid != monitor_pid)
		return (-1);
	monitor_pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("monitor exited");
		broker_shutdown(0);
	}
	monitor_died(status);
	return (0);
}

void
monitor_stop(void)
{
	if (monitor_pid == -1)
		return;
	kill(monitor_pid, SIGKILL);
	waitpid(monitor_pid, NULL, 0);
	monitor_pid = -1;
}

/* A monitor that breaks the protocol is killed, and started afresh. */
static void
monitor_violation(const char *what)
{
	log_warnx("monitor protocol violation: %s", what);
	if (monitor_pid != -1)
		kill(monitor_pid, SIGKILL);
}

static int
audit_check(struct imsg *imsg, struct audit_event *ev, const char **texts)
{
	size_t		 i, total = sizeof(*ev);
	const char	*p;

	if (imsg_get_len(imsg) < sizeof(*ev))
		return (-1);
	memcpy(ev, imsg->data, sizeof(*ev));
	if (ev->type < AUDIT_SESSION_OPEN || ev->type >= AUDIT_MAX ||
	    ev->type == AUDIT_WORKER_EXIT ||
	    ev->session[SESSION_ID_LEN] != '\0' ||
	    memchr(ev->rule, '\0', sizeof(ev->rule)) == NULL ||
	    (ev->flags & ~AUDIT_F_ACK) != 0)
		return (-1);
	for (i = 0; ev->session[i] != '\0'; i++)
		if (!isxdigit((unsigned char)ev->session[i]))
			return (-1);
	for (i = 0; i < AUDIT_TEXTS; i++) {
		if (ev->text_len[i] > BROKER_IMSG_MAX)
			return (-1);
		total += ev->text_len[i];
	}
	if (imsg_get_len(imsg) != total)
		return (-1);
	p = (const char *)imsg->data + sizeof(*ev);
	for (i = 0; i < AUDIT_TEXTS; i++) {
		texts[i] = p;
		p += ev->text_len[i];
	}
	return (0);
}

/*
 * Where "a start is durable before the execution runs" is enforced, on
 * the broker's side: a record the monitor sends with AUDIT_F_ACK is
 * answered only once auditfile_append() says it is as durable as the
 * policy promises, or that the log is down.  The monitor holds the
 * execution (start) or its reply (end) until then.
 */
static void
audit_event_ack(const struct audit_event *ev, const char **texts)
{
	struct audit_ack	ack;

	ack.durable = audit_monitor_event(ev, texts);
	ack.token = ev->token;
	if (!(ev->flags & AUDIT_F_ACK) || monitor_pid == -1)
		return;
	monitor_send(IMSG_AUDIT_ACK, 0, -1, &ack, sizeof(ack));
	/* At once: the monitor holds an execution until it has it. */
	if (imsgbuf_write(&iev_monitor.ibuf) == -1 && errno != EPIPE)
		monitor_violation("unwritable channel");
	imsg_event_add(&iev_monitor);
}

static void
broker_monitor_msg(struct imsg *imsg)
{
	struct spawn_req	 req;
	struct worker_ref	 ref;
	struct audit_event	 ev;
	const char		*texts[AUDIT_TEXTS];

	switch (imsg_get_type(imsg)) {
	case IMSG_SPAWN:
		if (imsg_get_data(imsg, &req, sizeof(req)) == -1)
			monitor_violation("bad IMSG_SPAWN");
		else
			spawn_request(&req);
		break;
	case IMSG_KILL:
		if (imsg_get_data(imsg, &ref, sizeof(ref)) == -1)
			monitor_violation("bad IMSG_KILL");
		else
			spawn_kill(ref.worker_id);
		break;
	case IMSG_AUDIT:
		if (audit_check(imsg, &ev, texts) == -1)
			monitor_violation("bad IMSG_AUDIT");
		else
			audit_event_ack(&ev, texts);
		break;
	case IMSG_CTL_RELOAD:
		/* Root asked over the control socket; the monitor relays. */
		if (imsg_get_len(imsg) != 0)
			monitor_violation("bad IMSG_CTL_RELOAD");
		else
			broker_reload();
		break;
	default:
		monitor_violation("unexpected message type");
		break;
	}
}

static void
broker_dispatch_monitor(int fd, short event, void *arg)
{
	imsg_event_dispatch(arg, event, broker_monitor_msg, monitor_violation);
}
