/*
 * Multi-tenant policy: who may connect (peer credentials, optional
 * tokens), the identities they become, their limits and rate buckets,
 * and the daemon's capacity.  Counts only: what to do with a session
 * whose limits run out is the core's.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"
#include "sha256.h"

/* Failed authentications in a row before a uid must wait. */
#define AUTH_FAIL_MAX	5
#define AUTH_LOCK_SECS	5

struct authfail {
	TAILQ_ENTRY(authfail)	 entry;
	uid_t			 uid;
	uint32_t		 count;
	uint64_t		 until_us;	/* locked out until */
};

static TAILQ_HEAD(, identity)	identities =
    TAILQ_HEAD_INITIALIZER(identities);
static TAILQ_HEAD(, authfail)	authfails =
    TAILQ_HEAD_INITIALIZER(authfails);
static uint64_t			memory_used;
static uint32_t			workers_used;

void
identity_walk(void (*fn)(struct identity *, void *), void *arg)
{
	struct identity	*i;

	TAILQ_FOREACH(i, &identities, entry)
		fn(i, arg);
}

uint64_t
policy_memory_used(void)
{
	return (memory_used);
}

/* Equal or not in time that does not depend on where they differ. */
static int
token_equal(const char *a, const char *b)
{
	volatile unsigned char	diff = 0;
	size_t			i;

	for (i = 0; i < POLICY_TOKEN_MAX; i++)
		diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return (diff == 0);
}

static int
in_group(gid_t gid, const gid_t *groups, int ngroups, uint32_t want)
{
	int	i;

	if (gid == want)
		return (1);
	for (i = 0; i < ngroups; i++)
		if (groups[i] == want)
			return (1);
	return (0);
}

/* Whether r's user, group or "all" is the peer (its token aside). */
static int
rule_names_peer(const struct policy_rule *r, uid_t uid, gid_t gid,
    const gid_t *groups, int ngroups)
{
	if (r->match == MATCH_USER)
		return (r->id == uid);
	if (r->match == MATCH_GROUP)
		return (in_group(gid, groups, ngroups, r->id));
	return (1);
}

/*
 * The first rule that matches the peer wins; a rule with a token
 * matches only a client that presents it.  No rules: everyone is in.
 */
static const struct policy_rule *
policy_match(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
    const char *token, int *denied)
{
	const struct policy_rule	*r;
	uint32_t			 i;

	*denied = conf->nrules > 0;
	for (i = 0; i < conf->nrules; i++) {
		r = &conf->rules[i];
		if (!rule_names_peer(r, uid, gid, groups, ngroups))
			continue;
		if (r->token[0] != '\0' && !token_equal(r->token, token))
			continue;
		*denied = r->action == RULE_DENY;
		return (*denied ? NULL : r);
	}
	return (NULL);
}

/*
 * At accept, before any token: could a hello of this peer be allowed?
 * A rule with a token might match, so it does not decide; the first
 * rule without one that matches does.
 */
int
policy_may_connect(uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
	const struct policy_rule	*r;
	uint32_t			 i;

	for (i = 0; i < conf->nrules; i++) {
		r = &conf->rules[i];
		if (!rule_names_peer(r, uid, gid, groups, ngroups))
			continue;
		if (r->token[0] != '\0') {
			if (r->action == RULE_ALLOW)
				return (1);
			continue;
		}
		return (r->action == RULE_ALLOW);
	}
	return (conf->nrules == 0);
}

static void
limits_resolve(struct identity_limits *l, const struct policy_rule *r)
{
	*l = conf->ident;
	l->sessions = conf->max_sessions;
	if (r == NULL)
		return;
	if (r->limits.sessions)
		l->sessions = r->limits.sessions;
	if (r->limits.executions)
		l->executions = r->limits.executions;
	if (r->limits.pool_size)
		l->pool_size = r->limits.pool_size;
	if (r->limits.requests != 0) {
		l->requests = r->limits.requests < 0 ? 0 : r->limits.requests;
		l->requests_burst = r->limits.requests_burst;
	}
	if (r->limits.tool_rate != 0) {
		l->tool_rate = r->limits.tool_rate < 0 ? 0 :
		    r->limits.tool_rate;
		l->tool_burst = r->limits.tool_burst;
	}
}

