/*
 * securerd: run untrusted R code in sandboxed workers for clients.
 * This is the broker, the privileged parent of every other process.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

struct securerd_conf	*conf;

static struct event	 ev_sigchld, ev_sigterm, ev_sigint, ev_sighup;
static const char	*pidfile;
static const char	*conf_file, *conf_sock, *conf_audit;

static __attribute__((__noreturn__)) void
usage(void)
{
	fprintf(stderr, "usage: securerd [-dnv] [-a audit-log] [-f file] "
	    "[-I seconds] [-s socket]\n");
	exit(1);
}

static void
broker_sigchld(int sig, short event, void *arg)
{
	struct rusage	ru;
	pid_t		pid;
	int		status;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		if (monitor_reaped(pid, status) == 0 ||
		    template_reaped(pid, status) == 0)
			continue;
		spawn_reaped(pid, status, &ru);
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("wait4");
}

/*
 * SIGHUP: parse the file again into a fresh configuration; only if all
 * of it is good does it replace the running one, and the monitor gets a
 * copy.  Sessions and connections stay.
 */
void
broker_reload(void)
{
	static struct securerd_conf	nc;

	config_defaults(&nc);
	if ((conf_file != NULL && parse_config(conf_file, &nc) == -1) ||
	    config_finish(&nc) == -1) {
		log_warnx("reload failed, the old configuration stays");
		audit_daemon("reload_failed", conf_file);
		return;
	}
	if (conf_sock != NULL)
		strlcpy(nc.socket_path, conf_sock, sizeof(nc.socket_path));
	if (conf_audit != NULL)
		strlcpy(nc.audit_path, conf_audit, sizeof(nc.audit_path));
	config_keep_fixed(&nc, conf);
	*conf = nc;
	monitor_send(IMSG_CONF, 0, -1, conf, sizeof(*conf));
	log_info("configuration reloaded");
	audit_daemon("reload", conf_file);
}

static void
broker_sig(int sig, short event, void *arg)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (monitor_stop_gently() == 0)
			break;
		log_info("signal %d, shutting down", sig);
		broker_shutdown(0);
	case SIGHUP:
		/* Rotated first: the reload's record opens the new file. */
		audit_rotate("SIGHUP");
		broker_reload();
		break;
	}
}

/* Everything under the broker goes with it: workers, monitor, template. */
void
broker_shutdown(int status)
{
	spawn_kill_all();
	monitor_stop();
	template_stop();
	socket_cleanup();
	if (pidfile != NULL)
		unlink(pidfile);
	config_cleanup(conf);
	cgroup_cleanup();
	audit_abort_open("daemon stop");
	audit_daemon("daemon_stop", NULL);
	exit(status);
}

static void
write_pidfile(void)
{
	static char	path[sizeof(conf->socket_path) + 8];
	FILE		*f;

	snprintf(path, sizeof(path), "%s.pid", conf->socket_path);
	unlink(path);
	if ((f = fopen(path, "wx")) == NULL) {
		log_warn("%s", path);
		return;
	}
	fprintf(f, "%d\n", getpid());
	fclose(f);
	pidfile = path;
}

/*
 * A stop asked between the socket's appearing (when a client or a test
 * may already send it) and the event loop's handlers: kept for then,
 * so that the stop is orderly and audited rather than SIGTERM's default.
 */
static volatile sig_atomic_t	early_stop;

static void
broker_early_sig(int sig)
{
	early_stop = sig;
}

static void
broker_early_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = broker_early_sig;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void
broker_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	signal_set(&ev_sigchld, SIGCHLD, broker_sigchld, NULL);
	signal_set(&ev_sigterm, SIGTERM, broker_sig, NULL);
	signal_set(&ev_sigint, SIGINT, broker_sig, NULL);
	signal_set(&ev_sighup, SIGHUP, broker_sig, NULL);
	signal_add(&ev_sigchld, NULL);
	signal_add(&ev_sigterm, NULL);
	signal_add(&ev_sigint, NULL);
	signal_add(&ev_sighup, NULL);
}

