/*
 * Plots: what R code draws comes back with its execution's result.
 *
 * The default graphics device (options(device)) is a cairo PNG device
 * writing one file per page in a directory of R's tempdir.  It is opened
 * lazily, by R, when code first draws; the device function tells us
 * (securer_plots_opened), so an execution that draws nothing costs one
 * test of a flag.  At the end of an execution that opened it, the device
 * is closed (which writes the last page), each page's file is sent as an
 * IMSG_W_PLOT before the result, and the files are removed: every
 * execution starts with a fresh device.
 *
 * The directory is the sandboxed code's to tamper with: files are opened
 * with O_NOFOLLOW, must be regular and are read up to PLOT_SIZE_MAX
 * bytes.  What is over the worker's bounds is reported without its
 * bytes; the monitor applies the operator's caps.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#include <R_ext/Parse.h>

#define PLOTS_SUBDIR	"securer-plots"
#define DEVICES_MAX	64		/* R has at most 63 devices */

static uint64_t	warm_vm;	/* address space the warm-up took */

static struct {
	int	 opened;		/* our device was opened */
	int	 ndevs;
	int	 devs[DEVICES_MAX];	/* R's numbers for them */
} pl;

/*
 * The device: 7 x 7 inches at 96 dpi, as R's own png() default in size,
 * on a white background.  The template draws one page so that cairo,
 * fontconfig and the fonts are loaded before any worker is forked.
 */
static const char plots_rcode[] =
".plots_dir <- function() file.path(tempdir(), '" PLOTS_SUBDIR "')\n"
".plot_device <- function(...) {\n"
"    dir <- .plots_dir()\n"
"    if (!dir.exists(dir)) dir.create(dir, mode = '0700')\n"
"    grDevices::png(file.path(dir, 'plot-%03d.png'), width = 672L,\n"
"        height = 672L, res = 96, type = 'cairo', bg = 'white')\n"
"    .Call(securer_plots_opened, grDevices::dev.cur())\n"
"    invisible()\n"
"}\n"
".plots_close <- function(devs) {\n"
"    for (d in devs)\n"
"        if (d %in% grDevices::dev.list()) grDevices::dev.off(d)\n"
"    invisible()\n"
"}\n"
".plots_warm <- function() {\n"
"    f <- tempfile(fileext = '.png')\n"
"    grDevices::png(f, type = 'cairo')\n"
"    graphics::plot.new()\n"
"    graphics::text(0.5, 0.5, 'securer')\n"
"    grDevices::dev.off()\n"
"    unlink(f)\n"
"}\n";

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan builds (tests only): fontconfig keeps its caches until exit, which
 * LeakSanitizer would call leaks of the worker.
 */
const char	*__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return ("leak:libfontconfig.so\nleak:libcairo.so\n"
	    "leak:libpixman-1.so\nleak:libfreetype.so\n");
}
#endif

static int	plot_index(const char *);
static void	plot_send(int, uint32_t, int, int);
static void	plots_eval(const char *, SEXP);

