/*
 * Pools: named sets of warm sessions of one identity, shared by all of
 * its connections.  An execution on a pool takes an idle session, or
 * waits for one up to its acquire_timeout (a timer, not polling); dead
 * sessions are replaced in the background.
 */

#include <sys/types.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

#define POOL_WAITERS_MAX	1024
#define POOL_REFILL_SECS	1	/* between attempts to replace */
#define POOL_BUSY_MSG		"All sessions are busy."

static TAILQ_HEAD(, pool)	pools = TAILQ_HEAD_INITIALIZER(pools);

static void	pool_tick(int, short, void *);
static void	pool_destroy(struct pool *, const char *);
static void	pool_member_ready(struct session *);
static void	pool_member_dead(struct session *);
static void	pool_member_gone(struct session *);
static void	pool_job_done(struct session *);

/* What the core tells a pool of its sessions. */
static const struct session_owner	pool_owner = {
	pool_member_ready, pool_member_dead, pool_member_gone, pool_job_done,
};

/* A session for p, on its list; NULL once c has been told why not. */
static struct session *
pool_session_new(struct pool *p, struct client *c, uint64_t id)
{
	struct session	*s;

	if ((s = core_session_new(c, id, p->spec, p, &pool_owner)) != NULL)
		TAILQ_INSERT_TAIL(&p->sessions, s, entry);
	return (s);
}

static int
pool_name_ok(const char *name)
{
	size_t	i;

	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-' && name[i] != '.')
			return (0);
	return (i > 0 && i < sizeof(((struct pool *)0)->name));
}

static struct pool *
pool_lookup(struct identity *i, const char *name)
{
	struct pool	*p;

	TAILQ_FOREACH(p, &pools, entry)
		if (p->ident == i && strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

/* The pool named in req, among the client's identity's own. */
static struct pool *
pool_find(struct client *c, uint64_t id, cJSON *req)
{
	cJSON		*name = cJSON_GetObjectItemCaseSensitive(req, "pool");
	struct pool	*p;

	if (!cJSON_IsString(name)) {
		reply_error(c, id, "bad_request", NULL,
		    "request needs a pool name");
		return (NULL);
	}
	if ((p = pool_lookup(c->ident, name->valuestring)) == NULL ||
	    p->closing)
		reply_error(c, id, "no_such_pool", NULL, "no such pool");
	return (p);
}

/* Runs soon from the event loop, never under a caller's feet. */
static void
pool_kick(struct pool *p, int secs)
{
	struct timeval	tv = { secs, 0 };

	if (!p->closing && !evtimer_pending(&p->ev_refill, NULL))
		evtimer_add(&p->ev_refill, &tv);
}

static int
pool_options(struct client *c, uint64_t id, cJSON *req, uint32_t *size,
    int *reset)
{
	cJSON		*r = cJSON_GetObjectItemCaseSensitive(req,
			    "reset_between_uses");
	uint64_t	 n = 0;
	uint32_t	 max = c->ident->limits.pool_size;

	if (json_get_count(req, "size", &n) == -1 || n == 0) {
		reply_error(c, id, "bad_request", NULL,
		    "pool.create needs a positive integer size");
		return (-1);
	}
	if (n > max) {
		reply_error(c, id, "pool_too_large", NULL, "limit "
		    "\"pool-size\" reached: pools of uid %u have at most %u "
		    "sessions", c->ident->uid, max);
		return (-1);
	}
	if (r != NULL && !cJSON_IsBool(r)) {
		reply_error(c, id, "bad_request", NULL,
		    "reset_between_uses must be true or false");
		return (-1);
	}
	*size = n;
	*reset = cJSON_IsTrue(r);
	return (0);
}

void
pool_create_req(struct client *c, uint64_t id, cJSON *req)
{
	cJSON		*name = cJSON_GetObjectItemCaseSensitive(req, "pool");
	struct pool	*p;
	uint32_t	 i, size;
	int		 reset;

	if (!cJSON_IsString(name) || !pool_name_ok(name->valuestring)) {
		reply_error(c, id, "bad_request", NULL, "a pool name is 1 to "
		    "64 letters, digits, '_', '-' or '.'");
		return;
	}
	if (pool_lookup(c->ident, name->valuestring) != NULL) {
		reply_error(c, id, "pool_exists", NULL,
		    "there is already a pool of that name");
		return;
	}
	if (pool_options(c, id, req, &size, &reset) == -1)
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->spec = cJSON_Duplicate(req, 1)) == NULL)
		fatal("%s", __func__);
	strlcpy(p->name, name->valuestring, sizeof(p->name));
	TAILQ_INIT(&p->sessions);
	TAILQ_INIT(&p->waiters);
	p->ident = c->ident;
	p->size = size;
	p->reset = reset;
	evtimer_set(&p->ev_refill, pool_tick, p);
	TAILQ_INSERT_TAIL(&pools, p, entry);
	for (i = 0; i < size; i++)
		if (pool_session_new(p, c, id) == NULL) {
			/* c was told why; nothing is left of the pool. */
			pool_destroy(p, "pool could not be created");
			return;
		}
	p->create_client = c;
	p->create_req = id;
}

