/*
 * The embedded R: start-up, the console, and the private environment
 * that holds the evaluation wrapper.
 *
 * R is started once, in the template, and every worker is a clone of it.
 * Its console is ours: what R writes to stdout and stderr is streamed to
 * the monitor a line at a time (or captured, while a value is printed for
 * its printed form), it reads nothing, and q() ends the worker.
 *
 * The R side of the worker is written in R, below, and lives in an
 * environment that is neither the global environment nor on the search
 * path, so that user code that clears globalenv or masks base functions
 * does not break it by accident.  (Not a security boundary: hostile R
 * code can reach anything in its own process; the kernel is the
 * boundary.)
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

#include <Rembedded.h>
#define CSTACK_DEFNS
#define R_INTERFACE_PTRS
#include <Rinterface.h>
#include <R_ext/Parse.h>
#include <R_ext/Rdynload.h>
#include <R_ext/eventloop.h>

/*
 * Output goes in messages of many lines: a line is sent at once if none
 * went for OUT_BATCH_US, else with the lines after it, at most that much
 * later (R's event loop calls out_poll() while R code runs or sleeps).
 * A million cat() calls are a few thousand messages, not a million.
 */
#define OUT_BATCH_US	20000

#define CUT_NOTE	"\n[... printed form cut at 1048576 bytes]\n"
#define PRINT_ERROR	"Error while printing the value: "

struct capture {
	struct capture	*prev;
	char		*buf;
	size_t		 len;
	size_t		 size;
	int		 cut;
};

static SEXP		 renv = NULL;
static struct capture	*capture;
static struct {
	int		 active;	/* an execution is running */
	uint32_t	 exec;		/* its id */
	int		 stream;	/* enum w_stream of buf */
	uint64_t	 sent_us;	/* when output last went */
	size_t		 len;
	char		 buf[W_CHUNK_MAX];
} out;

static void	r_write(const char *, int, int);
static int	r_read(const char *, unsigned char *, int, int);
static void	r_show(const char *);
static void	r_flush(void);
static void	r_cleanup(SA_TYPE, int, int);
static void	out_poll(void);
static void	rembed_natives(void);
static void	rembed_private(void);
static SEXP	rembed_printed(SEXP);
static SEXP	rembed_deparsed(SEXP);
static void	out_flush_full(void);
static size_t	utf8_cut(const char *, size_t);
static void	capture_add(const char *, size_t);
static SEXP	capture_end(SEXP);

#define NATIVE(name, fn, n) { name, (DL_FUNC)(void (*)(void))&fn, n }
static const R_CallMethodDef natives[] = {
	NATIVE("securer_result", eval_result_call, 2),
	NATIVE("securer_error", eval_error_call, 3),
	NATIVE("securer_stream", eval_stream_call, 2),
	NATIVE("securer_capture", capture_call, 2),
	NATIVE("securer_tool_call", tools_call, 2),
	NATIVE("securer_plots_opened", plots_opened_call, 1),
	{ NULL, NULL, 0 }
};

/*
 * The private environment's code.  .exec() runs an execution: each
 * top-level expression in globalenv, messages and warnings sent as they
 * come and muffled, an error ending it.  Its results leave through the
 * natives above, never through its return value.
 */
