/*
 * The audit log file: where it may be, how records reach the disk, and
 * what happens when they cannot.
 *
 * Durability.  Every record is kept in memory from the moment it is
 * numbered until it is as durable as "audit-sync" promises: written
 * (never), written and fdatasync'd with all before it if something
 * waits for it, else covered by the next such flush (always), or
 * written and covered by
 * a fdatasync(2) that ran at most audit_sync_ms or AUDIT_BATCH_RECORDS
 * records later (batch).  durable_off is where the durable part of the
 * file ends.  When a write or an fdatasync fails (ENOSPC, EIO) nothing
 * after durable_off is trusted: a failed fdatasync may have dropped the
 * dirty pages, so retrying it and believing a 0 would claim records
 * that are gone.  Instead the log goes down: records queue in memory in
 * their order, the monitor refuses new executions, and a timer (the disk
 * gives no event when it has room again) truncates the file back to
 * durable_off and writes every queued record afresh, then fdatasyncs.
 * Only when that works is the log up again.  No record is lost or
 * written twice, and numbers stay in order.
 *
 * One writer.  Two daemons on one log would interleave two numberings
 * in it, so the broker holds an exclusive lock for its whole life on
 * .NAME.lock beside the log NAME (not on the log, which rotation
 * renames; hidden, so that NAME.* is still only the log's files):
 * flock(2), which its daemon(3) child keeps, dropped by the kernel
 * however the broker dies.  The file says who holds it, pid and socket,
 * for the daemon that is refused.
 */

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

struct pending {
	TAILQ_ENTRY(pending)	 entry;
	char			*text;
	size_t			 len;
};

static TAILQ_HEAD(, pending)	unsynced = TAILQ_HEAD_INITIALIZER(unsynced);
static size_t		nunsynced;
static char		log_path[PATH_MAX];
static int		log_fd = -1;
static int		lock_fd = -1;
static off_t		durable_off;
static off_t		written_off;	/* the file's end, as we wrote it */
static int		down;
static int		events_ready;
static struct event	ev_retry, ev_batch;

static void	auditfile_retry(int, short, void *);
static void	auditfile_batch(int, short, void *);

static int
mkdir_parents(const char *path)
{
	char	dir[PATH_MAX], *p;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return (-1);
	for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, 0750) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	return (0);
}

/*
 * Whoever can write the directory can rename the log away and put a
 * link in its place between our checks, so it must be ours or root's and
 * not writable by others.  A sticky /tmp is still refused: the sticky
 * bit keeps others from renaming our file, but not from planting the
 * name before we create it.  Logs go in a directory of their own.
 */
static int
check_dir(const char *path)
{
	char		dir[PATH_MAX];
	struct stat	st;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return (-1);
	if (lstat(dirname(dir), &st) == -1) {
		log_warn("audit log directory of %s", path);
		return (-1);
	}
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 &&
	    st.st_uid != geteuid()) || (st.st_mode & S_IWOTH)) {
		log_warnx("audit log %s: its directory must be a directory "
		    "owned by root or by us and not writable by others",
		    path);
		return (-1);
	}
	return (0);
}

static int
open_checked(const char *path)
{
	struct stat	st;
	int		fd;

	if (mkdir_parents(path) == -1) {
		log_warn("audit log directory for %s", path);
		return (-1);
	}
	if (check_dir(path) == -1)
		return (-1);
	/* O_NONBLOCK so a FIFO planted there cannot hang the open. */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | O_NOCTTY, 0600);
	if (fd == -1) {
		if (errno == ELOOP)
			log_warnx("audit log %s is a symbolic link; refusing "
			    "to use it", path);
		else
			log_warn("audit log %s", path);
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1) {
		log_warnx("audit log %s is not a regular file of ours with "
		    "one link; refusing to use it", path);
		close(fd);
		return (-1);
	}
	if (((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) == -1) ||
	    fcntl(fd, F_SETFL, O_APPEND) == -1) {
		log_warn("audit log %s", path);
		close(fd);
		return (-1);
	}
	return (fd);
}

/* A last line without its newline was cut by a crash: it goes. */
static off_t
repair_torn(int fd, const char *path)
{
	char	buf[4096];
	off_t	end, pos;
	ssize_t	n, i;

	if ((end = lseek(fd, 0, SEEK_END)) <= 0)
		return (end < 0 ? -1 : 0);
	for (pos = end; pos > 0; pos -= n) {
		n = pos > (off_t)sizeof(buf) ? (ssize_t)sizeof(buf) : pos;
		if (pread(fd, buf, n, pos - n) != n)
			return (-1);
		for (i = n - 1; i >= 0; i--)
			if (buf[i] == '\n')
				break;
		if (i < 0)
			continue;
		if (pos - n + i + 1 == end)
			return (end);
		pos = pos - n + i + 1;
		break;
	}
	if (pos < 0)
		pos = 0;
	log_warnx("audit log %s: torn last record (%lld bytes) removed",
	    path, (long long)(end - pos));
	if (ftruncate(fd, pos) == -1 || fsync(fd) == -1)
		return (-1);
	audit_repaired(end - pos);
	return (pos);
}

