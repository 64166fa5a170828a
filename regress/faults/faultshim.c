/*
 * faultshim.so: an LD_PRELOAD library for the fault tests.  On sockets,
 * every other read or write call fails with EINTR before doing anything,
 * and the others move at most one byte, so a program that handles short
 * transfers and interrupted calls everywhere still works, only slowly.
 * Files, pipes and terminals are left alone: stdio on them treats EINTR
 * as an error by design, and it is the socket code that is under test.
 *
 *	LD_PRELOAD=faultshim.so program ...
 *
 * FAULTSHIM_LOG=path (or "stderr") appends one line per intercepted
 * call, to show the shim was in effect.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __thread unsigned long	calls;
static int			logfd = -1;
static struct stat		logst;

/*
 * The log is opened at load time: a daemon may chroot before its first
 * call.  A child that closed it may have the number for something else,
 * hence the check that it is still the same file.
 */
__attribute__((__constructor__)) static void
shim_init(void)
{
	const char	*p;

	if ((p = getenv("FAULTSHIM_LOG")) == NULL)
		return;
	if (strcmp(p, "stderr") == 0)
		logfd = STDERR_FILENO;	/* kept by a daemon's children */
	else
		logfd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0600);
	if (logfd != -1 && fstat(logfd, &logst) == -1)
		logfd = -1;
}

static void
shim_log(const char *what)
{
	struct stat	 st;
	ssize_t		 unused;

	if (logfd == -1 || fstat(logfd, &st) == -1 ||
	    st.st_ino != logst.st_ino || st.st_dev != logst.st_dev)
		return;
	unused = syscall(SYS_write, logfd, what, strlen(what));
	(void)unused;
}

#define REAL(name)							\
	static __typeof__(name) *real_##name;				\
	if (real_##name == NULL)					\
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* 1: the call is ours to disturb; 0: do it as asked.  -1: EINTR now. */
static int
shim_enter(int fd, const char *what)
{
	struct stat	 st;
	int		 saved = errno;

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		errno = saved;
		return (0);
	}
	shim_log(what);
	errno = saved;
	if (calls++ % 2 == 0) {
		errno = EINTR;
		return (-1);
	}
	return (1);
}

/* The first non-empty buffer of iov, cut to one byte. */
static int
one_byte(const struct iovec *iov, int iovcnt, struct iovec *one)
{
	int	i;

	for (i = 0; i < iovcnt; i++)
		if (iov[i].iov_len > 0) {
			one->iov_base = iov[i].iov_base;
			one->iov_len = 1;
			return (1);
		}
	one->iov_base = NULL;
	one->iov_len = 0;
	return (0);
}

ssize_t
read(int fd, void *buf, size_t len)
{
	int	m;

	REAL(read);
	if ((m = shim_enter(fd, "faultshim: read\n")) == -1)
		return (-1);
	return (real_read(fd, buf, m && len > 1 ? 1 : len));
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	int	m;

	REAL(write);
	if ((m = shim_enter(fd, "faultshim: write\n")) == -1)
		return (-1);
	return (real_write(fd, buf, m && len > 1 ? 1 : len));
}

ssize_t
readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec	one;
	int		m;

	REAL(readv);
	if ((m = shim_enter(fd, "faultshim: readv\n")) == -1)
		return (-1);
	if (!m)
		return (real_readv(fd, iov, iovcnt));
	one_byte(iov, iovcnt, &one);
	return (real_readv(fd, &one, 1));
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec	one;
	int		m;

	REAL(writev);
	if ((m = shim_enter(fd, "faultshim: writev\n")) == -1)
		return (-1);
	if (!m)
		return (real_writev(fd, iov, iovcnt));
	one_byte(iov, iovcnt, &one);
	return (real_writev(fd, &one, 1));
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	int	m;

	REAL(recv);
	if ((m = shim_enter(fd, "faultshim: recv\n")) == -1)
		return (-1);
	return (real_recv(fd, buf, m && len > 1 ? 1 : len, flags));
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	int	m;

	REAL(send);
	if ((m = shim_enter(fd, "faultshim: send\n")) == -1)
		return (-1);
	return (real_send(fd, buf, m && len > 1 ? 1 : len, flags));
}

ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
    socklen_t *salen)
{
	int	m;

	REAL(recvfrom);
	if ((m = shim_enter(fd, "faultshim: recvfrom\n")) == -1)
		return (-1);
	return (real_recvfrom(fd, buf, m && len > 1 ? 1 : len, flags, sa,
	    salen));
}

ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *sa, socklen_t salen)
{
	int	m;

	REAL(sendto);
	if ((m = shim_enter(fd, "faultshim: sendto\n")) == -1)
		return (-1);
	return (real_sendto(fd, buf, m && len > 1 ? 1 : len, flags, sa,
	    salen));
}

ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct msghdr	copy;
	struct iovec	one;
	ssize_t		n;
	int		m;

	REAL(recvmsg);
	if ((m = shim_enter(fd, "faultshim: recvmsg\n")) == -1)
		return (-1);
	if (!m)
		return (real_recvmsg(fd, msg, flags));
	copy = *msg;
	one_byte(msg->msg_iov, msg->msg_iovlen, &one);
	copy.msg_iov = &one;
	copy.msg_iovlen = 1;
	n = real_recvmsg(fd, &copy, flags);
	msg->msg_namelen = copy.msg_namelen;
	msg->msg_controllen = copy.msg_controllen;
	msg->msg_flags = copy.msg_flags;
	return (n);
}

ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr	copy;
	struct iovec	one;
	int		m;

	REAL(sendmsg);
	if ((m = shim_enter(fd, "faultshim: sendmsg\n")) == -1)
		return (-1);
	if (!m)
		return (real_sendmsg(fd, msg, flags));
	copy = *msg;
	one_byte(msg->msg_iov, msg->msg_iovlen, &one);
	copy.msg_iov = &one;
	copy.msg_iovlen = 1;
	return (real_sendmsg(fd, &copy, flags));
}
