/*
 * JSON values (securer-protocol(7) "Values") to R, for tool results.
 *
 * The text comes from a client through the monitor: anything can be in
 * it.  A value that does not follow the encoding is a clean failure with
 * a reason, never a crash: our own checks return NULL with PROTECTs
 * balanced, and what R itself refuses (a "dim" that does not match the
 * length, say, or memory) is an R error that R_tryCatchError turns into
 * the same.  The cJSON tree is freed either way.
 *
 * Stand-ins are made of data only.  Language is parsed (R_ParseVector,
 * which evaluates nothing) and must be one call no deeper than
 * RVALUE_LANG_DEPTH_MAX; an environment is a new, empty one whose
 * parent is the program's choice (rvalue_set_envparent); a function is
 * its source as text, of class securer_function; no value decoded here
 * can be called.  Whatever class a stand-in had is kept as its
 * attribute "securer_class", so that no method of the original class
 * runs on it.
 */

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base64.h"
#include "hugemem.h"
#include "rvalue.h"
#include "binorder.h"
#include "utf8.h"

struct dec {
	const cJSON	*root;
	char		*err;
	size_t		 errlen;
	int		 failed;
	int		 depth;
	int		 revive;	/* a family or a data.table */
	const unsigned char *frame;	/* the bytes "bin_at" points into */
	size_t		 frame_len;
};

static SEXP	envparent = NULL;
static int	last_revive;

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
static SEXP	dec_standin(struct dec *, const char *, const cJSON *);
static SEXP	dec_bin(struct dec *, SEXPTYPE, const char *, const cJSON *);
static SEXP	dec_bin_at(struct dec *, const char *, const cJSON *);
static int	dec_logicals(struct dec *, SEXP);
static SEXP	dec_language(struct dec *, const cJSON *);
static SEXP	dec_bytes(struct dec *, const cJSON *);
static void	set_flagged(SEXP, const char *);
static int	class_has(SEXP, const char *);
static SEXP	dec_fail(struct dec *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));

void
rvalue_set_envparent(SEXP env)
{
	envparent = env;
}

/* Whether the last value decoded has a part the client rebuilds. */
int
rvalue_decoded_revive(void)
{
	return (last_revive);
}

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
	x = rvalue_decode_tree(root, err, errlen);
	cJSON_Delete(root);
	return (x);
}

/* The same of a value already parsed (libsecurer's value_tree). */
SEXP
rvalue_decode_tree(const cJSON *root, char *err, size_t errlen)
{
	return (rvalue_decode_frame(root, NULL, 0, err, errlen));
}

/*
 * The same of a value whose vectors may point into frame, the bytes that
 * came after its line ("bin_at", securer-protocol(7)).
 */
SEXP
rvalue_decode_frame(const cJSON *root, const void *frame, size_t frame_len,
    char *err, size_t errlen)
{
	struct dec	 d;
	SEXP		 x;

	memset(&d, 0, sizeof(d));
	err[0] = '\0';
	d.err = err;
	d.errlen = errlen;
	d.root = root;
	d.frame = frame;
	d.frame_len = frame != NULL ? frame_len : 0;
	x = R_tryCatchError(dec_body, &d, dec_handler, &d);
	last_revive = d.revive;
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
	const cJSON	*type, *value, *bin, *bin_at, *attrs;
	SEXP		 x;

	if (cJSON_IsNull(j))
		return (R_NilValue);
	if (!cJSON_IsObject(j))
		return (dec_fail(d, "a value is neither null nor an object"));
	if (d->depth >= RVALUE_DEPTH_MAX + 2)
		return (dec_fail(d, "a value is nested more than %d levels "
		    "deep", RVALUE_DEPTH_MAX));
	type = cJSON_GetObjectItemCaseSensitive(j, "type");
	if (!cJSON_IsString(type))
		return (dec_fail(d, "a value has no \"type\""));
	value = cJSON_GetObjectItemCaseSensitive(j, "value");
	bin = cJSON_GetObjectItemCaseSensitive(j, "bin");
	bin_at = cJSON_GetObjectItemCaseSensitive(j, "bin_at");
	d->depth++;
	if ((bin != NULL) + (value != NULL) + (bin_at != NULL) > 1)
		x = dec_fail(d, "a value has both \"%s\" and \"%s\"",
		    value != NULL ? "value" : "bin",
		    bin_at != NULL ? "bin_at" : "bin");
	else if (bin_at != NULL)
		x = dec_bin_at(d, type->valuestring, bin_at);
	else if (bin != NULL)
		x = dec_bin(d, TYPEOF(R_NilValue), type->valuestring, bin);
	else if (strcmp(type->valuestring, "unsupported") == 0 ||
	    strcmp(type->valuestring, "reference") == 0)
		x = dec_standin(d, type->valuestring, j);
	else if (value == NULL)
		x = dec_fail(d, "a %.64s value has no \"value\"",
		    type->valuestring);
	else
		x = dec_vector(d, type->valuestring, value);
	if (x == NULL) {
		d->depth--;
		return (NULL);
	}
	attrs = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	if (attrs != NULL) {
		PROTECT(x);
		if (dec_attrs(d, x, attrs) == -1) {
			UNPROTECT(1);
			d->depth--;
			return (NULL);
		}
		UNPROTECT(1);
	}
	d->depth--;
	if (strcmp(type->valuestring, "pairlist") == 0)
		x = Rf_VectorToPairList(x);
	else if (strcmp(type->valuestring, "S4") == 0)
		set_flagged(x, "securer_s4");
	else if (strcmp(type->valuestring, "function") == 0)
		set_flagged(x, "securer_function");
	return (x);
}

