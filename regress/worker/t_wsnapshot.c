/*
 * Snapshots of a worker's state (hibernation), driven over imsg as the
 * monitor would: a worker writes its state into a memfd, a second,
 * fresh worker restores it from the memfd sealed, and code run in the
 * second checks what came back.  Bytes that are not a snapshot (cut,
 * random, nested past any stack, shaped to escape HOME) must fail or be
 * refused in part, the worker staying usable.  securer-worker -S, no
 * daemon.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imsg.h"
#include "securerd.h"
#include "sanitizer.h"

#define WAIT_MS		120000
#define SEALS		(F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)
#define BIG		(1ULL << 30)	/* max_bytes, if not tested */

struct wk {
	pid_t		 pid;
	struct imsgbuf	 ib;
	uint32_t	 id;
};

/* An execution's end. */
struct got {
	uint32_t	 type;		/* IMSG_W_RESULT or _ERROR */
	char		*value;		/* the result's JSON */
	size_t		 len;
	char		*msg;		/* the error's */
};

/* A snapshot's or a restore's reply. */
struct done {
	uint32_t	 status;
	uint64_t	 bytes;
	char		 note[SNAP_NOTE_MAX + 1];
};

static const char *
worker_path(const atf_tc_t *tc)
{
	static char	 path[PATH_MAX];
	char		 self[PATH_MAX];
	ssize_t		 n;

	if (getenv("SECURER_WORKER") != NULL)
		return (getenv("SECURER_WORKER"));
	if (atf_tc_has_config_var(tc, "build")) {
		snprintf(path, sizeof(path), "%s/securer-worker",
		    atf_tc_get_config_var(tc, "build"));
		return (path);
	}
	ATF_REQUIRE((n = readlink("/proc/self/exe", self,
	    sizeof(self) - 1)) > 0);
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/../securer-worker", dirname(self));
	return (path);
}

/* fd, if not -1, goes with the message (a copy: imsg closes its own). */
static void
send_msg(struct wk *w, uint32_t type, int fd, const void *a, size_t alen,
    const void *b, size_t blen)
{
	struct iovec	 iov[2];
	int		 cfd = -1;

	iov[0].iov_base = (void *)a;
	iov[0].iov_len = alen;
	iov[1].iov_base = (void *)b;
	iov[1].iov_len = blen;
	if (fd != -1)
		ATF_REQUIRE((cfd = dup(fd)) != -1);
	ATF_REQUIRE(imsg_composev(&w->ib, type, ++w->id, 0, cfd, iov,
	    2) == 0);
	ATF_REQUIRE(imsgbuf_flush(&w->ib) == 0);
}

static int
recv_msg(struct wk *w, struct imsg *imsg)
{
	struct pollfd	 pfd = { .fd = w->ib.fd, .events = POLLIN };
	ssize_t		 n;

	while ((n = imsg_get(&w->ib, imsg)) == 0) {
		ATF_REQUIRE_MSG(poll(&pfd, 1, WAIT_MS) == 1,
		    "no message from the worker");
		if ((n = imsgbuf_read(&w->ib)) == 0)
			return (0);
		ATF_REQUIRE(n == 1);
	}
	ATF_REQUIRE(n > 0);
	return (1);
}

