/*
 * The monitor in the fuzzer's process; see fakemon.h.
 *
 * What the broker would do is done here between turns of the event
 * loop: a spawn request gets a socketpair whose other end is a fake
 * worker, a kill request gets the worker's exit, an audit record that
 * asks for it gets its ack.  Fake workers say
 * READY to their setup and, if fm_auto, answer executions by what the
 * code says (see worker_exec()).  Everything the monitor sends is
 * checked: each reply line a JSON object with an id, each audit event
 * of the size its text lengths say.  When an input is done every
 * connection is closed, and the monitor must be left with no client, no
 * session, no pool and no worker.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "../../broker/broker.h"
#include "monitor.h"
#include "fakemon.h"

#define FM_WORKERS	64
#define FM_QUEUE	256

struct securerd_conf	*conf;
static struct securerd_conf	 fconf;
struct fm_client	 fm_clients[FM_CLIENTS];
int			 fm_auto;
int			 fm_spawn_fail;

static struct fm_worker	 workers[FM_WORKERS];
static size_t		 nworkers;
static uint32_t		 spawns[FM_QUEUE], kills[FM_QUEUE], acks[FM_QUEUE];
static size_t		 nspawns, nkills, nacks;
static uint64_t		 progress;
static struct sockaddr_un sun;
static socklen_t	 sunlen;
static uid_t		 uid_next = 1000;

static void	client_lines(struct fm_client *);

void
fm_init(void)
{
	size_t	 i;
	int	 s;

	for (i = 0; i < FM_CLIENTS; i++)
		fm_clients[i].fd = -1;
	config_defaults(&fconf);
	conf = &fconf;
	fconf.sandbox_have = SBX_ALL;
	fconf.sandbox_policy = SANDBOX_FALLBACK;
	fconf.idle_exit = 0;
	event_init();
	signal(SIGPIPE, SIG_IGN);

	/* Abstract: nothing is left in the file system. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "securer-fuzz-%d", (int)getpid());
	sunlen = offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sun.sun_path + 1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(s, (struct sockaddr *)&sun, sunlen) == -1 ||
	    listen(s, 16) == -1)
		err(1, "listen");
	client_listen(s);
}

static void
newest(struct client *c, void *arg)
{
	*(struct client **)arg = c;
}

struct fm_client *
fm_connect(void)
{
	struct fm_client	*fc = NULL;
	struct client		*c = NULL;
	size_t			 i, n = client_count();
	int			 tries;

	for (i = 0; i < FM_CLIENTS; i++)
		if (fm_clients[i].fd == -1) {
			fc = &fm_clients[i];
			break;
		}
	if (fc == NULL)
		return (NULL);
	memset(fc, 0, sizeof(*fc));
	if ((fc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fc->fd, (struct sockaddr *)&sun, sunlen) == -1 ||
	    fcntl(fc->fd, F_SETFL, O_NONBLOCK) == -1)
		err(1, "connect");
	fc->next_id = 1000000;
	for (tries = 0; client_count() == n && tries < 100; tries++)
		event_loop(EVLOOP_NONBLOCK);
	if (client_count() != n + 1)
		errx(1, "the monitor did not accept");
	/*
	 * One uid per input, from a few: a uid that failed to authenticate
	 * too often waits a while, and must not stop the others.
	 */
	client_walk(newest, &c);
	c->uid = uid_next;
	return (fc);
}

void
fm_send(struct fm_client *fc, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fc->fd, p, len)) == -1) {
			if (errno != EAGAIN)
				err(1, "write");
			event_loop(EVLOOP_NONBLOCK);
			client_lines(fc);
			continue;
		}
		p += n;
		len -= n;
	}
}

void
fm_request(struct fm_client *fc, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 n;

	va_start(ap, fmt);
	if ((n = vasprintf(&line, fmt, ap)) == -1)
		err(1, "vasprintf");
	va_end(ap);
	fm_send(fc, line, n);
	fm_send(fc, "\n", 1);
	free(line);
}

