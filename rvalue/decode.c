/*
 * JSON values (securer-protocol(7) "Values") to R, for tool results.
 *
 * The text comes from a client through the monitor: anything can be in
 * it.  A value that does not follow the encoding is a clean failure with
 * a reason, never a crash: our own checks return NULL with PROTECTs
 * balanced, and what R itself refuses (a "dim" that does not match the
 * length, say, or memory) is an R error that R_tryCatchError turns into
 * the same.  The cJSON tree is freed either way.
 */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base64.h"
#include "rvalue.h"
#include "utf8.h"

struct dec {
	const cJSON	*root;
	char		*err;
	size_t		 errlen;
	int		 failed;
};

static SEXP	dec_body(void *);
static SEXP	dec_handler(SEXP, void *);
static SEXP	dec_value(struct dec *, const cJSON *);
static SEXP	dec_vector(struct dec *, const char *, const cJSON *);
static SEXP	dec_atomic(struct dec *, SEXPTYPE, const char *,
		    const cJSON *);
static int	dec_elt(struct dec *, SEXP, R_xlen_t, const cJSON *);
static int	dec_double(const cJSON *, double *);
static int	dec_integer(const cJSON *, int *);
static SEXP	dec_raw(struct dec *, const cJSON *);
static int	dec_attrs(struct dec *, SEXP, const cJSON *);
static SEXP	dec_fail(struct dec *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));

/*
 * The R value of the JSON text json (len bytes), unprotected; NULL with
 * the reason in err if it is not a valid encoded value.
 */
SEXP
rvalue_decode(const char *json, size_t len, char *err, size_t errlen)
{
	struct dec	 d;
	const char	*end = NULL;
	cJSON		*root;
	SEXP		 x;

	memset(&d, 0, sizeof(d));
	err[0] = '\0';
	d.err = err;
	d.errlen = errlen;
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (root == NULL) {
		snprintf(err, errlen, "not JSON");
		return (NULL);
	}
	while (end < json + len && strchr(" \t\r\n", *end) != NULL)
		end++;
	if (end != json + len) {
		cJSON_Delete(root);
		snprintf(err, errlen, "text after the JSON value");
		return (NULL);
	}
	d.root = root;
	x = R_tryCatchError(dec_body, &d, dec_handler, &d);
	cJSON_Delete(root);
	return (d.failed ? NULL : x);
}

static SEXP
dec_body(void *arg)
{
	struct dec	*d = arg;
	SEXP		 x;

	if ((x = dec_value(d, d->root)) == NULL) {
		d->failed = 1;
		return (R_NilValue);
	}
	return (x);
}

/* R refused something: its message is the reason. */
static SEXP
dec_handler(SEXP cond, void *arg)
{
	struct dec	*d = arg;
	SEXP		 msg;

	d->failed = 1;
	snprintf(d->err, d->errlen, "R error");
	if (TYPEOF(cond) == VECSXP && XLENGTH(cond) > 0) {
		msg = VECTOR_ELT(cond, 0);
		if (TYPEOF(msg) == STRSXP && XLENGTH(msg) > 0 &&
		    STRING_ELT(msg, 0) != NA_STRING)
			snprintf(d->err, d->errlen, "%s",
			    rvalue_utf8(STRING_ELT(msg, 0)));
	}
	return (R_NilValue);
}

static SEXP
dec_fail(struct dec *d, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return (NULL);
}

static SEXP
dec_value(struct dec *d, const cJSON *j)
{
	const cJSON	*type, *value, *attrs;
	SEXP		 x;

	if (cJSON_IsNull(j))
		return (R_NilValue);
	if (!cJSON_IsObject(j))
		return (dec_fail(d, "a value is neither null nor an object"));
	type = cJSON_GetObjectItemCaseSensitive(j, "type");
	if (!cJSON_IsString(type))
		return (dec_fail(d, "a value has no \"type\""));
	if (strcmp(type->valuestring, "unsupported") == 0)
		return (dec_fail(d, "an unsupported value cannot be sent "
		    "to R"));
	value = cJSON_GetObjectItemCaseSensitive(j, "value");
	if (value == NULL)
		return (dec_fail(d, "a %s value has no \"value\"",
		    type->valuestring));
	if ((x = dec_vector(d, type->valuestring, value)) == NULL)
		return (NULL);
	attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	if (attrs != NULL) {
		PROTECT(x);
		if (dec_attrs(d, x, attrs) == -1) {
			UNPROTECT(1);
			return (NULL);
		}
		UNPROTECT(1);
	}
	return (x);
}

static SEXP
dec_vector(struct dec *d, const char *type, const cJSON *v)
{
	static const struct {
		const char	*name;
		SEXPTYPE	 type;
	} types[] = {
		{ "logical", LGLSXP },
		{ "integer", INTSXP },
		{ "double", REALSXP },
		{ "complex", CPLXSXP },
		{ "character", STRSXP },
		{ "list", VECSXP },
	};
	size_t	 i;

	if (strcmp(type, "raw") == 0)
		return (dec_raw(d, v));
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i].name) == 0)
			return (dec_atomic(d, types[i].type, type, v));
	return (dec_fail(d, "unknown type \"%.64s\"", type));
}

