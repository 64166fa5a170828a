/*
 * R code parsed, never run, by the worker (the code of an execution),
 * the R package (code given as text to validate) and the decoder (a
 * call's text): R_ParseVector() under R_ToplevelExec(), so that an error
 * of the parser (a stack overflow, memory) cannot jump past its caller.
 */

#include "rvalue.h"

#include <R_ext/Parse.h>

static void
parse_body(void *arg)
{
	SEXP		 box = arg;
	ParseStatus	 status;
	SEXP		 r;

	r = R_ParseVector(VECTOR_ELT(box, 0), INTEGER(VECTOR_ELT(box, 2))[0],
	    &status, R_NilValue);
	if (status == PARSE_OK)
		SET_VECTOR_ELT(box, 1, r);
}

/* text's first n expressions (-1: all), or R_NilValue; unprotected. */
SEXP
rvalue_parse(SEXP text, int n)
{
	SEXP	box, r = R_NilValue;

	/* [0] the text, [1] what it parses to, [2] n: protected here. */
	PROTECT(text);
	box = PROTECT(Rf_allocVector(VECSXP, 3));
	SET_VECTOR_ELT(box, 0, text);
	SET_VECTOR_ELT(box, 2, Rf_ScalarInteger(n));
	if (R_ToplevelExec(parse_body, box) &&
	    TYPEOF(VECTOR_ELT(box, 1)) == EXPRSXP)
		r = VECTOR_ELT(box, 1);
	UNPROTECT(2);
	return (r);
}
