/*
 * An LD_PRELOAD shim for t_audit: while the file named by
 * SECURER_FAILSYNC exists, fsync(2) and fdatasync(2) fail with EIO as a
 * dying disk's would, after the data reached the page cache.
 */

#include <sys/syscall.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int
failing(void)
{
	const char	*flag = getenv("SECURER_FAILSYNC");

	return (flag != NULL && access(flag, F_OK) == 0);
}

int	fdatasync(int);
int	fsync(int);

int
fdatasync(int fd)
{
	if (failing()) {
		errno = EIO;
		return (-1);
	}
	return (syscall(SYS_fdatasync, fd));
}

int
fsync(int fd)
{
	if (failing()) {
		errno = EIO;
		return (-1);
	}
	return (syscall(SYS_fsync, fd));
}