/* The class of a stand-in; what it had moves to "securer_class". */
static void
set_flagged(SEXP x, const char *cls)
{
	SEXP	 old;

	PROTECT(x);
	old = PROTECT(Rf_getAttrib(x, R_ClassSymbol));
	if (old != R_NilValue) {
		Rf_setAttrib(x, Rf_install("securer_class"), old);
		Rf_setAttrib(x, R_ClassSymbol, R_NilValue);
	}
	Rf_setAttrib(x, R_ClassSymbol, Rf_mkString(cls));
	UNPROTECT(2);
}

/* A string member of j, or NULL. */
static const char *
member_string(const cJSON *j, const char *name)
{
	const cJSON	*m = cJSON_GetObjectItemCaseSensitive(j, name);

	if (!cJSON_IsString(m) ||
	    !utf8_valid(m->valuestring, strlen(m->valuestring)))
		return (NULL);
	return (m->valuestring);
}

/*
 * What cannot cross, list(printed, path, rtype) of class
 * securer_unsupported; a reference, its type of class securer_reference.
 */
static SEXP
dec_standin(struct dec *d, const char *type, const cJSON *j)
{
	static const char	*names[] = { "printed", "path", "rtype" };
	const cJSON		*cl;
	const char		*s;
	SEXP			 x, nm, c;
	int			 i;

	if (strcmp(type, "reference") == 0) {
		if ((s = member_string(j, "rtype")) == NULL)
			return (dec_fail(d, "a reference has no \"rtype\""));
		x = PROTECT(Rf_mkString(s));
		Rf_setAttrib(x, R_ClassSymbol, Rf_mkString("securer_reference"));
		UNPROTECT(1);
		return (x);
	}
	x = PROTECT(Rf_allocVector(VECSXP, 3));
	nm = PROTECT(Rf_allocVector(STRSXP, 3));
	for (i = 0; i < 3; i++) {
		if ((s = member_string(j, names[i])) == NULL)
			s = "";
		SET_VECTOR_ELT(x, i, Rf_ScalarString(Rf_mkCharCE(s,
		    CE_UTF8)));
		SET_STRING_ELT(nm, i, Rf_mkChar(names[i]));
	}
	Rf_setAttrib(x, R_NamesSymbol, nm);
	cl = cJSON_GetObjectItemCaseSensitive(j, "class");
	if (cl != NULL) {
		if ((c = dec_atomic(d, STRSXP, "class", cl)) == NULL) {
			UNPROTECT(2);
			return (NULL);
		}
		Rf_setAttrib(x, Rf_install("securer_class"), c);
	}
	Rf_setAttrib(x, R_ClassSymbol, Rf_mkString("securer_unsupported"));
	UNPROTECT(2);
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
	const char	*s;
	size_t		 i;
	SEXP		 x;

	if (strcmp(type, "raw") == 0)
		return (dec_raw(d, v));
	if (strcmp(type, "S4") == 0)
		return (dec_atomic(d, VECSXP, type, v));
	if (strcmp(type, "pairlist") == 0) {
		if ((x = dec_atomic(d, VECSXP, type, v)) == NULL)
			return (NULL);
		/* Its names become tags once the attributes are set. */
		return (x);
	}
	if (strcmp(type, "language") == 0)
		return (dec_language(d, v));
	if (!cJSON_IsString(v) ||
	    !utf8_valid(v->valuestring, strlen(v->valuestring)))
		s = NULL;
	else
		s = v->valuestring;
	if (strcmp(type, "symbol") == 0) {
		if (s == NULL)
			return (dec_fail(d, "a symbol is not a string"));
		return (s[0] == '\0' ? R_MissingArg : Rf_installChar(
		    Rf_mkCharCE(s, CE_UTF8)));
	}
	if (strcmp(type, "function") == 0) {
		if (s == NULL)
			return (dec_fail(d, "a function's source is not a "
			    "string"));
		return (Rf_ScalarString(Rf_mkCharCE(s, CE_UTF8)));
	}
	if (strcmp(type, "environment") == 0) {
		if (s == NULL)
			return (dec_fail(d, "an environment's name is not a "
			    "string"));
		x = PROTECT(R_NewEnv(envparent != NULL ? envparent :
		    R_EmptyEnv, FALSE, 0));
		Rf_setAttrib(x, Rf_install("securer_environment"),
		    Rf_ScalarString(Rf_mkCharCE(s, CE_UTF8)));
		UNPROTECT(1);
		return (x);
	}
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
		if (cJSON_IsObject(c)) {
			if ((v = dec_bytes(d, c)) == NULL)
				return (-1);
			SET_STRING_ELT(x, i, v);
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
		if (strcmp(a->string, "class") == 0 && TYPEOF(v) == STRSXP &&
		    (class_has(v, "family") || class_has(v, "data.table") ||
		    class_has(v, "tbl_df")))
			d->revive = 1;
		Rf_setAttrib(x, Rf_installTrChar(Rf_mkCharCE(a->string,
		    CE_UTF8)), v);
		UNPROTECT(1);
	}
	return (0);
}

