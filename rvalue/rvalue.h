/*
 * The R value codec: R values to and from the JSON of
 * securer-protocol(7) "Values".  One library (librvalue), used by the
 * worker for results and tool calls and by the R package for tool
 * results and values; it depends on R, cJSON and the tree's JSON,
 * UTF-8 and base64 helpers, never on a daemon's internals.
 *
 * Values crossing the codec are untrusted both ways: the decoder takes
 * any text and fails cleanly; the encoder runs R code (print methods of
 * what cannot cross) that may fail or jump, and frees what it holds if
 * it does.
 */

#ifndef RVALUE_H
#define RVALUE_H

#include <stddef.h>

#define R_NO_REMAP
#include <Rinternals.h>

#define RVALUE_DEPTH_MAX	200	/* nesting of a value */

/*
 * The printed form of a value that cannot cross, as a character(1); the
 * program using the codec says how (the worker prints in the session,
 * the R package in its namespace).  NULL: no printed form.
 */
typedef SEXP	(*rvalue_printer)(SEXP);
void		 rvalue_set_printer(rvalue_printer);

int		 rvalue_encode(SEXP, size_t, char **, size_t *, char *,
		    size_t);
int		 rvalue_encode_args(SEXP, size_t, char **, size_t *, char *,
		    size_t);
SEXP		 rvalue_decode(const char *, size_t, char *, size_t);
const char	*rvalue_utf8(SEXP);

#endif /* RVALUE_H */
