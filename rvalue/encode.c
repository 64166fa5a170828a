/*
 * R values to JSON, as securer-protocol(7) "Values" says.
 *
 * Written straight into a buffer that never grows past the caller's
 * bound: a value that would pass it stops the encoding there, and the
 * size it would have had is extrapolated from the part done, so that a
 * vector of a billion doubles costs the same as one of a million.
 *
 * Unsupported values carry their printed form, which runs R code (print
 * methods) that can fail or jump; R_UnwindProtect frees the buffer then.
 * Elements are read with the *_ELT accessors so that ALTREP vectors
 * (1:1e10) are never expanded in memory.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "json.h"
#include "rvalue.h"
#include "utf8.h"

#define NUM_MAX		32

struct enc {
	char		*buf;
	size_t		 len;
	size_t		 size;
	size_t		 max;
	int		 over;		/* the value would pass max */
	double		 est;		/* then its size, extrapolated */
	char		*err;		/* else why it failed */
	size_t		 errlen;
	int		 depth;
};

struct enc_job {
	struct enc	*e;
	SEXP		 x;
	int		 args;		/* a list of tool arguments */
	int		 rc;
};

static rvalue_printer	printer;

static int	encode_run(SEXP, int, size_t, char **, size_t *, char *,
		    size_t);
static SEXP	enc_job_run(void *);
static void	enc_job_clean(void *, Rboolean);
static int	reserve(struct enc *, size_t);
static int	put(struct enc *, const char *, size_t);
static int	puts_(struct enc *, const char *);
static int	enc_value(struct enc *, SEXP);
static const char *enc_type(SEXP);
static int	enc_vector(struct enc *, SEXP);
static int	enc_over(struct enc *, size_t, R_xlen_t, R_xlen_t);
static int	enc_elt(struct enc *, SEXP, R_xlen_t);
static int	enc_double(struct enc *, double);
static int	enc_string(struct enc *, SEXP);
static int	enc_text(struct enc *, const char *, size_t);
static int	enc_put(void *, const char *, size_t);
static int	enc_raw(struct enc *, SEXP);
static int	enc_attrs(struct enc *, SEXP);
static int	enc_unsupported(struct enc *, SEXP);
static int	enc_args(struct enc *, SEXP);

/*
 * Encode x into a malloc'd buffer of at most max bytes (not
 * NUL-terminated).  -1 with a reason in err ("too large (N bytes, max
 * M)", ...) if it cannot be.
 */
void
rvalue_set_printer(rvalue_printer fn)
{
	printer = fn;
}

int
rvalue_encode(SEXP x, size_t max, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	return (encode_run(x, 0, max, out, outlen, err, errlen));
}

/* A named list of tool arguments as a JSON object: name -> value. */
int
rvalue_encode_args(SEXP args, size_t max, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	return (encode_run(args, 1, max, out, outlen, err, errlen));
}

static int
encode_run(SEXP x, int args, size_t max, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct enc	 e;
	struct enc_job	 job;
	SEXP		 cont;

	memset(&e, 0, sizeof(e));
	e.max = max;
	e.err = err;
	e.errlen = errlen;
	err[0] = '\0';
	job.e = &e;
	job.x = x;
	job.args = args;
	job.rc = -1;
	cont = PROTECT(R_MakeUnwindCont());
	R_UnwindProtect(enc_job_run, &job, enc_job_clean, &job, cont);
	UNPROTECT(1);
	if (job.rc == -1) {
		if (e.over)
			snprintf(err, errlen, "too large (%.0f bytes, max %zu)",
			    e.est, max);
		free(e.buf);
		return (-1);
	}
	*out = e.buf;
	*outlen = e.len;
	return (0);
}

static SEXP
enc_job_run(void *arg)
{
	struct enc_job	*job = arg;

	if (job->args)
		job->rc = enc_args(job->e, job->x);
	else
		job->rc = enc_value(job->e, job->x);
	return (R_NilValue);
}

/* An R error or jump left the encoding: the buffer is ours to free. */
static void
enc_job_clean(void *arg, Rboolean jump)
{
	struct enc_job	*job = arg;

	if (jump) {
		free(job->e->buf);
		job->e->buf = NULL;
	}
}

/* Room for n more bytes at e->buf + e->len, within e->max. */
static int
reserve(struct enc *e, size_t n)
{
	size_t	 size;
	char	*p;

	if (n > e->max - e->len) {
		e->over = 1;
		e->est = (double)e->len + n;
		return (-1);
	}
	if (e->len + n > e->size) {
		size = e->size > 0 ? e->size : 4096;
		while (size < e->len + n)
			size *= 2;
		if (size > e->max)
			size = e->max;
		if ((p = realloc(e->buf, size)) == NULL) {
			snprintf(e->err, e->errlen, "out of memory");
			return (-1);
		}
		e->buf = p;
		e->size = size;
	}
	return (0);
}

