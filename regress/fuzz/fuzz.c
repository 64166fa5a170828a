/*
 * fd leak check for the fuzz targets.  The number of open fds is taken
 * as an input starts, and the input must end with no more: a leaked fd
 * is a crash like any other.  (libFuzzer itself opens files between
 * inputs, so one count taken once would not do.)
 */

#include <sys/types.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

static int	baseline;

int
fuzz_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		perror("/proc/self/fd");
		abort();
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

void
fuzz_begin(void)
{
	baseline = fuzz_fds();
}

void
fuzz_end(void)
{
	int	n;

	if ((n = fuzz_fds()) > baseline) {
		fprintf(stderr, "fd leak: %d open, %d before\n", n, baseline);
		abort();
	}
}
