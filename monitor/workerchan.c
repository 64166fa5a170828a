/*
 * The monitor's side of each worker's channel.  Workers run hostile code:
 * every message is checked against the session's state and its exact
 * size, and anything else kills the worker.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"

static TAILQ_HEAD(, worker)	workers = TAILQ_HEAD_INITIALIZER(workers);
static uint32_t			worker_ids;

static void	worker_dispatch(int, short, void *);

/* A worker spawned for s, or with no session yet (a ready one). */
struct worker *
worker_spawn(struct session *s, const struct worker_limits *limits)
{
	struct spawn_req	 req;
	struct worker		*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s", __func__);
	w->id = ++worker_ids;
	w->session = s;
	w->limits = *limits;
	TAILQ_INSERT_TAIL(&workers, w, entry);
	memset(&req, 0, sizeof(req));
	req.worker_id = w->id;
	req.limits = *limits;
	monitor_compose_broker(IMSG_SPAWN, w->id, &req, sizeof(req));
	return (w);
}

/* Spawned (or being spawned) and not yet reaped. */
size_t
worker_count(void)
{
	struct worker	*w;
	size_t		 n = 0;

	TAILQ_FOREACH(w, &workers, entry)
		n++;
	return (n);
}

/* The session's worker: a ready one if its limits allow, else a new one. */
struct worker *
worker_new(struct session *s)
{
	struct worker	*w;

	if ((w = ready_take(s)) == NULL)
		return (worker_spawn(s, &s->limits));
	worker_assign(w, s);
	return (w);
}

static void
worker_setup(struct worker *w)
{
	struct iovec	iov;

	iov.iov_base = w->session->setup;
	iov.iov_len = strlen(w->session->setup);
	worker_send(w, IMSG_W_SETUP, 0, &iov, 1);
}

/* A ready worker becomes s's: its setup goes now or when it is attached. */
void
worker_assign(struct worker *w, struct session *s)
{
	w->session = s;
	if (w->has_channel)
		worker_setup(w);
}

struct worker *
worker_find(uint32_t id)
{
	struct worker	*w;

	TAILQ_FOREACH(w, &workers, entry)
		if (w->id == id)
			return (w);
	return (NULL);
}

void
worker_attach(struct worker *w, int fd)
{
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("%s", __func__);
	if (imsgbuf_init(&w->iev.ibuf, fd) == -1 ||
	    imsgbuf_set_maxsize(&w->iev.ibuf, WORKER_IMSG_MAX) == -1)
		fatal("%s", __func__);
	w->iev.handler = worker_dispatch;
	w->iev.data = w;
	w->has_channel = 1;
	if (w->session != NULL)
		worker_setup(w);
	else
		imsg_event_add(&w->iev);	/* to see it die */
}

static void
worker_close_channel(struct worker *w)
{
	if (!w->has_channel)
		return;
	imsg_event_del(&w->iev);
	close(w->iev.ibuf.fd);
	imsgbuf_clear(&w->iev.ibuf);
	w->has_channel = 0;
}

/* Have the broker kill the worker; its exit is reported later. */
void
worker_kill(struct worker *w, const char *cause)
{
	struct worker_ref	ref = { w->id };

	ready_lost(w);
	if (!w->killed) {
		monitor_compose_broker(IMSG_KILL, w->id, &ref, sizeof(ref));
		w->killed = 1;
		strlcpy(w->cause, cause, sizeof(w->cause));
	}
	if (w->session != NULL && w->session->worker == w)
		w->session->worker = NULL;
	w->session = NULL;
	worker_close_channel(w);
}

void
worker_violation(struct worker *w, const char *what)
{
	struct session	*s = w->session;
	char		 cause[128];
	int		 ready = w->ready;

	snprintf(cause, sizeof(cause), "protocol violation: %s", what);
	log_warnx("worker %u: %s", w->id, cause);
	if (s != NULL)
		audit_session(s, AUDIT_PROTOCOL, 0, 0, 0, cause, NULL, NULL);
	worker_kill(w, cause);
	if (s != NULL)
		session_worker_lost(s, ready, "protocol", cause);
}

