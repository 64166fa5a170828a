/*
 * The worker's decoders of what the monitor sends it (worker/tools.c):
 * the tool definitions of IMSG_W_SETUP and the answers of
 * IMSG_W_TOOL_RESULT.  The monitor checks a client's tool specifications
 * (monitor/tools.c, tools_parse) and the worker defines in R what the
 * monitor accepted, so the two are fuzzed together: every specification
 * the monitor accepts must define tools in the worker (a worker that
 * refused them would die: fatalx).  Then the first tool is called from
 * R and answered with the rest of the input, as a value or an error:
 * either comes back to R as a value or an R error, never a crash.
 *
 * The worker's channel is a real one (WORKER_CHANNEL's table, in the
 * worker's state WK_TOOL while it waits): the answer is written into its
 * socket as the monitor frames it, before the call.
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

#include <sys/socket.h>

#include "channels.h"
#include "worker.h"
#include "../../monitor/monitor.h"
#include "fuzz.h"

static struct chan	 wchan;		/* the worker's end */
static struct imsgbuf	 mon;		/* the monitor's end */
static uint32_t		 calls;		/* the worker's call ids so far */

static void	not_here(struct chan *, struct imsg *);

static const struct chan_handler	handlers[] = {
	{ IMSG_W_SETUP, not_here },
	{ IMSG_W_EXEC, not_here },
	{ IMSG_W_TOOL_RESULT, worker_recv_tool_result },
	{ IMSG_W_FILE_PUT, not_here },
	{ IMSG_W_FILE_GET, not_here },
	{ IMSG_W_SNAPSHOT, not_here },
	{ IMSG_W_RESTORE, not_here },
};

static void
not_here(struct chan *ch, struct imsg *imsg)
{
	abort();
}

/* The monitor's end is ours: whatever the table refuses is a bug here. */
static void
lost(struct chan *ch, const char *why)
{
	fprintf(stderr, "worker channel: %s\n", why ? why : "closed");
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	sv[2];

	if (setenv("R_HOME", SECURER_R_HOME, 0) == -1)
		err(1, "setenv");
	rembed_init();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		err(1, "socketpair");
	chan_init(&wchan, &chan_worker, PROC_WORKER, handlers,
	    sizeof(handlers) / sizeof(handlers[0]), sv[0]);
	wchan.lost = lost;
	wchan.state = WK_IDLE;
	if (imsgbuf_init(&mon, sv[1]) == -1 ||
	    imsgbuf_set_maxsize(&mon, WORKER_IMSG_MAX) == -1)
		err(1, "imsgbuf");
	return (0);
}

struct chan *
worker_chan(void)
{
	return (&wchan);
}

void
worker_sent(int rc)
{
	if (rc == -1)
		abort();
}

struct setup {
	const char	*json;
	size_t		 len;
};

static void
define(void *arg)
{
	struct setup	*s = arg;

	tools_setup(s->json, s->len);
}

/* The answer to the next call, framed as the monitor frames it. */
static void
answer(int is_error, const uint8_t *text, size_t len)
{
	struct w_tool_result	tr = { is_error, len };
	struct iovec		iov[2] = { { &tr, sizeof(tr) },
				    { (void *)text, len } };

	if (imsg_composev(&mon, IMSG_W_TOOL_RESULT, calls + 1, 0, -1, iov,
	    2) == -1 || imsgbuf_flush(&mon) == -1)
		err(1, "answer");
}

/* The worker's tool call, and nothing else, must have come. */
static void
drain(void)
{
	struct imsg	imsg;
	int		n = 0;

	if (imsgbuf_read(&mon) == -1)
		err(1, "read");
	while (imsg_get(&mon, &imsg) > 0) {
		if (imsg_get_type(&imsg) != IMSG_W_TOOL_CALL ||
		    imsg_get_id(&imsg) != calls + 1)
			abort();
		imsg_free(&imsg);
		n++;
	}
	if (n != 1)
		abort();	/* the tool never asked */
	calls++;
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
	struct setup	 su;
	cJSON		*spec;
	char		*setup, e[256];
	size_t		 n;

	fuzz_begin();
	if ((nul = memchr(data, '\0', size)) == NULL || size - (nul - data) < 2)
		return (0);
	if ((spec = cJSON_ParseWithLength((const char *)data,
	    nul - data)) == NULL)
		return (0);
	if (tools_parse(cJSON_GetObjectItemCaseSensitive(spec, "tools"),
	    &tools, &n, &setup, e, sizeof(e)) == -1) {
		cJSON_Delete(spec);
		return (0);
	}
	cJSON_Delete(spec);

	su.json = setup;
	su.len = strlen(setup);
	if (!R_ToplevelExec(define, &su))
		abort();
	if (n > 0) {
		answer(nul[1] & 1, nul + 2, size - (nul - data) - 2);
		if (!R_ToplevelExec(call_tool, &tools[0]))
			abort();
		drain();
	}
	R_ToplevelExec(undefine, NULL);
	free(setup);
	tools_free(tools, n);
	fuzz_end();
	return (0);
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

