/*
 * Tests of common/imsg.c and common/imsg-buffer.c over socketpairs.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <dirent.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "securerd.h"
#include "sanitizer.h"

#define MIB		(1024 * 1024)
#define HUGE_LEN	(1024U * MIB)	/* claimed, never sent */

static void
pair(int sv[2])
{
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
}

static void
nonblock(int fd)
{
	ATF_REQUIRE(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
}

static void
channel(struct imsgbuf *w, struct imsgbuf *r, int sv[2])
{
	pair(sv);
	ATF_REQUIRE(imsgbuf_init(w, sv[0]) == 0);
	ATF_REQUIRE(imsgbuf_init(r, sv[1]) == 0);
}

static void
channel_close(struct imsgbuf *w, struct imsgbuf *r)
{
	close(w->fd);
	close(r->fd);
	imsgbuf_clear(w);
	imsgbuf_clear(r);
}

static size_t
pending(int fd)
{
	int	 n;

	ATF_REQUIRE(ioctl(fd, FIONREAD, &n) == 0);
	return (n);
}

/* Read until a message is complete; fails the test after 10s. */
static ssize_t
recv_one(struct imsgbuf *ib, struct imsg *imsg)
{
	struct pollfd	 pfd = { .fd = ib->fd, .events = POLLIN };
	ssize_t		 n;

	while ((n = imsg_get(ib, imsg)) == 0) {
		ATF_REQUIRE(poll(&pfd, 1, 10000) == 1);
		if ((n = imsgbuf_read(ib)) != 1)
			return (n == 0 ? 0 : -1);
	}
	return (n);
}

/* Writes a raw header as a hostile peer would. */
static void
send_hdr(int fd, uint32_t type, uint32_t len)
{
	struct imsg_hdr	 hdr = { .type = type, .len = len, .pid = 1 };

	ATF_REQUIRE(write(fd, &hdr, sizeof(hdr)) == sizeof(hdr));
}

/* sendmsg(2) of one byte with the given fds attached. */
static void
send_fds(int sock, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov = { .iov_base = "x", .iov_len = 1 };

	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	ATF_REQUIRE(sendmsg(sock, &msg, 0) == 1);
}

static int
count_fds(void)
{
	DIR	*d;
	int	 n = 0;

	ATF_REQUIRE((d = opendir("/proc/self/fd")) != NULL);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return (n);
}

static int
fd_is_open(int fd)
{
	return (fcntl(fd, F_GETFD) != -1);
}

static void
fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + seed);
}

static int
check_fill(const unsigned char *p, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(i * 7 + seed))
			return (0);
	return (1);
}

/* Messages of several sizes arrive with type, peerid, pid and body intact. */
ATF_TC_WITHOUT_HEAD(roundtrip);
ATF_TC_BODY(roundtrip, tc)
{
	static const size_t	 sizes[] = { 0, 1, 15, 16, 100, 4096,
				    MAX_IMSGSIZE - IMSG_HEADER_SIZE };
	struct imsgbuf		 w, r;
	struct imsg		 imsg;
	unsigned char		 buf[MAX_IMSGSIZE];
	size_t			 i, n = sizeof(sizes) / sizeof(sizes[0]);
	int			 sv[2];

	channel(&w, &r, sv);
	for (i = 0; i < n; i++) {
		fill(buf, sizes[i], i);
		ATF_REQUIRE(imsg_compose(&w, 10 + i, 1000 + i, i % 2 ? 4242 : 0,
		    -1, buf, sizes[i]) == 0);
	}
	ATF_REQUIRE_EQ(imsgbuf_queuelen(&w), n);
	ATF_REQUIRE(imsgbuf_flush(&w) == 0);
	ATF_REQUIRE_EQ(imsgbuf_queuelen(&w), 0);

	for (i = 0; i < n; i++) {
		ATF_REQUIRE_EQ(recv_one(&r, &imsg),
		    (ssize_t)(IMSG_HEADER_SIZE + sizes[i]));
		ATF_CHECK_EQ(imsg_get_type(&imsg), 10 + i);
		ATF_CHECK_EQ(imsg_get_id(&imsg), 1000 + i);
		ATF_CHECK_EQ(imsg_get_pid(&imsg), i % 2 ? 4242 : getpid());
		ATF_CHECK_EQ(imsg_get_len(&imsg), sizes[i]);
		ATF_CHECK_EQ(imsg.fd, -1);
		if (sizes[i] == 0)
			ATF_CHECK(imsg.data == NULL);
		else
			ATF_CHECK(check_fill(imsg.data, sizes[i], i));
		imsg_free(&imsg);
	}
	ATF_CHECK_EQ(imsg_get(&r, &imsg), 0);
	channel_close(&w, &r);
}

