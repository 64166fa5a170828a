/*
 * The session's tools: R functions that call back into the client.
 *
 * IMSG_W_SETUP defines each tool as a function of that name with those
 * arguments, all required, in an environment attached to the search path
 * as "tools:securer": user code sees them, globalenv does not hold them.
 * The body of each is .Call(securer_tool_call, name, list(a = a, ...))
 * (rembed.c), so R itself forces the arguments and says which one is
 * missing.
 *
 * A call sends IMSG_W_TOOL_CALL and blocks until the monitor answers
 * with the IMSG_W_TOOL_RESULT of the same call id: the channel is in
 * state WK_TOOL, expecting that id, so nothing else may come in
 * meanwhile (channels.h).
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "channels.h"
#include "log.h"
#include "worker.h"

#define ERR_MAX		512

static uint32_t	 call_id;

/* The answer to the call under way, once worker_recv_tool_result has it. */
static struct {
	int		 in;
	int		 is_error;
	char		*text;
	size_t		 len;
} answer;

struct setup_job {
	const char	*json;
	size_t		 len;
};

static void	tools_setup_body(void *);
static void	tools_spec(const cJSON *, SEXP, SEXP, R_xlen_t);
static void	tools_wait(uint32_t);
static SEXP	tools_answer(const char *);
static __attribute__((__noreturn__)) void	tools_raise(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static __attribute__((__noreturn__)) void	tools_error(SEXP);

/*
 * The monitor checked the specifications; a malformed one here is a
 * broken invariant.  R code runs under R_ToplevelExec (see eval.c).
 */
void
tools_setup(const char *json, size_t len)
{
	struct setup_job	job = { json, len };

	if (!R_ToplevelExec(tools_setup_body, &job))
		fatalx("setup: the tools cannot be defined");
}

static void
tools_setup_body(void *arg)
{
	struct setup_job	*job = arg;
	const char		*end = NULL;
	const cJSON		*t;
	cJSON			*root;
	R_xlen_t		 i = 0, n;
	SEXP			 names, args, call;
	int			 err;

	root = cJSON_ParseWithLengthOpts(job->json, job->len, &end, 0);
	if (root == NULL || end != job->json + job->len ||
	    !cJSON_IsArray(root))
		fatalx("setup: the tools are not a JSON array");
	n = cJSON_GetArraySize(root);
	names = PROTECT(Rf_allocVector(STRSXP, n));
	args = PROTECT(Rf_allocVector(VECSXP, n));
	cJSON_ArrayForEach(t, root)
		tools_spec(t, names, args, i++);
	cJSON_Delete(root);

	call = PROTECT(Rf_lang3(rembed_fn(".define_tools"), names, args));
	R_tryEval(call, rembed_env(), &err);
	if (err)
		fatalx("setup: .define_tools failed");
	UNPROTECT(3);
	log_debug("setup: %lld tools", (long long)n);
}

/* {"name": str, "description": str, "args": {"a": type, ...}} */
static void
tools_spec(const cJSON *t, SEXP names, SEXP args, R_xlen_t i)
{
	const cJSON	*name, *a, *arg;
	SEXP		 argv;
	R_xlen_t	 j = 0;

	name = cJSON_GetObjectItemCaseSensitive(t, "name");
	a = cJSON_GetObjectItemCaseSensitive(t, "args");
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
	    !utf8_valid(name->valuestring, strlen(name->valuestring)))
		fatalx("setup: tool %lld has no valid name", (long long)i);
	if (a != NULL && !cJSON_IsObject(a))
		fatalx("setup: tool %s: args not an object",
		    name->valuestring);
	SET_STRING_ELT(names, i, Rf_mkCharCE(name->valuestring, CE_UTF8));
	argv = Rf_allocVector(STRSXP, a != NULL ? cJSON_GetArraySize(a) : 0);
	SET_VECTOR_ELT(args, i, argv);
	if (a == NULL)
		return;
	cJSON_ArrayForEach(arg, a) {
		if (arg->string == NULL || arg->string[0] == '\0' ||
		    !utf8_valid(arg->string, strlen(arg->string)) ||
		    (!cJSON_IsString(arg) && !cJSON_IsNull(arg)))
			fatalx("setup: tool %s: bad argument",
			    name->valuestring);
		SET_STRING_ELT(argv, j++, Rf_mkCharCE(arg->string, CE_UTF8));
	}
}

