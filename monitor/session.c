/*
 * Session records: what session.create asks for, parsed and checked
 * (tools, limits, options), and how a session is shown.  The life of a
 * session (its workers, its jobs, its end) is the core's.
 */

#include <sys/types.h>

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "json.h"
#include "log.h"
#include "monitor.h"
#include "sha256.h"

static size_t	nsessions;

static int	limits_parse(cJSON *, struct worker_limits *, char *, size_t);
static int	session_name_parse(struct session *, cJSON *, char *, size_t);

size_t
session_count(void)
{
	return (nsessions);
}

/* The broker probed the host at start-up; every session gets the same. */
const char *
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

	if (json_get_seconds(req, "timeout", conf->default_timeout,
	    &s->timeout) == -1) {
		snprintf(err, errlen, "timeout must be a number of seconds, "
		    "at most 315360000");
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
	return (session_name_parse(s, req, err, errlen));
}

/* A name is as a file's (fileop.c): letters, digits, '.', '_', '-'. */
int
session_name_ok(const char *name)
{
	size_t	i, n = strlen(name);

	if (n == 0 || n > SESSION_NAME_MAX || name[0] == '.' ||
	    name[0] == '-')
		return (0);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return (0);
	return (1);
}

static int
session_name_parse(struct session *s, cJSON *req, char *err, size_t errlen)
{
	cJSON	*name = cJSON_GetObjectItemCaseSensitive(req, "name");

	if (name == NULL || cJSON_IsNull(name))
		return (0);
	if (!cJSON_IsString(name) || !session_name_ok(name->valuestring)) {
		snprintf(err, errlen, "a session name is 1 to %d letters, "
		    "digits, '.', '_' or '-', not starting with '.' or '-'",
		    SESSION_NAME_MAX);
		return (-1);
	}
	strlcpy(s->name, name->valuestring, sizeof(s->name));
	return (0);
}

/*
 * A session as req asks, not yet admitted nor linked anywhere; NULL with
 * the error's code and message in *code and err.
 */
struct session *
session_alloc(cJSON *req, char *err, size_t errlen, const char **code)
{
	struct session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	if (tools_parse(cJSON_GetObjectItemCaseSensitive(req, "tools"),
	    &s->tools, &s->ntools, &s->setup, err, errlen) == -1) {
		free(s);
		*code = "bad_tools";
		return (NULL);
	}
	if (limits_parse(cJSON_GetObjectItemCaseSensitive(req, "limits"),
	    &s->limits, err, errlen) == -1 ||
	    session_options(s, req, err, errlen) == -1) {
		*code = strstr(err, "limit") ? "bad_limits" : "bad_request";
		tools_free(s->tools, s->ntools);
		free(s->setup);
		free(s);
		return (NULL);
	}
	session_new_id(s->id);
	s->created = time(NULL);
	s->created_us = now_us();
	s->state = S_STARTING;
	s->snap_fd = -1;
	s->memory = s->limits.memory == LIMIT_NONE ?
	    conf->max_limits.memory : s->limits.memory;
	nsessions++;
	idle_hold();
	return (s);
}

/*
 * A session like src (tools, limits, options) under a new id, for
 * session.fork: born hibernated, not yet admitted nor linked anywhere.
 */
struct session *
session_alloc_like(const struct session *src)
{
	struct session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	s->tools = tools_copy(src->tools, src->ntools);
	s->ntools = src->ntools;
	if (src->setup != NULL && (s->setup = strdup(src->setup)) == NULL)
		fatal("%s", __func__);
	s->limits = src->limits;
	s->timeout = src->timeout;
	s->max_executions = src->max_executions;
	s->memory = src->memory;
	session_new_id(s->id);
	strlcpy(s->forked_from, src->id, sizeof(s->forked_from));
	s->created = time(NULL);
	s->created_us = now_us();
	s->state = S_HIBERNATED;
	s->snap_fd = -1;
	nsessions++;
	idle_hold();
	return (s);
}