/* Build n messages of the given body sizes into p; ends[i] = end offset. */
static size_t
build(unsigned char *p, const size_t *sizes, size_t n, size_t *ends)
{
	struct imsg_hdr	 hdr;
	size_t		 i, off = 0;

	for (i = 0; i < n; i++) {
		hdr.type = i + 1;
		hdr.len = IMSG_HEADER_SIZE + sizes[i];
		hdr.peerid = i;
		hdr.pid = 1;
		memcpy(p + off, &hdr, sizeof(hdr));
		fill(p + off + sizeof(hdr), sizes[i], i);
		off += hdr.len;
		ends[i] = off;
	}
	return (off);
}

/*
 * Feed the stream in chunks: messages complete exactly at their ends.
 * Returns the number of reads it took.
 */
static int
feed(size_t chunk)
{
	static const size_t	 sizes[] = { 0, 40, 3, 300, 0, 5000, 1 };
	struct imsgbuf		 r;
	struct imsg		 imsg;
	unsigned char		 stream[8192];
	size_t			 ends[7], len, off, got = 0, want, c;
	ssize_t			 n;
	int			 sv[2], reads = 0;

	pair(sv);
	ATF_REQUIRE(imsgbuf_init(&r, sv[1]) == 0);
	len = build(stream, sizes, 7, ends);
	for (off = 0; off < len; off += c) {
		c = len - off < chunk ? len - off : chunk;
		ATF_REQUIRE(write(sv[0], stream + off, c) == (ssize_t)c);
		while (pending(sv[1]) > 0) {
			ATF_REQUIRE_EQ(imsgbuf_read(&r), 1);
			reads++;
			while ((n = imsg_get(&r, &imsg)) > 0) {
				ATF_REQUIRE(got < 7);
				ATF_CHECK_EQ(imsg_get_type(&imsg), got + 1);
				ATF_CHECK_EQ(imsg_get_len(&imsg), sizes[got]);
				ATF_CHECK(check_fill(imsg.data, sizes[got],
				    got));
				imsg_free(&imsg);
				got++;
			}
			ATF_REQUIRE_EQ(n, 0);
		}
		/* Everything that ended by now, and nothing more. */
		for (want = 0; want < 7 && ends[want] <= off + c; want++)
			;
		ATF_REQUIRE_EQ_MSG(got, want, "at byte %zu", off + c);
	}
	ATF_CHECK_EQ(got, 7);
	close(sv[0]);
	close(sv[1]);
	imsgbuf_clear(&r);
	return (reads);
}

/*
 * imsg_get() returns 0 until a message fed byte by byte or in odd chunks
 * is complete.
 */
ATF_TC_WITHOUT_HEAD(partial_reads);
ATF_TC_BODY(partial_reads, tc)
{
	feed(1);
	feed(7);
	feed(17);
	feed(1001);
}

/* Several messages, of several sizes, in one read. */
ATF_TC_WITHOUT_HEAD(merged_read);
ATF_TC_BODY(merged_read, tc)
{
	ATF_CHECK_EQ(feed(SIZE_MAX), 1);
}

/* A 1 MiB message, much larger than the read buffer, arrives intact. */
ATF_TC_WITHOUT_HEAD(large_message);
ATF_TC_BODY(large_message, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	unsigned char	*buf;
	ssize_t		 n = 0;
	int		 sv[2];

	channel(&w, &r, sv);
	nonblock(sv[0]);
	nonblock(sv[1]);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w, 2 * MIB) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&r, 2 * MIB) == 0);
	ATF_REQUIRE((buf = malloc(MIB)) != NULL);
	fill(buf, MIB, 3);
	ATF_REQUIRE(imsg_compose(&w, 7, 0, 0, -1, buf, MIB) == 0);
	ATF_REQUIRE(imsg_compose(&w, 8, 0, 0, -1, "after", 5) == 0);
	while (n == 0) {
		ATF_REQUIRE(imsgbuf_write(&w) == 0);
		ATF_REQUIRE_EQ(imsgbuf_read(&r), 1);
		n = imsg_get(&r, &imsg);
	}
	ATF_REQUIRE_EQ(n, (ssize_t)(MIB + IMSG_HEADER_SIZE));
	ATF_CHECK_EQ(imsg_get_type(&imsg), 7);
	ATF_CHECK(check_fill(imsg.data, MIB, 3));
	imsg_free(&imsg);
	ATF_REQUIRE(imsgbuf_write(&w) == 0);
	ATF_REQUIRE_EQ(recv_one(&r, &imsg), 21);
	ATF_CHECK(memcmp(imsg.data, "after", 5) == 0);
	imsg_free(&imsg);
	free(buf);
	channel_close(&w, &r);
}

