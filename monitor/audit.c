/*
 * The monitor's side of the audit log: every record it sends the broker
 * is made here, and here it waits for the broker's acks.
 *
 * Where "a start record is durable before the execution runs" and "no
 * result goes out before its end record is durable" are enforced, under
 * audit-sync always, the one policy that promises a flush: the
 * exec_start, exec_end and exec_abort records go to the broker with
 * AUDIT_F_ACK and a token, and
 *	- the job is handed to its worker only once the broker acks its
 *	  start (the callback given to audit_wait_start());
 *	- the final reply (result or error) is held here and sent only once
 *	  the broker acks the end; if the broker says the log is down the
 *	  client gets "audit_unavailable" instead of the result.
 * The broker answers records in the order it got them, so the waits
 * form a queue in token order.  While the broker says the log is down
 * no new job is admitted.
 *
 * Under batch and never the records are only ordered: each is on the
 * channel ahead of the job's dispatch or its reply, and nothing waits
 * for the broker (a round trip and two wakeups less per execution);
 * securerd(8) "Durability" says what that gives up.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"
#include "msg.h"

struct audit_wait {
	TAILQ_ENTRY(audit_wait)	 entry;
	uint32_t		 token;
	void			(*started)(void *, int);	/* a start */
	void			*arg;
	struct client		*client;	/* an end, to answer */
	uint64_t		 req_id;
	cJSON			*reply;
};

static TAILQ_HEAD(, audit_wait)	waits = TAILQ_HEAD_INITIALIZER(waits);
static uint32_t			tokens;
int				audit_down;

static uint32_t
audit_token(void)
{
	if (++tokens == 0)
		tokens = 1;
	return (tokens);
}

static size_t
audit_cut(const char *text, size_t max)
{
	size_t	len = text == NULL ? 0 : strlen(text);

	return (len > max ? max : len);
}

/* Code as "audit-code" says, a tool's result summary short, else 4 KB. */
static size_t
audit_text_max(enum audit_type type, int i)
{
	if (type == AUDIT_EXEC_START && i == 0)
		return (conf->audit_code);
	/* A call's error and its result: what they were, not all of it. */
	if (type == AUDIT_TOOL_CALL && i >= 1)
		return (AUDIT_SUMMARY_MAX);
	return (4096);
}

static void
audit_send(struct audit_event *ev, const char *t0, const char *t1,
    const char *t2)
{
	const char	*texts[AUDIT_TEXTS] = { t0, t1, t2 };
	struct msg_text	 t[AUDIT_TEXTS];
	int		 i;

	for (i = 0; i < AUDIT_TEXTS; i++) {
		t[i].p = texts[i];
		t[i].len = audit_cut(texts[i], audit_text_max(ev->type, i));
	}
	wire_audit(ev, t);
}

/*
 * A session's record.  Starts, ends and aborts of jobs ask for an ack;
 * the token returned names it (0: none asked).
 */
uint32_t
audit_session(struct session *s, enum audit_type type, uint32_t status,
    uint64_t duration_us, uint32_t exec_id, const char *t0, const char *t1,
    const char *t2)
{
	struct audit_event	 ev;
	struct client		*c = s->client;

	if (c == NULL && s->job != NULL)
		c = s->job->client;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.status = status;
	ev.duration_us = duration_us;
	ev.uid = c != NULL ? c->uid : s->ident != NULL ? s->ident->uid : 0;
	ev.pid = c != NULL ? c->pid : 0;
	if (c != NULL)
		strlcpy(ev.rule, c->rule, sizeof(ev.rule));
	ev.worker_id = s->worker != NULL ? s->worker->id : 0;
	ev.exec_id = exec_id;
	if (type == AUDIT_EXEC_START && s->job != NULL)
		ev.code_len = s->job->code_len;
	if (type == AUDIT_EXEC_START || type == AUDIT_EXEC_END ||
	    type == AUDIT_EXEC_ABORT) {
		ev.token = audit_token();
		if (audit_waits())
			ev.flags = AUDIT_F_ACK;
	}
	memcpy(ev.session, s->id, sizeof(ev.session));
	audit_send(&ev, t0, t1, t2);
	return (ev.token);
}

/*
 * A stored session a monitor before this one left, not taken on: its
 * record does not parse, or its owner is no longer let in.
 */
void
audit_adopt_failed(const char *session, uid_t uid, const char *why)
{
	struct audit_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = AUDIT_SESSION_ADOPT;
	ev.status = 1;
	ev.uid = uid;
	strlcpy(ev.session, session, sizeof(ev.session));
	audit_send(&ev, NULL, why, NULL);
}

