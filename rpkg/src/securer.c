/*
 * The R package's side of libsecurer: connections and sessions as
 * external pointers, executions (blocking, or started and polled) with
 * the output and tool callbacks calling R functions, and the worker's
 * codec for values both ways.
 *
 * No R error may jump through libsecurer: the callbacks run their R code
 * under R_UnwindProtect (so the caller's condition handlers see their
 * messages and warnings, as they would a tool's in securer 0.2.0), a
 * jump out of them is stopped at the callback, and it is continued only
 * once the libsecurer call has returned.
 */

#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "rvalue.h"
#include "securer.h"

#include <R_ext/Rdynload.h>

#define VALUE_MAX	(64U * 1024 * 1024)

/*
 * A connection, shared by a session and its forks (session.fork makes the
 * new session on its source's connection), closed with the last of them.
 * libsecurer sends nothing else on it while an execution started there
 * runs (running, until polled out).  A session closed meanwhile owes its
 * session.close until then; one closed while its own execution runs is
 * an orphan, its execution waited for at the connection's next use.
 */
struct rconn {
	struct securer		*sc;
	int			 refs;		/* the sessions open in R */
	struct rsess		*running;
	int			 calling;	/* in its execute: callbacks
						   run R code */
	struct securer_session	**owed;
	size_t			 nowed;
};

/* What a session's callbacks need, kept alive by its external pointer. */
struct rsess {
	struct rconn		*conn;
	struct securer_session	*s;
	SEXP			 cb;	/* list(output, tool, unwind token),
					   preserved */
	int			 orphan;	/* closed while running */
	int			 cbfail;	/* a callback jumped: to go on with
					   once libsecurer has returned */
};

struct cbcall {
	struct rsess	*rs;
	const char	*stream, *text, *tool, *args;
	char		**value, **error;
	int		 rc;
};

static SEXP	securer_ns = NULL;
static SEXP	securer_envparent = NULL;

static void	rsess_free(struct rsess *);
static void	conn_free(struct rconn *);
static void	cb_output_body(struct cbcall *);
static void	cb_tool_body(struct cbcall *);

/*
 * An error of the package: securer_abort(message, class) in R, so that
 * it has class securer_error like every other.
 */
static void __attribute__((__noreturn__))
abort_class(const char *class, const char *msg)
{
	SEXP	 call, m, cls;

	if (securer_ns != NULL) {
		m = PROTECT(Rf_mkString(msg));
		cls = PROTECT(Rf_mkString(class));
		call = PROTECT(Rf_lang3(Rf_install("securer_abort"), m, cls));
		Rf_eval(call, securer_ns);
		UNPROTECT(3);
	}
	Rf_error("%s", msg);
}

/* A misuse: class securer_usage. */
static void __attribute__((__noreturn__, __format__(printf, 1, 2)))
pkg_error(const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	abort_class("securer_usage", msg);
}

/* The codec's printed form of what cannot cross: .printed(x). */
static SEXP
printed_form(SEXP x)
{
	SEXP	 call, r;

	call = PROTECT(Rf_lang2(Rf_install(".printed"), R_NilValue));
	SETCADR(call, Rf_lang2(Rf_install("quote"), x));
	r = Rf_eval(call, securer_ns != NULL ? securer_ns : R_GlobalEnv);
	UNPROTECT(1);
	return (r);
}

/* The codec's text of a call or a function: .deparse(x). */
static SEXP
deparsed_form(SEXP x)
{
	SEXP	 call, r;

	call = PROTECT(Rf_lang2(Rf_install(".deparse"), R_NilValue));
	SETCADR(call, Rf_lang2(Rf_install("quote"), x));
	r = Rf_eval(call, securer_ns != NULL ? securer_ns : R_GlobalEnv);
	UNPROTECT(1);
	return (r);
}

static SEXP
mkstr(const char *s)
{
	return (Rf_ScalarString(Rf_mkCharCE(s != NULL ? s : "", CE_UTF8)));
}

static const char *
str_arg(SEXP x, const char *what)
{
	if (TYPEOF(x) != STRSXP || XLENGTH(x) != 1 ||
	    STRING_ELT(x, 0) == NA_STRING)
		pkg_error("%s must be a string", what);
	return (rvalue_utf8(STRING_ELT(x, 0)));
}

static const char *
opt_str(SEXP x)
{
	return (Rf_isNull(x) ? NULL : str_arg(x, "argument"));
}

/* The error of the last call, as list(code, message, json). */
static SEXP
error_of(struct securer *sc)
{
	SEXP	 l, nm;

	l = PROTECT(Rf_allocVector(VECSXP, 3));
	nm = PROTECT(Rf_allocVector(STRSXP, 3));
	SET_VECTOR_ELT(l, 0, mkstr(securer_errname(sc)));
	SET_VECTOR_ELT(l, 1, mkstr(securer_errmsg(sc)));
	if (securer_errjson(sc) != NULL)
		SET_VECTOR_ELT(l, 2, mkstr(securer_errjson(sc)));
	SET_STRING_ELT(nm, 0, Rf_mkChar("code"));
	SET_STRING_ELT(nm, 1, Rf_mkChar("message"));
	SET_STRING_ELT(nm, 2, Rf_mkChar("json"));
	Rf_setAttrib(l, R_NamesSymbol, nm);
	UNPROTECT(2);
	return (l);
}