static int
class_has(SEXP cl, const char *name)
{
	R_xlen_t	 i;

	for (i = 0; i < XLENGTH(cl); i++)
		if (STRING_ELT(cl, i) != NA_STRING &&
		    strcmp(CHAR(STRING_ELT(cl, i)), name) == 0)
			return (1);
	return (0);
}

/*
 * A string that was not valid UTF-8: {"bytes": base64}, its bytes marked
 * as bytes.  R strings hold no NUL.
 */
static SEXP
dec_bytes(struct dec *d, const cJSON *c)
{
	const cJSON	*b = cJSON_GetObjectItemCaseSensitive(c, "bytes");
	unsigned char	*p;
	size_t		 len;
	SEXP		 s;

	if (!cJSON_IsString(b) || cJSON_GetArraySize(c) != 1 ||
	    base64_decode(b->valuestring, strlen(b->valuestring), &p,
	    &len) == -1)
		return (dec_fail(d, "a string's bytes are not base64"));
	if (memchr(p, '\0', len) != NULL || len > INT_MAX) {
		free(p);
		return (dec_fail(d, "a string's bytes hold a nul"));
	}
	s = Rf_mkCharLenCE((char *)p, (int)len, CE_BYTES);
	free(p);
	return (s);
}

/* Each element of a binary logical vector is FALSE, TRUE or NA. */
static int
dec_logicals(struct dec *d, SEXP x)
{
	const int	*p = LOGICAL_RO(x);
	R_xlen_t	 i, n = XLENGTH(x);

	for (i = 0; i < n; i++)
		if (p[i] != 0 && p[i] != 1 && p[i] != NA_LOGICAL) {
			dec_fail(d, "element %lld of a logical vector is not "
			    "valid", (long long)i + 1);
			return (-1);
		}
	return (0);
}

/* A count of bytes in a frame: an integer from 0 to 2^53. */
static int
frame_number(const cJSON *v, size_t *out)
{
	double	d;

	if (!cJSON_IsNumber(v))
		return (-1);
	d = v->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(size_t)d)
		return (-1);
	*out = (size_t)d;
	return (0);
}

/*
 * A vector whose bytes are in the frame: "bin_at" is [offset, bytes],
 * which must lie in it; the bytes are as "bin" would hold them.
 */