static int
parse_flags(int argc, char **argv, struct securerd_conf *c, int *debug,
    int *noaction, int *verbose, const char **file, const char **sock,
    const char **audit, int *monitor)
{
	const char	*errstr;
	int		 ch;

	while ((ch = getopt(argc, argv, "a:df:I:Mns:v")) != -1) {
		switch (ch) {
		case 'a':
			*audit = optarg;
			break;
		case 'd':
			*debug = 1;
			break;
		case 'M':
			*monitor = 1;
			break;
		case 'f':
			*file = optarg;
			break;
		case 'I':
			c->idle_exit = strtonum(optarg, 1, 86400 * 365,
			    &errstr);
			if (errstr != NULL)
				errx(1, "idle time %s: %s", optarg, errstr);
			break;
		case 'n':
			*noaction = 1;
			break;
		case 's':
			*sock = optarg;
			break;
		case 'v':
			(*verbose)++;
			break;
		default:
			usage();
		}
	}
	return (optind == argc ? 0 : -1);
}

static void
load_config(struct securerd_conf *c, const char *file, const char *sock,
    const char *audit)
{
	if (file == NULL && geteuid() == 0 &&
	    access("/etc/securerd.conf", F_OK) == 0)
		file = "/etc/securerd.conf";
	if (file != NULL && parse_config(file, c) == -1)
		exit(1);
	conf_file = file;
	conf_sock = sock;
	if (sock != NULL && strlcpy(c->socket_path, sock,
	    sizeof(c->socket_path)) >= sizeof(c->socket_path))
		errx(1, "socket path too long: %s", sock);
	conf_audit = audit;
	if (audit != NULL && audit[0] != '/')
		errx(1, "audit log path %s is not absolute", audit);
	if (audit != NULL && strlcpy(c->audit_path, audit,
	    sizeof(c->audit_path)) >= sizeof(c->audit_path))
		errx(1, "audit log path too long: %s", audit);
	if (config_finish(c) == -1)
		exit(1);
}

int
main(int argc, char *argv[])
{
	static struct securerd_conf	 c;
	const char			*file = NULL, *sock = NULL;
	const char			*audit = NULL;
	int				 debug = 0, noaction = 0, verbose = 0;
	int				 listen_fd, ctl_fd, monitor = 0;

	log_init(1, LOG_DAEMON);
	log_procinit("securerd");
	config_defaults(&c);
	if (parse_flags(argc, argv, &c, &debug, &noaction, &verbose, &file,
	    &sock, &audit, &monitor) == -1)
		usage();
	/* The broker's own child: fd 3 its channel, fd 4 the socket. */
	if (monitor) {
		setproctitle_init(argc, argv, environ);
		monitor_main(debug, verbose);
	}
	conf = &c;
	log_setverbose(verbose);
	load_config(&c, file, sock, audit);
	if (noaction) {
		if (verbose)
			config_print(&c);
		else
			fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	setproctitle_init(argc, argv, environ);
	if (sandbox_probe(&c) == -1)
		exit(1);
	if (config_chroot(&c) == -1 || audit_open(c.audit_path) == -1)
		exit(1);
	/* Still on stderr: a state directory refused says why there. */
	snapshot_init(&c);
	broker_early_signals();
	if ((listen_fd = socket_open(&c)) == -1 ||
	    (ctl_fd = control_open(&c)) == -1)
		exit(1);
	log_init(debug, LOG_DAEMON);
	log_setverbose(verbose);
	if (!debug && daemon(0, 0) == -1)
		fatal("daemon");
	write_pidfile();
	auditfile_lock_owner(getpid(), c.socket_path);
	audit_daemon("daemon_start", NULL);
	log_info("capacity: %u workers, %llu bytes of memory limits, %u "
	    "sessions an identity", c.cap_workers,
	    (unsigned long long)c.cap_memory, c.ident.sessions);
	/* What the last daemon left open, it will never end. */
	audit_abort_open("daemon restart");
	event_init();
	auditfile_events();
	broker_signals();
	if (early_stop) {
		log_info("signal %d, shutting down", (int)early_stop);
		broker_shutdown(0);
	}
	/* listen_fd stays open: a restarted monitor gets it too. */
	monitor_start(listen_fd);
	control_events(ctl_fd);
	template_start();
	/* Anything that died before SIGCHLD had its event. */
	broker_sigchld(SIGCHLD, 0, NULL);
	log_info("started, socket %s", c.socket_path);
	event_dispatch();
	fatalx("event loop ended");
}
