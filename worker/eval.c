/*
 * Executions: parse, evaluate in globalenv, send the value or the error.
 *
 * The evaluation itself is the private R function .exec() (rembed.c):
 * R's own tryCatch and withCallingHandlers give conditions exactly as R
 * code sees them, where R_tryEval would print errors to the console.  It
 * reports back through the natives below, which make IMSG_W_RESULT or
 * IMSG_W_ERROR; exactly one of them ends each execution.  It is held
 * and sent only once R is back here, as the worker's very last act
 * before it waits for its channel again: from the monitor's end the
 * worker must then be still (the broker stops it, and kills it if it
 * runs: broker/rest.c), so nothing may be left to do after it.  Code
 * that calls the natives itself gains nothing: its result goes when it
 * ends, under its deadline.
 *
 * Nothing is sent for an execution after its end, whatever R code still
 * runs.  The C glue runs under R_ToplevelExec(): an R error or a jump to the
 * top level (invokeRestart("abort"), a condition that stop() did not
 * see handled) comes back here instead of to a top level that, R being
 * embedded, does not exist any more.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

struct exec_job {
	const char	*code;
	size_t		 len;
	int		 echo;
	uint32_t	 flags;		/* EXEC_* */
	uint64_t	 max_value;
};

static struct {
	uint32_t	 id;
	int		 done;		/* result or error made */
	uint32_t	 flags;		/* EXEC_BINARY, _FRAMES, _NO_PLAIN */
	uint64_t	 max_value;	/* bytes of the encoded value */
} ex;

/* The execution's end, made and held until R is done (eval_send_end). */
static struct {
	int			 what;	/* 0, IMSG_W_RESULT or IMSG_W_ERROR */
	struct msg_result	 r;
	char			*json;		/* the value, all its parts */
	size_t			 len;
	char			*frame;		/* its frame (RVALUE_FRAMES) */
	size_t			 frame_len;
	char			*printed;
	uint32_t		 kind;		/* an error's */
	int			 line, col;
	char			*msg, *call;
	size_t			 msglen, calllen, cllen;
	char			 classes[W_CLASSES_MAX];
} end;

/*
 * Calls worth a reviewer's look, reported with the result: advice only,
 * never the boundary (the sandbox is).  Found on the parsed code's
 * symbols, so comments and strings do not count and f <- system does.
 */
static const char *risky[] = {
	".C", ".Call", ".External", ".External2", ".Fortran", ".Internal",
	".Primitive", "download.file", "dyn.load", "fifo", "library.dynam",
	"make.socket", "pipe", "shell", "socketAccept", "socketConnection",
	"system", "system2", "url",
};
#define RISKY_N		(sizeof(risky) / sizeof(risky[0]))
#define ADVISE_DEPTH	5000

static void	eval_advise(SEXP);
static void	eval_body(void *);
static void	eval_run(uint32_t, struct exec_job *);
static int	eval_parse(const char *, size_t, SEXP *);
static void	eval_parse_error(const char *, size_t, const char *);
static void	eval_send_error(uint32_t, int, int, const char *,
		    const char *, const char *);
static void	eval_hold_result(int, char *, size_t, SEXP,
		    struct rvalue_enc *);
static void	eval_send_end(void);
static void	eval_end_free(void);
static size_t	eval_send_parts(int, const char *, size_t, size_t);
static const char *eval_string(SEXP);

/* IMSG_W_EXEC: the code runs to its end before anything else is read. */
void
eval_exec(uint32_t id, const struct msg_exec *m)
{
	struct exec_job	 job;

	job.code = m->code.p;
	job.len = m->code.len;
	job.echo = (m->flags & EXEC_ECHO) != 0;
	job.flags = m->flags;
	job.max_value = m->max_value == 0 ? WORKER_RESULT_MAX :
	    m->max_value > WORKER_RESULT_LIMIT ? WORKER_RESULT_LIMIT :
	    m->max_value;
	eval_run(id, &job);
}

