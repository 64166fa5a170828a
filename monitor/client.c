/*
 * The client protocol (securer-protocol(7)): a connection (conn.c)
 * becomes a client, each line a request, checked and dispatched by its
 * op to the core or to pools.  A client is ours: made when its
 * connection opens, freed at the end of the turn its connection went,
 * after its sessions.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

static TAILQ_HEAD(, client)	clients = TAILQ_HEAD_INITIALIZER(clients);
static size_t			nclients;

static int	client_admit(const struct peer_cred *);
static void	client_opened(struct conn *);
static void	client_line(struct conn *, char *, size_t);
static void	client_gone(struct conn *);
static void	client_behind(struct conn *);
static void	client_caught_up(struct conn *);
static void	client_hello(struct client *, uint64_t, cJSON *, char *,
		    size_t);

const struct conn_ops	client_conn_ops = {
	client_admit, client_opened, client_line, client_gone,
	client_behind, client_caught_up,
};

size_t
client_count(void)
{
	return (nclients);
}

void
client_walk(void (*fn)(struct client *, void *), void *arg)
{
	struct client	*c, *tc;

	TAILQ_FOREACH_SAFE(c, &clients, entry, tc)
		fn(c, arg);
}

/* allow and deny at accept, as far as they can tell without a token. */
static int
client_admit(const struct peer_cred *cred)
{
	if (policy_may_connect(cred->uid, cred->gid, cred->groups,
	    cred->ngroups))
		return (0);
	policy_refused_at_accept(cred->uid, cred->pid);
	return (-1);
}

static void
client_opened(struct conn *conn)
{
	const struct peer_cred	*cred = conn_cred(conn);
	struct client		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("%s", __func__);
	c->conn = conn;
	c->uid = cred->uid;
	c->gid = cred->gid;
	c->pid = cred->pid;
	memcpy(c->groups, cred->groups, sizeof(c->groups));
	c->ngroups = cred->ngroups;
	TAILQ_INIT(&c->sessions);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
	counters.connections++;
	conn_set_data(conn, c);
}

static void
client_free(void *arg)
{
	free(arg);
}

/* Its connection went (at the end of a turn): so does all it had. */
static void
client_gone(struct conn *conn)
{
	struct client	*c = conn_data(conn);

	/*
	 * What it waits for is answered ("closed", "aborted") before it is
	 * gone: a client that only shut down its writing side reads them.
	 */
	pool_client_gone(c);
	policy_client_gone(c);
	core_client_gone(c, conn_why(conn));
	c->gone = 1;
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	defer(&c->d_free, client_free, c);
}

/*
 * Its output waits for it: a worker whose output is for it is held
 * (core_output) as soon as it says more, until it has caught up.
 */
static void
client_behind(struct conn *conn)
{
	struct client	*c = conn_data(conn);

	c->behind = 1;
}

static void
client_caught_up(struct conn *conn)
{
	core_client_caught_up(conn_data(conn));
}

