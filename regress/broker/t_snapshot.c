/*
 * broker/snapshot.c alone: its handlers given hand-built imsgs, what
 * they would send the monitor caught by a stub of monitor_send(), the
 * state directory a fresh one in the test's work directory.
 *
 * The case "timing" prints the time of a store and a load of 10 MB and
 * 100 MB, the median of SNAP_RUNS runs (1 unless set): by hand,
 * SNAP_RUNS=5 t_snapshot timing in a scratch directory.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sanitizer.h"
#include "broker.h"
#include "log.h"
#include "msg.h"

#define S1	"0123456789abcdef0123456789abcdef"
#define S2	"fedcba9876543210fedcba9876543210"
#define S3	"00000000000000000000000000000003"
#define S4	"00000000000000000000000000000004"
#define HDR	64
#define TAG	32
#define OVER	(HDR + 2 * TAG)
#define CONTENT	(HDR + TAG)	/* where it starts, with no record */
#define PEER	77

struct sent {
	uint32_t		type;
	uint32_t		peerid;
	int			fd;
	struct snap_result	res;
};

static struct sent		 sent[4];
static int			 nsent;
static struct snap_listed	 listed;
static int			 nlisted;
static struct snap_info		 infos[8];
static char			 records[8][256];
static int			 ninfos;
static struct chan		 ch;
static struct securerd_conf	 tconf;
static char			 dir[1024];

void
monitor_send(uint32_t type, uint32_t peerid, int fd, const void *data,
    size_t len)
{
	if (type == IMSG_SNAP_LISTED && len == sizeof(listed)) {
		memcpy(&listed, data, len);
		nlisted++;
		return;
	}
	if (nsent == 4 || len != sizeof(struct snap_result))
		atf_tc_fail("an unexpected message %u of %zu bytes", type, len);
	sent[nsent].type = type;
	sent[nsent].peerid = peerid;
	sent[nsent].fd = fd;
	memcpy(&sent[nsent].res, data, len);
	nsent++;
}

void
monitor_send_snap_info(const struct snap_info *si, const void *rec)
{
	if (ninfos == 8 || si->record_len >= sizeof(records[0]))
		atf_tc_fail("an unexpected stored session");
	infos[ninfos] = *si;
	memcpy(records[ninfos], rec, si->record_len);
	records[ninfos][si->record_len] = '\0';
	ninfos++;
}

/* A fresh state directory (not made: snapshot_init makes it). */
static void
setup(void)
{
	char	cwd[900];

	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(dir, sizeof(dir), "%s/state", cwd);
	memset(&tconf, 0, sizeof(tconf));
	strlcpy(tconf.state_dir, dir, sizeof(tconf.state_dir));
	tconf.max_snapshot = SNAPSHOT_DEFAULT;
	tconf.snapshot_quota = SNAPSHOT_QUOTA_DEFAULT;
	memset(&ch, 0, sizeof(ch));
	log_init(1, 0);
	snapshot_init(&tconf);
}

static char *
path(const char *session, const char *suffix)
{
	static char	p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s%s", dir, session, suffix);
	return (p);
}

static void
fill(uint8_t *p, size_t len, unsigned seed)
{
	size_t	i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 2654435761U + seed) >> 13);
}

static int
memfd_with(const uint8_t *data, size_t len)
{
	int	fd;

	ATF_REQUIRE((fd = memfd_create("t", MFD_CLOEXEC)) != -1);
	ATF_REQUIRE(write(fd, data, len) == (ssize_t)len);
	return (fd);
}

static struct snap_req
req(const char *session, uint32_t uid, uint64_t max, uint64_t bytes)
{
	static uint32_t	token = 1000;
	struct snap_req	sr;

	memset(&sr, 0, sizeof(sr));
	strlcpy(sr.session, session, sizeof(sr.session));
	sr.uid = uid;
	sr.token = ++token;
	sr.max_bytes = max;
	sr.bytes = bytes;
	return (sr);
}

static void
call(void (*fn)(struct chan *, struct imsg *), uint32_t type,
    struct snap_req *sr, int fd)
{
	struct imsg	imsg;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = type;
	imsg.hdr.len = IMSG_HEADER_SIZE + sizeof(*sr) + sr->record_len;
	imsg.hdr.peerid = PEER;
	imsg.data = sr;
	imsg.fd = fd;
	nsent = 0;
	fn(&ch, &imsg);
	/* The handler took the fd: imsg_free() would close it otherwise. */
	ATF_CHECK_EQ(imsg.fd, -1);
	if (fd != -1)
		ATF_CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
}

/* One reply, for this request: its status. */
static int
replied(const struct snap_req *sr)
{
	ATF_REQUIRE_EQ(nsent, 1);
	ATF_CHECK_EQ(sent[0].peerid, PEER);
	ATF_CHECK_EQ(sent[0].res.token, sr->token);
	if (sent[0].res.status == SNAP_OK)
		ATF_CHECK(sent[0].type == IMSG_SNAP_STORED ||
		    sent[0].type == IMSG_SNAP_LOADED);
	else {
		ATF_CHECK_EQ(sent[0].type, IMSG_SNAP_FAILED);
		ATF_CHECK_EQ(sent[0].fd, -1);
	}
	return (sent[0].res.status);
}

