/*
 * Client connections: accept, peer credentials, line framing, dispatch.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

/* A client that reads nothing while we write this much is dropped. */
#define CLIENT_OUTPUT_MAX	(64U * 1024 * 1024)
/*
 * More than this waiting for a client starts its grace period (client-grace
 * seconds): unless it reads below it in time, it is dropped with its
 * sessions and their work.
 */
#define CLIENT_OUTPUT_HIGH	(1U * 1024 * 1024)

static TAILQ_HEAD(, client)	clients = TAILQ_HEAD_INITIALIZER(clients);
static size_t			nclients;
static struct event		ev_accept, ev_pause;
static int			at_fd_limit;	/* said so once */

static void	client_accept(int, short, void *);
static void	client_read(struct bufferevent *, void *);
static void	client_drained(struct bufferevent *, void *);
static void	client_caught_up(struct bufferevent *, void *);
static void	client_grace_over(int, short, void *);
static void	client_drop(struct client *, const char *, int);
static void	client_event(struct bufferevent *, short, void *);
static void	client_request(struct client *, char *, size_t);
static void	client_hello(struct client *, uint64_t, cJSON *);
static void	client_grace_start(struct client *);

void
client_listen(int fd)
{
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("listen socket");
	event_set(&ev_accept, fd, EV_READ | EV_PERSIST, client_accept, NULL);
	event_add(&ev_accept, NULL);
	evtimer_set(&ev_pause, client_accept, NULL);
}

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

static void
client_accept_pause(void)
{
	struct timeval	tv = { 1, 0 };

	/*
	 * Out of fds: stop accepting rather than spin, until a client goes
	 * or for a second (fds may go elsewhere: sessions, the control).
	 */
	if (!at_fd_limit)
		log_warnx("out of file descriptors: not accepting for now");
	at_fd_limit = 1;
	event_del(&ev_accept);
	evtimer_add(&ev_pause, &tv);
}

/* An fd was freed: accept again at once if we had stopped. */
static void
client_accept_resume(void)
{
	if (evtimer_pending(&ev_pause, NULL)) {
		evtimer_del(&ev_pause);
		event_add(&ev_accept, NULL);
	}
}

/*
 * The peer's supplementary groups, for "allow group" rules; the kernel
 * gives them with the connection, so nothing is read from /etc.
 */
static void
client_groups(struct client *c, int s)
{
	socklen_t	len = sizeof(c->groups);

	if (getsockopt(s, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == -1) {
		/* More groups than we keep: the primary one still counts. */
		c->ngroups = 0;
		return;
	}
	c->ngroups = len / sizeof(gid_t);
}

static void
client_accept(int fd, short event, void *arg)
{
	struct client	*c;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	int		 s;

	if (event & EV_TIMEOUT) {
		event_add(&ev_accept, NULL);
		return;
	}
	if ((s = accept4(EVENT_FD(&ev_accept), NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE)
			client_accept_pause();
		else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (at_fd_limit) {
		log_info("accepting again");
		at_fd_limit = 0;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(s);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(NULL, s,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatal("%s", __func__);
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	client_groups(c, s);
	TAILQ_INIT(&c->sessions);
	bufferevent_setcb(c->bev, client_read, client_caught_up, client_event,
	    c);
	/* Stop reading once a line could not fit: client_read refuses it. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CLIENT_LINE_MAX + 1);
	/* client_caught_up ends a grace period when it reads enough. */
	bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_OUTPUT_HIGH, 0);
	evtimer_set(&c->ev_grace, client_grace_over, c);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	nclients++;
	counters.connections++;
	log_debug("client uid %u pid %d connected", c->uid, c->pid);
	monitor_activity();
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t		 eol_len, n;
	char		*line;

	while (!c->closing) {
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > CLIENT_LINE_MAX) {
				reply_error(c, 0, "too_large", NULL,
				    "request longer than %u bytes",
				    CLIENT_LINE_MAX);
				client_close(c);
			}
			return;
		}
		n = eol.pos;
		if ((line = malloc(n + 1)) == NULL)
			fatal("%s", __func__);
		evbuffer_remove(in, line, n);
		evbuffer_drain(in, eol_len);
		line[n] = '\0';
		client_request(c, line, n);
		free(line);
	}
}

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

static const struct {
	const char	*op;
	void		(*fn)(struct client *, uint64_t, cJSON *);
} ops[] = {
	{ "execute",		exec_request },
	{ "file.get",		files_get_req },
	{ "file.put",		files_put_req },
	{ "hello",		client_hello },
	{ "pool.close",		pool_close_req },
	{ "pool.create",	pool_create_req },
	{ "pool.execute",	pool_execute_req },
	{ "pool.status",	pool_status_req },
	{ "session.close",	session_close_req },
	{ "session.create",	session_create },
	{ "session.restart",	session_restart_req },
	{ "status",		session_status },
	{ "tool_result",	tool_result_req },
};

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
	files_request_line(line, len);
	if (i == sizeof(ops) / sizeof(ops[0]))
		reply_error(c, id, "bad_request", NULL, "unknown op");
	else if (!c->hello && ops[i].fn != client_hello)
		reply_error(c, id, "hello_required", NULL,
		    "the first request must be hello");
	else if (c->hello && ops[i].fn != tool_result_req &&
	    policy_request(c, id) == -1)
		;	/* answered: rate limited; a tool's answer never is */
	else
		ops[i].fn(c, id, req);
 done:
	cJSON_Delete(req);
}

static void
client_hello(struct client *c, uint64_t id, cJSON *req)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(req, "version");
	cJSON	*bin = cJSON_GetObjectItemCaseSensitive(req, "binary");
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
	if (bin != NULL && !cJSON_IsBool(bin)) {
		reply_error(c, id, "bad_request", NULL,
		    "binary must be true or false");
		return;
	}
	if (policy_hello(c, id, req) == -1)
		return;
	c->hello = 1;
	c->binary = cJSON_IsTrue(bin);
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(r, "version", SECURER_PROTO_VERSION);
	cJSON_AddStringToObject(r, "server", "securerd " SECURER_VERSION);
	cJSON_AddNumberToObject(r, "uid", c->uid);
	cJSON_AddNumberToObject(r, "pid", c->pid);
	reply_ok(c, id, r);
}

