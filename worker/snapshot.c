/*
 * Hibernation, the worker's side: the session's state written into a
 * memfd the monitor made, and read back by a fresh worker of the same
 * owner from a sealed one.
 *
 * The state is one R object, R's own serialization (version 3) of
 * a list made here:
 *
 *	format		SNAP_FORMAT
 *	vars		the global environment's variables, all names (and
 *			so .Random.seed: the RNG stream goes on exactly)
 *	search		the attached packages, in search path order
 *	namespaces	the loaded namespaces
 *	wd		the working directory; relative: to HOME
 *	dirs		the directories under HOME (relative paths)
 *	files		its regular files: relative path -> raw bytes
 *
 * Symlinks and whatever is not a regular file or a directory are left
 * out, and so are R's tempdir (when it is under HOME) and an unfinished
 * upload.  Everything counts against max_bytes as it is written: the
 * snapshot stops at the first byte past it.
 *
 * A restore reads bytes that code of the session could have chosen.  R's
 * unserialize builds objects and runs nothing of them (no persistence
 * hook: a reference object is an error), and what restores them runs
 * nothing from the snapshot either: the variables are bound from C, the
 * packages' names are checked before library() sees them, files are
 * written beneath HOME only, by relative paths without "." or "..",
 * never through a symlink.  Its reader stops at the memfd's end (an R
 * error), and at a depth R's C stack would not survive.
 *
 * Either job ends with its reply, the worker's last act before it waits
 * for the next message (the broker stops it then: broker/rest.c); what
 * it used is freed or closed before it.
 */

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#include <R_ext/Parse.h>
#include <R_ext/Utils.h>

#define SNAP_FORMAT	"securer snapshot 1"
#define SNAP_BUF	(64 * 1024)	/* a write to the memfd */
#define SNAP_DEPTH	64		/* of directories below HOME */
#define HELD_BUDGET	(4L << 20)	/* objects looked into, in all */
#define HELD_DEPTH	256
#define TOO_LARGE_FSIZE	2		/* struct snap's too_large: RLIMIT_FSIZE */
#define TOOLS_ENV	"tools:securer"	/* rembed.c's, made by setup */

enum { E_FORMAT, E_VARS, E_SEARCH, E_NAMESPACES, E_WD, E_DIRS, E_FILES,
	E_N };
static const char *elt_names[E_N] = {
	"format", "vars", "search", "namespaces", "wd", "dirs", "files",
};

enum held { HELD_NONE, HELD_CONN, HELD_XPTR };

/* What the reply says besides its status: "heading: a (why), b; ..." */
struct note {
	char		 buf[SNAP_NOTE_MAX + 1];
	size_t		 len;
	const char	*heading;	/* of the last item */
	int		 full;
};

struct tree;

/* A character vector or list that grows (PROTECT_WITH_INDEX). */
struct acc {
	SEXP		 v;
	PROTECT_INDEX	 pi;
	R_xlen_t	 n;
};

struct snap {
	int		 fd;		/* the memfd */
	uint64_t	 max;		/* write: max_bytes */
	uint64_t	 count;		/* write: taken; restore: size */
	uint64_t	 written;	/* write: in the memfd */
	uint64_t	 tree;		/* write: the files' least cost */
	unsigned char	*buf;		/* SNAP_BUF */
	size_t		 len;		/* in buf */
	size_t		 pos;		/* restore: buf's start */
	uint64_t	 off;		/* restore: taken by R */
	int		 too_large;
	int		 failed;	/* an R error, in err */
	char		 err[SNAP_NOTE_MAX + 1];
	struct note	 note;
	struct tree	*walk;		/* write: the walk's */
	DIR		*dirs[SNAP_DEPTH + 1];	/* open in the walk */
	int		 ndirs;
	int		 file;		/* being read, or -1 */
	struct stat	 tmp;		/* R's tempdir */
	int		 home;		/* restore: HOME, or -1 */
	long		 budget;	/* objects to look into (held_in) */
};

/* The directory walk's results. */
struct tree {
	struct acc	 dirs;
	struct acc	 names;
	struct acc	 files;
	char		 path[PATH_MAX];
};

/*
 * The packages of a snapshot, attached in the order of its search path
 * (library() puts each above those before it, so the last first) after
 * those it does not have are detached; then the namespaces it had
 * loaded.  Returns the names of those that failed.
 */
static const char rcode[] =
"function(attached, loaded) {\n"
"    ok <- function(expr) tryCatch({\n"
"        suppressWarnings(suppressMessages(expr))\n"
"        TRUE\n"
"    }, error = function(e) FALSE)\n"
"    now <- function()\n"
"        sub('^package:', '', grep('^package:', search(), value = TRUE))\n"
"    failed <- character(0)\n"
"    for (p in setdiff(now(), c(attached, 'base')))\n"
"        ok(detach(paste0('package:', p), character.only = TRUE))\n"
"    for (p in rev(attached))\n"
"        if (!(p %in% now()) && !ok(library(p, character.only = TRUE,\n"
"            quietly = TRUE, warn.conflicts = FALSE)))\n"
"            failed <- c(failed, p)\n"
"    for (n in setdiff(loaded, loadedNamespaces()))\n"
"        if (!ok(loadNamespace(n))) failed <- c(failed, n)\n"
"    unique(failed)\n"
"}\n";

static void	snap_init(struct snap *, int);
static void	snap_run(struct snap *, SEXP (*)(void *));
static void	snap_body(void *);
static SEXP	snap_caught(SEXP, void *);
static void	snap_cleanup(struct snap *);
static void	snap_reply(uint32_t, enum w_snap_status, uint64_t,
		    const char *);