/* The monitor's side of the broker channel. */
static void
check_audit(const void *data, size_t len)
{
	struct audit_event	ev;
	size_t			total = sizeof(ev), i;

	if (len < sizeof(ev))
		abort();
	memcpy(&ev, data, sizeof(ev));
	if (ev.type < AUDIT_SESSION_OPEN || ev.type >= AUDIT_MAX ||
	    ev.type == AUDIT_WORKER_EXIT || ev.session[SESSION_ID_LEN] != '\0')
		abort();
	for (i = 0; ev.session[i] != '\0'; i++)
		if (!isxdigit((unsigned char)ev.session[i]))
			abort();
	for (i = 0; i < AUDIT_TEXTS; i++)
		total += ev.text_len[i];
	if (total != len || len > BROKER_IMSG_MAX - IMSG_HEADER_SIZE)
		abort();
	/* The broker acks what asks for it once it is written. */
	if (ev.flags & AUDIT_F_ACK) {
		if (nacks == FM_QUEUE)
			abort();
		acks[nacks++] = ev.token;
	}
}

void
monitor_compose_broker(uint32_t type, uint32_t peerid, const void *data,
    size_t len)
{
	const struct worker_ref	*ref = data;

	switch (type) {
	case IMSG_SPAWN:
		if (len != sizeof(struct spawn_req) || nspawns == FM_QUEUE)
			abort();
		spawns[nspawns++] = ((const struct spawn_req *)data)->worker_id;
		break;
	case IMSG_KILL:
		if (len != sizeof(*ref) || nkills == FM_QUEUE)
			abort();
		kills[nkills++] = ref->worker_id;
		break;
	case IMSG_AUDIT:
		check_audit(data, len);
		break;
	case IMSG_CTL_RELOAD:
		break;
	default:
		abort();
	}
}

void
monitor_activity(void)
{
}

void
monitor_flush_broker(void)
{
}

static struct fm_worker *
worker_slot(uint32_t id)
{
	size_t	i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].id == id && workers[i].fd != -1)
			return (&workers[i]);
	return (NULL);
}

struct fm_worker *
fm_worker_last(void)
{
	struct fm_worker	*last = NULL;
	size_t			 i;

	/* The newest: ids only grow. */
	for (i = 0; i < nworkers; i++)
		if (workers[i].fd != -1 &&
		    (last == NULL || workers[i].id > last->id))
			last = &workers[i];
	return (last);
}