/*
 * With nothing queued before it, a reply is written at once (the socket
 * is non-blocking): no wakeup for EV_WRITE, no epoll_ctl(2) to ask for it
 * and drop it.  What the socket does not take, and any error, is left to
 * the bufferevent.
 */
static size_t
client_write_now(struct client *c, const char *text, size_t len)
{
	ssize_t	n;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return (0);
	if ((n = write(bufferevent_getfd(c->bev), text, len)) <= 0)
		return (0);
	return (n);
}

void
client_send(struct client *c, cJSON *msg)
{
	struct evbuffer	*out;
	char		*text;
	size_t		 len, off;

	/* NULL: a daemon's own request (a pool refilling), nobody to tell. */
	if (c == NULL || c->closing)
		return;
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) > CLIENT_OUTPUT_MAX) {
		log_warnx("client uid %u pid %d does not read, dropping it",
		    c->uid, c->pid);
		client_drop(c, "client does not read", 1);
		return;
	}
	if ((text = json_print(msg, &len)) == NULL)
		fatal("%s", __func__);
	text[len] = '\n';	/* json_print leaves room for the NUL */
	len++;
	off = client_write_now(c, text, len);
	if (off < len && bufferevent_write(c->bev, text + off, len - off) == -1)
		fatal("%s", __func__);
	free(text);
	client_grace_start(c);
}

/*
 * Replies pile up: the client has client-grace seconds to read them down
 * to CLIENT_OUTPUT_HIGH.  What we keep meanwhile is capped by
 * CLIENT_OUTPUT_MAX.
 */
static void
client_grace_start(struct client *c)
{
	struct timeval	tv = { conf->client_grace, 0 };

	if (conf->client_grace == 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    CLIENT_OUTPUT_HIGH || evtimer_pending(&c->ev_grace, NULL))
		return;
	log_info("client uid %u pid %d is behind, grace period started",
	    c->uid, c->pid);
	evtimer_add(&c->ev_grace, &tv);
}

static void
client_caught_up(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	evtimer_del(&c->ev_grace);
}

static void
client_grace_over(int fd, short event, void *arg)
{
	struct client	*c = arg;

	log_warnx("client uid %u pid %d did not read its replies in time, "
	    "dropping it", c->uid, c->pid);
	client_drop(c, "client does not read", 1);
}

static void
client_free(struct client *c)
{
	evtimer_del(&c->ev_free);
	evtimer_del(&c->ev_grace);
	audit_client_gone(c);
	bufferevent_free(c->bev);
	free(c);
	client_accept_resume();
	monitor_activity();
}

static void
client_free_cb(int fd, short event, void *arg)
{
	client_free(arg);
}

/*
 * Closing a client closes its sessions at once; what it still has to
 * read is written out before the connection goes.  The client is freed
 * later from the event loop, never under a caller still using it.
 */
void
client_close(struct client *c)
{
	client_drop(c, "client disconnected", 0);
}

/*
 * discard: a client dropped for not reading loses what it did not read;
 * waiting for it to drain would keep the connection (and its memory) for
 * ever.
 */
static void
client_drop(struct client *c, const char *reason, int discard)
{
	struct session	*s;
	struct timeval	 tv = { 0, 0 };

	if (c->closing)
		return;
	c->closing = 1;
	evtimer_del(&c->ev_grace);
	pool_client_gone(c);
	while ((s = TAILQ_FIRST(&c->sessions)) != NULL)
		session_destroy(s, reason);
	TAILQ_REMOVE(&clients, c, entry);
	nclients--;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, client_drained, client_event, c);
	/* client_drained waits for an empty output buffer, not a watermark. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	evtimer_set(&c->ev_free, client_free_cb, c);
	if (discard || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		evtimer_add(&c->ev_free, &tv);
}

static void
client_drained(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(arg);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;

	if (c->closing) {
		client_free(c);
		return;
	}
	log_debug("client uid %u pid %d gone", c->uid, c->pid);
	client_close(c);
}