/* Who holds the lock, as its file says, fit to be logged. */
static void
lock_holder(int fd, char *buf, size_t len)
{
	ssize_t	n, i;

	if ((n = pread(fd, buf, len - 1, 0)) <= 0) {
		strlcpy(buf, "a daemon that has not said who it is yet", len);
		return;
	}
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	for (i = 0; i < n; i++)
		if (!isprint((unsigned char)buf[i]))
			buf[i] = '?';
}

static int
lock_take(const char *path)
{
	char	lpath[PATH_MAX], holder[PATH_MAX + 64];
	char	dir[PATH_MAX], base[PATH_MAX];
	int	fd;

	strlcpy(dir, path, sizeof(dir));
	strlcpy(base, path, sizeof(base));
	if ((size_t)snprintf(lpath, sizeof(lpath), "%s/.%s.lock",
	    dirname(dir), basename(base)) >= sizeof(lpath))
		return (-1);
	if ((fd = open_checked(lpath)) == -1)
		return (-1);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			lock_holder(fd, holder, sizeof(holder));
			log_warnx("audit log %s is in use by securerd %s; "
			    "refusing to start: each daemon needs an audit "
			    "log of its own", path, holder);
		} else
			log_warn("audit log lock %s", lpath);
		close(fd);
		return (-1);
	}
	lock_fd = fd;
	auditfile_lock_owner(getpid(), conf->socket_path);
	return (0);
}

/*
 * Says in the lock file who holds the lock: called again once the
 * daemon is in the background, where its pid is another.
 */
void
auditfile_lock_owner(pid_t pid, const char *socket)
{
	char	line[PATH_MAX + 64];
	int	n;

	if (lock_fd == -1)
		return;
	n = snprintf(line, sizeof(line), "pid %ld socket %s\n", (long)pid,
	    socket);
	if (n < 0 || (size_t)n >= sizeof(line) || ftruncate(lock_fd, 0) == -1 ||
	    write(lock_fd, line, n) != n)
		log_warn("audit log lock: recording pid %ld", (long)pid);
}

int
auditfile_open(const char *path)
{
	int	fd;

	if (strlcpy(log_path, path, sizeof(log_path)) >= sizeof(log_path))
		return (-1);
	if ((fd = open_checked(path)) == -1)
		return (-1);
	if (lock_take(path) == -1) {
		close(fd);
		return (-1);
	}
	if ((durable_off = repair_torn(fd, path)) == -1) {
		log_warn("audit log %s", path);
		close(fd);
		return (-1);
	}
	written_off = durable_off;
	log_fd = fd;
	return (0);
}

int
auditfile_fd(void)
{
	return (log_fd);
}

/*
 * The newest rotated file (path.N, N its last record's number), for a
 * start that finds the log empty: a crash between rotation's rename and
 * its first record.  0 if none.
 */
uint64_t
auditfile_newest_rotated(char *buf, size_t len)
{
	char			 dir[PATH_MAX], base[PATH_MAX], *end;
	struct dirent		*de;
	DIR			*d;
	size_t			 blen;
	unsigned long long	 n, best = 0;

	strlcpy(dir, log_path, sizeof(dir));
	strlcpy(base, log_path, sizeof(base));
	strlcpy(base, basename(base), sizeof(base));
	blen = strlen(base);
	if ((d = opendir(dirname(dir))) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, blen) != 0 ||
		    de->d_name[blen] != '.')
			continue;
		errno = 0;
		n = strtoull(de->d_name + blen + 1, &end, 10);
		if (*end != '\0' || errno != 0 || n <= best)
			continue;
		best = n;
		snprintf(buf, len, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	return (best);
}

static void
pending_clear(void)
{
	struct pending	*p;

	while ((p = TAILQ_FIRST(&unsynced)) != NULL) {
		TAILQ_REMOVE(&unsynced, p, entry);
		free(p->text);
		free(p);
	}
	nunsynced = 0;
}

static int
write_all(const char *text, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(log_fd, text, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (n == 0) {
			errno = EIO;
			return (-1);
		}
		text += n;
		len -= n;
		written_off += n;
	}
	return (0);
}

