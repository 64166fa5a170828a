/*
 * The messages of the broker's channels (BROKER_MONITOR_CHANNEL and
 * BROKER_TEMPLATE_CHANNEL in channels.h).  Most are one fixed struct,
 * composed and read by the two functions below; those with texts, or
 * whose fields need more than their size to be right, have their own.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <ctype.h>
#include <string.h>

#include "msg.h"

static int	snap_id_ok(const char *);

int
msg_send_fixed(struct chan *ch, uint32_t type, uint32_t id, int fd,
    const void *data, size_t len)
{
	struct iovec	iov = { (void *)data, len };

	return (chan_send(ch, type, id, fd, &iov, len > 0 ? 1 : 0));
}

void
msg_get_fixed(struct imsg *imsg, void *data, size_t len)
{
	if (len > 0)
		memcpy(data, imsg->data, len);
}


int
msg_send_conf(struct chan *ch, const struct securerd_conf *c)
{
	return (msg_send_fixed(ch, IMSG_CONF, 0, -1, c, sizeof(*c)));
}

/* Its strings end within their arrays, its counts within theirs. */
int
msg_get_conf(struct imsg *imsg, struct securerd_conf *c)
{
	uint32_t	i;

	msg_get_fixed(imsg, c, sizeof(*c));
	if (c->nrules > POLICY_RULES_MAX || c->nlibraries > LIBRARIES_MAX ||
	    memchr(c->socket_path, '\0', sizeof(c->socket_path)) == NULL ||
	    memchr(c->control_path, '\0', sizeof(c->control_path)) == NULL ||
	    memchr(c->user, '\0', sizeof(c->user)) == NULL ||
	    memchr(c->chroot, '\0', sizeof(c->chroot)) == NULL ||
	    memchr(c->audit_path, '\0', sizeof(c->audit_path)) == NULL ||
	    memchr(c->worker_path, '\0', sizeof(c->worker_path)) == NULL ||
	    memchr(c->sandbox_missing, '\0',
	    sizeof(c->sandbox_missing)) == NULL)
		return (-1);
	for (i = 0; i < c->nrules; i++)
		if (memchr(c->rules[i].name, '\0',
		    sizeof(c->rules[i].name)) == NULL ||
		    memchr(c->rules[i].token, '\0',
		    sizeof(c->rules[i].token)) == NULL)
			return (-1);
	return (0);
}

/* An audit record: the event, then its texts, each as long as it says. */
int
msg_send_audit(struct chan *ch, const struct audit_event *ev,
    const struct msg_text *texts)
{
	struct audit_event	 e = *ev;
	struct iovec		 iov[1 + AUDIT_TEXTS];
	int			 i, n = 1;

	iov[0].iov_base = &e;
	iov[0].iov_len = sizeof(e);
	for (i = 0; i < AUDIT_TEXTS; i++) {
		e.text_len[i] = texts[i].len;
		if (texts[i].len == 0)
			continue;
		iov[n].iov_base = (void *)texts[i].p;
		iov[n++].iov_len = texts[i].len;
	}
	return (chan_send(ch, IMSG_AUDIT, 0, -1, iov, n));
}

/*
 * The monitor writes none of the broker's own events, names a session
 * by its hex id and a rule in its array, and asks only for an ack.
 */
int
msg_get_audit(struct imsg *imsg, struct audit_event *ev,
    struct msg_text *texts)
{
	const char	*p;
	size_t		 i;

	msg_get_fixed(imsg, ev, sizeof(*ev));
	if (ev->type < AUDIT_SESSION_OPEN || ev->type >= AUDIT_MAX ||
	    ev->type == AUDIT_WORKER_EXIT ||
	    ev->session[SESSION_ID_LEN] != '\0' ||
	    memchr(ev->rule, '\0', sizeof(ev->rule)) == NULL ||
	    (ev->flags & ~AUDIT_F_ACK) != 0)
		return (-1);
	for (i = 0; ev->session[i] != '\0'; i++)
		if (!isxdigit((unsigned char)ev->session[i]))
			return (-1);
	p = (const char *)imsg->data + sizeof(*ev);
	for (i = 0; i < AUDIT_TEXTS; i++) {
		texts[i].p = p;
		texts[i].len = ev->text_len[i];
		p += ev->text_len[i];
	}
	return (0);
}

