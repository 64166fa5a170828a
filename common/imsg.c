/*
 * imsg: framed messages, with optional fd passing, over a stream socket.
 *
 * Reading works in two steps.  imsgbuf_read() appends what the socket has
 * to a fixed read buffer; imsg_get() checks the header of the first
 * message there as soon as its 16 bytes are in, before anything is
 * allocated for it, then moves the message into an ibuf of exactly the
 * size the header claims.  If the message is not complete yet, the next
 * reads go straight into that ibuf, so messages of any size up to the
 * channel's maximum are read without growing the read buffer.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

/*
 * Received fds not yet claimed by a message header.  A well-behaved peer
 * sends one fd per message, and each one is claimed as soon as its
 * message's header is parsed; more than this is a peer filling our fd
 * table.
 */
#define IMSG_FDS_MAX	16

static int	imsgbuf_recvfds(struct imsgbuf *, struct msghdr *);
static int	imsgbuf_pushfd(struct imsgbuf *, int);
static int	imsgbuf_popfd(struct imsgbuf *);
static int	imsgbuf_check(struct imsgbuf *, const struct imsg_hdr *);
static int	imsgbuf_start(struct imsgbuf *, const struct imsg_hdr *);

int
imsgbuf_init(struct imsgbuf *ib, int fd)
{
	memset(ib, 0, sizeof(*ib));
	if ((ib->rbuf = malloc(IBUF_READ_SIZE)) == NULL)
		return (-1);
	msgbuf_init(&ib->w);
	TAILQ_INIT(&ib->fds);
	ib->fd = fd;
	ib->pid = getpid();
	ib->maxsize = MAX_IMSGSIZE;
	return (0);
}

void
imsgbuf_allow_fdpass(struct imsgbuf *ib)
{
	ib->flags |= IMSGF_FDPASS;
}

int
imsgbuf_set_maxsize(struct imsgbuf *ib, uint32_t max)
{
	if (max < IMSG_HEADER_SIZE || max >= IMSG_FD_MARK) {
		errno = EINVAL;
		return (-1);
	}
	ib->maxsize = max;
	return (0);
}

/*
 * Read what the socket has: into the message being completed if there is
 * one (never past its end, so the next message's fd is not read early),
 * else into the read buffer.  Returns 1 if data was read or none was
 * ready, 0 on EOF, -1 on error.
 */
int
imsgbuf_read(struct imsgbuf *ib)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct iovec	 iov;
	struct msghdr	 msg;
	ssize_t		 n;

	if (ib->rmsg != NULL) {
		iov.iov_base = ib->rmsg->buf + ib->rmsg->wpos;
		iov.iov_len = ib->rmsg->size - ib->rmsg->wpos;
	} else {
		/* What is left unread moves down once, not per message. */
		if (ib->rpos > 0) {
			memmove(ib->rbuf, ib->rbuf + ib->rpos,
			    ib->rlen - ib->rpos);
			ib->rlen -= ib->rpos;
			ib->rpos = 0;
		}
		iov.iov_base = ib->rbuf + ib->rlen;
		iov.iov_len = IBUF_READ_SIZE - ib->rlen;
	}
	/* Full: imsg_get() must make room first; a 0-byte read is EOF. */
	if (iov.iov_len == 0)
		return (1);

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
	if ((n = recvmsg(ib->fd, &msg, MSG_CMSG_CLOEXEC)) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (1);
		return (-1);
	}
	if (ib->rmsg != NULL)
		ib->rmsg->wpos += n;
	else
		ib->rlen += n;
	if (imsgbuf_recvfds(ib, &msg) == -1)
		return (-1);
	return (n == 0 ? 0 : 1);
}

/*
 * Queue the fd that came with a read.  Received fds are ours as soon as
 * recvmsg(2) returns, so on error all of them are closed here.  One fd
 * per read is all our writer sends: more, or any fd on a channel that
 * does not pass them, break the stream.
 */
static int
imsgbuf_recvfds(struct imsgbuf *ib, struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	size_t		 i, nfds;
	int		 fd, keep = -1, bad;

	bad = (msg->msg_flags & MSG_CTRUNC) != 0;
	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (keep == -1)
				keep = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	if (keep == -1 && !bad)
		return (0);
	/*
	 * Truncated with no fd at all: the kernel dropped the one fd that
	 * came because we are at our fd limit.  The stream is intact; the
	 * message it belongs to gets -1 and its handler copes.
	 */
	if (keep == -1 && (ib->flags & IMSGF_FDPASS) &&
	    imsgbuf_pushfd(ib, -1) == 0)
		return (0);
	if (!bad && (ib->flags & IMSGF_FDPASS) &&
	    imsgbuf_pushfd(ib, keep) == 0)
		return (0);
	if (keep != -1)
		close(keep);
	errno = EBADMSG;
	return (-1);
}

