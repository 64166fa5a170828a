/*
 * The broker's side of its two channels: what the monitor sends it
 * (broker/proc.c: spawn, kill, audit records, reload) and what the
 * worker template sends it (broker/template.c: up, spawned, failed),
 * through the real dispatcher and the real tables.  The monitor runs as
 * an unprivileged user and faces clients: the broker must survive
 * anything it says, and refuse before any handler what the table does
 * not allow.
 *
 * The two files are compiled into this target so that their channels
 * and handler tables are reachable; what the messages cause (spawning,
 * killing) is stubbed and only checked for the values it gets.  Audit
 * records are written for real by broker/audit.c to a scratch log, and
 * each record written must be one line of valid JSON.  Snapshot
 * requests go to the real broker/snapshot.c over a scratch state
 * directory (a store cannot come: the table wants its fd, and none is
 * passed here; loads and deletes do).
 *
 * Input: messages, each a byte choosing the channel (top bit) and a row
 * of its table, a byte of flags (low bits: the size one byte short or
 * long, or the row's type replaced by the next byte), two bytes of
 * length and the payload.  Each is framed as the peer would frame it and
 * written into the channel's socket.
 */

#include "../../broker/proc.c"
#include "../../broker/template.c"

#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <fcntl.h>
#include <stdio.h>

#include <cJSON.h>

#include "fuzz.h"

struct securerd_conf	*conf;
static struct securerd_conf	 fconf;
static char			 audit_dir[] = "/tmp/securer-fuzz.XXXXXX";
static char			 audit_path[64];
static char			 state_dir[64];
static int			 afd = -1;
static int			 peer[2] = { -1, -1 };	/* our ends */
static int			 killed;

static void
cleanup(void)
{
	char	lock[sizeof(audit_dir) + 32];

	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fd = open(state_dir, O_RDONLY | O_DIRECTORY)) != -1 &&
	    (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(fd, de->d_name, 0);
		closedir(d);
	}
	rmdir(state_dir);
	snprintf(lock, sizeof(lock), "%s/.audit.jsonl.lock", audit_dir);
	unlink(lock);
	unlink(audit_path);
	rmdir(audit_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	conf = &fconf;
	/* The audit log's directory must be ours and private. */
	if (mkdtemp(audit_dir) == NULL)
		err(1, "mkdtemp");
	snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", audit_dir);
	atexit(cleanup);
	if (audit_open(audit_path) == -1)
		errx(1, "audit_open %s", audit_path);
	if ((afd = open(audit_path, O_RDWR | O_CLOEXEC)) == -1)
		err(1, "%s", audit_path);
	snprintf(state_dir, sizeof(state_dir), "%s/state", audit_dir);
	strlcpy(fconf.state_dir, state_dir, sizeof(fconf.state_dir));
	fconf.max_snapshot = SNAPSHOT_DEFAULT;
	fconf.snapshot_quota = SNAPSHOT_QUOTA_DEFAULT;
	snapshot_init(&fconf);
	return (0);
}

/* What the broker appended must be one line of JSON per record. */
static void
check_records(off_t before)
{
	struct stat	 st;
	char		*buf, *p, *nl;
	cJSON		*r;
	ssize_t		 n;

	if (fstat(afd, &st) == -1)
		err(1, "fstat");
	if (st.st_size == before)
		return;
	n = st.st_size - before;
	if ((buf = malloc(n + 1)) == NULL)
		err(1, "malloc");
	if (pread(afd, buf, n, before) != n)
		err(1, "pread");
	buf[n] = '\0';
	if (buf[n - 1] != '\n' || memchr(buf, '\0', n) != NULL)
		goto bad;
	for (p = buf; p < buf + n; p = nl + 1) {
		nl = memchr(p, '\n', buf + n - p);
		if ((r = cJSON_ParseWithLength(p, nl - p)) == NULL ||
		    !cJSON_IsObject(r))
			goto bad;
		cJSON_Delete(r);
	}
	free(buf);
	return;
 bad:
	fprintf(stderr, "bad audit record: %s\n", buf);
	abort();
}

/* A channel as child_start() leaves it, but with no process behind. */
static void
open_channel(struct child *c, int i)
{
	int	sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "socketpair");
	chan_init(&c->chan, c->spec, PROC_BROKER, c->handlers, c->nhandlers,
	    sv[0]);
	c->chan.owner = c;
	c->chan.lost = c->lost;
	c->chan.state = c->first_state;
	c->pid = -1;
	peer[i] = sv[1];
}