static SEXP	write_body(void *);
static SEXP	write_vars(struct snap *);
static SEXP	write_search(struct snap *);
static SEXP	write_wd(void);
static void	write_tree(struct snap *, SEXP);
static void	tree_dir(struct snap *, struct tree *, int, size_t, int);
static void	tree_entry(struct snap *, struct tree *, int, size_t, int);
static void	tree_file(struct snap *, struct tree *, int, const char *);
static void	tree_cost(struct snap *, uint64_t);
static void	put_bytes(R_outpstream_t, void *, int);
static void	put_char(R_outpstream_t, int);
static void	put_flush(struct snap *);
static void	put_write(struct snap *, const void *, size_t);
static SEXP	restore_body(void *);
static void	restore_elements(SEXP, SEXP *);
static void	restore_files(struct snap *, SEXP, SEXP);
static int	restore_dir(int, const char *, int);
static int	restore_file(int, const char *, SEXP);
static void	restore_wd(struct snap *, SEXP);
static void	restore_packages(struct snap *, SEXP, SEXP);
static SEXP	package_names(struct snap *, SEXP);
static void	restore_vars(struct snap *, SEXP);
static int	get_char(R_inpstream_t);
static void	get_bytes(R_inpstream_t, void *, int);
static void	get_read(struct snap *, void *, size_t, uint64_t);
static int	rel_path_ok(const char *);
static enum held held_top(struct snap *, SEXP);
static enum held held_in(SEXP, long *, int);
static enum held held_env(SEXP, long *, int);
static void	note_held(struct snap *, const char *, const char *, SEXP);
static void	note_add(struct note *, const char *, const char *,
		    const char *);
static void	acc_init(struct acc *, SEXPTYPE);
static void	acc_add(struct acc *, SEXP);
static SEXP	acc_done(struct acc *);
static int	has_class(SEXP, const char *);
static const char *cond_message(SEXP);
static SEXP	packages_fn(void);

/*
 * IMSG_W_SNAPSHOT: the state into fd, at most max_bytes of it.  A
 * snapshot that failed leaves the memfd empty, its memory given back.
 */
void
snapshot_write(int fd, uint64_t max_bytes)
{
	struct snap		 s;
	enum w_snap_status	 st = WSNAP_OK;
	uint64_t		 t0 = now_us();
	struct rlimit		 rl;
	char			 why[96];
	const char		*note;

	snap_init(&s, fd);
	s.max = max_bytes;
	if (fd == -1) {
		snap_reply(IMSG_W_SNAPSHOT_DONE, WSNAP_FAILED, 0,
		    "no memfd came with the request");
		return;
	}
	if ((s.buf = malloc(SNAP_BUF)) == NULL)
		fatal("%s", __func__);
	if (stat(rembed_tempdir(), &s.tmp) == -1)
		memset(&s.tmp, 0, sizeof(s.tmp));
	snap_run(&s, write_body);
	free(s.buf);
	note = s.note.buf;
	if (s.too_large == TOO_LARGE_FSIZE) {
		st = WSNAP_TOO_LARGE;
		if (getrlimit(RLIMIT_FSIZE, &rl) == -1)
			rl.rlim_cur = 0;
		snprintf(why, sizeof(why), "the state is over the session's "
		    "fsize limit (%llu bytes)", (unsigned long long)rl.rlim_cur);
		note = why;
	} else if (s.too_large) {
		st = WSNAP_TOO_LARGE;
		snprintf(why, sizeof(why), "the state is over snapshot-size "
		    "(%llu bytes)", (unsigned long long)max_bytes);
		note = why;
	} else if (s.failed) {
		st = WSNAP_FAILED;
		note = s.err;
	}
	if (st != WSNAP_OK && ftruncate(fd, 0) == -1)
		log_warn("snapshot: ftruncate");
	close(fd);
	log_debug("snapshot: status %d, %llu bytes in %llu us", st,
	    (unsigned long long)s.count,
	    (unsigned long long)(now_us() - t0));
	snap_reply(IMSG_W_SNAPSHOT_DONE, st, s.count, note);
}

/*
 * IMSG_W_RESTORE: the state in fd, exactly bytes of it, taken on.  It
 * is read, not mapped: R's reader asks for a vector's bytes into the
 * vector itself, and a read fills it in the kernel, where a copy from a
 * mapping takes a fault on every page of both.
 */
void
snapshot_restore(int fd, uint64_t bytes)
{
	struct snap	 s;
	struct stat	 sb;
	uint64_t	 t0 = now_us();
	int		 seals;

	snap_init(&s, fd);
	s.count = bytes;
	if (fd == -1)
		s.failed = snprintf(s.err, sizeof(s.err), "no memfd came with "
		    "the request");
	else if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode))
		s.failed = snprintf(s.err, sizeof(s.err), "the snapshot is "
		    "not a file");
	else if ((uint64_t)sb.st_size != bytes || bytes == 0)
		s.failed = snprintf(s.err, sizeof(s.err), "the snapshot holds "
		    "%lld bytes, not %llu", (long long)sb.st_size,
		    (unsigned long long)bytes);
	/* What the broker checked must be what is read. */
	else if ((seals = fcntl(fd, F_GET_SEALS)) == -1 ||
	    (seals & (F_SEAL_WRITE | F_SEAL_SHRINK)) !=
	    (F_SEAL_WRITE | F_SEAL_SHRINK))
		s.failed = snprintf(s.err, sizeof(s.err), "the snapshot's "
		    "memfd is not sealed");
	if (s.failed) {
		if (fd != -1)
			close(fd);
		snap_reply(IMSG_W_RESTORED, WSNAP_FAILED, 0, s.err);
		return;
	}
	if ((s.buf = malloc(SNAP_BUF)) == NULL)
		fatal("%s", __func__);
	s.home = files_home_open();
	snap_run(&s, restore_body);
	free(s.buf);
	close(fd);
	if (s.home != -1)
		close(s.home);
	log_debug("restore: %s, %llu bytes in %llu us", s.failed ? "failed" :
	    "done", (unsigned long long)bytes,
	    (unsigned long long)(now_us() - t0));
	snap_reply(IMSG_W_RESTORED, s.failed ? WSNAP_FAILED : WSNAP_OK,
	    bytes, s.failed ? s.err : s.note.buf);
}