static SEXP
dec_bin_at(struct dec *d, const char *type, const cJSON *v)
{
	SEXPTYPE	 t;
	size_t		 off, len, size;
	SEXP		 x;

	if (strcmp(type, "logical") == 0)
		t = LGLSXP, size = 4;
	else if (strcmp(type, "integer") == 0)
		t = INTSXP, size = 4;
	else if (strcmp(type, "double") == 0)
		t = REALSXP, size = 8;
	else if (strcmp(type, "complex") == 0)
		t = CPLXSXP, size = 16;
	else if (strcmp(type, "raw") == 0)
		t = RAWSXP, size = 1;
	else
		return (dec_fail(d, "a %.64s vector cannot be binary", type));
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
	    frame_number(v->child, &off) == -1 ||
	    frame_number(v->child->next, &len) == -1)
		return (dec_fail(d, "the \"bin_at\" of a %s vector is not "
		    "[offset, bytes]", type));
	if (off > d->frame_len || len > d->frame_len - off)
		return (dec_fail(d, "the \"bin_at\" of a %s vector is past "
		    "the frame's %zu bytes", type, d->frame_len));
	if (len % size != 0)
		return (dec_fail(d, "the \"bin_at\" of a %s vector is not "
		    "whole elements", type));
	x = PROTECT(Rf_allocVector(t, len / size));
	hugemem_advise(DATAPTR(x), len);
	if (len > 0)
		memcpy(DATAPTR(x), d->frame + off, len);
	if (t != RAWSXP)
		rvalue_bin_order((unsigned char *)DATAPTR(x), len / size,
		    size);
	if (t == LGLSXP && dec_logicals(d, x) == -1) {
		UNPROTECT(1);
		return (NULL);
	}
	UNPROTECT(1);
	return (x);
}

/*
 * A vector in binary form (securer-protocol(7)): the base64 of its elements'
 * little-endian bytes, decoded straight into the vector.
 */
static SEXP
dec_bin(struct dec *d, SEXPTYPE unused, const char *type, const cJSON *v)
{
	SEXPTYPE	 t;
	const char	*s;
	size_t		 len, size;
	ssize_t		 n;
	SEXP		 x;

	(void)unused;
	if (strcmp(type, "logical") == 0)
		t = LGLSXP, size = 4;
	else if (strcmp(type, "integer") == 0)
		t = INTSXP, size = 4;
	else if (strcmp(type, "double") == 0)
		t = REALSXP, size = 8;
	else if (strcmp(type, "complex") == 0)
		t = CPLXSXP, size = 16;
	else
		return (dec_fail(d, "a %.64s vector cannot be binary", type));
	if (!cJSON_IsString(v))
		return (dec_fail(d, "the \"bin\" of a %s vector is not a "
		    "string", type));
	s = v->valuestring;
	len = strlen(s);
	if ((n = base64_decoded_len(s, len)) == -1 || n % size != 0)
		return (dec_fail(d, "bad \"bin\" in a %s vector", type));
	x = PROTECT(Rf_allocVector(t, n / size));
	if (base64_decode_to((unsigned char *)DATAPTR(x), s, len) == -1) {
		UNPROTECT(1);
		return (dec_fail(d, "bad \"bin\" in a %s vector", type));
	}
	rvalue_bin_order((unsigned char *)DATAPTR(x), n / size, size);
	if (t == LGLSXP && dec_logicals(d, x) == -1) {
		UNPROTECT(1);
		return (NULL);
	}
	UNPROTECT(1);
	return (x);
}

/* How deep a call nests, past max: max + 1. */
static int
lang_depth(SEXP x, int depth, int max)
{
	int	 d, m = depth;

	if (depth > max)
		return (depth);
	if (TYPEOF(x) != LANGSXP && TYPEOF(x) != LISTSXP)
		return (depth);
	for (; x != R_NilValue && m <= max; x = CDR(x))
		if ((d = lang_depth(CAR(x), depth + 1, max)) > m)
			m = d;
	return (m);
}

/*
 * A call from its text: parsed, never evaluated; exactly one call, not
 * deeper than RVALUE_LANG_DEPTH_MAX, or the value is invalid.
 */
static SEXP
dec_language(struct dec *d, const cJSON *v)
{
	SEXP	 exprs, r;

	if (!cJSON_IsString(v) ||
	    !utf8_valid(v->valuestring, strlen(v->valuestring)))
		return (dec_fail(d, "a call's text is not a string"));
	exprs = PROTECT(rvalue_parse(Rf_ScalarString(Rf_mkCharCE(
	    v->valuestring, CE_UTF8)), 2));
	if (TYPEOF(r = exprs) != EXPRSXP || XLENGTH(r) != 1 ||
	    TYPEOF(VECTOR_ELT(r, 0)) != LANGSXP) {
		UNPROTECT(1);
		return (dec_fail(d, "a call's text is not one call"));
	}
	r = VECTOR_ELT(r, 0);
	if (lang_depth(r, 0, RVALUE_LANG_DEPTH_MAX) > RVALUE_LANG_DEPTH_MAX) {
		UNPROTECT(1);
		return (dec_fail(d, "a call is nested more than %d levels "
		    "deep", RVALUE_LANG_DEPTH_MAX));
	}
	UNPROTECT(1);
	return (r);
}
