/*
 * The snapshot store: sessions' hibernated state, kept by the broker
 * under the state directory (state-dir) and handed back only as it was
 * stored, to the owner it was stored for.
 *
 * What is stored was written by hostile code into a memfd the worker
 * may still hold: it is read with pread(2) only (a mapping would fault
 * when the worker truncates it), at most the bytes the worker claimed,
 * each byte once; what was read is what is both MACed and written.
 *
 * A snapshot is the file <session>.snap, written as <session>.tmp
 * (O_EXCL, 0600), fsync'd, renamed over the old one and the directory
 * fsync'd.  Its layout, integers little-endian:
 *
 *	offset		bytes	what
 *	0		12	magic, "SECURERSNAP2"
 *	12		4	the owner's uid
 *	16		32	the session id, 32 lowercase hex digits
 *	48		8	the content's length, n
 *	56		4	the record's length, r (at most 64 KiB)
 *	60		4	zero
 *	64		r	the session's record, as the monitor sent it
 *	64 + r		32	HMAC-SHA256, under the key, of bytes 0 to 64 + r
 *	96 + r		n	the content, as the worker wrote it
 *	96 + r + n	32	HMAC-SHA256 of bytes 0 to 96 + r + n
 *
 * so the file is exactly 128 + r + n bytes, and that is what the
 * owner's quota (snapshot-quota) is charged.  The key is the 32 random
 * bytes of the file "key" beside the snapshots, made at the first
 * start.  The record (the monitor's: owner, name, tools, limits) has a
 * MAC of its own so that a monitor after a restart can be given the
 * stored sessions (IMSG_SNAP_LIST) without every state being read; a
 * load checks the whole file's.
 *
 * A store fails with SNAP_IO and EINVAL if the fd is not a memfd (it
 * must be memory: a file on a filesystem its sender controls could
 * hold the broker in a read), and with SNAP_IO and ENODATA if the memfd
 * holds fewer bytes than claimed, at the start or as it is read.
 *
 * The table of what is stored (session, owner, size) is built at start
 * from the headers; the MACs are checked only at a load.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"
#include "msg.h"
#include "sha256.h"

/* libbsd's tree.h marks its static functions so; glibc leaves it out. */
#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#define SNAP_MAGIC		"SECURERSNAP2"
#define SNAP_MAGIC_LEN		12
#define SNAP_HDR_LEN		64
#define SNAP_TAG_LEN		SHA256_DIGEST_LEN
#define SNAP_OVERHEAD		(SNAP_HDR_LEN + 2 * SNAP_TAG_LEN)
#define SNAP_KEY_LEN		32
#define SNAP_CHUNK		(1024 * 1024)
#define SNAP_NAME_MAX		(SESSION_ID_LEN + 8)
#define SNAP_SEALS		(F_SEAL_SHRINK | F_SEAL_GROW | \
				    F_SEAL_WRITE | F_SEAL_SEAL)

struct snap {
	RB_ENTRY(snap)	 entry;
	char		 session[SESSION_ID_LEN + 1];
	uid_t		 uid;
	uint64_t	 size;		/* on disk, header and tag included */
};

struct owner {
	RB_ENTRY(owner)	 entry;
	uid_t		 uid;
	uint64_t	 bytes;		/* the sum of its snapshots' sizes */
};

/* A header as read, and its bytes: the MACs cover them. */
struct snap_hdr {
	uint8_t		 raw[SNAP_HDR_LEN];
	uid_t		 uid;
	uint64_t	 len;		/* the content's */
	uint32_t	 rlen;		/* the record's */
	time_t		 mtime;
};

/* Where the content starts: after the header, the record and its tag. */
#define SNAP_CONTENT_AT(h)	(SNAP_HDR_LEN + (h)->rlen + SNAP_TAG_LEN)

static int	snap_cmp(const struct snap *, const struct snap *);
static int	owner_cmp(const struct owner *, const struct owner *);

RB_HEAD(snaps, snap);
RB_HEAD(owners, owner);
RB_GENERATE_STATIC(snaps, snap, entry, snap_cmp)
RB_GENERATE_STATIC(owners, owner, entry, owner_cmp)

static struct snaps			 snaps = RB_INITIALIZER(&snaps);
static struct owners			 owners = RB_INITIALIZER(&owners);
static const struct securerd_conf	*sconf;
static int				 state_fd = -1;
static uint8_t				 key[SNAP_KEY_LEN];
static uint8_t				*chunk;
static int				 listed;	/* this monitor's */