static struct rsess *
rsess_of(SEXP p)
{
	struct rsess	*rs;

	if (TYPEOF(p) != EXTPTRSXP || (rs = R_ExternalPtrAddr(p)) == NULL)
		pkg_error("the session is closed");
	return (rs);
}

static void
rsess_free(struct rsess *rs)
{
	if (rs->cb != NULL)
		R_ReleaseObject(rs->cb);
	free(rs);
}

/* The connection, and its sessions with it: an orphan's execution too. */
static void
conn_free(struct rconn *c)
{
	securer_close(c->sc);
	if (c->running != NULL && c->running->orphan)
		rsess_free(c->running);
	free(c->owed);
	free(c);
}

/* s's session.close, sent once nothing runs on the connection. */
static void
conn_owe(struct rconn *c, struct securer_session *s)
{
	struct securer_session	**owed;

	/* Out of memory, it stays open until the connection closes. */
	if ((owed = reallocarray(c->owed, c->nowed + 1,
	    sizeof(*owed))) == NULL)
		return;
	c->owed = owed;
	c->owed[c->nowed++] = s;
}

/*
 * An orphan whose execution has ended: its session.close is owed, and
 * the connection goes too if no session is open on it.
 */
static void
orphan_end(struct rsess *rs)
{
	struct rconn	*c = rs->conn;

	if (c->running == rs)
		c->running = NULL;
	if (c->refs == 0)
		conn_free(c);
	else
		conn_owe(c, rs->s);
	rsess_free(rs);
}

/*
 * At a call's start: an orphan's execution is waited for to its end (its
 * callbacks no longer run R code: its tool calls are refused, its output
 * dropped), then the session.close owed are sent.
 */
static void
conn_settle(struct rconn *c)
{
	struct rsess		*o = c->running;
	struct securer_result	 res;
	int			 rv;

	if (o != NULL && o->orphan) {
		/* In slices, so that an interrupt can stop the wait. */
		while ((rv = securer_execute_poll(o->s, 100, &res)) == 1)
			R_CheckUserInterrupt();
		if (rv == 0)
			securer_result_free(&res);
		orphan_end(o);
	}
	if (c->running == NULL)
		while (c->nowed > 0)
			securer_session_close(c->owed[--c->nowed]);
}

/*
 * The connection, settled and free for a request of rs.  An execution a
 * session open in R has under way there, rs's own or a fork's, is not
 * waited for: an error.
 */
static struct securer *
conn_ready(struct rsess *rs)
{
	struct rconn	*c = rs->conn;

	conn_settle(c);
	if (c->running == rs)
		pkg_error("an asynchronous execution is in progress");
	if (c->running != NULL)
		abort_class("securer_session_busy", "Another session on this "
		    "connection (a fork, or the session forked) has an "
		    "execution in progress; wait for it to complete.");
	return (c->sc);
}

/*
 * The session closed in R, by $close() (send: 1) or its finalizer (0: a
 * collection may come in the middle of any call on the connection, so
 * nothing is sent then).  While an execution is under way on the
 * connection no other request may go either: the session.close is owed
 * until it ends, and the session running it is an orphan until then.
 * The last session open closes the connection, which closes what is
 * left, unless a callback of an execution there closed it.
 */
static void
session_end(struct rsess *rs, int send)
{
	struct rconn	*c = rs->conn;

	c->refs--;
	if (c->running == NULL && send)
		securer_session_close(rs->s);
	else if (c->running != rs && c->refs > 0)
		conn_owe(c, rs->s);
	if (c->refs == 0 && !c->calling) {
		conn_free(c);
		rsess_free(rs);
	} else if (c->running == rs) {
		rs->orphan = 1;
		rs->cbfail = 1;
	} else
		rsess_free(rs);
}

static void
rsess_finalize(SEXP p)
{
	struct rsess	*rs;

	if ((rs = R_ExternalPtrAddr(p)) != NULL) {
		R_ClearExternalPtr(p);
		session_end(rs, 0);
	}
}

/*
 * rs as an R object: an external pointer whose protected value is
 * c(session id, sandbox).
 */
static SEXP
rsess_ptr(struct rsess *rs)
{
	SEXP	 p, info;

	info = PROTECT(Rf_allocVector(STRSXP, 2));
	SET_STRING_ELT(info, 0, Rf_mkChar(securer_session_id(rs->s)));
	SET_STRING_ELT(info, 1, Rf_mkChar(securer_session_sandbox(rs->s)));
	p = PROTECT(R_MakeExternalPtr(rs, R_NilValue, info));
	R_RegisterCFinalizerEx(p, rsess_finalize, TRUE);
	UNPROTECT(2);
	return (p);
}

/*
 * Connects (to path, or as libsecurer decides if NULL) and creates a
 * session: an external pointer, or list(code, message, json) on failure.
 */
static SEXP
r_session_new(SEXP path, SEXP tools, SEXP limits, SEXP timeout,
    SEXP maxexec, SEXP strict)
{
	struct securer_session_opts	 o;
	struct rsess			*rs;
	struct rconn			*c;
	SEXP				 err;

	memset(&o, 0, sizeof(o));
	o.tools = opt_str(tools);
	o.limits = opt_str(limits);
	o.timeout = Rf_asReal(timeout);
	o.max_executions = Rf_isNull(maxexec) ? 0 : (long)Rf_asReal(maxexec);
	o.sandbox_strict = Rf_asLogical(strict) == TRUE;
	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->conn = calloc(1, sizeof(*rs->conn))) == NULL ||
	    (rs->conn->sc = securer_open()) == NULL) {
		if (rs != NULL)
			free(rs->conn);
		free(rs);
		pkg_error("out of memory");
	}
	c = rs->conn;
	c->refs = 1;
	/*
	 * The codec reads vectors in binary form, their bytes raw in the
	 * frame after the reply: exact, and copied once.
	 */
	securer_set_frames(c->sc, 1);
	if (securer_connect(c->sc, opt_str(path)) == -1 ||
	    securer_session_create(c->sc, &o, &rs->s) == -1) {
		err = PROTECT(error_of(c->sc));
		conn_free(c);
		rsess_free(rs);
		UNPROTECT(1);
		return (err);
	}
	return (rsess_ptr(rs));
}

