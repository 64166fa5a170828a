/*
 * Waiting for the audit log, on the monitor's side.
 *
 * Where "a start record is durable before the execution runs" and "no
 * result goes out before its end record is durable" are enforced: the
 * exec_start, exec_end and exec_abort records go to the broker with
 * AUDIT_F_ACK and a token, and
 *	- the execution is handed to its worker only once the broker acks
 *	  its start (exec_start_acked() in exec.c);
 *	- the final reply (result or error) is held here and sent only once
 *	  the broker acks the end; if the broker says the log is down the
 *	  client gets "audit_unavailable" instead of the result.
 * The broker answers records in the order it got them, so the waits
 * form a queue in token order.  While the broker says the log is down
 * no new execution is admitted.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

struct audit_wait {
	TAILQ_ENTRY(audit_wait)	 entry;
	uint32_t		 token;
	struct exec		*exec;		/* a start, to dispatch */
	struct client		*client;	/* an end, to answer */
	uint64_t		 req_id;
	cJSON			*reply;
};

static TAILQ_HEAD(, audit_wait)	waits = TAILQ_HEAD_INITIALIZER(waits);
static uint32_t			tokens;
int				audit_down;

uint32_t
audit_token(void)
{
	if (++tokens == 0)
		tokens = 1;
	return (tokens);
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

void
audit_wait_start(struct exec *e, uint32_t token)
{
	wait_new(token)->exec = e;
	e->audit_token = token;
}

/* reply is a whole reply object, id included; it is consumed. */
void
audit_wait_reply(struct client *c, uint64_t id, cJSON *reply,
    uint32_t token)
{
	struct audit_wait	*w;

	if (c == NULL || token == 0) {
		if (c != NULL)
			client_send(c, reply);
		cJSON_Delete(reply);
		return;
	}
	w = wait_new(token);
	w->client = c;
	w->req_id = id;
	w->reply = reply;
}

cJSON *
audit_reply_new(uint64_t id, int ok)
{
	cJSON	*r;

	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	if (id == 0)
		cJSON_AddNullToObject(r, "id");
	else
		cJSON_AddNumberToObject(r, "id", (double)id);
	cJSON_AddBoolToObject(r, "ok", ok);
	return (r);
}

static void
wait_done(struct audit_wait *w, int durable)
{
	if (w->exec != NULL)
		exec_start_acked(w->exec, durable);
	else if (w->client != NULL && durable)
		client_send(w->client, w->reply);
	else if (w->client != NULL)
		reply_error(w->client, w->req_id, "audit_unavailable", NULL,
		    "audit log unavailable: the end of the execution could "
		    "not be recorded, so its result is withheld");
	cJSON_Delete(w->reply);
	free(w);
}

void
audit_ack(struct imsg *imsg)
{
	struct audit_ack	 ack;
	struct audit_wait	*w;

	if (imsg_get_data(imsg, &ack, sizeof(ack)) == -1)
		fatalx("broker: bad IMSG_AUDIT_ACK size");
	while ((w = TAILQ_FIRST(&waits)) != NULL && w->token == ack.token) {
		TAILQ_REMOVE(&waits, w, entry);
		wait_done(w, ack.durable);
	}
}

void
audit_state(struct imsg *imsg)
{
	struct audit_state	st;

	if (imsg_get_data(imsg, &st, sizeof(st)) == -1)
		fatalx("broker: bad IMSG_AUDIT_STATE size");
	audit_down = !st.up;
	if (audit_down)
		log_warnx("audit log unavailable: executions refused");
	else
		log_info("audit log writable again");
}

void
audit_client_gone(struct client *c)
{
	struct audit_wait	*w;

	TAILQ_FOREACH(w, &waits, entry)
		if (w->client == c)
			w->client = NULL;
}

void
audit_exec_gone(struct exec *e)
{
	struct audit_wait	*w;

	TAILQ_FOREACH(w, &waits, entry)
		if (w->exec == e)
			w->exec = NULL;
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