static int
store_fd(const char *session, uint32_t uid, uint64_t bytes, int fd)
{
	struct snap_req	sr = req(session, uid, SNAPSHOT_SIZE_MAX, bytes);
	int		status;

	call(broker_recv_snap_store, IMSG_SNAP_STORE, &sr, fd);
	status = replied(&sr);
	if (status == SNAP_OK) {
		ATF_CHECK_EQ(sent[0].type, IMSG_SNAP_STORED);
		ATF_CHECK_EQ(sent[0].res.bytes, bytes);
	}
	return (status);
}

static int
store(const char *session, uint32_t uid, size_t len, unsigned seed)
{
	uint8_t	*data;
	int	 status;

	ATF_REQUIRE((data = malloc(len + 1)) != NULL);
	fill(data, len, seed);
	status = store_fd(session, uid, len, memfd_with(data, len));
	free(data);
	return (status);
}

/* A load: its status, and the memfd if it gave one. */
static int
load(const char *session, uint32_t uid, int *fd)
{
	struct snap_req	sr = req(session, uid, 0, 0);
	int		status;

	call(broker_recv_snap_load, IMSG_SNAP_LOAD, &sr, -1);
	status = replied(&sr);
	*fd = sent[0].fd;
	if (status == SNAP_OK) {
		ATF_CHECK_EQ(sent[0].type, IMSG_SNAP_LOADED);
		ATF_CHECK(*fd != -1);
	}
	return (status);
}

static int
load_status(const char *session, uint32_t uid)
{
	int	fd, status;

	status = load(session, uid, &fd);
	if (fd != -1)
		close(fd);
	return (status);
}

static void
delete(const char *session, uint32_t uid)
{
	struct snap_req	sr = req(session, uid, 0, 0);

	call(broker_recv_snap_delete, IMSG_SNAP_DELETE, &sr, -1);
	ATF_CHECK_EQ(nsent, 0);
}

/* The loaded memfd holds exactly what was stored, sealed. */
static void
check_loaded(int fd, size_t len, unsigned seed)
{
	struct stat	 st;
	uint8_t		*want, *got;
	int		 seals;

	seals = fcntl(fd, F_GET_SEALS);
	ATF_CHECK_EQ(seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	    F_SEAL_SEAL);
	ATF_REQUIRE(fstat(fd, &st) == 0);
	ATF_CHECK_EQ((size_t)st.st_size, len);
	ATF_CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
	ATF_REQUIRE((want = malloc(len + 1)) != NULL);
	ATF_REQUIRE((got = malloc(len + 1)) != NULL);
	fill(want, len, seed);
	ATF_CHECK_EQ(read(fd, got, len + 1), (ssize_t)len);
	ATF_CHECK(memcmp(want, got, len) == 0);
	ATF_CHECK(write(fd, "x", 1) == -1 && errno == EPERM);
	ATF_CHECK(ftruncate(fd, len > 0 ? len - 1 : 1) == -1 &&
	    errno == EPERM);
	free(want);
	free(got);
}

static off_t
size_of(const char *p)
{
	struct stat	st;

	return (lstat(p, &st) == -1 ? -1 : st.st_size);
}

static void
copy_file(const char *from, const char *to)
{
	char	buf[65536];
	ssize_t	n;
	int	in, out;

	ATF_REQUIRE((in = open(from, O_RDONLY)) != -1);
	ATF_REQUIRE((out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600)) !=
	    -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ATF_REQUIRE(write(out, buf, n) == n);
	close(in);
	close(out);
}

static void
flip(const char *p, off_t off)
{
	uint8_t	b;
	int	fd;

	ATF_REQUIRE((fd = open(p, O_RDWR)) != -1);
	ATF_REQUIRE(pread(fd, &b, 1, off) == 1);
	b ^= 0x01;
	ATF_REQUIRE(pwrite(fd, &b, 1, off) == 1);
	close(fd);
}

ATF_TC_WITHOUT_HEAD(round_trip);
ATF_TC_BODY(round_trip, tc)
{
	struct stat	st;
	size_t		len = 3 * 1024 * 1024 + 17;	/* past a chunk */
	int		fd;

	setup();
	ATF_REQUIRE_EQ(store(S1, 1000, len, 1), SNAP_OK);
	ATF_REQUIRE(lstat(path(S1, ".snap"), &st) == 0);
	ATF_CHECK(S_ISREG(st.st_mode));
	ATF_CHECK_EQ(st.st_mode & 07777, 0600);
	ATF_CHECK_EQ((size_t)st.st_size, OVER + len);
	ATF_CHECK_EQ(size_of(path(S1, ".tmp")), -1);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	ATF_CHECK_EQ(sent[0].res.bytes, len);
	check_loaded(fd, len, 1);
	close(fd);
	/* The file stays until a delete or the next store. */
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	close(fd);
	/* A new store replaces it; an empty state is one too. */
	ATF_REQUIRE_EQ(store(S1, 1000, 0, 2), SNAP_OK);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), OVER);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, 0, 2);
	close(fd);
}

