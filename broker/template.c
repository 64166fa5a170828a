/*
 * The worker template: one securer-worker process that initialised R
 * once and forks a worker for each session, so no session pays R's
 * start-up.  Its workers are the broker's children (CLONE_PARENT).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

#define TEMPLATE_QUICK_DEATHS	5

static struct imsgev	 iev_tpl;
static pid_t		 tpl_pid = -1;
static int		 tpl_ready;
static time_t		 tpl_started;
static int		 quick_deaths;
static struct event	 ev_restart;

static void	template_dispatch(int, short, void *);

static __attribute__((__noreturn__)) void
template_child(int channel)
{
	/* -F -d, and -L path for each library */
	char	*argv[4 + 2 * LIBRARIES_MAX] = { "securer-worker" };
	char	 rhome[300];
	char	*envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL, NULL };
	int	 ch, i;
	uint32_t l;

	if ((ch = fcntl(channel, F_DUPFD, 10)) == -1 || dup2(ch, 3) == -1 ||
	    close_range(4, ~0U, 0) == -1)
		fatal("template fds");
	i = 1;
	if (log_getforeground())
		argv[i++] = "-F";
	if (log_getverbose() > 1)
		argv[i++] = "-d";
	for (l = 0; l < conf->nlibraries; l++) {
		argv[i++] = "-L";
		argv[i++] = conf->libraries[l];
	}
	if (getenv("R_HOME") != NULL) {
		snprintf(rhome, sizeof(rhome), "R_HOME=%s", getenv("R_HOME"));
		envp[2] = rhome;
	}
	execve(conf->worker_path, argv, envp);
	fatal("exec %s", conf->worker_path);
}

void
template_start(void)
{
	int	pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1)
		fatal("socketpair");
	switch (tpl_pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		close(pair[0]);
		template_child(pair[1]);
	}
	close(pair[1]);
	tpl_started = time(NULL);
	if (fcntl(pair[0], F_SETFL, O_NONBLOCK) == -1 ||
	    imsgbuf_init(&iev_tpl.ibuf, pair[0]) == -1 ||
	    imsgbuf_set_maxsize(&iev_tpl.ibuf, BROKER_IMSG_MAX) == -1)
		fatal("template channel");
	imsgbuf_allow_fdpass(&iev_tpl.ibuf);
	iev_tpl.handler = template_dispatch;
	imsg_event_add(&iev_tpl);
}

int
template_ready(void)
{
	return (tpl_ready);
}

int
template_spawn(const struct tpl_spawn *ts, int fd)
{
	if (imsg_compose_event(&iev_tpl, IMSG_TPL_SPAWN, ts->worker_id, 0, fd,
	    ts, sizeof(*ts)) == -1) {
		log_warn("%s", __func__);
		close(fd);
		return (-1);
	}
	return (0);
}

static void
template_kill(const char *why)
{
	log_warnx("worker template: %s", why);
	if (tpl_pid != -1)
		kill(tpl_pid, SIGKILL);
}

static void
template_msg(struct imsg *imsg)
{
	struct tpl_spawned	ts;
	struct spawn_failed	sf;

	switch (imsg_get_type(imsg)) {
	case IMSG_TPL_READY:
		if (tpl_ready || imsg_get_data(imsg, NULL, 0) == -1) {
			template_kill("bad IMSG_TPL_READY");
			break;
		}
		tpl_ready = 1;
		quick_deaths = 0;
		log_debug("worker template ready");
		spawn_flush();
		break;
	case IMSG_TPL_SPAWNED:
		if (!tpl_ready || imsg_get_data(imsg, &ts, sizeof(ts)) == -1)
			template_kill("bad IMSG_TPL_SPAWNED");
		else
			spawn_started(&ts);
		break;
	case IMSG_TPL_FAILED:
		if (!tpl_ready || imsg_get_data(imsg, &sf, sizeof(sf)) == -1)
			template_kill("bad IMSG_TPL_FAILED");
		else
			spawn_failed(sf.worker_id, sf.error);
		break;
	default:
		template_kill("unexpected message");
		break;
	}
}

static void
template_dispatch(int fd, short event, void *arg)
{
	imsg_event_dispatch(arg, event, template_msg, template_kill);
}

static void
template_restart(int fd, short event, void *arg)
{
	template_start();
}

static void
template_close_channel(void)
{
	imsg_event_del(&iev_tpl);
	close(iev_tpl.ibuf.fd);
	imsgbuf_clear(&iev_tpl.ibuf);
}

/* A dead template is replaced, slowly if it keeps dying. */
int
template_reaped(pid_t pid, int status)
{
	struct timeval	tv = { 1, 0 };

	if (pid != tpl_pid)
		return (-1);
	tpl_pid = -1;
	tpl_ready = 0;
	template_close_channel();
	spawn_template_lost();
	log_warnx("worker template died (status %#x)", status);
	if (time(NULL) - tpl_started < 10 &&
	    ++quick_deaths >= TEMPLATE_QUICK_DEATHS) {
		log_warnx("worker template keeps dying; is %s a working "
		    "securer-worker?", conf->worker_path);
		broker_shutdown(1);
	}
	evtimer_set(&ev_restart, template_restart, NULL);
	evtimer_add(&ev_restart, &tv);
	return (0);
}

void
template_stop(void)
{
	if (tpl_pid == -1)
		return;
	kill(tpl_pid, SIGKILL);
	waitpid(tpl_pid, NULL, 0);
	tpl_pid = -1;
}