static const char rcode[] =
"for (.n in c('securer_result', 'securer_error', 'securer_stream',\n"
"    'securer_capture', 'securer_tool_call',\n"
"    'securer_plots_opened'))\n"
"    assign(.n, getNativeSymbolInfo(.n, '(embedding)'), envir = .self)\n"
"rm(.n, envir = .self)\n"
"\n"
"## What R calls an error at the top level of the user's code.\n"
".topcall <- quote(eval(.securer_expr, .GlobalEnv))\n"
"\n"
".msg <- function(cond) {\n"
"    m <- tryCatch(conditionMessage(cond), error = function(e) NULL)\n"
"    if (is.character(m) && length(m) > 0L && !is.na(m[1L])) m[1L]\n"
"    else '(no message)'\n"
"}\n"
"\n"
"## Its classes but R's own, for the client's condition.\n"
".classes <- function(cond) {\n"
"    cl <- tryCatch(class(cond), error = function(e) character(0))\n"
"    cl <- setdiff(cl[is.character(cl) & !is.na(cl)],\n"
"        c('simpleError', 'error', 'condition'))\n"
"    paste(cl, collapse = ',')\n"
"}\n"
"\n"
".call <- function(cond) {\n"
"    call <- tryCatch(conditionCall(cond), error = function(e) NULL)\n"
"    if (is.null(call) || identical(call, .topcall)) return('')\n"
"    d <- tryCatch(deparse(call, nlines = 1L), error = function(e) '')\n"
"    if (length(d) == 0L) '' else d[1L]\n"
"}\n"
"\n"
"## Print as R's top level does: user methods and masks apply.\n"
".print <- function(x) {\n"
"    e <- new.env(parent = .GlobalEnv)\n"
"    assign('x', x, envir = e)\n"
"    eval(quote(print(x)), e)\n"
"    invisible()\n"
"}\n"
"\n"
".printed <- function(x) {\n"
"    .Call(securer_capture, TRUE, NULL)\n"
"    on.exit(.Call(securer_capture, FALSE, NULL))\n"
"    err <- tryCatch({ .print(x); NULL }, error = function(e) .msg(e))\n"
"    on.exit()\n"
"    .Call(securer_capture, FALSE, err)\n"
"}\n"
"\n"
"## What cannot cross, printed without drawing: a page its print method\n"
"## draws (a ggplot assigned, not shown) must not become a plot.\n"
".printed_quiet <- function(x) {\n"
"    dev <- grDevices::dev.cur()\n"
"    grDevices::pdf(NULL)\n"
"    on.exit({ grDevices::dev.off()\n"
"        if (dev > 1L) grDevices::dev.set(dev) })\n"
"    .printed(x)\n"
"}\n"
"\n"
"## The text of a call or a function for the codec: one call that parses\n"
"## back, or NULL (the value cannot cross).  17 digits keep the numbers\n"
"## of a model's calls (poly()'s coefs) exact.\n"
".deparse <- function(x) tryCatch({\n"
"    lang <- is.call(x)\n"
"    if (!is.primitive(x)) attributes(x) <- NULL\n"
"    d <- paste(deparse(x, width.cutoff = 500L, backtick = TRUE,\n"
"        control = c('keepInteger', 'keepNA', 'niceNames', 'digits17')),\n"
"        collapse = '\\n')\n"
"    if (lang) {\n"
"        p <- tryCatch(parse(text = d, keep.source = FALSE),\n"
"            error = function(e) NULL)\n"
"        if (length(p) != 1L || !is.call(p[[1L]])) return(NULL)\n"
"    }\n"
"    d\n"
"}, error = function(e) NULL)\n"
"\n"
".parse <- function(code)\n"
"    tryCatch(suppressWarnings(parse(text = code, keep.source = FALSE)),\n"
"        error = function(e) .msg(e))\n"
"\n"
".run <- function(exprs, echo) {\n"
"    r <- list(value = NULL, visible = FALSE)\n"
"    n <- length(exprs)\n"
"    for (i in seq_len(n)) {\n"
"        .securer_expr <- exprs[[i]]\n"
"        r <- withVisible(eval(.securer_expr, .GlobalEnv))\n"
"        if (echo && i < n && r$visible) .print(r$value)\n"
"    }\n"
"    r\n"
"}\n"
"\n"
".exec <- function(exprs, echo) {\n"
"    withCallingHandlers({\n"
"        ok <- FALSE\n"
"        r <- tryCatch({\n"
"            v <- .run(exprs, echo)\n"
"            ok <- TRUE\n"
"            v\n"
"        }, error = function(e) e)\n"
"        if (ok) .Call(securer_result, r$value, r$visible)\n"
"        else .Call(securer_error, .msg(r), .call(r), .classes(r))\n"
"    }, message = function(m) {\n"
"        .Call(securer_stream, 3L, .msg(m))\n"
"        tryInvokeRestart('muffleMessage')\n"
"    }, warning = function(w) {\n"
"        ## options(warn): below 0 ignored, from 2 on R makes it an error\n"
"        warn <- getOption('warn', 0)\n"
"        if (is.numeric(warn) && length(warn) == 1L && warn >= 2) return()\n"
"        if (!is.numeric(warn) || length(warn) != 1L || warn >= 0)\n"
"            .Call(securer_stream, 4L, .msg(w))\n"
"        tryInvokeRestart('muffleWarning')\n"
"    })\n"
"    invisible()\n"
"}\n"
"\n"
"## Running programs: the sandbox forbids fork, and R would blame memory.\n"
"local({\n"
"    deny <- function(...)\n"
"        stop('running programs is not allowed in the sandbox', call. = FALSE)\n"
"    for (n in c('system', 'system2', 'shell'))\n"
"        if (exists(n, envir = baseenv(), inherits = FALSE)) {\n"
"            unlockBinding(n, baseenv())\n"
"            assign(n, deny, envir = baseenv())\n"
"            lockBinding(n, baseenv())\n"
"        }\n"
"})\n"
"\n"
"## parallel::detectCores() asks a program (grep): the CPUs this worker\n"
"## may run on, from the kernel's affinity list, instead.\n"
".cores <- function(all.tests = FALSE, logical = TRUE) {\n"
"    s <- tryCatch(readLines('/proc/self/status'), error = function(e) '')\n"
"    l <- sub('^Cpus_allowed_list:[[:space:]]*', '',\n"
"        grep('^Cpus_allowed_list:', s, value = TRUE))\n"
"    if (length(l) != 1L) return(NA_integer_)\n"
"    n <- sum(vapply(strsplit(strsplit(l, ',')[[1L]], '-'), function(r) {\n"
"        r <- suppressWarnings(as.integer(r))\n"
"        if (length(r) == 2L) r[2L] - r[1L] + 1L else 1L\n"
"    }, 1L))\n"
"    if (is.na(n) || n < 1L) NA_integer_ else n\n"
"}\n"
".patch_parallel <- function(...) {\n"
"    ns <- asNamespace('parallel')\n"
"    f <- .cores\n"
"    environment(f) <- ns\n"
"    unlockBinding('detectCores', ns)\n"
"    assign('detectCores', f, envir = ns)\n"
"    lockBinding('detectCores', ns)\n"
"}\n"
"if (isNamespaceLoaded('parallel')) .patch_parallel() else\n"
"    setHook(packageEvent('parallel', 'onLoad'), .patch_parallel)\n"
"\n"
"## A tool's error: no call, so conditionMessage() is exactly the text.\n"
".tool_error <- function(msg) stop(simpleError(msg))\n"
"\n"
"## Tool functions are .Call(securer_tool_call, name, list(a = a, ...)):\n"
"## .Call is a builtin, so the arguments are forced in the tool's own\n"
"## frame and R blames a missing one on the tool's call.\n"
".make_tool <- function(name, args) {\n"
"    vars <- lapply(args, as.name)\n"
"    names(vars) <- args\n"
"    body <- call('.Call', as.name('securer_tool_call'), name,\n"
"        as.call(c(as.name('list'), vars)))\n"
"    fmls <- rep(list(quote(expr = )), length(args))\n"
"    names(fmls) <- args\n"
"    as.function(c(fmls, body), envir = .self)\n"
"}\n"
"\n"
".define_tools <- function(names, args) {\n"
"    env <- attach(NULL, pos = 2L, name = 'tools:securer',\n"
"        warn.conflicts = FALSE)\n"
"    for (i in seq_along(names))\n"
"        assign(names[[i]], .make_tool(names[[i]], args[[i]]), envir = env)\n"
"    invisible()\n"
"}\n";

