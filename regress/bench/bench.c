/*
 * securer-bench: how fast securerd answers, measured from a libsecurer
 * client, side by side with Rserve where it has an equivalent.  Not a
 * test: it prints medians and 99th percentiles.
 *
 *	securer-bench [-n count] [-r rows] [-s socket] [-S sessions]
 *
 * Without -s it starts a private securerd (beside this program) and
 * Rserve (Debian's r-cran-rserve) on sockets of its own, and stops both
 * at the end.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "securer.h"

#define TOOL_LOOP	10000
#define THROUGHPUT_SECS	3
#define THREADS		8

#define PRELOADED	"ggplot2"	/* row 8 */
#define LOAD_SESSIONS	20
#define DATA_REPS	20	/* row 9 */
#define OUTPUT_REPS	10

static const char	*sock;
static char		 dir[64];
static pid_t		 daemon_pid, cold_pid;
static int		 own;		/* our daemons and Rserve, stopped */
static int		 preloading;	/* our daemon preloads PRELOADED */
static int		 rserve_on;	/* Rserve runs beside us */

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

static double
median(double *t, int n)
{
	qsort(t, n, sizeof(*t), cmp_double);
	return (t[n / 2]);
}

static void
row(const char *what, double *t, int n, double peer_median)
{
	double	m = median(t, n), p99 = t[(int)(n * 0.99)];

	printf("%-28s %10.1f %10.1f", what, m * 1e6, p99 * 1e6);
	if (peer_median > 0)
		printf(" %10.1f %8.2f", peer_median * 1e6, m / peer_median);
	printf("\n");
}

static struct securer *
connect_or_die(void)
{
	struct securer	*h;

	if ((h = securer_open()) == NULL || securer_connect(h, sock) == -1)
		errx(1, "connect: %s", h ? securer_errmsg(h) : "no memory");
	return (h);
}

static struct securer_session *
session_or_die(struct securer *h, const char *tools)
{
	struct securer_session_opts	 so = { tools, NULL, -1, 0, 0, NULL };
	struct securer_session		*s;

	if (securer_session_create(h, &so, &s) == -1)
		errx(1, "create: %s", securer_errmsg(h));
	return (s);
}

static int
echo_tool(void *arg, const char *tool, const char *args, char **value,
    char **error)
{
	const char	*x = strstr(args, "\"x\":");

	/* {"x":VALUE}: hand VALUE back as it is. */
	if (x == NULL)
		return (-1);
	x += 4;
	*value = strndup(x, strlen(x) - 1);
	return (*value == NULL ? -1 : 0);
}

static int
run(struct securer_session *s, const char *code, double timeout)
{
	struct securer_exec_opts	eo;
	struct securer_result		r;

	memset(&eo, 0, sizeof(eo));
	eo.timeout = timeout;
	eo.tool = echo_tool;
	if (securer_execute(s, code, &eo, &r) == -1)
		return (-1);
	securer_result_free(&r);
	return (0);
}

/*
 * 1: create a session and get 1+1; Rserve: connect, eval, close.  Back
 * to back, or one every pace_us (not timed): the latency when the
 * daemon's ready workers have been replaced, not how fast it churns.
 */
static void
bench_ready(int n, useconds_t pace_us, const char *what)
{
	struct securer		*h = connect_or_die();
	struct securer_session	*s;
	double			*t = calloc(n, sizeof(*t)), *r, t0, rm = 0;
	int			 i, fd;

	for (i = 0; i < n; i++) {
		t0 = now();
		s = session_or_die(h, NULL);
		if (run(s, "1+1", -1) == -1)
			errx(1, "1+1: %s", securer_errmsg(h));
		t[i] = now() - t0;
		securer_session_close(s);
		if (pace_us > 0)
			usleep(pace_us);
	}
	if (rserve_on) {
		r = calloc(n, sizeof(*r));
		for (i = 0; i < n; i++) {
			t0 = now();
			fd = rserve_connect();
			if (rserve_eval(fd, "1+1") == -1)
				errx(1, "Rserve eval failed");
			close(fd);
			r[i] = now() - t0;
			if (pace_us > 0)
				usleep(pace_us);
		}
		rm = median(r, n);
		free(r);
	}
	row(what, t, n, rm);
	free(t);
	securer_close(h);
}

