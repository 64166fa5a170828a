/*
 * The monitor process seen from the broker: fork it, and serve what it
 * may ask for (spawn and kill workers, write audit records).
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
#include <unistd.h>

#include "broker.h"
#include "log.h"

static struct imsgev	 iev_monitor;
static pid_t		 monitor_pid = -1;

static void	broker_dispatch_monitor(int, short, void *);

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
	log_warnx("monitor died (status %#x), shutting down", status);
	broker_shutdown(1);
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

/* A monitor that breaks the protocol is killed; its exit ends us. */
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
	    ev->session[SESSION_ID_LEN] != '\0')
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
			audit_monitor_event(&ev, texts);
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