/*
 * Send a bare header to a fresh reader: returns the errno imsg_get()
 * failed with, 0 if it did not fail.
 */
static int
bad_header(uint32_t len, int fdpass, uint32_t max)
{
	struct imsgbuf	 r;
	struct imsg	 imsg;
	ssize_t		 n;
	int		 sv[2], error = 0;

	pair(sv);
	ATF_REQUIRE(imsgbuf_init(&r, sv[1]) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&r, max) == 0);
	if (fdpass)
		imsgbuf_allow_fdpass(&r);
	send_hdr(sv[0], 1, len);
	ATF_REQUIRE_EQ(imsgbuf_read(&r), 1);
	if ((n = imsg_get(&r, &imsg)) == -1)
		error = errno;
	else if (n > 0)
		imsg_free(&imsg);
	close(sv[0]);
	close(sv[1]);
	imsgbuf_clear(&r);
	return (error);
}

/* A header claiming less than its own size is rejected with EBADMSG. */
ATF_TC_WITHOUT_HEAD(header_short);
ATF_TC_BODY(header_short, tc)
{
	ATF_CHECK_EQ(bad_header(0, 1, MAX_IMSGSIZE), EBADMSG);
	ATF_CHECK_EQ(bad_header(8, 1, MAX_IMSGSIZE), EBADMSG);
	ATF_CHECK_EQ(bad_header(15, 1, MAX_IMSGSIZE), EBADMSG);
	ATF_CHECK_EQ(bad_header(IMSG_FD_MARK | 15, 1, MAX_IMSGSIZE), EBADMSG);
	ATF_CHECK_EQ(bad_header(16, 1, MAX_IMSGSIZE), 0);
}

/*
 * Largest allocation made while watching.  Under ASan its allocator
 * reports every allocation to a hook; plain glibc has no hooks, so there
 * the address space is capped instead, which makes an allocation of the
 * claimed size fail with ENOMEM instead of the expected ERANGE.
 */
#ifdef REGRESS_ASAN
int	__sanitizer_install_malloc_and_free_hooks(
	    void (*)(const volatile void *, size_t),
	    void (*)(const volatile void *));

static size_t	 alloc_max;

static void
alloc_hook(const volatile void *p, size_t size)
{
	if (size > alloc_max)
		alloc_max = size;
}

static void
free_hook(const volatile void *p)
{
}

static void
alloc_watch(void)
{
	ATF_REQUIRE(__sanitizer_install_malloc_and_free_hooks(alloc_hook,
	    free_hook) != 0);
	alloc_max = 0;
}
#else
static size_t	 alloc_max;	/* unknown; the rlimit does the work */

