/*
 * The core: the state machine of sessions, their workers and their jobs
 * (executions and file operations), and the only place that changes
 * their state.  Front ends ask it for things (core_session_new(),
 * core_exec_submit(), ...); the handlers of the channels' tables tell it
 * what the broker and the workers said (core_worker_exit(),
 * core_result(), ...); the records it keeps are session.c, exec.c,
 * fileop.c, toolcall.c, plots.c, worker.c and spare.c.
 *
 * A worker's channel state (WS_* in channels.h) is set here, with the
 * session's and the job's, so that what the dispatcher lets a worker
 * say is always what this machine can hear.
 *
 * Failures are deferred (defer.c): a worker that breaks its channel's
 * rules, floods it, or cannot be written to is stopped at once (nothing
 * more is read) and handled at the end of the turn by worker_given_up(); a
 * deadline, an expired session likewise.  So no handler ever tears down
 * what its caller holds, and nothing here frees a record under anyone:
 * records done with are unlinked and freed at the end of the turn.
 */

#include <sys/types.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"
#include "sha256.h"

static uint32_t	job_ids;

static struct worker	*session_take_worker(struct session *);
static void	session_respawn(struct session *, const char *);
static void	session_lost(struct session *, int, const char *,
		    const char *);
static void	session_idle_lost(struct session *, const char *);
static void	job_start(struct job *);
static void	job_fail(struct job *, enum exec_status, const char *,
		    cJSON *, const char *, ...)
		    __attribute__((__format__ (printf, 5, 6)));
static void	job_settle(struct job *);
static void	job_done(struct job *);
static void	worker_fails(struct worker *, enum worker_loss,
		    const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));
static void	session_expired(void *);
static void	job_deadline(int, short, void *);
static void	job_timed_out(void *);
static void	job_start_acked(void *, int);
static void	job_dispatch(struct job *);
static void	worker_given_up(void *);
static void	worker_rest(struct worker *, const struct job *);
static void	worker_wake(struct worker *);
static void	worker_closed_timer(int, short, void *);
static void	session_hib_timer(int, short, void *);
static void	session_resume(struct session *);
static void	session_resume_go(struct session *);
static int	session_resume_admit(struct client *, uint64_t,
		    struct session *);
static int	session_hib_lost(struct session *, const char *);
static void	session_up(struct session *);
static int	session_quiet(const struct session *);
static void	session_opened(struct session *);
static void	fork_unlink(struct session *);
static void	session_keep_timer(int, short, void *);
static void	session_saved_idle(struct session *);
static int	session_keepable(const struct session *);
static void	session_keep(struct session *);
static struct session *session_named(struct identity *, const char *);
static void	fork_refused(struct session *, const char *);
static void	fork_failed(struct session *, const char *, const char *);
static void	fork_saved(struct session *, uint64_t);
static void	fork_stored(struct session *, const struct snap_result *);
static void	sweep_finish(struct session *, uint32_t *);
static void	sweep_failed(struct session *);
static void	sweep_closed(struct session *);
static void	sweep_hibernated(struct session *);

static int	core_stopping;	/* hibernate-on-stop: nothing new starts */

/*
 * A sweep: every session the caller (control.c) adds is hibernated as
 * soon as it is idle (a running execution ends first); done is told,
 * once, when each has been, has failed or has closed.  One at a time:
 * securerctl hibernate, and the stop of hibernate-on-stop.
 */
static struct {
	int			 active;
	int			 adding;
	uint32_t		 pending;
	const char		*reason;	/* for the audit log */
	struct sweep_counts	 counts;
	void			(*done)(const struct sweep_counts *, void *);
	void			*arg;
} sweep;

#define EXEC(j)		((struct exec *)(j))
#define FILEOP(j)	((struct fileop *)(j))

void
core_init(void)
{
	spare_init();
}

/*
 * Sessions.
 */

static void
session_idle_timer(int fd, short event, void *arg)
{
	struct session	*s = arg;

	s->expired = "idle-ttl";
	defer(&s->d_expire, session_expired, s);
}

static void
session_life_timer(int fd, short event, void *arg)
{
	struct session	*s = arg;

	s->expired = "lifetime";
	defer(&s->d_expire, session_expired, s);
}

static void
session_keep_timer(int fd, short event, void *arg)
{
	struct session	*s = arg;

	s->expired = "retention";
	defer(&s->d_expire, session_expired, s);
}

static void
session_expired(void *arg)
{
	struct session	*s = arg;

	counters.sessions_expired++;
	core_session_destroy(s, s->expired);
}

/*
 * The idle clock runs again; only a session at rest is idle.  A pool
 * keeps its sessions warm: idle is what they are for.  A session still
 * starting is not idle either: on a loaded machine it would be closed
 * before its first request.
 */
void
core_session_idle_clock(struct session *s)
{
	struct timeval	tv = { conf->idle_ttl, 0 };
	struct timeval	hib = { conf->hibernate_after, 0 };

	evtimer_del(&s->ev_idle);
	/* Swept (core_sweep_add()) while it was busy: its turn now. */
	if (s->sweep && session_quiet(s)) {
		core_session_hibernate(NULL, 0, s);
		return;
	}
	if (s->kept)
		return;
	if (conf->idle_ttl > 0 && s->job == NULL && s->pool == NULL &&
	    s->state == S_IDLE && !s->closing)
		evtimer_add(&s->ev_idle, &tv);
	/* Its hibernation first, when the operator wants it sooner. */
	if (s->hib_timer && s->state != S_SAVING) {
		evtimer_del(&s->ev_hib);
		s->hib_timer = 0;
	}
	if (conf->hibernate_after > 0 && s->job == NULL && s->pool == NULL &&
	    s->state == S_IDLE && !s->closing &&
	    (conf->idle_ttl == 0 || conf->hibernate_after < conf->idle_ttl)) {
		evtimer_add(&s->ev_hib, &hib);
		s->hib_timer = 1;
	}
}

/*
 * A session as req asks, admitted against its identity and the daemon's
 * capacity, its worker on the way; NULL once c has been told why not.
 * A pool's session (pool set) belongs to the pool, which links it; its
 * client is whoever executes on it.
 */
struct session *
core_session_new(struct client *c, uint64_t id, cJSON *req,
    struct pool *pool, const struct session_owner *owner)
{
	struct session	*s;
	struct identity	*ident = pool != NULL ? pool->ident : c->ident;
	const char	*code;
	char		 err[256];

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req,
	    "sandbox_strict")) && conf->sandbox_have != SBX_ALL) {
		reply_error(c, id, "sandbox_unavailable", NULL,
		    "sandbox_strict was asked but this host lacks %s",
		    conf->sandbox_missing);
		return (NULL);
	}
	if (core_stopping) {
		reply_error(c, id, "unavailable", NULL, "the daemon is "
		    "stopping: no new session starts");
		return (NULL);
	}
	if ((s = session_alloc(req, err, sizeof(err), &code)) == NULL) {
		reply_error(c, id, code, NULL, "%s", err);
		return (NULL);
	}
	if (pool != NULL)
		s->name[0] = '\0';	/* a pool's sessions go with it */
	if (s->name[0] != '\0' && session_named(ident, s->name) != NULL) {
		reply_error(c, id, "name_in_use", NULL, "a session named %s is "
		    "open already (session.attach takes it back)", s->name);
		session_free(s);
		return (NULL);
	}
	if (policy_session_admit(c, ident, id, s->memory) == -1) {
		session_free(s);
		return (NULL);
	}
	s->ident = ident;
	s->pool = pool;
	s->owner = owner;
	if (s->name[0] != '\0')
		TAILQ_INSERT_TAIL(&ident->named, s, name_entry);
	if (pool == NULL) {
		s->client = c;
		s->create_req = id;
		TAILQ_INSERT_TAIL(&c->sessions, s, entry);
	}
	evtimer_set(&s->ev_idle, session_idle_timer, s);
	evtimer_set(&s->ev_life, session_life_timer, s);
	evtimer_set(&s->ev_hib, session_hib_timer, s);
	evtimer_set(&s->ev_keep, session_keep_timer, s);
	s->worker = session_take_worker(s);
	return (s);
}

/* A spare if its limits allow, else a new worker. */
static struct worker *
session_take_worker(struct session *s)
{
	struct worker	*w;

	/* A new worker has no partial file: an unfinished upload is gone. */
	fileop_upload_end(s);
	if ((w = spare_take(s)) == NULL)
		return (worker_spawn(s, &s->limits));
	w->session = s;
	if (w->attached && worker_setup(w) == -1)
		worker_fails(w, LOST_CHANNEL, "its setup could not be sent");
	return (w);
}

/* The first time it is set up: its clocks, its opening in the log. */
static void
session_opened(struct session *s)
{
	struct timeval	tv = { conf->lifetime, 0 };

	if (!s->clocks) {
		s->clocks = 1;
		if (conf->lifetime > 0)
			evtimer_add(&s->ev_life, &tv);
	}
	if (s->opened)
		return;
	s->opened = 1;
	stats_session_start(s->created_us);
	audit_session(s, AUDIT_SESSION_OPEN, 0, 0, 0, session_tool_names(s),
	    session_sandbox(), NULL);
}

