/*
 * The configuration parser (broker/parse.y): each input is a
 * securerd.conf(5) file.  A file that parses is printed back as
 * "securerd -n" would (to /dev/null): what the parser accepted must be
 * printable.  A file that does not must leave the configuration as it
 * was.
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "fuzz.h"

struct securerd_conf	*conf;
static struct securerd_conf	 defaults;
static char			 path[64];
static int			 mfd = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	config_defaults(&defaults);
	if ((mfd = memfd_create("securerd.conf", MFD_CLOEXEC)) == -1)
		err(1, "memfd_create");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	if (freopen("/dev/null", "w", stdout) == NULL)
		err(1, "/dev/null");
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct securerd_conf	c;

	fuzz_begin();
	if (ftruncate(mfd, 0) == -1 ||
	    pwrite(mfd, data, size, 0) != (ssize_t)size)
		err(1, "memfd");
	c = defaults;
	conf = &c;
	if (parse_config(path, &c) == 0)
		config_print(&c);
	else if (memcmp(&c, &defaults, sizeof(c)) != 0)
		abort();
	fuzz_end();
	return (0);
}