/*
 * Start R.  Rf_initEmbeddedR() in two halves, as R-exts advises, so the
 * console is ours before R runs any R code.
 */
void
rembed_init(void)
{
	char	*argv[] = { "securer-worker", "--vanilla", "--silent",
		    "--no-echo", "--no-readline", NULL };

	if (setenv("LANG", "C.UTF-8", 1) == -1)
		fatal("setenv");
	/* R's handlers would turn SIGSEGV into a prompt and SIGPIPE off. */
	R_SignalHandlers = 0;
	if (Rf_initialize_R(5, argv) != 0)
		fatalx("R failed to initialise");
	R_Interactive = FALSE;
	R_Outputfile = NULL;
	R_Consolefile = NULL;
	ptr_R_WriteConsole = NULL;
	ptr_R_WriteConsoleEx = r_write;
	ptr_R_ReadConsole = r_read;
	ptr_R_ShowMessage = r_show;
	ptr_R_FlushConsole = r_flush;
	ptr_R_CleanUp = r_cleanup;
	R_PolledEvents = out_poll;
	/* Sys.sleep() wakes to run it. */
	R_wait_usec = OUT_BATCH_US;
	setup_Rmainloop();
	rvalue_set_printer(rembed_printed);
	rvalue_set_deparser(rembed_deparsed);
	rembed_natives();
	rembed_private();
	plots_init();
}