/* 2: 1+1 in an open session; Rserve: eval on an open connection. */
static void
bench_execute(int n)
{
	struct securer		*h = connect_or_die();
	struct securer_session	*s = session_or_die(h, NULL);
	double			*t = calloc(n, sizeof(*t)), t0, rm = 0;
	int			 i, fd;

	if (rserve_on) {
		fd = rserve_connect();
		for (i = 0; i < n; i++) {
			t0 = now();
			if (rserve_eval(fd, "1+1") == -1)
				errx(1, "Rserve eval failed");
			t[i] = now() - t0;
		}
		close(fd);
		rm = median(t, n);
	}
	for (i = 0; i < n; i++) {
		t0 = now();
		if (run(s, "1+1", -1) == -1)
			errx(1, "1+1: %s", securer_errmsg(h));
		t[i] = now() - t0;
	}
	row("2 execute 1+1", t, n, rm);
	securer_session_close(s);
	securer_close(h);
	free(t);
}

/* 3: a tool returning its argument, per call, in loops of 10,000. */
static void
bench_tool(void)
{
	struct securer		*h = connect_or_die();
	struct securer_session	*s = session_or_die(h, "[{\"name\":\"echo\","
				    "\"description\":\"\",\"args\":{\"x\":null}}]");
	double			 t[10], t0;
	int			 i;

	for (i = 0; i < 10; i++) {
		t0 = now();
		if (run(s, "for (i in 1:10000) echo(i)", -1) == -1)
			errx(1, "tool loop: %s", securer_errmsg(h));
		t[i] = (now() - t0) / TOOL_LOOP;
	}
	row("3 tool call", t, 10, 0);
	securer_session_close(s);
	securer_close(h);
}

struct worker_arg {
	double		until;
	long		done;
};

static void *
throughput_thread(void *p)
{
	struct worker_arg	*a = p;
	struct securer		*h = connect_or_die();
	struct securer_session	*s = session_or_die(h, NULL);

	while (now() < a->until) {
		if (run(s, "1+1", -1) == -1)
			errx(1, "1+1: %s", securer_errmsg(h));
		a->done++;
	}
	securer_session_close(s);
	securer_close(h);
	return (NULL);
}

/* 4: executions per second across 8 sessions driven at once. */
static void
bench_throughput(void)
{
	pthread_t		th[THREADS];
	struct worker_arg	a[THREADS];
	double			start = now() + 0.5;
	long			total = 0;
	int			i;

	for (i = 0; i < THREADS; i++) {
		a[i].until = start + THROUGHPUT_SECS;
		a[i].done = 0;
		pthread_create(&th[i], NULL, throughput_thread, &a[i]);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += a[i].done;
	}
	/* The threads started up to 0.5 s late at most; count it all. */
	printf("%-28s %10.0f executions/s (8 sessions, %d s)\n",
	    "4 throughput", total / (THROUGHPUT_SECS + 0.5), THROUGHPUT_SECS);
}

/* The proportional set size of every securer-worker process, in KiB. */
static long
workers_pss(void)
{
	FILE	*p;
	long	 kib = 0, v;
	char	 cmd[256], parent[32] = "";

	/* Our own daemon's workers, ready ones too, not other daemons'. */
	if (daemon_pid > 0)
		snprintf(parent, sizeof(parent), "-P %d ", (int)daemon_pid);
	snprintf(cmd, sizeof(cmd), "for p in $(pgrep %s-x "
	    "'securer-worker|securer-ready'); do "
	    "awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null; "
	    "done", parent);
	p = popen(cmd, "r");
	if (p == NULL)
		return (-1);
	while (fscanf(p, "%ld", &v) == 1)
		kib += v;
	pclose(p);
	return (kib);
}

/* 5: PSS per idle session, 100 sessions open. */
static void
bench_memory(void)
{
	struct securer		*h[4];
	struct securer_session	*s[100];
	long			 before, after;
	int			 i;

	before = workers_pss();
	for (i = 0; i < 4; i++)
		h[i] = connect_or_die();
	for (i = 0; i < 100; i++) {
		s[i] = session_or_die(h[i % 4], NULL);
		run(s[i], "1+1", -1);
	}
	after = workers_pss();
	printf("%-28s %10.2f MiB PSS per idle session (100 open)\n",
	    "5 memory", (after - before) / 100.0 / 1024);
	for (i = 0; i < 100; i++)
		securer_session_close(s[i]);
	for (i = 0; i < 4; i++)
		securer_close(h[i]);
}