static int
snap_cmp(const struct snap *a, const struct snap *b)
{
	return (strcmp(a->session, b->session));
}

static int
owner_cmp(const struct owner *a, const struct owner *b)
{
	return (a->uid < b->uid ? -1 : a->uid > b->uid);
}

static struct snap *
table_find(const char *session)
{
	struct snap	find;

	strlcpy(find.session, session, sizeof(find.session));
	return (RB_FIND(snaps, &snaps, &find));
}

static struct owner *
owner_find(uid_t uid)
{
	struct owner	find;

	find.uid = uid;
	return (RB_FIND(owners, &owners, &find));
}

static uint64_t
owner_bytes(uid_t uid)
{
	struct owner	*o;

	return ((o = owner_find(uid)) == NULL ? 0 : o->bytes);
}

static void
table_remove(struct snap *s)
{
	struct owner	*o;

	if ((o = owner_find(s->uid)) != NULL) {
		o->bytes -= s->size;
		if (o->bytes == 0) {
			RB_REMOVE(owners, &owners, o);
			free(o);
		}
	}
	RB_REMOVE(snaps, &snaps, s);
	free(s);
}

/* A snapshot on disk, in place of the session's old one if any. */
static void
table_add(const char *session, uid_t uid, uint64_t size)
{
	struct snap	*s;
	struct owner	*o;

	if ((s = table_find(session)) != NULL)
		table_remove(s);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("snapshot table");
	strlcpy(s->session, session, sizeof(s->session));
	s->uid = uid;
	s->size = size;
	RB_INSERT(snaps, &snaps, s);
	if ((o = owner_find(uid)) == NULL) {
		if ((o = calloc(1, sizeof(*o))) == NULL)
			fatal("snapshot table");
		o->uid = uid;
		RB_INSERT(owners, &owners, o);
	}
	o->bytes += size;
}

static void
table_clear(void)
{
	struct snap	*s, *next;

	RB_FOREACH_SAFE(s, snaps, &snaps, next)
		table_remove(s);
}

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t	v = 0;
	int		i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return (v);
}

/* Up to len bytes from off, fewer only at the file's end; -1 on error. */
static ssize_t
pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t	got = 0;
	ssize_t	n;

	while (got < len) {
		n = pread(fd, (uint8_t *)buf + got, len - got, off + got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		if (n == 0)
			break;
		got += n;
	}
	return (got);
}

static int
write_full(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		p += n;
		len -= n;
	}
	return (0);
}

static void
snap_name(char *buf, const char *session, const char *suffix)
{
	snprintf(buf, SNAP_NAME_MAX, "%s%s", session, suffix);
}

/* SESSION_ID_LEN lowercase hex digits and ".snap": one of ours. */
static int
snap_name_ok(const char *name)
{
	size_t	i;

	for (i = 0; i < SESSION_ID_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return (0);
	return (strcmp(name + SESSION_ID_LEN, ".snap") == 0);
}

static void
hdr_make(uint8_t *raw, uid_t uid, const char *session, uint64_t len,
    uint32_t rlen)
{
	memset(raw, 0, SNAP_HDR_LEN);
	memcpy(raw, SNAP_MAGIC, SNAP_MAGIC_LEN);
	put_le(raw + 12, uid, 4);
	memcpy(raw + 16, session, SESSION_ID_LEN);
	put_le(raw + 48, len, 8);
	put_le(raw + 56, rlen, 4);
}

/*
 * The session's snapshot, opened and its header checked against its
 * name and its size: the fd, or -1 with errno ENOENT (none) or EBADMSG
 * (not one of ours: a symlink, not a regular file, a bad header or
 * size), or that of a failed read.  Non-blocking: a FIFO planted there
 * does not hold the broker either.
 */
static int
snap_open(const char *session, struct snap_hdr *h)
{
	char		name[SNAP_NAME_MAX];
	struct stat	st;
	ssize_t		n;
	int		fd;

	snap_name(name, session, ".snap");
	fd = openat(state_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ELOOP)
			errno = EBADMSG;
		return (-1);
	}
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size < SNAP_OVERHEAD) {
		errno = EBADMSG;
		goto fail;
	}
	if ((n = pread_full(fd, h->raw, SNAP_HDR_LEN, 0)) == -1)
		goto fail;
	h->uid = get_le(h->raw + 12, 4);
	h->len = get_le(h->raw + 48, 8);
	h->rlen = get_le(h->raw + 56, 4);
	h->mtime = st.st_mtime;
	if (n != SNAP_HDR_LEN ||
	    memcmp(h->raw, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0 ||
	    memcmp(h->raw + 16, session, SESSION_ID_LEN) != 0 ||
	    get_le(h->raw + 60, 4) != 0 || h->rlen > SNAP_RECORD_MAX ||
	    h->len != (uint64_t)st.st_size - SNAP_OVERHEAD - h->rlen) {
		errno = EBADMSG;
		goto fail;
	}
	return (fd);
 fail:
	n = errno;
	close(fd);
	errno = n;
	return (-1);
}