static void
alloc_watch(void)
{
	struct rlimit	 rl;
	FILE		*f;
	char		 line[128];
	unsigned long	 kb = 0;

	ATF_REQUIRE((f = fopen("/proc/self/status", "r")) != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		sscanf(line, "VmSize: %lu kB", &kb);
	fclose(f);
	ATF_REQUIRE(kb > 0);
	rl.rlim_cur = rl.rlim_max = kb * 1024 + 256 * MIB;
	ATF_REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
	ATF_REQUIRE(malloc(HUGE_LEN) == NULL);
}
#endif

/*
 * A header claiming more than the channel's maximum is rejected with ERANGE
 * at once, before anything is allocated for the body.
 */
ATF_TC_WITHOUT_HEAD(header_oversize);
ATF_TC_BODY(header_oversize, tc)
{
	alloc_watch();
	ATF_CHECK_EQ(bad_header(HUGE_LEN, 0, 16 * MIB), ERANGE);
	ATF_CHECK_MSG(alloc_max < MIB, "allocated %zu bytes", alloc_max);
	ATF_CHECK_EQ(bad_header(MAX_IMSGSIZE + 1, 0, MAX_IMSGSIZE), ERANGE);
	ATF_CHECK_EQ(bad_header(MAX_IMSGSIZE, 0, MAX_IMSGSIZE), 0);
}

/*
 * The fd mark without fd passing, or without an fd, is rejected with
 * EBADMSG.
 */
ATF_TC_WITHOUT_HEAD(header_fdmark);
ATF_TC_BODY(header_fdmark, tc)
{
	ATF_CHECK_EQ(bad_header(IMSG_FD_MARK | 16, 0, MAX_IMSGSIZE), EBADMSG);
	ATF_CHECK_EQ(bad_header(IMSG_FD_MARK | 16, 1, MAX_IMSGSIZE), EBADMSG);
}

/* Check that fd is a pipe's write end connected to rfd. */
static void
check_pipe(int fd, int rfd, const char *word)
{
	char	 buf[16];
	size_t	 len = strlen(word);

	ATF_REQUIRE(fd >= 0);
	ATF_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ATF_REQUIRE(write(fd, word, len) == (ssize_t)len);
	ATF_REQUIRE(read(rfd, buf, sizeof(buf)) == (ssize_t)len);
	ATF_CHECK(memcmp(buf, word, len) == 0);
	close(fd);
}

/*
 * fds passed on a channel that allows it arrive with their own messages, in
 * order.
 */
ATF_TC_WITHOUT_HEAD(fdpass);
ATF_TC_BODY(fdpass, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	unsigned char	*big;
	int		 sv[2], p1[2], p2[2], base, sz = 4096;

	base = count_fds();
	channel(&w, &r, sv);
	imsgbuf_allow_fdpass(&w);
	imsgbuf_allow_fdpass(&r);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w, MIB) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&r, MIB) == 0);
	ATF_REQUIRE(pipe(p1) == 0 && pipe(p2) == 0);
	ATF_REQUIRE((big = malloc(200000)) != NULL);
	fill(big, 200000, 9);

	/* fd, none, fd on a large message, none: queued together. */
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, p1[1], "a", 1) == 0);
	ATF_REQUIRE(imsg_compose(&w, 2, 0, 0, -1, "b", 1) == 0);
	ATF_REQUIRE(imsg_compose(&w, 3, 0, 0, p2[1], big, 200000) == 0);
	ATF_REQUIRE(imsg_compose(&w, 4, 0, 0, -1, NULL, 0) == 0);
	/* A small socket buffer sends the large message in pieces. */
	nonblock(sv[0]);
	ATF_REQUIRE(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)) == 0);
	ATF_REQUIRE(imsgbuf_write(&w) == 0);
	ATF_REQUIRE(imsgbuf_queuelen(&w) > 0);
	/* An fd goes with its message's first byte, and only then. */
	ATF_CHECK(!fd_is_open(p1[1]));
	ATF_CHECK(!fd_is_open(p2[1]));

	ATF_REQUIRE(recv_one(&r, &imsg) > 0);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 1);
	check_pipe(imsg_get_fd(&imsg), p1[0], "one");
	ATF_CHECK_EQ(imsg.fd, -1);
	imsg_free(&imsg);
	ATF_REQUIRE(recv_one(&r, &imsg) > 0);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 2);
	ATF_CHECK_EQ(imsg.fd, -1);
	imsg_free(&imsg);
	while ((imsg_get(&r, &imsg)) == 0) {
		ATF_REQUIRE(imsgbuf_write(&w) == 0);
		ATF_REQUIRE(imsgbuf_read(&r) == 1);
	}
	ATF_CHECK_EQ(imsg_get_type(&imsg), 3);
	ATF_CHECK(check_fill(imsg.data, 200000, 9));
	check_pipe(imsg_get_fd(&imsg), p2[0], "two");
	imsg_free(&imsg);
	ATF_REQUIRE(imsgbuf_flush(&w) == 0);
	ATF_REQUIRE(recv_one(&r, &imsg) > 0);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 4);
	ATF_CHECK_EQ(imsg.fd, -1);
	imsg_free(&imsg);
	ATF_CHECK(TAILQ_EMPTY(&r.fds));

	free(big);
	close(p1[0]);
	close(p2[0]);
	channel_close(&w, &r);
	ATF_CHECK_EQ(count_fds(), base);
}