static int
imsgbuf_pushfd(struct imsgbuf *ib, int fd)
{
	struct imsg_fd	*ifd;
	int		 n = 0;

	TAILQ_FOREACH(ifd, &ib->fds, entry)
		n++;
	if (n >= IMSG_FDS_MAX)
		return (-1);
	if ((ifd = malloc(sizeof(*ifd))) == NULL)
		return (-1);
	ifd->fd = fd;
	TAILQ_INSERT_TAIL(&ib->fds, ifd, entry);
	return (0);
}

static int
imsgbuf_popfd(struct imsgbuf *ib)
{
	struct imsg_fd	*ifd;
	int		 fd;

	if ((ifd = TAILQ_FIRST(&ib->fds)) == NULL)
		return (-1);
	TAILQ_REMOVE(&ib->fds, ifd, entry);
	fd = ifd->fd;
	free(ifd);
	return (fd);
}

/* Everything a header must satisfy before we allocate for its message. */
static int
imsgbuf_check(struct imsgbuf *ib, const struct imsg_hdr *hdr)
{
	uint32_t	 len = hdr->len & ~IMSG_FD_MARK;

	if (len < IMSG_HEADER_SIZE) {
		errno = EBADMSG;
		return (-1);
	}
	if (len > ib->maxsize) {
		errno = ERANGE;
		return (-1);
	}
	/* The fd travels with the message's first byte: it must be here. */
	if ((hdr->len & IMSG_FD_MARK) &&
	    (!(ib->flags & IMSGF_FDPASS) || TAILQ_EMPTY(&ib->fds))) {
		errno = EBADMSG;
		return (-1);
	}
	if (ib->check != NULL && ib->check(hdr, ib->check_arg) == -1) {
		errno = EPROTO;
		return (-1);
	}
	return (0);
}

/*
 * Move the checked message at the head of the read buffer, with its fd,
 * into an ibuf of its own.
 */
static int
imsgbuf_start(struct imsgbuf *ib, const struct imsg_hdr *hdr)
{
	struct ibuf	*buf;
	size_t		 len, n;

	len = hdr->len & ~IMSG_FD_MARK;
	if ((buf = ibuf_open(len)) == NULL)
		return (-1);
	n = ib->rlen - ib->rpos;
	if (n > len)
		n = len;
	memcpy(buf->buf, ib->rbuf + ib->rpos, n);
	buf->wpos = n;
	ib->rpos += n;
	if (ib->rpos == ib->rlen)
		ib->rpos = ib->rlen = 0;
	if (hdr->len & IMSG_FD_MARK)
		buf->fd = imsgbuf_popfd(ib);
	ib->rmsg = buf;
	return (0);
}

/*
 * Returns the total length of the next message, 0 if it is not complete
 * yet, -1 if it is malformed (the channel is then unusable).
 */
ssize_t
imsg_get(struct imsgbuf *ib, struct imsg *imsg)
{
	struct imsg_hdr	 hdr;
	struct ibuf	*buf;

	if (ib->rmsg == NULL) {
		if (ib->rlen - ib->rpos < IMSG_HEADER_SIZE)
			return (0);
		memcpy(&hdr, ib->rbuf + ib->rpos, sizeof(hdr));
		if (imsgbuf_check(ib, &hdr) == -1 ||
		    imsgbuf_start(ib, &hdr) == -1)
			return (-1);
	}
	buf = ib->rmsg;
	if (buf->wpos < buf->size)
		return (0);
	ib->rmsg = NULL;

	memcpy(&imsg->hdr, buf->buf, sizeof(imsg->hdr));
	imsg->hdr.len &= ~IMSG_FD_MARK;
	buf->rpos = IMSG_HEADER_SIZE;
	imsg->buf = buf;
	imsg->data = ibuf_left(buf) > 0 ? ibuf_data(buf) : NULL;
	imsg->fd = ibuf_fd_get(buf);
	return (imsg->hdr.len);
}

/*
 * Start a message of datalen bytes (more may be added up to the channel's
 * maximum).  A zero pid means ours.
 */
struct ibuf *
imsg_create(struct imsgbuf *ib, uint32_t type, uint32_t id, pid_t pid,
    size_t datalen)
{
	struct imsg_hdr	 hdr;
	struct ibuf	*buf;

	if (datalen > ib->maxsize - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return (NULL);
	}
	if ((buf = ibuf_dynamic(IMSG_HEADER_SIZE + datalen,
	    ib->maxsize)) == NULL)
		return (NULL);
	hdr.type = type;
	hdr.len = 0;		/* set by imsg_close() */
	hdr.peerid = id;
	hdr.pid = pid != 0 ? pid : ib->pid;
	if (ibuf_add(buf, &hdr, sizeof(hdr)) == -1) {
		ibuf_free(buf);
		return (NULL);
	}
	return (buf);
}

/* On failure msg is freed, as the caller could not send it anyway. */
int
imsg_add(struct ibuf *msg, const void *data, size_t len)
{
	if (ibuf_add(msg, data, len) == -1) {
		ibuf_free(msg);
		return (-1);
	}
	return (0);
}