/* Its worker is set up: answer what waited for it. */
static void
session_up(struct session *s)
{
	cJSON	*r;

	s->state = S_IDLE;
	if (s->create_req != 0) {
		if ((r = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "session", s->id);
		cJSON_AddStringToObject(r, "sandbox", session_sandbox());
		reply_ok(s->client, s->create_req, r);
		s->create_req = 0;
	}
	session_opened(s);
	if (s->restart_req != 0) {
		reply_ok(s->client, s->restart_req, NULL);
		s->restart_req = 0;
	}
	if (s->job != NULL)
		job_start(s->job);
	else if (s->owner != NULL)
		s->owner->ready(s);
	else
		core_session_idle_clock(s);
}

static void
session_respawn(struct session *s, const char *reason)
{
	audit_session(s, AUDIT_SESSION_RESTART, 0, 0, 0, reason, NULL, NULL);
	s->state = S_STARTING;
	s->worker = session_take_worker(s);
}

/*
 * The worker is gone (it died, broke the protocol or could not start).
 * Whatever waited on it gets the cause; the session gets a fresh worker
 * unless this one never came up, which would only repeat.
 */
static void
session_lost(struct session *s, int was_up, const char *code,
    const char *cause)
{
	struct job	*j = s->job;
	cJSON		*extra;

	s->worker = NULL;
	if (session_hib_lost(s, cause))
		return;
	if (j != NULL && j->sent) {
		if ((extra = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(extra, "cause", cause);
		job_fail(j, EXEC_KILLED, code, extra, "the worker died during "
		    "the execution (%s); the session was restarted and its "
		    "state is gone", cause);
	}
	if (was_up) {
		session_respawn(s, cause);
		return;
	}
	if (s->create_req != 0) {
		reply_error(s->client, s->create_req, "spawn_failed", NULL,
		    "the session's worker could not start: %s", cause);
		s->create_req = 0;
		core_session_destroy(s, "worker could not start");
		return;
	}
	if (s->restart_req != 0) {
		reply_error(s->client, s->restart_req, "spawn_failed", NULL,
		    "the session's worker could not start: %s", cause);
		s->restart_req = 0;
	}
	if (s->job != NULL)
		job_fail(s->job, EXEC_ERROR, "spawn_failed", NULL,
		    "the session's worker could not start: %s", cause);
	s->state = S_STARTING;	/* with no worker: the next request retries */
	if (s->owner != NULL)
		s->owner->dead(s);
}

/*
 * Its worker broke the rules with no job of it under way: ran or spoke
 * after its job ended.  A job waiting to start gets the cause, or else
 * the next one the session is asked for (job_admit()).
 */
static void
session_idle_lost(struct session *s, const char *cause)
{
	cJSON	*extra;

	if (s->job != NULL && s->job->sent)
		return;		/* session_lost() tells it */
	if (s->job == NULL) {
		strlcpy(s->idle_loss, cause, sizeof(s->idle_loss));
		return;
	}
	if ((extra = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(extra, "cause", cause);
	job_fail(s->job, EXEC_ABORTED, "protocol", extra, "the session's "
	    "worker was killed while the session was idle (%s); the session "
	    "was restarted and its state is gone", cause);
}

void
core_session_restart(struct session *s, uint64_t id)
{
	if (s->job != NULL || s->restart_req != 0 || s->create_req != 0) {
		reply_error(s->client, id, "session_busy", NULL,
		    "cannot restart while an execution is in progress");
		return;
	}
	/* A hibernated one takes its capacity back; its state goes. */
	if (s->state == S_HIBERNATED) {
		if (session_resume_admit(s->client, id, s) == -1)
			return;
		hib_delete(s);
	}
	if (s->worker != NULL)
		worker_kill(s->worker, "restarted by the client");
	s->idle_loss[0] = '\0';	/* the client knows its state is gone */
	s->restart_req = id;
	session_respawn(s, "client");
}

void
core_session_destroy(struct session *s, const char *reason)
{
	if (s->closing)
		return;
	s->closing = 1;
	fork_unlink(s);
	if (s->job != NULL)
		job_fail(s->job, EXEC_ABORTED, "closed", NULL,
		    "the session was closed during the execution");
	if (s->worker != NULL)
		worker_kill(s->worker, "session closed");
	if (s->create_req != 0)
		reply_error(s->client, s->create_req, "closed", NULL,
		    "the session was closed before it started");
	if (s->restart_req != 0)
		reply_error(s->client, s->restart_req, "closed", NULL,
		    "the session was closed before it restarted");
	if (s->hib_req != 0)
		reply_error(s->hib_client, s->hib_req, "closed", NULL,
		    "the session was closed before it was hibernated");
	s->hib_req = 0;
	if (s->hib_timer)
		evtimer_del(&s->ev_hib);
	hib_delete(s);
	hib_forget(s);
	sweep_closed(s);
	audit_session(s, AUDIT_SESSION_CLOSE, 0, 0, 0, reason, NULL, NULL);
	if (s->name[0] != '\0')
		TAILQ_REMOVE(&s->ident->named, s, name_entry);
	if (s->kept) {
		TAILQ_REMOVE(&s->ident->kept, s, entry);
		evtimer_del(&s->ev_keep);
	} else if (s->pool == NULL)
		TAILQ_REMOVE(&s->client->sessions, s, entry);
	else if (s->owner != NULL)
		s->owner->gone(s);
	evtimer_del(&s->ev_idle);
	evtimer_del(&s->ev_life);
	defer_cancel(&s->d_expire);
	policy_session_gone(s->ident, s->memory, !s->unheld);
	session_free(s);
	spare_refill();		/* the capacity it leaves */
}

/* A pool's session, used: a fresh worker before it is used again. */
void
core_session_reset(struct session *s, const char *reason)
{
	if (s->worker == NULL || s->job != NULL || s->closing)
		return;
	worker_kill(s->worker, reason);
	session_respawn(s, reason);
}

/* A pool's session whose worker could not start: try again. */
void
core_session_retry(struct session *s, const char *reason)
{
	if (s->state == S_STARTING && s->worker == NULL && !s->closing)
		session_respawn(s, reason);
}

/*
 * Jobs.
 */

/*
 * j's timer for the rest of its time, us microseconds.  libevent's clock
 * is the coarse one (monitor.c), a tick behind at most: the timer may
 * fire that much early, and job_deadline() checks the precise one.
 */
static void
job_timer_arm(struct job *j, uint64_t us)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(&j->timer, &tv);
}

/*
 * The deadline passed, by the precise clock (else its timer goes again
 * for what is left): an event of its own, handled at the turn's end.
 */
static void
job_deadline(int fd, short event, void *arg)
{
	struct job	*j = arg;
	uint64_t	 due, now;

	due = j->start_us + (uint64_t)(j->timeout * 1e6);
	if ((now = now_us()) < due) {
		job_timer_arm(j, due - now);
		return;
	}
	defer(&j->d_timeout, job_timed_out, j);
}

static void
job_timed_out(void *arg)
{
	struct job	*j = arg;
	struct session	*s = j->session;
	cJSON		*extra;
	double		 t = j->timeout;

	audit_session(s, AUDIT_TIMEOUT, EXEC_TIMEOUT, (uint64_t)(t * 1e6),
	    j->id, NULL, NULL, NULL);
	if ((extra = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(extra, "timeout", t);
	job_fail(j, EXEC_TIMEOUT, "timeout", extra, "execution timed out "
	    "after %g second%s; the session was restarted and its state is "
	    "gone", t, t == 1 ? "" : "s");
	if (s->worker != NULL)
		worker_kill(s->worker, "timeout");
	session_respawn(s, "timeout");
}

/*
 * Busy, spent, or the log down: refused at once, never queued.  A
 * session whose worker was killed while it was idle says so to the
 * next job, once: its state is gone, and code that counts on it must
 * not run as if nothing happened.
 */
static int
job_admit(struct client *c, uint64_t id, struct session *s)
{
	cJSON	*extra;

	if (s->create_req != 0 && s->forked_from[0] != '\0') {
		reply_error(c, id, "session_busy", NULL, "session busy: it "
		    "is being forked");
		return (-1);
	}
	if (s->job != NULL || s->restart_req != 0 || s->create_req != 0) {
		reply_error(c, id, "session_busy", NULL, "session busy: an "
		    "execution is already running in this session");
		return (-1);
	}
	if (s->idle_loss[0] != '\0') {
		if ((extra = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(extra, "cause", s->idle_loss);
		reply_error(c, id, "protocol", extra, "the session's worker "
		    "was killed while the session was idle (%s); the session "
		    "was restarted and its state is gone", s->idle_loss);
		s->idle_loss[0] = '\0';
		return (-1);
	}
	if (audit_down) {
		reply_error(c, id, "audit_unavailable", NULL, "audit log "
		    "unavailable: no execution runs until it can be "
		    "written again");
		return (-1);
	}
	if (core_stopping) {
		reply_error(c, id, "unavailable", NULL, "the daemon is "
		    "stopping: its sessions are being hibernated, to be "
		    "resumed when it is back");
		return (-1);
	}
	return (0);
}

/* j, admitted, becomes s's job, and starts as soon as s can run it. */
static void
job_begin(struct job *j, struct client *c, uint64_t id, struct session *s)
{
	j->client = c;
	j->req_id = id;
	j->id = ++job_ids;
	evtimer_set(&j->timer, job_deadline, j);
	s->job = j;
	evtimer_del(&s->ev_idle);
	/* Saving, the timer is the worker's deadline: j waits for it. */
	if (s->hib_timer && s->state != S_SAVING) {
		evtimer_del(&s->ev_hib);
		s->hib_timer = 0;
	}
	if (s->state == S_IDLE)
		job_start(j);
	else if (s->state == S_HIBERNATED)
		session_resume(s);
	else if (s->worker == NULL)
		session_respawn(s, "worker could not start, trying again");
}

/* An execution on s for c, from a request on s or on its pool. */
int
core_exec_submit(struct client *c, uint64_t id, cJSON *req,
    struct session *s)
{
	struct exec	*e;
	cJSON		*code = cJSON_GetObjectItemCaseSensitive(req, "code");
	char		 err[256];
	size_t		 len;

	if (!cJSON_IsString(code)) {
		reply_error(c, id, "bad_request", NULL,
		    "execute needs a string code");
		return (-1);
	}
	if (job_admit(c, id, s) == -1)
		return (-1);
	if (s->max_executions && s->executions >= s->max_executions) {
		reply_error(c, id, "max_executions", NULL, "maximum "
		    "executions (%llu) reached for this session",
		    (unsigned long long)s->max_executions);
		return (-1);
	}
	if ((len = strlen(code->valuestring)) > conf->max_code) {
		reply_error(c, id, "code_too_long", NULL, "code too long "
		    "(%zu bytes, max %llu)", len,
		    (unsigned long long)conf->max_code);
		return (-1);
	}
	if ((e = exec_alloc(s, req, err, sizeof(err))) == NULL) {
		reply_error(c, id, "bad_request", NULL, "%s", err);
		return (-1);
	}
	if (session_resume_admit(c, id, s) == -1) {
		exec_free(e);
		return (-1);
	}
	if (policy_exec_admit(c, id, s->ident) == -1) {
		exec_free(e);
		return (-1);
	}
	s->executions++;
	/* The worker removes its partial file before the code runs. */
	fileop_upload_end(s);
	job_begin(&e->job, c, id, s);
	return (0);
}

void
core_file_submit(struct client *c, uint64_t id, cJSON *req,
    struct session *s, int put)
{
	struct fileop	*f;

	if (job_admit(c, id, s) == -1 ||
	    (f = fileop_alloc(c, id, req, put, s)) == NULL)
		return;
	if (session_resume_admit(c, id, s) == -1 ||
	    policy_exec_admit(c, id, s->ident) == -1) {
		fileop_free(f);
		return;
	}
	if (fileop_starts_upload(f))
		s->files_put++;
	job_begin(&f->job, c, id, s);
}

/* The broker says whether the start record is durable. */
static void
job_start_acked(void *arg, int durable)
{
	struct job	*j = arg;
	struct session	*s = j->session;

	if (!durable) {
		job_fail(j, EXEC_ABORTED, "audit_unavailable", NULL, "audit "
		    "log unavailable: the execution was not run because its "
		    "start could not be recorded");
		return;
	}
	j->audit_acked = 1;
	if (s->state == S_IDLE && s->worker != NULL)
		job_dispatch(j);
}

/*
 * The start record first; the worker gets the job once the broker says
 * the record is durable, or at once, behind the record on the broker's
 * channel, where the policy promises no flush (audit.c).  A worker that
 * comes up again after a restart finds the start already recorded.
 */
static void
job_start(struct job *j)
{
	char	hash[SHA256_HEX_LEN];

	/* Ahead of the start record: awake before the ack lets j go. */
	worker_wake(j->session->worker);
	if (j->unaudited) {
		job_dispatch(j);
		return;
	}
	if (j->audit_token != 0) {
		if (j->audit_acked)
			job_dispatch(j);
		return;
	}
	sha256_hex(j->code, j->code_len, hash);
	j->audit_token = audit_session(j->session, AUDIT_EXEC_START, 0, 0,
	    j->id, j->code, hash, NULL);
	if (audit_waits())
		audit_wait_start(j->audit_token, job_start_acked, j);
	else
		job_start_acked(j, 1);
}

/* To the worker, whose channel then expects this job's messages. */
static void
job_dispatch(struct job *j)
{
	struct session	*s = j->session;
	struct worker	*w = s->worker;
	uint32_t	 flags;
	int		 rc;

	w->chan.expect_id = j->id;
	wire_broker_ahead();
	if (j->kind == JOB_FILE) {
		w->chan.state = WS_FILE;
		rc = fileop_send(FILEOP(j), &w->chan);
	} else {
		w->chan.state = WS_EXEC;
		flags = EXEC(j)->flags;
		/* A pool's session runs for whichever client executes. */
		if (j->client != NULL && j->client->binary)
			flags |= EXEC_BINARY;
		if (j->client != NULL && j->client->frames)
			flags |= EXEC_FRAMES;
		EXEC(j)->sent_flags = flags;
		rc = msg_send_exec(&w->chan, j->id, flags, conf->max_result,
		    j->code, j->code_len);
	}
	if (rc == -1)
		worker_fails(w, LOST_CHANNEL, "its job could not be sent");
	j->sent = 1;
	j->start_us = now_us();
	s->state = S_BUSY;
	if (j->timeout > 0)
		job_timer_arm(j, (uint64_t)(j->timeout * 1e6));
}

/* Before j's end record: the refused calls that were only counted. */
static void
refusals_summary(struct job *j)
{
	struct exec	*e;
	char		 text[160];

	if (j->kind != JOB_EXEC || (e = EXEC(j))->refused <= REFUSALS_AUDITED)
		return;
	snprintf(text, sizeof(text), "%llu more refused tool calls, the "
	    "last to '%s'", (unsigned long long)(e->refused -
	    REFUSALS_AUDITED), e->refused_last);
	audit_session(j->session, AUDIT_TOOL_CALL, EXEC_ERROR, 0, j->id,
	    "(refused calls)", text, NULL);
}

/* Ends j with its reply's fields r, once its end is durable. */
static void
job_end(struct job *j, cJSON *r)
{
	struct session	*s = j->session;
	uint32_t	 token;
	cJSON		*reply;

	job_settle(j);
	refusals_summary(j);
	token = j->unaudited ? 0 : audit_session(s, AUDIT_EXEC_END, EXEC_OK,
	    now_us() - j->start_us, j->id, NULL, NULL, NULL);
	reply = reply_new(j->req_id, 1);
	reply_merge(reply, r);
	hib_resumed_json(s, reply);
	if (j->kind == JOB_EXEC)
		stats_exec_end(EXEC_OK, j->sent, j->start_us);
	audit_hold_reply(j->client, j->req_id, reply, token);
	job_done(j);
}

/* Ends j with an error reply and its audit record. */
static void
job_fail(struct job *j, enum exec_status status, const char *code,
    cJSON *extra, const char *fmt, ...)
{
	struct session	*s = j->session;
	va_list		 ap;
	char		*msg;
	cJSON		*r, *err;
	uint64_t	 us = j->sent ? now_us() - j->start_us : 0;
	uint32_t	 token = 0;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	r = reply_new(j->req_id, 0);
	if ((err = cJSON_AddObjectToObject(r, "error")) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", msg);
	reply_merge(err, extra);
	hib_resumed_json(s, r);
	job_settle(j);
	if (j->audit_token != 0)
		refusals_summary(j);
	/* Only a recorded start has an end; a worker's death aborts. */
	if (j->audit_token != 0 && j->abort_cause[0] != '\0')
		token = audit_session(s, AUDIT_EXEC_ABORT, status, us, j->id,
		    j->abort_cause, code, NULL);
	else if (j->audit_token != 0)
		token = audit_session(s, AUDIT_EXEC_END, status, us, j->id,
		    code, msg, NULL);
	if (j->kind == JOB_EXEC)
		stats_exec_end(status, j->sent, j->start_us);
	audit_hold_reply(j->client, j->req_id, r, token);
	free(msg);
	job_done(j);
}

static void
job_release(void *arg)
{
	struct job	*j = arg;

	if (j->kind == JOB_FILE)
		fileop_free(FILEOP(j));
	else
		exec_free(EXEC(j));
}

/*
 * j's worker is done with it: at rest from now, which the broker hears
 * ahead of j's end record (one sendmsg(2) for both).
 */
static void
job_settle(struct job *j)
{
	struct session	*s = j->session;

	if (s->state == S_BUSY)
		s->state = S_IDLE;
	if (s->worker != NULL && s->worker->attached &&
	    s->worker->chan.state >= WS_EXEC)
		s->worker->chan.state = WS_IDLE;
	worker_rest(s->worker, j);
}

/*
 * j is over (job_end() or job_fail(), which settled it ahead of its end
 * record): its session is free again, j goes at the turn's end.
 */
static void
job_done(struct job *j)
{
	struct session	*s = j->session;

	s->job = NULL;
	evtimer_del(&j->timer);
	defer_cancel(&j->d_timeout);
	audit_forget(j);
	defer(&j->d_free, job_release, j);
	policy_exec_gone(s->ident);
	core_session_idle_clock(s);
	if (s->owner != NULL)
		s->owner->job_done(s);
}

/* A pool's execution whose client went: the worker cannot be stopped. */
void
core_job_abort(struct session *s, const char *why)
{
	if (s->job == NULL)
		return;
	if (s->worker != NULL)
		worker_kill(s->worker, "client gone");
	job_fail(s->job, EXEC_ABORTED, "closed", NULL, "%s", why);
	session_respawn(s, "client gone");
}

/* The job under way on w's session, for a message w sent about it. */
static struct job *
worker_job(struct worker *w)
{
	if (w->session == NULL || w->session->job == NULL)
		fatalx("worker %u: a message the table allows with no job",
		    w->id);
	return (w->session->job);
}

/*
 * Every message of the worker during an execution counts; past the
 * operator's "messages" it floods its channel (output after truncation
 * still costs us a read each).  -1: it did, and is being given up on.
 */
static int
exec_counted(struct worker *w, struct exec *e)
{
	if (conf->max_messages == 0 || ++e->messages <= conf->max_messages)
		return (0);
	worker_fails(w, LOST_FLOOD, "flooded its channel");
	return (-1);
}

void
core_output(struct worker *w, const struct msg_output *m)
{
	struct exec	*e = EXEC(worker_job(w));
	size_t		 n;

	w->chan.state = WS_RUN;
	if (exec_counted(w, e) == -1 || e->truncated)
		return;
	if ((n = exec_output_fits(e, m->text.p, m->text.len)) > 0)
		reply_event(e->job.client, e->job.req_id, "output",
		    exec_output_event(m->stream, m->text.p, n));
	if (n < m->text.len ||
	    (e->max_out_lines && e->out_lines >= e->max_out_lines)) {
		e->truncated = 1;
		reply_event(e->job.client, e->job.req_id, "truncated", NULL);
	}
	/* Its client is behind: the worker waits for it (back-pressure). */
	if (e->job.client != NULL && e->job.client->behind)
		worker_hold(w);
}

/* The worker's advice: names of risky calls in the parsed code. */
void
core_advisory(struct worker *w, const struct msg_text *names)
{
	struct exec	*e = EXEC(worker_job(w));

	w->chan.state = WS_RUN;
	if (exec_counted(w, e) == -1)
		return;
	if ((e->advisory = strndup(names->p, names->len)) == NULL)
		fatal("%s", __func__);
}

void
core_plot(struct worker *w, const struct msg_plot *m)
{
	struct exec	*e = EXEC(worker_job(w));

	w->chan.state = WS_RUN;
	if (exec_counted(w, e) == -1)
		return;
	if (plots_add(&e->plots, m) == -1)
		worker_fails(w, LOST_PROTOCOL, "more plots than it may send");
}

/*
 * A refused call: the worker's code gets an R error, and the first
 * REFUSALS_AUDITED of an execution are audited one by one; the rest are
 * counted into one record at its end (refusals_summary), so code that
 * calls in a loop cannot fill the log.
 */
static void
tool_refuse(struct worker *w, struct exec *e, uint32_t peerid,
    const char *name, const char *msg)
{
	if (++e->refused <= REFUSALS_AUDITED)
		audit_session(e->job.session, AUDIT_TOOL_CALL, EXEC_ERROR, 0,
		    e->job.id, name, msg, NULL);
	else
		strlcpy(e->refused_last, name, sizeof(e->refused_last));
	if (msg_send_tool_result(&w->chan, peerid, 1, msg, strlen(msg)) == -1)
		worker_fails(w, LOST_CHANNEL, "a tool's result could not go");
}

/* Why a call may not go to the client, or NULL if it may. */
static const char *
tool_check(struct exec *e, const char *name, cJSON *args, char *err,
    size_t errlen)
{
	struct session	*s = e->job.session;
	struct tool	*t;
	double		 retry;

	if (e->max_tool_calls && ++e->tool_calls > e->max_tool_calls) {
		e->tool_calls_exceeded = 1;
		stats_tool_call(TOOL_TOO_MANY, 0);
		snprintf(err, errlen, "maximum tool calls (%llu) exceeded",
		    (unsigned long long)e->max_tool_calls);
	} else if (policy_tool_call(s->ident, &retry) == -1)
		snprintf(err, errlen, "tool calls rate limited; retry after "
		    "%.3g s", retry);
	else if ((t = tools_find(s->tools, s->ntools, name)) == NULL) {
		stats_tool_call(TOOL_REFUSED, 0);
		snprintf(err, errlen, "unknown tool '%.64s'", name);
	} else if (tools_check_args(t, args, err, errlen) == -1)
		stats_tool_call(TOOL_REFUSED, 0);
	else
		return (NULL);
	return (err);
}

void
core_tool_call(struct worker *w, uint32_t peerid,
    const struct msg_tool_call *m)
{
	struct exec	*e = EXEC(worker_job(w));
	cJSON		*args;
	char		 name[257], err[256];

	w->chan.state = WS_RUN;
	if (exec_counted(w, e) == -1)
		return;
	if (m->name.len >= sizeof(name) ||
	    (args = json_raw_value(m->args.p, m->args.len)) == NULL) {
		worker_fails(w, LOST_PROTOCOL, "a bad tool call");
		return;
	}
	memcpy(name, m->name.p, m->name.len);
	name[m->name.len] = '\0';
	if (tool_check(e, name, args, err, sizeof(err)) != NULL) {
		cJSON_Delete(args);
		tool_refuse(w, e, peerid, name, err);
		return;
	}
	e->call = toolcall_new(peerid, name);
	w->chan.state = WS_TOOL;
	reply_event(e->job.client, e->job.req_id, "tool_call",
	    toolcall_event(e->call, e->job.session, args));
}

/*
 * The client's answer to the call under way.  What the worker's channel
 * cannot carry is refused on both sides: the client hears why, and the
 * worker's code gets it as the tool's error, and goes on.
 */
static void
tool_answer(struct worker *w, struct exec *e, struct client *c, uint64_t id,
    cJSON *value, cJSON *error)
{
	struct toolcall	*tc = e->call;
	char		*text, msg[160];
	size_t		 len, room = msg_tool_result_room(&w->chan);
	int		 is_error = error != NULL;

	text = toolcall_answer_text(value, error, &len);
	if (len > room) {
		reply_error(c, id, "tool_result_too_large", NULL, "the tool's "
		    "result is %zu bytes, the sandbox takes at most %zu",
		    len, room);
		free(text);
		snprintf(msg, sizeof(msg), "the tool's result was too large "
		    "(%zu bytes, max %zu)", len, room);
		text = strdup(msg);
		len = strlen(msg);
		is_error = 1;
	}
	if (text == NULL)
		fatal("%s", __func__);
	/* The result's first AUDIT_SUMMARY_MAX bytes say what it was. */
	audit_session(e->job.session, AUDIT_TOOL_CALL, is_error ? EXEC_ERROR :
	    EXEC_OK, now_us() - tc->start_us, e->job.id, tc->tool,
	    is_error ? text : NULL, is_error ? NULL : text);
	stats_tool_call(is_error ? TOOL_ERROR : TOOL_OK, tc->start_us);
	e->call = NULL;
	w->chan.state = WS_RUN;
	if (msg_send_tool_result(&w->chan, tc->peerid, is_error, text,
	    len) == -1)
		worker_fails(w, LOST_CHANNEL, "a tool's result could not go");
	toolcall_free(tc);
	free(text);
}

void
core_tool_result(struct client *c, uint64_t id, struct session *s,
    cJSON *req)
{
	cJSON		*call, *value, *error;
	struct exec	*e;

	call = cJSON_GetObjectItemCaseSensitive(req, "call");
	value = cJSON_GetObjectItemCaseSensitive(req, "value");
	error = cJSON_GetObjectItemCaseSensitive(req, "error");
	if (s->job == NULL || s->job->kind != JOB_EXEC ||
	    (e = EXEC(s->job))->call == NULL || s->worker == NULL ||
	    !cJSON_IsNumber(call) || call->valuedouble != (double)e->call->id) {
		reply_error(c, id, "bad_request", NULL,
		    "no such tool call in progress");
		return;
	}
	if ((value == NULL) == (error == NULL) ||
	    (error != NULL && !cJSON_IsString(error))) {
		reply_error(c, id, "bad_request", NULL, "tool_result needs "
		    "either a value or an error string");
		return;
	}
	tool_answer(s->worker, e, c, id, value, error);
}

static void
exec_reply(struct exec *e, const struct msg_result *m, cJSON *value)
{
	struct session	*s = e->job.session;
	cJSON		*r;
	char		*printed;
	size_t		 n;

	if ((printed = utf8_sanitize(m->printed.p, m->printed.len,
	    &n)) == NULL || (r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddItemToObject(r, "value", value);
	reply_add_frame(r, exec_take_frame(e));
	cJSON_AddBoolToObject(r, "visible", m->visible);
	cJSON_AddStringToObject(r, "printed", printed);
	cJSON_AddBoolToObject(r, "truncated", e->truncated);
	cJSON_AddNumberToObject(r, "elapsed",
	    (now_us() - e->job.start_us) / 1e6);
	if (s->pool != NULL)
		cJSON_AddStringToObject(r, "session", s->id);
	exec_add_warnings(e, r);
	exec_add_omitted(r, m);
	plots_into(&e->plots, r, m->value.len + m->printed.len);
	free(printed);
	job_end(&e->job, r);
}

/* Bytes of a value over one message, held to the budgets as they come. */
void
core_result_part(struct worker *w, const struct msg_text *part)
{
	struct exec	*e = EXEC(worker_job(w));

	w->chan.state = WS_RUN;
	if (exec_counted(w, e) == -1)
		return;
	exec_value_part(e, part);
}

/* Bytes of its frame, to a client that asked for frames. */
void
core_frame_part(struct worker *w, struct ibuf *part)
{
	struct exec	*e = EXEC(worker_job(w));

	w->chan.state = WS_RUN;
	if (exec_counted(w, e) == -1) {
		ibuf_free(part);
		return;
	}
	if (!(e->sent_flags & EXEC_FRAMES)) {
		ibuf_free(part);
		worker_fails(w, LOST_PROTOCOL, "a frame nobody asked for");
		return;
	}
	exec_frame_part(e, part);
}

void
core_result(struct worker *w, const struct msg_result *m)
{
	struct exec	*e = EXEC(worker_job(w));
	cJSON		*value;

	e->job.answered = 1;
	if (exec_counted(w, e) == -1)
		return;
	/* The whole it says it sent must be what came. */
	if (m->value_total != e->value_total + m->value.len) {
		worker_fails(w, LOST_PROTOCOL, "a result of %llu bytes after "
		    "%llu in parts", (unsigned long long)m->value_total,
		    (unsigned long long)e->value_total);
		return;
	}
	if (m->frame_total != e->frame_total) {
		worker_fails(w, LOST_PROTOCOL, "a result with a frame of %llu "
		    "bytes after %llu", (unsigned long long)m->frame_total,
		    (unsigned long long)e->frame_total);
		return;
	}
	value = exec_value(e, &m->value);
	if (value == NULL && e->value_refused == 1) {
		job_fail(&e->job, EXEC_ERROR, "result_too_large", NULL,
		    "result too large (%llu bytes, max %llu)",
		    (unsigned long long)e->value_total,
		    (unsigned long long)conf->max_result);
		return;
	} else if (value == NULL && e->value_refused == 2) {
		job_fail(&e->job, EXEC_ERROR, "result_too_large", NULL, "the "
		    "daemon holds other values (result-memory %llu bytes): "
		    "try again", (unsigned long long)conf->max_result_memory);
		return;
	} else if (value == NULL) {
		worker_fails(w, LOST_PROTOCOL, "a bad result");
		return;
	}
	if (e->tool_calls_exceeded) {
		cJSON_Delete(value);
		job_fail(&e->job, EXEC_ERROR, "tool_calls_exceeded", NULL,
		    "maximum tool calls (%llu) exceeded",
		    (unsigned long long)e->max_tool_calls);
		return;
	}
	exec_reply(e, m, value);
}

void
core_error(struct worker *w, const struct msg_error *m)
{
	struct exec	*e = EXEC(worker_job(w));
	struct msg_text	 call;
	cJSON		*extra;
	char		*msg, *callp;
	size_t		 n;

	e->job.answered = 1;
	if (exec_counted(w, e) == -1)
		return;
	if (e->tool_calls_exceeded) {
		job_fail(&e->job, EXEC_ERROR, "tool_calls_exceeded", NULL,
		    "maximum tool calls (%llu) exceeded",
		    (unsigned long long)e->max_tool_calls);
		return;
	}
	/* Asked for: the error loses what it says about the host. */
	if (e->sanitize && m->kind == WERR_R) {
		msg = sanitize_error(m->msg.p, m->msg.len);
		callp = sanitize_error(m->call.p, m->call.len);
	} else {
		msg = utf8_sanitize(m->msg.p, m->msg.len, &n);
		callp = utf8_sanitize(m->call.p, m->call.len, &n);
	}
	if (msg == NULL || callp == NULL)
		fatal("%s", __func__);
	call.p = callp;
	call.len = m->kind == WERR_R ? strlen(callp) : 0;
	extra = exec_error_extra(e, &call, strlen(msg) + strlen(callp));
	if (m->kind == WERR_R)
		exec_add_classes(extra, &m->classes);
	if (m->kind == WERR_PARSE) {
		cJSON_AddNumberToObject(extra, "line", m->line);
		cJSON_AddNumberToObject(extra, "column", m->column);
		job_fail(&e->job, EXEC_ERROR, "parse_error", extra, "%s", msg);
	} else if (m->kind == WERR_R)
		job_fail(&e->job, EXEC_ERROR, "r_error", extra, "%s", msg);
	else {
		cJSON_Delete(extra);
		job_fail(&e->job, EXEC_ERROR, "result_too_large", NULL, "%s",
		    msg);
	}
	free(msg);
	free(callp);
}

/* IMSG_W_FILE: the worker's answer to a file operation. */
void
core_file_reply(struct worker *w, const struct msg_file *m)
{
	struct fileop	*f = FILEOP(worker_job(w));
	const char	*code;
	char		 err[PATH_MAX + 256];
	cJSON		*r, *extra;

	f->job.answered = 1;
	if ((r = fileop_reply(f, m, err, sizeof(err), &code, &extra)) != NULL)
		job_end(&f->job, r);
	else if (code != NULL)
		job_fail(&f->job, EXEC_ERROR, code, extra, "%s", err);
	else
		worker_fails(w, LOST_PROTOCOL, "a bad file reply");
}

/*
 * Workers.
 */

/*
 * w is given up on: nothing more it says is read, and the rest happens
 * at the end of the turn (worker_given_up), whoever noticed.
 */
static void
worker_fails(struct worker *w, enum worker_loss why, const char *fmt, ...)
{
	va_list	ap;

	char	cause[200];

	if (w->lost)
		return;
	w->lost = why;
	va_start(ap, fmt);
	vsnprintf(w->lost_why, sizeof(w->lost_why), fmt, ap);
	va_end(ap);
	if (w->attached)
		chan_stop(&w->chan);
	/* Audited now: the worker may be reported dead before the turn ends. */
	if (why == LOST_PROTOCOL) {
		snprintf(cause, sizeof(cause), "protocol violation: %s",
		    w->lost_why);
		log_warnx("worker %u: %s", w->id, cause);
		if (w->session != NULL)
			audit_session(w->session, AUDIT_PROTOCOL, 0, 0, 0,
			    cause, NULL, NULL);
		else
			audit_spare_violation(w->id, cause);
	}
	defer(&w->d_lost, worker_given_up, w);
}

/* A worker given up on: killed, its session told, a fresh worker. */
static void
worker_given_up(void *arg)
{
	struct worker	*w = arg;
	struct session	*s = w->session;
	char		 cause[200];
	int		 was_up = w->attached && w->chan.state >= WS_IDLE;

	spare_lost(w);
	switch (w->lost) {
	case LOST_PROTOCOL:
		snprintf(cause, sizeof(cause), "protocol violation: %s",
		    w->lost_why);
		worker_kill(w, cause);
		if (s != NULL && was_up)
			session_idle_lost(s, cause);
		if (s != NULL)
			session_lost(s, was_up, "protocol", cause);
		break;
	case LOST_FLOOD:
		worker_kill(w, "flooded its channel");
		if (s != NULL && s->job != NULL)
			job_fail(s->job, EXEC_KILLED, "too_many_messages", NULL,
			    "limit \"messages\" reached: the worker sent more "
			    "than %llu messages in one execution and was "
			    "killed; the session was restarted and its state "
			    "is gone", (unsigned long long)conf->max_messages);
		if (s != NULL)
			session_respawn(s, "flooded its channel");
		break;
	default:
		worker_kill(w, w->lost_why);
		if (s != NULL)
			session_lost(s, was_up, "worker_died", w->lost_why);
		break;
	}
}

/* The channel's callback: a violation, or the worker closed it. */
void
monitor_lost_worker(struct chan *ch, const char *why)
{
	struct worker	*w = ch->owner;
	struct timeval	 tv = { 1, 0 };

	if (why != NULL) {
		worker_fails(w, LOST_PROTOCOL, "%s", why);
		return;
	}
	/*
	 * It closed its channel: it died, and the broker will say how, or
	 * it is alive without one, which no worker may be.  Asking for the
	 * kill at once would make the broker report every death as ours:
	 * the exit gets a second to be reported first.
	 */
	if (!w->closed && !w->killed) {
		w->closed = 1;
		evtimer_set(&w->ev_closed, worker_closed_timer, w);
		evtimer_add(&w->ev_closed, &tv);
	}
}

/* It closed its channel a second ago and is not reported dead. */
static void
worker_closed_timer(int fd, short event, void *arg)
{
	worker_fails(arg, LOST_PROTOCOL, "closed its channel and still runs");
}

/*
 * j is over and w stays its session's, idle: the broker holds it still
 * until its next job (broker/rest.c), and kills it if it runs.  Not if
 * j was ended under it (a deadline, a close), which kills it anyway.
 */
static void
worker_rest(struct worker *w, const struct job *j)
{
	if (w == NULL || !w->attached || w->lost || w->killed ||
	    w->resting || w->chan.state != WS_IDLE ||
	    (j != NULL && j->sent && !j->answered))
		return;
	w->resting = 1;
	wire_worker_idle(w->id);
}

static void
worker_wake(struct worker *w)
{
	if (w == NULL || !w->resting)
		return;
	w->resting = 0;
	wire_worker_wake(w->id);
}

/* IMSG_WORKER_RAN: it ran after its job ended, and the broker killed it. */
void
core_worker_ran(const struct worker_ran *wr)
{
	struct worker	*w;

	if ((w = worker_find(wr->worker_id)) == NULL || w->killed)
		return;
	w->resting = 0;
	worker_fails(w, LOST_PROTOCOL, "it ran %llu.%03llu ms of CPU after "
	    "its job ended", (unsigned long long)(wr->cpu_us / 1000),
	    (unsigned long long)(wr->cpu_us % 1000));
}

/* IMSG_WORKER_FD: the worker is running and here is its channel. */
void
core_worker_fd(uint32_t id, int fd)
{
	struct worker	*w;

	if ((w = worker_find(id)) == NULL || w->attached || w->killed ||
	    (w->session == NULL && !w->spare)) {
		/* The session went away while the worker was spawning. */
		if (fd != -1)
			close(fd);
		return;
	}
	if (fd == -1) {
		/* The kernel dropped it: we are at our fd limit. */
		log_warnx("worker %u: its channel was lost, out of file "
		    "descriptors", w->id);
		worker_fails(w, LOST_CHANNEL,
		    "the daemon is out of file descriptors");
		return;
	}
	worker_attach(w, fd, monitor_lost_worker);
	if (w->session != NULL && worker_setup(w) == -1)
		worker_fails(w, LOST_CHANNEL, "its setup could not be sent");
}

/* IMSG_W_READY: sandboxed and warm. */
void
core_worker_ready(struct worker *w)
{
	w->chan.state = w->chan.state == WS_SETUP_EARLY ? WS_SETUP : WS_READY;
}

/* IMSG_W_SETUP_DONE: its session can run. */
void
core_worker_setup_done(struct worker *w)
{
	struct session	*s = w->session;

	w->chan.state = WS_IDLE;
	if (s->state == S_RESUMING) {
		s->resume_worker = 1;
		session_resume_go(s);
		return;
	}
	session_up(s);
}

void
core_worker_violation(struct worker *w, const char *what)
{
	worker_fails(w, LOST_PROTOCOL, "%s", what);
}

/*
 * A spare that was taken but died before its setup was answered
 * (killed from outside while it waited, say): not the session's fault,
 * so it gets a fresh worker and never hears of it.
 */
static int
worker_stale_spare(struct worker *w)
{
	struct session	*s = w->session;

	if (!w->from_spare || w->killed ||
	    (w->attached && w->chan.state >= WS_IDLE))
		return (0);
	log_debug("worker %u: died while ready; session gets another", w->id);
	worker_detach(w);
	s->worker = worker_spawn(s, &s->limits);
	return (1);
}

/* IMSG_WORKER_EXIT: the broker reaped it, and says how it ended. */
void
core_worker_exit(const struct worker_exit *we)
{
	struct worker	*w;
	struct session	*s;
	char		 cause[128];
	int		 was_up, killed;

	if ((w = worker_find(we->worker_id)) == NULL)
		return;
	s = w->session;
	was_up = w->attached && w->chan.state >= WS_IDLE;
	exit_cause_str(we->cause, we->status, cause, sizeof(cause));
	log_debug("worker %u %s", w->id, cause);
	killed = w->killed;
	stats_worker_exit(killed, w->cause, we);
	spare_lost(w);
	if (s != NULL && !worker_stale_spare(w)) {
		/* A signal nobody here sent: audited as exec_abort. */
		if (we->cause == EXIT_SIGNAL && s->job != NULL)
			strlcpy(s->job->abort_cause, cause,
			    sizeof(s->job->abort_cause));
		worker_detach(w);
		session_lost(s, was_up, "worker_died", cause);
	}
	worker_retire(w);
}

/* IMSG_SPAWN_FAILED: the broker could not start it. */
void
core_spawn_failed(uint32_t id, int error)
{
	struct worker	*w;
	struct session	*s;
	char		 cause[128];

	if ((w = worker_find(id)) == NULL)
		return;
	s = w->session;
	snprintf(cause, sizeof(cause), "%s", strerror(error));
	log_warnx("worker %u could not be spawned: %s", w->id, cause);
	stats_spawn_failed();
	spare_lost(w);
	if (s != NULL && !worker_stale_spare(w)) {
		worker_detach(w);
		session_lost(s, 0, "spawn_failed", cause);
	}
	worker_retire(w);
}

/*
 * Clients.
 */

/* A client is gone: its own sessions with it; pools are pool.c's. */
void
core_client_gone(struct client *c, const char *why)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&c->sessions)) != NULL) {
		if (session_keepable(s))
			session_keep(s);
		else
			core_session_destroy(s, why);
	}
	audit_client_gone(c);
	/* A pool's worker held for it runs on, its output for nobody. */
	c->behind = 0;
	worker_release_held();
}

/* c read down its output: the workers held for it go on. */
void
core_client_caught_up(struct client *c)
{
	c->behind = 0;
	worker_release_held();
}

/*
 * Hibernation (DESIGN.md, "Hibernation"): an idle session's state goes
 * to the broker's disk and its worker and capacity are freed; the next
 * job on it brings it back in a fresh worker, transparently.
 */

#define SNAP_DEADLINE	120	/* seconds for the worker to write it */

/* hibernate-after passed, or the worker's time to write its state. */
static void
session_hib_timer(int fd, short event, void *arg)
{
	struct session	*s = arg;

	s->hib_timer = 0;
	if (s->state == S_IDLE)
		core_session_hibernate(NULL, 0, s);
	else if (s->state == S_SAVING && s->worker != NULL &&
	    s->worker->chan.state == WS_SNAP)
		worker_fails(s->worker, LOST_PROTOCOL, "it did not write its "
		    "state in %d seconds", SNAP_DEADLINE);
}

/*
 * A hibernation that did not happen: its asker told, the log too.  A
 * fork's save: the new session fails instead.
 */
static void
hibernate_failed(struct session *s, const char *code, const char *why)
{
	struct session	*n;

	if (s->fork_saving) {
		s->fork_saving = 0;
		if (s->snap_fd != -1)
			close(s->snap_fd);
		s->snap_fd = -1;
		if ((n = s->fork_child) != NULL) {
			fork_unlink(n);
			fork_failed(n, code, why);
		}
		return;
	}
	audit_session(s, AUDIT_SESSION_HIBERNATE, 1, now_us() - s->snap_t0,
	    0, s->hib_reason, why, NULL);
	sweep_failed(s);
	if (s->hib_req != 0)
		reply_error(s->hib_client, s->hib_req, code, NULL,
		    "the session was not hibernated: %s", why);
	s->hib_req = 0;
	if (s->snap_fd != -1)
		close(s->snap_fd);
	s->snap_fd = -1;
	/* Kept, it cannot hold its worker with nobody to use it. */
	if (s->kept) {
		s->expired = "its hibernation failed";
		defer(&s->d_expire, session_expired, s);
	}
}

/* Idle, its worker too: its state can be asked for. */
static int
session_quiet(const struct session *s)
{
	return (s->pool == NULL && s->job == NULL && s->state == S_IDLE &&
	    s->restart_req == 0 && s->create_req == 0 && s->worker != NULL &&
	    s->worker->attached && s->worker->chan.state == WS_IDLE);
}

/* session.hibernate (c, id), or hibernate-after (c NULL). */
void
core_session_hibernate(struct client *c, uint64_t id, struct session *s)
{
	struct timeval	 tv = { SNAP_DEADLINE, 0 };
	cJSON		*r;

	if (s->create_req != 0) {
		if (c != NULL)
			reply_error(c, id, "session_busy", NULL, "the "
			    "session is still being made");
		return;
	}
	if (s->state == S_HIBERNATED) {
		if ((r = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "session", s->id);
		cJSON_AddBoolToObject(r, "hibernated", 1);
		cJSON_AddNumberToObject(r, "bytes", (double)s->snap_bytes);
		reply_ok(c, id, r);
		return;
	}
	if (!session_quiet(s)) {
		if (c == NULL)
			return;
		audit_session(s, AUDIT_SESSION_HIBERNATE, 1, 0, 0, "client",
		    "it is busy", NULL);
		reply_error(c, id, "session_busy", NULL, "the session can be "
		    "hibernated only when it is idle");
		return;
	}
	if (audit_down) {
		if (c != NULL)
			reply_error(c, id, "audit_unavailable", NULL, "audit "
			    "log unavailable: the session is not hibernated");
		sweep_failed(s);
		return;
	}
	s->hib_reason = c != NULL ? "client" : s->sweep ? sweep.reason :
	    s->kept ? "connection closed" : "hibernate-after";
	worker_wake(s->worker);
	if (hib_snapshot_send(s) == -1) {
		s->snap_t0 = now_us();
		s->hib_client = c;
		s->hib_req = id;
		hibernate_failed(s, "snapshot_failed", strerror(errno));
		return;
	}
	evtimer_del(&s->ev_idle);
	s->state = S_SAVING;
	s->hib_client = c;
	s->hib_req = c != NULL ? id : 0;
	evtimer_add(&s->ev_hib, &tv);
	s->hib_timer = 1;
}

/* IMSG_W_SNAPSHOT_DONE: its state is in our memfd, or it says why not. */
void
core_snapshot_done(struct worker *w, const struct msg_snap_done *m)
{
	struct session	*s = w->session;
	char		 why[SNAP_NOTE_MAX + 64];

	w->chan.state = WS_IDLE;
	evtimer_del(&s->ev_hib);
	s->hib_timer = 0;
	log_debug("session %s: the worker wrote %llu bytes in %llu us", s->id,
	    (unsigned long long)m->bytes,
	    (unsigned long long)(now_us() - s->snap_t0));
	if (m->status == WSNAP_OK && m->bytes > conf->max_snapshot) {
		worker_fails(w, LOST_PROTOCOL, "it wrote a state of %llu bytes, "
		    "over the %llu it was allowed", (unsigned long long)m->bytes,
		    (unsigned long long)conf->max_snapshot);
		return;
	}
	if (m->status != WSNAP_OK) {
		s->state = S_IDLE;
		if (m->status == WSNAP_TOO_LARGE && m->note.len == 0)
			snprintf(why, sizeof(why), "its state is over "
			    "snapshot-size (%llu bytes)",
			    (unsigned long long)conf->max_snapshot);
		else if (m->status == WSNAP_TOO_LARGE)
			snprintf(why, sizeof(why), "its state is too large "
			    "(the worker says: %.*s)", (int)m->note.len,
			    m->note.p);
		else
			snprintf(why, sizeof(why), "its state could not be "
			    "written%s%.*s", m->note.len > 0 ? ": " : "",
			    (int)m->note.len, m->note.p);
		hibernate_failed(s, m->status == WSNAP_TOO_LARGE ?
		    "snapshot_too_large" : "snapshot_failed", why);
		worker_rest(w, NULL);
		session_saved_idle(s);
		return;
	}
	if (s->fork_saving) {
		worker_rest(w, NULL);
		fork_saved(s, m->bytes);
		return;
	}
	s->snap_stored = 1;	/* may be on disk from now: deleted at close */
	hib_store(s, m->bytes);
	worker_rest(w, NULL);
}

/* IMSG_SNAP_STORED: on disk; the worker and its capacity go. */
void
core_snap_stored(const struct snap_result *res)
{
	struct session	*s;
	cJSON		*r;
	char		 bytes[24];

	if ((s = hib_answered(res->token)) == NULL)
		return;
	if (s->state == S_HIBERNATED && s->create_req != 0) {
		fork_stored(s, res);
		return;
	}
	if (s->state != S_SAVING)
		return;
	log_debug("session %s: %llu bytes stored in %llu us, %llu us in all",
	    s->id, (unsigned long long)res->bytes,
	    (unsigned long long)res->elapsed_us,
	    (unsigned long long)(now_us() - s->snap_t0));
	if (s->worker != NULL)
		worker_kill(s->worker, "hibernated");
	s->state = S_HIBERNATED;
	/* A job that came meanwhile wakes it now, in its capacity. */
	if (s->job == NULL) {
		policy_capacity_release(s->memory);
		s->unheld = 1;
	}
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)res->bytes);
	audit_session(s, AUDIT_SESSION_HIBERNATE, 0, now_us() - s->snap_t0, 0,
	    s->hib_reason, NULL, bytes);
	if (s->hib_req != 0) {
		if ((r = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "session", s->id);
		cJSON_AddBoolToObject(r, "hibernated", 1);
		cJSON_AddNumberToObject(r, "bytes", (double)res->bytes);
		cJSON_AddNumberToObject(r, "ms",
		    (now_us() - s->snap_t0) / 1000.0);
		reply_ok(s->hib_client, s->hib_req, r);
		s->hib_req = 0;
	}
	sweep_hibernated(s);
	if (s->job != NULL)
		session_resume(s);
	else
		spare_refill();		/* the capacity it leaves */
}

/* A save ended and the session is idle: a job that waited starts. */
static void
session_saved_idle(struct session *s)
{
	if (s->job != NULL)
		job_start(s->job);
	else
		core_session_idle_clock(s);
}

/* A job came for a hibernated session: it needs its capacity back. */
static int
session_resume_admit(struct client *c, uint64_t id, struct session *s)
{
	if (s->state != S_HIBERNATED || !s->unheld)
		return (0);
	if (policy_capacity_take(c, id, s->memory) == -1)
		return (-1);
	s->unheld = 0;
	return (0);
}

/* Its state from the broker and a worker, at once; then the restore. */
static void
session_resume(struct session *s)
{
	s->state = S_RESUMING;
	hib_load(s);
	s->worker = session_take_worker(s);
}

/* Both are here: the worker reads the state. */
static void
session_resume_go(struct session *s)
{
	if (!s->resume_loaded || !s->resume_worker || s->worker == NULL)
		return;
	log_debug("session %s: its worker and state ready %llu us after the "
	    "job came", s->id, (unsigned long long)(now_us() - s->snap_t0));
	if (hib_restore_send(s) == -1)
		worker_fails(s->worker, LOST_CHANNEL, "its state could not be "
		    "sent");
}

/*
 * A resume that did not happen: the job that waited fails with code and
 * why.  If keep, the state is still on disk and the session hibernated
 * again (the next request tries again); if not, it is gone and the
 * session goes on with a fresh worker.
 */
static void
resume_failed(struct session *s, int keep, const char *code, const char *why)
{
	audit_session(s, AUDIT_SESSION_RESUME, 1, now_us() - s->snap_t0, 0,
	    NULL, why, NULL);
	if (s->snap_fd != -1)
		close(s->snap_fd);
	s->snap_fd = -1;
	s->resume_loaded = s->resume_worker = 0;
	if (s->job != NULL)
		job_fail(s->job, EXEC_ERROR, code, NULL, "the session's state "
		    "could not be restored: %s; %s", why, keep ? "it stays "
		    "hibernated and the next request tries again" : "the "
		    "session was restarted and its state is gone");
	if (keep) {
		if (s->worker != NULL)
			worker_kill(s->worker, "its resume failed");
		s->state = S_HIBERNATED;
		policy_capacity_release(s->memory);
		s->unheld = 1;
		spare_refill();
		return;
	}
	hib_delete(s);
	s->state = S_STARTING;
	if (s->worker == NULL)
		session_respawn(s, "its state could not be restored");
	else if (s->worker->attached && s->worker->chan.state == WS_IDLE)
		session_up(s);
}

/* IMSG_SNAP_LOADED: the checked state, in a sealed memfd. */
void
core_snap_loaded(const struct snap_result *res, int fd)
{
	struct session	*s;

	if ((s = hib_answered(res->token)) == NULL ||
	    s->state != S_RESUMING) {
		close(fd);
		return;
	}
	log_debug("session %s: %llu bytes loaded in %llu us, %llu us after "
	    "the job came", s->id, (unsigned long long)res->bytes,
	    (unsigned long long)res->elapsed_us,
	    (unsigned long long)(now_us() - s->snap_t0));
	s->snap_fd = fd;
	s->snap_bytes = res->bytes;
	s->resume_loaded = 1;
	session_resume_go(s);
}

/* IMSG_SNAP_FAILED: a store or a load the broker could not do. */
void
core_snap_failed(const struct snap_result *res)
{
	struct session	*s;
	char		 why[256];

	if ((s = hib_answered(res->token)) == NULL)
		return;
	hib_error_str(res, why, sizeof(why));
	if (s->state == S_HIBERNATED && s->create_req != 0)
		fork_failed(s, hib_error_code(res->status), why);
	else if (s->state == S_SAVING) {
		s->state = S_IDLE;
		hibernate_failed(s, hib_error_code(res->status), why);
		session_saved_idle(s);
	} else if (s->state == S_RESUMING)
		resume_failed(s, res->status == SNAP_IO,
		    hib_error_code(res->status), why);
}

/* IMSG_W_RESTORED: the worker took on its state, or says why not. */
void
core_restored(struct worker *w, const struct msg_snap_done *m)
{
	struct session	*s = w->session;
	char		 bytes[24], why[SNAP_NOTE_MAX + 64];

	w->chan.state = WS_IDLE;
	if (m->status != WSNAP_OK) {
		snprintf(why, sizeof(why), "the worker could not read it%s%.*s",
		    m->note.len > 0 ? ": " : "", (int)m->note.len, m->note.p);
		worker_kill(w, "its state could not be restored");
		resume_failed(s, 0, "resume_failed", why);
		return;
	}
	s->resume_us = now_us() - s->snap_t0;
	log_debug("session %s: restored in %llu us after the job came", s->id,
	    (unsigned long long)s->resume_us);
	free(s->resume_note);
	if ((s->resume_note = strndup(m->note.p, m->note.len)) == NULL)
		fatal("%s", __func__);
	s->resumed = 1;
	snprintf(bytes, sizeof(bytes), "%llu",
	    (unsigned long long)s->snap_bytes);
	audit_session(s, AUDIT_SESSION_RESUME, 0, s->resume_us, 0,
	    s->resume_note, NULL, bytes);
	hib_delete(s);
	s->resume_loaded = s->resume_worker = 0;
	session_up(s);
}

/*
 * The worker went while the session hibernated or resumed.  1: handled
 * here (session_lost() does no more).
 */
static int
session_hib_lost(struct session *s, const char *cause)
{
	char	why[256];

	if (s->state == S_SAVING) {
		if (s->hib_timer)
			evtimer_del(&s->ev_hib);
		s->hib_timer = 0;
		snprintf(why, sizeof(why), "its worker died (%s)", cause);
		s->state = S_IDLE;
		hibernate_failed(s, "worker_died", why);
		return (0);	/* a fresh worker, as for any loss */
	}
	if (s->state != S_RESUMING)
		return (0);
	snprintf(why, sizeof(why), "its worker died (%s)", cause);
	resume_failed(s, 1, "resume_failed", why);
	return (1);
}

/*
 * session.fork (DESIGN.md, "Hibernation"): a new session of src's client,
 * with src's tools and limits, whose state is a copy of src's.  It is born
 * hibernated and resumes at its first job.  An idle src's worker writes
 * its state into a memfd of ours, as for a hibernation, and goes on at
 * once; the broker stores it as the new session's.  A hibernated src's
 * snapshot the broker copies, checked.  Until stored the new session has
 * its create_req (every request on it is refused) and is answered then.
 */
void
core_session_fork(struct client *c, uint64_t id, struct session *src)
{
	struct timeval	 tv = { SNAP_DEADLINE, 0 };
	struct session	*n;

	if (src->create_req != 0 || src->fork_saving ||
	    (src->state != S_HIBERNATED && !session_quiet(src))) {
		fork_refused(src, "it is busy");
		reply_error(c, id, "session_busy", NULL, "a session can be "
		    "forked only when it is idle or hibernated");
		return;
	}
	if (audit_down) {
		reply_error(c, id, "audit_unavailable", NULL, "audit log "
		    "unavailable: the session is not forked");
		return;
	}
	if (core_stopping) {
		reply_error(c, id, "unavailable", NULL, "the daemon is "
		    "stopping: the session is not forked");
		return;
	}
	if (policy_session_admit_asleep(c, src->ident, id) == -1) {
		fork_refused(src, "its owner is at its sessions limit");
		return;
	}
	n = session_alloc_like(src);
	n->ident = src->ident;
	n->client = c;
	n->create_req = id;
	n->unheld = 1;
	n->snap_stored = 1;	/* may be on disk from now: deleted at close */
	n->snap_t0 = now_us();
	TAILQ_INSERT_TAIL(&c->sessions, n, entry);
	evtimer_set(&n->ev_idle, session_idle_timer, n);
	evtimer_set(&n->ev_life, session_life_timer, n);
	evtimer_set(&n->ev_hib, session_hib_timer, n);
	evtimer_set(&n->ev_keep, session_keep_timer, n);
	if (src->state == S_HIBERNATED) {
		hib_copy(n, src);
		return;
	}
	worker_wake(src->worker);
	if (hib_snapshot_send(src) == -1) {
		fork_failed(n, "snapshot_failed", strerror(errno));
		return;
	}
	evtimer_del(&src->ev_idle);
	src->state = S_SAVING;
	src->fork_saving = 1;
	src->fork_child = n;
	n->fork_src = src;
	evtimer_add(&src->ev_hib, &tv);
	src->hib_timer = 1;
}

/*
 * Refused before a new session was made: the record is the source's
 * (the made one's otherwise), from itself.
 */
static void
fork_refused(struct session *src, const char *why)
{
	audit_session(src, AUDIT_SESSION_FORK, 1, 0, 0, src->id, why, NULL);
}

/* s goes, or its save ended: no fork of it or for it points at it. */
static void
fork_unlink(struct session *s)
{
	struct session	*n;

	if (s->fork_src != NULL) {
		s->fork_src->fork_child = NULL;
		s->fork_src = NULL;
	}
	if ((n = s->fork_child) != NULL) {
		s->fork_child = NULL;
		n->fork_src = NULL;
		/* The save goes on; its state is thrown away when written. */
		fork_failed(n, "closed", "the session forked was closed");
	}
}

/* A fork that did not happen: its asker told, the log too; n goes. */
static void
fork_failed(struct session *n, const char *code, const char *why)
{
	audit_session(n, AUDIT_SESSION_FORK, 1, now_us() - n->snap_t0, 0,
	    n->forked_from, why, NULL);
	if (n->create_req != 0)
		reply_error(n->client, n->create_req, code, NULL, "the session "
		    "was not forked: %s", why);
	n->create_req = 0;
	core_session_destroy(n, "its fork failed");
}

/* The source's worker wrote its state: the source goes on at once. */
static void
fork_saved(struct session *src, uint64_t bytes)
{
	struct session	*n = src->fork_child;

	src->fork_saving = 0;
	src->fork_child = NULL;
	src->state = S_IDLE;
	session_saved_idle(src);
	if (n == NULL) {
		close(src->snap_fd);
		src->snap_fd = -1;
		return;
	}
	n->fork_src = NULL;
	hib_store_fork(n, src, bytes);
}

/* IMSG_SNAP_STORED for a new session: it is open, hibernated. */
static void
fork_stored(struct session *n, const struct snap_result *res)
{
	cJSON	*r;
	char	 bytes[24];

	n->snap_bytes = res->bytes;
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)res->bytes);
	session_opened(n);
	audit_session(n, AUDIT_SESSION_FORK, 0, now_us() - n->snap_t0, 0,
	    n->forked_from, NULL, bytes);
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(r, "session", n->id);
	cJSON_AddStringToObject(r, "forked_from", n->forked_from);
	cJSON_AddBoolToObject(r, "hibernated", 1);
	cJSON_AddNumberToObject(r, "bytes", (double)res->bytes);
	cJSON_AddNumberToObject(r, "ms", (now_us() - n->snap_t0) / 1000.0);
	cJSON_AddStringToObject(r, "sandbox", session_sandbox());
	reply_ok(n->client, n->create_req, r);
	n->create_req = 0;
}

/*
 * Named sessions (session.create's "name") outlive their connection:
 * kept, hibernated, on their identity's list, until session.attach by
 * the same identity takes one back or "retention" closes it.  One that
 * cannot be kept as it is (busy, starting, resuming, forking) is closed
 * with the connection.
 */
static int
session_keepable(const struct session *s)
{
	if (s->name[0] == '\0' || s->pool != NULL || s->closing ||
	    s->create_req != 0 || s->restart_req != 0 || s->fork_saving ||
	    s->fork_child != NULL)
		return (0);
	return (session_quiet(s) || s->state == S_HIBERNATED ||
	    s->state == S_SAVING);
}

static void
session_keep(struct session *s)
{
	struct timeval	tv = { conf->retention, 0 };

	audit_session(s, AUDIT_SESSION_DETACH, 0, 0, 0, s->name, NULL, NULL);
	TAILQ_REMOVE(&s->client->sessions, s, entry);
	s->client = NULL;
	/* A hibernation it asked for goes on, told to nobody. */
	s->hib_client = NULL;
	s->hib_req = 0;
	s->kept = 1;
	TAILQ_INSERT_TAIL(&s->ident->kept, s, entry);
	evtimer_del(&s->ev_idle);
	if (conf->retention > 0)
		evtimer_add(&s->ev_keep, &tv);
	if (s->state == S_IDLE)
		core_session_hibernate(NULL, 0, s);
}

/* The identity's session of that name, on a connection or kept. */
static struct session *
session_named(struct identity *i, const char *name)
{
	struct session	*s;

	TAILQ_FOREACH(s, &i->named, name_entry)
		if (strcmp(s->name, name) == 0)
			return (s);
	return (NULL);
}

/* session.attach: a kept session of c's identity, by name or id. */
void
core_session_attach(struct client *c, uint64_t id, cJSON *req)
{
	cJSON		*name = cJSON_GetObjectItemCaseSensitive(req, "name");
	cJSON		*sid = cJSON_GetObjectItemCaseSensitive(req, "session");
	cJSON		*r;
	struct session	*s;

	if (cJSON_IsString(name) == cJSON_IsString(sid)) {
		reply_error(c, id, "bad_request", NULL, "session.attach needs "
		    "a name or a session, not both");
		return;
	}
	if (cJSON_IsString(name))
		s = session_named(c->ident, name->valuestring);
	else {
		TAILQ_FOREACH(s, &c->ident->kept, entry)
			if (strcmp(s->id, sid->valuestring) == 0)
				break;
	}
	if (s != NULL && !s->kept) {
		reply_error(c, id, "session_in_use", NULL, "the session is "
		    "open on another connection");
		return;
	}
	if (s == NULL || s->closing) {
		reply_error(c, id, "no_such_session", NULL, "no such session");
		return;
	}
	TAILQ_REMOVE(&c->ident->kept, s, entry);
	evtimer_del(&s->ev_keep);
	s->kept = 0;
	s->client = c;
	TAILQ_INSERT_TAIL(&c->sessions, s, entry);
	audit_session(s, AUDIT_SESSION_ATTACH, 0, 0, 0, s->name, NULL, NULL);
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(r, "session", s->id);
	cJSON_AddStringToObject(r, "name", s->name);
	cJSON_AddStringToObject(r, "state", session_state_str(s));
	cJSON_AddStringToObject(r, "sandbox", session_sandbox());
	reply_ok(c, id, r);
	core_session_idle_clock(s);
}

/*
 * Adoption (DESIGN.md, "Hibernation"): the sessions a monitor before
 * this one left hibernated, after a daemon restart or that monitor's
 * death.  The broker lists them before this one serves (MB_ADOPT); each
 * is taken on as a kept session of the identity its record names, as
 * the rules let that identity in now, for session.attach by name or id
 * until its retention runs out.  One that cannot be is deleted.
 */

static void	(*adopt_serve)(void);

void
core_adopt_begin(void (*serve)(void))
{
	adopt_serve = serve;
	wire_snap_list();
}

static void
adopt_refused(const struct snap_info *si, const char *why)
{
	struct snap_req	sr;

	log_warnx("session %s: not taken on again: %s; its snapshot is "
	    "deleted", si->session, why);
	audit_adopt_failed(si->session, si->uid, why);
	memset(&sr, 0, sizeof(sr));
	strlcpy(sr.session, si->session, sizeof(sr.session));
	sr.uid = si->uid;
	wire_snap(IMSG_SNAP_DELETE, &sr, NULL, 0, -1);
}

/* IMSG_SNAP_ADOPT: one stored session, its record checked by the broker. */
void
core_session_adopt(const struct snap_info *si, const struct msg_text *rec)
{
	struct peer_cred	 peer;
	struct identity		*ident;
	struct session		*s;
	struct timeval		 tv = { 0, 0 };
	char			 digest[SHA256_HEX_LEN], err[256], bytes[24];
	time_t			 age = time(NULL) - si->stored;

	if ((s = session_from_record(rec->p, rec->len, si->session, &peer,
	    digest, sizeof(digest), err, sizeof(err))) == NULL) {
		adopt_refused(si, err);
		return;
	}
	ident = peer.uid != si->uid ? NULL : policy_identity_adopt(peer.uid,
	    peer.gid, peer.groups, peer.ngroups, digest);
	if (ident == NULL || (s->name[0] != '\0' &&
	    session_named(ident, s->name) != NULL)) {
		session_free(s);
		adopt_refused(si, ident == NULL ? "the rules do not let its "
		    "owner in any more" : "another session has its name");
		return;
	}
	s->ident = ident;
	policy_session_adopted(ident);
	if (s->name[0] != '\0')
		TAILQ_INSERT_TAIL(&ident->named, s, name_entry);
	evtimer_set(&s->ev_idle, session_idle_timer, s);
	evtimer_set(&s->ev_life, session_life_timer, s);
	evtimer_set(&s->ev_hib, session_hib_timer, s);
	evtimer_set(&s->ev_keep, session_keep_timer, s);
	s->opened = 1;		/* its session_open is in the log already */
	s->unheld = 1;
	s->snap_stored = 1;
	s->snap_bytes = si->bytes;
	s->kept = 1;
	TAILQ_INSERT_TAIL(&ident->kept, s, entry);
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)si->bytes);
	audit_session(s, AUDIT_SESSION_ADOPT, 0, 0, 0, s->name, NULL, bytes);
	/* Its retention counts from its store, not from this start. */
	if (conf->retention > 0) {
		if (age < (time_t)conf->retention)
			tv.tv_sec = conf->retention - (age < 0 ? 0 : age);
		evtimer_add(&s->ev_keep, &tv);
	}
}

/* IMSG_SNAP_LISTED: all are in; now the monitor serves. */
void
core_adopt_done(const struct snap_listed *sl)
{
	wire_snap_listed();
	if (sl->count > 0 || sl->refused > 0)
		log_info("%u stored session%s taken on, %u whose record did "
		    "not verify left on disk", sl->count, sl->count == 1 ?
		    "" : "s", sl->refused);
	adopt_serve();
}


static void	sweep_check(void);

static void
sweep_failed(struct session *s)
{
	sweep_finish(s, &sweep.counts.failed);
}

static void
sweep_closed(struct session *s)
{
	sweep_finish(s, &sweep.counts.closed);
}

static void
sweep_hibernated(struct session *s)
{
	sweep_finish(s, &sweep.counts.hibernated);
}

static void
sweep_check(void)
{
	if (!sweep.active || sweep.adding || sweep.pending > 0)
		return;
	sweep.active = 0;
	sweep.done(&sweep.counts, sweep.arg);
}

/* s's turn in the sweep ended, counted in *count. */
static void
sweep_finish(struct session *s, uint32_t *count)
{
	if (!s->sweep)
		return;
	s->sweep = 0;
	sweep.pending--;
	(*count)++;
	sweep_check();
}

/* -1 if one is under way. */
int
core_sweep_begin(const char *reason, void (*done)(const struct sweep_counts *,
    void *), void *arg)
{
	if (sweep.active)
		return (-1);
	memset(&sweep, 0, sizeof(sweep));
	sweep.active = sweep.adding = 1;
	sweep.reason = reason;
	sweep.done = done;
	sweep.arg = arg;
	return (0);
}

void
core_sweep_add(struct session *s)
{
	if (!sweep.active || s->sweep || s->closing || s->pool != NULL)
		return;
	/* A fork's new session is hibernated from its birth. */
	if (s->state == S_HIBERNATED) {
		sweep.counts.asleep++;
		return;
	}
	/* One whose worker cannot start would never be idle. */
	if ((s->state == S_STARTING && s->worker == NULL) || audit_down) {
		sweep.counts.failed++;
		return;
	}
	s->sweep = 1;
	sweep.pending++;
	if (session_quiet(s))
		core_session_hibernate(NULL, 0, s);
}

void
core_sweep_end(void)
{
	sweep.adding = 0;
	sweep_check();
}

/* hibernate-on-stop: nothing new starts; what is under way ends. */
void
core_stop_begin(void)
{
	core_stopping = 1;
}