static void
worker_free(struct worker *w)
{
	worker_close_channel(w);
	TAILQ_REMOVE(&workers, w, entry);
	free(w);
}

/*
 * A ready worker that was taken but died before its setup was answered
 * (killed from outside while it waited, say): not the session's fault,
 * so it gets a fresh one and never hears of it.
 */
static int
worker_stale_spare(struct worker *w)
{
	struct session	*s = w->session;

	if (!w->from_spare || w->ready || w->killed)
		return (0);
	log_debug("worker %u: died while ready; session gets another", w->id);
	s->worker = worker_spawn(s, &s->limits);
	return (1);
}

void
worker_exited(struct worker *w, const struct worker_exit *we)
{
	struct session	*s = w->session;
	char		 cause[128];

	exit_cause_str(we->cause, we->status, cause, sizeof(cause));
	log_debug("worker %u %s", w->id, cause);
	metrics_worker_exit(w, we);
	ready_lost(w);
	if (s != NULL && worker_stale_spare(w)) {
		worker_free(w);
		return;
	}
	if (s != NULL) {
		s->worker = NULL;
		/* A signal nobody here sent: audited as exec_abort. */
		if (we->cause == EXIT_SIGNAL && s->exec != NULL)
			s->exec->abort_cause = cause;
		session_worker_lost(s, w->ready, "worker_died", cause);
	}
	worker_free(w);
}

/*
 * The worker started but its channel never reached us (we are out of
 * fds): it goes, and its session is told as for a failed spawn.
 */
void
worker_channel_lost(struct worker *w)
{
	struct session	*s = w->session;

	log_warnx("worker %u: its channel was lost, out of file descriptors",
	    w->id);
	worker_kill(w, "channel lost");
	if (s != NULL)
		session_worker_lost(s, 0, "spawn_failed",
		    "the daemon is out of file descriptors");
}

void
worker_spawn_failed(struct worker *w, int error)
{
	struct session	*s = w->session;
	char		 cause[128];

	snprintf(cause, sizeof(cause), "%s", strerror(error));
	log_warnx("worker %u could not be spawned: %s", w->id, cause);
	metrics_spawn_failed();
	ready_lost(w);
	if (s != NULL && worker_stale_spare(w)) {
		worker_free(w);
		return;
	}
	if (s != NULL) {
		s->worker = NULL;
		session_worker_lost(s, 0, "spawn_failed", cause);
	}
	worker_free(w);
}

int
worker_send(struct worker *w, uint32_t type, uint32_t peerid,
    const struct iovec *iov, int iovcnt)
{
	if (w == NULL || !w->has_channel)
		return (-1);
	if (imsg_composev(&w->iev.ibuf, type, peerid, 0, -1, iov,
	    iovcnt) == -1) {
		log_warn("worker %u: cannot send", w->id);
		worker_violation(w, "message too large for its channel");
		return (-1);
	}
	imsg_event_add(&w->iev);
	return (0);
}

static void
worker_ready(struct worker *w, struct imsg *imsg)
{
	struct w_ready	wr;

	if (w->ready || imsg_get_data(imsg, &wr, sizeof(wr)) == -1) {
		worker_violation(w, "bad ready");
		return;
	}
	w->ready = 1;
	session_worker_ready(w->session);
}

static void
worker_output(struct worker *w, struct exec *e, struct imsg *imsg)
{
	struct w_output	 wo;
	const char	*text;
	uint32_t	 len;

	if (imsg_get_len(imsg) < sizeof(wo)) {
		worker_violation(w, "bad output");
		return;
	}
	memcpy(&wo, imsg->data, sizeof(wo));
	len = wo.len;
	if (wo.stream < STREAM_STDOUT || wo.stream > STREAM_WARNING ||
	    exec_texts(imsg, sizeof(wo), &len, 1, &text) == -1) {
		worker_violation(w, "bad output");
		return;
	}
	exec_output(e, wo.stream, text, len);
}

