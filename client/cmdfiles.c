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

static int
write_file(const char *dir, const char *name, const unsigned char *data,
    size_t len, char *path, size_t pathlen)
{
	ssize_t	n;
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
	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			warn("%s", path);
			close(fd);
			return (-1);
		}
		data += n;
		len -= n;
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

/* --put FILE: FILE's bytes as the input file named like its basename. */
int
file_put_path(struct securer_session *s, const char *path)
{
	FILE	*fp;
	char	*data, *copy;
	size_t	 len;
	int	 rv;

	if ((fp = fopen(path, "r")) == NULL) {
		warn("%s", path);
		return (-1);
	}
	data = read_all(fp, path, &len);
	fclose(fp);
	if (data == NULL)
		return (-1);
	if ((copy = strdup(path)) == NULL)
		err(1, NULL);
	rv = securer_file_put(s, basename(copy), data, len);
	free(copy);
	free(data);
	return (rv);
}

/* --get NAME: the output file NAME into dir (made if need be), said on
 * stderr. */
int
file_get_name(struct securer_session *s, const char *name, const char *dir)
{
	unsigned char	*data;
	char		 path[4096];
	size_t		 len;
	int		 rv;

	if (securer_file_get(s, name, &data, &len) == -1)
		return (-1);
	if (mkdir(dir, 0777) == -1 && errno != EEXIST) {
		warn("%s", dir);
		free(data);
		return (-2);
	}
	rv = write_file(dir, name, data, len, path, sizeof(path));
	free(data);
	if (rv == 0)
		fprintf(stderr, "securer: file written to %s\n", path);
	return (rv == -1 ? -2 : 0);
}