/* Whatever the broker wrote back (acks) is read and dropped. */
static void
drain(int fd)
{
	char	buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void
one(struct child *c, int fd, const uint8_t *in, size_t *left)
{
	const struct chan_rule	*r;
	struct imsg_hdr		 hdr;
	uint8_t			 row = in[0], flags = in[1];
	size_t			 len = in[2] | in[3] << 8;

	*left -= 4;
	in += 4;
	if (len > *left)
		len = *left;
	r = &c->spec->rules[row % c->spec->nrules];
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = r->type;
	if ((flags & 3) == 3 && len > 0)
		hdr.type = 90 + in[0];
	else if ((flags & 3) == 1 && len > 0)
		len--;
	else if ((flags & 3) == 2 && len < *left)
		len++;
	hdr.len = IMSG_HEADER_SIZE + len;
	if ((flags & 4) && r->size_rule != RULE_LENS)
		hdr.len = IMSG_HEADER_SIZE + r->hdr;	/* its exact size */
	if (hdr.len - IMSG_HEADER_SIZE > *left)
		hdr.len = IMSG_HEADER_SIZE + *left;
	if (write(fd, &hdr, sizeof(hdr)) != sizeof(hdr) ||
	    write(fd, in, hdr.len - IMSG_HEADER_SIZE) !=
	    (ssize_t)(hdr.len - IMSG_HEADER_SIZE))
		err(1, "write");
	*left -= hdr.len - IMSG_HEADER_SIZE;
	chan_read_all(&c->chan);
	drain(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stat	 st;
	struct child	*c;
	size_t		 left = size;

	fuzz_begin();
	killed = 0;
	open_channel(&monitor, 0);
	open_channel(&tpl, 1);
	if (fstat(afd, &st) == -1)
		err(1, "fstat");
	while (left >= 4 && !monitor.chan.failed && !tpl.chan.failed) {
		c = data[size - left] & 0x80 ? &tpl : &monitor;
		one(c, peer[c == &tpl], data + (size - left), &left);
	}
	/* What the table refused, the broker had killed. */
	if ((monitor.chan.failed || tpl.chan.failed) && !killed)
		abort();
	check_records(st.st_size);
	chan_close(&monitor.chan);
	chan_close(&tpl.chan);
	close(peer[0]);
	close(peer[1]);
	/* Keep the scratch log small. */
	if (ftruncate(afd, 0) == -1)
		err(1, "ftruncate");
	fuzz_end();
	return (0);
}

/*
 * What the messages would set off.  The handlers hand on only what was
 * checked; the stubs see that it is.
 */
void
spawn_request(const struct spawn_req *req)
{
}

void
spawn_kill(uint32_t id)
{
}

void
spawn_flush(void)
{
	if (tpl.chan.state != BT_UP)
		abort();
}

void
spawn_started(const struct tpl_spawned *ts)
{
	if (tpl.chan.state != BT_UP || ts->pid <= 0)
		abort();
}

void
spawn_failed(uint32_t id, int error)
{
	if (tpl.chan.state != BT_UP)
		abort();
}

void
spawn_template_lost(void)
{
}

void
spawn_idle(uint32_t id)
{
}

void
spawn_wake(uint32_t id)
{
}

void
broker_reload(void)
{
}

void
spawn_kill_all(void)
{
}

int
spawn_worker_uid(uint32_t id, uid_t *uid)
{
	return (-1);
}

int
config_chroot(struct securerd_conf *c)
{
	abort();
}

/* snapshot.c asks only for a private daemon's; fconf is a system's. */
void
config_defaults(struct securerd_conf *c)
{
	abort();
}

void
broker_shutdown(int status)
{
	abort();
}

void
monitor_main(int foreground, int verbose)
{
	abort();
}

int
child_start(struct child *c)
{
	abort();
}

int
child_reaped(struct child *c, pid_t pid, int status)
{
	return (-1);
}

int
child_running(const struct child *c)
{
	return (c->chan.open && !c->chan.failed);
}

/* A violation: the broker kills the peer; here that is all it does. */
void
child_kill(struct child *c, const char *why)
{
	killed = 1;
}

void
child_stop(struct child *c)
{
}
