/*
 * R values to JSON, as securer-protocol(7) "Values" says.
 *
 * Written straight into a buffer that never grows past the caller's
 * bound: a value that would pass it stops the encoding there, and the
 * size it would have had is extrapolated from the part done, so that a
 * vector of a billion doubles costs the same as one of a million.
 *
 * Unsupported values carry their printed form, and calls and functions
 * their deparsed text: both run R code that can fail or jump;
 * R_UnwindProtect frees the buffer then.  Elements are read with the
 * *_ELT and *_GET_REGION accessors so that ALTREP vectors (1:1e10) are
 * never expanded in memory.
 *
 * A part that cannot cross makes the whole value "unsupported": the
 * encoding stops there, each level on the way back adds its step to the
 * part's path ($name, [[i]], attr("name")), and the value is encoded
 * again as its printed form, the path and the part's type.
 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hugemem.h"
#include "json.h"
#include "rvalue.h"
#include "binorder.h"
#include "utf8.h"

#define NUM_MAX		32
#define BIN_CHUNK	3072	/* elements base64'd at a time: 3 | n */
#define PATH_STEPS	(RVALUE_DEPTH_MAX * 2 + 2)

struct enc {
	char		*buf;
	size_t		 len;
	size_t		 size;
	size_t		 max;
	int		 flags;		/* RVALUE_* */
	int		 over;		/* the value would pass max */
	double		 est;		/* then its size, extrapolated */
	char		*err;		/* else why it failed */
	size_t		 errlen;
	int		 depth;
	int		 unsup;		/* a part cannot cross */
	const char	*unsup_type;	/* what it is */
	char		*steps[PATH_STEPS];	/* its path, innermost first */
	int		 nsteps;
	char		*frame;		/* RVALUE_FRAMES: vectors' bytes */
	size_t		 flen;
	size_t		 fsize;
};

struct enc_job {
	struct enc	*e;
	SEXP		 x;
	SEXP		 printed;
	int		 args;		/* a list of tool arguments */
	int		 rc;
};

static rvalue_printer	printer;
static rvalue_printer	deparser;

static int	encode_run(SEXP, int, struct rvalue_enc *, char **, size_t *,
		    char *, size_t);
static SEXP	enc_job_run(void *);
static void	enc_job_clean(void *, Rboolean);
static void	enc_reset(struct enc *);
static int	reserve(struct enc *, size_t);
static int	put(struct enc *, const char *, size_t);
static int	puts_(struct enc *, const char *);
static int	enc_value(struct enc *, SEXP);
static int	enc_typed(struct enc *, SEXP);
static const char *enc_type(SEXP);
static int	enc_vector(struct enc *, SEXP);
static int	enc_over(struct enc *, size_t, R_xlen_t, R_xlen_t);
static int	enc_elt(struct enc *, SEXP, R_xlen_t);
static int	enc_bin(struct enc *, SEXP);
static int	enc_frame(struct enc *, SEXP);
static int	frame_reserve(struct enc *, size_t);
static void	frame_copy(unsigned char *, SEXP, R_xlen_t, R_xlen_t);
static int	enc_double(struct enc *, double);
static int	enc_string(struct enc *, SEXP);
static int	enc_text(struct enc *, const char *, size_t);
static int	enc_key(struct enc *, SEXP);
static int	enc_put(void *, const char *, size_t);
static int	enc_raw(struct enc *, SEXP);
static int	enc_attrs(struct enc *, SEXP);
static int	enc_symbol(struct enc *, SEXP);
static int	enc_deparsed(struct enc *, const char *, SEXP);
static int	enc_pairlist(struct enc *, SEXP);
static int	enc_environment(struct enc *, SEXP);
static int	enc_s4(struct enc *, SEXP);
static int	enc_cannot(struct enc *, const char *);
static void	enc_step(struct enc *, const char *, SEXP, R_xlen_t);
static int	enc_unsupported(struct enc *, SEXP, SEXP);
static int	enc_args(struct enc *, SEXP);

void
rvalue_set_printer(rvalue_printer fn)
{
	printer = fn;
}

void
rvalue_set_deparser(rvalue_printer fn)
{
	deparser = fn;
}

