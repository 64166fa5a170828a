/*
 * The securer command's plots and files: --plots DIR writes the pages an
 * execution drew, --put FILE hands a file to the session before it runs,
 * --get NAME fetches one of its output files after.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "securer.h"

/* Writes all of len bytes at data to fd; -1 with errno on error. */
static int
write_all(int fd, const unsigned char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		data += n;
		len -= n;
	}
	return (0);
}

static int
write_file(const char *dir, const char *name, const unsigned char *data,
    size_t len, char *path, size_t pathlen)
{
	int	fd;

	if (snprintf(path, pathlen, "%s/%s", dir, name) >= (int)pathlen) {
		warnx("%s/%s: path too long", dir, name);
		return (-1);
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0666)) == -1) {
		warn("%s", path);
		return (-1);
	}
	if (write_all(fd, data, len) == -1) {
		warn("%s", path);
		close(fd);
		return (-1);
	}
	if (close(fd) == -1) {
		warn("%s", path);
		return (-1);
	}
	return (0);
}

/* Each plot into dir (made if need be), said on stderr; -1 if one failed. */
int
plots_write(const char *dir, const struct securer_plot *plots, size_t n,
    size_t omitted)
{
	char	path[4096];
	size_t	i;
	int	rv = 0;

	if (n > 0 && mkdir(dir, 0777) == -1 && errno != EEXIST) {
		warn("%s", dir);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (write_file(dir, plots[i].name, plots[i].data,
		    plots[i].len, path, sizeof(path)) == -1) {
			rv = -1;
			continue;
		}
		term_note(stderr, "securer: plot written to %s\n", path);
	}
	if (omitted > 0)
		fprintf(stderr, "securer: %zu plot%s over the daemon's caps "
		    "not returned\n", omitted, omitted == 1 ? "" : "s");
	return (rv);
}

/* The plots of an execution's error (securer_errjson()). */
int
plots_write_error(const char *dir, const char *errjson)
{
	struct securer_plot	*plots;
	size_t			 n;
	int			 rv;

	if (errjson == NULL || securer_plots_parse(errjson, &plots, &n) == -1)
		return (0);
	rv = plots_write(dir, plots, n, 0);
	securer_plots_free(plots, n);
	return (rv);
}

/* Bytes read or asked for at a time: a file.put chunk, a file.get range. */
#define CMD_FILE_CHUNK	(1024 * 1024)

/* Up to len bytes of fd into buf, short only at its end; -1 on error. */
static ssize_t
read_full(int fd, unsigned char *buf, size_t len)
{
	size_t	got = 0;
	ssize_t	n;

	while (got < len) {
		if ((n = read(fd, buf + got, len - got)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0)
			break;
		got += n;
	}
	return (got);
}

/*
 * --put FILE: FILE's bytes as the input file named like its basename,
 * read and sent a chunk at a time (one read ahead: a chunk says whether
 * more follow), so a file of any size the daemon takes goes through.
 */
int
file_put_path(struct securer_session *s, const char *path)
{
	unsigned char	*cur, *next, *t;
	char		*copy;
	uint64_t	 off = 0;
	ssize_t		 n, m;
	int		 fd, rv = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		warn("%s", path);
		return (-1);
	}
	if ((cur = malloc(CMD_FILE_CHUNK)) == NULL ||
	    (next = malloc(CMD_FILE_CHUNK)) == NULL ||
	    (copy = strdup(path)) == NULL)
		err(1, NULL);
	if ((n = read_full(fd, cur, CMD_FILE_CHUNK)) == -1) {
		warn("%s", path);
		goto done;
	}
	for (;;) {
		m = n == CMD_FILE_CHUNK ? read_full(fd, next, CMD_FILE_CHUNK) :
		    0;
		if (m == -1) {
			warn("%s", path);
			goto done;
		}
		if (securer_file_put_chunk(s, basename(copy), cur, n, off,
		    m > 0, NULL) == -1)
			goto done;
		off += n;
		if (m == 0)
			break;
		t = cur;
		cur = next;
		next = t;
		n = m;
	}
	rv = 0;
done:
	close(fd);
	free(copy);
	free(cur);
	free(next);
	return (rv);
}

/*
 * --get NAME: the output file NAME into dir (made if need be), fetched a
 * range at a time and written as it comes, said on stderr.  -1 for the
 * daemon's error, -2 for ours.
 */
int
file_get_name(struct securer_session *s, const char *name, const char *dir)
{
	unsigned char	*data;
	char		 path[4096];
	uint64_t	 off = 0, size = 0;
	size_t		 len;
	int		 fd;

	if (securer_file_get_range(s, name, 0, CMD_FILE_CHUNK, &data, &len,
	    &size) == -1)
		return (-1);
	if (mkdir(dir, 0777) == -1 && errno != EEXIST) {
		warn("%s", dir);
		free(data);
		return (-2);
	}
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		warnx("%s/%s: path too long", dir, name);
		free(data);
		return (-2);
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0666)) == -1) {
		warn("%s", path);
		free(data);
		return (-2);
	}
	for (;;) {
		if (write_all(fd, data, len) == -1) {
			warn("%s", path);
			free(data);
			close(fd);
			return (-2);
		}
		free(data);
		off += len;
		if (off >= size || len == 0)
			break;
		if (securer_file_get_range(s, name, off, CMD_FILE_CHUNK, &data,
		    &len, NULL) == -1) {
			close(fd);
			return (-1);
		}
	}
	if (close(fd) == -1) {
		warn("%s", path);
		return (-2);
	}
	if (off != size) {
		warnx("%s: %llu bytes of %llu came", path,
		    (unsigned long long)off, (unsigned long long)size);
		return (-2);
	}
	fprintf(stderr, "securer: file written to %s\n", path);
	return (0);
}