struct scale_arg {
	int	n;
	int	errors;
};

static void *
scale_thread(void *p)
{
	struct scale_arg	*a = p;
	struct securer		*h = connect_or_die();
	struct securer_session	**s = calloc(a->n, sizeof(*s));
	struct securer_session_opts so = { NULL, NULL, -1, 0, 0, NULL };
	int			 i;

	for (i = 0; i < a->n; i++)
		if (securer_session_create(h, &so, &s[i]) == -1) {
			s[i] = NULL;
			a->errors++;
		}
	for (i = 0; i < a->n; i++)
		if (s[i] != NULL && run(s[i], "1+1", -1) == -1)
			a->errors++;
	for (i = 0; i < a->n; i++)
		if (s[i] != NULL)
			securer_session_close(s[i]);
	securer_close(h);
	free(s);
	return (NULL);
}

/* 6: 1,000 sessions at once, one execution in each, closed. */
static void
bench_scale(int sessions)
{
	pthread_t		th[20];
	struct scale_arg	a[20];
	double			t0 = now();
	int			i, errors = 0;

	for (i = 0; i < 20; i++) {
		a[i].n = sessions / 20;
		a[i].errors = 0;
		pthread_create(&th[i], NULL, scale_thread, &a[i]);
	}
	for (i = 0; i < 20; i++) {
		pthread_join(th[i], NULL);
		errors += a[i].errors;
	}
	printf("%-28s %10.2f s for %d sessions, %d errors\n", "6 scale",
	    now() - t0, sessions, errors);
}

/* 7: a 1 s deadline: how late the error, how soon the next answer. */
static void
bench_timeout(int count)
{
	struct securer		*h = connect_or_die();
	struct securer_session	*s = session_or_die(h, NULL);
	double			*late, *back, t0;
	int			 i;

	if ((late = calloc(count, sizeof(*late))) == NULL ||
	    (back = calloc(count, sizeof(*back))) == NULL)
		err(1, NULL);
	for (i = 0; i < count; i++) {
		t0 = now();
		if (run(s, "repeat {}", 1) != -1)
			errx(1, "no timeout");
		late[i] = now() - t0 - 1;
		t0 = now();
		if (run(s, "1+1", -1) == -1)
			errx(1, "after the timeout: %s", securer_errmsg(h));
		back[i] = now() - t0;
	}
	row("7 timeout: error late by", late, count, 0);
	row("7 timeout: answers again in", back, count, 0);
	free(late);
	free(back);
	securer_session_close(s);
	securer_close(h);
}

/* 9: 1e6 doubles made once, returned whole; Rserve: its eval of them. */
static void
bench_data(void)
{
	struct securer		*h;
	struct securer_session	*s;
	struct securer_exec_opts eo;
	struct securer_result	 r;
	double			 t[DATA_REPS], t0, rm = 0;
	int			 i, fd;

	if ((h = securer_open()) == NULL)
		errx(1, "no memory");
	securer_set_frames(h, 1);
	if (securer_connect(h, sock) == -1)
		errx(1, "connect: %s", securer_errmsg(h));
	s = session_or_die(h, NULL);
	if (run(s, "x <- rnorm(1e6)", -1) == -1)
		errx(1, "rnorm: %s", securer_errmsg(h));
	if (rserve_on) {
		fd = rserve_connect();
		if (rserve_eval(fd, "x <- rnorm(1e6)") == -1)
			errx(1, "Rserve eval failed");
		for (i = 0; i < DATA_REPS; i++) {
			t0 = now();
			if (rserve_eval(fd, "x") == -1)
				errx(1, "Rserve eval failed");
			t[i] = now() - t0;
		}
		close(fd);
		rm = median(t, DATA_REPS);
	}
	/* A client that takes the value, as R's does, prints it itself. */
	memset(&eo, 0, sizeof(eo));
	eo.timeout = -1;
	eo.no_plain_printed = 1;
	for (i = 0; i < DATA_REPS; i++) {
		t0 = now();
		if (securer_execute(s, "x", &eo, &r) == -1)
			errx(1, "x: %s", securer_errmsg(h));
		t[i] = now() - t0;
		/* The doubles came as bytes, not as text. */
		if (r.frame_len != 8000000)
			errx(1, "x came in a frame of %zu bytes", r.frame_len);
		securer_result_free(&r);
	}
	row("9 1e6 doubles returned", t, DATA_REPS, rm);
	securer_session_close(s);
	securer_close(h);
}

