/*
 * securer-worker: the template that the broker execs once, and the
 * workers it forks; or, with -S, one worker run directly (tests).
 *
 * Everything here is blocking: a template waits for spawn requests, a
 * worker for its monitor's next message, and nothing else can happen in
 * between, so there is no event loop: chan_dispatch_one() waits for the
 * next message and hands it to its handler (template_recv_* for the
 * broker's, worker_recv_* for the monitor's).  Any message that is not
 * exactly what the table of its channel (channels.h) allows in the
 * state we are in is a broken invariant: fatalx, and the peer sees the
 * process die.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "channels.h"
#include "log.h"
#include "msg.h"
#include "worker.h"

#define TEMPLATE_WARM_QUIET_MS	1000

static struct chan	 tchan;		/* the template's, to the broker */
static struct chan	 wchan;		/* a worker's, to its monitor */
static int		 filtered;	/* under the seccomp filter */
static int		 template_warmed; /* template_warm() done */

/* A spawn request, taken by its handler, served by template_main(). */
static struct tpl_spawn	 spawn_req;
static int		 spawn_fd = -1;
static int		 spawn_pending;

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan builds (tests only): LeakSanitizer's exit check stops the world
 * with ptrace from a cloned task, which the worker's filter forbids.
 */
int	__lsan_is_turned_off(void);
int
__lsan_is_turned_off(void)
{
	return (filtered);
}
#endif

static __attribute__((__noreturn__)) void	usage(void);
static __attribute__((__noreturn__)) void	template_main(void);
static __attribute__((__noreturn__)) void	single_main(void);
static __attribute__((__noreturn__)) void	worker_main(int);
static void	template_fork(pid_t);
static __attribute__((__noreturn__)) void	template_child(int,
		    const struct tpl_spawn *, pid_t);
static void	template_warm(void);
static int	template_idle(void);
static void	template_broker_lost(struct chan *, const char *);
static void	worker_monitor_lost(struct chan *, const char *);
static void	worker_open(void);

/* What each process handles of its channel's table: the peer's rows. */
#define CHAN_RECV_BROKER(t, fn)		CHAN_HANDLER(t, fn)
#define CHAN_RECV_TEMPLATE(t, fn)
static const struct chan_handler template_dispatch_broker[] = {
	BROKER_TEMPLATE_CHANNEL(CHAN_RECV)
};
#define CHAN_RECV_MONITOR(t, fn)	CHAN_HANDLER(t, fn)
#define CHAN_RECV_WORKER(t, fn)
static const struct chan_handler worker_dispatch_monitor[] = {
	WORKER_CHANNEL(CHAN_RECV)
};
#define NHANDLERS(h)	(sizeof(h) / sizeof((h)[0]))

