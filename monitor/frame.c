/*
 * A value's frame (securer-protocol(7) "Values"): the raw bytes of its
 * vectors, which go to the client after the reply's line.  The worker
 * sends them as IMSG_W_FRAME_PARTs; each part's buffer is kept as it
 * was read, never copied, and written to the client from where it is.
 *
 * What frames hold, from their first part until the client has read
 * their last, is counted (frame_held) against result-memory beside the
 * values being received: a client that does not read keeps its frames
 * counted until it is dropped.
 */

#include <sys/queue.h>

#include <stdlib.h>

#include "log.h"
#include "monitor.h"

struct frame {
	TAILQ_HEAD(, ibuf)	 parts;
	size_t			 len;
};

static uint64_t	held;		/* bytes of all frames' parts */

struct frame *
frame_new(void)
{
	struct frame	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		fatal("%s", __func__);
	TAILQ_INIT(&f->parts);
	return (f);
}

/* part, a buffer of its own (consumed), its bytes ibuf_data()..left. */
void
frame_add(struct frame *f, struct ibuf *part)
{
	size_t	n = ibuf_left(part);

	if (n == 0) {
		ibuf_free(part);
		return;
	}
	TAILQ_INSERT_TAIL(&f->parts, part, entry);
	f->len += n;
	held += n;
}

size_t
frame_len(const struct frame *f)
{
	return (f->len);
}

uint64_t
frame_held(void)
{
	return (held);
}

static void
frame_part_done(const void *data, size_t len, void *arg)
{
	struct ibuf	*part = arg;

	held -= ibuf_left(part);
	ibuf_free_plain(part);
}

/* The parts to c, after the line that says so; f is consumed. */
void
frame_send(struct frame *f, struct conn *c)
{
	struct ibuf	*part;

	while ((part = TAILQ_FIRST(&f->parts)) != NULL) {
		TAILQ_REMOVE(&f->parts, part, entry);
		conn_send_ref(c, ibuf_data(part), ibuf_left(part),
		    frame_part_done, part);
	}
	free(f);
}

void
frame_free(struct frame *f)
{
	struct ibuf	*part;

	if (f == NULL)
		return;
	while ((part = TAILQ_FIRST(&f->parts)) != NULL) {
		TAILQ_REMOVE(&f->parts, part, entry);
		frame_part_done(NULL, 0, part);
	}
	free(f);
}