static void
count_lines(void *arg, const char *stream, const char *text, size_t len)
{
	long	*lines = arg;

	while (len-- > 0)
		if (*text++ == '\n')
			(*lines)++;
}

/* 9: 1e5 lines of output, streamed to this client as they come. */
static void
bench_output(void)
{
	struct securer		*h = connect_or_die();
	struct securer_session	*s = session_or_die(h, NULL);
	struct securer_exec_opts eo;
	struct securer_result	 r;
	double			 t[OUTPUT_REPS], t0;
	long			 lines;
	int			 i;

	memset(&eo, 0, sizeof(eo));
	eo.timeout = -1;
	eo.output = count_lines;
	eo.arg = &lines;
	for (i = 0; i < OUTPUT_REPS; i++) {
		lines = 0;
		t0 = now();
		if (securer_execute(s, "writeLines(as.character(1:1e5))", &eo,
		    &r) == -1)
			errx(1, "writeLines: %s", securer_errmsg(h));
		t[i] = now() - t0;
		securer_result_free(&r);
		if (lines != 100000)
			errx(1, "%ld lines of output, not 100000", lines);
	}
	row("9 1e5 output lines", t, OUTPUT_REPS, 0);
	securer_session_close(s);
	securer_close(h);
}

/*
 * 8: the first library(PRELOADED) of new sessions, each its own, on a
 * daemon that preloads it and on one that does not (cold: loaded from
 * disk in the session, files in the page cache).
 */
static void
bench_library(const char *on, const char *what)
{
	struct securer		*h;
	struct securer_session	*s;
	double			 t[LOAD_SESSIONS], t0;
	const char		*saved = sock;
	int			 i;

	sock = on;
	h = connect_or_die();
	for (i = 0; i < LOAD_SESSIONS; i++) {
		s = session_or_die(h, NULL);
		/* The session's first execution is row 1's. */
		if (run(s, "1+1", -1) == -1)
			errx(1, "1+1: %s", securer_errmsg(h));
		t0 = now();
		if (run(s, "library(" PRELOADED ")", -1) == -1)
			errx(1, "library(%s): %s", PRELOADED,
			    securer_errmsg(h));
		t[i] = now() - t0;
		securer_session_close(s);
	}
	securer_close(h);
	sock = saved;
	row(what, t, LOAD_SESSIONS, 0);
}

/* Whether R here has PRELOADED, so that a daemon may preload it. */
static int
have_preloaded(void)
{
	return (system("Rscript -e 'quit(status = !requireNamespace(\""
	    PRELOADED "\", quietly = TRUE))' >/dev/null 2>&1") == 0);
}

/*
 * A private securerd beside this program, its files named for name in
 * our directory; its socket in *sockp once it listens.
 */
static pid_t
start_daemon(const char *self, const char *name, int sessions,
    int preload, const char **sockp)
{
	char	 path[PATH_MAX], conf[128], sockpath[128], *d;
	FILE	*f;
	pid_t	 pid;
	int	 i;

	strlcpy(path, self, sizeof(path));
	d = dirname(path);
	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	snprintf(sockpath, sizeof(sockpath), "%s/%s.sock", dir, name);
	if ((f = fopen(conf, "w")) == NULL)
		err(1, "%s", conf);
	/*
	 * The daemon's own speed: no fsync per record (root's default is
	 * audit-sync always, about 1 ms an execution) and no capacity from
	 * this host, so runs on different trees and hosts compare.
	 */
	fprintf(f, "socket \"%s\"\naudit \"%s/%s.audit.jsonl\"\n"
	    "sessions %d\naudit-sync never\nresult-size 64M\n"
	    "capacity workers none memory none\n",
	    sockpath, dir, name, sessions);
	if (preload)
		fprintf(f, "preload \"%s\"\n", PRELOADED);
	fclose(f);
	snprintf(path + strlen(d), sizeof(path) - strlen(d), "/securerd");
	if ((pid = fork()) == 0) {
		freopen("/dev/null", "w", stderr);
		execl(path, "securerd", "-d", "-f", conf, (char *)NULL);
		_exit(127);
	}
	/* A preloading template takes a second or so to come up. */
	for (i = 0; i < 400 && access(sockpath, F_OK) == -1; i++)
		usleep(50000);
	if ((*sockp = strdup(sockpath)) == NULL)
		err(1, NULL);
	return (pid);
}