void
fm_worker_send(struct fm_worker *fw, uint32_t type, uint32_t id,
    const void *data, size_t len)
{
	if (imsg_compose(&fw->ib, type, id, 0, -1, data, len) == -1)
		err(1, "imsg_compose");
	if (imsgbuf_write(&fw->ib) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_sendv(struct fm_worker *fw, uint32_t type, uint32_t id,
    const void *hdr, size_t hlen, const char *a, const char *b)
{
	struct iovec	iov[3];
	int		n = 1;

	iov[0].iov_base = (void *)hdr;
	iov[0].iov_len = hlen;
	if (a != NULL) {
		iov[n].iov_base = (void *)a;
		iov[n++].iov_len = strlen(a);
	}
	if (b != NULL) {
		iov[n].iov_base = (void *)b;
		iov[n++].iov_len = strlen(b);
	}
	if (imsg_composev(&fw->ib, type, id, 0, -1, iov, n) == -1)
		err(1, "imsg_composev");
	if (imsgbuf_write(&fw->ib) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_result(struct fm_worker *fw, const char *value)
{
	struct w_result	wr = { 1, strlen(value), 6, 0, strlen(value), 0 };

	worker_sendv(fw, IMSG_W_RESULT, fw->exec_id, &wr, sizeof(wr), value,
	    "[1] 2\n");
}

static void
worker_error(struct fm_worker *fw, uint32_t kind, const char *msg,
    const char *call)
{
	struct w_error	we = { kind, kind == WERR_PARSE, 2, strlen(msg),
			    strlen(call), 0 };

	worker_sendv(fw, IMSG_W_ERROR, fw->exec_id, &we, sizeof(we), msg,
	    call);
}

/* An execution, answered as its code says. */
static void
worker_exec(struct fm_worker *fw, const char *code, size_t len)
{
	struct w_output		wo = { STREAM_STDOUT, 3 };
	struct w_tool_call	wc;
	char			 text[256], name[64];
	const char		*p, *args = "{\"a\":{\"type\":\"double\","
				    "\"value\":[1]},\"b\":{\"type\":"
				    "\"double\",\"value\":[2]}}";
	size_t			 n = 0;

	snprintf(text, sizeof(text), "%.*s", (int)len, code);
	if (strstr(text, "hang") != NULL)
		return;
	if (strstr(text, "out") != NULL)
		worker_sendv(fw, IMSG_W_OUTPUT, fw->exec_id, &wo, sizeof(wo),
		    "hi\n", NULL);
	if (strstr(text, "advice") != NULL)
		worker_sendv(fw, IMSG_W_ADVISORY, fw->exec_id, "system,eval",
		    11, NULL, NULL);
	if ((p = strstr(text, "tool:")) != NULL) {
		for (p += 5; isalnum((unsigned char)*p) && n < 63; p++)
			name[n++] = *p;
		name[n] = '\0';
		wc.name_len = n;
		wc.args_len = strlen(args);
		fw->waiting = 1;
		worker_sendv(fw, IMSG_W_TOOL_CALL, ++fw->call_id, &wc,
		    sizeof(wc), name, args);
	} else if (strstr(text, "parse") != NULL)
		worker_error(fw, WERR_PARSE, "unexpected end of input", "");
	else if (strstr(text, "error") != NULL)
		worker_error(fw, WERR_R, "boom at /home/user/x.R", "f(x)");
	else
		worker_result(fw, "{\"type\":\"double\",\"value\":[2]}");
}

static void
worker_tool_result(struct fm_worker *fw, struct imsg *imsg)
{
	struct w_tool_result	 tr;
	char			*text;
	size_t			 len = imsg_get_len(imsg);

	if (len < sizeof(tr))
		abort();	/* the monitor sends what it must */
	memcpy(&tr, imsg->data, sizeof(tr));
	if (len - sizeof(tr) != tr.len)
		abort();
	if (!fw->waiting || !(fm_auto & FM_AUTO_WORKER))
		return;
	fw->waiting = 0;
	if ((text = strndup((char *)imsg->data + sizeof(tr), tr.len)) == NULL)
		err(1, "strndup");
	if (tr.is_error)
		worker_error(fw, WERR_R, text, "add(1, 2)");
	else
		worker_result(fw, text);
	free(text);
}

static void
worker_read(struct fm_worker *fw)
{
	struct imsg	 imsg;
	struct w_exec	 we;
	struct w_ready	 wr = { 4242, 0 };
	ssize_t		 n;

	if ((n = imsgbuf_read(&fw->ib)) == -1 && errno != ECONNRESET)
		err(1, "imsgbuf_read");
	while ((n = imsg_get(&fw->ib, &imsg)) > 0) {
		progress++;
		switch (imsg_get_type(&imsg)) {
		case IMSG_W_SETUP:
			if (!fw->ready)
				fm_worker_send(fw, IMSG_W_READY, 0, &wr,
				    sizeof(wr));
			fw->ready = 1;
			break;
		case IMSG_W_EXEC:
			if (imsg_get_len(&imsg) < sizeof(we))
				abort();
			memcpy(&we, imsg.data, sizeof(we));
			if (imsg_get_len(&imsg) - sizeof(we) != we.code_len)
				abort();
			fw->exec_id = imsg_get_id(&imsg);
			if (fm_auto & FM_AUTO_WORKER)
				worker_exec(fw, (char *)imsg.data + sizeof(we),
				    we.code_len);
			break;
		case IMSG_W_TOOL_RESULT:
			worker_tool_result(fw, &imsg);
			break;
		default:
			abort();	/* not for a worker */
		}
		imsg_free(&imsg);
	}
	if (n == -1)
		abort();	/* the monitor broke the framing */
	if (imsgbuf_queuelen(&fw->ib) > 0 && imsgbuf_write(&fw->ib) == -1 &&
	    errno != EPIPE && errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_close(struct fm_worker *fw)
{
	imsgbuf_clear(&fw->ib);
	close(fw->fd);
	fw->fd = -1;
}

/*
 * A slot for a new worker: one whose worker is gone on both sides, else
 * a new one.  (Live slots stay where they are: an imsgbuf cannot move.)
 */
static struct fm_worker *
worker_new_slot(void)
{
	size_t	i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].fd == -1 && worker_find(workers[i].id) == NULL)
			return (&workers[i]);
	if (nworkers == FM_WORKERS)
		errx(1, "too many workers in one input");
	return (&workers[nworkers++]);
}

/* The broker's part: spawn what was asked for, report what was killed. */
static void
broker_step(void)
{
	struct worker_exit	 we;
	struct audit_ack	 ack;
	struct fm_worker	*fw;
	struct worker		*w;
	struct imsg		 imsg;
	size_t			 i;
	int			 sv[2];

	for (i = 0; i < nspawns; i++) {
		progress++;
		if ((w = worker_find(spawns[i])) == NULL || w->session == NULL ||
		    w->has_channel)
			continue;
		if (fm_spawn_fail > 0) {
			fm_spawn_fail--;
			worker_spawn_failed(w, EAGAIN);
			continue;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sv) == -1 || fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
			err(1, "socketpair");
		fw = worker_new_slot();
		memset(fw, 0, sizeof(*fw));
		fw->id = spawns[i];
		fw->fd = sv[1];
		if (imsgbuf_init(&fw->ib, sv[1]) == -1 ||
		    imsgbuf_set_maxsize(&fw->ib, WORKER_IMSG_MAX) == -1)
			err(1, "imsgbuf_init");
		worker_attach(w, sv[0]);
	}
	nspawns = 0;
	for (i = 0; i < nkills; i++) {
		progress++;
		if ((fw = worker_slot(kills[i])) != NULL)
			worker_close(fw);
		if ((w = worker_find(kills[i])) != NULL) {
			we.worker_id = kills[i];
			we.cause = EXIT_KILLED;
			we.status = 9;
			worker_exited(w, &we);
		}
	}
	nkills = 0;
	for (i = 0; i < nacks; i++) {
		progress++;
		ack.token = acks[i];
		ack.durable = 1;
		memset(&imsg, 0, sizeof(imsg));
		imsg.hdr.type = IMSG_AUDIT_ACK;
		imsg.hdr.len = IMSG_HEADER_SIZE + sizeof(ack);
		imsg.data = &ack;
		imsg.fd = -1;
		audit_ack(&imsg);
	}
	nacks = 0;
}

/*
 * Every line the monitor writes is valid UTF-8, a JSON object with an
 * id (null when the request had none) and either ok or event.
 */
static void
client_line(struct fm_client *fc, const char *line, size_t len)
{
	cJSON	*r, *id, *ok, *ev, *s, *call;

	if (!utf8_valid(line, len) ||
	    (r = cJSON_ParseWithLength(line, len)) == NULL ||
	    !cJSON_IsObject(r) ||
	    (id = cJSON_GetObjectItemCaseSensitive(r, "id")) == NULL ||
	    (!cJSON_IsNumber(id) && !cJSON_IsNull(id))) {
		fprintf(stderr, "bad reply: %.*s\n", (int)len, line);
		abort();
	}
	ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
	ev = cJSON_GetObjectItemCaseSensitive(r, "event");
	if (!cJSON_IsBool(ok) && !cJSON_IsString(ev)) {
		fprintf(stderr, "neither reply nor event: %.*s\n", (int)len,
		    line);
		abort();
	}
	s = cJSON_GetObjectItemCaseSensitive(r, "session");
	if (cJSON_IsString(s))
		strlcpy(fc->session, s->valuestring, sizeof(fc->session));
	if (cJSON_IsString(ev) && strcmp(ev->valuestring, "tool_call") == 0 &&
	    cJSON_IsNumber(call = cJSON_GetObjectItemCaseSensitive(r,
	    "call"))) {
		fc->call = call->valuedouble;
		if (fm_auto & FM_AUTO_TOOLS)
			fm_request(fc, "{\"id\":%llu,\"op\":\"tool_result\","
			    "\"session\":\"%s\",\"call\":%llu,\"value\":"
			    "{\"type\":\"double\",\"value\":[3]}}",
			    (unsigned long long)fc->next_id++, fc->session,
			    (unsigned long long)fc->call);
	}
	cJSON_Delete(r);
}

static void
client_lines(struct fm_client *fc)
{
	char	 buf[65536], *nl, *p;
	ssize_t	 n;

	while ((n = read(fc->fd, buf, sizeof(buf))) > 0) {
		progress++;
		if ((fc->in = realloc(fc->in, fc->inlen + n)) == NULL)
			err(1, "realloc");
		memcpy(fc->in + fc->inlen, buf, n);
		fc->inlen += n;
	}
	p = fc->in;
	while (p != NULL && (nl = memchr(p, '\n', fc->in + fc->inlen - p)) !=
	    NULL) {
		client_line(fc, p, nl - p);
		p = nl + 1;
	}
	if (p != NULL && p != fc->in) {
		fc->inlen -= p - fc->in;
		memmove(fc->in, p, fc->inlen);
	}
}

void
fm_pump(void)
{
	uint64_t	before;
	size_t		i;
	int		quiet = 0, turns;

	for (turns = 0; quiet < 3 && turns < 100000; turns++) {
		before = progress;
		event_loop(EVLOOP_NONBLOCK);
		broker_step();
		for (i = 0; i < nworkers; i++)
			if (workers[i].fd != -1)
				worker_read(&workers[i]);
		for (i = 0; i < FM_CLIENTS; i++)
			if (fm_clients[i].fd != -1)
				client_lines(&fm_clients[i]);
		quiet = progress == before ? quiet + 1 : 0;
	}
	if (quiet < 3)
		errx(1, "the monitor never went quiet");
}

static void
count_pools(struct pool *p, void *arg)
{
	(*(int *)arg)++;
}

/* The broker reports the worker's exit, as it would after SIGCHLD. */
void
fm_worker_exit(struct fm_worker *fw, uint32_t cause, int status)
{
	struct worker_exit	 we;
	struct worker		*w;

	we.worker_id = fw->id;
	we.cause = cause;
	we.status = status;
	worker_close(fw);
	if ((w = worker_find(we.worker_id)) != NULL)
		worker_exited(w, &we);
	fm_pump();
}

static void
fire(struct event *ev)
{
	if (evtimer_initialized(ev) && evtimer_pending(ev, NULL))
		event_active(ev, EV_TIMEOUT, 1);
}

static void
fire_sessions(struct client *c, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		if (s->exec != NULL)
			fire(&s->exec->timer);
}

static void
fire_pools(struct pool *p, void *arg)
{
	struct pool_waiter	*w;

	TAILQ_FOREACH(w, &p->waiters, entry)
		fire(&w->timer);
}

/* Time passes: every execution's and pool waiter's deadline is reached. */
void
fm_deadlines(void)
{
	client_walk(fire_sessions, NULL);
	pool_walk(fire_pools, NULL);
	fm_pump();
}

/*
 * One request on a control connection (securerctl's), handed over as
 * the broker does; the reply must be one JSON object with ok, and the
 * monitor must close the connection after it.
 */
void
fm_control(const char *line, size_t len)
{
	struct imsg	 imsg;
	char		 buf[65536];
	size_t		 got = 0;
	ssize_t		 n = -1;
	int		 sv[2], turns;
	cJSON		*r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "socketpair");
	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = IMSG_CTL_FD;
	imsg.hdr.len = IMSG_HEADER_SIZE;
	imsg.fd = sv[0];
	control_connection(&imsg);
	if (imsg.fd != -1)
		abort();	/* the monitor owns it now */
	if (write(sv[1], line, len) != (ssize_t)len ||
	    write(sv[1], "\n", 1) != 1)
		err(1, "write");
	for (turns = 0; turns < 1000 && n != 0; turns++) {
		event_loop(EVLOOP_NONBLOCK);
		broker_step();
		while (got < sizeof(buf) &&
		    (n = read(sv[1], buf + got, sizeof(buf) - got)) > 0)
			got += n;
		if (n == -1 && errno != EAGAIN)
			err(1, "read");
	}
	if (n != 0 || got == 0 || buf[got - 1] != '\n' ||
	    (r = cJSON_ParseWithLength(buf, got)) == NULL ||
	    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
		fprintf(stderr, "bad control reply: %.*s\n", (int)got, buf);
		abort();
	}
	cJSON_Delete(r);
	close(sv[1]);
	fm_pump();
}

/* End of an input: everything goes, and nothing may stay. */
void
fm_end(void)
{
	struct fm_client	*fc;
	size_t			 i;
	int			 npools = 0;

	for (i = 0; i < FM_CLIENTS; i++) {
		fc = &fm_clients[i];
		if (fc->fd != -1)
			close(fc->fd);
		free(fc->in);
		memset(fc, 0, sizeof(*fc));
		fc->fd = -1;
	}
	fm_pump();
	/* Pools go with their identity's last connection. */
	pool_walk(count_pools, &npools);
	if (client_count() != 0 || session_count() != 0 || npools != 0) {
		fprintf(stderr, "left: %zu clients, %zu sessions, %d pools\n",
		    client_count(), session_count(), npools);
		abort();
	}
	for (i = 0; i < nworkers; i++) {
		if (workers[i].fd != -1) {
			fprintf(stderr, "worker %u not killed\n",
			    workers[i].id);
			abort();
		}
		if (worker_find(workers[i].id) != NULL)
			abort();
	}
	nworkers = 0;
	uid_next = 1000 + (uid_next - 1000 + 1) % 16;
}