static SEXP
r_session_info(SEXP p)
{
	rsess_of(p);
	return (R_ExternalPtrProtected(p));
}

static SEXP
r_session_close(SEXP p)
{
	struct rsess	*rs;

	if (TYPEOF(p) == EXTPTRSXP && (rs = R_ExternalPtrAddr(p)) != NULL) {
		R_ClearExternalPtr(p);
		session_end(rs, 1);
	}
	return (R_NilValue);
}

/*
 * An error now if the connection is not free for the session (an
 * execution of its fork, or of the session it was forked from, is under
 * way there), before the R side sets up an execution.
 */
static SEXP
r_session_ready(SEXP p)
{
	conn_ready(rsess_of(p));
	return (R_NilValue);
}

static SEXP
r_session_restart(SEXP p)
{
	struct rsess	*rs = rsess_of(p);
	struct securer	*sc = conn_ready(rs);

	if (securer_session_restart(rs->s) == -1)
		return (error_of(sc));
	return (R_NilValue);
}

/*
 * Saves the session's state and frees its worker: the snapshot's size in
 * bytes, else list(code, message, json).
 */
static SEXP
r_session_hibernate(SEXP p)
{
	struct rsess	*rs = rsess_of(p);
	struct securer	*sc = conn_ready(rs);
	uint64_t	 bytes;

	if (securer_session_hibernate(rs->s, &bytes) == -1)
		return (error_of(sc));
	return (Rf_ScalarReal((double)bytes));
}

/*
 * A new session on rs's connection whose state is a copy of rs's
 * (session.fork): list(ptr, bytes), its external pointer and the size of
 * the snapshot it starts from; else list(code, message, json).
 */
static SEXP
r_session_fork(SEXP p)
{
	struct rsess	*rs = rsess_of(p), *n;
	struct securer	*sc = conn_ready(rs);
	uint64_t	 bytes;
	SEXP		 l, nm;

	l = PROTECT(Rf_allocVector(VECSXP, 2));
	nm = PROTECT(Rf_allocVector(STRSXP, 2));
	Rf_setAttrib(l, R_NamesSymbol, nm);
	SET_STRING_ELT(nm, 0, Rf_mkChar("ptr"));
	SET_STRING_ELT(nm, 1, Rf_mkChar("bytes"));
	if ((n = calloc(1, sizeof(*n))) == NULL)
		pkg_error("out of memory");
	if (securer_session_fork(rs->s, &n->s, &bytes) == -1) {
		free(n);
		UNPROTECT(2);
		return (error_of(sc));
	}
	n->conn = rs->conn;
	n->conn->refs++;
	SET_VECTOR_ELT(l, 0, rsess_ptr(n));
	SET_VECTOR_ELT(l, 1, Rf_ScalarReal((double)bytes));
	UNPROTECT(2);
	return (l);
}

/*
 * What the last call on the session said of a resume: list(ms, bytes,
 * warning), warning NULL if everything was restored; NULL if it did not
 * wake the session.
 */
static SEXP
r_session_resumed(SEXP p)
{
	struct rsess	*rs = rsess_of(p);
	const char	*warning;
	uint64_t	 bytes;
	double		 ms;
	SEXP		 l, nm;

	if (!securer_session_resumed(rs->s, &ms, &bytes, &warning))
		return (R_NilValue);
	l = PROTECT(Rf_allocVector(VECSXP, 3));
	nm = PROTECT(Rf_allocVector(STRSXP, 3));
	SET_VECTOR_ELT(l, 0, Rf_ScalarReal(ms));
	SET_VECTOR_ELT(l, 1, Rf_ScalarReal((double)bytes));
	if (warning != NULL)
		SET_VECTOR_ELT(l, 2, mkstr(warning));
	SET_STRING_ELT(nm, 0, Rf_mkChar("ms"));
	SET_STRING_ELT(nm, 1, Rf_mkChar("bytes"));
	SET_STRING_ELT(nm, 2, Rf_mkChar("warning"));
	Rf_setAttrib(l, R_NamesSymbol, nm);
	UNPROTECT(2);
	return (l);
}

/*
 * The session's state as the daemon's status says ("dead" if it is not
 * there); "busy" or "unknown" while an execution of its, or of another
 * session on its connection, keeps the request from going.
 */