static void
snap_init(struct snap *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->file = -1;
	s->home = -1;
	s->budget = HELD_BUDGET;
}

/*
 * body under R_tryCatchError (an R error: its message in err), under
 * R_ToplevelExec (any other jump to the top level stops here too).
 */
struct snap_call {
	struct snap	*s;
	SEXP		(*body)(void *);
};

static void
snap_run(struct snap *s, SEXP (*body)(void *))
{
	struct snap_call	c = { s, body };

	if (!R_ToplevelExec(snap_body, &c) && !s->failed) {
		s->failed = 1;
		strlcpy(s->err, "interrupted by a jump to the top level",
		    sizeof(s->err));
	}
	snap_cleanup(s);
}

static void
snap_body(void *arg)
{
	struct snap_call	*c = arg;

	R_tryCatchError(c->body, c->s, snap_caught, c->s);
}

static SEXP
snap_caught(SEXP cond, void *arg)
{
	struct snap	*s = arg;

	s->failed = 1;
	strlcpy(s->err, cond_message(cond), sizeof(s->err));
	return (R_NilValue);
}

/* What an R error may have left open. */
static void
snap_cleanup(struct snap *s)
{
	while (s->ndirs > 0)
		closedir(s->dirs[--s->ndirs]);
	if (s->file != -1) {
		close(s->file);
		s->file = -1;
	}
	free(s->walk);
	s->walk = NULL;
}

/* The job's end: a note fit to send, then nothing but the reply. */
static void
snap_reply(uint32_t type, enum w_snap_status st, uint64_t bytes,
    const char *text)
{
	static char	 note[SNAP_NOTE_MAX + 1];
	char		*t;
	size_t		 len;

	t = w_text(text, strlen(text), SNAP_NOTE_MAX, &len);
	memcpy(note, t, len);
	free(t);
	worker_sent(msg_send_snap_done(worker_chan(), type, st, bytes, note,
	    len));
}

/* The state's list, serialized into the memfd as it is made. */
static SEXP
write_body(void *arg)
{
	struct snap		*s = arg;
	struct R_outpstream_st	 out;
	SEXP			 x, names;
	int			 i;

	x = PROTECT(Rf_allocVector(VECSXP, E_N));
	names = PROTECT(Rf_allocVector(STRSXP, E_N));
	for (i = 0; i < E_N; i++)
		SET_STRING_ELT(names, i, Rf_mkChar(elt_names[i]));
	Rf_setAttrib(x, R_NamesSymbol, names);
	SET_VECTOR_ELT(x, E_FORMAT, Rf_mkString(SNAP_FORMAT));
	SET_VECTOR_ELT(x, E_VARS, write_vars(s));
	SET_VECTOR_ELT(x, E_SEARCH, write_search(s));
	SET_VECTOR_ELT(x, E_NAMESPACES, R_lsInternal3(R_NamespaceRegistry,
	    TRUE, FALSE));
	SET_VECTOR_ELT(x, E_WD, write_wd());
	write_tree(s, x);
	R_InitOutPStream(&out, (R_pstream_data_t)s, R_pstream_binary_format, 3,
	    put_char, put_bytes, NULL, R_NilValue);
	R_Serialize(x, &out);
	put_flush(s);
	UNPROTECT(2);
	return (R_NilValue);
}

/*
 * Every variable of the global environment by its value: a promise is
 * forced, an active binding read (the code's own, in its own sandbox).
 */
static SEXP
write_vars(struct snap *s)
{
	SEXP		 names, vals, v;
	R_xlen_t	 i;

	names = PROTECT(R_lsInternal3(R_GlobalEnv, TRUE, TRUE));
	vals = PROTECT(Rf_allocVector(VECSXP, XLENGTH(names)));
	for (i = 0; i < XLENGTH(names); i++) {
		v = Rf_findVarInFrame(R_GlobalEnv,
		    Rf_installChar(STRING_ELT(names, i)));
		if (TYPEOF(v) == PROMSXP)
			v = Rf_eval(v, R_GlobalEnv);
		if (v == R_UnboundValue)	/* gone meanwhile */
			v = R_NilValue;
		SET_VECTOR_ELT(vals, i, v);
		note_held(s, "not restorable",
		    CHAR(STRING_ELT(names, i)), v);
	}
	Rf_setAttrib(vals, R_NamesSymbol, names);
	UNPROTECT(2);
	return (vals);
}

