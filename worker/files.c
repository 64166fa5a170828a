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

/* HOME as it was: the code may change the variable. */
static char	 home[PATH_MAX];

static int	home_open(void);
static const char *file_name(const struct msg_file_req *);
static int	file_name_ok(const char *, size_t);
static void	file_reply(uint32_t, enum w_file_status, int, uint64_t,
		    const void *, size_t);
static int	write_all(int, const char *, size_t);

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

/* IMSG_W_FILE_PUT: a file into input/, replacing one of the name. */
void
files_put(uint32_t id, const struct msg_file_req *req)
{
	const char	*name;
	int		 hfd, dfd, fd, e;

	if ((name = file_name(req)) == NULL ||
	    req->data.len > FILE_SIZE_MAX)
		fatalx("bad file put");
	if ((hfd = home_open()) == -1)
		goto fail;
	if (mkdirat(hfd, INPUT_DIR, 0700) == -1 && errno != EEXIST) {
		e = errno;
		close(hfd);
		errno = e;
		goto fail;
	}
	dfd = openat(hfd, INPUT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	e = errno;
	close(hfd);
	errno = e;
	if (dfd == -1)
		goto fail;
	/* Writable for as long as it takes. */
	if (fchmod(dfd, 0700) == -1 ||
	    (unlinkat(dfd, name, 0) == -1 && errno != ENOENT) ||
	    (fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0444)) == -1) {
		e = errno;
		fchmod(dfd, 0555);
		close(dfd);
		errno = e;
		goto fail;
	}
	e = write_all(fd, req->data.p, req->data.len) == -1 ? errno : 0;
	if (close(fd) == -1 && e == 0)
		e = errno;
	if (e != 0)
		unlinkat(dfd, name, 0);
	fchmod(dfd, 0555);
	close(dfd);
	if (e != 0) {
		errno = e;
		goto fail;
	}
	file_reply(id, WFILE_OK, 0, req->data.len, NULL, 0);
	return;
 fail:
	/* A name that is a directory (or was one) is not a file. */
	file_reply(id, errno == EISDIR || errno == ELOOP ||
	    errno == ENOTDIR ? WFILE_NOT_REGULAR : WFILE_IO, errno,
	    req->data.len, NULL, 0);
}

/* IMSG_W_FILE_GET: a regular file of output/, at most req.max bytes. */
void
files_get(uint32_t id, const struct msg_file_req *req)
{
	struct stat	 st;
	const char	*name;
	char		*buf;
	ssize_t		 n;
	int		 hfd, dfd, fd;

	if ((name = file_name(req)) == NULL)
		fatalx("bad file get");
	dfd = -1;
	if ((hfd = home_open()) != -1) {
		dfd = openat(hfd, OUTPUT_DIR, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (dfd == -1) {
			n = errno;
			close(hfd);
			errno = n;
		} else
			close(hfd);
	}
	if (dfd == -1) {
		file_reply(id, errno == ENOENT ? WFILE_NOT_FOUND :
		    WFILE_NOT_REGULAR, errno, 0, NULL, 0);
		return;
	}
	/* O_NONBLOCK: a FIFO must not hang us until a writer comes. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	close(dfd);
	if (fd == -1) {
		file_reply(id, errno == ENOENT ? WFILE_NOT_FOUND :
		    errno == EIO ? WFILE_IO : WFILE_NOT_REGULAR, errno, 0,
		    NULL, 0);
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		file_reply(id, WFILE_NOT_REGULAR, 0, 0, NULL, 0);
		return;
	}
	if ((uint64_t)st.st_size > req->max) {
		close(fd);
		file_reply(id, WFILE_TOO_LARGE, 0, st.st_size, NULL, 0);
		return;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL)
		fatal("%s", __func__);
	/* One more byte than it has: a file still growing is refused. */
	n = pread(fd, buf, st.st_size + 1, 0);
	close(fd);
	if (n != st.st_size)
		file_reply(id, n > st.st_size ? WFILE_TOO_LARGE : WFILE_IO,
		    n == -1 ? errno : 0, st.st_size, NULL, 0);
	else
		file_reply(id, WFILE_OK, 0, n, buf, n);
	free(buf);
}

/* HOME, not through a symlink the code may have put there. */
static int
home_open(void)
{
	return (open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
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
    const void *data, size_t len)
{
	worker_sent(msg_send_file(worker_chan(), id, status,
	    status == WFILE_IO ? error : 0, size, data, len));
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}