static SEXP
r_session_state(SEXP p)
{
	struct rsess	*rs = rsess_of(p);
	struct rconn	*c = rs->conn;
	const char	*id = securer_session_id(rs->s);
	char		*json;
	cJSON		*st, *ss, *it, *sid, *state;
	SEXP		 r;

	conn_settle(c);
	if (c->running != NULL)
		return (mkstr(c->running == rs ? "busy" : "unknown"));
	if (securer_status(c->sc, &json) == -1)
		return (error_of(c->sc));
	st = cJSON_Parse(json);
	free(json);
	r = NULL;
	ss = cJSON_GetObjectItem(st, "sessions");
	cJSON_ArrayForEach(it, ss) {
		sid = cJSON_GetObjectItem(it, "session");
		state = cJSON_GetObjectItem(it, "state");
		if (cJSON_IsString(sid) && strcmp(sid->valuestring, id) == 0 &&
		    cJSON_IsString(state)) {
			r = mkstr(state->valuestring);
			break;
		}
	}
	cJSON_Delete(st);
	return (r != NULL ? r : mkstr("dead"));
}

/*
 * Runs fn(c) under R_UnwindProtect: the caller's handlers are in effect,
 * and a jump out of fn (an exiting handler, an interrupt, a restart) is
 * stopped here and recorded, to be continued by unwind_continue() once
 * libsecurer has returned.  After one, callbacks no longer run R code.
 */
static void
unwind_cleanup(void *arg, Rboolean jump)
{
	if (jump)
		longjmp(*(jmp_buf *)arg, 1);
}

static SEXP
unwind_body(void *arg)
{
	struct cbcall	*c = arg;

	if (c->tool != NULL)
		cb_tool_body(c);
	else
		cb_output_body(c);
	return (R_NilValue);
}

static int
cb_protected(struct cbcall *c)
{
	jmp_buf	 jb;

	if (c->rs->cbfail)
		return (-1);
	if (setjmp(jb)) {
		c->rs->cbfail = 1;
		return (-1);
	}
	R_UnwindProtect(unwind_body, c, unwind_cleanup, &jb,
	    VECTOR_ELT(c->rs->cb, 2));
	return (0);
}

/* Continues a jump a callback stopped, if one did. */
static void
unwind_continue(struct rsess *rs)
{
	if (rs->cbfail) {
		rs->cbfail = 0;
		R_ContinueUnwind(VECTOR_ELT(rs->cb, 2));
	}
}

/* The output callback's R part. */
static void
cb_output_body(struct cbcall *c)
{
	SEXP	 fn, call, stream, text;

	fn = VECTOR_ELT(c->rs->cb, 0);
	if (Rf_isNull(fn))
		return;
	/* Each protected while the next is made: a GC may come between. */
	stream = PROTECT(mkstr(c->stream));
	text = PROTECT(mkstr(c->text));
	call = PROTECT(Rf_lang3(fn, stream, text));
	Rf_eval(call, R_GlobalEnv);
	UNPROTECT(3);
}

static void
cb_output(void *arg, const char *stream, const char *text, size_t len)
{
	struct cbcall	 c;

	memset(&c, 0, sizeof(c));
	c.rs = arg;
	c.stream = stream;
	c.text = text;
	cb_protected(&c);
}

/* The named list of a tool call's arguments, from their JSON object. */
static SEXP
decode_args(const char *json, char *err, size_t errlen)
{
	cJSON	*o, *it;
	SEXP	 l, nm, v;
	char	*text;
	int	 i, n;

	if ((o = cJSON_Parse(json)) == NULL || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		snprintf(err, errlen, "tool arguments are not an object");
		return (NULL);
	}
	n = cJSON_GetArraySize(o);
	l = PROTECT(Rf_allocVector(VECSXP, n));
	nm = PROTECT(Rf_allocVector(STRSXP, n));
	i = 0;
	cJSON_ArrayForEach(it, o) {
		SET_STRING_ELT(nm, i, Rf_mkCharCE(it->string, CE_UTF8));
		if ((text = json_print(it, NULL)) == NULL ||
		    (v = rvalue_decode(text, strlen(text), err, errlen)) ==
		    NULL) {
			free(text);
			cJSON_Delete(o);
			UNPROTECT(2);
			return (NULL);
		}
		free(text);
		SET_VECTOR_ELT(l, i++, v);
	}
	cJSON_Delete(o);
	Rf_setAttrib(l, R_NamesSymbol, nm);
	UNPROTECT(2);
	return (l);
}

/*
 * The tool callback's R part: the R dispatcher returns list(value) or
 * list(error = message); the value is encoded here.
 */
static void
cb_tool_body(struct cbcall *c)
{
	SEXP		 args, call, r, fn;
	char		 err[512];
	size_t		 len;

	fn = VECTOR_ELT(c->rs->cb, 1);
	if ((args = decode_args(c->args, err, sizeof(err))) == NULL) {
		*c->error = strdup(err);
		return;
	}
	PROTECT(args);
	call = PROTECT(Rf_lang3(fn, mkstr(c->tool), args));
	r = PROTECT(Rf_eval(call, R_GlobalEnv));
	if (TYPEOF(r) == VECSXP && XLENGTH(r) == 1 &&
	    Rf_getAttrib(r, R_NamesSymbol) != R_NilValue &&
	    strcmp(CHAR(STRING_ELT(Rf_getAttrib(r, R_NamesSymbol), 0)),
	    "error") == 0) {
		*c->error = strdup(str_arg(VECTOR_ELT(r, 0), "error"));
	} else if (TYPEOF(r) == VECSXP && XLENGTH(r) == 1) {
		if (rvalue_encode(VECTOR_ELT(r, 0), VALUE_MAX, c->value, &len,
		    err, sizeof(err)) == -1) {
			*c->value = NULL;
			*c->error = malloc(strlen(err) + 64);
			if (*c->error != NULL)
				snprintf(*c->error, strlen(err) + 64,
				    "the tool's value cannot be sent: %s",
				    err);
		} else {
			/* Not NUL-terminated: make it a string. */
			char *v = realloc(*c->value, len + 1);
			if (v == NULL) {
				free(*c->value);
				*c->value = NULL;
				*c->error = strdup("out of memory");
			} else {
				v[len] = '\0';
				*c->value = v;
				c->rc = 0;
			}
		}
	}
	UNPROTECT(3);
}

