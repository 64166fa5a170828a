/*
 * Where the messages a connection has queued end, as offsets into all
 * it was ever sent, so that a connection dropped with a typed error can
 * be cut at a message's end and the error be the next whole line: its
 * client never reads half a message and then the error.  A reply and
 * the frame after it are one message.
 *
 * Only ends not yet written are kept, oldest first, in a ring that
 * doubles when full; what the ring takes is the caller's to charge to
 * the connection's budget (msgends_push returns it).
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "monitor.h"

#define MSGENDS_MIN	16

/* Slot i, counted from the oldest end kept. */
static uint64_t *
msgends_at(struct msgends *m, size_t i)
{
	return (&m->end[(m->head + i) % m->cap]);
}

/* Twice the room, oldest first again; the bytes it grew by. */
static size_t
msgends_grow(struct msgends *m)
{
	uint64_t	*end;
	size_t		 cap, i;

	cap = m->cap == 0 ? MSGENDS_MIN : m->cap * 2;
	if ((end = reallocarray(NULL, cap, sizeof(*end))) == NULL)
		fatal("%s", __func__);
	for (i = 0; i < m->n; i++)
		end[i] = *msgends_at(m, i);
	free(m->end);
	m->end = end;
	m->head = 0;
	cap -= m->cap;
	m->cap += cap;
	return (cap * sizeof(*end));
}

/*
 * A message ends at offset end, and written bytes of the stream are
 * written: one already written is a boundary passed; the rest is kept.
 * Returns the bytes the record grew by, for the budget.
 */
size_t
msgends_push(struct msgends *m, uint64_t end, uint64_t written)
{
	size_t	grown = 0;

	if (end <= written) {
		m->passed = end;
		return (0);
	}
	if (m->n == m->cap)
		grown = msgends_grow(m);
	*msgends_at(m, m->n) = end;
	m->n++;
	return (grown);
}

/* The stream is written up to written: the ends up to it are passed. */
void
msgends_written(struct msgends *m, uint64_t written)
{
	while (m->n > 0 && m->end[m->head] <= written) {
		m->passed = m->end[m->head];
		m->head = (m->head + 1) % m->cap;
		m->n--;
	}
}

/*
 * Where to cut a stream written up to written: there if it is at a
 * message's end, else at the end of the message being written.  -1:
 * that message was never finished (it was cut while it was queued).
 */
int
msgends_cut(const struct msgends *m, uint64_t written, uint64_t *cut)
{
	if (m->passed == written) {
		*cut = written;
		return (0);
	}
	if (m->n == 0)
		return (-1);
	*cut = m->end[m->head];
	return (0);
}

/* The bytes it holds, given back; it is empty and may be used again. */
size_t
msgends_clear(struct msgends *m)
{
	size_t	held = m->cap * sizeof(*m->end);

	free(m->end);
	m->end = NULL;
	m->cap = m->n = m->head = 0;
	return (held);
}
