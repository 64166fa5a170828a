/*
 * The broker's imsg payload decoders: what the monitor sends it
 * (broker/proc.c: spawn, kill, audit events, reload) and what the worker
 * template sends it (broker/template.c: ready, spawned, failed).  The
 * monitor runs as an unprivileged user and faces clients: the broker
 * must survive anything it says.
 *
 * The two files are compiled into this target so that their static
 * dispatch functions are reachable; what the messages cause (spawning,
 * killing) is stubbed and only checked for the values it gets.  Audit
 * events are written for real by broker/audit.c to a scratch log, and
 * each record written must be one line of valid JSON.
 *
 * Input: a sequence of messages, each a byte choosing the channel and
 * type, two bytes of length and the payload.
 */

#include "../../broker/proc.c"
#include "../../broker/template.c"

#include <sys/stat.h>

#include <err.h>
#include <stdio.h>

#include <cJSON.h>

#include "fuzz.h"

struct securerd_conf	*conf;
static struct securerd_conf	 fconf;
static char			 audit_dir[] = "/tmp/securer-fuzz.XXXXXX";
static char			 audit_path[64];
static int			 afd = -1;

static void
cleanup(void)
{
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
	return (0);
}

/* What the broker appended must be one line of JSON. */
static void
check_record(off_t before)
{
	struct stat	 st;
	char		*buf, *nl;
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
	nl = memchr(buf, '\n', n);
	if (nl == NULL || nl != buf + n - 1 || memchr(buf, '\0', n) != NULL ||
	    (r = cJSON_ParseWithLength(buf, n)) == NULL ||
	    !cJSON_IsObject(r)) {
		fprintf(stderr, "bad audit record: %s\n", buf);
		abort();
	}
	cJSON_Delete(r);
	free(buf);
}

static void
one(uint8_t sel, const uint8_t *p, size_t len)
{
	struct imsg	 imsg;
	struct stat	 st;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = (sel & 0x7f) % (IMSG_MAX + 1);
	imsg.hdr.len = IMSG_HEADER_SIZE + len;
	imsg.fd = -1;
	/* An exact copy: a read past the payload is seen by ASan. */
	if ((imsg.data = malloc(len ? len : 1)) == NULL)
		err(1, "malloc");
	memcpy(imsg.data, p, len);
	if (len == 0) {
		free(imsg.data);
		imsg.data = NULL;
	}
	if (fstat(afd, &st) == -1)
		err(1, "fstat");
	if (sel & 0x80)
		template_msg(&imsg);
	else
		broker_monitor_msg(&imsg);
	check_record(st.st_size);
	free(imsg.data);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		 len;
	uint8_t		 sel;

	fuzz_begin();
	tpl_ready = 0;
	while (size >= 3) {
		sel = data[0];
		len = data[1] | data[2] << 8;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		one(sel, data, len);
		data += len;
		size -= len;
	}
	/* Keep the scratch log small. */
	if (ftruncate(afd, 0) == -1)
		err(1, "ftruncate");
	fuzz_end();
	return (0);
}

/*
 * What the messages would set off.  The decoders hand on only what they
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
	if (!tpl_ready)
		abort();
}

void
spawn_started(const struct tpl_spawned *ts)
{
	if (!tpl_ready)
		abort();
}

void
spawn_failed(uint32_t id, int error)
{
	if (!tpl_ready)
		abort();
}

void
spawn_template_lost(void)
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

void
broker_shutdown(int status)
{
	abort();
}

void
monitor_main(struct securerd_conf *c, int broker_fd, int listen_fd)
{
	abort();
}