static void
eval_run(uint32_t id, struct exec_job *job)
{
	uint64_t	 t0 = now_us();

	eval_end_free();
	ex.id = id;
	ex.done = 0;
	ex.flags = job->flags;
	ex.max_value = job->max_value != 0 ? job->max_value :
	    WORKER_RESULT_MAX;
	out_begin(ex.id);
	if (!R_ToplevelExec(eval_body, job))
		log_debug("execution %u: jumped to the top level", ex.id);
	if (!ex.done)
		eval_send_error(WERR_R, 0, 0,
		    "the execution was aborted without a result", "", "");
	out_end();
	log_debug("execution %u: %llu us", ex.id,
	    (unsigned long long)(now_us() - t0));
	eval_send_end();
}

/* The path of an execution that prints its value, with nothing sent. */
void
eval_warm(void)
{
	struct exec_job	 job = { "invisible(1)\n1 + 1", 18, 1, 0, 0 };
	struct exec_job	 bad = { "1 +", 3, 0, 0, 0 };

	struct chan	*ch = worker_chan();
	int		 mute = ch->mute;

	ch->mute = 1;
	eval_run(0, &job);
	/* And the R-level parser, which the execution path uses for errors. */
	eval_run(0, &bad);
	ch->mute = mute;
}

static void
eval_body(void *arg)
{
	struct exec_job	*job = arg;
	SEXP		 exprs, call;

	if (eval_parse(job->code, job->len, &exprs) == -1)
		return;
	PROTECT(exprs);
	eval_advise(exprs);
	call = PROTECT(Rf_lang3(rembed_fn(".exec"), exprs,
	    Rf_ScalarLogical(job->echo)));
	Rf_eval(call, rembed_env());
	UNPROTECT(2);
}

static void
advise_symbol(SEXP sym, int *seen)
{
	const char	*name = CHAR(PRINTNAME(sym));
	size_t		 i;

	for (i = 0; i < RISKY_N; i++)
		if (strcmp(name, risky[i]) == 0) {
			seen[i] = 1;
			return;
		}
}

/* Along each list iteratively; down into its elements by recursion. */
static void
advise_walk(SEXP x, int *seen, int depth)
{
	R_xlen_t	i;

	if (depth > ADVISE_DEPTH)
		return;
	switch (TYPEOF(x)) {
	case SYMSXP:
		advise_symbol(x, seen);
		break;
	case LANGSXP:
	case LISTSXP:
		for (; x != R_NilValue; x = CDR(x))
			advise_walk(CAR(x), seen, depth + 1);
		break;
	case EXPRSXP:
		for (i = 0; i < XLENGTH(x); i++)
			advise_walk(VECTOR_ELT(x, i), seen, depth + 1);
		break;
	}
}

/* Sends the risky names the code mentions, if any, before it runs. */
static void
eval_advise(SEXP exprs)
{
	char		 names[ADVISORY_MAX];
	int		 seen[RISKY_N];
	size_t		 i;

	memset(seen, 0, sizeof(seen));
	advise_walk(exprs, seen, 0);
	names[0] = '\0';
	for (i = 0; i < RISKY_N; i++) {
		if (!seen[i])
			continue;
		if (names[0] != '\0')
			strlcat(names, ",", sizeof(names));
		strlcat(names, risky[i], sizeof(names));
	}
	if (names[0] == '\0')
		return;
	worker_sent(msg_send_advisory(worker_chan(), ex.id, names,
	    strlen(names)));
}

/*
 * R's parser, all or nothing: on error, report it and run nothing.
 * R_ParseVector() directly (parse()'s own path, without the R-level
 * wrapper and its condition handlers); for an error's message, which
 * only the R level gives, .parse() again.
 */
static int
eval_parse(const char *code, size_t len, SEXP *exprs)
{
	const char	*nul;
	SEXP		 text, call, r;

	if ((nul = memchr(code, '\0', len)) != NULL) {
		eval_parse_error(code, nul - code,
		    "embedded nul in the code");
		return (-1);
	}
	if (len > INT_MAX)
		fatalx("code of %zu bytes", len);
	text = PROTECT(Rf_ScalarString(Rf_mkCharLenCE(code, len, CE_UTF8)));
	if ((r = rvalue_parse(text, -1)) != R_NilValue) {
		*exprs = r;
		UNPROTECT(1);
		return (0);
	}
	call = PROTECT(Rf_lang2(rembed_fn(".parse"), text));
	r = Rf_eval(call, rembed_env());
	UNPROTECT(2);
	if (TYPEOF(r) == EXPRSXP) {
		*exprs = r;
		return (0);
	}
	eval_parse_error(NULL, 0, eval_string(r));
	return (-1);
}