static void
start(struct wk *w, const atf_tc_t *tc)
{
	struct w_setup	 ws = { 2 };
	const char	*path = worker_path(tc);
	struct imsg	 imsg;
	int		 sv[2];

	memset(w, 0, sizeof(*w));
	ATF_REQUIRE_MSG(access(path, X_OK) == 0, "%s: %s", path,
	    strerror(errno));
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE((w->pid = fork()) != -1);
	if (w->pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(126);
		closefrom(4);
		execl(path, "securer-worker", "-S", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	ATF_REQUIRE(imsgbuf_init(&w->ib, sv[0]) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w->ib, WORKER_IMSG_MAX) == 0);
	imsgbuf_allow_fdpass(&w->ib);
	send_msg(w, IMSG_W_SETUP, -1, &ws, sizeof(ws), "[]", 2);
	ATF_REQUIRE(recv_msg(w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_SETUP_DONE);
	imsg_free(&imsg);
}

/*
 * The template, as the broker drives it, and a worker cloned from it
 * under the seccomp filter (and, as root, in its own namespaces): the
 * sandbox of a daemon's session, which -S does not have.
 */
static void
tpl_start(const atf_tc_t *tc, struct wk *t)
{
	struct imsg	 imsg;
	const char	*path = worker_path(tc);
	int		 sv[2];

	memset(t, 0, sizeof(*t));
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE((t->pid = fork()) != -1);
	if (t->pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(126);
		closefrom(4);
		execl(path, "securer-worker", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	ATF_REQUIRE(imsgbuf_init(&t->ib, sv[0]) == 0);
	imsgbuf_allow_fdpass(&t->ib);
	ATF_REQUIRE(imsgbuf_set_maxsize(&t->ib, BROKER_IMSG_MAX) == 0);
	ATF_REQUIRE(recv_msg(t, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_TPL_UP);
	imsg_free(&imsg);
}

static void
tpl_spawn(struct wk *tpl, struct wk *w, uint32_t id)
{
	struct worker_limits	 lim = { 60, LIMIT_NONE, 64 << 20,
				    LIMIT_NONE, 64, 8 << 20, 64 << 20 };
	struct tpl_spawn	 ts;
	struct tpl_spawned	 sp;
	struct w_setup		 ws = { 2 };
	struct imsg		 imsg;
	int			 sv[2];

	memset(w, 0, sizeof(*w));
	memset(&ts, 0, sizeof(ts));
	ts.worker_id = id;
	ts.uid = ts.gid = 65534;
	ts.flags = TPL_SECCOMP | (geteuid() == 0 ? TPL_NAMESPACES : 0);
	ts.limits = lim;
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE(imsg_compose(&tpl->ib, IMSG_TPL_SPAWN, 0, 0, sv[1], &ts,
	    sizeof(ts)) == 0);
	ATF_REQUIRE(imsgbuf_flush(&tpl->ib) == 0);
	ATF_REQUIRE(recv_msg(tpl, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_TPL_SPAWNED);
	ATF_REQUIRE(imsg_get_data(&imsg, &sp, sizeof(sp)) == 0);
	imsg_free(&imsg);
	w->pid = sp.pid;
	ATF_REQUIRE(imsgbuf_init(&w->ib, sv[0]) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w->ib, WORKER_IMSG_MAX) == 0);
	imsgbuf_allow_fdpass(&w->ib);
	ATF_REQUIRE(recv_msg(w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_READY);
	imsg_free(&imsg);
	send_msg(w, IMSG_W_SETUP, -1, &ws, sizeof(ws), "[]", 2);
	ATF_REQUIRE(recv_msg(w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_SETUP_DONE);
	imsg_free(&imsg);
}

/* The worker ends cleanly once its channel closes. */
static void
finish(struct wk *w)
{
	int	status;

	close(w->ib.fd);
	imsgbuf_clear(&w->ib);
	ATF_REQUIRE(waitpid(w->pid, &status, 0) == w->pid);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "worker status %#x", status);
}

static void
got_free(struct got *g)
{
	free(g->value);
	free(g->msg);
	memset(g, 0, sizeof(*g));
}

/* Runs code; its result's JSON (its parts joined) or its error. */
static void
run(struct wk *w, const char *code, struct got *g)
{
	struct w_exec	 we;
	struct w_result	 wr;
	struct w_error	 er;
	struct imsg	 imsg;
	const char	*p;
	size_t		 len, n;
	uint32_t	 type;

	memset(g, 0, sizeof(*g));
	memset(&we, 0, sizeof(we));
	we.code_len = strlen(code);
	send_msg(w, IMSG_W_EXEC, -1, &we, sizeof(we), code, we.code_len);
	for (;;) {
		ATF_REQUIRE_MSG(recv_msg(w, &imsg) == 1, "the worker ended "
		    "running %s", code);
		type = imsg_get_type(&imsg);
		p = imsg.data;
		len = imsg_get_len(&imsg);
		n = 0;
		if (type == IMSG_W_RESULT_PART)
			n = len;
		else if (type == IMSG_W_RESULT) {
			ATF_REQUIRE(len >= sizeof(wr));
			memcpy(&wr, p, sizeof(wr));
			p += sizeof(wr);
			n = wr.value_len;
		} else if (type == IMSG_W_ERROR) {
			ATF_REQUIRE(len >= sizeof(er));
			memcpy(&er, p, sizeof(er));
			ATF_REQUIRE((g->msg = strndup(p + sizeof(er),
			    er.msg_len)) != NULL);
		}
		ATF_REQUIRE((g->value = realloc(g->value, g->len + n +
		    1)) != NULL);
		memcpy(g->value + g->len, p, n);
		g->len += n;
		g->value[g->len] = '\0';
		imsg_free(&imsg);
		if (type == IMSG_W_RESULT || type == IMSG_W_ERROR) {
			g->type = type;
			return;
		}
	}
}

/* code must succeed (a stopifnot() says what did not hold). */
static void
run_ok(struct wk *w, const char *code)
{
	struct got	g;

	run(w, code, &g);
	ATF_CHECK_EQ_MSG(g.type, IMSG_W_RESULT, "%s: %s", code,
	    g.msg != NULL ? g.msg : "");
	got_free(&g);
}

/* code's value, a character string; a copy. */
static char *
run_string(struct wk *w, const char *code)
{
	struct got	 g;
	cJSON		*j, *v;
	char		*s;

	run(w, code, &g);
	ATF_REQUIRE_EQ_MSG(g.type, IMSG_W_RESULT, "%s: %s", code,
	    g.msg != NULL ? g.msg : "");
	ATF_REQUIRE((j = cJSON_Parse(g.value)) != NULL);
	v = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "value"), 0);
	ATF_REQUIRE_MSG(cJSON_IsString(v), "%s: %s", code, g.value);
	ATF_REQUIRE((s = strdup(v->valuestring)) != NULL);
	cJSON_Delete(j);
	got_free(&g);
	return (s);
}

/* IMSG_W_SNAPSHOT or IMSG_W_RESTORE, and its reply. */
static void
snap(struct wk *w, uint32_t type, uint64_t n, int fd, struct done *d)
{
	struct w_snap_done	 wd;
	struct imsg		 imsg;
	size_t			 len;

	send_msg(w, type, fd, &n, sizeof(n), NULL, 0);
	ATF_REQUIRE_MSG(recv_msg(w, &imsg) == 1, "the worker ended");
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), type == IMSG_W_SNAPSHOT ?
	    IMSG_W_SNAPSHOT_DONE : IMSG_W_RESTORED);
	len = imsg_get_len(&imsg);
	ATF_REQUIRE(len >= sizeof(wd) && len - sizeof(wd) <= SNAP_NOTE_MAX);
	memcpy(&wd, imsg.data, sizeof(wd));
	d->status = wd.status;
	d->bytes = wd.bytes;
	memcpy(d->note, (char *)imsg.data + sizeof(wd), len - sizeof(wd));
	d->note[len - sizeof(wd)] = '\0';
	ATF_CHECK(strlen(d->note) == len - sizeof(wd));
	ATF_CHECK(utf8_valid(d->note, strlen(d->note)));
	imsg_free(&imsg);
}

static int
memfd_new(void)
{
	int	fd;

	ATF_REQUIRE((fd = memfd_create("snapshot", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) != -1);
	return (fd);
}

static off_t
fd_size(int fd)
{
	struct stat	sb;

	ATF_REQUIRE(fstat(fd, &sb) == 0);
	return (sb.st_size);
}

static void
seal(int fd)
{
	ATF_REQUIRE(fcntl(fd, F_ADD_SEALS, SEALS) == 0);
}

/* A new memfd holding len bytes at p, sealed. */
static int
memfd_of(const void *p, size_t len)
{
	size_t	 off;
	ssize_t	 n;
	int	 fd = memfd_new();

	for (off = 0; off < len; off += n)
		ATF_REQUIRE((n = write(fd, (const char *)p + off,
		    len - off)) > 0);
	seal(fd);
	return (fd);
}

/* The first len bytes of fd, in a new sealed memfd. */
static int
memfd_head(int fd, size_t len)
{
	char	*buf;
	int	 nfd;

	ATF_REQUIRE((buf = malloc(len)) != NULL);
	ATF_REQUIRE(pread(fd, buf, len, 0) == (ssize_t)len);
	nfd = memfd_of(buf, len);
	free(buf);
	return (nfd);
}

/* A snapshot of w that must succeed; the memfd, sealed. */
static int
snapshot_ok(struct wk *w, struct done *d)
{
	int	fd = memfd_new();

	snap(w, IMSG_W_SNAPSHOT, BIG, fd, d);
	ATF_REQUIRE_EQ_MSG(d->status, WSNAP_OK, "snapshot: %s", d->note);
	ATF_REQUIRE(d->bytes > 0);
	ATF_CHECK_EQ((uint64_t)fd_size(fd), d->bytes);
	seal(fd);
	return (fd);
}

static double
elapsed_ms(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((t1.tv_sec - t0->tv_sec) * 1e3 +
	    (t1.tv_nsec - t0->tv_nsec) / 1e6);
}

static const char state_code[] =
    "x <- c(a = 1.5, b = NA)\n"
    "k <- 2\n"
    "f <- function(n) n * k + 1\n"
    "df <- data.frame(a = 1:3, b = c('x', 'y', 'z'),\n"
    "    stringsAsFactors = TRUE)\n"
    "l <- list(1L, 'two', list(three = 3), NULL)\n"
    "e <- new.env(); assign('v', 42, envir = e)\n"
    ".hidden <- 'dot'\n"
    "library(stats4)\n"
    "set.seed(1); u1 <- runif(1)\n"
    "dir.create('sub/deeper', recursive = TRUE)\n"
    "writeLines(c('hello', 'world'), 'sub/data.txt')\n"
    "writeBin(as.raw(0:255), 'bytes.bin')\n"
    "file.symlink('bytes.bin', 'link')\n"
    "con <- textConnection('abc'); l2 <- list(a = con)\n"
    "p <- methods:::.newExternalptr()\n"
    "setwd('sub')\n"
    "invisible()\n";

static const char check_fmt[] =
    "stopifnot(identical(x, c(a = 1.5, b = NA)), k == 2, f(3) == 7,\n"
    "    identical(environment(f), globalenv()),\n"
    "    identical(df, data.frame(a = 1:3, b = c('x', 'y', 'z'),\n"
    "        stringsAsFactors = TRUE)),\n"
    "    identical(l, list(1L, 'two', list(three = 3), NULL)),\n"
    "    get('v', envir = e) == 42, .hidden == 'dot',\n"
    "    'package:stats4' %%in%% search(), is.function(mle),\n"
    "    match('package:stats4', search()) <\n"
    "        match('package:stats', search()),\n"
    "    sprintf('%%a', runif(1)) == '%s',\n"
    "    getwd() == '%s',\n"
    "    identical(readLines('data.txt'), c('hello', 'world')),\n"
    "    identical(readBin('../bytes.bin', 'raw', 1000), as.raw(0:255)),\n"
    "    dir.exists('deeper'), !file.exists('../link'),\n"
    "    inherits(con, 'connection'), is.null(.Random.seed) == FALSE)\n";

ATF_TC_WITHOUT_HEAD(snapshot_roundtrip);
ATF_TC_BODY(snapshot_roundtrip, tc)
{
	struct wk	 a, b;
	struct done	 d;
	char		 check[4096], *next, *wd;
	int		 fd;

	start(&a, tc);
	run_ok(&a, state_code);
	fd = snapshot_ok(&a, &d);
	ATF_CHECK_STREQ(d.note, "not restorable: con (a connection), "
	    "l2 (holds a connection), p (an external pointer)");
	/* The first worker goes on: what it draws next, the second must. */
	next = run_string(&a, "sprintf('%a', runif(1))");
	wd = run_string(&a, "getwd()");
	ATF_CHECK(strcmp(wd + strlen(wd) - 4, "/sub") == 0);
	finish(&a);

	start(&b, tc);
	snap(&b, IMSG_W_RESTORE, d.bytes, fd, &d);
	ATF_REQUIRE_EQ_MSG(d.status, WSNAP_OK, "restore: %s", d.note);
	ATF_CHECK_STREQ(d.note, "dead values: con (a connection), "
	    "l2 (holds a connection), p (an external pointer)");
	snprintf(check, sizeof(check), check_fmt, next, wd);
	run_ok(&b, check);
	/* The restored worker's own snapshot restores as well. */
	close(fd);
	fd = snapshot_ok(&b, &d);
	finish(&b);
	start(&a, tc);
	snap(&a, IMSG_W_RESTORE, d.bytes, fd, &d);
	ATF_CHECK_EQ_MSG(d.status, WSNAP_OK, "restore: %s", d.note);
	run_ok(&a, "stopifnot(f(3) == 7, identical(readLines('data.txt'), "
	    "c('hello', 'world')))");
	finish(&a);
	close(fd);
	free(next);
	free(wd);
}

ATF_TC_WITHOUT_HEAD(snapshot_too_large);
ATF_TC_BODY(snapshot_too_large, tc)
{
	struct wk	 w;
	struct done	 d;
	int		 fd;

	start(&w, tc);
	run_ok(&w, "x <- rnorm(1e5)");
	fd = memfd_new();
	snap(&w, IMSG_W_SNAPSHOT, 100000, fd, &d);
	ATF_CHECK_EQ(d.status, WSNAP_TOO_LARGE);
	ATF_CHECK(d.bytes > 0 && d.bytes <= 100000);
	ATF_CHECK_EQ(fd_size(fd), 0);
	close(fd);
	/* Files are counted before anything is written. */
	run_ok(&w, "rm(x); writeBin(raw(2e5), 'big')");
	fd = memfd_new();
	snap(&w, IMSG_W_SNAPSHOT, 100000, fd, &d);
	ATF_CHECK_EQ(d.status, WSNAP_TOO_LARGE);
	ATF_CHECK_EQ(d.bytes, 0);
	close(fd);
	/* Exactly its size is within it. */
	fd = snapshot_ok(&w, &d);
	close(fd);
	fd = memfd_new();
	snap(&w, IMSG_W_SNAPSHOT, d.bytes, fd, &d);
	ATF_CHECK_EQ(d.status, WSNAP_OK);
	ATF_CHECK_EQ((uint64_t)fd_size(fd), d.bytes);
	close(fd);
	fd = memfd_new();
	snap(&w, IMSG_W_SNAPSHOT, d.bytes - 1, fd, &d);
	ATF_CHECK_EQ(d.status, WSNAP_TOO_LARGE);
	close(fd);
	run_ok(&w, "stopifnot(file.size('big') == 2e5)");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(restore_truncated);
ATF_TC_BODY(restore_truncated, tc)
{
	struct wk	 w;
	struct done	 d;
	uint64_t	 bytes;
	int		 fd, half, unsealed;

	start(&w, tc);
	run_ok(&w, "x <- 1:10 + 0; y <- letters");
	fd = snapshot_ok(&w, &d);
	bytes = d.bytes;
	finish(&w);

	start(&w, tc);
	half = memfd_head(fd, bytes / 2);
	snap(&w, IMSG_W_RESTORE, bytes / 2, half, &d);
	ATF_CHECK_EQ(d.status, WSNAP_FAILED);
	ATF_CHECK_MSG(strstr(d.note, "ends early") != NULL, "%s", d.note);
	/* A size that is not the memfd's. */
	snap(&w, IMSG_W_RESTORE, bytes, half, &d);
	ATF_CHECK_EQ(d.status, WSNAP_FAILED);
	snap(&w, IMSG_W_RESTORE, bytes / 2 - 1, half, &d);
	ATF_CHECK_EQ(d.status, WSNAP_FAILED);
	/* Unsealed, it could shrink under the reader: refused. */
	unsealed = memfd_new();
	ATF_REQUIRE(write(unsealed, "X\n", 2) == 2);
	snap(&w, IMSG_W_RESTORE, 2, unsealed, &d);
	ATF_CHECK_EQ(d.status, WSNAP_FAILED);
	ATF_CHECK_MSG(strstr(d.note, "sealed") != NULL, "%s", d.note);
	run_ok(&w, "stopifnot(!exists('y'), 1 + 1 == 2)");
	/* And the whole snapshot, after all that. */
	snap(&w, IMSG_W_RESTORE, bytes, fd, &d);
	ATF_CHECK_EQ_MSG(d.status, WSNAP_OK, "%s", d.note);
	run_ok(&w, "stopifnot(identical(y, letters), sum(x) == 55)");
	finish(&w);
	close(fd);
	close(half);
	close(unsealed);
}

/* xorshift64: the same bytes each run. */
static void
fill_random(unsigned char *p, size_t len, uint64_t seed)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = seed >> 24;
	}
}

ATF_TC_WITHOUT_HEAD(restore_random);
ATF_TC_BODY(restore_random, tc)
{
	/* Headers that get the reader past its first checks. */
	static const char *heads[] = {
		"", "X\n", "B\n", "A\n",
		"X\n\0\0\0\3\0\4\2\2\0\3\5\0\0\0\0\5UTF-8",
	};
	static const size_t headlen[] = { 0, 2, 2, 2, 23 };
	struct wk	 w;
	struct done	 d;
	unsigned char	 buf[65536];
	size_t		 i, j, len;
	int		 fd;

	start(&w, tc);
	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		for (j = 0; j < 8; j++) {
			len = j < 4 ? 16 << j : sizeof(buf) >> (j - 4);
			fill_random(buf, len, 0x9e3779b97f4a7c15ULL * (i * 8 +
			    j + 1));
			memcpy(buf, heads[i], headlen[i]);
			fd = memfd_of(buf, len);
			snap(&w, IMSG_W_RESTORE, len, fd, &d);
			ATF_CHECK_EQ_MSG(d.status, WSNAP_FAILED, "head %zu, "
			    "%zu bytes: %s", i, len, d.note);
			ATF_CHECK(d.note[0] != '\0');
			close(fd);
		}
	run_ok(&w, "stopifnot(1 + 1 == 2)");
	finish(&w);
}

/* Lists in lists, deeper than R's C stack: an R error, not a crash. */
ATF_TC_WITHOUT_HEAD(restore_deep);
ATF_TC_BODY(restore_deep, tc)
{
	static const unsigned char head[23] =
	    "X\n\0\0\0\3\0\4\2\2\0\3\5\0\0\0\0\5UTF-8";
	static const unsigned char list1[8] = { 0, 0, 0, 0x13, 0, 0, 0, 1 };
	static const unsigned char list0[8] = { 0, 0, 0, 0x13, 0, 0, 0, 0 };
	struct wk	 w;
	struct done	 d;
	unsigned char	*buf, *p;
	size_t		 i, n = 1000000, len;
	int		 fd;

	len = sizeof(head) + (n + 1) * 8;
	ATF_REQUIRE((buf = malloc(len)) != NULL);
	memcpy(buf, head, sizeof(head));
	for (i = 0, p = buf + sizeof(head); i < n; i++, p += 8)
		memcpy(p, list1, 8);
	memcpy(p, list0, 8);
	fd = memfd_of(buf, len);
	free(buf);
	start(&w, tc);
	snap(&w, IMSG_W_RESTORE, len, fd, &d);
	ATF_CHECK_EQ(d.status, WSNAP_FAILED);
	ATF_CHECK_MSG(strstr(d.note, "stack") != NULL, "%s", d.note);
	run_ok(&w, "stopifnot(1 + 1 == 2)");
	finish(&w);
	close(fd);
}

/* Hex digits, two a byte, into a new buffer of *len bytes. */
static unsigned char *
unhex(const char *s, size_t *len)
{
	unsigned char	*p;
	unsigned int	 c;
	size_t		 i;

	*len = strlen(s) / 2;
	ATF_REQUIRE((p = malloc(*len)) != NULL);
	for (i = 0; i < *len; i++) {
		ATF_REQUIRE(sscanf(s + 2 * i, "%2x", &c) == 1);
		p[i] = c;
	}
	return (p);
}

/*
 * A snapshot made to be hostile, by R code: paths that leave HOME, a
 * symlink on the way, names that are not packages'.  What is refused is
 * in the note; the rest is restored.
 */
static const char hostile_code[] =
    "s <- serialize(list(format = 'securer snapshot 1',\n"
    "    vars = list(ok = 1, 'odd name' = 2, .Random.seed = 'junk'),\n"
    "    search = c('../evil', 'stats', 'base'),\n"
    "    namespaces = c('nosuchpkg', 'stats'),\n"
    "    wd = '../..', dirs = c('../up', 'fine', '/abs', 'a/./b'),\n"
    "    files = list('../escape' = as.raw(1), 'a/../../b' = as.raw(2),\n"
    "        '/tmp/abs' = as.raw(3), 'fine/f.txt' = charToRaw('ok'),\n"
    "        'link/x' = as.raw(4), 'fine/notraw' = 'text')), NULL)\n"
    "paste(as.character(s), collapse = '')\n";

ATF_TC_WITHOUT_HEAD(restore_hostile);
ATF_TC_BODY(restore_hostile, tc)
{
	struct wk	 w;
	struct done	 d;
	unsigned char	*bytes;
	size_t		 len;
	char		*hex;
	int		 fd;

	start(&w, tc);
	hex = run_string(&w, hostile_code);
	finish(&w);
	bytes = unhex(hex, &len);
	fd = memfd_of(bytes, len);

	start(&w, tc);
	run_ok(&w, "invisible(file.symlink(dirname(Sys.getenv('HOME')), "
	    "'link'))");
	snap(&w, IMSG_W_RESTORE, len, fd, &d);
	ATF_REQUIRE_EQ_MSG(d.status, WSNAP_OK, "%s", d.note);
	ATF_CHECK_MSG(strstr(d.note, "files not written: ../up") != NULL,
	    "%s", d.note);
	ATF_CHECK_MSG(strstr(d.note, "link/x (") != NULL, "%s", d.note);
	ATF_CHECK_MSG(strstr(d.note, "../evil (not a package name)") != NULL,
	    "%s", d.note);
	ATF_CHECK_MSG(strstr(d.note, "nosuchpkg") != NULL, "%s", d.note);
	ATF_CHECK_MSG(strstr(d.note, "working directory not restored: "
	    "../..") != NULL, "%s", d.note);
	run_ok(&w, "up <- dirname(Sys.getenv('HOME'))\n"
	    "stopifnot(ok == 1, get('odd name') == 2,\n"
	    "    getwd() == Sys.getenv('HOME'),\n"
	    "    readLines('fine/f.txt') == 'ok',\n"
	    "    !file.exists('fine/notraw'),\n"
	    "    !file.exists(file.path(up, c('escape', 'b', 'up', 'x'))),\n"
	    "    !file.exists('/tmp/abs'), !dir.exists('/abs'),\n"
	    "    !dir.exists('a'), 'package:stats' %in% search(),\n"
	    "    !isNamespaceLoaded('nosuchpkg'))");
	finish(&w);
	close(fd);
	free(bytes);
	free(hex);
}

/* ~10 MB of doubles: how long each way takes, said on stderr. */
ATF_TC_WITHOUT_HEAD(snapshot_10mb);
ATF_TC_BODY(snapshot_10mb, tc)
{
	struct timespec	 t0;
	struct wk	 w;
	struct done	 d;
	char		 check[256], *sum;
	double		 ms_snap, ms_restore;
	int		 fd;

	start(&w, tc);
	run_ok(&w, "set.seed(2); x <- rnorm(1.25e6); invisible()");
	sum = run_string(&w, "sprintf('%a', sum(x))");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = snapshot_ok(&w, &d);
	ms_snap = elapsed_ms(&t0);
	finish(&w);
	ATF_CHECK(d.bytes > 10000000 && d.bytes < 10100000);

	start(&w, tc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snap(&w, IMSG_W_RESTORE, d.bytes, fd, &d);
	ms_restore = elapsed_ms(&t0);
	ATF_REQUIRE_EQ_MSG(d.status, WSNAP_OK, "%s", d.note);
	snprintf(check, sizeof(check), "stopifnot(length(x) == 1.25e6, "
	    "sprintf('%%a', sum(x)) == '%s')", sum);
	run_ok(&w, check);
	finish(&w);
	fprintf(stderr, "snapshot of %llu bytes: %.1f ms, restore %.1f ms\n",
	    (unsigned long long)d.bytes, ms_snap, ms_restore);
	close(fd);
	free(sum);
}

/* The same, in workers under the filter: nothing it needs is refused. */
ATF_TC_WITHOUT_HEAD(snapshot_sandboxed);
ATF_TC_BODY(snapshot_sandboxed, tc)
{
	struct wk	 tpl, a, b;
	struct done	 d;
	char		 check[4096], *next, *wd;
	int		 fd, status;

	tpl_start(tc, &tpl);
	tpl_spawn(&tpl, &a, 1);
	run_ok(&a, "stopifnot(any(grepl('^Seccomp:\\t2$', "
	    "readLines('/proc/self/status'))))");
	run_ok(&a, state_code);
	fd = snapshot_ok(&a, &d);
	next = run_string(&a, "sprintf('%a', runif(1))");
	wd = run_string(&a, "getwd()");
	finish(&a);
	tpl_spawn(&tpl, &b, 2);
	snap(&b, IMSG_W_RESTORE, d.bytes, fd, &d);
	ATF_REQUIRE_EQ_MSG(d.status, WSNAP_OK, "restore: %s", d.note);
	snprintf(check, sizeof(check), check_fmt, next, wd);
	run_ok(&b, check);
	finish(&b);
	close(tpl.ib.fd);
	imsgbuf_clear(&tpl.ib);
	ATF_REQUIRE(waitpid(tpl.pid, &status, 0) == tpl.pid);
	close(fd);
	free(next);
	free(wd);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, snapshot_roundtrip);
	ATF_TP_ADD_TC(tp, snapshot_too_large);
	ATF_TP_ADD_TC(tp, restore_truncated);
	ATF_TP_ADD_TC(tp, restore_random);
	ATF_TP_ADD_TC(tp, restore_deep);
	ATF_TP_ADD_TC(tp, restore_hostile);
	ATF_TP_ADD_TC(tp, snapshot_10mb);
	ATF_TP_ADD_TC(tp, snapshot_sandboxed);
	return (atf_no_error());
}
