/*
 * The audit log's records: JSON lines, each with a sequence number and
 * a timestamp.  The broker is its only writer; records are built with
 * cJSON, which escapes quotes, newlines and control characters, so
 * nothing a client or worker wrote can end a record or start a forged
 * one.  auditfile.c gets them to the disk.
 *
 * The broker also remembers which executions have a start and no end
 * yet: a monitor that dies leaves them to be closed with exec_abort, a
 * rotation names them in the new file's first record, and a start after
 * a crash closes those the log shows open.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "broker.h"
#include "log.h"
#include "msg.h"

struct open_exec {
	TAILQ_ENTRY(open_exec)	 entry;
	char			 session[SESSION_ID_LEN + 1];
	uint32_t		 exec_id;
	uint32_t		 uid;
	uint32_t		 worker_id;
	uint64_t		 start_seq;
};

static TAILQ_HEAD(, open_exec)	open_execs =
    TAILQ_HEAD_INITIALIZER(open_execs);
static uint64_t		audit_seq;
static int64_t		repaired_bytes = -1;

static const char *event_names[AUDIT_MAX] = {
	[AUDIT_SESSION_OPEN] = "session_open",
	[AUDIT_SESSION_CLOSE] = "session_close",
	[AUDIT_SESSION_RESTART] = "session_restart",
	[AUDIT_EXEC_START] = "exec_start",
	[AUDIT_EXEC_END] = "exec_end",
	[AUDIT_TOOL_CALL] = "tool_call",
	[AUDIT_TIMEOUT] = "timeout",
	[AUDIT_WORKER_EXIT] = "worker_exit",
	[AUDIT_PROTOCOL] = "protocol_violation",
	[AUDIT_AUTH_FAIL] = "auth_fail",
	[AUDIT_EXEC_ABORT] = "exec_abort",
	[AUDIT_SESSION_HIBERNATE] = "session_hibernate",
	[AUDIT_SESSION_RESUME] = "session_resume",
	[AUDIT_SESSION_FORK] = "session_fork",
	[AUDIT_SESSION_DETACH] = "session_detach",
	[AUDIT_SESSION_ATTACH] = "session_attach",
	[AUDIT_SESSION_ADOPT] = "session_adopt",
};

static struct open_exec *
open_find(const char *session, uint32_t exec_id)
{
	struct open_exec	*o;

	TAILQ_FOREACH(o, &open_execs, entry)
		if (o->exec_id == exec_id && strcmp(o->session, session) == 0)
			return (o);
	return (NULL);
}

static void
open_add(const char *session, uint32_t exec_id, uint32_t uid,
    uint32_t worker_id, uint64_t seq)
{
	struct open_exec	*o;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		fatal("%s", __func__);
	strlcpy(o->session, session, sizeof(o->session));
	o->exec_id = exec_id;
	o->uid = uid;
	o->worker_id = worker_id;
	o->start_seq = seq;
	TAILQ_INSERT_TAIL(&open_execs, o, entry);
}

static void
open_remove(const char *session, uint32_t exec_id)
{
	struct open_exec	*o;

	if ((o = open_find(session, exec_id)) != NULL) {
		TAILQ_REMOVE(&open_execs, o, entry);
		free(o);
	}
}

/* What the log says: the last number, and the starts with no end. */
static void
scan_record(cJSON *rec)
{
	cJSON		*seq, *ev, *sess, *ex, *list, *item;
	const char	*name;

	seq = cJSON_GetObjectItemCaseSensitive(rec, "seq");
	ev = cJSON_GetObjectItemCaseSensitive(rec, "event");
	sess = cJSON_GetObjectItemCaseSensitive(rec, "session");
	ex = cJSON_GetObjectItemCaseSensitive(rec, "exec");
	if (cJSON_IsNumber(seq) && seq->valuedouble > audit_seq)
		audit_seq = (uint64_t)seq->valuedouble;
	if (!cJSON_IsString(ev))
		return;
	name = ev->valuestring;
	if (strcmp(name, "audit_rotate") == 0) {
		list = cJSON_GetObjectItemCaseSensitive(rec, "open");
		cJSON_ArrayForEach(item, list)
			scan_record(item);
		return;
	}
	if (!cJSON_IsString(sess) || !cJSON_IsNumber(ex) ||
	    strlen(sess->valuestring) > SESSION_ID_LEN)
		return;
	if (strcmp(name, "exec_start") == 0 || strcmp(name, "open") == 0)
		open_add(sess->valuestring, (uint32_t)ex->valuedouble, 0, 0,
		    cJSON_IsNumber(seq) ? (uint64_t)seq->valuedouble : 0);
	else if (strcmp(name, "exec_end") == 0 ||
	    strcmp(name, "exec_abort") == 0)
		open_remove(sess->valuestring, (uint32_t)ex->valuedouble);
}