/* The worker's memfd may hold more than it said: only that is kept. */
ATF_TC_WITHOUT_HEAD(claimed_bytes_only);
ATF_TC_BODY(claimed_bytes_only, tc)
{
	uint8_t	data[5000];
	int	fd;

	setup();
	fill(data, sizeof(data), 3);
	ATF_REQUIRE_EQ(store_fd(S1, 1000, 4000, memfd_with(data,
	    sizeof(data))), SNAP_OK);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), OVER + 4000);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, 4000, 3);
	close(fd);
}

ATF_TC_WITHOUT_HEAD(other_owner);
ATF_TC_BODY(other_owner, tc)
{
	char	s2[PATH_MAX + 64];

	setup();
	ATF_REQUIRE_EQ(store(S1, 1000, 100, 1), SNAP_OK);
	ATF_CHECK_EQ(load_status(S1, 1001), SNAP_TAMPERED);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_OK);
	/* Another session's file, of the same owner, renamed into place. */
	ATF_REQUIRE_EQ(store(S2, 1000, 100, 2), SNAP_OK);
	strlcpy(s2, path(S2, ".snap"), sizeof(s2));
	ATF_REQUIRE(rename(s2, path(S1, ".snap")) == 0);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	/* Another owner cannot store over it either. */
	ATF_CHECK_EQ(store(S1, 1001, 100, 3), SNAP_IO);
	ATF_CHECK_EQ(sent[0].res.error, EPERM);
}

ATF_TC_WITHOUT_HEAD(tampered);
ATF_TC_BODY(tampered, tc)
{
	char	good[PATH_MAX + 64], p[PATH_MAX + 64];
	size_t	len = 2000;
	int	fd;

	setup();
	ATF_REQUIRE_EQ(store(S1, 1000, len, 1), SNAP_OK);
	strlcpy(p, path(S1, ".snap"), sizeof(p));
	snprintf(good, sizeof(good), "%s.good", dir);
	copy_file(p, good);

	flip(p, CONTENT + 10);			/* the content */
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	flip(p, CONTENT + len - 1);		/* its last byte */
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	flip(p, 3);				/* the magic */
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	/* The uid made 1001's: only the MAC tells. */
	flip(p, 12);
	ATF_CHECK_EQ(load_status(S1, 1001), SNAP_TAMPERED);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	flip(p, OVER + len - 1);		/* the tag */
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	ATF_REQUIRE(truncate(p, OVER + len - 1) == 0);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	ATF_REQUIRE(truncate(p, HDR - 1) == 0);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	ATF_REQUIRE(truncate(p, OVER + len + 1) == 0);	/* one too many */
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	copy_file(good, p);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, len, 1);
	close(fd);
}

ATF_TC_WITHOUT_HEAD(missing);
ATF_TC_BODY(missing, tc)
{
	setup();
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_MISSING);
	ATF_REQUIRE_EQ(store(S1, 1000, 10, 1), SNAP_OK);
	delete(S1, 1000);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_MISSING);
}

ATF_TC_WITHOUT_HEAD(too_large);
ATF_TC_BODY(too_large, tc)
{
	struct snap_req	sr;
	uint8_t		data[3000];

	setup();
	fill(data, sizeof(data), 1);
	/* Over the request's cap: a monitor that said so is broken. */
	sr = req(S1, 1000, 1000, 1001);
	call(broker_recv_snap_store, IMSG_SNAP_STORE, &sr,
	    memfd_with(data, 1001));
	ATF_CHECK_EQ(nsent, 0);
	ATF_CHECK(ch.failed);
	memset(&ch, 0, sizeof(ch));
	/* Over the broker's snapshot-size. */
	tconf.max_snapshot = 2000;
	sr = req(S1, 1000, 3000, 2001);
	call(broker_recv_snap_store, IMSG_SNAP_STORE, &sr,
	    memfd_with(data, 3000));
	ATF_CHECK_EQ(replied(&sr), SNAP_TOO_LARGE);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), -1);
	ATF_CHECK_EQ(size_of(path(S1, ".tmp")), -1);
	sr = req(S1, 1000, 3000, 2000);
	call(broker_recv_snap_store, IMSG_SNAP_STORE, &sr,
	    memfd_with(data, 3000));
	ATF_CHECK_EQ(replied(&sr), SNAP_OK);
}

