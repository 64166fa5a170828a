/*
 * The R value codec: R values to and from the JSON of
 * securer-protocol(7) "Values".  One library (librvalue), used by the
 * worker for results and tool calls and by the R package for tool
 * results and values; it depends on R, cJSON and the tree's JSON,
 * UTF-8 and base64 helpers, never on a daemon's internals.
 *
 * Values crossing the codec are untrusted both ways: the decoder takes
 * any text and fails cleanly; the encoder runs R code (print methods of
 * what cannot cross, deparse of language) that may fail or jump, and
 * frees what it holds if it does.
 *
 * What is not data crosses as a stand-in: language as its deparsed text
 * (parsed again, never evaluated, by the decoder), environments as new
 * empty environments, functions as their source, external pointers as
 * a note, S4 objects as a list of their slots.  A value with a part that
 * cannot cross even so (a byte-code object, an environment with a
 * class, nesting past RVALUE_DEPTH_MAX) goes whole as "unsupported":
 * its printed form and the path of that part.
 */

#ifndef RVALUE_H
#define RVALUE_H

#include <stddef.h>

#define R_NO_REMAP
#include <Rinternals.h>

#define RVALUE_DEPTH_MAX	200	/* nesting of a value */
#define RVALUE_BIN_MIN		16	/* vectors sent binary from this length */
#define RVALUE_LANG_DEPTH_MAX	1000	/* nesting of a decoded call */
#define RVALUE_PATH_MAX		512	/* bytes of an unsupported part's path */

/*
 * A function of the program using the codec that maps a value to a
 * character(1), evaluated in R (it may fail): the printed form of a
 * value that cannot cross, the deparsed text of a call or a function.
 * NULL: none.
 */
typedef SEXP	(*rvalue_printer)(SEXP);
void		 rvalue_set_printer(rvalue_printer);
void		 rvalue_set_deparser(rvalue_printer);

#define RVALUE_BINARY	0x01	/* vectors may take the binary form */
#define RVALUE_FRAMES	0x02	/* ... with their bytes in a frame */

struct rvalue_enc {
	size_t		 max;		/* bytes of the encoded value */
	int		 flags;		/* RVALUE_* */
	SEXP		 printed;	/* the value's printed form, if known */
	/* out */
	int		 too_large;	/* it failed for max */
	double		 size;		/* then its size, extrapolated */
	char		*frame;		/* RVALUE_FRAMES: the bytes "bin_at" */
	size_t		 frame_len;	/* points into; the caller frees it */
};

int		 rvalue_encode(SEXP, size_t, char **, size_t *, char *,
		    size_t);
int		 rvalue_encode_opts(SEXP, struct rvalue_enc *, char **,
		    size_t *, char *, size_t);
int		 rvalue_encode_args(SEXP, size_t, char **, size_t *, char *,
		    size_t);

/*
 * The decoder makes environments as children of the environment set
 * here (R_EmptyEnv unless set; it must stay protected by the caller).
 */
void		 rvalue_set_envparent(SEXP);
SEXP		 rvalue_decode(const char *, size_t, char *, size_t);
struct cJSON;
SEXP		 rvalue_decode_tree(const struct cJSON *, char *, size_t);
SEXP		 rvalue_decode_frame(const struct cJSON *, const void *, size_t,
		    char *, size_t);
int		 rvalue_decoded_revive(void);
const char	*rvalue_utf8(SEXP);

/* parse.c: R code parsed, never run; an EXPRSXP or R_NilValue. */
SEXP	rvalue_parse(SEXP, int);

#endif /* RVALUE_H */