/* Which messages the worker may send now, and for which execution. */
static int
worker_allowed(struct worker *w, struct imsg *imsg, struct exec **ep)
{
	struct exec	*e;
	uint32_t	 type = imsg_get_type(imsg);

	*ep = NULL;
	/* Once, before its setup is answered; all a ready one may say. */
	if (type == IMSG_W_WAITING)
		return (!w->waiting && !w->ready);
	if (w->session == NULL)
		return (0);
	*ep = e = w->session->exec;
	if (type == IMSG_W_READY)
		return (!w->ready);
	if (!w->ready || e == NULL || !e->sent)
		return (0);
	/* A file operation has one answer and nothing else. */
	if (e->file_op != 0)
		return (type == IMSG_W_FILE && imsg_get_id(imsg) == e->exec_id);
	switch (type) {
	case IMSG_W_OUTPUT:
		return (imsg_get_id(imsg) == e->exec_id);
	case IMSG_W_TOOL_CALL:
		return (e->call_id == 0);
	case IMSG_W_RESULT:
	case IMSG_W_RESULT_PART:
	case IMSG_W_ERROR:
	case IMSG_W_PLOT:
		return (imsg_get_id(imsg) == e->exec_id && e->call_id == 0);
	case IMSG_W_ADVISORY:
		/* Once, after the parse, before anything else. */
		return (imsg_get_id(imsg) == e->exec_id && e->call_id == 0 &&
		    e->advisory == NULL && e->out_bytes == 0 &&
		    e->tool_calls == 0);
	}
	return (0);
}

static void
worker_message(struct worker *w, struct imsg *imsg)
{
	struct exec	*e;

	if (!worker_allowed(w, imsg, &e)) {
		worker_violation(w, "unexpected message");
		return;
	}
	if (e != NULL && e->sent && exec_message(e) == -1)
		return;		/* killed for flooding */
	switch (imsg_get_type(imsg)) {
	case IMSG_W_WAITING:
		if (imsg_get_len(imsg) != 0) {
			worker_violation(w, "bad waiting");
			return;
		}
		w->waiting = 1;
		break;
	case IMSG_W_READY:
		worker_ready(w, imsg);
		break;
	case IMSG_W_OUTPUT:
		worker_output(w, e, imsg);
		break;
	case IMSG_W_TOOL_CALL:
		tool_call(e, imsg_get_id(imsg), imsg);
		break;
	case IMSG_W_RESULT_PART:
		exec_result_part(e, imsg);
		break;
	case IMSG_W_RESULT:
		exec_result(e, imsg);
		break;
	case IMSG_W_ERROR:
		exec_error(e, imsg);
		break;
	case IMSG_W_ADVISORY:
		exec_advisory(e, imsg);
		break;
	case IMSG_W_PLOT:
		files_plot(e, imsg);
		break;
	case IMSG_W_FILE:
		files_reply(e, imsg);
		break;
	}
}

static void
worker_dispatch(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;
	struct worker	*w = iev->data;
	struct imsg	 imsg;
	ssize_t		 n;

	if (event & EV_READ) {
		n = imsgbuf_read(&iev->ibuf);
		if (n == -1 && errno != EAGAIN && errno != ECONNRESET) {
			worker_violation(w, errno == EBADMSG ?
			    "a passed fd" : "unreadable channel");
			return;
		}
		if (n == 0 || (n == -1 && errno == ECONNRESET)) {
			/* It died; the broker will say how. */
			worker_close_channel(w);
			return;
		}
	}
	if ((event & EV_WRITE) && imsgbuf_write(&iev->ibuf) == -1) {
		worker_close_channel(w);
		return;
	}
	while (w->has_channel && (w->session != NULL || w->spare)) {
		if ((n = imsg_get(&iev->ibuf, &imsg)) == -1) {
			worker_violation(w, errno == ERANGE ?
			    "message over the size limit" : "bad header");
			return;
		}
		if (n == 0)
			break;
		worker_message(w, &imsg);
		imsg_free(&imsg);
	}
	if (w->has_channel)
		imsg_event_add(iev);
}
