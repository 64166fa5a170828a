/*
 * The worker's decoders of what the monitor sends it (worker/tools.c):
 * the tool definitions of IMSG_W_SETUP and the answers of
 * IMSG_W_TOOL_RESULT.  The monitor checks a client's tool specifications
 * (monitor/tool.c, tools_parse) and the worker defines in R what the
 * monitor accepted, so the two are fuzzed together: every specification
 * the monitor accepts must define tools in the worker (a worker that
 * refused them would die: fatalx).  Then the first tool is called from
 * R and answered with the rest of the input, as a value or an error:
 * either comes back to R as a value or an R error, never a crash.
 *
 * Input: the tools JSON, a NUL, a byte saying whether the answer is an
 * error, and the answer's text.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "worker.h"
#include "../../monitor/monitor.h"
#include "fuzz.h"

static uint32_t		 sent_call;	/* the worker's last tool call */
static const uint8_t	*answer;
static size_t		 answer_len;
static int		 answer_error, answered;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (setenv("R_HOME", SECURER_R_HOME, 0) == -1)
		err(1, "setenv");
	rembed_init();
	return (0);
}

static void
define(void *arg)
{
	tools_setup(arg);
}

static SEXP
call_body(void *arg)
{
	return (Rf_eval(arg, R_GlobalEnv));
}

static SEXP
call_failed(SEXP cond, void *arg)
{
	return (R_NilValue);
}

/* first(a = 1, b = 1, ...), its error caught. */
static void
call_tool(void *arg)
{
	struct tool	*t = arg;
	SEXP		 call, a;
	size_t		 i;

	call = PROTECT(Rf_allocVector(LANGSXP, t->nargs + 1));
	SETCAR(call, Rf_install(t->name));
	for (i = 0, a = CDR(call); i < t->nargs; i++, a = CDR(a)) {
		SETCAR(a, Rf_ScalarReal(1));
		SET_TAG(a, Rf_install(t->args[i].name));
	}
	R_tryCatchError(call_body, call, call_failed, NULL);
	UNPROTECT(1);
}

static void
undefine(void *arg)
{
	SEXP	call;

	call = PROTECT(Rf_lang2(Rf_install("detach"),
	    Rf_mkString("tools:securer")));
	R_tryCatchError(call_body, call, call_failed, NULL);
	UNPROTECT(1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nul;
	struct tool	*tools;
	struct imsg	 imsg;
	cJSON		*spec;
	char		*setup, e[256];
	size_t		 n;

	fuzz_begin();
	if ((nul = memchr(data, '\0', size)) == NULL || size - (nul - data) < 2)
		return (0);
	answer_error = nul[1] & 1;
	answer = nul + 2;
	answer_len = size - (nul - data) - 2;
	answered = 0;
	if ((spec = cJSON_ParseWithLength((const char *)data,
	    nul - data)) == NULL)
		return (0);
	if (tools_parse(cJSON_GetObjectItemCaseSensitive(spec, "tools"),
	    &tools, &n, &setup, e, sizeof(e)) == -1) {
		cJSON_Delete(spec);
		return (0);
	}
	cJSON_Delete(spec);

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = IMSG_W_SETUP;
	imsg.hdr.len = IMSG_HEADER_SIZE + strlen(setup);
	imsg.data = setup;
	imsg.fd = -1;
	if (!R_ToplevelExec(define, &imsg))
		abort();
	if (n > 0 && !R_ToplevelExec(call_tool, &tools[0]))
		abort();
	if (n > 0 && !answered)
		abort();	/* the tool never asked */
	R_ToplevelExec(undefine, NULL);
	free(setup);
	tools_free(tools, n);
	fuzz_end();
	return (0);
}

/* The channel: a tool call goes out, its answer is the input's. */
void
chan_send(uint32_t type, uint32_t id, const struct iovec *iov, int iovcnt)
{
	if (type != IMSG_W_TOOL_CALL)
		abort();
	sent_call = id;
}

int
chan_recv(struct imsg *imsg)
{
	struct w_tool_result	 tr;
	unsigned char		*p;

	if (answered++)
		abort();	/* one answer per call */
	tr.is_error = answer_error;
	tr.len = answer_len;
	/* Freed by imsg_free(): an ibuf of exactly the message. */
	memset(imsg, 0, sizeof(*imsg));
	if ((imsg->buf = ibuf_open(IMSG_HEADER_SIZE + sizeof(tr) +
	    answer_len)) == NULL)
		err(1, "ibuf_open");
	p = imsg->buf->buf;
	imsg->hdr.type = IMSG_W_TOOL_RESULT;
	imsg->hdr.len = IMSG_HEADER_SIZE + sizeof(tr) + answer_len;
	imsg->hdr.peerid = sent_call;
	memcpy(p + IMSG_HEADER_SIZE, &tr, sizeof(tr));
	memcpy(p + IMSG_HEADER_SIZE + sizeof(tr), answer, answer_len);
	imsg->buf->wpos = imsg->hdr.len;
	imsg->data = p + IMSG_HEADER_SIZE;
	imsg->fd = -1;
	return (1);
}

/* As worker/worker.c's. */
char *
w_text(const char *s, size_t len, size_t max, size_t *outlen)
{
	char	*t;
	size_t	 n;

	if ((t = utf8_sanitize(s, len, &n)) == NULL)
		err(1, "utf8_sanitize");
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
			n--;
		t[n] = '\0';
	}
	*outlen = n;
	return (t);
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

/* What monitor/tool.c refers to beside tools_parse: never reached. */
uint32_t
audit_session(struct session *s, enum audit_type t, uint32_t st,
    uint64_t d, uint32_t x, const char *a, const char *b, const char *c)
{
	abort();
}

int
exec_texts(struct imsg *imsg, size_t h, const uint32_t *l, int n,
    const char **t)
{
	abort();
}

cJSON *
json_raw_value(const char *p, size_t n)
{
	abort();
}

int
policy_tool_call(struct identity *i, double *r)
{
	abort();
}

void
metrics_tool_call(struct exec *e, enum tool_outcome o)
{
	abort();
}

void
reply_error(struct client *c, uint64_t id, const char *code, cJSON *x,
    const char *fmt, ...)
{
	abort();
}

void
reply_event(struct client *c, uint64_t id, const char *ev, cJSON *x)
{
	abort();
}

char *
sanitize_error(const char *p, size_t n)
{
	abort();
}

struct session *
session_find(struct client *c, cJSON *req, uint64_t id)
{
	abort();
}

int
worker_send(struct worker *w, uint32_t t, uint32_t id,
    const struct iovec *iov, int n)
{
	abort();
}

void
worker_violation(struct worker *w, const char *what)
{
	abort();
}