/*
 * In the worker: R's tempdir may have moved, and the stack limit changed
 * since R measured it.  R checks its C stack usage against
 * R_CStackLimit, and needs headroom past it to raise the error.
 */
void
rembed_worker(const char *tmpdir, uint64_t stack)
{
	uintptr_t	 lim;
	char		*dir;

	if (strcmp(tmpdir, R_TempDir) != 0) {
		if ((dir = strdup(tmpdir)) == NULL)
			fatal("strdup");
		R_TempDir = dir;
		if (setenv("R_SESSION_TMPDIR", dir, 1) == -1)
			fatal("setenv");
	}
	if (stack != LIMIT_NONE) {
		lim = (uintptr_t)(stack / 10 * 9);
		if (R_CStackLimit == (uintptr_t)-1 || lim < R_CStackLimit)
			R_CStackLimit = lim;
	}
}

const char *
rembed_tempdir(void)
{
	return (R_TempDir);
}

SEXP
rembed_env(void)
{
	return (renv);
}

/* A function of the private environment. */
SEXP
rembed_fn(const char *name)
{
	SEXP	 fn;

	fn = Rf_findVarInFrame(renv, Rf_install(name));
	if (TYPEOF(fn) != CLOSXP)
		fatalx("no private function %s", name);
	return (fn);
}

/* The codec's printed form of what cannot cross: .printed_quiet(x). */
static SEXP
rembed_printed(SEXP x)
{
	return (rembed_apply(".printed_quiet", x));
}

/* The codec's text of a call or a function: .deparse(x). */
static SEXP
rembed_deparsed(SEXP x)
{
	return (rembed_apply(".deparse", x));
}

/*
 * fn(x) for a private function fn, evaluated in R (errors propagate).
 * x goes in quoted: a call or a symbol in a call is code, not a value.
 */
SEXP
rembed_apply(const char *fn, SEXP x)
{
	SEXP	 call, r;

	call = PROTECT(Rf_lang2(rembed_fn(fn), R_NilValue));
	SETCADR(call, Rf_lang2(Rf_install("quote"), x));
	r = Rf_eval(call, renv);
	UNPROTECT(1);
	return (r);
}

static void
print_body(void *x)
{
	Rf_PrintValue((SEXP)x);
}

/* A binding of name before base's: print masked, by the user or a tool. */
static int
masked(SEXP sym)
{
	SEXP	env;

	for (env = R_GlobalEnv; env != R_BaseEnv && env != R_EmptyEnv;
	    env = ENCLOS(env))
		if (R_existsVarInFrame(env, sym))
			return (1);
	return (0);
}

/*
 * The printed form of x without R code (.printed's is a closure, a
 * condition handler and an environment per value: most of the time an
 * execution of 1+1 took), when printing it runs none: an atomic vector
 * or NULL that is no object and has no attribute but names, with print
 * not masked.  Then print(x) is R's C printer, as at R's top level.
 * NULL: not such a value, or printing failed; .printed says why.
 */
SEXP
rembed_printed_plain(SEXP x)
{
	SEXP	r;
	int	ok;

	if (!rembed_is_plain(x) || masked(Rf_install("print")))
		return (NULL);
	capture_call(Rf_ScalarLogical(TRUE), R_NilValue);
	ok = R_ToplevelExec(print_body, x);
	r = capture_end(R_NilValue);
	return (ok ? r : NULL);
}

/*
 * An atomic vector or NULL that is no object and has no attribute but
 * names: its printed form is what any client can make of its value.
 */