int
msg_get_worker_exit(struct imsg *imsg, struct worker_exit *we)
{
	msg_get_fixed(imsg, we, sizeof(*we));
	return (we->cause <= EXIT_VIOLATION ? 0 : -1);
}

int
msg_get_tpl_spawned(struct imsg *imsg, struct tpl_spawned *ts)
{
	msg_get_fixed(imsg, ts, sizeof(*ts));
	return (ts->pid > 0 ? 0 : -1);
}

/*
 * A snapshot's request: its session id names a file under the state
 * directory, so it is exactly what the monitor makes (SESSION_ID_LEN
 * lowercase hex digits) and nothing else.  A store and a copy carry the
 * session's record (rec), which the channel's table has sized; a load
 * and a delete none.
 */
int
msg_get_snap_req(struct imsg *imsg, struct snap_req *sr,
    struct msg_text *rec)
{
	uint32_t	type = imsg_get_type(imsg);

	msg_get_fixed(imsg, sr, sizeof(*sr));
	if (!snap_id_ok(sr->session) ||
	    (sr->from[0] != '\0' && !snap_id_ok(sr->from)) ||
	    sr->from[SESSION_ID_LEN] != '\0')
		return (-1);
	/* A copy says from where; nothing else does. */
	if ((type == IMSG_SNAP_COPY) != (sr->from[0] != '\0'))
		return (-1);
	if (sr->max_bytes > SNAPSHOT_SIZE_MAX || sr->bytes > sr->max_bytes)
		return (-1);
	if (type != IMSG_SNAP_STORE && type != IMSG_SNAP_COPY &&
	    sr->record_len != 0)
		return (-1);
	if (sr->record_len > SNAP_RECORD_MAX)
		return (-1);
	if (rec != NULL) {
		rec->p = (const char *)imsg->data + sizeof(*sr);
		rec->len = sr->record_len;
	}
	return (0);
}

/* A store or a copy: the request, then the session's record. */
int
msg_send_snap_req(struct chan *ch, uint32_t type, const struct snap_req *sr,
    const char *rec, size_t len, int fd)
{
	struct snap_req	r = *sr;
	struct iovec	iov[2];

	r.record_len = len;
	iov[0].iov_base = &r;
	iov[0].iov_len = sizeof(r);
	iov[1].iov_base = (void *)rec;
	iov[1].iov_len = len;
	return (chan_send(ch, type, 0, fd, iov, len > 0 ? 2 : 1));
}

/* One stored session, for the monitor to adopt: its info and record. */
int
msg_send_snap_info(struct chan *ch, const struct snap_info *si,
    const void *rec)
{
	struct iovec	iov[2];

	iov[0].iov_base = (void *)si;
	iov[0].iov_len = sizeof(*si);
	iov[1].iov_base = (void *)rec;
	iov[1].iov_len = si->record_len;
	return (chan_send(ch, IMSG_SNAP_ADOPT, 0, -1, iov,
	    si->record_len > 0 ? 2 : 1));
}

int
msg_get_snap_info(struct imsg *imsg, struct snap_info *si,
    struct msg_text *rec)
{
	msg_get_fixed(imsg, si, sizeof(*si));
	if (!snap_id_ok(si->session) || si->record_len > SNAP_RECORD_MAX ||
	    si->bytes > SNAPSHOT_SIZE_MAX)
		return (-1);
	rec->p = (const char *)imsg->data + sizeof(*si);
	rec->len = si->record_len;
	return (0);
}

/* A session id as the monitor makes them: lower-case hex, then NUL. */
static int
snap_id_ok(const char *id)
{
	size_t	i;

	if (id[SESSION_ID_LEN] != '\0')
		return (0);
	for (i = 0; i < SESSION_ID_LEN; i++)
		if (!isxdigit((unsigned char)id[i]) ||
		    isupper((unsigned char)id[i]))
			return (0);
	return (1);
}

int
msg_get_snap_result(struct imsg *imsg, struct snap_result *res)
{
	msg_get_fixed(imsg, res, sizeof(*res));
	return (res->status > SNAP_IO ? -1 : 0);
}