/*
 * Everything queued is durable now.  The broker is the file's one writer
 * (the lock), so its end is where our writes left it: no lseek(2) or
 * fstat(2) per record.
 */
static void
committed(void)
{
	durable_off = written_off;
	pending_clear();
	if (events_ready)
		evtimer_del(&ev_batch);
}

static void
go_down(const char *what)
{
	struct timeval	tv = { 1, 0 };

	log_warn("audit log %s: %s; audit log unavailable", log_path, what);
	if (!down) {
		down = 1;
		audit_state_changed(0);
	}
	if (events_ready && !evtimer_pending(&ev_retry, NULL))
		evtimer_add(&ev_retry, &tv);
}

static int
sync_now(void)
{
	if (fdatasync(log_fd) == -1) {
		go_down("fdatasync");
		return (0);
	}
	committed();
	return (1);
}

/*
 * Takes text (a whole line, newline included).  1 if it is as durable
 * as the policy says, 0 if the log is down; it is written later then.
 */
int
auditfile_append(char *text, size_t len, int sync)
{
	struct pending	*p;
	struct timeval	 tv;

	if ((p = malloc(sizeof(*p))) == NULL)
		fatal("%s", __func__);
	p->text = text;
	p->len = len;
	TAILQ_INSERT_TAIL(&unsynced, p, entry);
	nunsynced++;
	if (down || log_fd == -1)
		return (0);
	if (write_all(text, len) == -1) {
		go_down("write");
		return (0);
	}
	switch (conf->audit_sync) {
	case AUDIT_SYNC_ALWAYS:
		/* The rest is on disk with the next record waited for. */
		return (sync ? sync_now() : 1);
	case AUDIT_SYNC_BATCH:
		if (nunsynced >= AUDIT_BATCH_RECORDS || !events_ready)
			return (sync_now());
		if (!evtimer_pending(&ev_batch, NULL)) {
			tv.tv_sec = conf->audit_sync_ms / 1000;
			tv.tv_usec = (conf->audit_sync_ms % 1000) * 1000;
			evtimer_add(&ev_batch, &tv);
		}
		return (1);
	default:
		committed();
		return (1);
	}
}

static void
auditfile_batch(int fd, short event, void *arg)
{
	if (!down)
		sync_now();
}

/* Down: everything after durable_off is written afresh, then synced. */
static void
auditfile_retry(int fd, short event, void *arg)
{
	struct pending	*p;

	if (ftruncate(log_fd, durable_off) == -1) {
		go_down("ftruncate");
		return;
	}
	written_off = durable_off;
	TAILQ_FOREACH(p, &unsynced, entry)
		if (write_all(p->text, p->len) == -1) {
			go_down("write");
			return;
		}
	if (fdatasync(log_fd) == -1) {
		go_down("fdatasync");
		return;
	}
	committed();
	down = 0;
	log_info("audit log %s writable again", log_path);
	audit_state_changed(1);
}

int
auditfile_down(void)
{
	return (down);
}

void
auditfile_events(void)
{
	evtimer_set(&ev_retry, auditfile_retry, NULL);
	evtimer_set(&ev_batch, auditfile_batch, NULL);
	events_ready = 1;
	if (down)
		go_down("still failing");
}

/* 1 when the log has grown past "audit-rotate". */
int
auditfile_full(void)
{
	return (conf->audit_rotate > 0 && !down && log_fd != -1 &&
	    (uint64_t)written_off >= conf->audit_rotate);
}

/*
 * Renames the log to path.LAST (LAST: its last record's number) and
 * opens a fresh one; the caller writes the fresh one's first record.
 * Everything is synced first, so the old file is whole.
 */
int
auditfile_rotate(uint64_t last, char *rotated, size_t len)
{
	struct stat	st;
	char		dir[PATH_MAX];
	int		fd, dfd;

	if (down || log_fd == -1 || !sync_now())
		return (-1);
	snprintf(rotated, len, "%s.%012llu", log_path,
	    (unsigned long long)last);
	if (lstat(rotated, &st) == 0 || errno != ENOENT) {
		log_warnx("audit log rotation: %s exists", rotated);
		return (-1);
	}
	if (rename(log_path, rotated) == -1) {
		log_warn("audit log rotation: rename to %s", rotated);
		return (-1);
	}
	if ((fd = open_checked(log_path)) == -1) {
		if (rename(rotated, log_path) == -1)
			log_warn("audit log rotation: rename back");
		return (-1);
	}
	close(log_fd);
	log_fd = fd;
	durable_off = written_off = 0;
	strlcpy(dir, log_path, sizeof(dir));
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	return (0);
}