int
rembed_is_plain(SEXP x)
{
	SEXP	a;

	switch (TYPEOF(x)) {
	case NILSXP:
	case LGLSXP:
	case INTSXP:
	case REALSXP:
	case CPLXSXP:
	case STRSXP:
	case RAWSXP:
		break;
	default:
		return (0);
	}
	if (OBJECT(x))
		return (0);
	for (a = ATTRIB(x); a != R_NilValue; a = CDR(a))
		if (TAG(a) != R_NamesSymbol)
			return (0);
	return (1);
}

static void
rembed_natives(void)
{
	DllInfo	*dll;

	dll = R_getEmbeddingDllInfo();
	if (R_registerRoutines(dll, NULL, natives, NULL, NULL) != 1)
		fatalx("R_registerRoutines");
	R_useDynamicSymbols(dll, FALSE);
}

static void
rembed_private(void)
{
	ParseStatus	 status;
	SEXP		 code, exprs;
	R_xlen_t	 i;
	int		 err;

	renv = R_NewEnv(R_BaseEnv, TRUE, 0);
	R_PreserveObject(renv);
	Rf_defineVar(Rf_install(".self"), renv, renv);

	code = PROTECT(Rf_mkString(rcode));
	exprs = PROTECT(R_ParseVector(code, -1, &status, R_NilValue));
	if (status != PARSE_OK)
		fatalx("the worker's R code does not parse");
	for (i = 0; i < XLENGTH(exprs); i++) {
		R_tryEval(VECTOR_ELT(exprs, i), renv, &err);
		if (err)
			fatalx("the worker's R code fails");
	}
	UNPROTECT(2);
}

/* R's console output: otype 0 is stdout, 1 stderr. */
static void
r_write(const char *buf, int len, int otype)
{
	if (len <= 0)
		return;
	if (otype == 0 && capture != NULL)
		capture_add(buf, len);
	else
		out_write(otype == 0 ? STREAM_STDOUT : STREAM_STDERR, buf,
		    len);
}

/* There is no one to read from: EOF. */
static int
r_read(const char *prompt, unsigned char *buf, int len, int hist)
{
	return (0);
}

static void
r_show(const char *msg)
{
	out_write(STREAM_STDERR, msg, strlen(msg));
	out_write(STREAM_STDERR, "\n", 1);
}

/* flush.console(): what is buffered goes now. */
static void
r_flush(void)
{
	out_flush();
}

/* q() and fatal R errors: the worker just ends. */
static void
r_cleanup(SA_TYPE saveact, int status, int runlast)
{
	worker_exit(status);
}

void
out_begin(uint32_t exec)
{
	out.active = 1;
	out.exec = exec;
	out.len = 0;
}

void
out_end(void)
{
	out_flush();
	out.active = 0;
}

/*
 * Line-buffered: a write with a newline goes out with what was buffered
 * before it, and so does a full buffer or a change of stream.  Outside
 * an execution there is no one to send output to.
 */
void
out_write(int stream, const char *p, size_t n)
{
	size_t	 k;
	int	 nl;

	if (!out.active || n == 0)
		return;
	if (out.len > 0 && out.stream != stream)
		out_flush();
	out.stream = stream;
	nl = memchr(p, '\n', n) != NULL;
	while (n > 0) {
		k = sizeof(out.buf) - out.len;
		if (k > n)
			k = n;
		memcpy(out.buf + out.len, p, k);
		out.len += k;
		p += k;
		n -= k;
		if (out.len == sizeof(out.buf))
			out_flush_full();
	}
	if (nl && now_us() - out.sent_us >= OUT_BATCH_US)
		out_flush();
}

/* R's event loop: lines held for batching go once they waited enough. */
static void
out_poll(void)
{
	if (out.active && out.len > 0 && now_us() - out.sent_us >= OUT_BATCH_US)
		out_flush();
}

void
out_flush(void)
{
	if (out.len == 0)
		return;
	out_send(out.stream, out.buf, out.len);
	out.len = 0;
	out.sent_us = now_us();
}

/* A full buffer goes out but for a character its end cuts in two. */
static void
out_flush_full(void)
{
	size_t	 cut;

	cut = utf8_cut(out.buf, out.len);
	out_send(out.stream, out.buf, cut);
	memmove(out.buf, out.buf + cut, out.len - cut);
	out.len -= cut;
}

