/*
 * The R value decoder (rvalue/decode.c): JSON text from a client, as a
 * tool's result, to an R value.  Every input either fails with a reason
 * or gives a value; a value is encoded back (rvalue/encode.c), and that
 * text must decode and encode to itself: the codec round-trips exactly
 * what it accepted.
 *
 * R is embedded once, as the worker does (rembed_init); each input runs
 * under R_ToplevelExec so that no R error can unwind past it.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"
#include "fuzz.h"

#define RVALUE_FUZZ_MAX	(4U * 1024 * 1024)	/* as the worker sends */

struct job {
	const char	*json;
	size_t		 len;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (setenv("R_HOME", SECURER_R_HOME, 0) == -1)
		err(1, "setenv");
	rembed_init();
	return (0);
}

static void
round_trip(void *arg)
{
	struct job	*j = arg;
	char		 e[256], *t1 = NULL, *t2 = NULL;
	size_t		 n1, n2;
	SEXP		 x, y;

	if ((x = rvalue_decode(j->json, j->len, e, sizeof(e))) == NULL) {
		if (e[0] == '\0')
			abort();	/* a failure says why */
		return;
	}
	PROTECT(x);
	if (rvalue_encode(x, RVALUE_FUZZ_MAX, &t1, &n1, e, sizeof(e)) == -1) {
		/* Decoded values are all encodable, within the bound. */
		if (strncmp(e, "too large", 9) != 0) {
			fprintf(stderr, "decoded but not encodable: %s\n", e);
			abort();
		}
		UNPROTECT(1);
		return;
	}
	if ((y = rvalue_decode(t1, n1, e, sizeof(e))) == NULL) {
		fprintf(stderr, "encoded %.*s does not decode: %s\n",
		    (int)n1, t1, e);
		abort();
	}
	PROTECT(y);
	if (rvalue_encode(y, RVALUE_FUZZ_MAX, &t2, &n2, e, sizeof(e)) == -1 ||
	    n1 != n2 || memcmp(t1, t2, n1) != 0) {
		fprintf(stderr, "not a fixed point:\n%.*s\n%.*s\n",
		    (int)n1, t1, (int)(t2 ? n2 : 0), t2 ? t2 : "");
		abort();
	}
	free(t1);
	free(t2);
	UNPROTECT(2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job	 j;
	char		*copy;

	fuzz_begin();
	/* An exact copy: a read past the text is seen by ASan. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		err(1, "malloc");
	memcpy(copy, data, size);
	j.json = copy;
	j.len = size;
	if (!R_ToplevelExec(round_trip, &j))
		abort();	/* an R error escaped the decoder */
	free(copy);
	fuzz_end();
	return (0);
}

/* What rembed.o refers to and a decoder never calls. */
void
chan_send(uint32_t type, uint32_t id, const struct iovec *iov, int iovcnt)
{
}

char *
w_text(const char *s, size_t len, size_t max, size_t *outlen)
{
	abort();
}

void
worker_exit(int status)
{
	abort();
}

SEXP
eval_result_call(SEXP a, SEXP b)
{
	abort();
}

SEXP
eval_error_call(SEXP a, SEXP b)
{
	abort();
}

SEXP
eval_stream_call(SEXP a, SEXP b)
{
	abort();
}

SEXP
tools_call(SEXP a, SEXP b)
{
	abort();
}