ATF_TC_WITHOUT_HEAD(quota);
ATF_TC_BODY(quota, tc)
{
	setup();
	tconf.snapshot_quota = 3 * (OVER + 1000);
	ATF_REQUIRE_EQ(store(S1, 1000, 1000, 1), SNAP_OK);
	ATF_REQUIRE_EQ(store(S2, 1000, 1000, 2), SNAP_OK);
	ATF_REQUIRE_EQ(store(S3, 1000, 1000, 3), SNAP_OK);
	ATF_CHECK_EQ(store(S4, 1000, 0, 4), SNAP_QUOTA);
	ATF_CHECK_EQ(size_of(path(S4, ".snap")), -1);
	ATF_CHECK_EQ(size_of(path(S4, ".tmp")), -1);
	/* Its own old one is replaced, not counted twice. */
	ATF_CHECK_EQ(store(S1, 1000, 1000, 5), SNAP_OK);
	ATF_CHECK_EQ(store(S1, 1000, 1001, 6), SNAP_QUOTA);
	ATF_CHECK_EQ(store(S1, 1000, 10, 7), SNAP_OK);
	/* 3 * 1128 - 138 - 2 * 1128 left: 862 bytes of content. */
	ATF_CHECK_EQ(store(S4, 1000, 863, 8), SNAP_QUOTA);
	ATF_CHECK_EQ(store(S4, 1000, 862, 8), SNAP_OK);
	ATF_CHECK_EQ(store(S4, 1000, 863, 8), SNAP_QUOTA);
	ATF_CHECK_EQ(store(S4, 1000, 862, 8), SNAP_OK);
	/* The quota is each owner's. */
	ATF_CHECK_EQ(store(S4, 1001, 1000, 9), SNAP_IO);	/* 1000's */
	delete(S4, 1000);
	ATF_CHECK_EQ(store(S4, 1001, 1000, 9), SNAP_OK);
}

ATF_TC_WITHOUT_HEAD(symlink_planted);
ATF_TC_BODY(symlink_planted, tc)
{
	struct stat	st;
	char		victim[PATH_MAX + 64], buf[16];
	int		fd;

	setup();
	snprintf(victim, sizeof(victim), "%s.victim", dir);
	ATF_REQUIRE((fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC,
	    0600)) != -1);
	ATF_REQUIRE(write(fd, "victim", 6) == 6);
	close(fd);
	ATF_REQUIRE(symlink(victim, path(S1, ".snap")) == 0);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	/* A symlink as the temporary file too: neither is written through. */
	ATF_REQUIRE(symlink(victim, path(S1, ".tmp")) == 0);
	ATF_CHECK_EQ(store(S1, 1000, 5000, 1), SNAP_OK);
	ATF_REQUIRE(lstat(path(S1, ".snap"), &st) == 0);
	ATF_CHECK(S_ISREG(st.st_mode));
	ATF_CHECK_EQ(size_of(path(S1, ".tmp")), -1);
	ATF_REQUIRE((fd = open(victim, O_RDONLY)) != -1);
	ATF_CHECK_EQ(read(fd, buf, sizeof(buf)), 6);
	ATF_CHECK(memcmp(buf, "victim", 6) == 0);
	close(fd);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, 5000, 1);
	close(fd);
	/* A FIFO does not hold the broker. */
	ATF_REQUIRE(mkfifo(path(S2, ".snap"), 0600) == 0);
	ATF_CHECK_EQ(load_status(S2, 1000), SNAP_TAMPERED);
}

ATF_TC_WITHOUT_HEAD(short_memfd);
ATF_TC_BODY(short_memfd, tc)
{
	uint8_t	data[100];
	int	p[2], fd;

	setup();
	fill(data, sizeof(data), 1);
	ATF_CHECK_EQ(store_fd(S1, 1000, 200, memfd_with(data, 100)),
	    SNAP_IO);
	ATF_CHECK_EQ(sent[0].res.error, ENODATA);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), -1);
	ATF_CHECK_EQ(size_of(path(S1, ".tmp")), -1);
	/* Not a memfd: a pipe, a file on disk. */
	ATF_REQUIRE(pipe(p) == 0);
	ATF_REQUIRE(write(p[1], data, 100) == 100);
	ATF_CHECK_EQ(store_fd(S1, 1000, 100, p[0]), SNAP_IO);
	ATF_CHECK_EQ(sent[0].res.error, EINVAL);
	close(p[1]);
	ATF_REQUIRE((fd = open("plain", O_RDWR | O_CREAT, 0600)) != -1);
	ATF_REQUIRE(write(fd, data, 100) == 100);
	ATF_CHECK_EQ(store_fd(S1, 1000, 100, fd), SNAP_IO);
	ATF_CHECK_EQ(sent[0].res.error, EINVAL);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), -1);
	/* A failed store leaves the old snapshot as it was. */
	ATF_REQUIRE_EQ(store(S1, 1000, 50, 2), SNAP_OK);
	ATF_CHECK_EQ(store_fd(S1, 1000, 200, memfd_with(data, 100)),
	    SNAP_IO);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, 50, 2);
	close(fd);
}

struct meddler {
	int		fd;
	size_t		len;
	atomic_int	stop;
};