static void
stop_daemon(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void
remove_files(void)
{
	const char	*names[] = { "main", "cold" };
	const char	*ends[] = { ".conf", ".audit.jsonl", ".sock",
			    ".sock.pid" };
	char		 path[128];
	size_t		 i, j;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (j = 0; j < sizeof(ends) / sizeof(ends[0]); j++) {
			snprintf(path, sizeof(path), "%s/%s%s", dir,
			    names[i], ends[j]);
			unlink(path);
		}
		/* The audit log's lock (securerd(8)), beside it. */
		snprintf(path, sizeof(path), "%s/.%s.audit.jsonl.lock", dir,
		    names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* At exit, after an error too: nothing of ours is left running. */
static void
bench_end(void)
{
	if (!own)
		return;
	own = 0;
	rserve_stop();
	if (cold_pid > 0)
		stop_daemon(cold_pid);
	stop_daemon(daemon_pid);
	remove_files();
}

int
main(int argc, char *argv[])
{
	const char	*given = NULL, *rows = "123456789", *cold;
	int		 ch, n = 1000, sessions = 1000, deadlines = 5;

	while ((ch = getopt(argc, argv, "n:r:s:S:T:")) != -1) {
		switch (ch) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'r':
			rows = optarg;
			break;
		case 'T':
			deadlines = atoi(optarg);
			break;
		case 's':
			given = optarg;
			break;
		case 'S':
			sessions = atoi(optarg);
			break;
		default:
			errx(2, "usage: securer-bench [-n count] [-r rows] "
			    "[-s socket] [-S sessions] [-T deadlines]");
		}
	}
	if (n < 100 || sessions < 20 || deadlines < 1)
		errx(2, "count must be at least 100, sessions at least 20, "
		    "deadlines at least 1");
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/securer-bench.XXXXXX");
	if (mkdtemp(dir) == NULL)
		err(1, "mkdtemp");
	if (given == NULL) {
		own = 1;
		atexit(bench_end);
		if ((rserve_on = rserve_start(dir) == 0) == 0)
			warnx("Rserve is not available: no side-by-side");
		preloading = have_preloaded();
		daemon_pid = start_daemon(argv[0], "main", sessions,
		    preloading, &sock);
	} else
		sock = given;
	printf("%-28s %10s %10s %10s %8s\n", "(microseconds)", "median",
	    "p99", "Rserve", "ratio");
	if (strchr(rows, '1') != NULL) {
		bench_ready(sessions, 0, "1 session ready");
		bench_ready(n / 10, 20000, "1 ... one every 20 ms");
	}
	if (strchr(rows, '2') != NULL)
		bench_execute(n);
	if (strchr(rows, '3') != NULL)
		bench_tool();
	if (strchr(rows, '4') != NULL)
		bench_throughput();
	if (strchr(rows, '5') != NULL)
		bench_memory();
	if (strchr(rows, '6') != NULL)
		bench_scale(sessions);
	if (strchr(rows, '7') != NULL)
		bench_timeout(deadlines);
	if (strchr(rows, '8') != NULL && !own)
		bench_library(sock, "8 library(" PRELOADED ")");
	else if (strchr(rows, '8') != NULL && preloading) {
		bench_library(sock, "8 library(" PRELOADED "), preloaded");
		cold_pid = start_daemon(argv[0], "cold", 100, 0, &cold);
		bench_library(cold, "8 ... cold");
		stop_daemon(cold_pid);
		cold_pid = 0;
	} else if (strchr(rows, '8') != NULL)
		warnx("R has no %s here: no row 8", PRELOADED);
	if (strchr(rows, '9') != NULL) {
		bench_data();
		bench_output();
	}
	bench_end();
	return (0);
}
