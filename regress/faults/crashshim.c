/*
 * crashshim.so: an LD_PRELOAD library that makes a daemon die at one
 * chosen point.  Right after the process has written to a socket a reply
 * line (one that starts with {"id":) holding the text CRASHSHIM_MARK
 * names, it _exit()s: nothing it had queued in memory is written then.
 * For the test that a result's exec_end is on the broker's channel
 * before the result is on its client's (securerd(8) "Durability").
 *
 *	CRASHSHIM_MARK=text LD_PRELOAD=crashshim.so program ...
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLY_HEAD	"{\"id\":"

static int
is_socket(int fd)
{
	struct stat	st;

	return (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode));
}

/* A reply line with the mark in its first len bytes. */
static int
marked(int fd, const void *buf, size_t len)
{
	const char	*mark = getenv("CRASHSHIM_MARK");

	if (mark == NULL || *mark == '\0' || len < sizeof(REPLY_HEAD) - 1 ||
	    memcmp(buf, REPLY_HEAD, sizeof(REPLY_HEAD) - 1) != 0)
		return (0);
	return (memmem(buf, len, mark, strlen(mark)) != NULL &&
	    is_socket(fd));
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t	(*real)(int, const void *, size_t);
	ssize_t		n;

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	n = real(fd, buf, len);
	if (n > 0 && marked(fd, buf, (size_t)n))
		_exit(1);
	return (n);
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	static ssize_t	(*real)(int, const struct iovec *, int);
	ssize_t		n;

	if (real == NULL)
		real = (ssize_t (*)(int, const struct iovec *, int))dlsym(
		    RTLD_NEXT, "writev");
	n = real(fd, iov, iovcnt);
	if (n > 0 && iovcnt > 0 && marked(fd, iov[0].iov_base,
	    iov[0].iov_len < (size_t)n ? iov[0].iov_len : (size_t)n))
		_exit(1);
	return (n);
}