/*
 * Parents made only for the private default (<private dir>/state):
 * one the operator named must be where the operator said.
 */
static void
state_parents(const struct securerd_conf *c)
{
	static struct securerd_conf	d;
	char				path[sizeof(c->state_dir)], *p;

	if (!c->single_user)
		return;
	config_defaults(&d);
	if (strcmp(c->state_dir, d.state_dir) != 0)
		return;
	strlcpy(path, c->state_dir, sizeof(path));
	if ((p = strrchr(path, '/')) == NULL || p == path)
		return;
	*p = '\0';
	for (p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST)
			fatal("state-dir: mkdir %s", path);
		*p = '/';
	}
	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		fatal("state-dir: mkdir %s", path);
}

/* The directory itself, ours and writable by us only. */
static int
state_open(const struct securerd_conf *c)
{
	const char	*dir = c->state_dir;
	struct stat	 st;
	int		 fd;

	if (dir[0] != '/')
		fatalx("state-dir %s is not an absolute path", dir);
	state_parents(c);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		fatal("state-dir %s", dir);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		/* O_DIRECTORY says ENOTDIR of a symlink too: which was it. */
		if ((errno == ELOOP || errno == ENOTDIR) &&
		    lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
			fatalx("state-dir %s is a symbolic link", dir);
		if (errno == ENOTDIR)
			fatalx("state-dir %s is not a directory", dir);
		fatal("state-dir %s", dir);
	}
	if (fstat(fd, &st) == -1)
		fatal("state-dir %s", dir);
	if (!S_ISDIR(st.st_mode))
		fatalx("state-dir %s is not a directory", dir);
	if (st.st_uid != geteuid())
		fatalx("state-dir %s is owned by uid %u, not by securerd's %u",
		    dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		fatalx("state-dir %s is writable by others than its owner "
		    "(mode %03o)", dir, (unsigned)(st.st_mode & 0777));
	return (fd);
}

/*
 * A new key, written whole under a temporary name and linked into
 * place, so that a crash leaves no short key and a concurrent start
 * cannot replace one: link(2) refuses an existing name.
 */
static void
key_create(void)
{
	uint8_t	k[SNAP_KEY_LEN];
	size_t	got;
	ssize_t	n;
	int	fd;

	for (got = 0; got < sizeof(k); got += n)
		if ((n = getrandom(k + got, sizeof(k) - got, 0)) == -1) {
			if (errno != EINTR)
				fatal("getrandom");
			n = 0;
		}
	if ((fd = openat(state_fd, "key.tmp", O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		fatal("%s/key.tmp", sconf->state_dir);
	if (fchmod(fd, 0600) == -1 || write_full(fd, k, sizeof(k)) == -1 ||
	    fsync(fd) == -1 || close(fd) == -1)
		fatal("%s/key.tmp", sconf->state_dir);
	explicit_bzero(k, sizeof(k));
	if (linkat(state_fd, "key.tmp", state_fd, "key", 0) == -1 &&
	    errno != EEXIST)
		fatal("%s/key", sconf->state_dir);
	if (unlinkat(state_fd, "key.tmp", 0) == -1 || fsync(state_fd) == -1)
		fatal("%s", sconf->state_dir);
	log_info("snapshots: a new key in %s/key", sconf->state_dir);
}

static void
key_load(void)
{
	const char	*dir = sconf->state_dir;
	struct stat	 st;
	int		 fd;

	fd = openat(state_fd, "key", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		key_create();
		fd = openat(state_fd, "key", O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_CLOEXEC);
	}
	if (fd == -1 && errno == ELOOP)
		fatalx("%s/key is a symbolic link", dir);
	if (fd == -1 || fstat(fd, &st) == -1)
		fatal("%s/key", dir);
	if (!S_ISREG(st.st_mode))
		fatalx("%s/key is not a regular file", dir);
	if (st.st_uid != geteuid())
		fatalx("%s/key is owned by uid %u, not by securerd's %u", dir,
		    (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 07777) != 0600)
		fatalx("%s/key has mode %04o, not 0600", dir,
		    (unsigned)(st.st_mode & 07777));
	if (st.st_size != SNAP_KEY_LEN)
		fatalx("%s/key is %lld bytes, not %d", dir,
		    (long long)st.st_size, SNAP_KEY_LEN);
	if (pread_full(fd, key, sizeof(key), 0) != SNAP_KEY_LEN)
		fatal("%s/key: short read", dir);
	close(fd);
}

/* One entry of the directory at start. */
static void
scan_one(const char *name)
{
	struct snap_hdr	h;
	struct stat	st;
	size_t		len = strlen(name);
	char		session[SESSION_ID_LEN + 1];
	int		fd;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, "key") == 0)
		return;
	if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
		/* Written by a store (or key_create) that did not end. */
		if (unlinkat(state_fd, name, 0) == -1)
			log_warn("snapshots: %s/%s", sconf->state_dir, name);
		else
			log_info("snapshots: removed %s, left by a crash",
			    name);
		return;
	}
	if (!snap_name_ok(name)) {
		log_debug("snapshots: %s/%s is not ours, left alone",
		    sconf->state_dir, name);
		return;
	}
	strlcpy(session, name, sizeof(session));
	if ((fd = snap_open(session, &h)) == -1) {
		log_warn("snapshots: %s/%s does not parse, left alone and "
		    "not counted", sconf->state_dir, name);
		return;
	}
	/*
	 * A session kept past "retention" is closed, its snapshot with it:
	 * so is one that an earlier run of the daemon left behind.
	 */
	if (fstat(fd, &st) == 0 && sconf->retention > 0 &&
	    time(NULL) - st.st_mtime > (time_t)sconf->retention) {
		close(fd);
		if (unlinkat(state_fd, name, 0) == -1)
			log_warn("snapshots: %s/%s", sconf->state_dir, name);
		else
			log_info("snapshots: removed %s, older than retention",
			    name);
		return;
	}
	close(fd);
	table_add(session, h.uid, SNAP_OVERHEAD + h.rlen + h.len);
}

static void
state_scan(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fd = openat(state_fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL)
		fatal("state-dir %s", sconf->state_dir);
	while ((de = readdir(d)) != NULL)
		scan_one(de->d_name);
	closedir(d);
}

/*
 * Once at start, with the privileges the broker keeps (root for a
 * system daemon, the user for a private one): what it makes here is
 * owned by them.  Again on the same directory rebuilds the table.
 */
void
snapshot_init(const struct securerd_conf *c)
{
	struct snap	*s;
	size_t		 n = 0;

	sconf = c;
	table_clear();
	if (state_fd != -1)
		close(state_fd);
	if (chunk == NULL && (chunk = malloc(SNAP_CHUNK)) == NULL)
		fatal("snapshot buffer");
	state_fd = state_open(c);
	state_scan();
	key_load();
	RB_FOREACH(s, snaps, &snaps)
		n++;
	log_debug("snapshots: %zu in %s", n, c->state_dir);
}

/* A session's state is not left in the broker's memory after it. */
static void
wipe_chunk(void)
{
	if (chunk != NULL)
		explicit_bzero(chunk, SNAP_CHUNK);
}

static void
reply(struct imsg *imsg, uint32_t type, const struct snap_req *sr,
    int status, int error, uint64_t bytes, uint64_t t0, int fd)
{
	struct snap_result	res;

	memset(&res, 0, sizeof(res));
	res.token = sr->token;
	res.status = status;
	res.error = status == SNAP_OK ? 0 : error;
	res.bytes = status == SNAP_OK ? bytes : 0;
	res.elapsed_us = now_us() - t0;
	if (status != SNAP_OK)
		type = IMSG_SNAP_FAILED;
	monitor_send(type, imsg_get_id(imsg), fd, &res, sizeof(res));
}

/* What the worker's memfd must be before a byte of it is read. */
static int
store_check_fd(const struct snap_req *sr, int fd, int *error)
{
	struct stat	st;

	if (fd == -1) {
		*error = EBADF;
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		*error = errno;
		log_warn("snapshot %s: store: fstat", sr->session);
		return (-1);
	}
	if (!S_ISREG(st.st_mode) || fcntl(fd, F_GET_SEALS) == -1) {
		*error = EINVAL;
		log_warnx("snapshot %s: store: not given a memfd",
		    sr->session);
		return (-1);
	}
	if ((uint64_t)st.st_size < sr->bytes) {
		*error = ENODATA;
		log_warnx("snapshot %s: store: the memfd holds %lld bytes, "
		    "not the %llu claimed", sr->session,
		    (long long)st.st_size, (unsigned long long)sr->bytes);
		return (-1);
	}
	return (0);
}

/* The session's own old snapshot is replaced: it is not counted. */
static int
store_check_quota(const struct snap_req *sr)
{
	struct snap	*old;
	uint64_t	 used, size = SNAP_OVERHEAD + sr->record_len + sr->bytes;

	used = owner_bytes(sr->uid);
	if ((old = table_find(sr->session)) != NULL && old->uid == sr->uid)
		used -= old->size;
	if (used > sconf->snapshot_quota ||
	    size > sconf->snapshot_quota - used) {
		log_warnx("snapshot %s: store: uid %u would hold %llu bytes, "
		    "over its quota of %llu", sr->session, (unsigned)sr->uid,
		    (unsigned long long)(used + size),
		    (unsigned long long)sconf->snapshot_quota);
		return (-1);
	}
	return (0);
}

/* The content, chunk by chunk: read once, MACed and written as read. */
static int
store_copy(const struct snap_req *sr, int in, int out,
    struct hmac_sha256 *mac, int *error)
{
	uint64_t	off;
	size_t		want;
	ssize_t		n;

	for (off = 0; off < sr->bytes; off += want) {
		want = sr->bytes - off < SNAP_CHUNK ? sr->bytes - off :
		    SNAP_CHUNK;
		if ((n = pread_full(in, chunk, want, off)) == -1) {
			*error = errno;
			log_warn("snapshot %s: store: read", sr->session);
			return (-1);
		}
		if ((size_t)n < want) {
			*error = ENODATA;
			log_warnx("snapshot %s: store: the memfd ended at "
			    "%llu bytes of %llu", sr->session,
			    (unsigned long long)(off + n),
			    (unsigned long long)sr->bytes);
			return (-1);
		}
		hmac_sha256_update(mac, chunk, want);
		if (write_full(out, chunk, want) == -1) {
			*error = errno;
			log_warn("snapshot %s: store: write", sr->session);
			return (-1);
		}
	}
	return (0);
}

/* The header, the record and the record's own MAC; mac goes on. */
static int
store_head(const struct snap_req *sr, const struct msg_text *rec, int out,
    struct hmac_sha256 *mac)
{
	struct hmac_sha256	rmac;
	uint8_t			hdr[SNAP_HDR_LEN], rtag[SNAP_TAG_LEN];

	hdr_make(hdr, sr->uid, sr->session, sr->bytes, rec->len);
	hmac_sha256_init(&rmac, key, sizeof(key));
	hmac_sha256_update(&rmac, hdr, sizeof(hdr));
	hmac_sha256_update(&rmac, rec->p, rec->len);
	hmac_sha256_final(&rmac, rtag);
	hmac_sha256_init(mac, key, sizeof(key));
	hmac_sha256_update(mac, hdr, sizeof(hdr));
	hmac_sha256_update(mac, rec->p, rec->len);
	hmac_sha256_update(mac, rtag, sizeof(rtag));
	if (write_full(out, hdr, sizeof(hdr)) == -1 ||
	    write_full(out, rec->p, rec->len) == -1 ||
	    write_full(out, rtag, sizeof(rtag)) == -1)
		return (-1);
	return (0);
}

static int
store_write(const struct snap_req *sr, const struct msg_text *rec, int in,
    int *error)
{
	struct hmac_sha256	mac;
	uint8_t			tag[SNAP_TAG_LEN];
	char			tmp[SNAP_NAME_MAX], dst[SNAP_NAME_MAX];
	int			out;

	snap_name(tmp, sr->session, ".tmp");
	snap_name(dst, sr->session, ".snap");
	if ((out = openat(state_fd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 && errno == EEXIST &&
	    unlinkat(state_fd, tmp, 0) == 0)
		out = openat(state_fd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out == -1) {
		*error = errno;
		log_warn("snapshot %s: store: %s", sr->session, tmp);
		return (-1);
	}
	if (store_head(sr, rec, out, &mac) == -1) {
		*error = errno;
		log_warn("snapshot %s: store: write", sr->session);
		goto fail;
	}
	if (store_copy(sr, in, out, &mac, error) == -1)
		goto fail;
	hmac_sha256_final(&mac, tag);
	if (write_full(out, tag, sizeof(tag)) == -1 || fsync(out) == -1) {
		*error = errno;
		log_warn("snapshot %s: store: write", sr->session);
		goto fail;
	}
	if (close(out) == -1 || renameat(state_fd, tmp, state_fd, dst) == -1) {
		out = -1;
		*error = errno;
		log_warn("snapshot %s: store: %s", sr->session, dst);
		goto fail;
	}
	/* In place, whatever the directory's fsync says. */
	table_add(sr->session, sr->uid, SNAP_OVERHEAD + rec->len + sr->bytes);
	if (fsync(state_fd) == -1) {
		*error = errno;
		log_warn("snapshot %s: store: fsync %s", sr->session,
		    sconf->state_dir);
		return (-1);
	}
	return (0);
 fail:
	explicit_bzero(&mac, sizeof(mac));
	if (out != -1)
		close(out);
	unlinkat(state_fd, tmp, 0);
	return (-1);
}

static int
store(const struct snap_req *sr, const struct msg_text *rec, int fd,
    int *error)
{
	struct snap	*old;
	uint64_t	 limit;

	limit = sr->max_bytes < sconf->max_snapshot ? sr->max_bytes :
	    sconf->max_snapshot;
	if (sr->bytes > limit) {
		log_warnx("snapshot %s: store: %llu bytes, over the %llu "
		    "allowed", sr->session, (unsigned long long)sr->bytes,
		    (unsigned long long)limit);
		return (SNAP_TOO_LARGE);
	}
	if (store_check_fd(sr, fd, error) == -1)
		return (SNAP_IO);
	if ((old = table_find(sr->session)) != NULL && old->uid != sr->uid) {
		*error = EPERM;
		log_warnx("snapshot %s: store: for uid %u, but uid %u's is "
		    "there", sr->session, (unsigned)sr->uid,
		    (unsigned)old->uid);
		return (SNAP_IO);
	}
	if (store_check_quota(sr) == -1)
		return (SNAP_QUOTA);
	if (store_write(sr, rec, fd, error) == -1)
		return (SNAP_IO);
	return (SNAP_OK);
}

void
broker_recv_snap_store(struct chan *ch, struct imsg *imsg)
{
	struct snap_req	sr;
	struct msg_text	rec;
	uint64_t	t0 = now_us();
	int		fd, status, error = 0;

	fd = imsg_get_fd(imsg);
	if (msg_get_snap_req(imsg, &sr, &rec) == -1) {
		if (fd != -1)
			close(fd);
		chan_fail(ch, "a bad snapshot request");
		return;
	}
	if (state_fd == -1) {
		status = SNAP_IO;
		error = ENXIO;
	} else
		status = store(&sr, &rec, fd, &error);
	if (fd != -1)
		close(fd);
	wipe_chunk();
	if (status == SNAP_OK)
		log_debug("snapshot %s: stored %llu bytes for uid %u in %llu "
		    "us", sr.session, (unsigned long long)sr.bytes,
		    (unsigned)sr.uid, (unsigned long long)(now_us() - t0));
	reply(imsg, IMSG_SNAP_STORED, &sr, status, error, sr.bytes, t0, -1);
}

/*
 * The record and its tag, into chunk (at most SNAP_RECORD_MAX +
 * SNAP_TAG_LEN bytes): -1 if the file ends first.
 */
static int
read_record(int in, const struct snap_hdr *h)
{
	size_t	want = h->rlen + SNAP_TAG_LEN;

	return (pread_full(in, chunk, want, SNAP_HDR_LEN) == (ssize_t)want ?
	    0 : -1);
}

/* The content into the memfd, MACed over exactly what was copied. */
static int
load_copy(const struct snap_req *sr, const struct snap_hdr *h, int in,
    int out, int *error)
{
	struct hmac_sha256	mac;
	uint8_t			tag[SNAP_TAG_LEN], want_tag[SNAP_TAG_LEN];
	uint64_t		off;
	size_t			want;
	ssize_t			n;

	hmac_sha256_init(&mac, key, sizeof(key));
	hmac_sha256_update(&mac, h->raw, sizeof(h->raw));
	if (read_record(in, h) == -1) {
		log_warnx("snapshot %s: load: the file shrank as it was read",
		    sr->session);
		return (SNAP_TAMPERED);
	}
	hmac_sha256_update(&mac, chunk, h->rlen + SNAP_TAG_LEN);
	for (off = 0; off < h->len; off += want) {
		want = h->len - off < SNAP_CHUNK ? h->len - off : SNAP_CHUNK;
		if ((n = pread_full(in, chunk, want, SNAP_CONTENT_AT(h) +
		    off)) == -1 || write_full(out, chunk, n) == -1) {
			*error = errno;
			log_warn("snapshot %s: load", sr->session);
			explicit_bzero(&mac, sizeof(mac));
			return (SNAP_IO);
		}
		if ((size_t)n < want)
			break;
		hmac_sha256_update(&mac, chunk, want);
	}
	hmac_sha256_final(&mac, tag);
	if (off < h->len || pread_full(in, want_tag, sizeof(want_tag),
	    SNAP_CONTENT_AT(h) + h->len) != SNAP_TAG_LEN) {
		log_warnx("snapshot %s: load: the file shrank as it was read",
		    sr->session);
		return (SNAP_TAMPERED);
	}
	if (digest_differ(tag, want_tag, sizeof(tag)) != 0) {
		log_warnx("snapshot %s: load: its MAC does not verify",
		    sr->session);
		return (SNAP_TAMPERED);
	}
	return (SNAP_OK);
}

static int
load(const struct snap_req *sr, int *mfd, uint64_t *len, int *error)
{
	struct snap_hdr	h;
	int		fd, status;

	if ((fd = snap_open(sr->session, &h)) == -1) {
		if (errno == ENOENT) {
			log_warnx("snapshot %s: load: none", sr->session);
			return (SNAP_MISSING);
		}
		*error = errno;
		if (errno == EBADMSG) {
			log_warnx("snapshot %s: load: not a snapshot, or not "
			    "this session's", sr->session);
			return (SNAP_TAMPERED);
		}
		log_warn("snapshot %s: load", sr->session);
		return (SNAP_IO);
	}
	if (h.uid != sr->uid) {
		log_warnx("snapshot %s: load: for uid %u, but uid %u's",
		    sr->session, (unsigned)sr->uid, (unsigned)h.uid);
		close(fd);
		return (SNAP_TAMPERED);
	}
	if ((*mfd = memfd_create("securer-snapshot", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1) {
		*error = errno;
		log_warn("snapshot %s: load: memfd_create", sr->session);
		close(fd);
		return (SNAP_IO);
	}
	status = load_copy(sr, &h, fd, *mfd, error);
	close(fd);
	if (status == SNAP_OK && (fcntl(*mfd, F_ADD_SEALS, SNAP_SEALS) == -1 ||
	    lseek(*mfd, 0, SEEK_SET) == -1)) {
		*error = errno;
		log_warn("snapshot %s: load: sealing", sr->session);
		status = SNAP_IO;
	}
	if (status != SNAP_OK) {
		close(*mfd);
		*mfd = -1;
	}
	*len = h.len;
	return (status);
}

void
broker_recv_snap_load(struct chan *ch, struct imsg *imsg)
{
	struct snap_req	sr;
	uint64_t	t0 = now_us(), len = 0;
	int		mfd = -1, status, error = 0;

	if (msg_get_snap_req(imsg, &sr, NULL) == -1) {
		chan_fail(ch, "a bad snapshot request");
		return;
	}
	if (state_fd == -1) {
		status = SNAP_IO;
		error = ENXIO;
	} else
		status = load(&sr, &mfd, &len, &error);
	wipe_chunk();
	if (status == SNAP_OK)
		log_debug("snapshot %s: loaded %llu bytes for uid %u in %llu "
		    "us", sr.session, (unsigned long long)len,
		    (unsigned)sr.uid, (unsigned long long)(now_us() - t0));
	reply(imsg, IMSG_SNAP_LOADED, &sr, status, error, len, t0, mfd);
}

/*
 * session.fork of a hibernated session: from's snapshot, checked as a
 * load checks it (owner, id, size, MAC), is stored as the new session's
 * under its own header and MAC, within the same owner's quota.  Its
 * bytes never leave the broker.
 */
void
broker_recv_snap_copy(struct chan *ch, struct imsg *imsg)
{
	struct snap_req	sr, src;
	struct msg_text	rec;
	uint64_t	t0 = now_us(), len = 0;
	int		mfd = -1, status, error = 0;

	if (msg_get_snap_req(imsg, &sr, &rec) == -1) {
		chan_fail(ch, "a bad snapshot request");
		return;
	}
	src = sr;
	memcpy(src.session, sr.from, sizeof(src.session));
	if (state_fd == -1) {
		status = SNAP_IO;
		error = ENXIO;
	} else if ((status = load(&src, &mfd, &len, &error)) == SNAP_OK) {
		sr.bytes = len;
		status = store(&sr, &rec, mfd, &error);
	}
	if (mfd != -1)
		close(mfd);
	wipe_chunk();
	if (status == SNAP_OK)
		log_debug("snapshot %s: copied to %s, %llu bytes for uid %u "
		    "in %llu us", sr.from, sr.session, (unsigned long long)len,
		    (unsigned)sr.uid, (unsigned long long)(now_us() - t0));
	reply(imsg, IMSG_SNAP_STORED, &sr, status, error, len, t0, -1);
}

/* The session closed: its snapshot goes, if the owner is the one said. */
void
broker_recv_snap_delete(struct chan *ch, struct imsg *imsg)
{
	struct snap_req	 sr;
	struct snap	*s;
	char		 name[SNAP_NAME_MAX];

	if (msg_get_snap_req(imsg, &sr, NULL) == -1) {
		chan_fail(ch, "a bad snapshot request");
		return;
	}
	if (state_fd == -1 || (s = table_find(sr.session)) == NULL)
		return;
	if (s->uid != sr.uid) {
		log_warnx("snapshot %s: delete: asked for uid %u, it is uid "
		    "%u's: kept", sr.session, (unsigned)sr.uid,
		    (unsigned)s->uid);
		return;
	}
	snap_name(name, sr.session, ".snap");
	if (unlinkat(state_fd, name, 0) == -1 && errno != ENOENT) {
		log_warn("snapshot %s: delete", sr.session);
		return;
	}
	table_remove(s);
}

/*
 * One stored session for the monitor: its record, if its own MAC
 * verifies.  The state itself is checked when it is loaded.
 */
static int
list_one(struct snap *s)
{
	struct hmac_sha256	mac;
	struct snap_hdr		h;
	struct snap_info	si;
	uint8_t			tag[SNAP_TAG_LEN];
	int			fd, ok;

	if ((fd = snap_open(s->session, &h)) == -1) {
		log_warn("snapshot %s: list", s->session);
		return (-1);
	}
	ok = h.uid == s->uid && read_record(fd, &h) == 0;
	close(fd);
	if (ok) {
		hmac_sha256_init(&mac, key, sizeof(key));
		hmac_sha256_update(&mac, h.raw, sizeof(h.raw));
		hmac_sha256_update(&mac, chunk, h.rlen);
		hmac_sha256_final(&mac, tag);
		ok = digest_differ(tag, chunk + h.rlen, sizeof(tag)) == 0;
	}
	if (!ok) {
		log_warnx("snapshot %s: its record does not verify: the "
		    "session is not given to the monitor", s->session);
		return (-1);
	}
	memset(&si, 0, sizeof(si));
	strlcpy(si.session, s->session, sizeof(si.session));
	si.uid = h.uid;
	si.record_len = h.rlen;
	si.stored = h.mtime;
	si.bytes = h.len;
	monitor_send_snap_info(&si, chunk);
	return (0);
}

/*
 * IMSG_SNAP_LIST: the sessions stored, for a monitor that starts
 * (after a daemon restart or a monitor's death) to take on; once per
 * monitor, since each answer reads every snapshot's head.
 */
void
broker_recv_snap_list(struct chan *ch, struct imsg *imsg)
{
	struct snap		*s;
	struct snap_listed	 sl;

	if (listed) {
		chan_fail(ch, "a second list of the snapshots");
		return;
	}
	listed = 1;
	memset(&sl, 0, sizeof(sl));
	if (state_fd != -1)
		RB_FOREACH(s, snaps, &snaps) {
			if (list_one(s) == 0)
				sl.count++;
			else
				sl.refused++;
		}
	wipe_chunk();
	monitor_send(IMSG_SNAP_LISTED, 0, -1, &sl, sizeof(sl));
}

/* A new monitor: it may ask for the list once. */
void
snapshot_monitor_new(void)
{
	listed = 0;
}