/* The packages of the search path, the first above the others. */
static SEXP
write_search(struct snap *s)
{
	struct acc	 a;
	SEXP		 env, name;
	const char	*n;

	acc_init(&a, STRSXP);
	for (env = ENCLOS(R_GlobalEnv); env != R_EmptyEnv;
	    env = ENCLOS(env)) {
		if (env == R_BaseEnv) {
			acc_add(&a, Rf_mkChar("base"));
			continue;
		}
		name = Rf_getAttrib(env, R_NameSymbol);
		n = TYPEOF(name) == STRSXP && XLENGTH(name) > 0 &&
		    STRING_ELT(name, 0) != NA_STRING ?
		    CHAR(STRING_ELT(name, 0)) : "";
		if (strncmp(n, "package:", 8) == 0)
			acc_add(&a, Rf_mkChar(n + 8));
		else if (strcmp(n, TOOLS_ENV) != 0 &&
		    strcmp(n, "Autoloads") != 0)
			note_add(&s->note, "not restorable", n[0] != '\0' ?
			    n : "(unnamed)", "attached, not a package");
	}
	env = acc_done(&a);
	UNPROTECT(1);
	return (env);
}

/* The working directory, relative to HOME if it is in it; NA if none. */
static SEXP
write_wd(void)
{
	const char	*home = files_home();
	char		 wd[PATH_MAX];
	size_t		 hl = strlen(home);

	if (getcwd(wd, sizeof(wd)) == NULL)
		return (Rf_ScalarString(NA_STRING));
	if (strncmp(wd, home, hl) == 0 && wd[hl] == '\0')
		return (Rf_mkString("."));
	if (strncmp(wd, home, hl) == 0 && wd[hl] == '/' && wd[hl + 1] != '\0')
		return (Rf_mkString(wd + hl + 1));
	return (Rf_mkString(wd));
}

/* The tree under HOME: x's dirs and files. */
static void
write_tree(struct snap *s, SEXP x)
{
	struct tree	*t;
	SEXP		 files;
	int		 hfd;

	/* PATH_MAX of it: not on a stack that R measures; freed after. */
	if ((t = s->walk = calloc(1, sizeof(*t))) == NULL)
		fatal("%s", __func__);
	acc_init(&t->dirs, STRSXP);
	acc_init(&t->names, STRSXP);
	acc_init(&t->files, VECSXP);
	if ((hfd = files_home_open()) == -1)
		note_add(&s->note, "files left out", "HOME", strerror(errno));
	else
		tree_dir(s, t, hfd, 0, 0);
	SET_VECTOR_ELT(x, E_DIRS, acc_done(&t->dirs));
	files = acc_done(&t->files);
	SET_VECTOR_ELT(x, E_FILES, files);
	Rf_setAttrib(files, R_NamesSymbol, acc_done(&t->names));
	UNPROTECT(3);
}

/*
 * The directory open on fd (ours now), whose path is t->path's first
 * plen bytes (none: HOME itself).  Its DIR is in s->dirs while it is
 * read, so that an R error (memory) does not leave it open.
 */
static void
tree_dir(struct snap *s, struct tree *t, int fd, size_t plen, int depth)
{
	struct dirent	*de;
	DIR		*d;

	if ((d = fdopendir(fd)) == NULL) {
		note_add(&s->note, "files left out", t->path, strerror(errno));
		close(fd);
		return;
	}
	s->dirs[s->ndirs++] = d;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (depth == 0 && strcmp(de->d_name, FILES_PARTIAL) == 0))
			continue;
		if (plen + (plen > 0) + strlen(de->d_name) >=
		    sizeof(t->path)) {
			note_add(&s->note, "files left out", de->d_name,
			    "path too long");
			continue;
		}
		snprintf(t->path + plen, sizeof(t->path) - plen, "%s%s",
		    plen > 0 ? "/" : "", de->d_name);
		tree_entry(s, t, dirfd(d), plen, depth);
		t->path[plen] = '\0';
	}
	closedir(d);
	s->dirs[--s->ndirs] = NULL;
}

/* t->path, in the directory dfd whose own path is plen bytes of it. */
static void
tree_entry(struct snap *s, struct tree *t, int dfd, size_t plen,
    int depth)
{
	struct stat	 sb;
	const char	*name = t->path + plen + (plen > 0);
	int		 fd;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		note_add(&s->note, "files left out", t->path,
		    strerror(errno));
		return;
	}
	if (S_ISREG(sb.st_mode)) {
		tree_file(s, t, dfd, name);
		return;
	}
	if (!S_ISDIR(sb.st_mode) || (sb.st_dev == s->tmp.st_dev &&
	    sb.st_ino == s->tmp.st_ino))
		return;
	if (depth + 1 >= SNAP_DEPTH) {
		note_add(&s->note, "files left out", t->path, "too deep");
		return;
	}
	/* A string in the serialization: 8 bytes and its own. */
	tree_cost(s, 8 + strlen(t->path));
	acc_add(&t->dirs, Rf_mkChar(t->path));
	/* No R error until tree_dir() holds it. */
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		note_add(&s->note, "files left out", t->path,
		    strerror(errno));
		return;
	}
	tree_dir(s, t, fd, strlen(t->path), depth + 1);
}

