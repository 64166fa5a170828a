/*
 * The monitor process: privilege drop, the broker channel, the event loop.
 */

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

#include "channels.h"
#include "log.h"
#include "monitor.h"

static struct securerd_conf	mconf;
static struct event		ev_sigterm, ev_sigint;

static pid_t			broker_pid;

static void	monitor_drop_privileges(void);
static void	monitor_raise_nofile(void);
static void	monitor_sig(int, short, void *);

/*
 * What the monitor handles of each channel's table: the rows its peers
 * send.  The handlers are the core's, the audit client's and the
 * control front end's; only here are they put together.
 */
#define CHAN_RECV_BROKER(t, fn)		CHAN_HANDLER(t, fn)
#define CHAN_RECV_MONITOR(t, fn)
/* Descriptors the monitor asks for: connections plus channels. */
#define NOFILE_WANT	65536

static const struct chan_handler monitor_dispatch_broker[] = {
	BROKER_MONITOR_CHANNEL(CHAN_RECV)
};
#define CHAN_RECV_WORKER(t, fn)		CHAN_HANDLER(t, fn)
static const struct chan_handler monitor_dispatch_worker[] = {
	WORKER_CHANNEL(CHAN_RECV)
};
#define NHANDLERS(h)	(sizeof(h) / sizeof((h)[0]))

/*
 * securerd -M: exec'd by the broker with its channel as fd 3 and the
 * listening socket as fd 4.  It learns its configuration from the
 * channel, drops its privileges, and serves.
 */
void
monitor_main(int foreground, int verbose)
{
	conf = &mconf;
	broker_pid = getppid();
	log_init(foreground, LOG_DAEMON);
	log_setverbose(verbose);
	log_procinit("monitor");
	/* Exec'd as /proc/self/exe, it would be "exe" in ps and pgrep. */
	prctl(PR_SET_NAME, "securerd");
	setproctitle("monitor");
	monitor_connect(3);
	if (wire_broker_conf() == -1)
		fatalx("the broker went before the configuration came");
	monitor_raise_nofile();
	monitor_drop_privileges();

	/*
	 * libevent's default clock, the coarse one: its precise one arms a
	 * timerfd(2) at every turn of the loop, two system calls for each
	 * execution.  A deadline's timer may then fire up to a tick early,
	 * which core.c's job_deadline() checks by the precise clock.
	 */
	event_init();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal_set(&ev_sigterm, SIGTERM, monitor_sig, NULL);
	signal_set(&ev_sigint, SIGINT, monitor_sig, NULL);
	signal_add(&ev_sigterm, NULL);
	signal_add(&ev_sigint, NULL);
	monitor_setup(4, conf->idle_exit);
	/* Last: everything it will ever open is open. */
	monitor_sandbox(4);
	event_dispatch();
	fatalx("event loop ended");
}

/* The broker's channel, handled with the monitor's handlers. */
void
monitor_connect(int broker_fd)
{
	wire_broker_open(broker_fd, monitor_dispatch_broker,
	    NHANDLERS(monitor_dispatch_broker));
}

/*
 * Everything but the process around it (privileges, signals, seccomp):
 * the fuzz targets run this too, with a broker of their own.
 */
static int	serve_idle_secs;

/* The stored sessions taken on: clients are served from now. */
static void
monitor_serve(void)
{
	conn_accepting();
	idle_init(serve_idle_secs);
}

/*
 * Connections wait in the listening socket's queue while the broker
 * lists the sessions stored before this monitor (core_adopt_begin()),
 * so that none asks for one before it is taken on.
 */
void
monitor_setup(int listen_fd, int idle_secs)
{
	wire_broker_run();
	wire_worker_handlers(monitor_dispatch_worker,
	    NHANDLERS(monitor_dispatch_worker));
	core_init();
	conn_listen(listen_fd, &client_conn_ops);
	serve_idle_secs = idle_secs;
	core_adopt_begin(monitor_serve);
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
userns_write(const char *path, const char *text)
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
	if (userns_write("/proc/self/uid_map", map) == -1 ||
	    userns_write("/proc/self/setgroups", "deny") == -1)
		fatal("uid_map");
	snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
	if (userns_write("/proc/self/gid_map", map) == -1)
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
	/* Its parent may be pid 1 (a container's first process). */
	if (getppid() != broker_pid)
		fatalx("broker gone");
}

/*
 * Room for every connection and channel the caps allow (connlimit.c
 * sizes them from this): the soft limit up to the hard one, and as
 * root the hard one up to NOFILE_WANT, while we still may.
 */
static void
monitor_raise_nofile(void)
{
	struct rlimit	rl, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	want = rl;
	if (want.rlim_max < NOFILE_WANT && geteuid() == 0)
		want.rlim_max = NOFILE_WANT;
	want.rlim_cur = want.rlim_max < NOFILE_WANT ? want.rlim_max :
	    NOFILE_WANT;
	/* Root without CAP_SYS_RESOURCE (a container): the hard one stays. */
	if (setrlimit(RLIMIT_NOFILE, &want) == 0)
		return;
	want.rlim_max = rl.rlim_max;
	want.rlim_cur = rl.rlim_max < NOFILE_WANT ? rl.rlim_max : NOFILE_WANT;
	if (setrlimit(RLIMIT_NOFILE, &want) == -1)
		log_warn("setrlimit RLIMIT_NOFILE");
}

static void
monitor_sig(int sig, short event, void *arg)
{
	exit(0);
}