static void
session_release(void *arg)
{
	struct session	*s = arg;

	tools_free(s->tools, s->ntools);
	free(s->setup);
	free(s->upload);
	free(s);
}

/* Unlinked already; the record goes at the end of the turn. */
void
session_free(struct session *s)
{
	nsessions--;
	idle_release();
	defer(&s->d_free, session_release, s);
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

/* One of c's own sessions, by id. */
struct session *
session_lookup(struct client *c, const char *id)
{
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		if (strcmp(s->id, id) == 0)
			return (s);
	return (NULL);
}

const char *
session_tool_names(const struct session *s)
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

const char *
session_state_str(const struct session *s)
{
	if (s->state == S_STARTING && s->worker == NULL)
		return ("dead");
	/* session.fork: the source saving, the new one being stored. */
	if ((s->state == S_SAVING && s->fork_saving) ||
	    (s->state == S_HIBERNATED && s->create_req != 0))
		return ("forking");
	switch (s->state) {
	case S_STARTING:
		return ("starting");
	case S_IDLE:
		return ("idle");
	case S_BUSY:
		return ("busy");
	case S_SAVING:
		return ("hibernating");
	case S_HIBERNATED:
		return ("hibernated");
	case S_RESUMING:
		return ("resuming");
	}
	return ("unknown");
}

cJSON *
session_json(const struct session *s)
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
	if (s->forked_from[0] != '\0')
		cJSON_AddStringToObject(o, "forked_from", s->forked_from);
	if (s->name[0] != '\0')
		cJSON_AddStringToObject(o, "name", s->name);
	return (o);
}

/*
 * The session's record, stored with its snapshot (securerd.h,
 * SNAP_RECORD_MAX): what a monitor after a restart needs to take it on
 * as it was.  Its fields are session.create's where it has them, so
 * that session_from_record() checks them as a create would, against the
 * configuration of the day.  NULL if it would be too large to store.
 */
char *
session_record(const struct session *s, size_t *len)
{
	cJSON	*o, *groups, *limits, *tools;
	char	 digest[SHA256_HEX_LEN], *text;
	size_t	 i;
	int	 g;

	if ((o = cJSON_CreateObject()) == NULL ||
	    (groups = cJSON_AddArrayToObject(o, "groups")) == NULL ||
	    (limits = cJSON_AddObjectToObject(o, "limits")) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(o, "version", SESSION_RECORD_VERSION);
	cJSON_AddNumberToObject(o, "uid", s->ident->uid);
	cJSON_AddNumberToObject(o, "gid", s->ident->gid);
	for (g = 0; g < s->ident->ngroups; g++)
		cJSON_AddItemToArray(groups,
		    cJSON_CreateNumber(s->ident->groups[g]));
	policy_token_digest(s->ident, digest, sizeof(digest));
	cJSON_AddStringToObject(o, "token", digest);
	if (s->name[0] != '\0')
		cJSON_AddStringToObject(o, "name", s->name);
	if (s->forked_from[0] != '\0')
		cJSON_AddStringToObject(o, "forked_from", s->forked_from);
	cJSON_AddNumberToObject(o, "created", (double)s->created);
	cJSON_AddNumberToObject(o, "executions", (double)s->executions);
	if (s->timeout > 0)
		cJSON_AddNumberToObject(o, "timeout", s->timeout);
	else
		cJSON_AddNullToObject(o, "timeout");
	if (s->max_executions > 0)
		cJSON_AddNumberToObject(o, "max_executions",
		    (double)s->max_executions);
	for (i = 0; i < sizeof(limit_names) / sizeof(limit_names[0]); i++) {
		if (*LIMIT(&s->limits, i) == LIMIT_NONE)
			cJSON_AddNullToObject(limits, limit_names[i].name);
		else
			cJSON_AddNumberToObject(limits, limit_names[i].name,
			    (double)*LIMIT(&s->limits, i));
	}
	/* The workers' form of the tools is session.create's without text. */
	if (s->setup != NULL && (tools = cJSON_Parse(s->setup)) != NULL)
		cJSON_AddItemToObject(o, "tools", tools);
	text = json_print(o, len);
	cJSON_Delete(o);
	if (text == NULL)
		fatal("%s", __func__);
	if (*len > SNAP_RECORD_MAX) {
		free(text);
		return (NULL);
	}
	return (text);
}

static int
record_number(cJSON *o, const char *name, double min, double max,
    double *out)
{
	cJSON	*item = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(item) || !(item->valuedouble >= min &&
	    item->valuedouble <= max) || item->valuedouble !=
	    floor(item->valuedouble))
		return (-1);
	*out = item->valuedouble;
	return (0);
}