/* The number of threads of this process, from /proc; 0 unknown. */
int
proc_threads(void)
{
	FILE	*fp;
	char	 line[128];
	int	 n = 0;

	if ((fp = fopen("/proc/self/status", "re")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(fp);
	return (n);
}

/*
 * Pango initialises fontconfig in a thread of its own, which may still be
 * ending (freeing, holding malloc's lock) when the warm-up returns.  A
 * worker cloned then would inherit the lock held and hang at its first
 * malloc: the template waits, once, at start-up, until it is alone.
 */
static void
wait_single_threaded(void)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 i;

	for (i = 0; i < 5000 && proc_threads() > 1; i++)
		nanosleep(&ts, NULL);
	if (proc_threads() > 1)
		fatalx("the PNG device left threads running in the template");
}

/* The process's address space in bytes (/proc/self/statm), 0 unknown. */
static uint64_t
vm_size(void)
{
	unsigned long long	 pages;
	FILE			*fp;
	int			 n;

	if ((fp = fopen("/proc/self/statm", "re")) == NULL)
		return (0);
	n = fscanf(fp, "%llu", &pages);
	fclose(fp);
	return (n == 1 ? pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0);
}

/* At R's start: the device's code, and the device the default. */
void
plots_init(void)
{
	plots_eval(plots_rcode, rembed_env());
	plots_eval("options(device = .plot_device)\n", rembed_env());
}

/*
 * In the template, once, after its first worker is spawned (so that the
 * daemon's first session does not wait for it): the device loaded.
 *
 * The first page costs a third of a second cold (cairo, pango,
 * fontconfig, the fonts), so it is drawn here once.  Pango initialises
 * fontconfig in a thread, which would get a malloc arena of its own
 * (64 MiB of address space): one arena for the time of the warm-up.
 * What the warm-up still maps (the libraries, ~40 MiB) is the template's,
 * not the sessions': plots_memory() adds it to their address-space limit.
 */
void
plots_warm(void)
{
	static int	done;
	SEXP		call;
	uint64_t	before, t0 = now_us();
	int		err;

	if (done)
		return;
	done = 1;
	mallopt(M_ARENA_MAX, 1);
	before = vm_size();
	call = PROTECT(Rf_lang1(rembed_fn(".plots_warm")));
	R_tryEval(call, rembed_env(), &err);
	if (err)
		log_warnx("the PNG device does not work: plots will fail");
	UNPROTECT(1);
	wait_single_threaded();
	if (before != 0 && vm_size() > before)
		warm_vm = vm_size() - before;
	mallopt(M_ARENA_MAX, 0);
	log_debug("PNG device loaded in %llu us, %llu KiB of address space",
	    (unsigned long long)(now_us() - t0),
	    (unsigned long long)(warm_vm / 1024));
}

/* A memory limit (RLIMIT_AS) with the warm-up's share added. */
uint64_t
plots_memory(uint64_t limit)
{
	if (limit == LIMIT_NONE || limit > LIMIT_NONE - warm_vm)
		return (limit);
	return (limit + warm_vm);
}

static void
plots_eval(const char *text, SEXP env)
{
	ParseStatus	 status;
	SEXP		 code, exprs;
	R_xlen_t	 i;
	int		 err;

	code = PROTECT(Rf_mkString(text));
	exprs = PROTECT(R_ParseVector(code, -1, &status, R_NilValue));
	if (status != PARSE_OK)
		fatalx("the plots' R code does not parse");
	for (i = 0; i < XLENGTH(exprs); i++) {
		R_tryEval(VECTOR_ELT(exprs, i), env, &err);
		if (err)
			fatalx("the plots' R code fails");
	}
	UNPROTECT(2);
}

/* .Call(securer_plots_opened, dev.cur()) from the device function. */
SEXP
plots_opened_call(SEXP dev)
{
	pl.opened = 1;
	if (pl.ndevs < DEVICES_MAX)
		pl.devs[pl.ndevs++] = Rf_asInteger(dev);
	return (R_NilValue);
}

/*
 * Before an execution's result or error: its pages, if it drew any.
 * Runs R code (dev.off); its errors are ignored, the pages written so
 * far still count.
 */
void
plots_collect(uint32_t exec_id)
{
	struct dirent	*de;
	DIR		*dir;
	SEXP		 devs, call;
	char		 path[4096];
	int		 i, n, fd, err, idx[PLOTS_LISTED_MAX];

	if (!pl.opened)
		return;
	devs = PROTECT(Rf_allocVector(INTSXP, pl.ndevs));
	for (i = 0; i < pl.ndevs; i++)
		INTEGER(devs)[i] = pl.devs[i];
	call = PROTECT(Rf_lang2(rembed_fn(".plots_close"), devs));
	R_tryEvalSilent(call, rembed_env(), &err);
	UNPROTECT(2);
	pl.opened = 0;
	pl.ndevs = 0;

	snprintf(path, sizeof(path), "%s/%s", rembed_tempdir(), PLOTS_SUBDIR);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	n = 0;
	while ((de = readdir(dir)) != NULL && n < PLOTS_LISTED_MAX)
		if ((idx[n] = plot_index(de->d_name)) > 0)
			n++;
	/* Few pages: an insertion sort by page number. */
	for (i = 1; i < n; i++) {
		int	j, v = idx[i];

		for (j = i; j > 0 && idx[j - 1] > v; j--)
			idx[j] = idx[j - 1];
		idx[j] = v;
	}
	for (i = 0; i < n; i++)
		plot_send(dirfd(dir), exec_id, idx[i], i < PLOTS_MAX);
	closedir(dir);
}

/* "plot-NNN.png" (the device's names) to NNN, else 0. */
static int
plot_index(const char *name)
{
	char	*end;
	long	 v;

	if (strncmp(name, "plot-", 5) != 0 || name[5] < '0' || name[5] > '9')
		return (0);
	v = strtol(name + 5, &end, 10);
	if (strcmp(end, ".png") != 0 || v < 1 || v > 999999)
		return (0);
	return ((int)v);
}

/* One page: its bytes if they fit the worker's bounds; then it goes. */
static void
plot_send(int dfd, uint32_t exec_id, int index, int send_bytes)
{
	struct stat	 st;
	char		 name[32], *buf = NULL;
	uint64_t	 size = 0;
	ssize_t		 n = 0;
	int		 fd, omitted = 1;

	snprintf(name, sizeof(name), "plot-%03d.png", index);
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		size = st.st_size;
		if (send_bytes && st.st_size <= PLOT_SIZE_MAX &&
		    (buf = malloc(st.st_size + 1)) != NULL) {
			n = pread(fd, buf, st.st_size + 1, 0);
			if (n == st.st_size)
				omitted = 0;
		}
	}
	if (fd != -1)
		close(fd);
	unlinkat(dfd, name, 0);
	worker_sent(msg_send_plot(worker_chan(), exec_id, index, omitted,
	    size, buf, omitted ? 0 : (size_t)n));
	free(buf);
}