static int
cb_tool(void *arg, const char *tool, const char *args, char **value,
    char **error)
{
	struct cbcall	 c;

	memset(&c, 0, sizeof(c));
	c.rs = arg;
	c.tool = tool;
	c.args = args;
	c.value = value;
	c.error = error;
	c.rc = -1;
	*value = *error = NULL;
	if (cb_protected(&c) == -1) {
		free(*value);
		*value = NULL;
		free(*error);
		*error = strdup("the tool was interrupted");
		return (-1);
	}
	if (c.rc == -1 && *error == NULL)
		*error = strdup("the tool failed");
	return (c.rc);
}

static void
exec_opts(struct rsess *rs, struct securer_exec_opts *o, SEXP timeout,
    SEXP maxtools, SEXP maxlines, SEXP output, SEXP tool)
{
	SEXP	 cb;

	memset(o, 0, sizeof(*o));
	o->timeout = Rf_isNull(timeout) ? 0 : Rf_asReal(timeout);
	o->max_tool_calls = Rf_isNull(maxtools) ? 0 : (long)Rf_asReal(maxtools);
	o->max_output_lines = Rf_isNull(maxlines) ? 0 :
	    (long)Rf_asReal(maxlines);
	cb = PROTECT(Rf_allocVector(VECSXP, 3));
	SET_VECTOR_ELT(cb, 0, output);
	SET_VECTOR_ELT(cb, 1, tool);
	SET_VECTOR_ELT(cb, 2, R_MakeUnwindCont());
	if (rs->cb != NULL)
		R_ReleaseObject(rs->cb);
	R_PreserveObject(cb);
	UNPROTECT(1);
	rs->cb = cb;
	rs->cbfail = 0;
	o->output = cb_output;
	o->value_tree = 1;
	/* R prints a plain vector itself, from the value. */
	o->no_plain_printed = 1;
	o->tool = Rf_isNull(tool) ? NULL : cb_tool;
	o->arg = rs;
}

/* Plots as a list of raw vectors named by their files, or NULL. */
static SEXP
plots_of(const struct securer_plot *plots, size_t n)
{
	SEXP	 l, nm, raw;
	size_t	 i;

	if (n == 0)
		return (R_NilValue);
	l = PROTECT(Rf_allocVector(VECSXP, n));
	nm = PROTECT(Rf_allocVector(STRSXP, n));
	for (i = 0; i < n; i++) {
		raw = Rf_allocVector(RAWSXP, plots[i].len);
		SET_VECTOR_ELT(l, i, raw);
		if (plots[i].len > 0)
			memcpy(RAW(raw), plots[i].data, plots[i].len);
		SET_STRING_ELT(nm, i, Rf_mkChar(plots[i].name));
	}
	Rf_setAttrib(l, R_NamesSymbol, nm);
	UNPROTECT(2);
	return (l);
}

/*
 * list(value, printed, visible, elapsed, truncated, plots,
 * plots_omitted, warnings, decode_error, revive) of a result.  A value
 * that cannot be decoded is no R error here: the R side raises it with
 * the execution's output and plots kept.
 */
static SEXP
result_of(struct securer_result *res)
{
	static const char	*names[] = { "value", "printed", "visible",
	    "elapsed", "truncated", "plots", "plots_omitted", "warnings",
	    "decode_error", "revive" };
	SEXP	 l, nm, v;
	char	 err[512];
	int	 i, n = sizeof(names) / sizeof(names[0]);

	if (res->value_tree != NULL)
		v = rvalue_decode_frame(res->value_tree, res->frame,
		    res->frame_len, err, sizeof(err));
	else
		v = rvalue_decode(res->value, strlen(res->value), err,
		    sizeof(err));
	if (v != NULL)
		PROTECT(v);
	l = PROTECT(Rf_allocVector(VECSXP, n));
	nm = PROTECT(Rf_allocVector(STRSXP, n));
	if (v == NULL)
		SET_VECTOR_ELT(l, 8, mkstr(err));
	else
		SET_VECTOR_ELT(l, 0, v);
	SET_VECTOR_ELT(l, 9, Rf_ScalarLogical(v != NULL &&
	    rvalue_decoded_revive()));
	SET_VECTOR_ELT(l, 1, mkstr(res->printed));
	SET_VECTOR_ELT(l, 2, Rf_ScalarLogical(res->visible));
	SET_VECTOR_ELT(l, 3, Rf_ScalarReal(res->elapsed));
	SET_VECTOR_ELT(l, 4, Rf_ScalarLogical(res->truncated));
	SET_VECTOR_ELT(l, 5, plots_of(res->plots, res->nplots));
	SET_VECTOR_ELT(l, 6, Rf_ScalarInteger((int)res->plots_omitted));
	if (res->warnings != NULL)
		SET_VECTOR_ELT(l, 7, mkstr(res->warnings));
	for (i = 0; i < n; i++)
		SET_STRING_ELT(nm, i, Rf_mkChar(names[i]));
	Rf_setAttrib(l, R_NamesSymbol, nm);
	securer_result_free(res);
	UNPROTECT(v != NULL ? 3 : 2);
	return (l);
}