/* len, or the start of a UTF-8 sequence that len leaves incomplete. */
static size_t
utf8_cut(const char *s, size_t len)
{
	unsigned char	 c;
	size_t		 i, need;

	for (i = len; i > 0 && len - i < 4; i--) {
		c = s[i - 1];
		if ((c & 0xc0) == 0x80)
			continue;
		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		return (len - (i - 1) < need ? i - 1 : len);
	}
	return (len);
}

/* One output message, as it is (but for invalid UTF-8). */
void
out_send(int stream, const char *p, size_t n)
{
	char		*t;
	size_t		 len;

	if (!out.active)
		return;
	t = w_text(p, n, W_TEXT_MAX, &len);
	worker_sent(msg_send_output(worker_chan(), out.exec, stream, t, len));
	free(t);
}

static void
capture_add(const char *p, size_t n)
{
	struct capture	*c = capture;
	size_t		 size;
	char		*buf;

	if (n > W_PRINTED_MAX - c->len) {
		n = W_PRINTED_MAX - c->len;
		c->cut = 1;
	}
	if (c->len + n > c->size) {
		size = c->size > 0 ? c->size : 1024;
		while (size < c->len + n)
			size *= 2;
		if (size > W_PRINTED_MAX)
			size = W_PRINTED_MAX;
		if ((buf = realloc(c->buf, size)) == NULL)
			fatal("realloc");
		c->buf = buf;
		c->size = size;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
}

/*
 * .Call(securer_capture, TRUE, NULL) starts capturing stdout, nested
 * captures stacking; .Call(securer_capture, FALSE, err) stops the last
 * one and returns what it got, with a note if it was cut and one for
 * err, the message of an error while printing, if not NULL.
 */
SEXP
capture_call(SEXP begin, SEXP err)
{
	struct capture	*c;

	if (Rf_asLogical(begin) != TRUE)
		return (capture_end(err));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("calloc");
	c->prev = capture;
	capture = c;
	return (R_NilValue);
}

static SEXP
capture_end(SEXP err)
{
	struct capture	*c = capture;
	const char	*emsg = NULL;
	char		*text, *all;
	size_t		 room, len, elen = 0, alen;

	if (c == NULL)
		return (Rf_mkString(""));
	if (TYPEOF(err) == STRSXP && XLENGTH(err) > 0 &&
	    STRING_ELT(err, 0) != NA_STRING) {
		emsg = rvalue_utf8(STRING_ELT(err, 0));
		if ((elen = strlen(emsg)) > W_CALL_MAX)
			elen = W_CALL_MAX;
	}
	capture = c->prev;

	room = W_PRINTED_MAX - (c->cut ? strlen(CUT_NOTE) : 0);
	if (emsg != NULL)
		room -= strlen(PRINT_ERROR) + elen + 1;
	text = w_text(c->buf != NULL ? c->buf : "", c->len, room, &len);
	/*
	 * As long as it needs to be, not W_PRINTED_MAX: R takes it back
	 * after the .Call (even if an error jumps), but a megabyte for
	 * each printed value made R collect garbage every few executions.
	 */
	all = R_alloc(len + strlen(CUT_NOTE) + strlen(PRINT_ERROR) + elen +
	    2, 1);
	memcpy(all, text, len);
	alen = len;
	free(text);
	if (c->cut) {
		memcpy(all + alen, CUT_NOTE, strlen(CUT_NOTE));
		alen += strlen(CUT_NOTE);
	}
	if (emsg != NULL) {
		text = w_text(emsg, elen, elen, &len);
		alen += snprintf(all + alen, strlen(PRINT_ERROR) + len + 2,
		    "%s%s\n", PRINT_ERROR, text);
		free(text);
	}
	free(c->buf);
	free(c);
	return (Rf_ScalarString(Rf_mkCharLenCE(all, alen, CE_UTF8)));
}

/*
 * A copy of text fit to send: valid UTF-8 without NULs, at most max
 * bytes, cut on a character boundary.  Text from R may be anything.
 */
char *
w_text(const char *s, size_t len, size_t max, size_t *outlen)
{
	char	*t;
	size_t	 n;

	if ((t = utf8_sanitize(s, len, &n)) == NULL)
		fatal("utf8_sanitize");
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
			n--;
		t[n] = '\0';
	}
	*outlen = n;
	return (t);
}