static SEXP
dec_atomic(struct dec *d, SEXPTYPE type, const char *name, const cJSON *v)
{
	const cJSON	*c;
	R_xlen_t	 i = 0;
	SEXP		 x;

	if (!cJSON_IsArray(v))
		return (dec_fail(d, "the value of a %s vector is not an "
		    "array", name));
	x = PROTECT(Rf_allocVector(type, cJSON_GetArraySize(v)));
	cJSON_ArrayForEach(c, v) {
		if (dec_elt(d, x, i, c) == -1) {
			UNPROTECT(1);
			if (d->err[0] == '\0')
				dec_fail(d, "element %lld of a %s vector is "
				    "not valid", (long long)i + 1, name);
			return (NULL);
		}
		i++;
	}
	UNPROTECT(1);
	return (x);
}

/* Element i of x from c; -1 if c is no such element. */
static int
dec_elt(struct dec *d, SEXP x, R_xlen_t i, const cJSON *c)
{
	const cJSON	*re, *im;
	Rcomplex	 z;
	double		 r;
	SEXP		 v;
	int		 n;

	switch (TYPEOF(x)) {
	case LGLSXP:
		if (!cJSON_IsBool(c) && !cJSON_IsNull(c))
			return (-1);
		SET_LOGICAL_ELT(x, i, cJSON_IsNull(c) ? NA_LOGICAL :
		    cJSON_IsTrue(c));
		return (0);
	case INTSXP:
		if (dec_integer(c, &n) == -1)
			return (-1);
		SET_INTEGER_ELT(x, i, n);
		return (0);
	case REALSXP:
		if (dec_double(c, &r) == -1)
			return (-1);
		SET_REAL_ELT(x, i, r);
		return (0);
	case CPLXSXP:
		z.r = z.i = NA_REAL;
		if (!cJSON_IsNull(c)) {
			if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) != 2)
				return (-1);
			re = cJSON_GetArrayItem(c, 0);
			im = cJSON_GetArrayItem(c, 1);
			if (dec_double(re, &z.r) == -1 ||
			    dec_double(im, &z.i) == -1)
				return (-1);
		}
		SET_COMPLEX_ELT(x, i, z);
		return (0);
	case STRSXP:
		if (cJSON_IsNull(c)) {
			SET_STRING_ELT(x, i, NA_STRING);
			return (0);
		}
		if (!cJSON_IsString(c) ||
		    !utf8_valid(c->valuestring, strlen(c->valuestring)))
			return (-1);
		SET_STRING_ELT(x, i, Rf_mkCharCE(c->valuestring, CE_UTF8));
		return (0);
	case VECSXP:
		if ((v = dec_value(d, c)) == NULL)
			return (-1);
		SET_VECTOR_ELT(x, i, v);
		return (0);
	default:
		dec_fail(d, "cannot decode R type %d", TYPEOF(x));
		return (-1);
	}
}

/* A number, null (NA) or one of "NaN", "Inf", "-Inf". */
static int
dec_double(const cJSON *c, double *d)
{
	if (cJSON_IsNumber(c))
		*d = c->valuedouble;
	else if (cJSON_IsNull(c))
		*d = NA_REAL;
	else if (cJSON_IsString(c) && strcmp(c->valuestring, "NaN") == 0)
		*d = R_NaN;
	else if (cJSON_IsString(c) && strcmp(c->valuestring, "Inf") == 0)
		*d = R_PosInf;
	else if (cJSON_IsString(c) && strcmp(c->valuestring, "-Inf") == 0)
		*d = R_NegInf;
	else
		return (-1);
	return (0);
}

/* null (NA) or a whole number that R can hold: INT_MIN is NA. */
static int
dec_integer(const cJSON *c, int *n)
{
	double	 d;

	if (cJSON_IsNull(c)) {
		*n = NA_INTEGER;
		return (0);
	}
	if (!cJSON_IsNumber(c))
		return (-1);
	d = c->valuedouble;
	/* The range first: converting an out-of-range double is undefined. */
	if (!(d >= -2147483647.0 && d <= 2147483647.0) || d != (int)d)
		return (-1);
	*n = (int)d;
	return (0);
}

/* Strict base64: whole quanta, padding only at the end. */
static SEXP
dec_raw(struct dec *d, const cJSON *v)
{
	const char	*s;
	size_t		 len;
	ssize_t		 n;
	SEXP		 x;

	if (!cJSON_IsString(v))
		return (dec_fail(d, "the value of a raw vector is not a "
		    "string"));
	s = v->valuestring;
	len = strlen(s);
	if ((n = base64_decoded_len(s, len)) == -1)
		return (dec_fail(d, "bad base64 in a raw vector"));
	x = PROTECT(Rf_allocVector(RAWSXP, n));
	if (base64_decode_to(RAW(x), s, len) == -1) {
		UNPROTECT(1);
		return (dec_fail(d, "bad base64 in a raw vector"));
	}
	UNPROTECT(1);
	return (x);
}

/*
 * Through setAttrib(), so that R checks and converts them as it would
 * its own: names, dim, levels, class, compact row.names.
 */
static int
dec_attrs(struct dec *d, SEXP x, const cJSON *attrs)
{
	const cJSON	*a;
	SEXP		 v;

	if (!cJSON_IsObject(attrs)) {
		dec_fail(d, "\"attributes\" is not an object");
		return (-1);
	}
	cJSON_ArrayForEach(a, attrs) {
		if (a->string == NULL || a->string[0] == '\0' ||
		    !utf8_valid(a->string, strlen(a->string))) {
			dec_fail(d, "an attribute has no valid name");
			return (-1);
		}
		if ((v = dec_value(d, a)) == NULL)
			return (-1);
		PROTECT(v);
		Rf_setAttrib(x, Rf_install(a->string), v);
		UNPROTECT(1);
	}
	return (0);
}