/*
 * .Call(securer_tool_call, name, args): the tool's value, or an R error
 * with the tool's message and no call, so that conditionMessage() is
 * exactly that message.
 */
SEXP
tools_call(SEXP name, SEXP args)
{
	const char		*tname;
	char			 err[ERR_MAX], *json;
	size_t			 len;

	if (TYPEOF(name) != STRSXP || XLENGTH(name) != 1 ||
	    STRING_ELT(name, 0) == NA_STRING || TYPEOF(args) != VECSXP)
		Rf_error("invalid tool call");
	tname = rvalue_utf8(STRING_ELT(name, 0));
	if (rvalue_encode_args(args, W_VALUE_MAX, &json, &len, err,
	    sizeof(err)) == -1)
		tools_raise("cannot call tool '%s': arguments %s", tname, err);

	out_flush();
	call_id++;
	worker_sent(msg_send_tool_call(worker_chan(), call_id, tname,
	    strlen(tname), json, len));
	free(json);

	tools_wait(call_id);
	return (tools_answer(tname));
}

/* Until the answer to call id is in; the monitor gone, we are done. */
static void
tools_wait(uint32_t id)
{
	struct chan	*ch = worker_chan();

	ch->state = WK_TOOL;
	ch->expect_id = id;
	answer.in = 0;
	while (!answer.in)
		if (chan_dispatch_one(ch) == 0)
			worker_exit(0);
	ch->state = WK_IDLE;
}

/* IMSG_W_TOOL_RESULT: kept for tools_call(), which waits for it. */
void
worker_recv_tool_result(struct chan *ch, struct imsg *imsg)
{
	struct msg_tool_result	m;

	msg_get_tool_result(imsg, &m);
	if ((answer.text = malloc(m.text.len + 1)) == NULL)
		fatal("%s", __func__);
	memcpy(answer.text, m.text.p, m.text.len);
	answer.text[m.text.len] = '\0';
	answer.len = m.text.len;
	answer.is_error = m.is_error;
	answer.in = 1;
}

/* Nothing of ours is left to free when this raises an error. */
static SEXP
tools_answer(const char *tname)
{
	char		 err[ERR_MAX], *msg, *text = answer.text;
	size_t		 len;
	SEXP		 v;

	answer.text = NULL;
	if (answer.is_error) {
		msg = w_text(text, answer.len, W_TEXT_MAX, &len);
		free(text);
		v = PROTECT(Rf_ScalarString(Rf_mkCharLenCE(msg, len,
		    CE_UTF8)));
		free(msg);
		tools_error(v);
	}
	v = rvalue_decode(text, answer.len, err, sizeof(err));
	free(text);
	if (v == NULL)
		tools_raise("invalid value from tool '%s': %s", tname, err);
	return (v);
}

static void
tools_raise(const char *fmt, ...)
{
	char	 msg[ERR_MAX + 128], *t;
	size_t	 len;
	va_list	 ap;
	SEXP	 v;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t = w_text(msg, strlen(msg), sizeof(msg), &len);
	v = PROTECT(Rf_ScalarString(Rf_mkCharLenCE(t, len, CE_UTF8)));
	free(t);
	tools_error(v);
}

/* stop(simpleError(msg)), in R: a condition like any other. */
static void
tools_error(SEXP msg)
{
	SEXP	 call;

	call = PROTECT(Rf_lang2(rembed_fn(".tool_error"), msg));
	Rf_eval(call, rembed_env());
	fatalx("%s: no error raised", __func__);
}
