/*
 * Buffers for imsg: growable byte buffers with a read cursor and an
 * optional fd, and the write queue that sends them with sendmsg(2).
 *
 * An ibuf holds bytes [0, wpos) of which [rpos, wpos) are still to be
 * read (by ibuf_get) or written (by msgbuf_write).  Growth is bounded by
 * max, so a buffer filled from untrusted input can never grow past the
 * limit its owner chose.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

/* iovecs gathered per sendmsg(2); more just takes another call. */
#define MSGBUF_IOV	128

static int	ibuf_grow(struct ibuf *, size_t);
static void	msgbuf_drain(struct msgbuf *, size_t);

struct ibuf *
ibuf_open(size_t size)
{
	struct ibuf	*buf;

	if (size == 0) {
		errno = EINVAL;
		return (NULL);
	}
	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return (NULL);
	if ((buf->buf = malloc(size)) == NULL) {
		free(buf);
		return (NULL);
	}
	buf->size = size;
	buf->fd = -1;
	return (buf);
}

struct ibuf *
ibuf_dynamic(size_t len, size_t max)
{
	struct ibuf	*buf;

	if (max == 0 || max < len) {
		errno = EINVAL;
		return (NULL);
	}
	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return (NULL);
	if (len > 0 && (buf->buf = malloc(len)) == NULL) {
		free(buf);
		return (NULL);
	}
	buf->size = len;
	buf->max = max;
	buf->fd = -1;
	return (buf);
}

/*
 * Make room for len more bytes.  Fixed buffers (max 0) never move, so
 * pointers from ibuf_seek() into them stay valid.
 */
static int
ibuf_grow(struct ibuf *buf, size_t len)
{
	unsigned char	*p;
	size_t		 need, nsize;

	if (len > SIZE_MAX - buf->wpos) {
		errno = ERANGE;
		return (-1);
	}
	need = buf->wpos + len;
	if (need <= buf->size)
		return (0);
	if (buf->max == 0 || need > buf->max) {
		errno = ERANGE;
		return (-1);
	}
	/* Double to keep appends linear, but never past the limit. */
	nsize = buf->size > buf->max / 2 ? buf->max : buf->size * 2;
	if (nsize < need)
		nsize = need;
	if ((p = realloc(buf->buf, nsize)) == NULL)
		return (-1);
	buf->buf = p;
	buf->size = nsize;
	return (0);
}

int
ibuf_add(struct ibuf *buf, const void *data, size_t len)
{
	if (len == 0)
		return (0);
	if (ibuf_grow(buf, len) == -1)
		return (-1);
	memcpy(buf->buf + buf->wpos, data, len);
	buf->wpos += len;
	return (0);
}

void *
ibuf_reserve(struct ibuf *buf, size_t len)
{
	void	*p;

	/* A pointer to no bytes is of no use and would alias the next. */
	if (len == 0) {
		errno = EINVAL;
		return (NULL);
	}
	if (ibuf_grow(buf, len) == -1)
		return (NULL);
	p = buf->buf + buf->wpos;
	buf->wpos += len;
	return (p);
}

void *
ibuf_seek(struct ibuf *buf, size_t pos, size_t len)
{
	if (pos > buf->wpos || len > buf->wpos - pos || buf->buf == NULL) {
		errno = ERANGE;
		return (NULL);
	}
	return (buf->buf + pos);
}

void *
ibuf_data(const struct ibuf *buf)
{
	if (buf->buf == NULL)
		return (NULL);
	return (buf->buf + buf->rpos);
}

size_t
ibuf_size(const struct ibuf *buf)
{
	return (buf->wpos);
}

size_t
ibuf_left(const struct ibuf *buf)
{
	return (buf->wpos - buf->rpos);
}

int
ibuf_get(struct ibuf *buf, void *data, size_t len)
{
	if (ibuf_left(buf) < len) {
		errno = EBADMSG;
		return (-1);
	}
	if (len > 0)
		memcpy(data, buf->buf + buf->rpos, len);
	buf->rpos += len;
	return (0);
}

int
ibuf_skip(struct ibuf *buf, size_t len)
{
	if (ibuf_left(buf) < len) {
		errno = EBADMSG;
		return (-1);
	}
	buf->rpos += len;
	return (0);
}

/* The buffer owns fd from now on: it is closed when sent or freed. */
void
ibuf_fd_set(struct ibuf *buf, int fd)
{
	if (buf->fd != -1)
		close(buf->fd);
	buf->fd = fd;
}

/* Hands the fd over to the caller. */
int
ibuf_fd_get(struct ibuf *buf)
{
	int	fd;

	fd = buf->fd;
	buf->fd = -1;
	return (fd);
}

/*
 * A buffer of bytes that are no secret (a value's frame, which the
 * client reads as it is): freed without zeroing megabytes first.
 */
