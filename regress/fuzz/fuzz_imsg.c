/*
 * The imsg reader (common/imsg.c, imsg-buffer.c): arbitrary bytes,
 * written in chunks through a socketpair with fds passed beside some of
 * them, are read and split into messages.  Every message that comes out
 * must be exactly the bytes that went in at its place in the stream,
 * its body no longer than its header says (ASan sees a read past it),
 * and every fd received is closed by the time the channel is cleared.
 *
 * Input: one byte of channel settings (bit 0: the channel passes fds;
 * bits 1-2: its maximum message size), then chunks of two bytes of
 * chunk header (flags: bit 0 one fd, bit 1 a second fd, bit 2 the
 * length counts in 256-byte units; length) and the bytes.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "fuzz.h"

static const uint32_t	maxsizes[] = {
	MAX_IMSGSIZE, IMSG_HEADER_SIZE + 8, IBUF_READ_SIZE + 4096, 256 * 1024
};
static int		devnull = -1;

struct stream {
	const uint8_t	*sent;		/* everything written so far */
	size_t		 nsent;
	size_t		 consumed;	/* by messages taken out */
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		err(1, "/dev/null");
	return (0);
}

static void
send_chunk(int s, const uint8_t *p, size_t len, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(2 * sizeof(int))];
	}		 cm;
	struct cmsghdr	*c;
	struct msghdr	 msg;
	struct iovec	 iov;
	int		 fds[2] = { devnull, devnull };

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)p;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	/* Ancillary data needs at least one byte to travel with. */
	if (nfds > 0 && len > 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(s, &msg, 0) != (ssize_t)len)
		err(1, "sendmsg");
}

/* A message must be the stream's next bytes, header and body. */
static void
check_imsg(struct stream *st, struct imsg *imsg, ssize_t n)
{
	struct imsg_hdr	 hdr;
	size_t		 len = imsg_get_len(imsg), i;
	const uint8_t	*d = imsg->data;
	unsigned	 sum = 0;

	if ((size_t)n != len + IMSG_HEADER_SIZE ||
	    st->consumed + n > st->nsent)
		abort();
	memcpy(&hdr, st->sent + st->consumed, sizeof(hdr));
	hdr.len &= ~IMSG_FD_MARK;
	if (memcmp(&hdr, &imsg->hdr, sizeof(hdr)) != 0)
		abort();
	if (len > 0 && (d == NULL ||
	    memcmp(d, st->sent + st->consumed + IMSG_HEADER_SIZE, len) != 0))
		abort();
	for (i = 0; i < len; i++)	/* every byte is ours to read */
		sum += d[i];
	(void)sum;
	st->consumed += n;
}

/* Returns -1 once the channel is broken. */
static int
drain(int s, struct imsgbuf *ib, struct stream *st)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 avail, fd;

	for (;;) {
		while ((n = imsg_get(ib, &imsg)) > 0) {
			check_imsg(st, &imsg, n);
			/* Claimed or not, the fd is closed. */
			if (imsg_get_type(&imsg) & 1 &&
			    (fd = imsg_get_fd(&imsg)) != -1)
				close(fd);
			imsg_free(&imsg);
		}
		if (n == -1)
			return (-1);
		if (ioctl(s, FIONREAD, &avail) == -1)
			err(1, "FIONREAD");
		if (avail == 0)
			return (0);
		if ((n = imsgbuf_read(ib)) == -1)
			return (-1);
		if (n == 0)
			abort();	/* the writer is still open */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsgbuf	 ib;
	struct stream	 st;
	uint8_t		*sent;
	size_t		 len;
	int		 sv[2], flags, broken = 0;

	fuzz_begin();
	if (size < 1)
		return (0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		err(1, "socketpair");
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl");
	if (imsgbuf_init(&ib, sv[1]) == -1 ||
	    imsgbuf_set_maxsize(&ib, maxsizes[(data[0] >> 1) & 3]) == -1)
		err(1, "imsgbuf_init");
	if (data[0] & 1)
		imsgbuf_allow_fdpass(&ib);
	if ((sent = malloc(size)) == NULL)
		err(1, "malloc");
	memset(&st, 0, sizeof(st));
	st.sent = sent;
	data++;
	size--;
	while (size >= 2 && !broken) {
		flags = data[0];
		len = flags & 4 ? data[1] * 256 : data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		send_chunk(sv[0], data, len, (flags & 1) + ((flags >> 1) & 1));
		memcpy(sent + st.nsent, data, len);
		st.nsent += len;
		data += len;
		size -= len;
		broken = drain(sv[1], &ib, &st) == -1;
	}
	/* EOF: what is read now is whatever was left. */
	close(sv[0]);
	if (!broken && imsgbuf_read(&ib) == 1 && imsg_get(&ib,
	    &(struct imsg){ 0 }) > 0)
		abort();	/* drain() left a whole message */
	imsgbuf_clear(&ib);
	close(sv[1]);
	free(sent);
	fuzz_end();
	return (0);
}