/* The peer the record names, for policy_identity_adopt(). */
static int
record_peer(cJSON *o, struct peer_cred *p, const char **digest)
{
	cJSON	*groups, *g, *token;
	double	 d;

	memset(p, 0, sizeof(*p));
	if (record_number(o, "uid", 0, UINT32_MAX - 1, &d) == -1)
		return (-1);
	p->uid = d;
	if (record_number(o, "gid", 0, UINT32_MAX - 1, &d) == -1)
		return (-1);
	p->gid = d;
	groups = cJSON_GetObjectItemCaseSensitive(o, "groups");
	if (!cJSON_IsArray(groups) ||
	    cJSON_GetArraySize(groups) > PEER_GROUPS_MAX)
		return (-1);
	cJSON_ArrayForEach(g, groups) {
		if (!cJSON_IsNumber(g) || !(g->valuedouble >= 0 &&
		    g->valuedouble < UINT32_MAX))
			return (-1);
		p->groups[p->ngroups++] = g->valuedouble;
	}
	token = cJSON_GetObjectItemCaseSensitive(o, "token");
	if (!cJSON_IsString(token) || (token->valuestring[0] != '\0' &&
	    strlen(token->valuestring) != SHA256_HEX_LEN - 1))
		return (-1);
	*digest = token->valuestring;
	return (0);
}

/*
 * A session from its record (a snapshot a monitor before this one
 * stored), under its own id, hibernated, not yet admitted nor linked:
 * NULL with why in err.  *peer and *digest name its owner.
 */
struct session *
session_from_record(const char *rec, size_t len, const char *id,
    struct peer_cred *peer, char *digest, size_t dlen, char *err,
    size_t errlen)
{
	struct session	*s;
	cJSON		*o, *from;
	const char	*code, *d;
	double		 v, created, execs;

	if ((o = cJSON_ParseWithLength(rec, len)) == NULL ||
	    !cJSON_IsObject(o)) {
		snprintf(err, errlen, "its record does not parse");
		cJSON_Delete(o);
		return (NULL);
	}
	if (record_number(o, "version", SESSION_RECORD_VERSION,
	    SESSION_RECORD_VERSION, &v) == -1 ||
	    record_peer(o, peer, &d) == -1 ||
	    record_number(o, "created", 0, 1e12, &created) == -1 ||
	    record_number(o, "executions", 0, 9007199254740992.0,
	    &execs) == -1) {
		snprintf(err, errlen, "its record is not one this securerd "
		    "writes");
		cJSON_Delete(o);
		return (NULL);
	}
	strlcpy(digest, d, dlen);
	if ((s = session_alloc(o, err, errlen, &code)) == NULL) {
		cJSON_Delete(o);
		return (NULL);
	}
	from = cJSON_GetObjectItemCaseSensitive(o, "forked_from");
	if (cJSON_IsString(from) &&
	    strlen(from->valuestring) == SESSION_ID_LEN)
		strlcpy(s->forked_from, from->valuestring,
		    sizeof(s->forked_from));
	cJSON_Delete(o);
	strlcpy(s->id, id, sizeof(s->id));
	s->created = created;
	s->executions = execs;
	s->state = S_HIBERNATED;
	return (s);
}