static void
scan_file(const char *path, int fd)
{
	FILE	*f;
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 n;
	cJSON	*rec;
	int	 dfd;

	if ((dfd = fd != -1 ? dup(fd) : open(path, O_RDONLY | O_CLOEXEC)) ==
	    -1 || (f = fdopen(dfd, "r")) == NULL) {
		log_warn("audit log %s", path);
		return;
	}
	rewind(f);
	while ((n = getline(&line, &size, f)) != -1) {
		if ((rec = cJSON_Parse(line)) == NULL)
			continue;
		scan_record(rec);
		cJSON_Delete(rec);
	}
	free(line);
	fclose(f);
}

int
audit_open(const char *path)
{
	char	rotated[PATH_MAX];
	int	fd;

	if (auditfile_open(path) == -1)
		return (-1);
	fd = auditfile_fd();
	if (lseek(fd, 0, SEEK_END) == 0) {
		if (auditfile_newest_rotated(rotated, sizeof(rotated)) > 0)
			scan_file(rotated, -1);
	} else
		scan_file(path, fd);
	return (0);
}

static void
audit_timestamp(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;
	char		date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ldZ", date, ts.tv_nsec / 1000);
}

static cJSON *
audit_record(const char *event)
{
	cJSON	*r;
	char	 ts[64];

	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	audit_timestamp(ts, sizeof(ts));
	cJSON_AddNumberToObject(r, "seq", (double)++audit_seq);
	cJSON_AddStringToObject(r, "time", ts);
	cJSON_AddStringToObject(r, "event", event);
	return (r);
}

static void	audit_rotate_full(void);

/*
 * One line per record; 1 if durable as the policy says, else 0.  sync:
 * a record something waits for (an execution's start or end, the
 * daemon's own), which "always" puts on disk before it is answered; the
 * others (tool calls, sessions) go with the next such record.
 */
static int
audit_write(cJSON *r, int sync)
{
	char	*text;
	size_t	 len;
	int	 durable;

	if ((text = json_print(r, &len)) == NULL)
		fatal("%s", __func__);
	cJSON_Delete(r);
	text[len++] = '\n';
	durable = auditfile_append(text, len, sync);
	if (auditfile_full())
		audit_rotate_full();
	return (durable);
}

