/*
 * Ready workers ("workers ready" in securerd.conf(5)): spares spawned
 * ahead of demand with the default limits, fully sandboxed and waiting
 * for a session's setup, so a session create (or the replacement of a
 * worker that timed out or died) does not wait for a fork.  A session
 * whose limits differ gets a fresh one.
 *
 * How many: conf->ready_min, raised by one for each session that found
 * none (up to conf->ready_max) and lowered by one for each quiet period;
 * never more than the capacity the sessions leave.
 */

#include <sys/param.h>
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"

#define READY_DECAY_SECS	10

static TAILQ_HEAD(spareq, worker) spares = TAILQ_HEAD_INITIALIZER(spares);
static uint32_t			nspares;
static uint32_t			target;
static int			missed;		/* in this period */
static struct event		ev_decay;
static struct event		ev_refill;

static void	spare_decay_arm(void);
static void	spare_refill_soon(void);

/* Spares, ready or on their way. */
uint32_t
spare_count(void)
{
	return (nspares);
}

/* Spares that said they are ready: what a session would get at once. */
uint32_t
spare_ready(void)
{
	struct worker	*w;
	uint32_t	 n = 0;

	TAILQ_FOREACH(w, &spares, spare_entry)
		if (w->attached && w->chan.state == WS_READY)
			n++;
	return (n);
}

/* Spares the capacity leaves room for, besides the sessions' workers. */
static uint32_t
spare_room(void)
{
	uint64_t	mem, used;
	uint32_t	room = target;

	if (conf->cap_workers) {
		used = session_count();
		room = used >= conf->cap_workers ? 0 :
		    MIN(room, conf->cap_workers - used);
	}
	if (conf->cap_memory) {
		mem = conf->default_limits.memory == LIMIT_NONE ?
		    conf->max_limits.memory : conf->default_limits.memory;
		used = policy_memory_used();
		if (mem == 0 || mem == LIMIT_NONE)
			room = 0;
		else
			room = used >= conf->cap_memory ? 0 :
			    MIN(room, (conf->cap_memory - used) / mem);
	}
	return (room);
}

static void
spare_drop(struct worker *w)
{
	TAILQ_REMOVE(&spares, w, spare_entry);
	nspares--;
	w->spare = 0;
}

/* Spawn up to the target, or kill what is over it. */
void
spare_refill(void)
{
	struct worker	*w;
	uint32_t	 room = spare_room();

	while (nspares > room && (w = TAILQ_LAST(&spares, spareq)) != NULL) {
		spare_drop(w);
		worker_kill(w, "ready worker not needed");
	}
	while (nspares < room) {
		w = worker_spawn(NULL, &conf->default_limits);
		w->spare = 1;
		TAILQ_INSERT_TAIL(&spares, w, spare_entry);
		nspares++;
	}
}

static int
spare_usable(const struct worker *w)
{
	return (!w->lost && !w->closed && !w->killed);
}

/* A ready worker for s, if s has the default limits the spares have. */
struct worker *
spare_take(struct session *s)
{
	struct worker	*w;

	if (memcmp(&s->limits, &conf->default_limits,
	    sizeof(s->limits)) != 0)
		return (NULL);
	/*
	 * One that said it is ready, else the oldest still on its way; not
	 * one given up on or gone quiet, which is about to be dropped.
	 */
	TAILQ_FOREACH(w, &spares, spare_entry)
		if (spare_usable(w) && w->attached &&
		    w->chan.state == WS_READY)
			break;
	if (w == NULL)
		TAILQ_FOREACH(w, &spares, spare_entry)
			if (spare_usable(w))
				break;
	if (w == NULL || !w->attached || w->chan.state != WS_READY) {
		missed = 1;
		if (target < conf->ready_max)
			target++;
		spare_decay_arm();
	}
	if (w != NULL) {
		spare_drop(w);
		w->from_spare = 1;
	}
	spare_refill_soon();
	return (w);
}

static void
spare_refill_cb(int fd, short event, void *arg)
{
	spare_refill();
}

/*
 * After what the loop is doing now: the session's setup and reply go out
 * before the broker is asked for the next worker.
 */
static void
spare_refill_soon(void)
{
	struct timeval	tv = { 0, 0 };

	evtimer_del(&ev_refill);
	evtimer_add(&ev_refill, &tv);
}

/*
 * A spare died or could not start: replaced a second later, so a
 * template that cannot spawn is not asked again and again.
 */
void
spare_lost(struct worker *w)
{
	struct timeval	tv = { 1, 0 };

	if (!w->spare)
		return;
	spare_drop(w);
	if (!evtimer_pending(&ev_refill, NULL))
		evtimer_add(&ev_refill, &tv);
}

/* Back towards ready_min, one for each quiet period. */
static void
spare_decay(int fd, short event, void *arg)
{
	if (!missed && target > conf->ready_min)
		target--;
	missed = 0;
	spare_refill();
	spare_decay_arm();
}

static void
spare_decay_arm(void)
{
	struct timeval	tv = { READY_DECAY_SECS, 0 };

	if (target > conf->ready_min && !evtimer_pending(&ev_decay, NULL))
		evtimer_add(&ev_decay, &tv);
}

/* The limits changed (reload): spares of the old ones go. */
void
spare_reload(void)
{
	struct worker	*w, *next;

	if (target < conf->ready_min)
		target = conf->ready_min;
	if (target > conf->ready_max)
		target = conf->ready_max;
	TAILQ_FOREACH_SAFE(w, &spares, spare_entry, next)
		if (memcmp(&w->limits, &conf->default_limits,
		    sizeof(w->limits)) != 0) {
			spare_drop(w);
			worker_kill(w, "limits reloaded");
		}
	spare_refill();
}

void
spare_init(void)
{
	target = conf->ready_min;
	evtimer_set(&ev_decay, spare_decay, NULL);
	evtimer_set(&ev_refill, spare_refill_cb, NULL);
	spare_refill();
}
