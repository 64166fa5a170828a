/*
 * Files in and out of a session: the client puts files in "input" and
 * gets them from "output", two directories of the worker's HOME (its
 * private tmpfs), named to R code by $SECURER_INPUT and $SECURER_OUTPUT.
 *
 * Names are single path components of a safe charset (checked by the
 * monitor, and again here).  The sandboxed code owns both directories and
 * may plant symlinks, FIFOs, directories or huge files in them: every
 * open is an openat() with O_NOFOLLOW relative to the directory itself
 * opened with O_NOFOLLOW, and only a regular file within the size asked
 * for is read.  Input files are left mode 0444 in a 0555 directory:
 * read-only to code that does not mean to change them.  (The code could
 * chmod them back; it would only change its own session's copy.)
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define INPUT_DIR	"input"
#define OUTPUT_DIR	"output"
#define PARTIAL		FILES_PARTIAL	/* in HOME: a put under way */

/* HOME as it was: the code may change the variable. */
static char	 home[PATH_MAX];
/*
 * A partial may exist: one the monitor's puts left unfinished, or, at
 * first, one a restored HOME brought.  An execution looks only then,
 * three system calls saved from every other.
 */
static int	 partial_left = 1;

static int	home_open(void);
static const char *file_name(const struct msg_file_req *);
static int	file_name_ok(const char *, size_t);
static void	file_reply(uint32_t, enum w_file_status, int, uint64_t,
		    uint64_t, const void *, size_t);
static int	partial_open(int, uint64_t);
static int	partial_into_place(int, const char *);
static int	output_open(uint32_t, const char *);
static int	pwrite_all(int, const char *, size_t, uint64_t);
static char	*chunk_buffer(size_t);

/*
 * In a new worker, in its HOME: the output directory, the variables.
 * No descriptor is kept: the code sees only its own (0 to 3).
 */
void
files_init(void)
{
	const char	*h = getenv("HOME");
	char		 path[PATH_MAX + 16];

	if (h == NULL || strlcpy(home, h, sizeof(home)) >= sizeof(home))
		fatalx("no HOME");
	snprintf(path, sizeof(path), "%s/%s", home, OUTPUT_DIR);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	snprintf(path, sizeof(path), "%s/%s", home, INPUT_DIR);
	if (setenv("SECURER_INPUT", path, 1) == -1)
		fatal("setenv");
	snprintf(path, sizeof(path), "%s/%s", home, OUTPUT_DIR);
	if (setenv("SECURER_OUTPUT", path, 1) == -1)
		fatal("setenv");
}

/*
 * IMSG_W_FILE_PUT: a chunk written at its offset of the partial file,
 * which the last chunk renames into input/, replacing one of the name.
 * The partial lives in HOME, not input/: the code never sees half a
 * file under its name, and never runs while a partial exists (an
 * execution discards it first, files_discard()).  The monitor keeps the
 * offsets in order; the partial's own size is checked all the same.
 */
void
files_put(uint32_t id, const struct msg_file_req *req)
{
	const char	*name;
	uint64_t	 done = req->offset + req->data.len;
	int		 hfd, fd, e;

	if ((name = file_name(req)) == NULL)
		fatalx("bad file put");
	if ((hfd = home_open()) == -1) {
		file_reply(id, WFILE_IO, errno, req->offset, 0, NULL, 0);
		return;
	}
	if ((fd = partial_open(hfd, req->offset)) == -1) {
		e = errno;
		unlinkat(hfd, PARTIAL, 0);
		close(hfd);
		file_reply(id, e == EINVAL ? WFILE_BAD_OFFSET : WFILE_IO, e,
		    req->offset, 0, NULL, 0);
		return;
	}
	e = pwrite_all(fd, req->data.p, req->data.len, req->offset) == -1 ?
	    errno : 0;
	if (close(fd) == -1 && e == 0)
		e = errno;
	partial_left = e == 0 && (req->flags & FILE_MORE) != 0;
	if (e == 0 && (req->flags & FILE_MORE) == 0)
		e = partial_into_place(hfd, name);
	if (e != 0)
		unlinkat(hfd, PARTIAL, 0);
	close(hfd);
	if (e != 0)
		/* A name that is a directory (or was one) is not a file. */
		file_reply(id, e == EISDIR || e == ELOOP || e == ENOTDIR ||
		    e == ENOTEMPTY || e == EEXIST ? WFILE_NOT_REGULAR :
		    WFILE_IO, e, req->offset, 0, NULL, 0);
	else
		file_reply(id, WFILE_OK, 0, done, 0, NULL, 0);
}

/*
 * The partial for a chunk at offset: a new one at 0 (an unfinished one
 * goes), else the one whose size is offset (EINVAL if it is not).
 */
