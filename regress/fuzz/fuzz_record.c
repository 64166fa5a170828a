/*
 * A session's record (monitor/session.c's session_record() and
 * session_from_record()): what a snapshot carries for the monitor
 * after a restart.  The broker hands back only records under its MAC,
 * written by a monitor; the parser must hold against any bytes all the
 * same.  The input is a record, taken on as the broker's IMSG_SNAP_ADOPT
 * would have it (core_session_adopt(), on the monitor of fakemon.c).
 * A session taken on must write a record that is taken on again as the
 * same session (the record it writes then is the same text), and every
 * session must be gone when the input's kept sessions are closed.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakemon.h"
#include "fuzz.h"
#include "monitor.h"
#include "msg.h"
#include "sha256.h"

#define ADOPTED_ID	"00000000000000000000000000000abc"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fm_init();
	return (0);
}

static void
find_adopted(struct identity *i, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &i->kept, entry)
		if (strcmp(s->id, ADOPTED_ID) == 0)
			*(struct session **)arg = s;
}

/* Its record, taken on again, writes the same record. */
static void
round_trip(struct session *s)
{
	struct peer_cred	 peer;
	struct session		*again;
	char			*rec, *rec2, digest[SHA256_HEX_LEN], err[256];
	size_t			 len, len2;

	if ((rec = session_record(s, &len)) == NULL)
		return;		/* too large to store: not kept */
	again = session_from_record(rec, len, s->id, &peer, digest,
	    sizeof(digest), err, sizeof(err));
	if (again == NULL) {
		fprintf(stderr, "a record written is refused: %s\n%s\n", err,
		    rec);
		abort();
	}
	again->ident = s->ident;
	if ((rec2 = session_record(again, &len2)) == NULL ||
	    len2 != len || memcmp(rec, rec2, len) != 0) {
		fprintf(stderr, "a record does not come back:\n%s\n%s\n", rec,
		    rec2 != NULL ? rec2 : "(none)");
		abort();
	}
	if (peer.uid != s->ident->uid || strcmp(again->name, s->name) != 0 ||
	    again->ntools != s->ntools ||
	    memcmp(&again->limits, &s->limits, sizeof(s->limits)) != 0) {
		fprintf(stderr, "a record's session differs\n");
		abort();
	}
	session_free(again);
	free(rec);
	free(rec2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_info	 si;
	struct msg_text		 rec;
	struct session		*s = NULL;

	if (size > SNAP_RECORD_MAX)
		return (0);
	memset(&si, 0, sizeof(si));
	strlcpy(si.session, ADOPTED_ID, sizeof(si.session));
	si.uid = getuid();
	si.record_len = size;
	si.stored = time(NULL);
	si.bytes = 100;
	rec.p = (const char *)data;
	rec.len = size;
	core_session_adopt(&si, &rec);
	fm_pump();
	identity_walk(find_adopted, &s);
	if (s != NULL)
		round_trip(s);
	fm_end();
	return (0);
}