/* Texts from the monitor may hold anything: keep them valid UTF-8. */
static void
add_text(cJSON *r, const char *name, const char *text, uint32_t len)
{
	char	*clean;
	size_t	 n;

	if ((clean = utf8_sanitize(text, len, &n)) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(r, name, clean);
	free(clean);
}

/* The client's user name: looked up here, the monitor has no passwd. */
static void
add_user(cJSON *r, uint32_t uid)
{
	static uint32_t	 last_uid = UINT32_MAX;
	static char	 last_name[64];
	struct passwd	*pw;

	if (uid != last_uid) {
		last_uid = uid;
		if ((pw = getpwuid(uid)) != NULL)
			strlcpy(last_name, pw->pw_name, sizeof(last_name));
		else
			snprintf(last_name, sizeof(last_name), "%u", uid);
	}
	cJSON_AddStringToObject(r, "user", last_name);
}

static void
exec_fields(cJSON *r, const struct audit_event *ev, const char **t)
{
	const uint32_t	*l = ev->text_len;
	double		 secs = ev->duration_us / 1e6;

	switch (ev->type) {
	case AUDIT_EXEC_START:
		add_text(r, "code", t[0], l[0]);
		cJSON_AddNumberToObject(r, "code_bytes", ev->code_len);
		cJSON_AddBoolToObject(r, "code_truncated",
		    ev->code_len > l[0]);
		add_text(r, "code_sha256", t[1], l[1]);
		break;
	case AUDIT_EXEC_END:
		cJSON_AddStringToObject(r, "status",
		    exec_status_str(ev->status));
		cJSON_AddNumberToObject(r, "duration", secs);
		if (l[0] > 0)
			add_text(r, "error", t[0], l[0]);
		if (l[1] > 0)
			add_text(r, "message", t[1], l[1]);
		break;
	case AUDIT_EXEC_ABORT:
		add_text(r, "cause", t[0], l[0]);
		cJSON_AddStringToObject(r, "status",
		    exec_status_str(ev->status));
		cJSON_AddNumberToObject(r, "duration", secs);
		if (l[1] > 0)
			add_text(r, "error", t[1], l[1]);
		break;
	}
}

/* A hibernation, resume or fork: t0 why (what was not restored, the
 * session forked), t1 the error if it failed, t2 the snapshot's size in
 * decimal. */
static void
snap_fields(cJSON *r, const struct audit_event *ev, const char **t)
{
	const uint32_t	*l = ev->text_len;
	char		 num[24];
	const char	*errstr;
	long long	 bytes;

	cJSON_AddStringToObject(r, "status", ev->status == 0 ? "ok" :
	    "failed");
	cJSON_AddNumberToObject(r, "duration", ev->duration_us / 1e6);
	if (l[0] > 0)
		add_text(r, ev->type == AUDIT_SESSION_HIBERNATE ? "reason" :
		    ev->type == AUDIT_SESSION_FORK ? "from" :
		    ev->type == AUDIT_SESSION_ADOPT ? "name" : "note", t[0],
		    l[0]);
	if (l[1] > 0)
		add_text(r, "error", t[1], l[1]);
	if (l[2] > 0 && l[2] < sizeof(num)) {
		memcpy(num, t[2], l[2]);
		num[l[2]] = '\0';
		bytes = strtonum(num, 0, LLONG_MAX, &errstr);
		if (errstr == NULL)
			cJSON_AddNumberToObject(r, "bytes", (double)bytes);
	}
}

static void
audit_fields(cJSON *r, const struct audit_event *ev, const char **t)
{
	const uint32_t	*l = ev->text_len;
	double		 secs = ev->duration_us / 1e6;

	switch (ev->type) {
	case AUDIT_SESSION_OPEN:
		add_text(r, "tools", t[0], l[0]);
		add_text(r, "sandbox", t[1], l[1]);
		break;
	case AUDIT_SESSION_CLOSE:
	case AUDIT_SESSION_RESTART:
		add_text(r, "reason", t[0], l[0]);
		break;
	case AUDIT_SESSION_DETACH:
	case AUDIT_SESSION_ATTACH:
		add_text(r, "name", t[0], l[0]);
		break;
	case AUDIT_TOOL_CALL:
		add_text(r, "tool", t[0], l[0]);
		cJSON_AddStringToObject(r, "status",
		    exec_status_str(ev->status));
		cJSON_AddNumberToObject(r, "duration", secs);
		if (l[1] > 0)
			add_text(r, "error", t[1], l[1]);
		if (l[2] > 0)
			add_text(r, "result", t[2], l[2]);
		break;
	case AUDIT_TIMEOUT:
		cJSON_AddNumberToObject(r, "timeout", secs);
		break;
	case AUDIT_PROTOCOL:
		add_text(r, "what", t[0], l[0]);
		break;
	case AUDIT_AUTH_FAIL:
		add_text(r, "reason", t[0], l[0]);
		break;
	case AUDIT_SESSION_HIBERNATE:
	case AUDIT_SESSION_RESUME:
	case AUDIT_SESSION_FORK:
	case AUDIT_SESSION_ADOPT:
		snap_fields(r, ev, t);
		break;
	default:
		exec_fields(r, ev, t);
		break;
	}
}

static void
audit_open_execs(const struct audit_event *ev, uint64_t seq)
{
	if (ev->type == AUDIT_EXEC_START)
		open_add(ev->session, ev->exec_id, ev->uid, ev->worker_id,
		    seq);
	else if (ev->type == AUDIT_EXEC_END || ev->type == AUDIT_EXEC_ABORT)
		open_remove(ev->session, ev->exec_id);
}

/* The record of a monitor's event; 1 if it is durable. */
int
audit_monitor_event(const struct audit_event *ev,
    const struct msg_text *t)
{
	cJSON		*r = audit_record(event_names[ev->type]);
	const char	*texts[AUDIT_TEXTS];
	uid_t		 wuid;
	int		 i;

	/* The lengths are the event's: msg_get_audit() took them from it. */
	for (i = 0; i < AUDIT_TEXTS; i++)
		texts[i] = t[i].p;

	cJSON_AddStringToObject(r, "session", ev->session);
	cJSON_AddNumberToObject(r, "uid", ev->uid);
	add_user(r, ev->uid);
	if (ev->rule[0] != '\0')
		cJSON_AddStringToObject(r, "rule", ev->rule);
	cJSON_AddNumberToObject(r, "pid", ev->pid);
	if (ev->worker_id != 0) {
		cJSON_AddNumberToObject(r, "worker", ev->worker_id);
		if (spawn_worker_uid(ev->worker_id, &wuid) == 0)
			cJSON_AddNumberToObject(r, "worker_uid", wuid);
	}
	if (ev->exec_id != 0)
		cJSON_AddNumberToObject(r, "exec", ev->exec_id);
	audit_fields(r, ev, texts);
	audit_open_execs(ev, audit_seq);
	return (audit_write(r, (ev->flags & AUDIT_F_ACK) != 0));
}

void
audit_worker_exit(uint32_t id, pid_t pid, const char *cause)
{
	cJSON	*r = audit_record(event_names[AUDIT_WORKER_EXIT]);

	cJSON_AddNumberToObject(r, "worker", id);
	cJSON_AddNumberToObject(r, "worker_pid", pid);
	cJSON_AddStringToObject(r, "cause", cause);
	audit_write(r, 1);
}

void
audit_daemon(const char *event, const char *detail)
{
	cJSON	*r = audit_record(event);

	cJSON_AddNumberToObject(r, "daemon_pid", getpid());
	if (detail != NULL)
		cJSON_AddStringToObject(r, "detail", detail);
	audit_write(r, 1);
}

/* The start left a torn line behind; said once the numbers are known. */
void
audit_repaired(int64_t bytes)
{
	repaired_bytes = bytes;
}

/*
 * Every execution with a start and no end is closed with exec_abort:
 * at start-up those the log shows open (the daemon died under them),
 * when the monitor dies those it had running.
 */
void
audit_abort_open(const char *cause)
{
	struct open_exec	*o;
	cJSON			*r;

	if (repaired_bytes >= 0) {
		r = audit_record("log_repaired");
		cJSON_AddNumberToObject(r, "removed_bytes",
		    (double)repaired_bytes);
		audit_write(r, 1);
		repaired_bytes = -1;
	}
	while ((o = TAILQ_FIRST(&open_execs)) != NULL) {
		r = audit_record(event_names[AUDIT_EXEC_ABORT]);
		cJSON_AddStringToObject(r, "session", o->session);
		cJSON_AddNumberToObject(r, "exec", o->exec_id);
		if (o->uid != 0 || o->worker_id != 0) {
			cJSON_AddNumberToObject(r, "uid", o->uid);
			cJSON_AddNumberToObject(r, "worker", o->worker_id);
		}
		cJSON_AddNumberToObject(r, "start_seq", (double)o->start_seq);
		cJSON_AddStringToObject(r, "cause", cause);
		TAILQ_REMOVE(&open_execs, o, entry);
		free(o);
		audit_write(r, 1);
	}
}

/*
 * Rotation: the old file ends whole and synced, the new one starts with
 * audit_rotate, numbered on from the old one's last record and naming
 * the executions still open, so a start after a crash can close them.
 */
void
audit_rotate(const char *why)
{
	struct open_exec	*o;
	cJSON			*r, *list, *item;
	char			 rotated[PATH_MAX];

	if (auditfile_rotate(audit_seq, rotated, sizeof(rotated)) == -1) {
		log_warnx("audit log not rotated");
		return;
	}
	r = audit_record("audit_rotate");
	cJSON_AddStringToObject(r, "previous", rotated);
	cJSON_AddStringToObject(r, "reason", why);
	if ((list = cJSON_AddArrayToObject(r, "open")) == NULL)
		fatal("%s", __func__);
	TAILQ_FOREACH(o, &open_execs, entry) {
		if ((item = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(item, "event", "open");
		cJSON_AddStringToObject(item, "session", o->session);
		cJSON_AddNumberToObject(item, "exec", o->exec_id);
		cJSON_AddItemToArray(list, item);
	}
	log_info("audit log rotated to %s", rotated);
	audit_write(r, 1);
}

static void
audit_rotate_full(void)
{
	static int	rotating;

	if (rotating)
		return;
	rotating = 1;
	audit_rotate("size");
	rotating = 0;
}

void
audit_state_changed(int up)
{
	struct audit_state	st = { up };

	audit_daemon(up ? "audit_resumed" : "audit_unavailable", NULL);
	monitor_send(IMSG_AUDIT_STATE, 0, -1, &st, sizeof(st));
}