/*
 * Encode x into a malloc'd buffer of at most max bytes (not
 * NUL-terminated).  -1 with a reason in err ("too large (N bytes, max
 * M)", ...) if it cannot be.
 */
int
rvalue_encode(SEXP x, size_t max, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	struct rvalue_enc	 o;

	memset(&o, 0, sizeof(o));
	o.max = max;
	return (encode_run(x, 0, &o, out, outlen, err, errlen));
}

/* The same, with the options and results of o. */
int
rvalue_encode_opts(SEXP x, struct rvalue_enc *o, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	return (encode_run(x, 0, o, out, outlen, err, errlen));
}

/* A named list of tool arguments as a JSON object: name -> value. */
int
rvalue_encode_args(SEXP args, size_t max, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	struct rvalue_enc	 o;

	memset(&o, 0, sizeof(o));
	o.max = max;
	return (encode_run(args, 1, &o, out, outlen, err, errlen));
}

static int
encode_run(SEXP x, int args, struct rvalue_enc *o, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	struct enc	 e;
	struct enc_job	 job;
	SEXP		 cont;

	memset(&e, 0, sizeof(e));
	e.max = o->max;
	e.flags = o->flags;
	e.err = err;
	e.errlen = errlen;
	err[0] = '\0';
	o->too_large = 0;
	o->size = 0;
	o->frame = NULL;
	o->frame_len = 0;
	job.e = &e;
	job.x = x;
	job.printed = o->printed;
	job.args = args;
	job.rc = -1;
	cont = PROTECT(R_MakeUnwindCont());
	R_UnwindProtect(enc_job_run, &job, enc_job_clean, &job, cont);
	UNPROTECT(1);
	enc_reset(&e);
	if (job.rc == -1) {
		if (e.over) {
			o->too_large = 1;
			o->size = e.est;
			snprintf(err, errlen, "too large (%.0f bytes, max %zu)",
			    e.est, o->max);
		}
		free(e.buf);
		free(e.frame);
		return (-1);
	}
	*out = e.buf;
	*outlen = e.len;
	o->frame = e.frame;
	o->frame_len = e.flen;
	return (0);
}

static SEXP
enc_job_run(void *arg)
{
	struct enc_job	*job = arg;
	struct enc	*e = job->e;

	if (job->args)
		job->rc = enc_args(e, job->x);
	else {
		job->rc = enc_value(e, job->x);
		if (job->rc == -1 && e->unsup) {
			/* Again, whole, as what cannot cross. */
			e->len = 0;
			e->flen = 0;
			job->rc = enc_unsupported(e, job->x, job->printed);
		}
	}
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
		free(job->e->frame);
		job->e->frame = NULL;
		job->rc = -1;
	}
}

static void
enc_reset(struct enc *e)
{
	int	 i;

	for (i = 0; i < e->nsteps; i++)
		free(e->steps[i]);
	e->nsteps = 0;
}

/*
 * Room for n more bytes at e->buf + e->len, within e->max (which the
 * frame's bytes count against too).
 */