/* The worker, still holding the memfd: rewriting, shrinking, growing. */
static void *
meddle(void *arg)
{
	struct meddler	*m = arg;
	uint8_t		 b = 0;
	unsigned	 i;

	for (i = 0; !atomic_load(&m->stop); i++) {
		if (pwrite(m->fd, &b, 1, (i * 40503U) % m->len) != 1)
			break;
		b++;
		if (i % 64 == 0)
			(void)ftruncate(m->fd, i % 128 == 0 ? m->len / 2 :
			    m->len);
	}
	return (NULL);
}

/*
 * Whatever the memfd does while it is read, a store fails cleanly or
 * keeps a snapshot that loads: what was MACed is what was written.
 */
ATF_TC_WITHOUT_HEAD(hostile_memfd);
ATF_TC_BODY(hostile_memfd, tc)
{
	struct meddler	 m;
	pthread_t	 t;
	uint8_t		*data;
	size_t		 len = 8 * 1024 * 1024;
	int		 i, status, ok = 0, failed = 0, fd;

	setup();
	ATF_REQUIRE((data = malloc(len)) != NULL);
	fill(data, len, 5);
	for (i = 0; i < 8; i++) {
		m.fd = memfd_with(data, len);
		m.len = len;
		atomic_store(&m.stop, 0);
		ATF_REQUIRE((fd = dup(m.fd)) != -1);
		ATF_REQUIRE(pthread_create(&t, NULL, meddle, &m) == 0);
		status = store_fd(S1, 1000, len, fd);
		atomic_store(&m.stop, 1);
		ATF_REQUIRE(pthread_join(t, NULL) == 0);
		close(m.fd);
		if (status == SNAP_OK)
			ok++;
		else {
			ATF_CHECK_EQ(status, SNAP_IO);
			ATF_CHECK_EQ(sent[0].res.error, ENODATA);
			failed++;
		}
		ATF_CHECK_EQ(size_of(path(S1, ".tmp")), -1);
		if (ok > 0)
			ATF_CHECK_EQ(load_status(S1, 1000), SNAP_OK);
	}
	free(data);
	printf("under a meddling writer: %d stored, %d refused\n", ok, failed);
}

ATF_TC_WITHOUT_HEAD(delete_frees);
ATF_TC_BODY(delete_frees, tc)
{
	setup();
	tconf.snapshot_quota = OVER + 1000;
	ATF_REQUIRE_EQ(store(S1, 1000, 1000, 1), SNAP_OK);
	ATF_CHECK_EQ(store(S2, 1000, 1000, 2), SNAP_QUOTA);
	/* Not by another owner, and not one that is not there. */
	delete(S1, 1001);
	delete(S3, 1000);
	ATF_CHECK(size_of(path(S1, ".snap")) == OVER + 1000);
	delete(S1, 1000);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), -1);
	ATF_CHECK_EQ(store(S2, 1000, 1000, 2), SNAP_OK);
}

ATF_TC_WITHOUT_HEAD(restart);
ATF_TC_BODY(restart, tc)
{
	char	junk[PATH_MAX + 64];
	int	fd;

	setup();
	tconf.snapshot_quota = 2 * (OVER + 1000);
	ATF_REQUIRE_EQ(store(S1, 1000, 1000, 1), SNAP_OK);
	ATF_REQUIRE_EQ(store(S2, 1000, 1000, 2), SNAP_OK);
	/* A crash's temporary file, a snapshot that does not parse. */
	ATF_REQUIRE((fd = open(path(S3, ".tmp"), O_WRONLY | O_CREAT,
	    0600)) != -1);
	close(fd);
	snprintf(junk, sizeof(junk), "%s", path(S4, ".snap"));
	ATF_REQUIRE((fd = open(junk, O_WRONLY | O_CREAT, 0600)) != -1);
	ATF_REQUIRE(write(fd, "not a snapshot", 14) == 14);
	close(fd);
	snapshot_init(&tconf);
	ATF_CHECK_EQ(size_of(path(S3, ".tmp")), -1);
	ATF_CHECK_EQ(size_of(junk), 14);
	/* The counts survived; the key too. */
	ATF_CHECK_EQ(store(S3, 1000, 0, 3), SNAP_QUOTA);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, 1000, 1);
	close(fd);
	delete(S2, 1000);
	ATF_CHECK_EQ(store(S3, 1000, 1000, 3), SNAP_OK);
	snapshot_init(&tconf);
	ATF_CHECK_EQ(load_status(S3, 1000), SNAP_OK);
	ATF_CHECK_EQ(load_status(S4, 1000), SNAP_TAMPERED);
}

/* snapshot_init() in a child: its exit status. */
static int
init_status(void)
{
	pid_t	pid;
	int	status;

	fflush(stderr);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		snapshot_init(&tconf);
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_REQUIRE(WIFEXITED(status));
	return (WEXITSTATUS(status));
}

