/*
 * Worker records: one for each worker the monitor asked the broker for,
 * from the spawn request to the broker's report that it is gone (its
 * exit, or that it could not be spawned).  A record holds the worker's
 * channel, whose state (WS_* in channels.h) says what the worker may
 * send now.  Who the worker serves, and what happens when it goes, is
 * the core's (core.c); these functions only keep the records.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"

static TAILQ_HEAD(, worker)	workers = TAILQ_HEAD_INITIALIZER(workers);
static uint32_t			worker_ids;

/* A worker spawned for s, or with no session yet (a spare). */
struct worker *
worker_spawn(struct session *s, const struct worker_limits *limits)
{
	struct worker	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("%s", __func__);
	w->id = ++worker_ids;
	w->session = s;
	w->limits = *limits;
	TAILQ_INSERT_TAIL(&workers, w, entry);
	wire_spawn(w->id, limits);
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

struct worker *
worker_find(uint32_t id)
{
	struct worker	*w;

	TAILQ_FOREACH(w, &workers, entry)
		if (w->id == id)
			return (w);
	return (NULL);
}

/* Its channel came from the broker: the worker may now speak. */
void
worker_attach(struct worker *w, int fd, void (*lost)(struct chan *,
    const char *))
{
	wire_worker_open(&w->chan, fd, w, lost);
	w->attached = 1;
}

/*
 * The session's tools, for the worker to define; before or after it
 * said it is ready.  -1 if the channel is gone (its lost() was told).
 */
int
worker_setup(struct worker *w)
{
	const char	*setup = w->session->setup;

	w->chan.state = w->chan.state == WS_READY ? WS_SETUP : WS_SETUP_EARLY;
	return (msg_send_setup(&w->chan, setup, strlen(setup)));
}

/* It and its session part: neither points at the other any more. */
void
worker_detach(struct worker *w)
{
	if (w->session != NULL && w->session->worker == w)
		w->session->worker = NULL;
	w->session = NULL;
}

/*
 * Have the broker kill the worker; its exit is reported later.  Nothing
 * it says from now on is read.
 */
void
worker_kill(struct worker *w, const char *cause)
{
	if (!w->killed) {
		wire_kill(w->id);
		w->killed = 1;
		strlcpy(w->cause, cause, sizeof(w->cause));
	}
	worker_detach(w);
	if (w->attached)
		chan_stop(&w->chan);
}

/*
 * Its job's client is behind: nothing more it says is read until that
 * client has caught up, so it blocks writing its channel and its code
 * blocks in its output.  Its deadline runs on.
 */
void
worker_hold(struct worker *w)
{
	if (w->held || !w->attached)
		return;
	w->held = 1;
	chan_pause(&w->chan);
}

/* Every held worker whose job's client is no longer behind goes on. */
void
worker_release_held(void)
{
	struct worker	*w;
	struct job	*j;

	TAILQ_FOREACH(w, &workers, entry) {
		if (!w->held)
			continue;
		j = w->session != NULL ? w->session->job : NULL;
		if (j != NULL && j->client != NULL && j->client->behind)
			continue;
		w->held = 0;
		chan_resume(&w->chan);
	}
}

static void
worker_free(void *arg)
{
	free(arg);
}

/* The broker is done with it: the record goes at the end of the turn. */
void
worker_retire(struct worker *w)
{
	if (w->closed)
		evtimer_del(&w->ev_closed);
	worker_detach(w);
	TAILQ_REMOVE(&workers, w, entry);
	if (w->attached)
		chan_close(&w->chan);
	defer_cancel(&w->d_lost);
	defer(&w->d_free, worker_free, w);
}
