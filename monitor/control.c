/*
 * The operator's control connections (securerctl).  The broker owns the
 * socket (mode 0600, root's or the single user's), accepts, checks the
 * peer and hands each connection over; we check the peer again.  One
 * JSON request per connection, one JSON reply.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

#define CONTROL_LINE_MAX	4096

struct find {
	const char	*id;
	struct session	*s;
};

static void	control_read(struct bufferevent *, void *);
static void	control_written(struct bufferevent *, void *);
static void	control_event(struct bufferevent *, short, void *);
static void	control_reply(struct bufferevent *, cJSON *);
static cJSON	*control_error(const char *);


/*
 * Root, or in single-user mode the user whose daemon this is (its uid
 * is conf->user there; asking the kernel would be a syscall the
 * monitor's filter need not allow).
 */
static int
control_peer_ok(int s)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	const char	*errstr;
	uid_t		 owner;

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (0);
	owner = strtonum(conf->user, 0, UINT32_MAX - 1, &errstr);
	if (cred.uid == 0 ||
	    (conf->single_user && errstr == NULL && cred.uid == owner))
		return (1);
	log_warnx("control: uid %u refused", cred.uid);
	return (0);
}

/* IMSG_CTL_FD: a securerctl connection the broker accepted. */
void
monitor_recv_ctl_fd(struct chan *ch, struct imsg *imsg)
{
	struct bufferevent	*bev;
	int			 s;

	if ((s = imsg_get_fd(imsg)) == -1) {
		/* The kernel dropped it: we are at our fd limit. */
		log_warnx("control: connection lost, out of file descriptors");
		return;
	}
	if (!control_peer_ok(s)) {
		close(s);
		return;
	}
	if ((bev = bufferevent_socket_new(NULL, s,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatal("%s", __func__);
	bufferevent_setcb(bev, control_read, NULL, control_event, NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX + 1);
	bufferevent_enable(bev, EV_READ);
}

static cJSON *
session_json_ctl(struct session *s)
{
	cJSON	*o;

	if ((o = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(o, "session", s->id);
	cJSON_AddNumberToObject(o, "uid", s->ident != NULL ? s->ident->uid :
	    0);
	if (s->client != NULL)
		cJSON_AddNumberToObject(o, "pid", s->client->pid);
	else if (s->job != NULL && s->job->client != NULL)
		cJSON_AddNumberToObject(o, "pid", s->job->client->pid);
	cJSON_AddStringToObject(o, "state", session_state_str(s));
	if (s->pool != NULL)
		cJSON_AddStringToObject(o, "pool", s->pool->name);
	cJSON_AddNumberToObject(o, "executions", (double)s->executions);
	cJSON_AddNumberToObject(o, "tools", s->ntools);
	cJSON_AddNumberToObject(o, "memory", (double)s->memory);
	cJSON_AddNumberToObject(o, "age", (double)(time(NULL) - s->created));
	if (s->worker != NULL)
		cJSON_AddNumberToObject(o, "worker", s->worker->id);
	if (s->name[0] != '\0')
		cJSON_AddStringToObject(o, "name", s->name);
	if (s->kept)
		cJSON_AddTrueToObject(o, "kept");
	return (o);
}

static void
add_client_sessions(struct client *c, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		cJSON_AddItemToArray(arg, session_json_ctl(s));
}

static void
add_pool_sessions(struct pool *p, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &p->sessions, entry)
		cJSON_AddItemToArray(arg, session_json_ctl(s));
}

/* Named sessions whose connection closed, and adopted ones. */
static void
add_kept_sessions(struct identity *i, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &i->kept, entry)
		cJSON_AddItemToArray(arg, session_json_ctl(s));
}

static cJSON *
sessions_json(void)
{
	cJSON	*list;

	if ((list = cJSON_CreateArray()) == NULL)
		fatal("%s", __func__);
	client_walk(add_client_sessions, list);
	pool_walk(add_pool_sessions, list);
	identity_walk(add_kept_sessions, list);
	return (list);
}

static void
add_pool(struct pool *p, void *arg)
{
	struct session	*s;
	cJSON		*o;
	double		 busy = 0, idle = 0, other = 0;

	TAILQ_FOREACH(s, &p->sessions, entry) {
		if (s->job != NULL)
			busy++;
		else if (s->state == S_IDLE)
			idle++;
		else
			other++;
	}
	if ((o = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(o, "pool", p->name);
	cJSON_AddNumberToObject(o, "uid", p->ident->uid);
	cJSON_AddNumberToObject(o, "size", p->size);
	cJSON_AddNumberToObject(o, "busy", busy);
	cJSON_AddNumberToObject(o, "idle", idle);
	cJSON_AddNumberToObject(o, "other", other);
	cJSON_AddNumberToObject(o, "executions", (double)p->executions);
	cJSON_AddItemToArray(arg, o);
}

static void
add_identity(struct identity *i, void *arg)
{
	cJSON	*o;

	if ((o = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(o, "uid", i->uid);
	cJSON_AddBoolToObject(o, "token", i->token[0] != '\0');
	cJSON_AddNumberToObject(o, "clients", i->clients);
	cJSON_AddNumberToObject(o, "sessions", i->sessions);
	cJSON_AddNumberToObject(o, "executions", i->executions);
	cJSON_AddNumberToObject(o, "max_sessions", i->limits.sessions);
	cJSON_AddNumberToObject(o, "max_executions", i->limits.executions);
	cJSON_AddItemToArray(arg, o);
}

static cJSON *
status_json(void)
{
	cJSON	*r, *pools, *ids;

	if ((r = cJSON_CreateObject()) == NULL ||
	    (pools = cJSON_CreateArray()) == NULL ||
	    (ids = cJSON_CreateArray()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(r, "clients", client_count());
	cJSON_AddNumberToObject(r, "sessions", session_count());
	cJSON_AddNumberToObject(r, "workers", session_count());
	cJSON_AddNumberToObject(r, "capacity_workers", conf->cap_workers);
	cJSON_AddNumberToObject(r, "workers_ready", spare_ready());
	cJSON_AddNumberToObject(r, "memory_used",
	    (double)policy_memory_used());
	cJSON_AddNumberToObject(r, "capacity_memory",
	    (double)conf->cap_memory);
	pool_walk(add_pool, pools);
	identity_walk(add_identity, ids);
	cJSON_AddItemToObject(r, "pools", pools);
	cJSON_AddItemToObject(r, "identities", ids);
	return (r);
}

static cJSON *
counters_json(void)
{
	cJSON	*r;

	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
#define C(n)	cJSON_AddNumberToObject(r, #n, (double)counters.n)
	C(connections);
	C(auth_failures);
	C(rate_limited);
	C(tool_rate_limited);
	C(sessions_opened);
	C(sessions_closed);
	C(sessions_expired);
	C(executions);
	C(capacity_refused);
	C(limit_refused);
	C(pool_busy);
	C(reloads);
	C(operator_kills);
	C(connections_refused);
	C(hello_timeouts);
	C(clients_over_budget);
#undef C
	return (r);
}

static void
find_in_client(struct client *c, void *arg)
{
	struct find	*f = arg;
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		if (strcmp(s->id, f->id) == 0)
			f->s = s;
}

static void
find_in_pool(struct pool *p, void *arg)
{
	struct find	*f = arg;
	struct session	*s;

	TAILQ_FOREACH(s, &p->sessions, entry)
		if (strcmp(s->id, f->id) == 0)
			f->s = s;
}

static void
find_kept(struct identity *i, void *arg)
{
	struct find	*f = arg;
	struct session	*s;

	TAILQ_FOREACH(s, &i->kept, entry)
		if (strcmp(s->id, f->id) == 0)
			f->s = s;
}

static struct session *
control_session(cJSON *req)
{
	cJSON		*id = cJSON_GetObjectItemCaseSensitive(req, "session");
	struct find	 f = { NULL, NULL };

	if (!cJSON_IsString(id))
		return (NULL);
	f.id = id->valuestring;
	client_walk(find_in_client, &f);
	if (f.s == NULL)
		pool_walk(find_in_pool, &f);
	if (f.s == NULL)
		identity_walk(find_kept, &f);
	return (f.s);
}

/*
 * Hibernating every session (securerctl hibernate all, and the stop of
 * hibernate-on-stop): the core sweeps what is added here, sessions on
 * connections and kept ones; pools' sessions are not kept state.  The
 * reply waits for the sweep; the connection may go meanwhile.
 */
static struct bufferevent	*sweep_bev;	/* waits for the sweep */
static int			 stop_asked;
static struct event		 ev_stop_late;
static cJSON			 control_later;	/* "the reply comes later" */

static void	stop_sweep(void);

static void
sweep_client(struct client *c, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		core_sweep_add(s);
}

static void
sweep_kept(struct identity *i, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &i->kept, entry)
		core_sweep_add(s);
}

static cJSON *
sweep_json(const struct sweep_counts *n)
{
	cJSON	*r;

	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(r, "hibernated", n->hibernated);
	cJSON_AddNumberToObject(r, "already", n->asleep);
	cJSON_AddNumberToObject(r, "failed", n->failed);
	cJSON_AddNumberToObject(r, "closed", n->closed);
	return (r);
}

static void
control_swept(const struct sweep_counts *n, void *arg)
{
	log_info("control: %u sessions hibernated, %u were, %u failed, "
	    "%u closed", n->hibernated, n->asleep, n->failed, n->closed);
	if (sweep_bev != NULL)
		control_reply(sweep_bev, sweep_json(n));
	sweep_bev = NULL;
	if (stop_asked)
		stop_sweep();
}

static cJSON *
control_hibernate(cJSON *req, struct bufferevent *bev)
{
	struct session	*s = NULL;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "all")) &&
	    (s = control_session(req)) == NULL)
		return (control_error("no such session"));
	if (stop_asked)
		return (control_error("the daemon is stopping"));
	if (core_sweep_begin("operator", control_swept, NULL) == -1)
		return (control_error("a hibernation is under way"));
	sweep_bev = bev;
	if (s != NULL)
		core_sweep_add(s);
	else {
		client_walk(sweep_client, NULL);
		identity_walk(sweep_kept, NULL);
	}
	core_sweep_end();
	return (sweep_bev == NULL ? NULL : &control_later);
}

static cJSON *
control_error(const char *msg)
{
	cJSON	*r;

	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddFalseToObject(r, "ok");
	cJSON_AddStringToObject(r, "error", msg);
	return (r);
}

static cJSON *
control_kill(cJSON *req)
{
	struct session	*s;

	if ((s = control_session(req)) == NULL)
		return (control_error("no such session"));
	counters.operator_kills++;
	core_session_destroy(s, "killed by the operator");
	return (NULL);
}

static cJSON *
control_do(cJSON *req, struct bufferevent *bev)
{
	cJSON		*op = cJSON_GetObjectItemCaseSensitive(req, "op");
	struct session	*s;
	const char	*o;

	if (!cJSON_IsString(op))
		return (control_error("request needs an op"));
	o = op->valuestring;
	if (strcmp(o, "status") == 0)
		return (status_json());
	if (strcmp(o, "counters") == 0)
		return (counters_json());
	if (strcmp(o, "metrics") == 0)
		return (metrics_json());
	if (strcmp(o, "sessions") == 0)
		return (sessions_json());
	if (strcmp(o, "session") == 0)
		return ((s = control_session(req)) == NULL ?
		    control_error("no such session") : session_json_ctl(s));
	if (strcmp(o, "kill") == 0)
		return (control_kill(req));
	if (strcmp(o, "reload") == 0) {
		wire_reload();
		return (NULL);
	}
	if (strcmp(o, "hibernate") == 0)
		return (control_hibernate(req, bev));
	return (control_error("unknown op"));
}

static void
control_reply(struct bufferevent *bev, cJSON *r)
{
	cJSON	*w;
	char	*text;
	size_t	 len;

	/* Objects say ok themselves; lists and NULL are wrapped. */
	if (r == NULL || !cJSON_IsObject(r) ||
	    cJSON_GetObjectItemCaseSensitive(r, "ok") == NULL) {
		if ((w = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddTrueToObject(w, "ok");
		if (r != NULL)
			cJSON_AddItemToObject(w, "result", r);
		r = w;
	}
	if ((text = json_print(r, &len)) == NULL)
		fatal("%s", __func__);
	text[len] = '\n';
	bufferevent_write(bev, text, len + 1);
	free(text);
	cJSON_Delete(r);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, control_written, control_event, NULL);
}

static void
control_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	cJSON			*req, *r;
	char			*line;
	size_t			 eol_len, n;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			control_reply(bev, control_error("request too long"));
		return;
	}
	n = eol.pos;
	if ((line = malloc(n + 1)) == NULL)
		fatal("%s", __func__);
	evbuffer_remove(in, line, n);
	line[n] = '\0';
	if ((req = cJSON_ParseWithLength(line, n)) == NULL)
		control_reply(bev, control_error("request is not JSON"));
	else if ((r = control_do(req, bev)) != &control_later)
		control_reply(bev, r);
	cJSON_Delete(req);
	free(line);
}

static void
control_written(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
control_event(struct bufferevent *bev, short what, void *arg)
{
	if (bev == sweep_bev)
		sweep_bev = NULL;
	bufferevent_free(bev);
}

/*
 * hibernate-on-stop: the broker got SIGTERM.  Nothing new starts; every
 * session is hibernated as soon as its execution ends, and then the
 * monitor exits, the daemon with it; at the grace's end it exits with
 * what was saved by then.
 */
static void
stop_exit(const char *why)
{
	log_info("stopping: %s", why);
	wire_broker_drain();
	exit(0);
}

static void
stop_swept(const struct sweep_counts *n, void *arg)
{
	char	why[128];

	snprintf(why, sizeof(why), "%u sessions hibernated, %u were, %u "
	    "failed, %u closed", n->hibernated, n->asleep, n->failed,
	    n->closed);
	stop_exit(why);
}

static void
stop_late(int fd, short event, void *arg)
{
	stop_exit("the grace (hibernate-on-stop) ran out: sessions still "
	    "running were not saved");
}

static void
stop_sweep(void)
{
	stop_asked = 0;
	if (core_sweep_begin("stop", stop_swept, NULL) == -1)
		fatalx("%s: a sweep under way", __func__);
	client_walk(sweep_client, NULL);
	identity_walk(sweep_kept, NULL);
	core_sweep_end();
}

void
monitor_recv_stop(struct chan *ch, struct imsg *imsg)
{
	struct timeval	tv = { conf->hibernate_on_stop, 0 };

	core_stop_begin();
	evtimer_set(&ev_stop_late, stop_late, NULL);
	evtimer_add(&ev_stop_late, &tv);
	stop_asked = 1;
	/* After an operator's sweep, if one is under way. */
	if (sweep_bev == NULL && core_sweep_begin("stop", stop_swept,
	    NULL) == 0) {
		stop_asked = 0;
		client_walk(sweep_client, NULL);
		identity_walk(sweep_kept, NULL);
		core_sweep_end();
	}
}
