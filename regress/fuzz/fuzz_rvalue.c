/*
 * The R value decoder (rvalue/decode.c): JSON text from a client, as a
 * tool's result, to an R value.  Every input either fails with a reason
 * or gives a value; a value is encoded back (rvalue/encode.c), and that
 * text must decode and encode to itself: the codec round-trips exactly
 * what it accepted.  So must its binary form (vectors as "bin"), its
 * frame form (vectors' bytes in a frame after the JSON, "bin_at"), and
 * the stand-ins (language parsed again, environments, functions as
 * text, S4 slots, strings as bytes) are values like any other.
 *
 * An input with a NUL byte is also JSON (before it) pointing into a
 * frame (the bytes after it), as a hostile daemon could send: it either
 * fails with a reason or decodes to a value that encodes.
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

#include <cjson/cJSON.h>

#include "worker.h"
#include "fuzz.h"

#define RVALUE_FUZZ_MAX	(4U * 1024 * 1024)	/* as the worker sends */
#define UNSUPPORTED	"\"type\":\"unsupported\""

struct job {
	const char	*json;
	size_t		 len;
	const char	*frame;		/* after a NUL, or NULL */
	size_t		 frame_len;
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (setenv("R_HOME", SECURER_R_HOME, 0) == -1)
		err(1, "setenv");
	rembed_init();
	return (0);
}

static void	binary_trip(SEXP, const char *, size_t);
static void	frame_trip(SEXP, const char *, size_t);
static void	frame_input(const struct job *);

static void
round_trip(void *arg)
{
	struct job	*j = arg;
	char		 e[256], *t1 = NULL, *t2 = NULL;
	size_t		 n1, n2;
	SEXP		 x, y;
	int		 ok;

	if (j->frame != NULL)
		frame_input(j);
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
	ok = rvalue_encode(y, RVALUE_FUZZ_MAX, &t2, &n2, e, sizeof(e)) != -1;
	if (ok && (n1 != n2 || memcmp(t1, t2, n1) != 0) &&
	    memmem(t1, n1, UNSUPPORTED, sizeof(UNSUPPORTED) - 1) != NULL) {
		/*
		 * Language whose text does not parse back to it was sent as
		 * a securer_unsupported stand-in, which decodes as the list
		 * it is: from there on the text is a fixed point.
		 */
		UNPROTECT(2);
		free(t1);
		t1 = t2;
		n1 = n2;
		t2 = NULL;
		if ((x = rvalue_decode(t1, n1, e, sizeof(e))) == NULL) {
			fprintf(stderr, "stand-in %.*s does not decode: %s\n",
			    (int)n1, t1, e);
			abort();
		}
		PROTECT(x);
		y = x;
		PROTECT(y);
		ok = rvalue_encode(y, RVALUE_FUZZ_MAX, &t2, &n2, e,
		    sizeof(e)) != -1;
	}
	if (!ok || n1 != n2 || memcmp(t1, t2, n1) != 0) {
		fprintf(stderr, "not a fixed point:\n%.*s\n%.*s\n",
		    (int)n1, t1, (int)(ok ? n2 : 0), ok ? t2 : "");
		abort();
	}
	binary_trip(y, t1, n1);
	frame_trip(y, t1, n1);
	free(t1);
	free(t2);
	UNPROTECT(2);
}

/* y in binary form decodes to what encodes as t1 again. */
static void
binary_trip(SEXP y, const char *t1, size_t n1)
{
	struct rvalue_enc	 o;
	char			 e[256], *tb = NULL, *t3 = NULL;
	size_t			 nb, n3;
	SEXP			 z;

	memset(&o, 0, sizeof(o));
	o.max = RVALUE_FUZZ_MAX;
	o.flags = RVALUE_BINARY;
	if (rvalue_encode_opts(y, &o, &tb, &nb, e, sizeof(e)) == -1) {
		if (!o.too_large) {
			fprintf(stderr, "not encodable in binary: %s\n", e);
			abort();
		}
		return;
	}
	if ((z = rvalue_decode(tb, nb, e, sizeof(e))) == NULL) {
		fprintf(stderr, "binary %.*s does not decode: %s\n",
		    (int)nb, tb, e);
		abort();
	}
	PROTECT(z);
	if (rvalue_encode(z, RVALUE_FUZZ_MAX, &t3, &n3, e, sizeof(e)) == -1 ||
	    n3 != n1 || memcmp(t3, t1, n1) != 0) {
		fprintf(stderr, "binary form differs:\n%.*s\n%.*s\n",
		    (int)n1, t1, (int)(t3 ? n3 : 0), t3 ? t3 : "");
		abort();
	}
	UNPROTECT(1);
	free(tb);
	free(t3);
}