static struct session *
pool_idle(struct pool *p)
{
	struct session	*s;

	TAILQ_FOREACH(s, &p->sessions, entry)
		if (s->state == S_IDLE && s->job == NULL && !s->closing &&
		    s->worker != NULL && !s->reset_pending)
			return (s);
	return (NULL);
}

static void
waiter_free(struct pool_waiter *w)
{
	TAILQ_REMOVE(&w->pool->waiters, w, entry);
	evtimer_del(&w->timer);
	cJSON_Delete(w->req);
	free(w);
}

/* Hands idle sessions to waiting requests, oldest first. */
static void
pool_dispatch(struct pool *p)
{
	struct pool_waiter	*w;
	struct session		*s;

	while ((w = TAILQ_FIRST(&p->waiters)) != NULL &&
	    (s = pool_idle(p)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, entry);
		evtimer_del(&w->timer);
		core_exec_submit(w->client, w->req_id, w->req, s);
		cJSON_Delete(w->req);
		free(w);
	}
}

static void
waiter_timeout(int fd, short event, void *arg)
{
	struct pool_waiter	*w = arg;

	counters.pool_busy++;
	stats_pool_timeout();
	reply_error(w->client, w->req_id, "pool_busy", NULL, POOL_BUSY_MSG);
	waiter_free(w);
}

static void
pool_wait(struct pool *p, struct client *c, uint64_t id, cJSON *req,
    double secs)
{
	struct pool_waiter	*w;
	struct timeval		 tv;
	size_t			 n = 0;

	TAILQ_FOREACH(w, &p->waiters, entry)
		n++;
	if (n >= POOL_WAITERS_MAX) {
		reply_error(c, id, "pool_busy", NULL, POOL_BUSY_MSG);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->req = cJSON_Duplicate(req, 1)) == NULL)
		fatal("%s", __func__);
	w->pool = p;
	w->client = c;
	w->req_id = id;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - tv.tv_sec) * 1e6);
	evtimer_set(&w->timer, waiter_timeout, w);
	evtimer_add(&w->timer, &tv);
	TAILQ_INSERT_TAIL(&p->waiters, w, entry);
}

void
pool_execute_req(struct client *c, uint64_t id, cJSON *req)
{
	struct pool	*p;
	struct session	*s;
	double		 wait;

	if ((p = pool_find(c, id, req)) == NULL)
		return;
	if (json_get_seconds(req, "acquire_timeout", 0, &wait) == -1) {
		reply_error(c, id, "bad_request", NULL,
		    "acquire_timeout must be a number of seconds, at most "
		    "315360000");
		return;
	}
	if ((s = pool_idle(p)) != NULL && TAILQ_EMPTY(&p->waiters))
		core_exec_submit(c, id, req, s);
	else if (wait > 0)
		pool_wait(p, c, id, req, wait);
	else {
		counters.pool_busy++;
		reply_error(c, id, "pool_busy", NULL, POOL_BUSY_MSG);
	}
}