static int
reserve(struct enc *e, size_t n)
{
	size_t	 size;
	char	*p;

	if (n > e->max - e->len - e->flen) {
		e->over = 1;
		e->est = (double)e->len + e->flen + n;
		return (-1);
	}
	if (e->len + n > e->size) {
		size = e->size > 0 ? e->size : 4096;
		while (size < e->len + n)
			size = size > SIZE_MAX / 2 ? SIZE_MAX : size * 2;
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
	int	 rc;

	if (x == R_NilValue)
		return (puts_(e, "null"));
	if (e->depth >= RVALUE_DEPTH_MAX)
		return (enc_cannot(e, "nesting"));
	e->depth++;
	rc = enc_typed(e, x);
	e->depth--;
	return (rc);
}

static int
enc_typed(struct enc *e, SEXP x)
{
	const char	*type;

	/* An S4 object would come back without its S4 bit: its slots. */
	if (IS_S4_OBJECT(x))
		return (enc_s4(e, x));
	switch (TYPEOF(x)) {
	case SYMSXP:
		return (enc_symbol(e, x));
	case LANGSXP:
		return (enc_deparsed(e, "language", x));
	case CLOSXP:
	case BUILTINSXP:
	case SPECIALSXP:
		return (enc_deparsed(e, "function", x));
	case LISTSXP:
		return (enc_pairlist(e, x));
	case ENVSXP:
		return (enc_environment(e, x));
	case EXTPTRSXP:
	case WEAKREFSXP:
		if (puts_(e, "{\"type\":\"reference\",\"rtype\":\"") == -1 ||
		    puts_(e, Rf_type2char(TYPEOF(x))) == -1)
			return (-1);
		return (puts_(e, "\"}"));
	}
	if ((type = enc_type(x)) == NULL)
		return (enc_cannot(e, Rf_type2char(TYPEOF(x))));
	if (puts_(e, "{\"type\":\"") == -1 || puts_(e, type) == -1)
		return (-1);
	if ((e->flags & RVALUE_FRAMES) && XLENGTH(x) >= RVALUE_BIN_MIN &&
	    TYPEOF(x) != STRSXP && TYPEOF(x) != VECSXP) {
		if (puts_(e, "\",\"bin_at\":") == -1 || enc_frame(e, x) == -1)
			return (-1);
	} else if ((e->flags & RVALUE_BINARY) &&
	    XLENGTH(x) >= RVALUE_BIN_MIN && TYPEOF(x) != STRSXP &&
	    TYPEOF(x) != VECSXP && TYPEOF(x) != RAWSXP) {
		if (puts_(e, "\",\"bin\":") == -1 || enc_bin(e, x) == -1)
			return (-1);
	} else if (puts_(e, "\",\"value\":") == -1 || enc_vector(e, x) == -1)
		return (-1);
	if (enc_attrs(e, x) == -1)
		return (-1);
	return (puts_(e, "}"));
}

/* The protocol's type of a vector x, or NULL if it is none. */
static const char *
enc_type(SEXP x)
{
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

/* A part that cannot cross: the encoding stops, the path is made. */
static int
enc_cannot(struct enc *e, const char *what)
{
	e->unsup = 1;
	e->unsup_type = what;
	return (-1);
}

/*
 * The step into element i of x (names from x), or into its attribute
 * named attr, on the way back from a part that cannot cross.
 */
static void
enc_step(struct enc *e, const char *attr, SEXP x, R_xlen_t i)
{
	const void	*vmax = vmaxget();
	const char	*name = NULL, *p;
	SEXP		 names;
	char		 buf[160];
	int		 plain;

	if (!e->unsup || e->nsteps == PATH_STEPS)
		return;
	if (attr != NULL)
		snprintf(buf, sizeof(buf), " attr(\"%.100s\")", attr);
	else {
		names = Rf_getAttrib(x, R_NamesSymbol);
		if (TYPEOF(names) == STRSXP && i < XLENGTH(names) &&
		    STRING_ELT(names, i) != NA_STRING &&
		    CHAR(STRING_ELT(names, i))[0] != '\0')
			name = rvalue_utf8(STRING_ELT(names, i));
		plain = name != NULL && (name[0] == '.' ||
		    (name[0] >= 'A' && name[0] <= 'Z') ||
		    (name[0] >= 'a' && name[0] <= 'z'));
		for (p = name; plain && *p != '\0'; p++)
			plain = *p == '.' || *p == '_' ||
			    (*p >= '0' && *p <= '9') ||
			    (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z');
		if (plain)
			snprintf(buf, sizeof(buf), "$%.100s", name);
		else if (name != NULL)
			snprintf(buf, sizeof(buf), "[[\"%.100s\"]]", name);
		else
			snprintf(buf, sizeof(buf), "[[%lld]]", (long long)i + 1);
	}
	vmaxset(vmax);
	if ((e->steps[e->nsteps] = strdup(buf)) != NULL)
		e->nsteps++;
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
		if ((i > 0 && put(e, ",", 1) == -1) ||
		    enc_elt(e, x, i) == -1) {
			enc_step(e, NULL, x, i);
			return (enc_over(e, start, i, n));
		}
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
 * A logical, integer, double or complex vector as base64 of its
 * elements' bytes, a chunk at a time through a buffer of our own, so
 * that an ALTREP vector is read by region and never expanded; its size
 * is known before anything is written.
 */
static int
enc_bin(struct enc *e, SEXP x)
{
	union {
		int		 i[BIN_CHUNK];
		double		 d[BIN_CHUNK];
		Rcomplex	 c[BIN_CHUNK];
	} *u;
	R_xlen_t	 n = XLENGTH(x), i, k;
	size_t		 size, need;

	size = TYPEOF(x) == REALSXP ? 8 : TYPEOF(x) == CPLXSXP ? 16 : 4;
	need = base64_len((size_t)n * size);
	if ((double)need + 2 > (double)(e->max - e->len)) {
		e->over = 1;
		e->est = (double)e->len + need + 2;
		return (-1);
	}
	if (put(e, "\"", 1) == -1 || reserve(e, need + 1) == -1)
		return (-1);
	if ((u = malloc(sizeof(*u))) == NULL) {
		snprintf(e->err, e->errlen, "out of memory");
		return (-1);
	}
	for (i = 0; i < n; i += k) {
		k = n - i < BIN_CHUNK ? n - i : BIN_CHUNK;
		switch (TYPEOF(x)) {
		case LGLSXP:
			LOGICAL_GET_REGION(x, i, k, u->i);
			break;
		case INTSXP:
			INTEGER_GET_REGION(x, i, k, u->i);
			break;
		case REALSXP:
			REAL_GET_REGION(x, i, k, u->d);
			break;
		default:
			memcpy(u->c, COMPLEX_RO(x) + i, k * size);
			break;
		}
		rvalue_bin_order((unsigned char *)u, k, size);
		base64_encode_to(e->buf + e->len, u, k * size);
		e->len += base64_len(k * size);
	}
	free(u);
	return (put(e, "\"", 1));
}

/*
 * RVALUE_FRAMES: the elements' bytes go to the frame that follows the
 * JSON (securer-protocol(7)), as "bin" would hold them but raw, and the
 * value says where: [offset, bytes].  Copied by region, so that an
 * ALTREP vector is never expanded; the size is checked first.
 */
static int
enc_frame(struct enc *e, SEXP x)
{
	char		 num[2 * NUM_MAX + 4];
	R_xlen_t	 n = XLENGTH(x);
	size_t		 size, need, off;

	size = TYPEOF(x) == REALSXP ? 8 : TYPEOF(x) == CPLXSXP ? 16 :
	    TYPEOF(x) == RAWSXP ? 1 : 4;
	if ((double)n * size + sizeof(num) >
	    (double)(e->max - e->len - e->flen)) {
		e->over = 1;
		e->est = (double)e->len + e->flen + (double)n * size + 24;
		return (-1);
	}
	/* Each vector starts 8-aligned, so that it can be read in place. */
	off = (e->flen + 7) & ~(size_t)7;
	need = (size_t)n * size;
	if (frame_reserve(e, off - e->flen + need) == -1)
		return (-1);
	memset(e->frame + e->flen, 0, off - e->flen);
	e->flen = off;
	frame_copy((unsigned char *)e->frame + off, x, n, size);
	e->flen += need;
	return (put(e, num, snprintf(num, sizeof(num), "[%zu,%zu]", off,
	    need)));
}

/* Room for n more bytes in the frame; the caller checked e->max. */
static int
frame_reserve(struct enc *e, size_t n)
{
	size_t	 size;
	char	*p;

	if (e->flen + n <= e->fsize)
		return (0);
	size = e->fsize > 0 ? e->fsize : 65536;
	while (size < e->flen + n)
		size = size > SIZE_MAX / 2 ? SIZE_MAX : size * 2;
	if (size > e->max)
		size = e->max;
	if ((p = realloc(e->frame, size)) == NULL) {
		snprintf(e->err, e->errlen, "out of memory");
		return (-1);
	}
	hugemem_advise(p, size);
	e->frame = p;
	e->fsize = size;
	return (0);
}

static void
frame_copy(unsigned char *p, SEXP x, R_xlen_t n, R_xlen_t size)
{
	switch (TYPEOF(x)) {
	case LGLSXP:
		LOGICAL_GET_REGION(x, 0, n, (int *)(void *)p);
		break;
	case INTSXP:
		INTEGER_GET_REGION(x, 0, n, (int *)(void *)p);
		break;
	case REALSXP:
		REAL_GET_REGION(x, 0, n, (double *)(void *)p);
		break;
	case RAWSXP:
		RAW_GET_REGION(x, 0, n, p);
		return;
	default:
		memcpy(p, COMPLEX_RO(x), n * size);
		break;
	}
	rvalue_bin_order(p, n, size);
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
 * are taken as they are.
 */
const char *
rvalue_utf8(SEXP s)
{
	if (Rf_getCharCE(s) == CE_BYTES)
		return (R_CHAR(s));
	return (Rf_translateCharUTF8(s));
}

/*
 * A string as UTF-8; one that is not valid UTF-8 (marked as bytes, or
 * in no encoding R could translate) as {"bytes": base64}, so that it
 * comes back as the same bytes, marked as bytes, never repaired.
 */
static int
enc_string(struct enc *e, SEXP s)
{
	const void	*vmax = vmaxget();
	const char	*p = R_CHAR(s);
	size_t		 len = strlen(p), need;
	cetype_t	 ce = Rf_getCharCE(s);
	int		 rc;

	/*
	 * UTF-8 and native strings (the worker's locale is UTF-8) as they
	 * are, if they are valid; latin1 translated; bytes, and what is
	 * not valid, as bytes.
	 */
	if (ce == CE_LATIN1 && (p = Rf_translateCharUTF8(s)) != NULL)
		len = strlen(p);
	if (ce != CE_BYTES && utf8_valid(p, len)) {
		rc = json_escape(p, len, enc_put, e);
		vmaxset(vmax);
		return (rc);
	}
	p = R_CHAR(s);
	len = strlen(p);
	need = base64_len(len);
	if ((rc = puts_(e, "{\"bytes\":\"")) == 0 &&
	    (rc = reserve(e, need)) == 0) {
		base64_encode_to(e->buf + e->len, p, len);
		e->len += need;
		rc = puts_(e, "\"}");
	}
	vmaxset(vmax);
	return (rc);
}

/* A member name: valid UTF-8, or the part cannot cross. */
static int
enc_key(struct enc *e, SEXP s)
{
	const void	*vmax = vmaxget();
	const char	*p = NULL;
	int		 rc;

	if (Rf_getCharCE(s) != CE_BYTES)
		p = Rf_translateCharUTF8(s);
	if (p == NULL || !utf8_valid(p, strlen(p)))
		rc = enc_cannot(e, "name that is not UTF-8");
	else
		rc = json_escape(p, strlen(p), enc_put, e);
	vmaxset(vmax);
	return (rc);
}

/* A JSON string of text that is valid UTF-8 (our own), else repaired. */
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

/* What is never sent among x's attributes. */
static int
attr_dropped(SEXP x, SEXP tag, SEXP v)
{
	const char	*name = CHAR(PRINTNAME(tag));

	/* data.table's self-reference: the client makes its own. */
	if (TYPEOF(v) == EXTPTRSXP && strcmp(name, ".internal.selfref") == 0)
		return (1);
	/* A function's source reference: its text is the value. */
	if (TYPEOF(x) == CLOSXP && strcmp(name, "srcref") == 0)
		return (1);
	return (0);
}

/*
 * Attributes as R stores them (ATTRIB), in its order: a data frame's
 * compact row.names c(NA, -n) stay compact.
 */
static int
enc_attrs(struct enc *e, SEXP x)
{
	SEXP	 a;
	int	 first = 1;

	if (ATTRIB(x) == R_NilValue || TYPEOF(ATTRIB(x)) != LISTSXP)
		return (0);
	for (a = ATTRIB(x); a != R_NilValue; a = CDR(a)) {
		if (TYPEOF(TAG(a)) != SYMSXP || attr_dropped(x, TAG(a), CAR(a)))
			continue;
		if (put(e, first ? ",\"attributes\":{" : ",",
		    first ? 15 : 1) == -1)
			return (-1);
		first = 0;
		if (enc_key(e, PRINTNAME(TAG(a))) == -1 ||
		    put(e, ":", 1) == -1 || enc_value(e, CAR(a)) == -1) {
			enc_step(e, CHAR(PRINTNAME(TAG(a))), x, 0);
			return (-1);
		}
	}
	return (first ? 0 : put(e, "}", 1));
}

/* A symbol by its name; the empty one is the missing argument. */
static int
enc_symbol(struct enc *e, SEXP x)
{
	if (puts_(e, "{\"type\":\"symbol\",\"value\":") == -1 ||
	    enc_string(e, PRINTNAME(x)) == -1)
		return (-1);
	return (puts_(e, "}"));
}

/*
 * A call (a formula too) or a function as the text the deparser makes
 * of it, with its attributes (a formula's class and environment).
 * Without a deparser, or if it fails, the part cannot cross.
 */
static int
enc_deparsed(struct enc *e, const char *type, SEXP x)
{
	SEXP	 text;
	int	 rc;

	if (deparser == NULL)
		return (enc_cannot(e, Rf_type2char(TYPEOF(x))));
	text = PROTECT(deparser(x));
	if (TYPEOF(text) != STRSXP || XLENGTH(text) != 1 ||
	    STRING_ELT(text, 0) == NA_STRING) {
		UNPROTECT(1);
		return (enc_cannot(e, Rf_type2char(TYPEOF(x))));
	}
	if ((rc = puts_(e, "{\"type\":\"")) == 0 &&
	    (rc = puts_(e, type)) == 0 &&
	    (rc = puts_(e, "\",\"value\":")) == 0 &&
	    (rc = enc_string(e, STRING_ELT(text, 0))) == 0 &&
	    (rc = enc_attrs(e, x)) == 0)
		rc = puts_(e, "}");
	UNPROTECT(1);
	return (rc);
}

/* A pairlist (formals, say): a list whose names are its tags. */
static int
enc_pairlist(struct enc *e, SEXP x)
{
	SEXP	 v;
	int	 rc;

	v = PROTECT(Rf_PairToVectorList(x));
	if ((rc = puts_(e, "{\"type\":\"pairlist\",\"value\":")) == 0 &&
	    (rc = enc_vector(e, v)) == 0 && (rc = enc_attrs(e, v)) == 0)
		rc = puts_(e, "}");
	UNPROTECT(1);
	return (rc);
}

/*
 * An environment by its name only: its contents stay in the sandbox.
 * One with a class is an object with behaviour (R6, ggproto, reference
 * classes) that no stand-in keeps: it cannot cross.
 */
static int
enc_environment(struct enc *e, SEXP x)
{
	const void	*vmax = vmaxget();
	const char	*name = "";
	SEXP		 spec;
	char		 buf[256];
	int		 rc;

	if (OBJECT(x))
		return (enc_cannot(e, "environment with a class"));
	if (x == R_GlobalEnv)
		name = "R_GlobalEnv";
	else if (x == R_BaseEnv || x == R_BaseNamespace)
		name = "base";
	else if (x == R_EmptyEnv)
		name = "R_EmptyEnv";
	else if (R_IsPackageEnv(x) &&
	    TYPEOF(spec = R_PackageEnvName(x)) == STRSXP &&
	    XLENGTH(spec) > 0)
		name = rvalue_utf8(STRING_ELT(spec, 0));
	else if (R_IsNamespaceEnv(x) &&
	    TYPEOF(spec = R_NamespaceEnvSpec(x)) == STRSXP &&
	    XLENGTH(spec) > 0) {
		snprintf(buf, sizeof(buf), "namespace:%s",
		    rvalue_utf8(STRING_ELT(spec, 0)));
		name = buf;
	}
	if ((rc = puts_(e, "{\"type\":\"environment\",\"value\":")) == 0 &&
	    (rc = enc_text(e, name, strlen(name))) == 0)
		rc = puts_(e, "}");
	vmaxset(vmax);
	return (rc);
}

/*
 * An S4 object as the list of its slots (its attributes but the class,
 * and .Data for one that extends a basic type), named, with its class.
 */
static int
enc_s4(struct enc *e, SEXP x)
{
	SEXP	 slots, names, a, data, cl = R_NilValue;
	int	 n = 0, i = 0, rc;

	if (TYPEOF(x) == ENVSXP)
		return (enc_cannot(e, "S4 object on an environment"));
	for (a = ATTRIB(x); a != R_NilValue; a = CDR(a))
		if (TAG(a) == R_ClassSymbol)
			cl = CAR(a);
		else
			n++;
	if (TYPEOF(x) != S4SXP)
		n++;
	slots = PROTECT(Rf_allocVector(VECSXP, n));
	names = PROTECT(Rf_allocVector(STRSXP, n));
	for (a = ATTRIB(x); a != R_NilValue; a = CDR(a)) {
		if (TAG(a) == R_ClassSymbol)
			continue;
		SET_VECTOR_ELT(slots, i, CAR(a));
		SET_STRING_ELT(names, i++, PRINTNAME(TAG(a)));
	}
	if (TYPEOF(x) != S4SXP) {
		data = PROTECT(Rf_shallow_duplicate(x));
		SET_ATTRIB(data, R_NilValue);
		SET_OBJECT(data, 0);
		UNSET_S4_OBJECT(data);
		SET_VECTOR_ELT(slots, i, data);
		SET_STRING_ELT(names, i, Rf_mkChar(".Data"));
		UNPROTECT(1);
	}
	Rf_setAttrib(slots, R_NamesSymbol, names);
	if ((rc = puts_(e, "{\"type\":\"S4\",\"value\":")) == 0 &&
	    (rc = enc_vector(e, slots)) == 0 &&
	    (rc = puts_(e, ",\"attributes\":{\"names\":")) == 0 &&
	    (rc = enc_value(e, names)) == 0 &&
	    (rc = puts_(e, ",\"class\":")) == 0 &&
	    (rc = enc_value(e, cl)) == 0)
		rc = puts_(e, "}}");
	UNPROTECT(2);
	return (rc);
}

/*
 * x whole as what cannot cross: the type of the part that could not,
 * its path, x's class and its printed form (printed, if the caller has
 * it, else the printer's).
 */
static int
enc_unsupported(struct enc *e, SEXP x, SEXP printed)
{
	char	 path[RVALUE_PATH_MAX];
	int	 i, rc;
	SEXP	 cl;

	path[0] = '\0';
	for (i = e->nsteps - 1; i >= 0; i--)
		strlcat(path, e->steps[i], sizeof(path));
	e->unsup = 0;
	e->over = 0;
	e->depth = 0;
	if (puts_(e, "{\"type\":\"unsupported\",\"rtype\":") == -1 ||
	    enc_text(e, e->unsup_type, strlen(e->unsup_type)) == -1 ||
	    puts_(e, ",\"path\":") == -1 ||
	    enc_text(e, path, strlen(path)) == -1)
		return (-1);
	cl = Rf_getAttrib(x, R_ClassSymbol);
	if (TYPEOF(cl) == STRSXP && (puts_(e, ",\"class\":") == -1 ||
	    enc_vector(e, cl) == -1))
		return (-1);
	if (puts_(e, ",\"printed\":") == -1)
		return (-1);
	if (printed == NULL || printed == R_NilValue)
		printed = printer != NULL ? printer(x) : R_NilValue;
	PROTECT(printed);
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

/* Tool arguments: each that cannot cross goes as its own stand-in. */
static int
enc_args(struct enc *e, SEXP args)
{
	SEXP		 names;
	R_xlen_t	 i, n;
	size_t		 at;

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
		    enc_key(e, STRING_ELT(names, i)) :
		    puts_(e, "\"\"")) == -1)
			return (-1);
		if (put(e, ":", 1) == -1)
			return (-1);
		at = e->len;
		if (enc_value(e, VECTOR_ELT(args, i)) == 0)
			continue;
		if (!e->unsup)
			return (-1);
		e->len = at;
		if (enc_unsupported(e, VECTOR_ELT(args, i), NULL) == -1)
			return (-1);
		enc_reset(e);
	}
	return (put(e, "}", 1));
}