/* A regular file's bytes, read as a raw vector. */
static void
tree_file(struct snap *s, struct tree *t, int dfd, const char *name)
{
	struct stat	 sb;
	SEXP		 raw;
	size_t		 got;
	ssize_t		 n;

	/* O_NONBLOCK: what is no longer a file must not hang us. */
	if ((s->file = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1 || fstat(s->file, &sb) == -1 ||
	    !S_ISREG(sb.st_mode)) {
		if (s->file == -1)
			note_add(&s->note, "files left out", t->path,
			    strerror(errno));
		goto done;
	}
	/* Its path and bytes, 16 more for the two headers. */
	tree_cost(s, 16 + strlen(t->path) + (uint64_t)sb.st_size);
	raw = PROTECT(Rf_allocVector(RAWSXP, sb.st_size));
	for (got = 0; got < (size_t)sb.st_size; got += n)
		if ((n = read(s->file, RAW(raw) + got, sb.st_size -
		    got)) <= 0) {
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			break;
		}
	if (got < (size_t)sb.st_size)		/* it shrank */
		raw = Rf_xlengthgets(raw, got);
	acc_add(&t->files, raw);
	acc_add(&t->names, Rf_mkChar(t->path));
	UNPROTECT(1);
done:
	if (s->file != -1)
		close(s->file);
	s->file = -1;
}

/* Files past max_bytes would make a snapshot past it: stop now. */
static void
tree_cost(struct snap *s, uint64_t n)
{
	if (n > s->max || s->tree > s->max - n) {
		s->too_large = 1;
		Rf_error("the files are over %llu bytes",
		    (unsigned long long)s->max);
	}
	s->tree += n;
}

/*
 * R's serializer writes here: buffered into the memfd, and an R error
 * at the first byte past max_bytes.
 */
static void
put_bytes(R_outpstream_t stream, void *p, int n)
{
	struct snap	*s = stream->data;

	if (n <= 0)
		return;
	if ((uint64_t)n > s->max - s->count) {
		s->too_large = 1;
		Rf_error("the state is over %llu bytes",
		    (unsigned long long)s->max);
	}
	s->count += n;
	if (s->len + n > SNAP_BUF)
		put_flush(s);
	if (n >= SNAP_BUF)
		put_write(s, p, n);
	else {
		memcpy(s->buf + s->len, p, n);
		s->len += n;
	}
}

static void
put_char(R_outpstream_t stream, int c)
{
	unsigned char	b = c;

	put_bytes(stream, &b, 1);
}

static void
put_flush(struct snap *s)
{
	put_write(s, s->buf, s->len);
	s->len = 0;
}

/* At the memfd's end: nothing else writes it. */
static void
put_write(struct snap *s, const void *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = pwrite(s->fd, p, n, s->written)) == -1 &&
		    errno == EINTR)
			continue;
		/* A memfd is a file: the session's fsize limit holds. */
		if (w == -1 && errno == EFBIG)
			s->too_large = TOO_LARGE_FSIZE;
		if (w <= 0)
			Rf_error("the snapshot could not be written: %s",
			    w == -1 ? strerror(errno) : "no room");
		p = (const char *)p + w;
		n -= w;
		s->written += w;
	}
}

/*
 * The snapshot, read and taken on: the files first,
 * then the working directory and the packages (R code of ours, run
 * while the global environment is still the fresh worker's own, with
 * nothing of the snapshot's in it to dispatch to), the variables last.
 */
static SEXP
restore_body(void *arg)
{
	struct snap		*s = arg;
	struct R_inpstream_st	 in;
	SEXP			 x, elts[E_N];

	R_InitInPStream(&in, (R_pstream_data_t)s, R_pstream_any_format,
	    get_char, get_bytes, NULL, R_NilValue);
	x = PROTECT(R_Unserialize(&in));
	if (s->off != s->count)
		Rf_error("the snapshot has %llu bytes past its end",
		    (unsigned long long)(s->count - s->off));
	restore_elements(x, elts);
	restore_files(s, elts[E_DIRS], elts[E_FILES]);
	restore_wd(s, elts[E_WD]);
	restore_packages(s, elts[E_SEARCH], elts[E_NAMESPACES]);
	restore_vars(s, elts[E_VARS]);
	UNPROTECT(1);
	return (R_NilValue);
}

/*
 * x's elements by name, each of the type it must have, or an R error:
 * whatever made the bytes, only what is shaped like a snapshot is used.
 */
static void
restore_elements(SEXP x, SEXP *elts)
{
	static const SEXPTYPE	 types[E_N] = {
		STRSXP, VECSXP, STRSXP, STRSXP, STRSXP, STRSXP, VECSXP
	};
	SEXP			 names, n;
	R_xlen_t		 i;
	int			 e;

	if (TYPEOF(x) != VECSXP ||
	    TYPEOF(names = Rf_getAttrib(x, R_NamesSymbol)) != STRSXP ||
	    XLENGTH(names) != XLENGTH(x))
		Rf_error("not a snapshot");
	for (e = 0; e < E_N; e++) {
		elts[e] = NULL;
		for (i = 0; i < XLENGTH(x); i++)
			if (strcmp(CHAR(STRING_ELT(names, i)),
			    elt_names[e]) == 0)
				elts[e] = VECTOR_ELT(x, i);
		if (elts[e] == NULL || TYPEOF(elts[e]) != types[e])
			Rf_error("not a snapshot (its %s)", elt_names[e]);
	}
	if (XLENGTH(elts[E_FORMAT]) != 1 || STRING_ELT(elts[E_FORMAT], 0) ==
	    NA_STRING || strcmp(CHAR(STRING_ELT(elts[E_FORMAT], 0)),
	    SNAP_FORMAT) != 0)
		Rf_error("not a snapshot of this format");
	if (XLENGTH(elts[E_WD]) != 1)
		Rf_error("not a snapshot (its wd)");
	for (e = E_VARS; e <= E_FILES; e += E_FILES - E_VARS) {
		n = Rf_getAttrib(elts[e], R_NamesSymbol);
		if (XLENGTH(elts[e]) > 0 && (TYPEOF(n) != STRSXP ||
		    XLENGTH(n) != XLENGTH(elts[e])))
			Rf_error("not a snapshot (the names of its %s)",
			    elt_names[e]);
	}
}