ATF_TC_WITHOUT_HEAD(bad_dir);
ATF_TC_BODY(bad_dir, tc)
{
	char	real[PATH_MAX];

	setup();
	ATF_CHECK_EQ(init_status(), 0);
	ATF_REQUIRE(chmod(dir, 0777) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(chmod(dir, 0720) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(chmod(dir, 0755) == 0);
	ATF_CHECK_EQ(init_status(), 0);
	snprintf(real, sizeof(real), "%s.real", dir);
	ATF_REQUIRE(rename(dir, real) == 0);
	ATF_REQUIRE(symlink(real, dir) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(unlink(dir) == 0);
	ATF_REQUIRE(close(open(dir, O_WRONLY | O_CREAT, 0600)) == 0);
	ATF_CHECK(init_status() != 0);
	/* Its parent must be there (but for the private default). */
	strlcpy(tconf.state_dir, "/nonexistent/securer/state",
	    sizeof(tconf.state_dir));
	ATF_CHECK(init_status() != 0);
	strlcpy(tconf.state_dir, "state", sizeof(tconf.state_dir));
	ATF_CHECK(init_status() != 0);
}

static void
read_key(uint8_t k[32])
{
	char		p[PATH_MAX + 8];
	struct stat	st;
	int		fd;

	snprintf(p, sizeof(p), "%s/key", dir);
	ATF_REQUIRE(lstat(p, &st) == 0);
	ATF_CHECK(S_ISREG(st.st_mode));
	ATF_CHECK_EQ(st.st_mode & 07777, 0600);
	ATF_CHECK_EQ(st.st_size, 32);
	ATF_CHECK_EQ(st.st_uid, geteuid());
	ATF_REQUIRE((fd = open(p, O_RDONLY)) != -1);
	ATF_REQUIRE(read(fd, k, 32) == 32);
	close(fd);
}

ATF_TC_WITHOUT_HEAD(key_file);
ATF_TC_BODY(key_file, tc)
{
	char	p[PATH_MAX + 8];
	uint8_t	k1[32], k2[32], zero[32];
	int	fd;

	umask(0277);		/* the key is 0600 whatever the umask */
	setup();
	umask(022);
	read_key(k1);
	memset(zero, 0, sizeof(zero));
	ATF_CHECK(memcmp(k1, zero, sizeof(zero)) != 0);
	snapshot_init(&tconf);
	read_key(k2);
	ATF_CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
	snprintf(p, sizeof(p), "%s/key", dir);
	ATF_REQUIRE(chmod(p, 0644) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(chmod(p, 0600) == 0);
	ATF_CHECK_EQ(init_status(), 0);
	ATF_REQUIRE(truncate(p, 31) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(unlink(p) == 0);
	ATF_REQUIRE(symlink("/dev/zero", p) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(unlink(p) == 0);
	ATF_REQUIRE(mkdir(p, 0700) == 0);
	ATF_CHECK(init_status() != 0);
	ATF_REQUIRE(rmdir(p) == 0);
	/* A new key: the old snapshots no longer verify. */
	ATF_REQUIRE_EQ(store(S1, 1000, 100, 1), SNAP_OK);
	snapshot_init(&tconf);
	read_key(k2);
	ATF_CHECK(memcmp(k1, k2, sizeof(k1)) != 0);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	(void)fd;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static void
time_one(size_t len, int runs)
{
	uint64_t	st[32], ld[32];
	uint8_t		*data;
	int		i, fd;

	ATF_REQUIRE((data = malloc(len)) != NULL);
	fill(data, len, 9);
	for (i = 0; i < runs; i++) {
		ATF_REQUIRE_EQ(store_fd(S1, 1000, len, memfd_with(data, len)),
		    SNAP_OK);
		st[i] = sent[0].res.elapsed_us;
		ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
		ld[i] = sent[0].res.elapsed_us;
		close(fd);
	}
	free(data);
	qsort(st, runs, sizeof(st[0]), cmp_u64);
	qsort(ld, runs, sizeof(ld[0]), cmp_u64);
	printf("%zu MB: store %.1f ms, load %.1f ms (median of %d; store "
	    "%.0f MB/s, load %.0f MB/s)\n", len / 1000000,
	    st[runs / 2] / 1000.0, ld[runs / 2] / 1000.0, runs,
	    len / (double)st[runs / 2], len / (double)ld[runs / 2]);
	fflush(stdout);
}

ATF_TC_WITHOUT_HEAD(timing);
ATF_TC_BODY(timing, tc)
{
	const char	*e = getenv("SNAP_RUNS");
	int		 runs;

	runs = e != NULL ? atoi(e) : 1;
	if (runs < 1 || runs > 32)
		runs = 1;
	setup();
	time_one(10 * 1000 * 1000, runs);
	time_one(100 * 1000 * 1000, runs);
}

/* A copy (session.fork of a hibernated session): its status. */
static int
copy(const char *from, const char *to, uint32_t uid, uint64_t max)
{
	struct snap_req	sr = req(to, uid, max, 0);

	strlcpy(sr.from, from, sizeof(sr.from));
	call(broker_recv_snap_copy, IMSG_SNAP_COPY, &sr, -1);
	return (replied(&sr));
}

ATF_TC_WITHOUT_HEAD(copy_checked);
ATF_TC_BODY(copy_checked, tc)
{
	char	moved[PATH_MAX + 64];
	size_t	len = 2 * 1024 * 1024 + 5;	/* past a chunk */
	int	fd;

	setup();
	ATF_REQUIRE_EQ(store(S1, 1000, len, 1), SNAP_OK);
	ATF_REQUIRE_EQ(copy(S1, S2, 1000, SNAPSHOT_SIZE_MAX), SNAP_OK);
	ATF_CHECK_EQ(sent[0].res.bytes, len);
	/* Each is its own session's, whole; the source stays. */
	ATF_REQUIRE_EQ(load(S2, 1000, &fd), SNAP_OK);
	check_loaded(fd, len, 1);
	close(fd);
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, len, 1);
	close(fd);
	/* The copy's header and MAC are its own: moved, it is refused. */
	strlcpy(moved, path(S3, ".snap"), sizeof(moved));
	copy_file(path(S2, ".snap"), moved);
	ATF_CHECK_EQ(load_status(S3, 1000), SNAP_TAMPERED);
	unlink(path(S3, ".snap"));
	/* Another owner's, a missing one, an edited one: not copied. */
	ATF_CHECK_EQ(copy(S1, S3, 1001, SNAPSHOT_SIZE_MAX), SNAP_TAMPERED);
	ATF_CHECK_EQ(copy(S4, S3, 1000, SNAPSHOT_SIZE_MAX), SNAP_MISSING);
	flip(path(S1, ".snap"), size_of(path(S1, ".snap")) / 2);
	ATF_CHECK_EQ(copy(S1, S3, 1000, SNAPSHOT_SIZE_MAX), SNAP_TAMPERED);
	ATF_CHECK_EQ(size_of(path(S3, ".snap")), -1);
	ATF_CHECK_EQ(size_of(path(S3, ".tmp")), -1);
	/* Over the size asked for: nothing kept. */
	ATF_CHECK_EQ(copy(S2, S3, 1000, len - 1), SNAP_TOO_LARGE);
	ATF_CHECK_EQ(size_of(path(S3, ".snap")), -1);
}

ATF_TC_WITHOUT_HEAD(copy_quota);
ATF_TC_BODY(copy_quota, tc)
{
	setup();
	tconf.snapshot_quota = 2 * (OVER + 1000);
	ATF_REQUIRE_EQ(store(S1, 1000, 1000, 1), SNAP_OK);
	ATF_REQUIRE_EQ(copy(S1, S2, 1000, SNAPSHOT_SIZE_MAX), SNAP_OK);
	ATF_CHECK_EQ(copy(S1, S3, 1000, SNAPSHOT_SIZE_MAX), SNAP_QUOTA);
	ATF_CHECK_EQ(size_of(path(S3, ".snap")), -1);
	delete(S2, 1000);
	ATF_CHECK_EQ(copy(S1, S3, 1000, SNAPSHOT_SIZE_MAX), SNAP_OK);
}

/* Only a copy names a source, and a copy always does. */
ATF_TC_WITHOUT_HEAD(copy_request);
ATF_TC_BODY(copy_request, tc)
{
	struct snap_req	sr = req(S1, 1000, 0, 0), out;
	struct imsg	imsg;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.len = IMSG_HEADER_SIZE + sizeof(sr);
	imsg.data = &sr;
	imsg.fd = -1;
	imsg.hdr.type = IMSG_SNAP_COPY;
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), -1);
	strlcpy(sr.from, S2, sizeof(sr.from));
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), 0);
	imsg.hdr.type = IMSG_SNAP_STORE;
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), -1);
	imsg.hdr.type = IMSG_SNAP_COPY;
	sr.from[5] = 'G';
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), -1);
	/* A record only with a store or a copy, and at most the most. */
	memset(sr.from, 0, sizeof(sr.from));
	imsg.hdr.type = IMSG_SNAP_LOAD;
	sr.record_len = 1;
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), -1);
	imsg.hdr.type = IMSG_SNAP_STORE;
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), 0);
	sr.record_len = SNAP_RECORD_MAX + 1;
	ATF_CHECK_EQ(msg_get_snap_req(&imsg, &out, NULL), -1);
}