static int
put(struct enc *e, const char *s, size_t n)
{
	if (reserve(e, n) == -1)
		return (-1);
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	return (0);
}

static int
puts_(struct enc *e, const char *s)
{
	return (put(e, s, strlen(s)));
}

static int
enc_value(struct enc *e, SEXP x)
{
	const char	*type;
	int		 rc;

	if (x == R_NilValue)
		return (puts_(e, "null"));
	if (e->depth >= RVALUE_DEPTH_MAX) {
		snprintf(e->err, e->errlen, "nested more than %d levels deep",
		    RVALUE_DEPTH_MAX);
		return (-1);
	}
	e->depth++;
	if ((type = enc_type(x)) == NULL)
		rc = enc_unsupported(e, x);
	else if (puts_(e, "{\"type\":\"") == -1 || puts_(e, type) == -1 ||
	    puts_(e, "\",\"value\":") == -1 || enc_vector(e, x) == -1 ||
	    enc_attrs(e, x) == -1 || puts_(e, "}") == -1)
		rc = -1;
	else
		rc = 0;
	e->depth--;
	return (rc);
}

/* The protocol's type of x, or NULL if it cannot cross. */
static const char *
enc_type(SEXP x)
{
	/* An S4 object would come back without its S4 bit. */
	if (IS_S4_OBJECT(x))
		return (NULL);
	switch (TYPEOF(x)) {
	case LGLSXP:
		return ("logical");
	case INTSXP:
		return ("integer");
	case REALSXP:
		return ("double");
	case CPLXSXP:
		return ("complex");
	case STRSXP:
		return ("character");
	case RAWSXP:
		return ("raw");
	case VECSXP:
		return ("list");
	default:
		return (NULL);
	}
}

static int
enc_vector(struct enc *e, SEXP x)
{
	R_xlen_t	 i, n;
	size_t		 start = e->len;

	if (TYPEOF(x) == RAWSXP)
		return (enc_raw(e, x));
	n = XLENGTH(x);
	if (put(e, "[", 1) == -1)
		return (-1);
	for (i = 0; i < n; i++)
		if ((i > 0 && put(e, ",", 1) == -1) || enc_elt(e, x, i) == -1)
			return (enc_over(e, start, i, n));
	return (put(e, "]", 1));
}

/*
 * Element i of n failed.  If it was for size, the vector would have been
 * n / (i + 1) times what it took up to there.
 */
static int
enc_over(struct enc *e, size_t start, R_xlen_t i, R_xlen_t n)
{
	if (e->over)
		e->est = start + (e->est - start) * ((double)n / (i + 1));
	return (-1);
}

static int
enc_elt(struct enc *e, SEXP x, R_xlen_t i)
{
	char		 num[NUM_MAX];
	Rcomplex	 c;
	int		 v;

	switch (TYPEOF(x)) {
	case LGLSXP:
		v = LOGICAL_ELT(x, i);
		return (puts_(e, v == NA_LOGICAL ? "null" :
		    v ? "true" : "false"));
	case INTSXP:
		if ((v = INTEGER_ELT(x, i)) == NA_INTEGER)
			return (puts_(e, "null"));
		return (put(e, num, snprintf(num, sizeof(num), "%d", v)));
	case REALSXP:
		return (enc_double(e, REAL_ELT(x, i)));
	case CPLXSXP:
		c = COMPLEX_ELT(x, i);
		if (R_IsNA(c.r) && R_IsNA(c.i))
			return (puts_(e, "null"));
		if (put(e, "[", 1) == -1 || enc_double(e, c.r) == -1 ||
		    put(e, ",", 1) == -1 || enc_double(e, c.i) == -1)
			return (-1);
		return (put(e, "]", 1));
	case STRSXP:
		if (STRING_ELT(x, i) == NA_STRING)
			return (puts_(e, "null"));
		return (enc_string(e, STRING_ELT(x, i)));
	case VECSXP:
		return (enc_value(e, VECTOR_ELT(x, i)));
	default:
		snprintf(e->err, e->errlen, "cannot encode R type %d",
		    TYPEOF(x));
		return (-1);
	}
}

/*
 * NA is null, NaN and the infinities are strings, and the rest is the
 * shortest of %.15g to %.17g that reads back the same.  Integers below
 * 10^15 print as fmt_double() would print them, only faster.
 */
static int
enc_double(struct enc *e, double d)
{
	char	 num[NUM_MAX];
	int	 n;

	if (R_IsNA(d))
		return (puts_(e, "null"));
	if (ISNAN(d))
		return (puts_(e, "\"NaN\""));
	if (isinf(d))
		return (puts_(e, d > 0 ? "\"Inf\"" : "\"-Inf\""));
	if (d > -1e15 && d < 1e15 && d == (long long)d &&
	    !(d == 0 && signbit(d)))
		n = snprintf(num, sizeof(num), "%lld", (long long)d);
	else if ((n = fmt_double(num, sizeof(num), d)) == -1) {
		snprintf(e->err, e->errlen, "cannot format %a", d);
		return (-1);
	}
	return (put(e, num, n));
}

