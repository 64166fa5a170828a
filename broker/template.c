/*
 * The worker template: one securer-worker process that initialised R
 * once and forks a worker for each session, so no session pays R's
 * start-up.  Its workers are the broker's children (CLONE_PARENT).  Its
 * life cycle is child.c's: restarted a second after it dies, and the
 * daemon gives up on it after five deaths in a row within ten seconds
 * of their starts.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "channels.h"
#include "log.h"
#include "msg.h"

#define CHAN_RECV_TEMPLATE(t, fn)	CHAN_HANDLER(t, fn)
#define CHAN_RECV_BROKER(t, fn)
static const struct chan_handler broker_dispatch_template[] = {
	BROKER_TEMPLATE_CHANNEL(CHAN_RECV)
};

#define TEMPLATE_EXE_MAX	(512LL * 1024 * 1024)
#ifndef MFD_EXEC
#define MFD_EXEC		0x0010U		/* <linux/memfd.h> of 6.3 */
#endif

static void	template_exec(struct child *);
static int	template_copy(void);
static void	template_chan_lost(struct chan *, const char *);
static void	template_died(struct child *, int);

static struct child	tpl = {
	.name = "worker template",
	.spec = &chan_broker_template,
	.handlers = broker_dispatch_template,
	.nhandlers = sizeof(broker_dispatch_template) /
	    sizeof(broker_dispatch_template[0]),
	.first_state = BT_START,
	.extra_fd = -1,
	.min_ms = 1000,
	.max_ms = 1000,
	.stable_secs = 10,
	.give_up = 5,
	.exec = template_exec,
	.lost = template_chan_lost,
	.died = template_died,
	.pid = -1,
};

/*
 * securer-worker -F -d, -L path for each library and -P name for each
 * package to preload.
 */
static void
template_exec(struct child *c)
{
	char	*argv[4 + 2 * LIBRARIES_MAX + 2 * PRELOAD_MAX] =
	    { "securer-worker" };
	char	 rhome[300];
	char	*envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL, NULL };
	int	 i = 1, fd;
	uint32_t l;

	if (log_getforeground())
		argv[i++] = "-F";
	if (log_getverbose() > 1)
		argv[i++] = "-d";
	for (l = 0; l < conf->nlibraries; l++) {
		argv[i++] = "-L";
		argv[i++] = conf->libraries[l];
	}
	for (l = 0; l < conf->npreload; l++) {
		argv[i++] = "-P";
		argv[i++] = conf->preload[l];
	}
	if (getenv("R_HOME") != NULL) {
		snprintf(rhome, sizeof(rhome), "R_HOME=%s", getenv("R_HOME"));
		envp[2] = rhome;
	}
	if ((fd = template_copy()) != -1)
		fexecve(fd, argv, envp);
	execve(conf->worker_path, argv, envp);
}

/*
 * securer-worker copied into a sealed memfd, to be exec'd from there: a
 * worker's /proc/self/exe names the file its template was exec'd from,
 * and from a memfd that is "/memfd:securer-worker (deleted)" wherever
 * the daemon is installed, not a path that says whose it is (a private
 * daemon's in a home directory).  -1 where it cannot be had (a kernel
 * with vm.memfd_noexec, a binary too large): the path is exec'd then.
 */
static int
template_copy(void)
{
	struct stat	 st;
	off_t		 off = 0;
	ssize_t		 n;
	int		 in, fd;

	if ((in = open(conf->worker_path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(in, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > TEMPLATE_EXE_MAX)
		goto fail;
	/* MFD_EXEC (Linux 6.3) asks for what older kernels always gave. */
	if ((fd = memfd_create("securer-worker", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING | MFD_EXEC)) == -1 && errno == EINVAL)
		fd = memfd_create("securer-worker", MFD_CLOEXEC |
		    MFD_ALLOW_SEALING);
	if (fd == -1)
		goto fail;
	while (off < st.st_size &&
	    (n = sendfile(fd, in, &off, st.st_size - off)) > 0)
		;
	if (off != st.st_size || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		close(fd);
		goto fail;
	}
	close(in);
	return (fd);
fail:
	close(in);
	return (-1);
}

void
template_start(void)
{
	if (child_start(&tpl) == -1)
		fatalx("the worker template could not be started");
}

int
template_ready(void)
{
	return (child_running(&tpl) && tpl.chan.state == BT_UP);
}

int
template_spawn(const struct tpl_spawn *ts, int fd)
{
	if (!child_running(&tpl) || msg_send_fixed(&tpl.chan, IMSG_TPL_SPAWN,
	    ts->worker_id, fd, ts, sizeof(*ts)) == -1) {
		log_warnx("worker %u: the template cannot take it",
		    ts->worker_id);
		close(fd);
		return (-1);
	}
	return (0);
}

static void
template_chan_lost(struct chan *ch, const char *why)
{
	if (why != NULL)
		child_kill(&tpl, why);
}

/* Spawns it had not answered will never be. */
static void
template_died(struct child *c, int status)
{
	log_warnx("worker template died (status %#x)", status);
	spawn_template_lost();
	if (c->quick_deaths + 1 >= c->give_up)
		log_warnx("worker template keeps dying; is %s a working "
		    "securer-worker?", conf->worker_path);
}

int
template_reaped(pid_t pid, int status)
{
	return (child_reaped(&tpl, pid, status));
}

void
template_stop(void)
{
	child_stop(&tpl);
}

void
broker_recv_tpl_up(struct chan *ch, struct imsg *imsg)
{
	ch->state = BT_UP;
	tpl.quick_deaths = 0;
	log_debug("worker template ready");
	spawn_flush();
}

void
broker_recv_tpl_spawned(struct chan *ch, struct imsg *imsg)
{
	struct tpl_spawned	ts;

	if (msg_get_tpl_spawned(imsg, &ts) == -1) {
		chan_fail(ch, "a spawn report with pid %d", ts.pid);
		return;
	}
	spawn_started(&ts);
}

void
broker_recv_tpl_failed(struct chan *ch, struct imsg *imsg)
{
	struct spawn_failed	sf;

	msg_get_fixed(imsg, &sf, sizeof(sf));
	spawn_failed(sf.worker_id, sf.error);
}