/* The directories, then the files, beneath HOME. */
static void
restore_files(struct snap *s, SEXP dirs, SEXP files)
{
	SEXP		 names = Rf_getAttrib(files, R_NamesSymbol);
	const char	*p;
	R_xlen_t	 i;

	if (s->home == -1 && (XLENGTH(dirs) > 0 || XLENGTH(files) > 0)) {
		note_add(&s->note, "files not written", "all",
		    "HOME cannot be opened");
		return;
	}
	for (i = 0; i < XLENGTH(dirs); i++) {
		p = STRING_ELT(dirs, i) == NA_STRING ? "NA" :
		    CHAR(STRING_ELT(dirs, i));
		if (!rel_path_ok(p))
			note_add(&s->note, "files not written", p,
			    "not a path beneath HOME");
		else if (restore_dir(s->home, p, 1) == -1)
			note_add(&s->note, "files not written", p,
			    strerror(errno));
	}
	for (i = 0; i < XLENGTH(files); i++) {
		p = STRING_ELT(names, i) == NA_STRING ? "NA" :
		    CHAR(STRING_ELT(names, i));
		if (!rel_path_ok(p) || TYPEOF(VECTOR_ELT(files, i)) != RAWSXP)
			note_add(&s->note, "files not written", p,
			    "not a path beneath HOME, or not bytes");
		else if (restore_file(s->home, p, VECTOR_ELT(files, i)) == -1)
			note_add(&s->note, "files not written", p,
			    strerror(errno));
	}
}

/*
 * The directory of path (a checked relative one) beneath hfd, made as
 * needed, without following a symlink: with all, path itself (0), else
 * the one its last component is in (an fd).  -1 with errno if not.
 */