/* y with its vectors in a frame decodes to what encodes as t1 again. */
static void
frame_trip(SEXP y, const char *t1, size_t n1)
{
	struct rvalue_enc	 o;
	char			 e[256], *tf = NULL, *t3 = NULL;
	size_t			 nf, n3;
	cJSON			*root;
	SEXP			 z;

	memset(&o, 0, sizeof(o));
	o.max = RVALUE_FUZZ_MAX;
	o.flags = RVALUE_BINARY | RVALUE_FRAMES;
	if (rvalue_encode_opts(y, &o, &tf, &nf, e, sizeof(e)) == -1) {
		if (!o.too_large) {
			fprintf(stderr, "not encodable in a frame: %s\n", e);
			abort();
		}
		return;
	}
	if ((root = cJSON_ParseWithLength(tf, nf)) == NULL)
		abort();
	if ((z = rvalue_decode_frame(root, o.frame, o.frame_len, e,
	    sizeof(e))) == NULL) {
		fprintf(stderr, "framed %.*s does not decode: %s\n",
		    (int)nf, tf, e);
		abort();
	}
	cJSON_Delete(root);
	PROTECT(z);
	if (rvalue_encode(z, RVALUE_FUZZ_MAX, &t3, &n3, e, sizeof(e)) == -1 ||
	    n3 != n1 || memcmp(t3, t1, n1) != 0) {
		fprintf(stderr, "framed form differs:\n%.*s\n%.*s\n",
		    (int)n1, t1, (int)(t3 ? n3 : 0), t3 ? t3 : "");
		abort();
	}
	UNPROTECT(1);
	free(tf);
	free(o.frame);
	free(t3);
}

/* The input's JSON with the bytes after its NUL as its frame. */
static void
frame_input(const struct job *j)
{
	char	 e[256], *t = NULL;
	size_t	 n;
	cJSON	*root;
	SEXP	 x;

	if ((root = cJSON_ParseWithLength(j->json, j->len)) == NULL)
		return;
	x = rvalue_decode_frame(root, j->frame, j->frame_len, e, sizeof(e));
	cJSON_Delete(root);
	if (x == NULL) {
		if (e[0] == '\0')
			abort();	/* a failure says why */
		return;
	}
	PROTECT(x);
	if (rvalue_encode(x, RVALUE_FUZZ_MAX, &t, &n, e, sizeof(e)) == -1 &&
	    strncmp(e, "too large", 9) != 0) {
		fprintf(stderr, "decoded from a frame but not encodable: %s\n",
		    e);
		abort();
	}
	free(t);
	UNPROTECT(1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job	 j;
	char		*copy, *nul;

	fuzz_begin();
	/* An exact copy: a read past the text is seen by ASan. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		err(1, "malloc");
	memcpy(copy, data, size);
	j.json = copy;
	j.len = size;
	j.frame = NULL;
	j.frame_len = 0;
	if ((nul = memchr(copy, '\0', size)) != NULL) {
		j.len = nul - copy;
		j.frame = nul + 1;
		j.frame_len = size - j.len - 1;
	}
	if (!R_ToplevelExec(round_trip, &j))
		abort();	/* an R error escaped the decoder */
	free(copy);
	fuzz_end();
	return (0);
}

/* What rembed.o refers to and a decoder never calls. */
struct chan *
worker_chan(void)
{
	abort();
}

void
worker_sent(int rc)
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
eval_error_call(SEXP a, SEXP b, SEXP c)
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
