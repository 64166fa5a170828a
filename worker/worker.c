/*
 * securer-worker: the template that the broker execs once, and the
 * workers it forks; or, with -S, one worker run directly (tests).
 *
 * Everything here is blocking: a template waits for spawn requests, a
 * worker for its monitor's next message, and nothing else can happen in
 * between, so there is no event loop.  Any message that is not exactly
 * what the state allows is a broken invariant: fatalx, and the peer sees
 * the process die.
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

#include "log.h"
#include "worker.h"

#define TEMPLATE_WARM_QUIET_MS	1000

static struct imsgbuf	 chan;
static int		 filtered;	/* under the seccomp filter */
int			 chan_mute;	/* chan_send() drops messages */
static int		 template_warmed; /* template_warm() done */

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
static void	template_spawn(struct imsg *, pid_t);
static __attribute__((__noreturn__)) void	template_child(int,
		    const struct tpl_spawn *, pid_t);
static void	worker_ready(void);
static void	template_warm(void);
static int	chan_waiting(void);

static void
usage(void)
{
	fprintf(stderr, "usage: securer-worker [-dFS] [-L library]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	int	 ch, single = 0, verbose = 0, foreground = 0;

	while ((ch = getopt(argc, argv, "dFL:S")) != -1) {
		switch (ch) {
		case 'L':
			if (sandbox_library(optarg) == -1)
				fatalx("library %s: not an absolute path, or "
				    "too many", optarg);
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
	struct imsg	 imsg;
	uint64_t	 t0;
	pid_t		 broker;
	int		 warm = 0;

	log_procinit("template");
	broker = getppid();
	/* Die with the broker; if it is already gone, do not start. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != broker)
		fatalx("the broker is gone");
	chan_open(BROKER_IMSG_MAX, 1);

	sandbox_template();
	t0 = now_us();
	rembed_init();
	sandbox_warm();
	seccomp_prepare();
	log_debug("R started in %llu us",
	    (unsigned long long)(now_us() - t0));

	chan_send(IMSG_TPL_READY, 0, NULL, 0);
	for (;;) {
		/* The first time nothing came for a second: warm up. */
		if (!warm && !chan_waiting()) {
			template_warm();
			warm = 1;
			continue;
		}
		if (chan_recv(&imsg) == 0) {
			log_debug("the broker closed the channel");
			worker_exit(0);
		}
		if (imsg_get_type(&imsg) != IMSG_TPL_SPAWN)
			fatalx("unexpected message %u from the broker",
			    imsg_get_type(&imsg));
		template_spawn(&imsg, broker);
		imsg_free(&imsg);
		plots_warm();
	}
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
 * Whether a message is in, or part of one, or comes within a second:
 * then it is served first.  The warm-up waits for a quiet second, so
 * that the daemon's first sessions do not share the CPU with it.
 */
static int
chan_waiting(void)
{
	struct pollfd	pfd = { .fd = W_CHAN_FD, .events = POLLIN };

	if (chan.rlen > 0 || chan.rmsg != NULL)
		return (1);
	return (poll(&pfd, 1, TEMPLATE_WARM_QUIET_MS) != 0);
}

/*
 * Clone a worker (sandbox_spawn()).  CLONE_PARENT makes it the broker's
 * child, not ours: the broker reaps it and sees how it ended.
 */
static void
template_spawn(struct imsg *imsg, pid_t broker)
{
	struct tpl_spawn	 ts;
	struct tpl_spawned	 ok;
	struct spawn_failed	 failed;
	struct iovec		 iov;
	pid_t			 pid;
	int			 fd;

	if (imsg_get_data(imsg, &ts, sizeof(ts)) == -1)
		fatalx("spawn request of %zu bytes", imsg_get_len(imsg));
	if ((fd = imsg_get_fd(imsg)) == -1)
		fatalx("spawn request without a channel");

	pid = sandbox_spawn(&ts);
	if (pid == 0)
		template_child(fd, &ts, broker);
	close(fd);
	if (pid == -1) {
		log_warn("worker %u: clone", ts.worker_id);
		failed.worker_id = ts.worker_id;
		failed.error = errno;
		iov.iov_base = &failed;
		iov.iov_len = sizeof(failed);
		chan_send(IMSG_TPL_FAILED, 0, &iov, 1);
		return;
	}
	log_debug("worker %u: pid %d", ts.worker_id, (int)pid);
	ok.worker_id = ts.worker_id;
	ok.pid = pid;
	iov.iov_base = &ok;
	iov.iov_len = sizeof(ok);
	chan_send(IMSG_TPL_SPAWNED, 0, &iov, 1);
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
	imsgbuf_clear(&chan);
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
 * The worker's loop: the tools first, then executions, one at a time.
 * Tool results are read inside tools_call(), never here.
 */
static void
worker_main(int forked)
{
	struct imsg	 imsg;
	int		 ready = 0, pending = 0;

	chan_open(WORKER_IMSG_MAX, 0);
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
		 * says it waits: the monitor may hand it out.
		 */
		if (template_warmed && (ioctl(W_CHAN_FD, FIONREAD,
		    &pending) == -1 || pending == 0))
			eval_warm();
		chan_send(IMSG_W_WAITING, 0, NULL, 0);
	}
	for (;;) {
		if (chan_recv(&imsg) == 0)
			worker_exit(0);
		switch (imsg_get_type(&imsg)) {
		case IMSG_W_SETUP:
			if (ready)
				fatalx("second setup");
			tools_setup(&imsg);
			prctl(PR_SET_NAME, WORKER_NAME);
			worker_ready();
			ready = 1;
			break;
		case IMSG_W_EXEC:
			if (!ready)
				fatalx("execution before setup");
			eval_exec(&imsg);
			break;
		case IMSG_W_FILE_PUT:
		case IMSG_W_FILE_GET:
			if (!ready)
				fatalx("file before setup");
			if (imsg_get_type(&imsg) == IMSG_W_FILE_PUT)
				files_put(&imsg);
			else
				files_get(&imsg);
			break;
		default:
			fatalx("unexpected message %u from the monitor",
			    imsg_get_type(&imsg));
		}
		imsg_free(&imsg);
	}
}

static void
worker_ready(void)
{
	struct w_ready	 wr;
	struct iovec	 iov;

	memset(&wr, 0, sizeof(wr));
	wr.pid = getpid();
	iov.iov_base = &wr;
	iov.iov_len = sizeof(wr);
	chan_send(IMSG_W_READY, 0, &iov, 1);
}

/* Normal end: the output that is left, then exit(3) cleans up. */
void
worker_exit(int status)
{
	out_flush();
	exit(status);
}

void
chan_open(uint32_t maxsize, int fdpass)
{
	if (imsgbuf_init(&chan, W_CHAN_FD) == -1)
		fatal("imsgbuf_init");
	if (imsgbuf_set_maxsize(&chan, maxsize) == -1)
		fatal("imsgbuf_set_maxsize");
	if (fdpass)
		imsgbuf_allow_fdpass(&chan);
}

/*
 * Block until a whole message is in; 0 on EOF.  The channel is a
 * blocking socket, so recvmsg(2) itself waits: no poll(2) before it.
 */
int
chan_recv(struct imsg *imsg)
{
	ssize_t		 n;

	for (;;) {
		if ((n = imsg_get(&chan, imsg)) == -1)
			fatal("imsg_get");
		if (n > 0)
			return (1);
		if ((n = imsgbuf_read(&chan)) == -1)
			fatal("imsgbuf_read");
		if (n == 0)
			return (0);
	}
}

/* Send one message now: whoever waits for it must not wait longer. */
void
chan_send(uint32_t type, uint32_t id, const struct iovec *iov, int iovcnt)
{
	if (chan_mute)
		return;		/* eval_warm(): nobody to tell */
	if (imsg_composev(&chan, type, id, 0, -1, iov, iovcnt) == -1)
		fatal("imsg_composev type %u", type);
	if (imsgbuf_flush(&chan) == -1)
		fatal("imsgbuf_flush");
}

/*
 * A copy of text fit to send: valid UTF-8 without NULs, at most max
 * bytes, cut on a character boundary.  Text from R may be anything.
 */
char *
w_text(const char *s, size_t len, size_t max, size_t *outlen)
{
	char	*t;
	size_t	 n;

	if ((t = utf8_sanitize(s, len, &n)) == NULL)
		fatal("utf8_sanitize");
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
			n--;
		t[n] = '\0';
	}
	*outlen = n;
	return (t);
}