/*
 * A channel without fd passing refuses to send an fd with EPERM and leaves
 * it to the caller.
 */
ATF_TC_WITHOUT_HEAD(fdpass_refused_send);
ATF_TC_BODY(fdpass_refused_send, tc)
{
	struct imsgbuf	 w, r;
	struct iovec	 iov = { .iov_base = "x", .iov_len = 1 };
	struct ibuf	*buf;
	int		 sv[2], p[2];

	channel(&w, &r, sv);
	ATF_REQUIRE(pipe(p) == 0);
	ATF_CHECK_ERRNO(EPERM, imsg_compose(&w, 1, 0, 0, p[1], "x", 1) == -1);
	ATF_CHECK_ERRNO(EPERM, imsg_composev(&w, 1, 0, 0, p[1], &iov, 1) ==
	    -1);
	ATF_CHECK_EQ(imsgbuf_queuelen(&w), 0);
	ATF_CHECK(fd_is_open(p[1]));

	/* Building the message by hand gets no further. */
	ATF_REQUIRE((buf = imsg_create(&w, 1, 0, 0, 0)) != NULL);
	ibuf_fd_set(buf, p[1]);
	imsg_close(&w, buf);
	ATF_CHECK_ERRNO(EPERM, imsgbuf_write(&w) == -1);
	ATF_CHECK_EQ(pending(sv[1]), 0);
	close(p[0]);
	channel_close(&w, &r);
	ATF_CHECK(!fd_is_open(p[1]));
}

/*
 * An fd arriving on a channel without fd passing, or several at once, fail
 * the read with EBADMSG and are closed.
 */
ATF_TC_WITHOUT_HEAD(fdpass_refused_recv);
ATF_TC_BODY(fdpass_refused_recv, tc)
{
	struct imsgbuf	 r;
	int		 sv[2], p[2], base, pass;

	ATF_REQUIRE(pipe(p) == 0);
	for (pass = 0; pass < 2; pass++) {
		pair(sv);
		ATF_REQUIRE(imsgbuf_init(&r, sv[1]) == 0);
		if (pass)
			imsgbuf_allow_fdpass(&r);
		base = count_fds();
		/* One fd where none is allowed, or two in one go. */
		send_fds(sv[0], p, pass + 1);
		ATF_CHECK_ERRNO(EBADMSG, imsgbuf_read(&r) == -1);
		ATF_CHECK_EQ(count_fds(), base);
		close(sv[0]);
		close(sv[1]);
		imsgbuf_clear(&r);
	}
	close(p[0]);
	close(p[1]);
}

/* imsg_free() and imsgbuf_clear() close fds nobody claimed. */
ATF_TC_WITHOUT_HEAD(fd_cleanup);
ATF_TC_BODY(fd_cleanup, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	int		 sv[2], p[2], base;

	base = count_fds();
	channel(&w, &r, sv);
	imsgbuf_allow_fdpass(&w);
	imsgbuf_allow_fdpass(&r);
	ATF_REQUIRE(pipe(p) == 0);
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, p[0], NULL, 0) == 0);
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, p[1], NULL, 0) == 0);
	ATF_REQUIRE(imsgbuf_flush(&w) == 0);
	ATF_REQUIRE(recv_one(&r, &imsg) > 0);
	ATF_REQUIRE(imsg.fd >= 0);
	imsg_free(&imsg);
	/* The second fd is read but not claimed: clear closes it. */
	ATF_REQUIRE_EQ(imsgbuf_read(&r), 1);
	ATF_REQUIRE(!TAILQ_EMPTY(&r.fds));

	/* So are fds still in the write queue. */
	ATF_REQUIRE(pipe(p) == 0);
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, p[0], NULL, 0) == 0);
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, p[1], NULL, 0) == 0);
	channel_close(&w, &r);
	ATF_CHECK_EQ(count_fds(), base);
}

#define NMSG	2000

static int
check_seq(struct imsg *imsg, uint32_t want)
{
	unsigned char	 body[200];
	int		 ok;

	ok = imsg_get_data(imsg, body, sizeof(body)) == 0 &&
	    imsg_get_id(imsg) == want && check_fill(body, sizeof(body), want);
	imsg_free(imsg);
	return (ok);
}