static int
partial_open(int hfd, uint64_t offset)
{
	struct stat	st;
	int		fd;

	if (offset == 0) {
		if (unlinkat(hfd, PARTIAL, 0) == -1 && errno != ENOENT)
			return (-1);
		return (openat(hfd, PARTIAL, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600));
	}
	if ((fd = openat(hfd, PARTIAL, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return (errno == ENOENT ? (errno = EINVAL, -1) : -1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != offset) {
		close(fd);
		errno = EINVAL;
		return (-1);
	}
	return (fd);
}

/* The whole partial becomes input/name, mode 0444; an errno or 0. */
static int
partial_into_place(int hfd, const char *name)
{
	int	dfd, e = 0;

	if (fchmodat(hfd, PARTIAL, 0444, 0) == -1)
		return (errno);
	if (mkdirat(hfd, INPUT_DIR, 0700) == -1 && errno != EEXIST)
		return (errno);
	if ((dfd = openat(hfd, INPUT_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (errno);
	/* Writable for as long as it takes. */
	if (fchmod(dfd, 0700) == -1 ||
	    renameat(hfd, PARTIAL, dfd, name) == -1)
		e = errno;
	fchmod(dfd, 0555);
	close(dfd);
	return (e);
}

/* Before an execution: an unfinished upload is gone. */
void
files_discard(void)
{
	int	hfd;

	if (!partial_left || (hfd = home_open()) == -1)
		return;
	unlinkat(hfd, PARTIAL, 0);
	close(hfd);
	partial_left = 0;
}

/*
 * IMSG_W_FILE_GET: a range of a regular file of output/ no larger than
 * req.max; with FILE_WHOLE, the rest from the offset or nothing.
 */
void
files_get(uint32_t id, const struct msg_file_req *req)
{
	struct stat	 st;
	const char	*name;
	char		*buf;
	uint64_t	 len;
	ssize_t		 n;
	int		 fd;

	if ((name = file_name(req)) == NULL)
		fatalx("bad file get");
	if ((fd = output_open(id, name)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		file_reply(id, WFILE_NOT_REGULAR, 0, 0, 0, NULL, 0);
		return;
	}
	len = (uint64_t)st.st_size > req->offset ? st.st_size - req->offset :
	    0;
	if ((uint64_t)st.st_size > req->max || ((req->flags & FILE_WHOLE) &&
	    len > req->length)) {
		close(fd);
		file_reply(id, WFILE_TOO_LARGE, 0, st.st_size, 0, NULL, 0);
		return;
	}
	if (req->offset > (uint64_t)st.st_size) {
		close(fd);
		file_reply(id, WFILE_BAD_OFFSET, 0, st.st_size, 0, NULL, 0);
		return;
	}
	if (len > req->length)
		len = req->length;
	buf = chunk_buffer(len);
	/* The file's size checked again: one that changed is refused. */
	n = len > 0 ? pread(fd, buf, len, req->offset) : 0;
	if (n == (ssize_t)len && fstat(fd, &st) == 0 &&
	    req->offset + len <= (uint64_t)st.st_size &&
	    (uint64_t)st.st_size <= req->max)
		file_reply(id, WFILE_OK, 0, st.st_size, req->offset, buf, len);
	else
		file_reply(id, n == -1 ? WFILE_IO : WFILE_TOO_LARGE,
		    n == -1 ? errno : 0, st.st_size, 0, NULL, 0);
	close(fd);
}

/*
 * Room for a chunk, kept from one get to the next: a job ends with its
 * reply, and megabytes freed after it are work done at rest.
 */
static char *
chunk_buffer(size_t len)
{
	static char	*chunk;
	static size_t	 size;
	char		*p;

	if (len + 1 > size) {
		if ((p = realloc(chunk, len + 1)) == NULL)
			fatal("%s", __func__);
		chunk = p;
		size = len + 1;
	}
	return (chunk);
}

/* output/name for reading, or -1 once the monitor has been told why. */
static int
output_open(uint32_t id, const char *name)
{
	int	hfd, dfd, fd, e;

	if ((hfd = home_open()) == -1) {
		file_reply(id, WFILE_IO, errno, 0, 0, NULL, 0);
		return (-1);
	}
	dfd = openat(hfd, OUTPUT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	e = errno;
	close(hfd);
	if (dfd == -1) {
		file_reply(id, e == ENOENT ? WFILE_NOT_FOUND :
		    WFILE_NOT_REGULAR, e, 0, 0, NULL, 0);
		return (-1);
	}
	/* O_NONBLOCK: a FIFO must not hang us until a writer comes. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	e = errno;
	close(dfd);
	if (fd == -1)
		file_reply(id, e == ENOENT ? WFILE_NOT_FOUND :
		    e == EIO ? WFILE_IO : WFILE_NOT_REGULAR, e, 0, 0, NULL, 0);
	return (fd);
}

/* HOME, not through a symlink the code may have put there. */
static int
home_open(void)
{
	return (open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

/* HOME as it was, and opened so, for the snapshots (snapshot.c). */
const char *
files_home(void)
{
	return (home);
}

int
files_home_open(void)
{
	return (home_open());
}

/* The request's name as a string; NULL if it is not one we allow. */
static const char *
file_name(const struct msg_file_req *req)
{
	static char	 nbuf[FILE_NAME_MAX + 1];

	if (req->name.len == 0 || req->name.len > FILE_NAME_MAX)
		return (NULL);
	memcpy(nbuf, req->name.p, req->name.len);
	nbuf[req->name.len] = '\0';
	if (!file_name_ok(nbuf, req->name.len))
		return (NULL);
	return (nbuf);
}

/* The monitor's rule (files_name_ok() there), checked again. */
static int
file_name_ok(const char *s, size_t len)
{
	size_t	i;

	if (s[0] == '.' || s[0] == '-')
		return (0);
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return (0);
	return (1);
}

static void
file_reply(uint32_t id, enum w_file_status status, int error, uint64_t size,
    uint64_t offset, const void *data, size_t len)
{
	struct msg_file	m;

	memset(&m, 0, sizeof(m));
	m.status = status;
	m.error = status == WFILE_IO ? error : 0;
	m.size = size;
	m.offset = offset;
	m.data.p = data;
	m.data.len = len;
	worker_sent(msg_send_file(worker_chan(), id, &m));
}

static int
pwrite_all(int fd, const char *p, size_t len, uint64_t offset)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, (off_t)offset)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
		offset += n;
	}
	return (0);
}