/* A session of c's, or of its identity's pools it executes on. */
static struct session *
session_find(struct client *c, cJSON *req, uint64_t id)
{
	cJSON		*sid = cJSON_GetObjectItemCaseSensitive(req, "session");
	struct session	*s;

	if (!cJSON_IsString(sid)) {
		reply_error(c, id, "bad_request", NULL,
		    "request needs a session");
		return (NULL);
	}
	if ((s = session_lookup(c, sid->valuestring)) != NULL ||
	    (s = pool_session_of(c, sid->valuestring)) != NULL)
		return (s);
	reply_error(c, id, "no_such_session", NULL, "no such session");
	return (NULL);
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

static void
req_session_create(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	core_session_new(c, id, req, NULL, NULL);
}

static void
req_session_restart(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	struct session	*s;

	if ((s = session_find_own(c, req, id)) != NULL)
		core_session_restart(s, id);
}

static void
req_session_hibernate(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	struct session	*s;

	if ((s = session_find_own(c, req, id)) != NULL)
		core_session_hibernate(c, id, s);
}

static void
req_session_attach(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	core_session_attach(c, id, req);
}

static void
req_session_fork(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	struct session	*s;

	if ((s = session_find_own(c, req, id)) != NULL)
		core_session_fork(c, id, s);
}

static void
req_session_close(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	struct session	*s;

	if ((s = session_find_own(c, req, id)) == NULL)
		return;
	core_session_destroy(s, "client");
	reply_ok(c, id, NULL);
}

static void
req_status(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
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

static void
req_execute(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	struct session	*s;

	if ((s = session_find(c, req, id)) != NULL)
		core_exec_submit(c, id, req, s);
}

static void
req_file(struct client *c, uint64_t id, cJSON *req, char *line, size_t len,
    int put)
{
	struct session	*s;

	if ((s = session_find(c, req, id)) == NULL)
		return;
	if (fileop_line_has_nul(line, len)) {
		reply_error(c, id, "bad_file_name", NULL, "a file name is "
		    "1 to %d letters, digits, '.', '_' or '-', not starting "
		    "with '.' or '-'", FILE_NAME_MAX);
		return;
	}
	core_file_submit(c, id, req, s, put);
}

static void
req_file_put(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	req_file(c, id, req, line, len, 1);
}

static void
req_file_get(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	req_file(c, id, req, line, len, 0);
}

static void
req_tool_result(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	struct session	*s;

	if ((s = session_find(c, req, id)) != NULL)
		core_tool_result(c, id, s, req);
}

#define POOL_REQ(name, fn)						\
static void								\
name(struct client *c, uint64_t id, cJSON *req, char *line, size_t len)	\
{									\
	fn(c, id, req);							\
}
POOL_REQ(req_pool_close, pool_close_req)
POOL_REQ(req_pool_create, pool_create_req)
POOL_REQ(req_pool_execute, pool_execute_req)
POOL_REQ(req_pool_status, pool_status_req)

static const struct {
	const char	*op;
	void		(*fn)(struct client *, uint64_t, cJSON *, char *,
			    size_t);
} ops[] = {
	{ "execute",		req_execute },
	{ "file.get",		req_file_get },
	{ "file.put",		req_file_put },
	{ "hello",		client_hello },
	{ "pool.close",		req_pool_close },
	{ "pool.create",	req_pool_create },
	{ "pool.execute",	req_pool_execute },
	{ "pool.status",	req_pool_status },
	{ "session.attach",	req_session_attach },
	{ "session.close",	req_session_close },
	{ "session.create",	req_session_create },
	{ "session.fork",	req_session_fork },
	{ "session.hibernate",	req_session_hibernate },
	{ "session.restart",	req_session_restart },
	{ "status",		req_status },
	{ "tool_result",	req_tool_result },
};

static uint64_t
request_id(cJSON *req)
{
	cJSON	*id = cJSON_GetObjectItemCaseSensitive(req, "id");
	double	 d;

	if (!cJSON_IsNumber(id))
		return (0);
	d = id->valuedouble;
	if (d < 1 || d > 9007199254740992.0 || d != (double)(uint64_t)d)
		return (0);
	return ((uint64_t)d);
}

static void
client_request(struct client *c, char *line, size_t len)
{
	cJSON		*req, *op;
	uint64_t	 id;
	size_t		 i;

	if ((req = cJSON_ParseWithLength(line, len)) == NULL ||
	    !cJSON_IsObject(req)) {
		reply_error(c, 0, "bad_request", NULL,
		    "request is not a JSON object");
		goto done;
	}
	if (json_has_duplicate(req)) {
		reply_error(c, request_id(req), "bad_request", NULL,
		    "request has a name twice in one object");
		goto done;
	}
	if ((id = request_id(req)) == 0) {
		reply_error(c, 0, "bad_request", NULL,
		    "request needs an integer id from 1 to 2^53");
		goto done;
	}
	op = cJSON_GetObjectItemCaseSensitive(req, "op");
	if (!cJSON_IsString(op)) {
		reply_error(c, id, "bad_request", NULL,
		    "request needs a string op");
		goto done;
	}
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].op, op->valuestring) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		reply_error(c, id, "bad_request", NULL, "unknown op");
	else if (!c->hello && ops[i].fn != client_hello)
		reply_error(c, id, "hello_required", NULL,
		    "the first request must be hello");
	else if (c->hello && ops[i].fn != req_tool_result &&
	    policy_request(c, id) == -1)
		;	/* answered: rate limited; a tool's answer never is */
	else
		ops[i].fn(c, id, req, line, len);
 done:
	cJSON_Delete(req);
}

/* A line; NULL: one longer than a request may be, which ends it. */
static void
client_line(struct conn *conn, char *line, size_t len)
{
	struct client	*c = conn_data(conn);

	if (c->gone)
		return;
	if (line == NULL) {
		reply_error(c, 0, "too_large", NULL,
		    "request longer than %zu bytes%s", len, c->hello ? "" :
		    " before hello");
		conn_drop(conn, "request too long", 0);
		return;
	}
	client_request(c, line, len);
}

static void
client_hello(struct client *c, uint64_t id, cJSON *req, char *line,
    size_t len)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(req, "version");
	cJSON	*bin = cJSON_GetObjectItemCaseSensitive(req, "binary");
	cJSON	*frames = cJSON_GetObjectItemCaseSensitive(req, "frames");
	cJSON	*r;

	if (!cJSON_IsNumber(v) || v->valuedouble != SECURER_PROTO_VERSION) {
		reply_error(c, id, "unsupported_version", NULL,
		    "this daemon speaks protocol version %d",
		    SECURER_PROTO_VERSION);
		return;
	}
	if (c->hello) {
		reply_error(c, id, "bad_request", NULL, "hello was already "
		    "said on this connection");
		return;
	}
	if ((bin != NULL && !cJSON_IsBool(bin)) ||
	    (frames != NULL && !cJSON_IsBool(frames))) {
		reply_error(c, id, "bad_request", NULL,
		    "binary and frames must be true or false");
		return;
	}
	if (policy_hello(c, id, req) == -1)
		return;
	c->hello = 1;
	c->binary = cJSON_IsTrue(bin) || cJSON_IsTrue(frames);
	c->frames = cJSON_IsTrue(frames);
	conn_authenticated(c->conn);
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(r, "version", SECURER_PROTO_VERSION);
	cJSON_AddStringToObject(r, "server", "securerd " SECURER_VERSION);
	cJSON_AddNumberToObject(r, "uid", c->uid);
	cJSON_AddNumberToObject(r, "pid", c->pid);
	reply_ok(c, id, r);
}
