/*
 * Where a connection's messages end (monitor/msgends.c), against a plain
 * list of every end.  The input is a script of a stream: whole messages
 * queued, bytes of a message still being composed, bytes written.  At
 * every step the cut a drop would make is the one the list gives: where
 * the stream is written to if that is a message's end (or its start),
 * else the end of the message being written, else none (that message was
 * never finished); and the ring never holds an end already written.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "monitor.h"

#define ENDS_MAX	4096

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return (0);
}

/* The cut the list of every end gives; -1 for none. */
static int
expected_cut(const uint64_t *ends, size_t n, uint64_t written,
    uint64_t *cut)
{
	size_t	i;

	if (written == 0) {
		*cut = 0;
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (ends[i] == written) {
			*cut = written;
			return (0);
		}
		if (ends[i] > written) {
			*cut = ends[i];
			return (0);
		}
	}
	return (-1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgends	 m;
	uint64_t	 ends[ENDS_MAX], queued = 0, written = 0, got, want;
	size_t		 n = 0, i, held = 0;
	int		 r1, r2;

	memset(&m, 0, sizeof(m));
	for (i = 0; i + 1 < size && n < ENDS_MAX; i += 2) {
		switch (data[i] % 3) {
		case 0:		/* a whole message, or a composed one's end */
			queued += data[i + 1] + 1;
			ends[n++] = queued;
			held += msgends_push(&m, queued, written);
			break;
		case 1:		/* bytes of a message being composed */
			queued += data[i + 1] + 1;
			break;
		case 2:		/* the socket takes some */
			written += (uint64_t)data[i + 1] * 7;
			if (written > queued)
				written = queued;
			msgends_written(&m, written);
			break;
		}
		r1 = msgends_cut(&m, written, &got);
		r2 = expected_cut(ends, n, written, &want);
		if (r1 != r2 || (r1 == 0 && got != want))
			abort();
		if (m.n > 0 && m.end[m.head] <= written)
			abort();
		if (held != m.cap * sizeof(*m.end))
			abort();
	}
	if (msgends_clear(&m) != held)
		abort();
	return (0);
}