/* Seal the header and queue msg; an fd set on it is marked in len. */
void
imsg_close(struct imsgbuf *ib, struct ibuf *msg)
{
	uint32_t	 len;

	len = ibuf_size(msg);
	if (msg->fd != -1)
		len |= IMSG_FD_MARK;
	memcpy(msg->buf + offsetof(struct imsg_hdr, len), &len, sizeof(len));
	msgbuf_enqueue(&ib->w, msg);
}

/*
 * Queue one message.  On success the fd (if not -1) belongs to the
 * imsgbuf, which closes it once sent; on failure the caller keeps it.
 */
int
imsg_compose(struct imsgbuf *ib, uint32_t type, uint32_t id, pid_t pid,
    int fd, const void *data, size_t datalen)
{
	struct ibuf	*buf;

	if (fd != -1 && !(ib->flags & IMSGF_FDPASS)) {
		errno = EPERM;
		return (-1);
	}
	if ((buf = imsg_create(ib, type, id, pid, datalen)) == NULL)
		return (-1);
	if (imsg_add(buf, data, datalen) == -1)
		return (-1);
	ibuf_fd_set(buf, fd);
	imsg_close(ib, buf);
	return (0);
}

int
imsg_composev(struct imsgbuf *ib, uint32_t type, uint32_t id, pid_t pid,
    int fd, const struct iovec *iov, int iovcnt)
{
	struct ibuf	*buf;
	size_t		 datalen = 0;
	int		 i;

	if (fd != -1 && !(ib->flags & IMSGF_FDPASS)) {
		errno = EPERM;
		return (-1);
	}
	/* datalen stays within maxsize, so the sum cannot wrap. */
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > ib->maxsize - datalen) {
			errno = ERANGE;
			return (-1);
		}
		datalen += iov[i].iov_len;
	}
	if ((buf = imsg_create(ib, type, id, pid, datalen)) == NULL)
		return (-1);
	for (i = 0; i < iovcnt; i++)
		if (imsg_add(buf, iov[i].iov_base, iov[i].iov_len) == -1)
			return (-1);
	ibuf_fd_set(buf, fd);
	imsg_close(ib, buf);
	return (0);
}

/* Writes what the socket takes now; what is left stays queued. */
int
imsgbuf_write(struct imsgbuf *ib)
{
	return (msgbuf_write(ib->fd, &ib->w, ib->flags & IMSGF_FDPASS));
}

/* Write the whole queue, sleeping in poll(2) while the socket is full. */
int
imsgbuf_flush(struct imsgbuf *ib)
{
	struct pollfd	 pfd;

	while (imsgbuf_queuelen(ib) > 0) {
		if (imsgbuf_write(ib) == -1)
			return (-1);
		if (imsgbuf_queuelen(ib) == 0)
			break;
		pfd.fd = ib->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return (-1);
	}
	return (0);
}

/* Frees all state and closes queued fds; ib->fd is the caller's. */
void
imsgbuf_clear(struct imsgbuf *ib)
{
	int	 fd;

	msgbuf_clear(&ib->w);
	while (!TAILQ_EMPTY(&ib->fds))
		if ((fd = imsgbuf_popfd(ib)) != -1)	/* -1: a lost fd */
			close(fd);
	ibuf_free(ib->rmsg);
	ib->rmsg = NULL;
	free(ib->rbuf);
	ib->rbuf = NULL;
	ib->rpos = ib->rlen = 0;
}

uint32_t
imsgbuf_queuelen(struct imsgbuf *ib)
{
	return (ib->w.queued);
}

/* Closes the message's fd unless imsg_get_fd() claimed it. */
void
imsg_free(struct imsg *imsg)
{
	ibuf_free(imsg->buf);
	if (imsg->fd != -1)
		close(imsg->fd);
	imsg->buf = NULL;
	imsg->data = NULL;
	imsg->fd = -1;
}

uint32_t
imsg_get_type(const struct imsg *imsg)
{
	return (imsg->hdr.type);
}

uint32_t
imsg_get_id(const struct imsg *imsg)
{
	return (imsg->hdr.peerid);
}

pid_t
imsg_get_pid(const struct imsg *imsg)
{
	return (imsg->hdr.pid);
}

/* The length of the body, without the header. */
size_t
imsg_get_len(const struct imsg *imsg)
{
	return (imsg->hdr.len - IMSG_HEADER_SIZE);
}

/* The caller owns the fd from now on. */
int
imsg_get_fd(struct imsg *imsg)
{
	int	 fd;

	fd = imsg->fd;
	imsg->fd = -1;
	return (fd);
}

/* For fixed-size payloads: the body must be exactly len bytes. */
int
imsg_get_data(struct imsg *imsg, void *data, size_t len)
{
	if (imsg_get_len(imsg) != len) {
		errno = EBADMSG;
		return (-1);
	}
	if (len > 0)
		memcpy(data, imsg->data, len);
	return (0);
}

/* A read-only view of the body, valid until imsg_free(). */
int
imsg_get_ibuf(struct imsg *imsg, struct ibuf *ibuf)
{
	memset(ibuf, 0, sizeof(*ibuf));
	ibuf->buf = imsg->data;
	ibuf->size = ibuf->wpos = imsg_get_len(imsg);
	ibuf->fd = -1;
	return (0);
}
