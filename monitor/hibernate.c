/*
 * Hibernation's records and messages.  A session's state is written by
 * its worker into a memfd of ours, stored by the broker under the state
 * directory with a keyed MAC, and loaded again, checked, into a sealed
 * memfd that a fresh worker of the same session reads (DESIGN.md,
 * "Hibernation").  The transitions are core.c's; this file makes the
 * requests and keeps the sessions that wait for the broker's answer.
 *
 * The snapshot is written by sandboxed code: the monitor never reads it.
 * It only counts: the worker's claim of its size is checked by the
 * broker against the file, and against snapshot-size before it stores.
 */

#include <sys/types.h>
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"

static TAILQ_HEAD(, session)	waiting = TAILQ_HEAD_INITIALIZER(waiting);
static uint32_t			tokens;

/*
 * The worker is asked for its state, to be written into a new memfd of
 * which it gets a copy; ours goes to the broker.  -1 with errno if the
 * memfd or the request could not be made.
 */
int
hib_snapshot_send(struct session *s)
{
	int	fd, wfd;

	if ((fd = memfd_create("securer-state", MFD_CLOEXEC)) == -1)
		return (-1);
	if ((wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		close(fd);
		return (-1);
	}
	wire_broker_ahead();
	if (msg_send_snapshot(&s->worker->chan, conf->max_snapshot, wfd) ==
	    -1) {
		close(wfd);
		close(fd);
		return (-1);
	}
	s->snap_fd = fd;
	s->snap_t0 = now_us();
	s->worker->chan.state = WS_SNAP;
	return (0);
}

/*
 * A request to the broker for s's snapshot (a copy: from src's); the
 * answer comes with the token.  A store and a copy carry s's record,
 * for a monitor after a restart; one too large to store is left out,
 * and the session will not survive a restart.
 */
static void
hib_ask(struct session *s, uint32_t type, uint64_t bytes, int fd,
    const struct session *src)
{
	struct snap_req	 sr;
	char		*rec = NULL;
	size_t		 len = 0;

	memset(&sr, 0, sizeof(sr));
	strlcpy(sr.session, s->id, sizeof(sr.session));
	if (src != NULL)
		strlcpy(sr.from, src->id, sizeof(sr.from));
	sr.uid = s->ident->uid;
	sr.max_bytes = conf->max_snapshot;
	sr.bytes = bytes;
	if (type != IMSG_SNAP_DELETE) {
		if (++tokens == 0)
			tokens = 1;
		sr.token = s->snap_token = tokens;
		if (!s->snap_waiting) {
			TAILQ_INSERT_TAIL(&waiting, s, snap_entry);
			s->snap_waiting = 1;
		}
	}
	if ((type == IMSG_SNAP_STORE || type == IMSG_SNAP_COPY) &&
	    (rec = session_record(s, &len)) == NULL) {
		len = 0;
		log_warnx("session %s: its record is over %d bytes: it will "
		    "not survive a restart", s->id, SNAP_RECORD_MAX);
	}
	wire_snap(type, &sr, rec, len, fd);
	free(rec);
}

/* The worker said it wrote bytes: the broker stores them, if so. */
void
hib_store(struct session *s, uint64_t bytes)
{
	int	fd = s->snap_fd;

	s->snap_fd = -1;
	s->snap_bytes = bytes;
	hib_ask(s, IMSG_SNAP_STORE, bytes, fd, NULL);
}

/* The source's worker wrote its state: stored as the new session's. */
void
hib_store_fork(struct session *n, struct session *src, uint64_t bytes)
{
	int	fd = src->snap_fd;

	src->snap_fd = -1;
	n->snap_bytes = bytes;
	hib_ask(n, IMSG_SNAP_STORE, bytes, fd, NULL);
}

/* A hibernated source: the broker copies its snapshot for n. */
void
hib_copy(struct session *n, const struct session *src)
{
	hib_ask(n, IMSG_SNAP_COPY, 0, -1, src);
}

void
hib_load(struct session *s)
{
	s->snap_t0 = now_us();
	s->resume_loaded = s->resume_worker = 0;
	hib_ask(s, IMSG_SNAP_LOAD, 0, -1, NULL);
}

/* The session's snapshot on disk is of no more use. */
void
hib_delete(struct session *s)
{
	if (!s->snap_stored)
		return;
	s->snap_stored = 0;
	hib_ask(s, IMSG_SNAP_DELETE, 0, -1, NULL);
}

/* The session that waited for token, taken off the list; NULL: none. */
struct session *
hib_answered(uint32_t token)
{
	struct session	*s;

	TAILQ_FOREACH(s, &waiting, snap_entry)
		if (s->snap_token == token) {
			TAILQ_REMOVE(&waiting, s, snap_entry);
			s->snap_waiting = 0;
			s->snap_token = 0;
			return (s);
		}
	return (NULL);
}

/* The loaded state to the session's new worker. */
int
hib_restore_send(struct session *s)
{
	int	fd = s->snap_fd;

	s->snap_fd = -1;
	s->worker->chan.state = WS_RESTORE;
	if (msg_send_restore(&s->worker->chan, s->snap_bytes, fd) == -1) {
		close(fd);
		return (-1);
	}
	return (0);
}

/* The session goes: nothing of its hibernation may outlive it. */
void
hib_forget(struct session *s)
{
	if (s->snap_waiting) {
		TAILQ_REMOVE(&waiting, s, snap_entry);
		s->snap_waiting = 0;
	}
	if (s->snap_fd != -1)
		close(s->snap_fd);
	s->snap_fd = -1;
	free(s->resume_note);
	s->resume_note = NULL;
}

/* The reply after a resume says so, once. */
void
hib_resumed_json(struct session *s, cJSON *r)
{
	cJSON	*o;

	if (!s->resumed || r == NULL)
		return;
	s->resumed = 0;
	if ((o = cJSON_AddObjectToObject(r, "resumed")) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(o, "ms", s->resume_us / 1000.0);
	cJSON_AddNumberToObject(o, "bytes", (double)s->snap_bytes);
	if (s->resume_note != NULL && s->resume_note[0] != '\0')
		cJSON_AddStringToObject(o, "warning", s->resume_note);
}

/* The protocol's error code for the broker's enum snap_error. */
const char *
hib_error_code(uint32_t status)
{
	switch (status) {
	case SNAP_TOO_LARGE:
		return ("snapshot_too_large");
	case SNAP_QUOTA:
		return ("snapshot_quota");
	case SNAP_MISSING:
		return ("snapshot_missing");
	case SNAP_TAMPERED:
		return ("snapshot_tampered");
	default:
		return ("snapshot_failed");
	}
}

/* What the broker's answer means, for a client and the audit log. */
const char *
hib_error_str(const struct snap_result *res, char *buf, size_t len)
{
	switch (res->status) {
	case SNAP_TOO_LARGE:
		snprintf(buf, len, "the snapshot is over snapshot-size (%llu "
		    "bytes)", (unsigned long long)conf->max_snapshot);
		break;
	case SNAP_QUOTA:
		snprintf(buf, len, "the owner's snapshots would be over "
		    "snapshot-quota (%llu bytes)",
		    (unsigned long long)conf->snapshot_quota);
		break;
	case SNAP_MISSING:
		snprintf(buf, len, "the session's snapshot is not on disk");
		break;
	case SNAP_TAMPERED:
		snprintf(buf, len, "the session's snapshot on disk was changed "
		    "or is not this session's: it was refused");
		break;
	default:
		snprintf(buf, len, "the snapshot could not be stored or "
		    "read: %s", strerror(res->error));
		break;
	}
	return (buf);
}
