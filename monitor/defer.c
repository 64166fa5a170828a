/*
 * Deferred work: what must not happen under the caller that noticed it.
 * A worker that broke the protocol, a client gone, a deadline passed, a
 * send that could not go: each is queued here and handled at the end of
 * the loop turn, after every event the turn delivered, in the order it
 * was noticed, by the owner of the object.  Objects done with are
 * unlinked at once and queued here to be freed, so a pointer a caller
 * holds stays good until the turn is over.
 *
 * The end of the turn: one event made active when the first item is
 * queued; libevent runs it after the events already active, and what it
 * queues meanwhile is run in the same pass.
 */

#include <sys/queue.h>

#include <event.h>

#include "monitor.h"

static TAILQ_HEAD(, deferred)	queue = TAILQ_HEAD_INITIALIZER(queue);
static struct event		ev_run;
static int			ready;

static void
defer_run(int fd, short event, void *arg)
{
	struct deferred	*d;

	while ((d = TAILQ_FIRST(&queue)) != NULL) {
		TAILQ_REMOVE(&queue, d, entry);
		d->queued = 0;
		d->fn(d->arg);
	}
}

/* fn(arg) at the end of this turn; once, however often it is asked. */
void
defer(struct deferred *d, void (*fn)(void *), void *arg)
{
	if (d->queued)
		return;
	if (!ready) {
		event_set(&ev_run, -1, 0, defer_run, NULL);
		ready = 1;
	}
	d->fn = fn;
	d->arg = arg;
	d->queued = 1;
	TAILQ_INSERT_TAIL(&queue, d, entry);
	event_active(&ev_run, EV_TIMEOUT, 1);
}

void
defer_cancel(struct deferred *d)
{
	if (!d->queued)
		return;
	TAILQ_REMOVE(&queue, d, entry);
	d->queued = 0;
}