static void
usage(void)
{
	fprintf(stderr, "usage: securer-worker [-dFS] [-L library] [-P package]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	int	 ch, single = 0, verbose = 0, foreground = 0;

	while ((ch = getopt(argc, argv, "dFL:P:S")) != -1) {
		switch (ch) {
		case 'L':
			if (sandbox_library(optarg) == -1)
				fatalx("library %s: not an absolute path, or "
				    "too many", optarg);
			break;
		case 'P':
			if (preload_add(optarg) == -1)
				fatalx("preload %s: too many, or too long",
				    optarg);
			break;
		case 'd':
			verbose = 2;
			break;
		case 'F':
			foreground = 1;
			break;
		case 'S':
			single = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	/* The template logs where the broker does: stderr or syslog. */
	log_init(foreground || single, LOG_DAEMON);
	log_setverbose(verbose);
	if (fcntl(W_CHAN_FD, F_GETFD) == -1)
		fatal("fd %d (the channel)", W_CHAN_FD);
	/* A write to a closed pipe is an error to report, not a death. */
	signal(SIGPIPE, SIG_IGN);

	if (single)
		single_main();
	template_main();
}

/*
 * The template: private /tmp, R started once, then a clone of itself for
 * each worker the broker asks for.
 */
static void
template_main(void)
{
	uint64_t	 t0;
	pid_t		 broker;
	int		 warm = 0;

	log_procinit("template");
	/* Exec'd from a memfd (broker/template.c), it would be "memfd:...". */
	prctl(PR_SET_NAME, WORKER_NAME);
	broker = getppid();
	/* Die with the broker; if it is already gone, do not start. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != broker)
		fatalx("the broker is gone");
	chan_init(&tchan, &chan_broker_template, PROC_TEMPLATE,
	    template_dispatch_broker, NHANDLERS(template_dispatch_broker),
	    W_CHAN_FD);
	tchan.lost = template_broker_lost;
	tchan.state = TB_RUN;
	/* The execution path's warm-up sends into this, muted. */
	chan_init(&wchan, &chan_worker, PROC_WORKER, worker_dispatch_monitor,
	    NHANDLERS(worker_dispatch_monitor), -1);
	wchan.mute = 1;

	sandbox_template();
	t0 = now_us();
	rembed_init();
	sandbox_warm();
	preload_load();
	seccomp_prepare();
	log_debug("R started in %llu us",
	    (unsigned long long)(now_us() - t0));

	if (msg_send_fixed(&tchan, IMSG_TPL_UP, 0, -1, NULL, 0) == -1)
		fatal("broker channel");
	for (;;) {
		/* The first time nothing came for a second: warm up. */
		if (!warm && template_idle()) {
			template_warm();
			warm = 1;
			continue;
		}
		if (chan_dispatch_one(&tchan) == 0) {
			log_debug("the broker closed the channel");
			worker_exit(0);
		}
		if (spawn_pending) {
			spawn_pending = 0;
			template_fork(broker);
			plots_warm();
		}
	}
}

/* The broker's end is trusted: what it sends wrong is a bug, fatal. */
static void
template_broker_lost(struct chan *ch, const char *why)
{
	if (why == NULL)
		worker_exit(0);
	fatalx("broker channel: %s", why);
}

/* IMSG_TPL_SPAWN: served once the dispatcher is done with it. */
void
template_recv_spawn(struct chan *ch, struct imsg *imsg)
{
	msg_get_fixed(imsg, &spawn_req, sizeof(spawn_req));
	spawn_fd = imsg_get_fd(imsg);
	spawn_pending = 1;
}

/*
 * The execution path three times, sending nothing: R's JIT compiles a
 * closure on its second call, and its first compilation loads the
 * compiler's code (100 ms, more under load); done here, what it loads
 * and compiles is shared by every worker forked after, instead of paid
 * again by each session's second execution.  Done once the first spawn
 * requests are served, so that the daemon's first sessions do not wait
 * for it.
 */
static void
template_warm(void)
{
	uint64_t	 t0 = now_us();
	int		 i;

	for (i = 0; i < 3; i++)
		eval_warm();
	template_warmed = 1;
	log_debug("execution path warm in %llu us",
	    (unsigned long long)(now_us() - t0));
}

/*
 * Whether nothing is in, nor part of anything, nor comes within a
 * second: then the warm-up may run.  It waits for a quiet second, so
 * that the daemon's first sessions do not share the CPU with it.
 */
static int
template_idle(void)
{
	struct pollfd	pfd = { .fd = W_CHAN_FD, .events = POLLIN };

	if (tchan.ibuf.rlen > tchan.ibuf.rpos || tchan.ibuf.rmsg != NULL)
		return (0);
	return (poll(&pfd, 1, TEMPLATE_WARM_QUIET_MS) == 0);
}

/*
 * Clone a worker (sandbox_spawn()).  CLONE_PARENT makes it the broker's
 * child, not ours: the broker reaps it and sees how it ended.
 */
static void
template_fork(pid_t broker)
{
	struct tpl_spawned	 ok;
	struct spawn_failed	 failed;
	pid_t			 pid;
	int			 fd = spawn_fd;

	spawn_fd = -1;
	if (fd == -1)
		fatalx("spawn request without a channel");
	pid = sandbox_spawn(&spawn_req);
	if (pid == 0)
		template_child(fd, &spawn_req, broker);
	close(fd);
	if (pid == -1) {
		log_warn("worker %u: clone", spawn_req.worker_id);
		failed.worker_id = spawn_req.worker_id;
		failed.error = errno;
		if (msg_send_fixed(&tchan, IMSG_TPL_FAILED, 0, -1, &failed,
		    sizeof(failed)) == -1)
			fatal("broker channel");
		return;
	}
	log_debug("worker %u: pid %d", spawn_req.worker_id, (int)pid);
	ok.worker_id = spawn_req.worker_id;
	ok.pid = pid;
	if (msg_send_fixed(&tchan, IMSG_TPL_SPAWNED, 0, -1, &ok,
	    sizeof(ok)) == -1)
		fatal("broker channel");
}

/* In the clone: forget the broker's channel, lock down, serve. */
static void
template_child(int fd, const struct tpl_spawn *ts, pid_t broker)
{
	const char	*tmpdir;

	log_procinit("worker");
	/*
	 * Named apart until its setup arrives: it may be a ready worker
	 * that no session has yet (securerd.conf(5) workers ready).
	 */
	prctl(PR_SET_NAME, WORKER_NAME_READY);
	/* Its fd is replaced by the worker's channel in sandbox_worker(). */
	imsgbuf_clear(&tchan.ibuf);
	filtered = (ts->flags & TPL_SECCOMP) != 0;
	tmpdir = sandbox_worker(fd, ts, broker, rembed_tempdir());
	rembed_worker(tmpdir, ts->limits.stack);
	worker_main(1);
}

/* -S: this process is the worker; fd 3 is already its monitor channel. */
static void
single_main(void)
{
	log_procinit("worker");
	sandbox_single();
	rembed_init();
	rembed_worker(rembed_tempdir(), LIMIT_NONE);
	worker_main(0);
}

/*
 * The worker's loop: the tools first, then executions, one at a time
 * (worker_recv_*).  Tool results are waited for inside tools_call().
 */
static void
worker_main(int forked)
{
	int	pending = 0;

	worker_open();
	files_init();
	if (forked) {
		/*
		 * A ready worker (no setup waiting for it yet) first runs an
		 * execution nobody sees, so that the pages it writes are
		 * its own before a session waits (copy-on-write faults cost
		 * the first execution half a millisecond); a worker spawned
		 * for a session does not make it wait for that, nor does one
		 * forked before the template warmed up (its warm-up would be
		 * R's JIT compiling, 100 ms and more).  Then it
		 * says it is ready: the monitor may hand it out.
		 */
		if (template_warmed && (ioctl(W_CHAN_FD, FIONREAD,
		    &pending) == -1 || pending == 0))
			eval_warm();
		worker_sent(msg_send_fixed(&wchan, IMSG_W_READY, 0, -1, NULL,
		    0));
	}
	for (;;)
		if (chan_dispatch_one(&wchan) == 0)
			worker_exit(0);
}

/* The channel on fd 3, whatever the template had there before. */
static void
worker_open(void)
{
	wchan.ibuf.fd = -1;
	chan_close(&wchan);
	chan_init(&wchan, &chan_worker, PROC_WORKER, worker_dispatch_monitor,
	    NHANDLERS(worker_dispatch_monitor), W_CHAN_FD);
	wchan.lost = worker_monitor_lost;
	wchan.state = WK_BOOT;
}

/* The monitor gone, we are done; what it sends wrong is a bug, fatal. */
static void
worker_monitor_lost(struct chan *ch, const char *why)
{
	if (why == NULL)
		worker_exit(0);
	fatalx("monitor channel: %s", why);
}

/* IMSG_W_SETUP: the session's tools are defined, then it may run. */
void
worker_recv_setup(struct chan *ch, struct imsg *imsg)
{
	struct w_setup_done	wd;
	struct msg_text		tools;

	msg_get_setup(imsg, &tools);
	tools_setup(tools.p, tools.len);
	prctl(PR_SET_NAME, WORKER_NAME);
	memset(&wd, 0, sizeof(wd));
	wd.pid = getpid();
	ch->state = WK_IDLE;
	worker_sent(msg_send_fixed(ch, IMSG_W_SETUP_DONE, 0, -1, &wd,
	    sizeof(wd)));
}

void
worker_recv_exec(struct chan *ch, struct imsg *imsg)
{
	struct msg_exec	m;

	msg_get_exec(imsg, &m);
	files_discard();	/* the code never sees an unfinished upload */
	eval_exec(imsg_get_id(imsg), &m);
}

void
worker_recv_file_put(struct chan *ch, struct imsg *imsg)
{
	struct msg_file_req	m;

	if (msg_get_file_req(imsg, &m) == -1)
		fatalx("bad file put");
	files_put(imsg_get_id(imsg), &m);
}

void
worker_recv_file_get(struct chan *ch, struct imsg *imsg)
{
	struct msg_file_req	m;

	if (msg_get_file_req(imsg, &m) == -1)
		fatalx("bad file get");
	files_get(imsg_get_id(imsg), &m);
}

/* IMSG_W_SNAPSHOT: the session's state into the memfd that came. */
void
worker_recv_snapshot(struct chan *ch, struct imsg *imsg)
{
	struct w_snapshot	ws;

	msg_get_fixed(imsg, &ws, sizeof(ws));
	snapshot_write(imsg_get_fd(imsg), ws.max_bytes);
}

/* IMSG_W_RESTORE: a state to take on, in the sealed memfd that came. */
void
worker_recv_restore(struct chan *ch, struct imsg *imsg)
{
	struct w_restore	wr;

	msg_get_fixed(imsg, &wr, sizeof(wr));
	snapshot_restore(imsg_get_fd(imsg), wr.bytes);
}

/* The channel to the monitor, for what the worker sends. */
struct chan *
worker_chan(void)
{
	return (&wchan);
}

/* A message could not go: the monitor is gone, and so are we. */
void
worker_sent(int rc)
{
	if (rc == -1)
		fatal("monitor channel");
}

/* Normal end: the output that is left, then exit(3) cleans up. */
void
worker_exit(int status)
{
	out_flush();
	exit(status);
}