void
ibuf_free_plain(struct ibuf *buf)
{
	if (buf == NULL)
		return;
	if (buf->fd != -1)
		close(buf->fd);
	free(buf->buf);
	free(buf);
}

/* Keeps errno: it is called on error paths that report it. */
void
ibuf_free(struct ibuf *buf)
{
	int	saved_errno;

	if (buf == NULL)
		return;
	saved_errno = errno;
	if (buf->fd != -1)
		close(buf->fd);
	freezero(buf->buf, buf->size);
	free(buf);
	errno = saved_errno;
}

void
msgbuf_init(struct msgbuf *msgbuf)
{
	TAILQ_INIT(&msgbuf->bufs);
	TAILQ_INIT(&msgbuf->spent);
	msgbuf->queued = 0;
	msgbuf->keep_spent = 0;
}

/* The queue owns buf from now on; writing starts at its rpos. */
void
msgbuf_enqueue(struct msgbuf *msgbuf, struct ibuf *buf)
{
	msgbuf_free_spent(msgbuf);
	TAILQ_INSERT_TAIL(&msgbuf->bufs, buf, entry);
	msgbuf->queued++;
}

/* What was written and kept: freed now. */
void
msgbuf_free_spent(struct msgbuf *msgbuf)
{
	struct ibuf	*buf;

	while ((buf = TAILQ_FIRST(&msgbuf->spent)) != NULL) {
		TAILQ_REMOVE(&msgbuf->spent, buf, entry);
		ibuf_free(buf);
	}
}

void
msgbuf_clear(struct msgbuf *msgbuf)
{
	struct ibuf	*buf;

	while ((buf = TAILQ_FIRST(&msgbuf->bufs)) != NULL) {
		TAILQ_REMOVE(&msgbuf->bufs, buf, entry);
		ibuf_free(buf);
	}
	msgbuf->queued = 0;
	msgbuf_free_spent(msgbuf);
}

/* Drop n written bytes from the front of the queue. */
static void
msgbuf_drain(struct msgbuf *msgbuf, size_t n)
{
	struct ibuf	*buf;

	while ((buf = TAILQ_FIRST(&msgbuf->bufs)) != NULL) {
		if (n < ibuf_left(buf)) {
			buf->rpos += n;
			return;
		}
		n -= ibuf_left(buf);
		TAILQ_REMOVE(&msgbuf->bufs, buf, entry);
		msgbuf->queued--;
		if (msgbuf->keep_spent)
			TAILQ_INSERT_TAIL(&msgbuf->spent, buf, entry);
		else
			ibuf_free(buf);
	}
}

/*
 * Gather buffers into iov, up to the next buffer after the first that
 * carries an fd: ancillary data travels with the first byte of a
 * sendmsg(2), so each fd must start a call of its own.  Returns the
 * number of iovecs and the fd to pass (or -1) in *fdp.
 */
static int
msgbuf_gather(struct msgbuf *msgbuf, struct iovec *iov, int *fdp)
{
	struct ibuf	*buf;
	int		 n = 0;

	*fdp = -1;
	TAILQ_FOREACH(buf, &msgbuf->bufs, entry) {
		if (n == MSGBUF_IOV || (n > 0 && buf->fd != -1))
			break;
		if (n == 0)
			*fdp = buf->fd;
		iov[n].iov_base = ibuf_data(buf);
		iov[n].iov_len = ibuf_left(buf);
		n++;
	}
	return (n);
}

/* One sendmsg(2) of the head of the queue; -1 with errno, else 0. */
static int
msgbuf_send(int sock, struct msgbuf *msgbuf, int allow_fd)
{
	struct iovec	 iov[MSGBUF_IOV];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct ibuf	*first;
	ssize_t		 n;
	int		 fd;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = msgbuf_gather(msgbuf, iov, &fd);
	first = TAILQ_FIRST(&msgbuf->bufs);
	if (fd != -1) {
		if (!allow_fd) {
			errno = EPERM;
			return (-1);
		}
		/* With no byte to ride on, the fd would be dropped. */
		if (ibuf_left(first) == 0) {
			errno = EINVAL;
			return (-1);
		}
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	if ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) == -1)
		return (-1);
	/* The fd went with the first byte; our copy is no longer needed. */
	if (fd != -1 && n > 0)
		ibuf_fd_set(first, -1);
	msgbuf_drain(msgbuf, n);
	return (0);
}

/*
 * Write as much of the queue as the socket takes.  A full socket or an
 * interrupted call is not an error: what is left stays queued for the
 * next call.  Buffers carrying an fd fail with EPERM unless allow_fd.
 */
int
msgbuf_write(int sock, struct msgbuf *msgbuf, int allow_fd)
{
	while (!TAILQ_EMPTY(&msgbuf->bufs)) {
		if (msgbuf_send(sock, msgbuf, allow_fd) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return (0);
			return (-1);
		}
	}
	return (0);
}