static struct identity *
identity_get(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
    const char *token)
{
	struct identity	*id;

	TAILQ_FOREACH(id, &identities, entry)
		if (id->uid == uid && token_equal(id->token, token))
			return (id);
	/*
	 * Identities stay: a client must not get fresh buckets by
	 * reconnecting.  They are bounded by uids times tokens.
	 */
	if ((id = calloc(1, sizeof(*id))) == NULL)
		fatal("%s", __func__);
	id->uid = uid;
	id->gid = gid;
	memcpy(id->groups, groups, sizeof(id->groups));
	id->ngroups = ngroups;
	memcpy(id->token, token, sizeof(id->token));
	id->requests.tokens = -1;	/* full at first use */
	id->tools.tokens = -1;
	TAILQ_INIT(&id->kept);
	TAILQ_INIT(&id->named);
	TAILQ_INSERT_TAIL(&identities, id, entry);
	return (id);
}

/*
 * What a session's record says of its identity's token: the SHA-256 of
 * the token that named it, in hex, or "" for none.  The record is on
 * disk; the token is not.
 */
void
policy_token_digest(const struct identity *i, char *hex, size_t len)
{
	char	h[SHA256_HEX_LEN];

	if (i->token[0] == '\0') {
		strlcpy(hex, "", len);
		return;
	}
	sha256_hex(i->token, strnlen(i->token, sizeof(i->token)), h);
	strlcpy(hex, h, len);
}

/*
 * The identity of an adopted session (one a monitor before this one
 * hibernated): the peer its record names, let in by the rules as they
 * are now, with the token of the rule whose token has the recorded
 * digest.  NULL if the rules would not let that peer in any more.
 */
struct identity *
policy_identity_adopt(uid_t uid, gid_t gid, const gid_t *groups,
    int ngroups, const char *digest)
{
	const struct policy_rule	*r;
	struct identity			*id;
	char				 token[POLICY_TOKEN_MAX], h[SHA256_HEX_LEN];
	uint32_t			 i;
	int				 denied;

	memset(token, 0, sizeof(token));
	if (digest[0] != '\0') {
		for (i = 0; i < conf->nrules; i++) {
			r = &conf->rules[i];
			if (r->token[0] == '\0')
				continue;
			sha256_hex(r->token, strnlen(r->token,
			    sizeof(r->token)), h);
			if (digest_differ(h, digest, sizeof(h)) == 0) {
				memcpy(token, r->token, sizeof(token));
				break;
			}
		}
		if (i == conf->nrules)
			return (NULL);
	}
	r = policy_match(uid, gid, groups, ngroups, token, &denied);
	if (denied) {
		explicit_bzero(token, sizeof(token));
		return (NULL);
	}
	if (r == NULL || r->token[0] == '\0')
		memset(token, 0, sizeof(token));
	id = identity_get(uid, gid, groups, ngroups, token);
	limits_resolve(&id->limits, r);
	explicit_bzero(token, sizeof(token));
	return (id);
}

/*
 * An adopted session counts in its identity's "sessions", whatever its
 * limit says now: it was open before the restart.  It holds no capacity.
 */
void
policy_session_adopted(struct identity *i)
{
	counters.sessions_opened++;
	i->sessions++;
}

static struct authfail *
authfail_find(uid_t uid, int create)
{
	struct authfail	*af;

	TAILQ_FOREACH(af, &authfails, entry)
		if (af->uid == uid)
			return (af);
	if (!create)
		return (NULL);
	if ((af = calloc(1, sizeof(*af))) == NULL)
		fatal("%s", __func__);
	af->uid = uid;
	TAILQ_INSERT_TAIL(&authfails, af, entry);
	return (af);
}