/* A store with a record, as the monitor makes them. */
static int
store_with(const char *session, uint32_t uid, const char *rec, size_t len,
    unsigned seed)
{
	struct {
		struct snap_req	sr;
		char		rec[256];
	}		 m;
	uint8_t		*data;
	int		 status;

	ATF_REQUIRE(strlen(rec) < sizeof(m.rec));
	m.sr = req(session, uid, SNAPSHOT_SIZE_MAX, len);
	m.sr.record_len = strlen(rec);
	memcpy(m.rec, rec, m.sr.record_len);
	ATF_REQUIRE((data = malloc(len + 1)) != NULL);
	fill(data, len, seed);
	call(broker_recv_snap_store, IMSG_SNAP_STORE, &m.sr,
	    memfd_with(data, len));
	free(data);
	status = replied(&m.sr);
	return (status);
}

static void
list(void)
{
	struct snap_req	sr = req(S1, 0, 0, 0);

	ninfos = nlisted = 0;
	snapshot_monitor_new();
	call(broker_recv_snap_list, IMSG_SNAP_LIST, &sr, -1);
	ATF_CHECK_EQ(nlisted, 1);
	ATF_CHECK_EQ((int)listed.count, ninfos);
}

/* The record is stored, MACed, and listed for a new monitor. */
ATF_TC_WITHOUT_HEAD(record_listed);
ATF_TC_BODY(record_listed, tc)
{
	const char	*r1 = "{\"name\":\"one\"}", *r2 = "{\"name\":\"two\"}";
	int		 fd, i;

	setup();
	ATF_REQUIRE_EQ(store_with(S1, 1000, r1, 5000, 1), SNAP_OK);
	ATF_REQUIRE_EQ(store_with(S2, 1001, r2, 10, 2), SNAP_OK);
	ATF_CHECK_EQ(size_of(path(S1, ".snap")), OVER + strlen(r1) + 5000);
	/* A load hands back the content only. */
	ATF_REQUIRE_EQ(load(S1, 1000, &fd), SNAP_OK);
	check_loaded(fd, 5000, 1);
	close(fd);
	/* After a restart too, each with its owner, size and record. */
	snapshot_init(&tconf);
	list();
	ATF_REQUIRE_EQ(ninfos, 2);
	ATF_CHECK_EQ(listed.refused, 0);
	for (i = 0; i < 2; i++) {
		if (strcmp(infos[i].session, S1) == 0) {
			ATF_CHECK_EQ(infos[i].uid, 1000);
			ATF_CHECK_EQ(infos[i].bytes, 5000);
			ATF_CHECK_STREQ(records[i], r1);
		} else {
			ATF_CHECK_STREQ(infos[i].session, S2);
			ATF_CHECK_EQ(infos[i].uid, 1001);
			ATF_CHECK_EQ(infos[i].bytes, 10);
			ATF_CHECK_STREQ(records[i], r2);
		}
		ATF_CHECK(infos[i].stored > 0);
	}
	/* Once per monitor. */
	call(broker_recv_snap_list, IMSG_SNAP_LIST, &(struct snap_req){ 0 },
	    -1);
	ATF_CHECK(ch.failed);
}

