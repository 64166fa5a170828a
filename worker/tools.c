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
 * with the IMSG_W_TOOL_RESULT of the same call id.  Nothing else may
 * come in meanwhile.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "worker.h"

#define ERR_MAX		512

static uint32_t	 call_id;

static void	tools_setup_body(void *);
static void	tools_spec(const cJSON *, SEXP, SEXP, R_xlen_t);
static void	tools_wait(struct imsg *, uint32_t, struct w_tool_result *);
static SEXP	tools_answer(struct imsg *, const struct w_tool_result *,
		    const char *);
static __attribute__((__noreturn__)) void	tools_raise(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
static __attribute__((__noreturn__)) void	tools_error(SEXP);

/*
 * The monitor checked the specifications; a malformed one here is a
 * broken invariant.  R code runs under R_ToplevelExec (see eval.c).
 */
void
tools_setup(struct imsg *imsg)
{
	if (!R_ToplevelExec(tools_setup_body, imsg))
		fatalx("setup: the tools cannot be defined");
}

static void
tools_setup_body(void *arg)
{
	struct imsg	*imsg = arg;
	const char	*end = NULL;
	const cJSON	*t;
	cJSON		*root;
	size_t		 len = imsg_get_len(imsg);
	R_xlen_t	 i = 0, n;
	SEXP		 names, args, call;
	int		 err;

	root = cJSON_ParseWithLengthOpts(imsg->data, len, &end, 0);
	if (root == NULL || end != (const char *)imsg->data + len ||
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
	struct w_tool_result	 tr;
	struct w_tool_call	 tc;
	struct iovec		 iov[3];
	struct imsg		 imsg;
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
	memset(&tc, 0, sizeof(tc));
	tc.name_len = strlen(tname);
	tc.args_len = len;
	iov[0].iov_base = &tc;
	iov[0].iov_len = sizeof(tc);
	iov[1].iov_base = (void *)tname;
	iov[1].iov_len = tc.name_len;
	iov[2].iov_base = json;
	iov[2].iov_len = len;
	chan_send(IMSG_W_TOOL_CALL, call_id, iov, 3);
	free(json);

	tools_wait(&imsg, call_id, &tr);
	return (tools_answer(&imsg, &tr, tname));
}

/* The answer to call id, checked; the monitor gone, we are done. */
static void
tools_wait(struct imsg *imsg, uint32_t id, struct w_tool_result *tr)
{
	size_t	 len;

	if (chan_recv(imsg) == 0)
		worker_exit(0);
	if (imsg_get_type(imsg) != IMSG_W_TOOL_RESULT)
		fatalx("message %u during tool call %u",
		    imsg_get_type(imsg), id);
	if (imsg_get_id(imsg) != id)
		fatalx("result of tool call %u during call %u",
		    imsg_get_id(imsg), id);
	len = imsg_get_len(imsg);
	if (len < sizeof(*tr))
		fatalx("tool result of %zu bytes", len);
	memcpy(tr, imsg->data, sizeof(*tr));
	if (len - sizeof(*tr) != tr->len)
		fatalx("tool result of %zu bytes with %u of text", len,
		    tr->len);
}

/* Nothing of ours is left to free when this raises an error. */
static SEXP
tools_answer(struct imsg *imsg, const struct w_tool_result *tr,
    const char *tname)
{
	const char	*text = (const char *)imsg->data + sizeof(*tr);
	char		 err[ERR_MAX], *msg;
	size_t		 len;
	SEXP		 v;

	if (tr->is_error) {
		msg = w_text(text, tr->len, W_TEXT_MAX, &len);
		imsg_free(imsg);
		v = PROTECT(Rf_ScalarString(Rf_mkCharLenCE(msg, len,
		    CE_UTF8)));
		free(msg);
		tools_error(v);
	}
	v = rvalue_decode(text, tr->len, err, sizeof(err));
	imsg_free(imsg);
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
