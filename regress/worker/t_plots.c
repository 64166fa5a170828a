/*
 * The worker's plots and files, driven over imsg as the monitor would
 * (securer-worker -S, no daemon, no seccomp filter: the code may plant
 * what the filter would refuse it, FIFOs included).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "securerd.h"
#include "sanitizer.h"

#define WAIT_MS		60000

struct wk {
	pid_t		 pid;
	struct imsgbuf	 ib;
	uint32_t	 id;
};

/* What came for one request. */
struct got {
	int		 nplots;
	struct w_plot	 plots[8];
	size_t		 plot_len[8];
	int		 png[8];	/* bytes start with the PNG magic */
	uint32_t	 end;		/* IMSG_W_RESULT, _ERROR or _FILE */
	struct w_file_reply file;
	char		 data[256];
	size_t		 data_len;
};

static const unsigned char magic[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
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

static void
send2(struct wk *w, uint32_t type, const void *a, size_t alen,
    const void *b, size_t blen, const void *c, size_t clen)
{
	struct iovec	 iov[3];

	iov[0].iov_base = (void *)a;
	iov[0].iov_len = alen;
	iov[1].iov_base = (void *)b;
	iov[1].iov_len = blen;
	iov[2].iov_base = (void *)c;
	iov[2].iov_len = clen;
	ATF_REQUIRE(imsg_composev(&w->ib, type, ++w->id, 0, -1, iov,
	    3) == 0);
	ATF_REQUIRE(imsgbuf_flush(&w->ib) == 0);
}

static int
recv1(struct wk *w, struct imsg *imsg)
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
	send2(w, IMSG_W_SETUP, &ws, sizeof(ws), "[]", 2, NULL, 0);
	ATF_REQUIRE(recv1(w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_SETUP_DONE);
	imsg_free(&imsg);
}

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

/* Reads until the request's end, keeping plots and a file's answer. */
static void
collect(struct wk *w, struct got *g)
{
	struct imsg	 imsg;
	const char	*p;
	size_t		 len;
	uint32_t	 type;

	memset(g, 0, sizeof(*g));
	for (;;) {
		ATF_REQUIRE_MSG(recv1(w, &imsg) == 1, "the worker ended");
		type = imsg_get_type(&imsg);
		ATF_REQUIRE_EQ(imsg_get_id(&imsg), w->id);
		p = imsg.data;
		len = imsg_get_len(&imsg);
		if (type == IMSG_W_PLOT) {
			ATF_REQUIRE(len >= sizeof(struct w_plot));
			ATF_REQUIRE(g->nplots < 8);
			memcpy(&g->plots[g->nplots], p, sizeof(struct w_plot));
			g->plot_len[g->nplots] = len - sizeof(struct w_plot);
			g->png[g->nplots] = len >= sizeof(struct w_plot) + 8 &&
			    memcmp(p + sizeof(struct w_plot), magic, 8) == 0;
			g->nplots++;
		} else if (type == IMSG_W_FILE) {
			ATF_REQUIRE(len >= sizeof(g->file));
			memcpy(&g->file, p, sizeof(g->file));
			g->data_len = len - sizeof(g->file);
			if (g->data_len < sizeof(g->data))
				memcpy(g->data, p + sizeof(g->file),
				    g->data_len);
		}
		imsg_free(&imsg);
		if (type == IMSG_W_RESULT || type == IMSG_W_ERROR ||
		    type == IMSG_W_FILE) {
			g->end = type;
			return;
		}
		ATF_REQUIRE_MSG(type == IMSG_W_PLOT || type == IMSG_W_OUTPUT ||
		    type == IMSG_W_ADVISORY, "unexpected message %u", type);
	}
}

static void
run(struct wk *w, const char *code, struct got *g)
{
	struct w_exec	we;

	we.flags = 0;
	we.code_len = strlen(code);
	send2(w, IMSG_W_EXEC, &we, sizeof(we), code, we.code_len, NULL, 0);
	collect(w, g);
}

static void
file_get(struct wk *w, const char *name, uint64_t max, struct got *g)
{
	struct w_file_req	wr;

	/* The whole file, as an un-ranged file.get asks for it. */
	memset(&wr, 0, sizeof(wr));
	wr.name_len = strlen(name);
	wr.max = max;
	wr.length = max;
	wr.flags = FILE_WHOLE;
	send2(w, IMSG_W_FILE_GET, &wr, sizeof(wr), name, wr.name_len, NULL,
	    0);
	collect(w, g);
	ATF_REQUIRE_EQ(g->end, IMSG_W_FILE);
}

static void
file_put(struct wk *w, const char *name, const char *data, struct got *g)
{
	struct w_file_req	wr;

	/* One chunk, the whole file, under file-size's default. */
	memset(&wr, 0, sizeof(wr));
	wr.name_len = strlen(name);
	wr.data_len = strlen(data);
	wr.max = 1024 * 1024;
	send2(w, IMSG_W_FILE_PUT, &wr, sizeof(wr), name, wr.name_len, data,
	    wr.data_len);
	collect(w, g);
	ATF_REQUIRE_EQ(g->end, IMSG_W_FILE);
}

ATF_TC_WITHOUT_HEAD(plots_pages);
ATF_TC_BODY(plots_pages, tc)
{
	struct wk	w;
	struct got	g;

	start(&w, tc);
	run(&w, "1", &g);
	ATF_CHECK_EQ(g.end, IMSG_W_RESULT);
	ATF_CHECK_EQ(g.nplots, 0);
	run(&w, "plot(1:10); grid::grid.newpage(); grid::grid.text('x'); 2",
	    &g);
	ATF_CHECK_EQ(g.end, IMSG_W_RESULT);
	ATF_REQUIRE_EQ(g.nplots, 2);
	ATF_CHECK_EQ(g.plots[0].index, 1);
	ATF_CHECK_EQ(g.plots[1].index, 2);
	ATF_CHECK_EQ(g.plots[0].flags, 0);
	ATF_CHECK(g.png[0] && g.png[1]);
	ATF_CHECK_EQ(g.plot_len[0], g.plots[0].size);
	/* A fresh device each time: numbering starts again. */
	run(&w, "plot(3); stop('after')", &g);
	ATF_CHECK_EQ(g.end, IMSG_W_ERROR);
	ATF_REQUIRE_EQ(g.nplots, 1);
	ATF_CHECK_EQ(g.plots[0].index, 1);
	/* Closed by the code itself: still sent. */
	run(&w, "plot(4); dev.off(); 1", &g);
	ATF_CHECK_EQ(g.nplots, 1);
	run(&w, "1", &g);
	ATF_CHECK_EQ(g.nplots, 0);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(plots_tampered);
ATF_TC_BODY(plots_tampered, tc)
{
	struct wk	w;
	struct got	g;

	start(&w, tc);
	/* The page replaced by a symlink to a host file: not followed. */
	run(&w, "plot(1); dev.off(); d <- file.path(tempdir(), "
	    "'securer-plots'); unlink(file.path(d, 'plot-001.png')); "
	    "file.symlink('/etc/passwd', file.path(d, 'plot-001.png')); 1",
	    &g);
	ATF_CHECK_EQ(g.end, IMSG_W_RESULT);
	ATF_REQUIRE_EQ(g.nplots, 1);
	ATF_CHECK_EQ(g.plots[0].flags, PLOT_OMITTED);
	ATF_CHECK_EQ(g.plot_len[0], 0);
	/* A directory of that name: reported, nothing read. */
	run(&w, "plot(1); dev.off(); d <- file.path(tempdir(), "
	    "'securer-plots'); unlink(file.path(d, 'plot-001.png')); "
	    "dir.create(file.path(d, 'plot-001.png')); 1", &g);
	ATF_REQUIRE_EQ(g.nplots, 1);
	ATF_CHECK_EQ(g.plots[0].flags, PLOT_OMITTED);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(files_special);
ATF_TC_BODY(files_special, tc)
{
	struct wk	w;
	struct got	g;

	start(&w, tc);
	file_put(&w, "in.txt", "abc", &g);
	ATF_CHECK_EQ(g.file.status, WFILE_OK);
	ATF_CHECK_EQ(g.file.size, 3);
	run(&w, "o <- Sys.getenv('SECURER_OUTPUT'); "
	    "x <- readLines(file.path(Sys.getenv('SECURER_INPUT'), "
	    "'in.txt'), warn = FALSE); writeLines(x, file.path(o, 'ok')); "
	    "file.symlink('/etc/passwd', file.path(o, 'link')); "
	    "close(fifo(file.path(o, 'fifo'), 'w+')); "
	    "dir.create(file.path(o, 'dir')); "
	    "writeLines(strrep('x', 100), file.path(o, 'big')); 1", &g);
	ATF_REQUIRE_EQ(g.end, IMSG_W_RESULT);
	file_get(&w, "ok", 1000, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_OK);
	ATF_CHECK_EQ(g.data_len, 4);
	ATF_CHECK(memcmp(g.data, "abc\n", 4) == 0);
	file_get(&w, "link", 1000, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_NOT_REGULAR);
	ATF_CHECK_EQ(g.data_len, 0);
	/* Opened without blocking, refused as not regular. */
	file_get(&w, "fifo", 1000, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_NOT_REGULAR);
	file_get(&w, "dir", 1000, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_NOT_REGULAR);
	file_get(&w, "big", 50, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_TOO_LARGE);
	ATF_CHECK_EQ(g.file.size, 101);
	ATF_CHECK_EQ(g.data_len, 0);
	file_get(&w, "none", 50, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_NOT_FOUND);
	/* The output directory itself replaced by a symlink to /etc. */
	run(&w, "o <- Sys.getenv('SECURER_OUTPUT'); unlink(o, recursive = "
	    "TRUE); file.symlink('/etc', o); 1", &g);
	file_get(&w, "passwd", 100000, &g);
	ATF_CHECK_EQ(g.file.status, WFILE_NOT_REGULAR);
	ATF_CHECK_EQ(g.data_len, 0);
	finish(&w);
}

/* A name the monitor would never send is a broken invariant: it dies. */
ATF_TC_WITHOUT_HEAD(files_bad_name);
ATF_TC_BODY(files_bad_name, tc)
{
	struct wk		 w;
	struct w_file_req	 wr;
	struct imsg		 imsg;
	int			 status;

	start(&w, tc);
	memset(&wr, 0, sizeof(wr));
	wr.name_len = 4;
	wr.max = 100;
	send2(&w, IMSG_W_FILE_GET, &wr, sizeof(wr), "../x", 4, NULL, 0);
	ATF_CHECK_EQ(recv1(&w, &imsg), 0);
	close(w.ib.fd);
	imsgbuf_clear(&w.ib);
	ATF_REQUIRE(waitpid(w.pid, &status, 0) == w.pid);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, plots_pages);
	ATF_TP_ADD_TC(tp, plots_tampered);
	ATF_TP_ADD_TC(tp, files_special);
	ATF_TP_ADD_TC(tp, files_bad_name);
	return (atf_no_error());
}