static int
restore_dir(int hfd, const char *path, int all)
{
	char	 buf[PATH_MAX], *p, *next;
	int	 fd, nfd, e;

	strlcpy(buf, path, sizeof(buf));
	if ((fd = dup(hfd)) == -1)
		return (-1);
	for (p = buf; p != NULL; p = next) {
		if ((next = strchr(p, '/')) != NULL)
			*next++ = '\0';
		else if (!all)
			return (fd);
		if (mkdirat(fd, p, 0700) == -1 && errno != EEXIST)
			nfd = -1;
		else
			nfd = openat(fd, p, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(fd);
		errno = e;
		if ((fd = nfd) == -1)
			return (-1);
	}
	close(fd);
	return (0);
}

/* A file's bytes, at path beneath hfd: 0, or -1 with errno. */
static int
restore_file(int hfd, const char *path, SEXP raw)
{
	const char	*last = strrchr(path, '/');
	size_t		 off, len = XLENGTH(raw);
	ssize_t		 n;
	int		 dfd, fd, e;

	if ((dfd = restore_dir(hfd, path, 0)) == -1)
		return (-1);
	last = last != NULL ? last + 1 : path;
	fd = openat(dfd, last, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
	e = errno;
	close(dfd);
	if (fd == -1) {
		errno = e;
		return (-1);
	}
	for (off = 0; off < len; off += n)
		if ((n = write(fd, RAW(raw) + off, len - off)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			e = errno;
			close(fd);
			errno = e;
			return (-1);
		}
	return (close(fd));
}

/* Relative to HOME, or where it was if it exists here too. */
static void
restore_wd(struct snap *s, SEXP wd)
{
	char		 path[PATH_MAX];
	const char	*p;

	if (STRING_ELT(wd, 0) == NA_STRING)
		return;
	p = CHAR(STRING_ELT(wd, 0));
	if (strcmp(p, ".") == 0)
		strlcpy(path, files_home(), sizeof(path));
	else if (p[0] == '/')
		strlcpy(path, p, sizeof(path));
	else if (!rel_path_ok(p) || (size_t)snprintf(path, sizeof(path),
	    "%s/%s", files_home(), p) >= sizeof(path)) {
		note_add(&s->note, "working directory not restored", p,
		    "not a path beneath HOME");
		return;
	}
	if (chdir(path) == -1)
		note_add(&s->note, "working directory not restored", p,
		    strerror(errno));
}

/* The packages' names checked; then our R code attaches and loads. */
static void
restore_packages(struct snap *s, SEXP search, SEXP ns)
{
	SEXP		 attached, loaded, call, failed;
	R_xlen_t	 i;

	attached = PROTECT(package_names(s, search));
	loaded = PROTECT(package_names(s, ns));
	call = PROTECT(Rf_lang3(packages_fn(), attached, loaded));
	failed = PROTECT(Rf_eval(call, R_BaseEnv));
	if (TYPEOF(failed) == STRSXP)
		for (i = 0; i < XLENGTH(failed); i++)
			note_add(&s->note, "packages not loaded",
			    CHAR(STRING_ELT(failed, i)), NULL);
	UNPROTECT(4);
}

/*
 * A new character vector of x's names that can be packages' (letters,
 * digits and dots, a letter first): nothing else reaches library().
 */
static SEXP
package_names(struct snap *s, SEXP x)
{
	struct acc	 a;
	const char	*p;
	R_xlen_t	 i;
	size_t		 len;

	acc_init(&a, STRSXP);
	for (i = 0; i < XLENGTH(x); i++) {
		p = STRING_ELT(x, i) == NA_STRING ? "" :
		    CHAR(STRING_ELT(x, i));
		len = strlen(p);
		if (len > 0 && len < PACKAGE_NAME_MAX &&
		    ((p[0] >= 'a' && p[0] <= 'z') ||
		    (p[0] >= 'A' && p[0] <= 'Z')) &&
		    strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") == len)
			acc_add(&a, Rf_mkChar(p));
		else
			note_add(&s->note, "packages not loaded", p,
			    "not a package name");
	}
	x = acc_done(&a);
	UNPROTECT(1);
	return (x);
}

/*
 * Each variable bound in the global environment from C: no R code runs
 * that could dispatch to a function the snapshot brought.  A promise is
 * never bound (the snapshot forced them all: one is code to run).
 */
static void
restore_vars(struct snap *s, SEXP vars)
{
	SEXP		 names = Rf_getAttrib(vars, R_NamesSymbol), v;
	const char	*n;
	R_xlen_t	 i;

	for (i = 0; i < XLENGTH(vars); i++) {
		n = STRING_ELT(names, i) == NA_STRING ? "" :
		    CHAR(STRING_ELT(names, i));
		v = VECTOR_ELT(vars, i);
		if (n[0] == '\0' || TYPEOF(v) == PROMSXP ||
		    v == R_UnboundValue) {
			note_add(&s->note, "variables not restored",
			    n[0] != '\0' ? n : "(no name)", NULL);
			continue;
		}
		Rf_defineVar(Rf_installChar(STRING_ELT(names, i)), v,
		    R_GlobalEnv);
	}
	for (i = 0; i < XLENGTH(vars); i++)
		if (STRING_ELT(names, i) != NA_STRING)
			note_held(s, "dead values",
			    CHAR(STRING_ELT(names, i)), VECTOR_ELT(vars, i));
}

/*
 * R's unserializer reads here: never past the snapshot's end, and an R
 * error before R's C stack runs out (its reader recurses into what it
 * reads, as deep as the bytes say).  Small reads come from buf, a
 * vector's bytes straight from the memfd.
 */
static void
get_bytes(R_inpstream_t stream, void *p, int n)
{
	struct snap	*s = stream->data;
	size_t		 k;

	R_CheckStack();
	if (n < 0 || (uint64_t)n > s->count - s->off)
		Rf_error("the snapshot ends early");
	while (n > 0) {
		if (s->len == 0 && n >= SNAP_BUF) {
			get_read(s, p, n, s->off);
			s->off += n;
			return;
		}
		if (s->len == 0) {
			k = s->count - s->off < SNAP_BUF ?
			    s->count - s->off : SNAP_BUF;
			get_read(s, s->buf, k, s->off);
			s->pos = 0;
			s->len = k;
		}
		k = (size_t)n < s->len ? (size_t)n : s->len;
		memcpy(p, s->buf + s->pos, k);
		p = (char *)p + k;
		n -= k;
		s->pos += k;
		s->len -= k;
		s->off += k;
	}
}

static int
get_char(R_inpstream_t stream)
{
	unsigned char	c;

	get_bytes(stream, &c, 1);
	return (c);
}

/* n bytes at off of the memfd, which holds them (it is sealed). */
static void
get_read(struct snap *s, void *p, size_t n, uint64_t off)
{
	ssize_t	 r;

	while (n > 0) {
		if ((r = pread(s->fd, p, n, off)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			Rf_error("the snapshot could not be read: %s",
			    r == -1 ? strerror(errno) : "it is shorter");
		p = (char *)p + r;
		n -= r;
		off += r;
	}
}

/* Relative, below where it starts: no empty, "." or ".." component. */
static int
rel_path_ok(const char *p)
{
	size_t	 n;

	if (p[0] == '/' || p[0] == '\0' || strlen(p) >= PATH_MAX)
		return (0);
	for (;;) {
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return (0);
		if (p[n] == '\0')
			return (1);
		p += n + 1;
	}
}

/*
 * Whether x is, or holds, a connection or an external pointer; of the
 * objects it takes, the job's budget (cycles are walked till it ends).
 */
static enum held
held_top(struct snap *s, SEXP x)
{
	return (held_in(x, &s->budget, 0));
}

/*
 * Looked for without running anything: no active binding is read, no
 * promise forced, no method dispatched.  A walk bounded in depth and in
 * objects (a cycle of environments ends there).
 */
static enum held
held_in(SEXP x, long *budget, int depth)
{
	enum held	 h = HELD_NONE;
	SEXP		 a;
	R_xlen_t	 i;

	if (--*budget < 0 || depth > HELD_DEPTH)
		return (HELD_NONE);
	if (has_class(x, "connection"))
		return (HELD_CONN);
	switch (TYPEOF(x)) {
	case EXTPTRSXP:
		return (HELD_XPTR);
	case VECSXP:
	case EXPRSXP:
		for (i = 0; i < XLENGTH(x) && h == HELD_NONE; i++)
			h = held_in(VECTOR_ELT(x, i), budget, depth + 1);
		break;
	case LISTSXP:
		for (a = x; TYPEOF(a) == LISTSXP && h == HELD_NONE;
		    a = CDR(a))
			h = held_in(CAR(a), budget, depth + 1);
		break;
	case CLOSXP:
		h = held_in(CLOENV(x), budget, depth + 1);
		break;
	case ENVSXP:
		h = held_env(x, budget, depth);
		break;
	default:
		break;
	}
	for (a = ATTRIB(x); a != R_NilValue && h == HELD_NONE; a = CDR(a))
		h = held_in(CAR(a), budget, depth + 1);
	return (h);
}

/*
 * An environment's bindings; those that serialize as references (the
 * global one, namespaces, packages) are not the variable's.  Whether it
 * is a namespace is whether it has the binding, not what it reads
 * (R_IsNamespaceEnv() would call an active binding).  A user database
 * is not looked into: its table is C code (and, unserialized, a null
 * pointer).
 */
static enum held
held_env(SEXP env, long *budget, int depth)
{
	enum held	 h = HELD_NONE;
	SEXP		 names, sym, v;
	R_xlen_t	 i;

	if (env == R_GlobalEnv || env == R_BaseEnv || env == R_EmptyEnv ||
	    env == R_BaseNamespace || R_IsPackageEnv(env) ||
	    R_existsVarInFrame(env, Rf_install(".__NAMESPACE__.")) ||
	    has_class(env, "UserDefinedDatabase"))
		return (HELD_NONE);
	names = PROTECT(R_lsInternal3(env, TRUE, FALSE));
	for (i = 0; i < XLENGTH(names) && h == HELD_NONE; i++) {
		sym = Rf_installChar(STRING_ELT(names, i));
		if (R_BindingIsActive(sym, env))
			continue;
		v = Rf_findVarInFrame(env, sym);
		if (TYPEOF(v) == PROMSXP)
			v = PRVALUE(v);
		if (v != R_UnboundValue)
			h = held_in(v, budget, depth + 1);
	}
	UNPROTECT(1);
	return (h);
}

/* name, under heading, if its value is or holds what cannot come back. */
static void
note_held(struct snap *s, const char *heading, const char *name, SEXP v)
{
	enum held	 h;
	int		 top = TYPEOF(v) == EXTPTRSXP ||
			    has_class(v, "connection");

	if ((h = held_top(s, v)) == HELD_NONE)
		return;
	note_add(&s->note, heading, name, h == HELD_CONN ?
	    (top ? "a connection" : "holds a connection") :
	    (top ? "an external pointer" : "holds an external pointer"));
}

/*
 * "heading: item (why)", items of the same heading after a comma, the
 * next heading after "; ".  What does not fit is "...", once.
 */
static void
note_add(struct note *n, const char *heading, const char *item,
    const char *why)
{
	size_t	 need, room = sizeof(n->buf) - 4;	/* for "..." */
	int	 same;

	same = n->heading != NULL && strcmp(n->heading, heading) == 0;
	if (n->full)
		return;
	need = (same ? 2 : strlen(heading) + 4) + strlen(item) +
	    (why != NULL ? strlen(why) + 3 : 0);
	if (n->len + need > room) {
		strlcat(n->buf, n->len > 0 ? " ..." : "...", sizeof(n->buf));
		n->len = strlen(n->buf);
		n->full = 1;
		return;
	}
	n->len += snprintf(n->buf + n->len, sizeof(n->buf) - n->len,
	    "%s%s%s%s%s%s%s", same ? ", " : n->len > 0 ? "; " : "",
	    same ? "" : heading, same ? "" : ": ", item,
	    why != NULL ? " (" : "", why != NULL ? why : "",
	    why != NULL ? ")" : "");
	n->heading = heading;
}

static void
acc_init(struct acc *a, SEXPTYPE type)
{
	a->n = 0;
	PROTECT_WITH_INDEX(a->v = Rf_allocVector(type, 16), &a->pi);
}

static void
acc_add(struct acc *a, SEXP x)
{
	PROTECT(x);
	if (a->n == XLENGTH(a->v))
		REPROTECT(a->v = Rf_xlengthgets(a->v, 2 * a->n), a->pi);
	if (TYPEOF(a->v) == STRSXP)
		SET_STRING_ELT(a->v, a->n++, x);
	else
		SET_VECTOR_ELT(a->v, a->n++, x);
	UNPROTECT(1);
}

/* Its elements, no more; still protected by the caller's count. */
static SEXP
acc_done(struct acc *a)
{
	if (a->n < XLENGTH(a->v))
		REPROTECT(a->v = Rf_xlengthgets(a->v, a->n), a->pi);
	return (a->v);
}

/*
 * Whether x's class attribute names cls: read, not inherits(), which
 * asks the methods package about an S4 object.
 */
static int
has_class(SEXP x, const char *cls)
{
	SEXP		 c;
	R_xlen_t	 i;

	if (!OBJECT(x) || TYPEOF(c = Rf_getAttrib(x, R_ClassSymbol)) !=
	    STRSXP)
		return (0);
	for (i = 0; i < XLENGTH(c); i++)
		if (STRING_ELT(c, i) != NA_STRING &&
		    strcmp(CHAR(STRING_ELT(c, i)), cls) == 0)
			return (1);
	return (0);
}

/* A condition's message, read from it: no method runs. */
static const char *
cond_message(SEXP cond)
{
	SEXP		 names, m = R_NilValue;
	R_xlen_t	 i;

	if (TYPEOF(cond) == VECSXP && XLENGTH(cond) > 0) {
		m = VECTOR_ELT(cond, 0);
		names = Rf_getAttrib(cond, R_NamesSymbol);
		for (i = 0; TYPEOF(names) == STRSXP && i < XLENGTH(names) &&
		    i < XLENGTH(cond); i++)
			if (strcmp(CHAR(STRING_ELT(names, i)), "message") == 0)
				m = VECTOR_ELT(cond, i);
	}
	if (TYPEOF(m) != STRSXP || XLENGTH(m) < 1 ||
	    STRING_ELT(m, 0) == NA_STRING)
		return ("an R error without a message");
	return (CHAR(STRING_ELT(m, 0)));
}

/* rcode's function, made once, in an environment under base's. */
static SEXP
packages_fn(void)
{
	static SEXP	 fn;
	ParseStatus	 status;
	SEXP		 code, exprs, env;

	if (fn != NULL)
		return (fn);
	code = PROTECT(Rf_mkString(rcode));
	exprs = PROTECT(R_ParseVector(code, -1, &status, R_NilValue));
	if (status != PARSE_OK || XLENGTH(exprs) != 1)
		fatalx("the snapshot's R code does not parse");
	env = PROTECT(R_NewEnv(R_BaseEnv, TRUE, 0));
	fn = Rf_eval(VECTOR_ELT(exprs, 0), env);
	R_PreserveObject(fn);
	UNPROTECT(3);
	return (fn);
}