static void
queue_many(struct imsgbuf *w)
{
	unsigned char	 body[200];
	int		 sz = 4096;
	uint32_t	 i;

	nonblock(w->fd);
	ATF_REQUIRE(setsockopt(w->fd, SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)) == 0);
	for (i = 0; i < NMSG; i++) {
		fill(body, sizeof(body), i);
		ATF_REQUIRE(imsg_compose(w, 1, i, 0, -1, body,
		    sizeof(body)) == 0);
	}
}

/*
 * A full socket leaves messages queued; they go out intact and in order as
 * the reader drains.
 */
ATF_TC_WITHOUT_HEAD(write_queue);
ATF_TC_BODY(write_queue, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	uint32_t	 got = 0;
	int		 sv[2], rounds = 0;

	channel(&w, &r, sv);
	nonblock(sv[1]);
	queue_many(&w);
	ATF_REQUIRE(imsgbuf_write(&w) == 0);
	ATF_REQUIRE(imsgbuf_queuelen(&w) > 0);
	ATF_REQUIRE(imsgbuf_queuelen(&w) < NMSG);
	while (got < NMSG) {
		ATF_REQUIRE(rounds++ < 100000);
		ATF_REQUIRE_EQ(imsgbuf_read(&r), 1);
		while (imsg_get(&r, &imsg) > 0) {
			ATF_REQUIRE_MSG(check_seq(&imsg, got), "message %u",
			    got);
			got++;
		}
		ATF_REQUIRE(imsgbuf_write(&w) == 0);
	}
	ATF_CHECK_EQ(imsgbuf_queuelen(&w), 0);
	ATF_CHECK_EQ(imsg_get(&r, &imsg), 0);
	channel_close(&w, &r);
}

/*
 * imsgbuf_flush() on a non-blocking, full socket waits for a slow reader and
 * sends everything.
 */
ATF_TC_WITHOUT_HEAD(flush_full);
ATF_TC_BODY(flush_full, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	uint32_t	 got;
	pid_t		 pid;
	int		 sv[2], status;

	channel(&w, &r, sv);
	queue_many(&w);
	/* Fill the socket first, so that flushing has to wait. */
	ATF_REQUIRE(imsgbuf_write(&w) == 0);
	ATF_REQUIRE(imsgbuf_queuelen(&w) > 0);
	if ((pid = fork()) == 0) {
		for (got = 0; got < NMSG; got++)
			if (recv_one(&r, &imsg) <= 0 || !check_seq(&imsg, got))
				_exit(1);
		_exit(imsg_get(&r, &imsg) == 0 ? 0 : 1);
	}
	ATF_REQUIRE(pid != -1);
	ATF_CHECK(imsgbuf_flush(&w) == 0);
	ATF_CHECK_EQ(imsgbuf_queuelen(&w), 0);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	channel_close(&w, &r);
}

/*
 * Writing to a closed peer fails with EPIPE, without SIGPIPE; reading from
 * one returns 0.
 */
ATF_TC_WITHOUT_HEAD(epipe_eof);
ATF_TC_BODY(epipe_eof, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	int		 sv[2];

	channel(&w, &r, sv);
	close(sv[1]);
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, -1, "x", 1) == 0);
	ATF_CHECK_ERRNO(EPIPE, imsgbuf_write(&w) == -1);
	ATF_CHECK_ERRNO(EPIPE, imsgbuf_flush(&w) == -1);
	close(sv[0]);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);

	/* EOF, also in the middle of a message. */
	channel(&w, &r, sv);
	send_hdr(sv[0], 1, 100);
	close(sv[0]);
	ATF_CHECK_EQ(imsgbuf_read(&r), 1);
	ATF_CHECK_EQ(imsg_get(&r, &imsg), 0);
	ATF_CHECK_EQ(imsgbuf_read(&r), 0);
	ATF_CHECK_EQ(imsg_get(&r, &imsg), 0);
	close(sv[1]);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
}

/*
 * imsg_get_data() wants the exact size; reads past the end of the view
 * from imsg_get_ibuf() fail.
 */
