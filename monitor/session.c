/*
 * Sessions: one per session.create, each with one worker at a time.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

static size_t	nsessions;

static int	limits_parse(cJSON *, struct worker_limits *, char *, size_t);

size_t
session_count(void)
{
	return (nsessions);
}

/* The broker probed the host at start-up; every session gets the same. */
static const char *
session_sandbox(void)
{
	return (conf->sandbox_have == SBX_ALL ? SANDBOX_LEVEL_FULL :
	    SANDBOX_LEVEL_PARTIAL);
}

static void
session_new_id(char *id)
{
	unsigned char	rnd[SESSION_ID_LEN / 2];
	size_t		i;

	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
}

static int
session_options(struct session *s, cJSON *req, char *err, size_t errlen)
{
	cJSON	*strict;

	if (json_get_number(req, "timeout", conf->default_timeout,
	    &s->timeout) == -1) {
		snprintf(err, errlen, "timeout must be a number of seconds");
		return (-1);
	}
	if (conf->max_timeout > 0 && (s->timeout == 0 ||
	    s->timeout > conf->max_timeout)) {
		snprintf(err, errlen, "timeout must be at most %g seconds",
		    conf->max_timeout);
		return (-1);
	}
	if (json_get_count(req, "max_executions", &s->max_executions) == -1) {
		snprintf(err, errlen, "max_executions must be a positive "
		    "integer");
		return (-1);
	}
	strict = cJSON_GetObjectItemCaseSensitive(req, "sandbox_strict");
	if (strict != NULL && !cJSON_IsBool(strict)) {
		snprintf(err, errlen, "sandbox_strict must be true or false");
		return (-1);
	}
	return (0);
}

static void
session_free(struct session *s)
{
	tools_free(s->tools, s->ntools);
	free(s->setup);
	free(s);
}

/*
 * A session as req asks, admitted against c's identity and the daemon's
 * capacity, its worker on the way; NULL once c has been told why not.
 * A pool's session is on the pool's list, not on c's.
 */
struct session *
session_new(struct client *c, uint64_t id, cJSON *req, struct pool *pool)
{
	struct session	*s;
	char		 err[256];
	cJSON		*strict;

	strict = cJSON_GetObjectItemCaseSensitive(req, "sandbox_strict");
	if (cJSON_IsTrue(strict) && conf->sandbox_have != SBX_ALL) {
		reply_error(c, id, "sandbox_unavailable", NULL,
		    "sandbox_strict was asked but this host lacks %s",
		    conf->sandbox_missing);
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	if (tools_parse(cJSON_GetObjectItemCaseSensitive(req, "tools"),
	    &s->tools, &s->ntools, &s->setup, err, sizeof(err)) == -1) {
		free(s);
		reply_error(c, id, "bad_tools", NULL, "%s", err);
		return (NULL);
	}
	if (limits_parse(cJSON_GetObjectItemCaseSensitive(req, "limits"),
	    &s->limits, err, sizeof(err)) == -1 ||
	    session_options(s, req, err, sizeof(err)) == -1) {
		session_free(s);
		reply_error(c, id, strstr(err, "limit") ? "bad_limits" :
		    "bad_request", NULL, "%s", err);
		return (NULL);
	}
	if (policy_session_admit(c, pool != NULL ? pool->ident : c->ident, id,
	    s) == -1) {
		session_free(s);
		return (NULL);
	}
	session_new_id(s->id);
	s->pool = pool;
	s->created = time(NULL);
	s->created_us = now_us();
	s->state = S_STARTING;
	if (pool != NULL)
		TAILQ_INSERT_TAIL(&pool->sessions, s, entry);
	else {
		s->client = c;
		s->create_req = id;
		TAILQ_INSERT_TAIL(&c->sessions, s, entry);
	}
	nsessions++;
	policy_session_timers(s);
	s->worker = worker_new(s);
	return (s);
}

void
session_create(struct client *c, uint64_t id, cJSON *req)
{
	session_new(c, id, req, NULL);
}

static const struct {
	const char	*name;
	size_t		 offset;
} limit_names[] = {
	{ "cpu",	offsetof(struct worker_limits, cpu) },
	{ "fsize",	offsetof(struct worker_limits, fsize) },
	{ "memory",	offsetof(struct worker_limits, memory) },
	{ "nofile",	offsetof(struct worker_limits, nofile) },
	{ "nproc",	offsetof(struct worker_limits, nproc) },
	{ "stack",	offsetof(struct worker_limits, stack) },
};

#define LIMIT(l, i)	((uint64_t *)((char *)(l) + limit_names[i].offset))

static int
limit_set(cJSON *item, size_t i, struct worker_limits *out, char *err,
    size_t errlen)
{
	uint64_t	max = *LIMIT(&conf->max_limits, i);
	double		d;

	if (cJSON_IsNull(item))
		*LIMIT(out, i) = LIMIT_NONE;
	else if (cJSON_IsNumber(item) && (d = item->valuedouble) >= 1 &&
	    d < 1.8e19)
		*LIMIT(out, i) = (uint64_t)d;
	else {
		snprintf(err, errlen, "limit %s must be a positive number "
		    "or null", limit_names[i].name);
		return (-1);
	}
	if (*LIMIT(out, i) > max) {
		snprintf(err, errlen, "limit %s is above the daemon's "
		    "maximum of %llu", limit_names[i].name,
		    (unsigned long long)max);
		return (-1);
	}
	return (0);
}

static int
limits_parse(cJSON *obj, struct worker_limits *out, char *err,
    size_t errlen)
{
	cJSON	*item;
	size_t	 i;

	*out = conf->default_limits;
	if (obj == NULL || cJSON_IsNull(obj))
		return (0);
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "limits must be an object");
		return (-1);
	}
	cJSON_ArrayForEach(item, obj) {
		for (i = 0; i < sizeof(limit_names) / sizeof(limit_names[0]);
		    i++)
			if (strcmp(item->string, limit_names[i].name) == 0)
				break;
		if (i == sizeof(limit_names) / sizeof(limit_names[0])) {
			snprintf(err, errlen, "unknown limit %s; valid limits "
			    "are cpu, memory, fsize, nproc, nofile, stack",
			    item->string);
			return (-1);
		}
		if (limit_set(item, i, out, err, errlen) == -1)
			return (-1);
	}
	return (0);
}