/* A violation by a worker no session holds: a spare's. */
void
audit_spare_violation(uint32_t worker_id, const char *cause)
{
	struct audit_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = AUDIT_PROTOCOL;
	ev.worker_id = worker_id;
	audit_send(&ev, cause, NULL, NULL);
}

/* A refused hello. */
void
audit_auth(const struct client *c, const char *why)
{
	audit_auth_peer(c->uid, c->pid, why);
}

/* A peer refused before it was a client: at accept. */
void
audit_auth_peer(uid_t uid, pid_t pid, const char *why)
{
	struct audit_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = AUDIT_AUTH_FAIL;
	ev.uid = uid;
	ev.pid = pid;
	audit_send(&ev, why, NULL, NULL);
}

/* Whether jobs and replies wait for the broker's acks: see above. */
int
audit_waits(void)
{
	return (conf->audit_sync == AUDIT_SYNC_ALWAYS);
}

static struct audit_wait *
wait_new(uint32_t token)
{
	struct audit_wait	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s", __func__);
	w->token = token;
	TAILQ_INSERT_TAIL(&waits, w, entry);
	return (w);
}

/* started(arg, durable) once the broker has the start behind token. */
void
audit_wait_start(uint32_t token, void (*started)(void *, int), void *arg)
{
	struct audit_wait	*w = wait_new(token);

	w->started = started;
	w->arg = arg;
}

/*
 * reply is a whole reply object, id included, for c once the end behind
 * token is durable; it is consumed.  Token 0: at once.
 */
void
audit_hold_reply(struct client *c, uint64_t id, cJSON *reply,
    uint32_t token)
{
	struct audit_wait	*w;

	/* Gone: nobody to hold it for (reply_send() drops it). */
	if (c == NULL || c->gone || token == 0 || !audit_waits()) {
		/* Not waited for, the end is ahead of the reply all the same. */
		if (token != 0)
			wire_broker_ahead();
		reply_send(c, reply);
		reply_free(reply);
		return;
	}
	w = wait_new(token);
	w->client = c;
	w->req_id = id;
	w->reply = reply;
}

static void
wait_done(struct audit_wait *w, int durable)
{
	if (w->started != NULL)
		w->started(w->arg, durable);
	else if (w->client != NULL && durable)
		reply_send(w->client, w->reply);
	else if (w->client != NULL)
		reply_error(w->client, w->req_id, "audit_unavailable", NULL,
		    "audit log unavailable: the end of the execution could "
		    "not be recorded, so its result is withheld");
	reply_free(w->reply);
	free(w);
}

void
monitor_recv_audit_ack(struct chan *ch, struct imsg *imsg)
{
	struct audit_ack	 ack;
	struct audit_wait	*w;

	msg_get_fixed(imsg, &ack, sizeof(ack));
	while ((w = TAILQ_FIRST(&waits)) != NULL && w->token == ack.token) {
		TAILQ_REMOVE(&waits, w, entry);
		wait_done(w, ack.durable);
	}
}

void
monitor_recv_audit_state(struct chan *ch, struct imsg *imsg)
{
	struct audit_state	st;

	msg_get_fixed(imsg, &st, sizeof(st));
	audit_down = !st.up;
	if (audit_down)
		log_warnx("audit log unavailable: executions refused");
	else
		log_info("audit log writable again");
}

/* arg goes away: its start, if still waited for, has nobody to tell. */
void
audit_forget(const void *arg)
{
	struct audit_wait	*w;

	TAILQ_FOREACH(w, &waits, entry)
		if (w->started != NULL && w->arg == arg)
			w->started = NULL;
}

void
audit_client_gone(struct client *c)
{
	struct audit_wait	*w;

	TAILQ_FOREACH(w, &waits, entry) {
		if (w->client != c)
			continue;
		reply_error(w->client, w->req_id, "aborted", NULL,
		    "the connection closed before the end of the execution "
		    "was recorded; its result is not sent");
		w->client = NULL;
	}
}

/* How the audit log names the rule that let the client in. */
void
audit_rule_name(char *buf, size_t len, const struct policy_rule *r)
{
	const char	*tok;

	if (r == NULL) {
		strlcpy(buf, conf->nrules == 0 ? "none" : "", len);
		return;
	}
	tok = r->token[0] != '\0' ? " token" : "";
	switch (r->match) {
	case MATCH_USER:
		snprintf(buf, len, "allow user %s%s", r->name, tok);
		break;
	case MATCH_GROUP:
		snprintf(buf, len, "allow group %s%s", r->name, tok);
		break;
	default:
		snprintf(buf, len, "allow all%s", tok);
		break;
	}
}