ATF_TC_WITHOUT_HEAD(payload_size);
ATF_TC_BODY(payload_size, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	struct ibuf	 view;
	uint32_t	 in[2] = { 0x11223344, 0x55667788 }, out[3], x;
	int		 sv[2];

	channel(&w, &r, sv);
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, -1, in, sizeof(in)) == 0);
	ATF_REQUIRE(imsg_compose(&w, 2, 0, 0, -1, NULL, 0) == 0);
	ATF_REQUIRE(imsgbuf_flush(&w) == 0);
	ATF_REQUIRE(recv_one(&r, &imsg) > 0);
	ATF_CHECK_ERRNO(EBADMSG, imsg_get_data(&imsg, out, 4) == -1);
	ATF_CHECK_ERRNO(EBADMSG, imsg_get_data(&imsg, out, 12) == -1);
	ATF_CHECK_ERRNO(EBADMSG, imsg_get_data(&imsg, out, 0) == -1);
	ATF_REQUIRE(imsg_get_data(&imsg, out, 8) == 0);
	ATF_CHECK(out[0] == in[0] && out[1] == in[1]);

	ATF_REQUIRE(imsg_get_ibuf(&imsg, &view) == 0);
	ATF_CHECK_EQ(ibuf_size(&view), 8);
	ATF_REQUIRE(ibuf_get(&view, &x, 4) == 0);
	ATF_CHECK_EQ(x, in[0]);
	ATF_CHECK_ERRNO(EBADMSG, ibuf_get(&view, out, 8) == -1);
	ATF_CHECK_ERRNO(EBADMSG, ibuf_skip(&view, 5) == -1);
	ATF_REQUIRE(ibuf_get(&view, &x, 4) == 0);
	ATF_CHECK_EQ(x, in[1]);
	ATF_CHECK_EQ(ibuf_left(&view), 0);
	ATF_CHECK_ERRNO(EBADMSG, ibuf_get(&view, &x, 1) == -1);
	/* The view is read-only. */
	ATF_CHECK_ERRNO(ERANGE, ibuf_add(&view, &x, 1) == -1);
	imsg_free(&imsg);

	/* An empty body passes only a check for exactly nothing. */
	ATF_REQUIRE(recv_one(&r, &imsg) > 0);
	ATF_CHECK(imsg_get_data(&imsg, NULL, 0) == 0);
	ATF_CHECK_ERRNO(EBADMSG, imsg_get_data(&imsg, out, 1) == -1);
	ATF_REQUIRE(imsg_get_ibuf(&imsg, &view) == 0);
	ATF_CHECK_ERRNO(EBADMSG, ibuf_get(&view, &x, 1) == -1);
	imsg_free(&imsg);
	channel_close(&w, &r);
}

/*
 * The channel maximum bounds what is composed (ERANGE) and what is
 * accepted.
 */
ATF_TC_WITHOUT_HEAD(maxsize);
ATF_TC_BODY(maxsize, tc)
{
	struct imsgbuf	 w, r;
	struct imsg	 imsg;
	struct ibuf	*buf;
	struct iovec	 iov[2];
	static char	 big[1024];
	int		 sv[2];

	channel(&w, &r, sv);
	ATF_CHECK_ERRNO(EINVAL, imsgbuf_set_maxsize(&w, 15) == -1);
	ATF_CHECK_ERRNO(EINVAL, imsgbuf_set_maxsize(&w, IMSG_FD_MARK) == -1);
	ATF_CHECK(imsgbuf_set_maxsize(&w, IMSG_FD_MARK - 1) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w, 1000) == 0);
	ATF_CHECK_ERRNO(ERANGE, imsg_compose(&w, 1, 0, 0, -1, big, 985) == -1);
	ATF_CHECK_ERRNO(ERANGE, imsg_create(&w, 1, 0, 0, 985) == NULL);
	iov[0].iov_base = iov[1].iov_base = big;
	iov[0].iov_len = 500;
	iov[1].iov_len = 485;
	ATF_CHECK_ERRNO(ERANGE, imsg_composev(&w, 1, 0, 0, -1, iov, 2) == -1);
	iov[1].iov_len = SIZE_MAX;
	ATF_CHECK_ERRNO(ERANGE, imsg_composev(&w, 1, 0, 0, -1, iov, 2) == -1);
	/* Growing past the maximum frees the message. */
	ATF_REQUIRE((buf = imsg_create(&w, 1, 0, 0, 10)) != NULL);
	ATF_CHECK(imsg_add(buf, big, 984) == 0);
	ATF_CHECK_ERRNO(ERANGE, imsg_add(buf, big, 1) == -1);
	ATF_CHECK_EQ(imsgbuf_queuelen(&w), 0);

	/* Exactly the maximum goes; the reader's own maximum is lower. */
	ATF_REQUIRE(imsg_compose(&w, 1, 0, 0, -1, big, 984) == 0);
	ATF_REQUIRE(imsgbuf_flush(&w) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&r, 999) == 0);
	ATF_CHECK_ERRNO(ERANGE, recv_one(&r, &imsg) == -1);
	channel_close(&w, &r);
}

