/*
 * The broker's long-lived children, the monitor and the worker template,
 * through one life cycle: each is a fresh exec of its program with its
 * channel as fd 3 (and one more fd as 4 if it has one) and nothing else
 * open, so it starts with its own address space and ASLR, no broker
 * memory, no event base and default signals.  When it dies, its owner
 * cleans up (child->died) and it is started again after a delay that
 * doubles while it keeps dying, back to the shortest once it stayed up
 * long enough; one that keeps dying at once ends the daemon, if its
 * policy says so.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

static void	child_restart(int, short, void *);

/*
 * In the new process: the channel on 3, the extra fd on 4, nothing
 * else, the broker's handlers gone, then the program.
 */
static __attribute__((__noreturn__)) void
child_exec(struct child *c, int channel)
{
	int	ch, extra = -1;

	if ((ch = fcntl(channel, F_DUPFD, 10)) == -1 ||
	    (c->extra_fd != -1 && (extra = fcntl(c->extra_fd, F_DUPFD,
	    10)) == -1) || dup2(ch, 3) == -1 ||
	    (extra != -1 && dup2(extra, 4) == -1))
		fatal("%s fds", c->name);
	if (close_range(extra != -1 ? 5 : 4, ~0U, 0) == -1)
		fatal("close_range");
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	c->exec(c);
	fatal("exec %s", c->name);
}

int
child_start(struct child *c)
{
	int	pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("%s: socketpair", c->name);
		return (-1);
	}
	switch (c->pid = fork()) {
	case -1:
		log_warn("%s: fork", c->name);
		close(pair[0]);
		close(pair[1]);
		return (-1);
	case 0:
		close(pair[0]);
		child_exec(c, pair[1]);
	}
	close(pair[1]);
	c->started_at = time(NULL);
	if (fcntl(pair[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("%s channel", c->name);
	chan_init(&c->chan, c->spec, PROC_BROKER, c->handlers, c->nhandlers,
	    pair[0]);
	c->chan.owner = c;
	c->chan.lost = c->lost;
	c->chan.state = c->first_state;
	chan_evented(&c->chan);
	if (c->started != NULL)
		c->started(c);
	return (0);
}

/* The delay before the next start, from how long this one lived. */
static int
child_delay(struct child *c, struct timeval *tv)
{
	long	ms = c->delay_ms;
	int	quick = time(NULL) - c->started_at < c->stable_secs;

	if (!quick || ms == 0) {
		ms = c->min_ms;
		c->quick_deaths = 0;
	} else if ((ms *= 2) > c->max_ms)
		ms = c->max_ms;
	if (quick && c->give_up > 0 && ++c->quick_deaths >= c->give_up)
		return (-1);
	c->delay_ms = ms;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
	return (0);
}

/* 0 if pid was c, which is then gone and will be started again. */
int
child_reaped(struct child *c, pid_t pid, int status)
{
	struct timeval	tv;

	if (c->pid == -1 || pid != c->pid)
		return (-1);
	c->pid = -1;
	if (c->exited != NULL && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		c->exited(c);
	if (c->died != NULL)
		c->died(c, status);
	chan_close(&c->chan);
	if (child_delay(c, &tv) == -1) {
		log_warnx("%s keeps dying at once, giving up", c->name);
		broker_shutdown(1);
	}
	evtimer_set(&c->ev_restart, child_restart, c);
	evtimer_add(&c->ev_restart, &tv);
	return (0);
}

static void
child_restart(int fd, short event, void *arg)
{
	struct child	*c = arg;

	if (c->restart_ok != NULL && c->restart_ok(c) == -1)
		broker_shutdown(1);
	if (child_start(c) == -1) {
		log_warnx("%s could not be restarted", c->name);
		broker_shutdown(1);
	}
	log_info("%s restarted", c->name);
}

/* Running, with its channel open. */
int
child_running(const struct child *c)
{
	return (c->pid != -1 && c->chan.open && !c->chan.failed);
}

/* A child that breaks its channel's rules is killed, and started again. */
void
child_kill(struct child *c, const char *why)
{
	if (why != NULL)
		log_warnx("%s: protocol violation: %s", c->name, why);
	if (c->pid != -1)
		kill(c->pid, SIGKILL);
}

void
child_stop(struct child *c)
{
	if (c->pid == -1)
		return;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	c->pid = -1;
	chan_close(&c->chan);
}
