/*
 * result-memory: what the monitor holds in flight for all sessions, the
 * values being received (exec.c), the frames not yet read by their
 * clients (frame.c) and the file chunks on their way (fileop.c),
 * counted here so that each checks the others before it grows.
 */

#include <sys/types.h>

#include "log.h"
#include "monitor.h"

static uint64_t	held[HELD_KINDS];

/*
 * n bytes more (or fewer, n < 0) of kind k.  Letting go of more than is
 * held is a bug here; said, and the count kept at 0 rather than wrapped
 * (which would refuse every value and chunk from then on).
 */
void
held_charge(enum held_kind k, int64_t n)
{
	if (n < 0 && (uint64_t)-n > held[k]) {
		log_warnx("%s: %lld bytes let go, %llu held", __func__,
		    (long long)n, (unsigned long long)held[k]);
		held[k] = 0;
		return;
	}
	held[k] += n;
}

uint64_t
held_total(void)
{
	return (held[HELD_VALUES] + held[HELD_FILES] + frame_held());
}

/* Whether n bytes more fit within result-memory with all held now. */
int
held_fits(uint64_t n)
{
	uint64_t	all = held_total();

	return (all <= conf->max_result_memory &&
	    n <= conf->max_result_memory - all);
}