/*
 * Failures come back as list(error = list(code, message, json), plots):
 * the plots drawn before an R error.
 */
static SEXP
failure(struct rsess *rs)
{
	struct securer_plot	*plots = NULL;
	size_t			 n = 0;
	SEXP			 l, nm;

	l = PROTECT(Rf_allocVector(VECSXP, 2));
	nm = PROTECT(Rf_allocVector(STRSXP, 2));
	SET_VECTOR_ELT(l, 0, error_of(rs->conn->sc));
	if (securer_errjson(rs->conn->sc) != NULL &&
	    securer_plots_parse(securer_errjson(rs->conn->sc), &plots,
	    &n) == 0) {
		SET_VECTOR_ELT(l, 1, plots_of(plots, n));
		securer_plots_free(plots, n);
	}
	SET_STRING_ELT(nm, 0, Rf_mkChar("error"));
	SET_STRING_ELT(nm, 1, Rf_mkChar("plots"));
	Rf_setAttrib(l, R_NamesSymbol, nm);
	UNPROTECT(2);
	return (l);
}

/* A byte offset or length from R: a whole number from 0 to 2^53. */
static uint64_t
count_arg(SEXP x, const char *what)
{
	double	 d;

	if (!Rf_isReal(x) && !Rf_isInteger(x))
		pkg_error("%s must be a number", what);
	if (XLENGTH(x) != 1 || !R_FINITE(d = Rf_asReal(x)) || d < 0 ||
	    d != floor(d) || d > 9007199254740992.0)
		pkg_error("%s must be a whole number of bytes", what);
	return ((uint64_t)d);
}

/*
 * One chunk of an upload, the count bytes of data from its byte from
 * (a slice, so that a large raw vector is not copied a chunk at a time
 * in R), at offset of the file (more: chunks follow): the daemon's byte
 * count so far, else the failure.
 */
static SEXP
r_file_put_chunk(SEXP p, SEXP name, SEXP data, SEXP from, SEXP count,
    SEXP offset, SEXP more)
{
	struct rsess	*rs = rsess_of(p);
	const char	*n = str_arg(name, "name");
	uint64_t	 off = count_arg(offset, "offset"), size;
	uint64_t	 start = count_arg(from, "from"), len = count_arg(count,
			    "count");

	if (TYPEOF(data) != RAWSXP)
		pkg_error("data must be a raw vector");
	if (!Rf_isLogical(more) || XLENGTH(more) != 1 ||
	    LOGICAL(more)[0] == NA_LOGICAL)
		pkg_error("more must be TRUE or FALSE");
	if (start > (uint64_t)XLENGTH(data) ||
	    len > (uint64_t)XLENGTH(data) - start)
		pkg_error("the slice is outside data");
	conn_ready(rs);
	if (securer_file_put_chunk(rs->s, n, RAW(data) + start, len, off,
	    LOGICAL(more)[0], &size) == -1)
		return (failure(rs));
	return (Rf_ScalarReal((double)size));
}

/*
 * list(data, size): length bytes at offset of the output file and the
 * whole file's size, else the failure.
 */
static SEXP
r_file_get_range(SEXP p, SEXP name, SEXP offset, SEXP length)
{
	struct rsess	*rs = rsess_of(p);
	const char	*n = str_arg(name, "name");
	uint64_t	 off = count_arg(offset, "offset");
	uint64_t	 want = count_arg(length, "length"), size;
	unsigned char	*data;
	size_t		 len;
	SEXP		 l, nm, raw;

	if (want > SIZE_MAX)
		pkg_error("length is too large");
	conn_ready(rs);
	if (securer_file_get_range(rs->s, n, off, want, &data, &len,
	    &size) == -1)
		return (failure(rs));
	raw = PROTECT(Rf_allocVector(RAWSXP, len));
	if (len > 0)
		memcpy(RAW(raw), data, len);
	free(data);
	l = PROTECT(Rf_allocVector(VECSXP, 2));
	nm = PROTECT(Rf_allocVector(STRSXP, 2));
	SET_VECTOR_ELT(l, 0, raw);
	SET_VECTOR_ELT(l, 1, Rf_ScalarReal((double)size));
	SET_STRING_ELT(nm, 0, Rf_mkChar("data"));
	SET_STRING_ELT(nm, 1, Rf_mkChar("size"));
	Rf_setAttrib(l, R_NamesSymbol, nm);
	UNPROTECT(3);
	return (l);
}

/*
 * While the execution runs, the connection is its session's (running),
 * and its callbacks run R code (calling), which may close sessions.
 */
static SEXP
r_execute(SEXP p, SEXP code, SEXP timeout, SEXP maxtools, SEXP maxlines,
    SEXP output, SEXP tool)
{
	struct rsess			*rs = rsess_of(p);
	struct rconn			*c = rs->conn;
	struct securer_exec_opts	 o;
	struct securer_result		 res;
	const char			*text = str_arg(code, "code");
	int				 rv;

	conn_ready(rs);
	exec_opts(rs, &o, timeout, maxtools, maxlines, output, tool);
	c->running = rs;
	c->calling = 1;
	rv = securer_execute(rs->s, text, &o, &res);
	c->calling = 0;
	c->running = NULL;
	if (rs->orphan) {
		/* A callback closed the session: nothing to return to. */
		if (rv == 0)
			securer_result_free(&res);
		orphan_end(rs);
		return (R_NilValue);
	}
	if (rv == -1) {
		unwind_continue(rs);
		return (failure(rs));
	}
	if (rs->cbfail) {
		securer_result_free(&res);
		unwind_continue(rs);
	}
	return (result_of(&res));
}

