/*
 * The monitor process: privilege drop, the broker channel, the event loop.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/capability.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"

static struct imsgev	 iev_broker;
static struct event	 ev_sigterm, ev_sigint, ev_idle;

static void	monitor_drop_privileges(void);
static void	monitor_dispatch_broker(int, short, void *);
static void	monitor_sig(int, short, void *);
static void	monitor_idle(int, short, void *);

void
monitor_main(struct securerd_conf *c, int broker_fd, int listen_fd)
{
	conf = c;	/* the broker's, inherited with the fork */
	/* Reopen syslog: the broker's socket to it was not passed on. */
	log_init(log_getforeground(), LOG_DAEMON);
	log_procinit("monitor");
	setproctitle("monitor");
	monitor_drop_privileges();

	event_init();
	if (imsg_event_init() == -1)
		fatalx("event priorities");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal_set(&ev_sigterm, SIGTERM, monitor_sig, NULL);
	signal_set(&ev_sigint, SIGINT, monitor_sig, NULL);
	signal_add(&ev_sigterm, NULL);
	signal_add(&ev_sigint, NULL);
	evtimer_set(&ev_idle, monitor_idle, NULL);

	if (imsgbuf_init(&iev_broker.ibuf, broker_fd) == -1 ||
	    imsgbuf_set_maxsize(&iev_broker.ibuf, BROKER_IMSG_MAX) == -1)
		fatal("broker channel");
	imsgbuf_allow_fdpass(&iev_broker.ibuf);
	iev_broker.handler = monitor_dispatch_broker;
	imsg_event_add(&iev_broker);
	ready_init();

	client_listen(listen_fd);
	monitor_activity();
	/* Last: everything it will ever open is open. */
	monitor_sandbox(listen_fd);
	event_dispatch();
	fatalx("event loop ended");
}

/*
 * The order matters: chroot needs root (or a user namespace), so it comes
 * first; groups before the gid and the gid before the uid, since each
 * step needs the privilege the next one drops.
 */
static void
priv_drop_root(void)
{
	struct passwd	*pw;

	if ((pw = getpwnam(conf->user)) == NULL)
		fatalx("user %s does not exist", conf->user);
	if (chroot(conf->chroot) == -1)
		fatal("chroot %s", conf->chroot);
	if (chdir("/") == -1)
		fatal("chdir /");
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("cannot drop privileges to %s", conf->user);
	if (setresuid(0, 0, 0) != -1 || setresgid(0, 0, 0) != -1)
		fatalx("could regain privileges after dropping them");
}

static int
write_file(const char *path, const char *text)
{
	int	fd, rv = 0;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rv = -1;
	close(fd);
	return (rv);
}

/*
 * Single-user mode: no root to chroot with, so enter a user namespace
 * of our own to get CAP_SYS_CHROOT there, chroot into a directory that
 * we then delete (nothing can be created in a deleted directory), and
 * shed the namespace's capabilities.
 */
static void
priv_drop_user(void)
{
	struct __user_cap_header_struct	 hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct	 data[2];
	char				 map[64];
	uid_t				 uid = getuid();
	gid_t				 gid = getgid();

	if (unshare(CLONE_NEWUSER) == -1) {
		log_warn("monitor not chrooted: no user namespace");
		return;
	}
	snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
	if (write_file("/proc/self/uid_map", map) == -1 ||
	    write_file("/proc/self/setgroups", "deny") == -1)
		fatal("uid_map");
	snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
	if (write_file("/proc/self/gid_map", map) == -1)
		fatal("gid_map");
	if (chdir(conf->chroot) == -1)
		fatal("chdir %s", conf->chroot);
	if (rmdir(conf->chroot) == -1)
		fatal("rmdir %s", conf->chroot);
	if (chroot(".") == -1 || chdir("/") == -1)
		fatal("chroot");
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1)
		fatal("capset");
}