static cJSON *
pool_json(struct pool *p)
{
	struct session	*s;
	struct pool_waiter *w;
	cJSON		*o;
	double		 total = 0, busy = 0, idle = 0, dead = 0, starting = 0;
	double		 waiting = 0;
	const char	*st;

	TAILQ_FOREACH(s, &p->sessions, entry) {
		total++;
		st = session_state_str(s);
		if (s->job != NULL)
			busy++;
		else if (strcmp(st, "idle") == 0)
			idle++;
		else if (strcmp(st, "dead") == 0)
			dead++;
		else
			starting++;
	}
	TAILQ_FOREACH(w, &p->waiters, entry)
		waiting++;
	if ((o = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(o, "pool", p->name);
	cJSON_AddNumberToObject(o, "size", p->size);
	cJSON_AddNumberToObject(o, "total", total);
	cJSON_AddNumberToObject(o, "busy", busy);
	cJSON_AddNumberToObject(o, "idle", idle);
	cJSON_AddNumberToObject(o, "dead", dead);
	cJSON_AddNumberToObject(o, "starting", starting);
	cJSON_AddNumberToObject(o, "waiting", waiting);
	cJSON_AddNumberToObject(o, "executions", (double)p->executions);
	cJSON_AddBoolToObject(o, "reset_between_uses", p->reset);
	return (o);
}

void
pool_status_req(struct client *c, uint64_t id, cJSON *req)
{
	struct pool	*p;

	if ((p = pool_find(c, id, req)) != NULL)
		reply_ok(c, id, pool_json(p));
}

void
pool_close_req(struct client *c, uint64_t id, cJSON *req)
{
	struct pool	*p;

	if ((p = pool_find(c, id, req)) == NULL)
		return;
	pool_destroy(p, "pool closed");
	reply_ok(c, id, NULL);
}

static void
pool_destroy(struct pool *p, const char *reason)
{
	struct pool_waiter	*w;
	struct session		*s;

	p->closing = 1;
	if (p->create_client != NULL) {
		/* Closed before it was ready: pool.create gets its answer. */
		reply_error(p->create_client, p->create_req, "closed", NULL,
		    "the pool was closed before it was ready");
		p->create_client = NULL;
		p->create_req = 0;
	}
	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		reply_error(w->client, w->req_id, "closed", NULL,
		    "the pool was closed");
		waiter_free(w);
	}
	while ((s = TAILQ_FIRST(&p->sessions)) != NULL)
		core_session_destroy(s, reason);
	evtimer_del(&p->ev_refill);
	TAILQ_REMOVE(&pools, p, entry);
	cJSON_Delete(p->spec);
	free(p);
}

static int
pool_ready(struct pool *p)
{
	struct session	*s;
	uint32_t	 n = 0;

	TAILQ_FOREACH(s, &p->sessions, entry)
		if (s->state != S_STARTING)
			n++;
	return (n == p->size);
}

static void
pool_member_ready(struct session *s)
{
	struct pool	*p = s->pool;
	cJSON		*r;

	if (p->create_client != NULL && pool_ready(p)) {
		if ((r = pool_json(p)) == NULL)
			fatal("%s", __func__);
		reply_ok(p->create_client, p->create_req, r);
		p->create_req = 0;
		p->create_client = NULL;
	}
	pool_dispatch(p);
}

/* A session whose worker could not start: fail a creation, or retry. */
static void
pool_member_dead(struct session *s)
{
	struct pool	*p = s->pool;

	if (p->closing)
		return;
	if (p->create_client != NULL) {
		reply_error(p->create_client, p->create_req, "spawn_failed",
		    NULL, "a session of the pool could not start");
		p->create_req = 0;
		p->create_client = NULL;
		pool_kick(p, 0);	/* pool_tick destroys it */
		p->closing = 2;
		return;
	}
	pool_kick(p, POOL_REFILL_SECS);
}

/*
 * A session destroyed (by the pool, or by the daemon: lifetime): off
 * the list, and a new one takes its place.
 */
static void
pool_member_gone(struct session *s)
{
	TAILQ_REMOVE(&s->pool->sessions, s, entry);
	if (!s->pool->closing)
		pool_kick(s->pool, 0);
}

static void
pool_job_done(struct session *s)
{
	struct pool	*p = s->pool;

	if (s->closing)
		return;
	p->executions++;
	if (p->reset)
		s->reset_pending = 1;
	/* Later: a caller may still be killing or restarting s. */
	evtimer_del(&p->ev_refill);
	pool_kick(p, 0);
}

static void
pool_refill(struct pool *p)
{
	struct session	*s;
	uint32_t	 n = 0;

	TAILQ_FOREACH(s, &p->sessions, entry) {
		n++;
		if (s->reset_pending) {
			s->reset_pending = 0;
			core_session_reset(s, "reset between uses");
		} else
			core_session_retry(s, "pool replacement");
	}
	/* Closed by the daemon: new sessions as the identity may have. */
	for (; n < p->size; n++)
		if (pool_session_new(p, NULL, 0) == NULL) {
			pool_kick(p, POOL_REFILL_SECS);
			break;
		}
}

static void
pool_tick(int fd, short event, void *arg)
{
	struct pool	*p = arg;

	if (p->closing == 2) {
		pool_destroy(p, "pool could not be created");
		return;
	}
	pool_refill(p);
	pool_dispatch(p);
}

void
pool_walk(void (*fn)(struct pool *, void *), void *arg)
{
	struct pool	*p, *tp;

	TAILQ_FOREACH_SAFE(p, &pools, entry, tp)
		fn(p, arg);
}

/* The session c is executing on in one of its identity's pools. */
struct session *
pool_session_of(struct client *c, const char *sid)
{
	struct pool	*p;
	struct session	*s;

	TAILQ_FOREACH(p, &pools, entry) {
		if (p->ident != c->ident)
			continue;
		TAILQ_FOREACH(s, &p->sessions, entry)
			if (s->job != NULL && s->job->client == c &&
			    strcmp(s->id, sid) == 0)
				return (s);
	}
	return (NULL);
}

/*
 * A connection is going: its waits end, executions it started on pools
 * end with their worker (which cannot be stopped otherwise), and when it
 * was its identity's last connection, the identity's pools close.
 */
void
pool_client_gone(struct client *c)
{
	struct pool		*p, *tp;
	struct pool_waiter	*w, *tw;
	struct session		*s;

	TAILQ_FOREACH(p, &pools, entry) {
		TAILQ_FOREACH_SAFE(w, &p->waiters, entry, tw)
			if (w->client == c) {
				reply_error(c, w->req_id, "aborted", NULL,
				    "the connection closed while the request "
				    "waited for a session of the pool");
				waiter_free(w);
			}
		if (p->create_client == c) {
			reply_error(c, p->create_req, "aborted", NULL,
			    "the connection closed before the pool was "
			    "ready");
			p->create_client = NULL;
			p->create_req = 0;
		}
		TAILQ_FOREACH(s, &p->sessions, entry)
			if (s->job != NULL && s->job->client == c)
				core_job_abort(s, "the client went away");
	}
	if (c->ident == NULL || c->ident->clients > 1)
		return;
	TAILQ_FOREACH_SAFE(p, &pools, entry, tp)
		if (p->ident == c->ident)
			pool_destroy(p, "the identity's last client left");
}