static SEXP
r_execute_start(SEXP p, SEXP code, SEXP timeout, SEXP maxtools,
    SEXP maxlines, SEXP output, SEXP tool)
{
	struct rsess			*rs = rsess_of(p);
	struct securer_exec_opts	 o;
	const char			*text = str_arg(code, "code");

	conn_ready(rs);
	exec_opts(rs, &o, timeout, maxtools, maxlines, output, tool);
	if (securer_execute_start(rs->s, text, &o) == -1)
		return (failure(rs));
	rs->conn->running = rs;
	return (R_NilValue);
}

/* NULL while it runs, else the result or the failure. */
static SEXP
r_execute_poll(SEXP p, SEXP ms)
{
	struct rsess		*rs = rsess_of(p);
	struct rconn		*c = rs->conn;
	struct securer_result	 res;
	int			 rv;

	if (c->running != rs)
		pkg_error("no execution is in progress");
	c->calling = 1;
	rv = securer_execute_poll(rs->s, Rf_asInteger(ms), &res);
	c->calling = 0;
	if (rs->orphan) {
		/* A callback closed the session: nothing to return to. */
		if (rv == 0)
			securer_result_free(&res);
		if (rv != 1)
			orphan_end(rs);
		else if (c->refs == 0)
			conn_free(c);
		return (R_NilValue);
	}
	if (rv == 1) {
		unwind_continue(rs);
		return (R_NilValue);
	}
	c->running = NULL;
	if (rv == -1) {
		unwind_continue(rs);
		return (failure(rs));
	}
	if (rs->cbfail) {
		securer_result_free(&res);
		unwind_continue(rs);
	}
	return (result_of(&res));
}

/* x as the codec sends it; binary: vectors in binary form. */
/*
 * Waits at most ms milliseconds until one of the sessions of the list
 * ptrs has something to read: the pool's loop polls only then.
 */
static SEXP
r_wait_any(SEXP ptrs, SEXP ms)
{
	struct pollfd	*pfd;
	struct rsess	*rs;
	R_xlen_t	 i, n;
	int		 rv;

	if (TYPEOF(ptrs) != VECSXP)
		pkg_error("ptrs must be a list");
	n = XLENGTH(ptrs);
	if ((pfd = calloc(n + 1, sizeof(*pfd))) == NULL)
		pkg_error("out of memory");
	for (i = 0; i < n; i++) {
		pfd[i].fd = -1;
		if (TYPEOF(VECTOR_ELT(ptrs, i)) != EXTPTRSXP ||
		    (rs = R_ExternalPtrAddr(VECTOR_ELT(ptrs, i))) == NULL)
			continue;
		if (securer_buffered(rs->conn->sc)) {
			free(pfd);
			return (Rf_ScalarLogical(TRUE));
		}
		pfd[i].fd = securer_fd(rs->conn->sc);
		pfd[i].events = POLLIN;
	}
	rv = poll(pfd, n, Rf_asInteger(ms));
	free(pfd);
	return (Rf_ScalarLogical(rv > 0));
}

static SEXP
r_encode(SEXP x, SEXP binary)
{
	struct rvalue_enc	 o;
	char			*json, err[512];
	size_t			 len;
	SEXP			 r;

	memset(&o, 0, sizeof(o));
	o.max = VALUE_MAX;
	o.flags = Rf_asLogical(binary) == TRUE ? RVALUE_BINARY : 0;
	if (rvalue_encode_opts(x, &o, &json, &len, err, sizeof(err)) == -1)
		pkg_error("cannot encode the value: %s", err);
	r = Rf_allocVector(STRSXP, 1);
	PROTECT(r);
	SET_STRING_ELT(r, 0, Rf_mkCharLenCE(json, (int)len, CE_UTF8));
	free(json);
	UNPROTECT(1);
	return (r);
}

/* list(json, frame) of x as a client that asked for frames gets it. */
static SEXP
r_encode_frame(SEXP x)
{
	struct rvalue_enc	 o;
	char			*json, err[512];
	size_t			 len;
	SEXP			 r, f;

	memset(&o, 0, sizeof(o));
	o.max = VALUE_MAX;
	o.flags = RVALUE_BINARY | RVALUE_FRAMES;
	if (rvalue_encode_opts(x, &o, &json, &len, err, sizeof(err)) == -1)
		pkg_error("cannot encode the value: %s", err);
	r = PROTECT(Rf_allocVector(VECSXP, 2));
	SET_VECTOR_ELT(r, 0, Rf_ScalarString(Rf_mkCharLenCE(json,
	    (int)len, CE_UTF8)));
	free(json);
	f = Rf_allocVector(RAWSXP, o.frame_len);
	SET_VECTOR_ELT(r, 1, f);
	if (o.frame_len > 0)
		memcpy(RAW(f), o.frame, o.frame_len);
	free(o.frame);
	UNPROTECT(1);
	return (r);
}