static void
monitor_drop_privileges(void)
{
	if (geteuid() == 0)
		priv_drop_root();
	else
		priv_drop_user();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("no_new_privs");
	/* The monitor dies with the broker. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("pdeathsig");
	if (getppid() == 1)
		fatalx("broker gone");
}

void
monitor_compose_broker(uint32_t type, uint32_t peerid, const void *data,
    size_t len)
{
	if (imsg_compose_event(&iev_broker, type, peerid, 0, -1, data,
	    len) == -1)
		fatal("%s", __func__);
}

/*
 * Out now rather than at the next turn of the event loop: an execution
 * waits for the broker's answer to this one.
 */
void
monitor_flush_broker(void)
{
	if (imsgbuf_write(&iev_broker.ibuf) == -1 && errno != EPIPE)
		fatal("broker channel");
	imsg_event_add(&iev_broker);
}

static void
monitor_worker_fd(struct imsg *imsg)
{
	struct worker_ref	 ref;
	struct worker		*w;
	int			 fd;

	if (imsg_get_data(imsg, &ref, sizeof(ref)) == -1)
		fatalx("broker: bad IMSG_WORKER_FD size");
	fd = imsg_get_fd(imsg);
	if ((w = worker_find(ref.worker_id)) == NULL || w->has_channel ||
	    (w->session == NULL && !w->spare)) {
		/* The session went away while the worker was spawning. */
		if (fd != -1)
			close(fd);
		return;
	}
	if (fd == -1) {
		/* The kernel dropped it: we are at our fd limit. */
		worker_channel_lost(w);
		return;
	}
	worker_attach(w, fd);
}

static void
monitor_worker_exit(struct imsg *imsg)
{
	struct worker_exit	 we;
	struct worker		*w;

	if (imsg_get_data(imsg, &we, sizeof(we)) == -1)
		fatalx("broker: bad IMSG_WORKER_EXIT size");
	if ((w = worker_find(we.worker_id)) != NULL)
		worker_exited(w, &we);
}

static void
monitor_spawn_failed(struct imsg *imsg)
{
	struct spawn_failed	 sf;
	struct worker		*w;

	if (imsg_get_data(imsg, &sf, sizeof(sf)) == -1)
		fatalx("broker: bad IMSG_SPAWN_FAILED size");
	if ((w = worker_find(sf.worker_id)) != NULL)
		worker_spawn_failed(w, sf.error);
}

static void
monitor_dispatch_broker(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;
	struct imsgbuf	*ibuf = &iev->ibuf;
	struct imsg	 imsg;
	ssize_t		 n;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(ibuf)) == -1)
			fatal("broker channel");
		if (n == 0)
			fatalx("broker closed the channel");
	}
	if ((event & EV_WRITE) && imsgbuf_write(ibuf) == -1)
		fatal("broker channel");
	for (;;) {
		if ((n = imsg_get(ibuf, &imsg)) == -1)
			fatal("broker channel");
		if (n == 0)
			break;
		switch (imsg_get_type(&imsg)) {
		case IMSG_WORKER_FD:
			monitor_worker_fd(&imsg);
			break;
		case IMSG_WORKER_EXIT:
			monitor_worker_exit(&imsg);
			break;
		case IMSG_SPAWN_FAILED:
			monitor_spawn_failed(&imsg);
			break;
		case IMSG_CONF:
			policy_reload(&imsg);
			break;
		case IMSG_CTL_FD:
			control_connection(&imsg);
			break;
		case IMSG_AUDIT_ACK:
			audit_ack(&imsg);
			break;
		case IMSG_AUDIT_STATE:
			audit_state(&imsg);
			break;
		default:
			fatalx("broker: unexpected imsg %u",
			    imsg_get_type(&imsg));
		}
		imsg_free(&imsg);
	}
	imsg_event_add(iev);
}

/*
 * A private daemon started for a user's command goes away by itself once
 * nobody has used it for conf->idle_exit seconds.
 */
void
monitor_activity(void)
{
	struct timeval	tv = { 0, 0 };

	if (conf->idle_exit == 0)
		return;
	evtimer_del(&ev_idle);
	if (client_count() == 0 && session_count() == 0) {
		tv.tv_sec = conf->idle_exit;
		evtimer_add(&ev_idle, &tv);
	}
}

static void
monitor_idle(int fd, short event, void *arg)
{
	log_info("idle for %u seconds, exiting", conf->idle_exit);
	exit(0);
}

static void
monitor_sig(int sig, short event, void *arg)
{
	exit(0);
}
