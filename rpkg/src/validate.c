/*
 * validate_code()'s walk of the parsed code: which of the risky names it
 * mentions, in one pass over the tree, so that the cost is linear in the
 * code (getParseData() was quadratic).  A name counts where it is called
 * (f(), `f`(), pkg::f()), passed as a function (lapply(x, system),
 * f <- system), or given as a string to what looks functions up by name
 * (get("system"), match.fun, do.call, getExportedValue); code in a
 * string given to parse(text =) or str2lang() is walked too.  Advice
 * only: the sandbox is the boundary.
 */

#include <string.h>

#include "rvalue.h"	/* and Rinternals.h, R_NO_REMAP */

#define WALK_DEPTH	10000	/* nesting followed; deeper is cut */
#define PARSED_MAX	8	/* strings parsed, for nested parse(text=) */

struct walk {
	SEXP	 patterns;	/* character: the names */
	int	*hit;		/* one per pattern */
	int	 parsed;
};

static void	walk(struct walk *, SEXP, int);

/* Whether name is pattern i, and mark it; bare: not as a call. */
static void
mark(struct walk *w, const char *name, int bare)
{
	R_xlen_t	 i;
	const char	*p;

	/* As variables, these are common words, not calls. */
	if (bare && (strcmp(name, "url") == 0 || strcmp(name, "file") == 0 ||
	    strcmp(name, "pipe") == 0 || strcmp(name, "shell") == 0))
		return;
	for (i = 0; i < XLENGTH(w->patterns); i++) {
		p = CHAR(STRING_ELT(w->patterns, i));
		if (strcmp(p, name) == 0)
			w->hit[i] = 1;
	}
}

static int
is_sym(SEXP x, const char *name)
{
	return (TYPEOF(x) == SYMSXP && strcmp(CHAR(PRINTNAME(x)), name) == 0);
}

static const char *
string_of(SEXP x)
{
	if (TYPEOF(x) == STRSXP && XLENGTH(x) == 1 &&
	    STRING_ELT(x, 0) != NA_STRING)
		return (CHAR(STRING_ELT(x, 0)));
	return (NULL);
}

/* pkg::name and pkg:::name: both "pkg::name" and "name". */
static int
walk_ns(struct walk *w, SEXP head)
{
	char		 buf[512];
	const char	*pkg, *fn;

	if (TYPEOF(head) != LANGSXP || !(is_sym(CAR(head), "::") ||
	    is_sym(CAR(head), ":::")) || Rf_length(head) != 3)
		return (0);
	pkg = TYPEOF(CADR(head)) == SYMSXP ? CHAR(PRINTNAME(CADR(head))) :
	    string_of(CADR(head));
	fn = TYPEOF(CADDR(head)) == SYMSXP ? CHAR(PRINTNAME(CADDR(head))) :
	    string_of(CADDR(head));
	if (pkg == NULL || fn == NULL)
		return (0);
	snprintf(buf, sizeof(buf), "%s::%s", pkg, fn);
	mark(w, buf, 0);
	mark(w, fn, 0);
	return (1);
}

/* Code given as a string: parsed (never run) and walked. */
static void
walk_text(struct walk *w, SEXP s, int depth)
{
	SEXP	 exprs;

	if (TYPEOF(s) != STRSXP || w->parsed >= PARSED_MAX)
		return;
	w->parsed++;
	exprs = PROTECT(rvalue_parse(s, -1));
	if (exprs != R_NilValue)
		walk(w, exprs, depth + 1);
	UNPROTECT(1);
}

/* A call: what looks functions up by a string, and code as text. */
static void
walk_call(struct walk *w, SEXP x, int depth)
{
	SEXP		 head = CAR(x), a;
	const char	*h, *s;

	if (TYPEOF(head) == SYMSXP) {
		h = CHAR(PRINTNAME(head));
		mark(w, h, 0);
		if (strcmp(h, "get") == 0 || strcmp(h, "get0") == 0 ||
		    strcmp(h, "match.fun") == 0 || strcmp(h, "do.call") == 0 ||
		    strcmp(h, "mget") == 0 || strcmp(h, "exists") == 0 ||
		    strcmp(h, "getFunction") == 0) {
			if (CDR(x) != R_NilValue &&
			    (s = string_of(CADR(x))) != NULL)
				mark(w, s, 0);
		} else if (strcmp(h, "getExportedValue") == 0 ||
		    strcmp(h, "getNativeSymbolInfo") == 0) {
			for (a = CDR(x); a != R_NilValue; a = CDR(a))
				if ((s = string_of(CAR(a))) != NULL)
					mark(w, s, 0);
		} else if (strcmp(h, "parse") == 0 ||
		    strcmp(h, "str2lang") == 0 ||
		    strcmp(h, "str2expression") == 0) {
			for (a = CDR(x); a != R_NilValue; a = CDR(a))
				if (TAG(a) == R_NilValue ||
				    strcmp(CHAR(PRINTNAME(TAG(a))), "text") == 0)
					walk_text(w, CAR(a), depth);
		}
	} else if (!walk_ns(w, head))
		walk(w, head, depth + 1);
	for (a = CDR(x); a != R_NilValue; a = CDR(a))
		walk(w, CAR(a), depth + 1);
}

/* Along each call iteratively; down into its parts by recursion. */
static void
walk(struct walk *w, SEXP x, int depth)
{
	R_xlen_t	 i;

	if (depth > WALK_DEPTH)
		return;
	switch (TYPEOF(x)) {
	case SYMSXP:
		mark(w, CHAR(PRINTNAME(x)), 1);
		break;
	case LANGSXP:
		walk_call(w, x, depth);
		break;
	case LISTSXP:
		for (; x != R_NilValue; x = CDR(x))
			walk(w, CAR(x), depth + 1);
		break;
	case EXPRSXP:
	case VECSXP:
		for (i = 0; i < XLENGTH(x); i++)
			walk(w, VECTOR_ELT(x, i), depth + 1);
		break;
	}
}

/* .Call(C_risky, exprs, patterns): a logical, one per pattern. */
SEXP
r_risky(SEXP exprs, SEXP patterns)
{
	struct walk	 w;
	SEXP		 r;

	if (TYPEOF(patterns) != STRSXP)
		Rf_error("patterns must be a character vector");
	r = PROTECT(Rf_allocVector(LGLSXP, XLENGTH(patterns)));
	memset(LOGICAL(r), 0, XLENGTH(patterns) * sizeof(int));
	w.patterns = patterns;
	w.hit = LOGICAL(r);
	w.parsed = 0;
	walk(&w, exprs, 0);
	UNPROTECT(1);
	return (r);
}