/* An edited record is not listed, and its state not loaded either. */
ATF_TC_WITHOUT_HEAD(record_tampered);
ATF_TC_BODY(record_tampered, tc)
{
	const char	*rec = "{\"uid\":1000}";

	setup();
	ATF_REQUIRE_EQ(store_with(S1, 1000, rec, 100, 1), SNAP_OK);
	ATF_REQUIRE_EQ(store_with(S2, 1000, rec, 100, 2), SNAP_OK);
	flip(path(S1, ".snap"), HDR + 8);	/* "1000" -> "1001" */
	list();
	ATF_CHECK_EQ(ninfos, 1);
	ATF_CHECK_STREQ(infos[0].session, S2);
	ATF_CHECK_EQ(listed.refused, 1);
	ATF_CHECK_EQ(load_status(S1, 1000), SNAP_TAMPERED);
	/* Its record's MAC: the record's length is in the header. */
	flip(path(S2, ".snap"), HDR + strlen(rec) + 3);
	list();
	ATF_CHECK_EQ(ninfos, 0);
	ATF_CHECK_EQ(load_status(S2, 1000), SNAP_TAMPERED);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, round_trip);
	ATF_TP_ADD_TC(tp, claimed_bytes_only);
	ATF_TP_ADD_TC(tp, other_owner);
	ATF_TP_ADD_TC(tp, tampered);
	ATF_TP_ADD_TC(tp, missing);
	ATF_TP_ADD_TC(tp, too_large);
	ATF_TP_ADD_TC(tp, quota);
	ATF_TP_ADD_TC(tp, symlink_planted);
	ATF_TP_ADD_TC(tp, short_memfd);
	ATF_TP_ADD_TC(tp, hostile_memfd);
	ATF_TP_ADD_TC(tp, delete_frees);
	ATF_TP_ADD_TC(tp, restart);
	ATF_TP_ADD_TC(tp, bad_dir);
	ATF_TP_ADD_TC(tp, key_file);
	ATF_TP_ADD_TC(tp, timing);
	ATF_TP_ADD_TC(tp, copy_checked);
	ATF_TP_ADD_TC(tp, copy_quota);
	ATF_TP_ADD_TC(tp, copy_request);
	ATF_TP_ADD_TC(tp, record_listed);
	ATF_TP_ADD_TC(tp, record_tampered);
	return (atf_no_error());
}