/*
 * R says where the error is as "<text>:LINE:COLUMN: ..." or, for some
 * errors, "... at line LINE"; code != NULL: at offset off in code.
 */
static void
eval_parse_error(const char *code, size_t off, const char *msg)
{
	const char	*p;
	size_t		 i;
	int		 line = 0, col = 0;

	if (code != NULL) {
		line = col = 1;
		for (i = 0; i < off; i++, col++)
			if (code[i] == '\n') {
				line++;
				col = 0;
			}
	} else if (sscanf(msg, "<text>:%d:%d:", &line, &col) != 2) {
		line = col = 0;
		if ((p = strstr(msg, " at line ")) != NULL)
			line = atoi(p + strlen(" at line "));
	}
	eval_send_error(WERR_PARSE, line, col, msg, "", "");
}

/*
 * The condition's classes as the monitor takes them: names of R's
 * characters for names, comma separated, within W_CLASSES_MAX; others
 * are left out.
 */
static size_t
eval_classes(const char *in, char *out)
{
	size_t	 n = 0, i;
	int	 ok;

	while (*in != '\0') {
		i = strcspn(in, ",");
		ok = i > 0 && n + i + 1 < W_CLASSES_MAX &&
		    strspn(in, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") == i;
		if (ok) {
			if (n > 0)
				out[n++] = ',';
			memcpy(out + n, in, i);
			n += i;
		}
		in += i;
		if (*in == ',')
			in++;
	}
	out[n] = '\0';
	return (n);
}

/* The error that ends the execution, held until R is done. */
static void
eval_send_error(uint32_t kind, int line, int col, const char *msg,
    const char *call, const char *classes)
{
	plots_collect(ex.id);
	end.what = IMSG_W_ERROR;
	end.kind = kind;
	end.line = line;
	end.col = col;
	end.msg = w_text(msg, strlen(msg), W_TEXT_MAX, &end.msglen);
	end.call = w_text(call, strlen(call), W_CALL_MAX, &end.calllen);
	end.cllen = eval_classes(classes, end.classes);
	ex.done = 1;
	out_end();
}

/*
 * The execution's end, made earlier, goes now: R is done, and nothing
 * is left to do but wait for the next message.  A value goes in parts
 * of at most WORKER_PART_MAX bytes, the last with the result (the
 * channel holds no message over WORKER_IMSG_MAX); its frame
 * (RVALUE_FRAMES) in frame parts before the result.
 */
static void
eval_send_end(void)
{
	struct chan	*ch = worker_chan();
	size_t		 off;

	if (end.what == IMSG_W_ERROR)
		worker_sent(msg_send_error(ch, ex.id, end.kind, end.line,
		    end.col, end.msg, end.msglen, end.call, end.calllen,
		    end.classes, end.cllen));
	else if (end.what == IMSG_W_RESULT) {
		/* The last message holds the printed form too. */
		off = eval_send_parts(0, end.json, end.len, WORKER_PART_MAX -
		    W_PRINTED_MAX - sizeof(struct w_result));
		eval_send_parts(1, end.frame, end.frame_len, 0);
		end.r.value.p = end.json + off;
		end.r.value.len = end.len - off;
		worker_sent(msg_send_result(ch, ex.id, &end.r));
	}
}

/*
 * Freed when the next execution starts, not after the end went: giving
 * a large value's pages back to the kernel takes milliseconds of CPU,
 * which a worker may not use once its job has ended.
 */
static void
eval_end_free(void)
{
	free(end.json);
	free(end.frame);
	free(end.printed);
	free(end.msg);
	free(end.call);
	memset(&end, 0, sizeof(end));
}

/* The first element of a character vector, as UTF-8, else "". */
static const char *
eval_string(SEXP x)
{
	if (TYPEOF(x) != STRSXP || XLENGTH(x) < 1 ||
	    STRING_ELT(x, 0) == NA_STRING)
		return ("");
	return (rvalue_utf8(STRING_ELT(x, 0)));
}

/*
 * .Call(securer_result, value, visible): the printed form first, as it
 * runs R code (print methods, which draw a ggplot as R's top level
 * would) that may call tools or fail; then the value, whose encoding is
 * bounded by the operator's result size.  An invisible value over it is
 * no failure: it is not sent (null), and the monitor says why.
 */
SEXP
eval_result_call(SEXP value, SEXP visible)
{
	struct rvalue_enc	 o;
	char			 err[128], msg[160], *json;
	size_t			 len;
	int			 vis;
	SEXP			 printed;

	if (ex.done)
		Rf_error("the execution has ended");
	vis = Rf_asLogical(visible) == TRUE;
	printed = R_NilValue;
	/*
	 * A client that prints plain vectors from the value itself does not
	 * wait for R to print one (a third of a second for a long one).
	 */
	if (vis && (ex.flags & EXEC_NO_PLAIN) && rembed_is_plain(value))
		printed = Rf_mkString("");
	else if (vis && (printed = rembed_printed_plain(value)) == NULL)
		printed = rembed_apply(".printed", value);
	PROTECT(printed);
	memset(&o, 0, sizeof(o));
	o.max = ex.max_value;
	o.flags = (ex.flags & EXEC_BINARY) ? RVALUE_BINARY : 0;
	if (ex.flags & EXEC_FRAMES)
		o.flags |= RVALUE_FRAMES;
	o.printed = vis ? printed : NULL;
	if (rvalue_encode_opts(value, &o, &json, &len, err,
	    sizeof(err)) == 0) {
		eval_hold_result(vis, json, len, printed, &o);
	} else if (o.too_large && !vis) {
		if ((json = strdup("null")) == NULL)
			fatal("%s", __func__);
		eval_hold_result(vis, json, 4, printed, &o);
	} else {
		snprintf(msg, sizeof(msg), "result %s", err);
		eval_send_error(WERR_ENCODE, 0, 0, msg, "", "");
	}
	UNPROTECT(1);
	return (R_NilValue);
}

/*
 * The result, held until R is done: json and o's frame are ours now
 * (eval_send_end() sends them).
 */
static void
eval_hold_result(int vis, char *json, size_t len, SEXP printed,
    struct rvalue_enc *o)
{
	const char	*p;
	size_t		 plen;

	p = vis ? eval_string(printed) : "";
	end.printed = w_text(p, strlen(p), W_PRINTED_MAX, &plen);
	plots_collect(ex.id);
	end.what = IMSG_W_RESULT;
	end.json = json;
	end.len = len;
	end.frame = o->frame;
	end.frame_len = o->frame_len;
	o->frame = NULL;
	memset(&end.r, 0, sizeof(end.r));
	end.r.visible = vis;
	end.r.value_total = len;
	end.r.frame_total = o->frame_len;
	if (o->too_large) {
		end.r.omitted = 1;
		end.r.omitted_size = o->size;
	}
	end.r.printed.p = end.printed;
	end.r.printed.len = plen;
	ex.done = 1;
	out_end();
}

/*
 * len bytes at p as value parts (frame: frame parts) but for the last
 * keep bytes or fewer; returns how many were sent.
 */
static size_t
eval_send_parts(int frame, const char *p, size_t len, size_t keep)
{
	size_t	off, n;

	for (off = 0; len - off > keep; off += n) {
		n = len - off < WORKER_PART_MAX ? len - off : WORKER_PART_MAX;
		worker_sent(frame ?
		    msg_send_frame_part(worker_chan(), ex.id, p + off, n) :
		    msg_send_result_part(worker_chan(), ex.id, p + off, n));
	}
	return (off);
}

/*
 * .Call(securer_error, message, call, classes): the code raised an R
 * error; classes, its class() joined by commas.
 */
SEXP
eval_error_call(SEXP msg, SEXP call, SEXP classes)
{
	if (ex.done)
		Rf_error("the execution has ended");
	eval_send_error(WERR_R, 0, 0, eval_string(msg), eval_string(call),
	    eval_string(classes));
	return (R_NilValue);
}

/* .Call(securer_stream, stream, text): a message or a warning. */
SEXP
eval_stream_call(SEXP stream, SEXP text)
{
	const char	*s;
	int		 st;

	st = Rf_asInteger(stream);
	if (st != STREAM_MESSAGE && st != STREAM_WARNING)
		Rf_error("bad stream %d", st);
	if (ex.done)
		return (R_NilValue);
	s = eval_string(text);
	out_flush();
	out_send(st, s, strlen(s));
	return (R_NilValue);
}