/* The value of json whose vectors may point into frame (raw). */
static SEXP
r_decode_frame(SEXP json, SEXP frame)
{
	const char	*text = str_arg(json, "json");
	char		 err[512];
	cJSON		*root;
	SEXP		 v;

	if (TYPEOF(frame) != RAWSXP)
		pkg_error("frame must be a raw vector");
	if ((root = cJSON_Parse(text)) == NULL)
		pkg_error("cannot decode the value: not JSON");
	v = rvalue_decode_frame(root, RAW(frame), XLENGTH(frame), err,
	    sizeof(err));
	cJSON_Delete(root);
	if (v == NULL)
		pkg_error("cannot decode the value: %s", err);
	return (v);
}

static SEXP
r_decode(SEXP json)
{
	const char	*text = str_arg(json, "json");
	char		 err[512];
	SEXP		 v;

	if ((v = rvalue_decode(text, strlen(text), err, sizeof(err))) == NULL)
		pkg_error("cannot decode the value: %s", err);
	return (v);
}

static SEXP
r_private_socket(void)
{
	char	 buf[1024];

	if (securer_private_socket(buf, sizeof(buf)) == -1)
		pkg_error("no private socket path");
	return (mkstr(buf));
}

static SEXP
r_start_daemon(SEXP path)
{
	char	 err[1024];

	if (securer_start_daemon(str_arg(path, "path"), err,
	    sizeof(err)) == -1)
		return (mkstr(err));
	return (R_NilValue);
}

static SEXP
r_build_dir(void)
{
	return (mkstr(SECURER_BUILD_DIR));
}

/*
 * The namespace, for the codec's R functions, and the parent of the
 * environments values bring (see .model_env).
 */
static SEXP
r_init(SEXP ns, SEXP envparent)
{
	if (securer_ns != NULL)
		R_ReleaseObject(securer_ns);
	if (securer_envparent != NULL)
		R_ReleaseObject(securer_envparent);
	R_PreserveObject(ns);
	R_PreserveObject(envparent);
	securer_ns = ns;
	securer_envparent = envparent;
	rvalue_set_printer(printed_form);
	rvalue_set_deparser(deparsed_form);
	rvalue_set_envparent(envparent);
	return (R_NilValue);
}

/* Appends line to the audit file path: created 0600, never a symlink. */
static SEXP
r_audit_write(SEXP path, SEXP line)
{
	const char	*p = str_arg(path, "path"), *l = str_arg(line, "line");
	size_t		 len = strlen(l);
	int		 fd;

	if ((fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return (mkstr(strerror(errno)));
	if (write(fd, l, len) != (ssize_t)len) {
		close(fd);
		return (mkstr(strerror(errno)));
	}
	close(fd);
	return (R_NilValue);
}

/* A slot lock shared by the processes forked from a pool's: fd or -1. */
static SEXP
r_trylock(SEXP path)
{
	int	 fd;

	if ((fd = open(str_arg(path, "path"), O_RDWR | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return (Rf_ScalarInteger(-1));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return (Rf_ScalarInteger(-1));
	}
	return (Rf_ScalarInteger(fd));
}

static SEXP
r_unlock(SEXP fd)
{
	if (Rf_asInteger(fd) >= 0)
		close(Rf_asInteger(fd));
	return (R_NilValue);
}

SEXP	r_risky(SEXP, SEXP);

static const R_CallMethodDef calls[] = {
	{ "C_risky", (DL_FUNC)r_risky, 2 },
	{ "C_wait_any", (DL_FUNC)r_wait_any, 2 },
	{ "C_audit_write", (DL_FUNC)r_audit_write, 2 },
	{ "C_trylock", (DL_FUNC)r_trylock, 1 },
	{ "C_unlock", (DL_FUNC)r_unlock, 1 },
	{ "C_session_new", (DL_FUNC)r_session_new, 6 },
	{ "C_session_close", (DL_FUNC)r_session_close, 1 },
	{ "C_session_info", (DL_FUNC)r_session_info, 1 },
	{ "C_session_ready", (DL_FUNC)r_session_ready, 1 },
	{ "C_session_restart", (DL_FUNC)r_session_restart, 1 },
	{ "C_session_hibernate", (DL_FUNC)r_session_hibernate, 1 },
	{ "C_session_fork", (DL_FUNC)r_session_fork, 1 },
	{ "C_session_resumed", (DL_FUNC)r_session_resumed, 1 },
	{ "C_session_state", (DL_FUNC)r_session_state, 1 },
	{ "C_execute", (DL_FUNC)r_execute, 7 },
	{ "C_execute_start", (DL_FUNC)r_execute_start, 7 },
	{ "C_execute_poll", (DL_FUNC)r_execute_poll, 2 },
	{ "C_encode", (DL_FUNC)r_encode, 2 },
	{ "C_encode_frame", (DL_FUNC)r_encode_frame, 1 },
	{ "C_decode_frame", (DL_FUNC)r_decode_frame, 2 },
	{ "C_file_put_chunk", (DL_FUNC)r_file_put_chunk, 7 },
	{ "C_file_get_range", (DL_FUNC)r_file_get_range, 4 },
	{ "C_decode", (DL_FUNC)r_decode, 1 },
	{ "C_private_socket", (DL_FUNC)r_private_socket, 0 },
	{ "C_start_daemon", (DL_FUNC)r_start_daemon, 1 },
	{ "C_build_dir", (DL_FUNC)r_build_dir, 0 },
	{ "C_init", (DL_FUNC)r_init, 2 },
	{ NULL, NULL, 0 }
};

void
R_init_securer(DllInfo *dll)
{
	R_registerRoutines(dll, NULL, calls, NULL, NULL);
	R_useDynamicSymbols(dll, FALSE);
}