struct session *
session_find(struct client *c, cJSON *req, uint64_t id)
{
	cJSON		*sid = cJSON_GetObjectItemCaseSensitive(req, "session");
	struct session	*s;

	if (!cJSON_IsString(sid)) {
		reply_error(c, id, "bad_request", NULL,
		    "request needs a session");
		return (NULL);
	}
	TAILQ_FOREACH(s, &c->sessions, entry)
		if (strcmp(s->id, sid->valuestring) == 0)
			return (s);
	if ((s = pool_session_of(c, sid->valuestring)) != NULL)
		return (s);
	reply_error(c, id, "no_such_session", NULL, "no such session");
	return (NULL);
}

static const char *
session_tool_names(struct session *s)
{
	static char	names[4096];
	size_t		i;

	names[0] = '\0';
	for (i = 0; i < s->ntools; i++) {
		if (i > 0)
			strlcat(names, ",", sizeof(names));
		strlcat(names, s->tools[i].name, sizeof(names));
	}
	return (names);
}

/* The session's worker is up: answer what waited for it. */
void
session_worker_ready(struct session *s)
{
	cJSON	*r;

	s->state = S_IDLE;
	if (!s->clocks) {
		s->clocks = 1;
		policy_session_opened(s);
	}
	if (s->pool != NULL && !s->opened) {
		s->opened = 1;
		metrics_session_start(s);
		audit_session(s, AUDIT_SESSION_OPEN, 0, 0, 0,
		    session_tool_names(s), session_sandbox(), NULL);
	}
	if (s->create_req != 0) {
		if ((r = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "session", s->id);
		cJSON_AddStringToObject(r, "sandbox", session_sandbox());
		reply_ok(s->client, s->create_req, r);
		s->create_req = 0;
		metrics_session_start(s);
		audit_session(s, AUDIT_SESSION_OPEN, 0, 0, 0,
		    session_tool_names(s), session_sandbox(), NULL);
	}
	if (s->restart_req != 0) {
		reply_ok(s->client, s->restart_req, NULL);
		s->restart_req = 0;
	}
	if (s->exec != NULL)
		exec_start(s->exec);
	else if (s->pool != NULL)
		pool_member_ready(s);
	else
		policy_session_idle(s);
}

/*
 * The worker is gone (it died, broke the protocol or could not start).
 * Whatever waited on it gets the cause; the session gets a fresh worker
 * unless this one never came up, which would only repeat.
 */
void
session_worker_lost(struct session *s, int was_ready, const char *code,
    const char *cause)
{
	cJSON	*extra;

	s->worker = NULL;
	if (s->exec != NULL && s->exec->sent) {
		if ((extra = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(extra, "cause", cause);
		exec_fail(s->exec, EXEC_KILLED, code, extra, "the worker "
		    "died during the execution (%s); the session was "
		    "restarted and its state is gone", cause);
	}
	if (was_ready) {
		session_respawn(s, cause);
		return;
	}
	if (s->create_req != 0) {
		reply_error(s->client, s->create_req, "spawn_failed", NULL,
		    "the session's worker could not start: %s", cause);
		s->create_req = 0;
		session_destroy(s, "worker could not start");
		return;
	}
	if (s->restart_req != 0) {
		reply_error(s->client, s->restart_req, "spawn_failed", NULL,
		    "the session's worker could not start: %s", cause);
		s->restart_req = 0;
	}
	if (s->exec != NULL)
		exec_fail(s->exec, EXEC_ERROR, "spawn_failed", NULL,
		    "the session's worker could not start: %s", cause);
	s->state = S_STARTING;	/* with no worker: the next request retries */
	if (s->pool != NULL)
		pool_member_dead(s);
}

void
session_respawn(struct session *s, const char *reason)
{
	audit_session(s, AUDIT_SESSION_RESTART, 0, 0, 0, reason, NULL, NULL);
	s->state = S_STARTING;
	s->worker = worker_new(s);
}

/* A session the client may restart or close: not one of a pool's. */
static struct session *
session_find_own(struct client *c, cJSON *req, uint64_t id)
{
	struct session	*s;

	if ((s = session_find(c, req, id)) == NULL)
		return (NULL);
	if (s->pool != NULL) {
		reply_error(c, id, "bad_request", NULL, "a pool's session "
		    "goes with its pool (pool.close)");
		return (NULL);
	}
	return (s);
}

void
session_restart_req(struct client *c, uint64_t id, cJSON *req)
{
	struct session	*s;

	if ((s = session_find_own(c, req, id)) == NULL)
		return;
	if (s->exec != NULL || s->restart_req != 0 || s->create_req != 0) {
		reply_error(c, id, "session_busy", NULL,
		    "cannot restart while an execution is in progress");
		return;
	}
	if (s->worker != NULL)
		worker_kill(s->worker, "restarted by the client");
	s->restart_req = id;
	session_respawn(s, "client");
}

void
session_close_req(struct client *c, uint64_t id, cJSON *req)
{
	struct session	*s;

	if ((s = session_find_own(c, req, id)) == NULL)
		return;
	session_destroy(s, "client");
	reply_ok(c, id, NULL);
}

void
session_destroy(struct session *s, const char *reason)
{
	struct client	*c = s->client;

	s->closing = 1;
	if (s->exec != NULL)
		exec_fail(s->exec, EXEC_ABORTED, "closed", NULL,
		    "the session was closed during the execution");
	if (s->worker != NULL)
		worker_kill(s->worker, "session closed");
	if (s->create_req != 0)
		reply_error(c, s->create_req, "closed", NULL,
		    "the session was closed before it started");
	if (s->restart_req != 0)
		reply_error(c, s->restart_req, "closed", NULL,
		    "the session was closed before it restarted");
	audit_session(s, AUDIT_SESSION_CLOSE, 0, 0, 0, reason, NULL, NULL);
	if (s->pool != NULL) {
		TAILQ_REMOVE(&s->pool->sessions, s, entry);
		pool_member_gone(s);
	} else
		TAILQ_REMOVE(&c->sessions, s, entry);
	nsessions--;
	policy_session_gone(s);
	session_free(s);
	ready_refill();		/* the capacity it leaves */
	monitor_activity();
}

const char *
session_state_str(struct session *s)
{
	if (s->state == S_STARTING && s->worker == NULL)
		return ("dead");
	switch (s->state) {
	case S_STARTING:
		return ("starting");
	case S_IDLE:
		return ("idle");
	case S_BUSY:
		return ("busy");
	}
	return ("unknown");
}

static cJSON *
session_json(struct session *s)
{
	cJSON	*o, *tools;
	size_t	 i;

	if ((o = cJSON_CreateObject()) == NULL ||
	    (tools = cJSON_CreateArray()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(o, "session", s->id);
	cJSON_AddStringToObject(o, "state", session_state_str(s));
	cJSON_AddNumberToObject(o, "executions", (double)s->executions);
	for (i = 0; i < s->ntools; i++)
		cJSON_AddItemToArray(tools,
		    cJSON_CreateString(s->tools[i].name));
	cJSON_AddItemToObject(o, "tools", tools);
	cJSON_AddStringToObject(o, "sandbox", session_sandbox());
	cJSON_AddNumberToObject(o, "age", (double)(time(NULL) - s->created));
	return (o);
}

void
session_status(struct client *c, uint64_t id, cJSON *req)
{
	struct session	*s;
	cJSON		*r, *list;

	if ((r = cJSON_CreateObject()) == NULL ||
	    (list = cJSON_AddArrayToObject(r, "sessions")) == NULL)
		fatal("%s", __func__);
	if (cJSON_GetObjectItemCaseSensitive(req, "session") != NULL) {
		if ((s = session_find(c, req, id)) == NULL) {
			cJSON_Delete(r);
			return;
		}
		cJSON_AddItemToArray(list, session_json(s));
	} else
		TAILQ_FOREACH(s, &c->sessions, entry)
			cJSON_AddItemToArray(list, session_json(s));
	reply_ok(c, id, r);
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
	if (type == AUDIT_TOOL_CALL && i == 2)
		return (AUDIT_SUMMARY_MAX);
	return (4096);
}

/*
 * Sends the record to the broker.  Starts, ends and aborts of executions
 * ask for an ack; the token returned names it (0: none asked).
 */
uint32_t
audit_session(struct session *s, enum audit_type type, uint32_t status,
    uint64_t duration_us, uint32_t exec_id, const char *t0, const char *t1,
    const char *t2)
{
	struct audit_event	 ev;
	const char		*texts[AUDIT_TEXTS] = { t0, t1, t2 };
	unsigned char		*buf, *p;
	size_t			 i, len = sizeof(ev);

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.status = status;
	ev.duration_us = duration_us;
	ev.uid = s->client != NULL ? s->client->uid :
	    s->ident != NULL ? s->ident->uid : 0;
	ev.pid = s->client != NULL ? s->client->pid : 0;
	if (s->client != NULL)
		strlcpy(ev.rule, s->client->rule, sizeof(ev.rule));
	ev.worker_id = s->worker != NULL ? s->worker->id : 0;
	ev.exec_id = exec_id;
	if (type == AUDIT_EXEC_START && s->exec != NULL)
		ev.code_len = s->exec->code_len;
	if (type == AUDIT_EXEC_START || type == AUDIT_EXEC_END ||
	    type == AUDIT_EXEC_ABORT) {
		ev.flags = AUDIT_F_ACK;
		ev.token = audit_token();
	}
	memcpy(ev.session, s->id, sizeof(ev.session));
	for (i = 0; i < AUDIT_TEXTS; i++) {
		ev.text_len[i] = audit_cut(texts[i], audit_text_max(type, i));
		len += ev.text_len[i];
	}
	if ((buf = malloc(len)) == NULL)
		fatal("%s", __func__);
	memcpy(buf, &ev, sizeof(ev));
	p = buf + sizeof(ev);
	for (i = 0; i < AUDIT_TEXTS; i++) {
		if (ev.text_len[i] > 0)
			memcpy(p, texts[i], ev.text_len[i]);
		p += ev.text_len[i];
	}
	monitor_compose_broker(IMSG_AUDIT, 0, buf, len);
	free(buf);
	if (ev.flags & AUDIT_F_ACK)
		monitor_flush_broker();
	return (ev.token);
}