/*
 * Fixed and growable buffers keep their limits; reserve, seek, get and the
 * fd behave.
 */
ATF_TC_WITHOUT_HEAD(ibuf);
ATF_TC_BODY(ibuf, tc)
{
	struct ibuf	*buf;
	unsigned char	*p, out[8];
	int		 fds[2], base, i;

	ATF_REQUIRE((buf = ibuf_open(8)) != NULL);
	ATF_REQUIRE(ibuf_add(buf, "abcdefgh", 8) == 0);
	ATF_CHECK_ERRNO(ERANGE, ibuf_add(buf, "i", 1) == -1);
	ATF_CHECK_ERRNO(ERANGE, ibuf_reserve(buf, 1) == NULL);
	ATF_CHECK((p = ibuf_seek(buf, 6, 2)) != NULL && p[0] == 'g');
	ATF_CHECK_ERRNO(ERANGE, ibuf_seek(buf, 6, 3) == NULL);
	ATF_CHECK_ERRNO(ERANGE, ibuf_seek(buf, 9, 0) == NULL);
	ATF_REQUIRE(ibuf_get(buf, out, 3) == 0 && memcmp(out, "abc", 3) == 0);
	ATF_CHECK_EQ(ibuf_size(buf), 8);
	ATF_CHECK_EQ(ibuf_left(buf), 5);
	ATF_CHECK(memcmp(ibuf_data(buf), "defgh", 5) == 0);
	ibuf_free(buf);

	ATF_CHECK_ERRNO(EINVAL, ibuf_dynamic(10, 5) == NULL);
	ATF_REQUIRE((buf = ibuf_dynamic(0, 100)) != NULL);
	for (i = 0; i < 99; i++)
		ATF_REQUIRE(ibuf_add(buf, "z", 1) == 0);
	ATF_REQUIRE((p = ibuf_reserve(buf, 1)) != NULL);
	*p = 'y';
	ATF_CHECK_ERRNO(ERANGE, ibuf_add(buf, "x", 1) == -1);
	ATF_CHECK_ERRNO(ERANGE, ibuf_reserve(buf, SIZE_MAX) == NULL);
	ATF_CHECK_EQ(ibuf_size(buf), 100);
	ATF_CHECK(*(char *)ibuf_seek(buf, 99, 1) == 'y');

	/* The buffer owns its fd until ibuf_fd_get() hands it back. */
	base = count_fds();
	ATF_REQUIRE(pipe(fds) == 0);
	ibuf_fd_set(buf, fds[0]);
	ATF_CHECK_EQ(ibuf_fd_get(buf), fds[0]);
	ATF_CHECK_EQ(ibuf_fd_get(buf), -1);
	ibuf_fd_set(buf, fds[0]);
	ibuf_fd_set(buf, fds[1]);	/* replaces, closing fds[0] */
	ATF_CHECK(!fd_is_open(fds[0]));
	ibuf_free(buf);
	ATF_CHECK_EQ(count_fds(), base);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, roundtrip);
	ATF_TP_ADD_TC(tp, partial_reads);
	ATF_TP_ADD_TC(tp, merged_read);
	ATF_TP_ADD_TC(tp, large_message);
	ATF_TP_ADD_TC(tp, header_short);
	ATF_TP_ADD_TC(tp, header_oversize);
	ATF_TP_ADD_TC(tp, header_fdmark);
	ATF_TP_ADD_TC(tp, fdpass);
	ATF_TP_ADD_TC(tp, fdpass_refused_send);
	ATF_TP_ADD_TC(tp, fdpass_refused_recv);
	ATF_TP_ADD_TC(tp, fd_cleanup);
	ATF_TP_ADD_TC(tp, write_queue);
	ATF_TP_ADD_TC(tp, flush_full);
	ATF_TP_ADD_TC(tp, epipe_eof);
	ATF_TP_ADD_TC(tp, payload_size);
	ATF_TP_ADD_TC(tp, maxsize);
	ATF_TP_ADD_TC(tp, ibuf);
	return (atf_no_error());
}