static void
reply_retry(struct client *c, uint64_t id, const char *code, double retry,
    const char *what)
{
	cJSON	*extra;

	if ((extra = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(extra, "retry_after", retry);
	reply_error(c, id, code, extra, "%s; retry after %.3g s", what, retry);
}

/*
 * A connection refused at accept by the rules: audited like a refused
 * hello, but a uid refused AUTH_FAIL_MAX times is then only counted
 * for AUTH_LOCK_SECS, so that connecting in a loop cannot fill the log.
 */
void
policy_refused_at_accept(uid_t uid, pid_t pid)
{
	struct authfail	*af = authfail_find(uid, 1);
	uint64_t	 now = now_us();

	counters.auth_failures++;
	if (af->until_us > now)
		return;
	audit_auth_peer(uid, pid, "denied");
	if (++af->count >= AUTH_FAIL_MAX) {
		af->count = 0;
		af->until_us = now + AUTH_LOCK_SECS * 1000000ULL;
	}
}

/* A refused hello: audited, counted, and after too many the uid waits. */
static void
auth_failed(struct client *c, uint64_t id, const char *why)
{
	struct authfail	*af = authfail_find(c->uid, 1);

	audit_auth(c, why);
	counters.auth_failures++;
	if (++af->count >= AUTH_FAIL_MAX) {
		af->count = 0;
		af->until_us = now_us() + AUTH_LOCK_SECS * 1000000ULL;
	}
	reply_error(c, id, "unauthorized", NULL, "not authorized");
}

/* hello: who the peer is decides whether it may go on, and as whom. */
int
policy_hello(struct client *c, uint64_t id, cJSON *req)
{
	cJSON				*t;
	const struct policy_rule	*r;
	struct authfail			*af;
	char				 token[POLICY_TOKEN_MAX];
	uint64_t			 now = now_us();
	int				 denied;

	if ((af = authfail_find(c->uid, 0)) != NULL && af->until_us > now) {
		audit_auth(c, "throttled");
		reply_retry(c, id, "auth_throttled",
		    (af->until_us - now) / 1e6,
		    "too many failed authentications");
		return (-1);
	}
	memset(token, 0, sizeof(token));
	t = cJSON_GetObjectItemCaseSensitive(req, "token");
	if (t != NULL && (!cJSON_IsString(t) ||
	    strlen(t->valuestring) >= sizeof(token))) {
		auth_failed(c, id, "malformed token");
		return (-1);
	}
	if (t != NULL)
		strlcpy(token, t->valuestring, sizeof(token));
	r = policy_match(c->uid, c->gid, c->groups, c->ngroups, token,
	    &denied);
	if (denied) {
		auth_failed(c, id, t != NULL ? "denied (token given)" :
		    "denied");
		explicit_bzero(token, sizeof(token));
		return (-1);
	}
	if (af != NULL)
		af->count = 0;
	/* Only a token that let the client in names its identity. */
	if (r == NULL || r->token[0] == '\0')
		memset(token, 0, sizeof(token));
	c->ident = identity_get(c->uid, c->gid, c->groups, c->ngroups,
	    token);
	c->ident->clients++;
	limits_resolve(&c->ident->limits, r);
	audit_rule_name(c->rule, sizeof(c->rule), r);
	explicit_bzero(token, sizeof(token));
	return (0);
}

/* Takes one token if there is one, else says when there will be. */
static int
bucket_take(struct bucket *b, double rate, double burst, double *retry)
{
	uint64_t	now = now_us();

	if (rate <= 0)
		return (0);
	if (b->tokens < 0)
		b->tokens = burst;
	else
		b->tokens += (now - b->last_us) / 1e6 * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_us = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return (0);
	}
	*retry = (1 - b->tokens) / rate;
	return (-1);
}

int
policy_request(struct client *c, uint64_t id)
{
	struct identity	*i = c->ident;
	double		 retry;

	if (bucket_take(&i->requests, i->limits.requests,
	    i->limits.requests_burst, &retry) == 0)
		return (0);
	counters.rate_limited++;
	reply_retry(c, id, "rate_limited", retry, "rate limited");
	return (-1);
}

int
policy_tool_call(struct identity *i, double *retry)
{
	if (bucket_take(&i->tools, i->limits.tool_rate, i->limits.tool_burst,
	    retry) == 0)
		return (0);
	counters.tool_rate_limited++;
	return (-1);
}

/* At its "sessions" limit: c is told so. */
static int
sessions_full(struct client *c, struct identity *i, uint64_t id)
{
	if (i->sessions < i->limits.sessions)
		return (0);
	counters.limit_refused++;
	reply_error(c, id, "too_many_sessions", NULL, "limit \"sessions\" "
	    "reached: at most %u session%s open at once for uid %u",
	    i->limits.sessions, i->limits.sessions == 1 ? "" : "s", i->uid);
	return (1);
}

/*
 * Per identity, then the daemon's capacity: refused at once, never held.
 * mem: the session's memory limit, charged to the capacity.
 */
int
policy_session_admit(struct client *c, struct identity *i, uint64_t id,
    uint64_t mem)
{
	if (sessions_full(c, i, id))
		return (-1);
	if (conf->cap_workers && workers_used >= conf->cap_workers) {
		counters.capacity_refused++;
		reply_error(c, id, "capacity_exhausted", NULL, "capacity "
		    "exhausted: all %u workers are in use", conf->cap_workers);
		return (-1);
	}
	if (conf->cap_memory && memory_used + mem > conf->cap_memory) {
		counters.capacity_refused++;
		reply_error(c, id, "capacity_exhausted", NULL, "capacity "
		    "exhausted: the memory budget of %llu bytes is in use",
		    (unsigned long long)conf->cap_memory);
		return (-1);
	}
	counters.sessions_opened++;
	i->sessions++;
	workers_used++;
	memory_used += mem;
	return (0);
}

/*
 * A session born hibernated (session.fork): it counts in its identity's
 * "sessions" but holds no capacity until it resumes.
 */
int
policy_session_admit_asleep(struct client *c, struct identity *i,
    uint64_t id)
{
	if (sessions_full(c, i, id))
		return (-1);
	counters.sessions_opened++;
	i->sessions++;
	return (0);
}

/*
 * A hibernated session holds no worker and none of the memory budget;
 * it takes them again to resume, if they are free.  Its place in its
 * identity's "sessions" it keeps: it is open.
 */
void
policy_capacity_release(uint64_t mem)
{
	workers_used--;
	memory_used -= mem;
}

int
policy_capacity_take(struct client *c, uint64_t id, uint64_t mem)
{
	if ((conf->cap_workers && workers_used >= conf->cap_workers) ||
	    (conf->cap_memory && memory_used + mem > conf->cap_memory)) {
		counters.capacity_refused++;
		reply_error(c, id, "capacity_exhausted", NULL, "capacity "
		    "exhausted: the hibernated session cannot resume until "
		    "a worker and %llu bytes of the memory budget are free",
		    (unsigned long long)mem);
		return (-1);
	}
	workers_used++;
	memory_used += mem;
	return (0);
}

/* A session closed; one hibernated (held 0) held no capacity. */
void
policy_session_gone(struct identity *i, uint64_t mem, int held)
{
	counters.sessions_closed++;
	i->sessions--;
	if (held)
		policy_capacity_release(mem);
}

int
policy_exec_admit(struct client *c, uint64_t id, struct identity *i)
{
	if (i->limits.executions && i->executions >= i->limits.executions) {
		counters.limit_refused++;
		reply_error(c, id, "too_many_executions", NULL, "limit "
		    "\"executions\" reached: at most %u execution%s at once "
		    "for uid %u", i->limits.executions,
		    i->limits.executions == 1 ? "" : "s", i->uid);
		return (-1);
	}
	i->executions++;
	counters.executions++;
	return (0);
}

void
policy_exec_gone(struct identity *i)
{
	if (i->executions > 0)
		i->executions--;
}

/* A connection after hello goes. */
void
policy_client_gone(struct client *c)
{
	if (c->ident != NULL && c->ident->clients > 0)
		c->ident->clients--;
}

/*
 * A new configuration is in (SIGHUP): connections and sessions stay;
 * every identity gets the limits its rule now gives.
 */
void
policy_reload(void)
{
	struct identity			*i;
	const struct policy_rule	*r;
	int				 denied;

	TAILQ_FOREACH(i, &identities, entry) {
		r = policy_match(i->uid, i->gid, i->groups, i->ngroups,
		    i->token, &denied);
		limits_resolve(&i->limits, r);
	}
	counters.reloads++;
}
