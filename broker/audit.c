/*
 * The audit log: JSON lines, one record per event, each with a sequence
 * number and a timestamp.  The broker is its only writer; records are
 * built with cJSON so nothing a client or worker wrote can forge one.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "broker.h"
#include "log.h"

static int		audit_fd = -1;
static uint64_t		audit_seq;

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
};

static int
mkdir_parents(const char *path)
{
	char	dir[256], *p;

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

/* The number of the last record, so numbering continues across starts. */
static uint64_t
audit_last_seq(int fd)
{
	char	 buf[65536], *line;
	off_t	 end, start;
	ssize_t	 n;
	cJSON	*rec, *seq;
	uint64_t last = 0;

	if ((end = lseek(fd, 0, SEEK_END)) <= 0)
		return (0);
	start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	if ((n = pread(fd, buf, end - start, start)) <= 0)
		return (0);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	line = (line = strrchr(buf, '\n')) ? line + 1 : buf;
	if ((rec = cJSON_Parse(line)) != NULL) {
		seq = cJSON_GetObjectItemCaseSensitive(rec, "seq");
		if (cJSON_IsNumber(seq) && seq->valuedouble > 0)
			last = (uint64_t)seq->valuedouble;
		cJSON_Delete(rec);
	}
	return (last);
}

int
audit_open(const char *path)
{
	struct stat	st;
	int		fd;

	if (mkdir_parents(path) == -1) {
		log_warn("audit log directory for %s", path);
		return (-1);
	}
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
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) == -1) {
		log_warn("chmod %s", path);
		close(fd);
		return (-1);
	}
	if (fcntl(fd, F_SETFL, O_APPEND) == -1) {
		close(fd);
		return (-1);
	}
	audit_fd = fd;
	audit_seq = audit_last_seq(fd);
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

/* One write(2) per record, so O_APPEND keeps records whole. */
static void
audit_write(cJSON *r)
{
	char	*text;
	size_t	 len;

	if ((text = json_print(r, &len)) == NULL)
		fatal("%s", __func__);
	text[len++] = '\n';
	if (audit_fd != -1 && write(audit_fd, text, len) != (ssize_t)len)
		log_warn("audit log write");
	/* "audit-sync always": each record on disk before we go on. */
	else if (audit_fd != -1 && conf->audit_sync && fsync(audit_fd) == -1)
		log_warn("audit log fsync");
	free(text);
	cJSON_Delete(r);
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
	case AUDIT_EXEC_START:
		add_text(r, "code", t[0], l[0]);
		cJSON_AddBoolToObject(r, "code_truncated", ev->status == 1);
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
	case AUDIT_TOOL_CALL:
		add_text(r, "tool", t[0], l[0]);
		cJSON_AddStringToObject(r, "status",
		    exec_status_str(ev->status));
		cJSON_AddNumberToObject(r, "duration", secs);
		if (l[1] > 0)
			add_text(r, "error", t[1], l[1]);
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
	}
}

void
audit_monitor_event(const struct audit_event *ev, const char **texts)
{
	cJSON	*r = audit_record(event_names[ev->type]);

	cJSON_AddStringToObject(r, "session", ev->session);
	cJSON_AddNumberToObject(r, "uid", ev->uid);
	cJSON_AddNumberToObject(r, "pid", ev->pid);
	if (ev->worker_id != 0)
		cJSON_AddNumberToObject(r, "worker", ev->worker_id);
	if (ev->exec_id != 0)
		cJSON_AddNumberToObject(r, "exec", ev->exec_id);
	audit_fields(r, ev, texts);
	audit_write(r);
}

void
audit_worker_exit(uint32_t id, pid_t pid, const char *cause)
{
	cJSON	*r = audit_record(event_names[AUDIT_WORKER_EXIT]);

	cJSON_AddNumberToObject(r, "worker", id);
	cJSON_AddNumberToObject(r, "worker_pid", pid);
	cJSON_AddStringToObject(r, "cause", cause);
	audit_write(r);
}

void
audit_daemon(const char *event, const char *detail)
{
	cJSON	*r = audit_record(event);

	cJSON_AddNumberToObject(r, "daemon_pid", getpid());
	if (detail != NULL)
		cJSON_AddStringToObject(r, "detail", detail);
	audit_write(r);
}