/*
 * A CHARSXP as UTF-8, in R's transient memory: bytes marked as bytes
 * are taken as they are (the encoder repairs what is not UTF-8).
 */
const char *
rvalue_utf8(SEXP s)
{
	if (Rf_getCharCE(s) == CE_BYTES)
		return (R_CHAR(s));
	return (Rf_translateCharUTF8(s));
}

static int
enc_string(struct enc *e, SEXP s)
{
	const void	*vmax = vmaxget();
	const char	*p;
	int		 rc;

	p = rvalue_utf8(s);
	rc = enc_text(e, p, strlen(p));
	vmaxset(vmax);
	return (rc);
}

/* A JSON string; what is not UTF-8 is repaired first. */
static int
enc_text(struct enc *e, const char *s, size_t len)
{
	char	*fixed;
	size_t	 fixlen;
	int	 rc;

	if (utf8_valid(s, len))
		return (json_escape(s, len, enc_put, e));
	if ((fixed = utf8_sanitize(s, len, &fixlen)) == NULL) {
		snprintf(e->err, e->errlen, "out of memory");
		return (-1);
	}
	rc = json_escape(fixed, fixlen, enc_put, e);
	free(fixed);
	return (rc);
}

static int
enc_put(void *arg, const char *s, size_t n)
{
	return (put(arg, s, n));
}

/* Raw vectors: one base64 string, its size known before it is written. */
static int
enc_raw(struct enc *e, SEXP x)
{
	size_t	 n = XLENGTH(x), need = base64_len(n);

	if ((double)need + 2 > (double)(e->max - e->len)) {
		e->over = 1;
		e->est = (double)e->len + need + 2;
		return (-1);
	}
	if (put(e, "\"", 1) == -1 || reserve(e, need) == -1)
		return (-1);
	base64_encode_to(e->buf + e->len, RAW(x), n);
	e->len += need;
	return (put(e, "\"", 1));
}

/*
 * Attributes as R stores them (ATTRIB), in its order: a data frame's
 * compact row.names c(NA, -n) stay compact.
 */
static int
enc_attrs(struct enc *e, SEXP x)
{
	SEXP	 a;

	if (ATTRIB(x) == R_NilValue)
		return (0);
	if (puts_(e, ",\"attributes\":{") == -1)
		return (-1);
	for (a = ATTRIB(x); a != R_NilValue; a = CDR(a)) {
		if (a != ATTRIB(x) && put(e, ",", 1) == -1)
			return (-1);
		if (enc_string(e, PRINTNAME(TAG(a))) == -1 ||
		    put(e, ":", 1) == -1 || enc_value(e, CAR(a)) == -1)
			return (-1);
	}
	return (put(e, "}", 1));
}

static int
enc_unsupported(struct enc *e, SEXP x)
{
	SEXP	 printed;
	int	 rc;

	if (puts_(e, "{\"type\":\"unsupported\",\"rtype\":") == -1 ||
	    enc_text(e, Rf_type2char(TYPEOF(x)),
	    strlen(Rf_type2char(TYPEOF(x)))) == -1 ||
	    puts_(e, ",\"printed\":") == -1)
		return (-1);
	printed = PROTECT(printer != NULL ? printer(x) : R_NilValue);
	if (TYPEOF(printed) == STRSXP && XLENGTH(printed) == 1 &&
	    STRING_ELT(printed, 0) != NA_STRING)
		rc = enc_string(e, STRING_ELT(printed, 0));
	else
		rc = puts_(e, "\"\"");
	UNPROTECT(1);
	if (rc == -1)
		return (-1);
	return (put(e, "}", 1));
}

static int
enc_args(struct enc *e, SEXP args)
{
	SEXP		 names;
	R_xlen_t	 i, n;

	if (TYPEOF(args) != VECSXP) {
		snprintf(e->err, e->errlen, "tool arguments are not a list");
		return (-1);
	}
	names = Rf_getAttrib(args, R_NamesSymbol);
	n = XLENGTH(args);
	if (put(e, "{", 1) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		if (i > 0 && put(e, ",", 1) == -1)
			return (-1);
		if ((TYPEOF(names) == STRSXP && XLENGTH(names) == n &&
		    STRING_ELT(names, i) != NA_STRING ?
		    enc_string(e, STRING_ELT(names, i)) :
		    puts_(e, "\"\"")) == -1)
			return (-1);
		if (put(e, ":", 1) == -1 ||
		    enc_value(e, VECTOR_ELT(args, i)) == -1)
			return (-1);
	}
	return (put(e, "}", 1));
}
