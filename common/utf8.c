/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 *
 * Text that crosses into JSON comes from R code we do not trust, so it is
 * checked here and, where it has to be sent anyway, repaired: each
 * maximal ill-formed subsequence becomes one U+FFFD, as Unicode
 * recommends, so a truncated character costs one replacement, not three.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "securerd.h"

#define UTF8_REPL	"\xef\xbf\xbd"	/* U+FFFD */
#define UTF8_REPL_LEN	3

static size_t	utf8_prefix(const unsigned char *, size_t, int *);

/*
 * The number of bytes at p that start a well-formed sequence or, when
 * *ok is set to 0, that form the longest ill-formed prefix of one (at
 * least 1).  The second byte's range depends on the first: that is what
 * rules out overlong forms (E0, F0), surrogates (ED) and values above
 * U+10FFFF (F4).
 */
static size_t
utf8_prefix(const unsigned char *p, size_t n, int *ok)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 need, i;

	*ok = 1;
	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else {
		*ok = 0;
		return (1);
	}
	for (i = 1; i < need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi) {
			*ok = 0;
			return (i);
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return (need);
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0;
	int			 ok;

	while (i < len) {
		/* ASCII runs are the common case. */
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		i += utf8_prefix(p + i, len - i, &ok);
		if (!ok)
			return (0);
	}
	return (1);
}

/*
 * A NUL-terminated copy of s in which every ill-formed subsequence and
 * every NUL byte is replaced by U+FFFD; *outlen, if not NULL, gets its
 * length.  NULL if memory runs out.
 */
char *
utf8_sanitize(const char *s, size_t len, size_t *outlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out;
	size_t			 i = 0, o = 0, n;
	int			 ok;

	/* Worst case: every byte becomes a 3-byte U+FFFD. */
	if (len > (SIZE_MAX - 1) / UTF8_REPL_LEN)
		return (NULL);
	if ((out = malloc(len * UTF8_REPL_LEN + 1)) == NULL)
		return (NULL);
	while (i < len) {
		n = utf8_prefix(p + i, len - i, &ok);
		if (ok && p[i] != '\0') {
			memcpy(out + o, p + i, n);
			o += n;
		} else {
			memcpy(out + o, UTF8_REPL, UTF8_REPL_LEN);
			o += UTF8_REPL_LEN;
		}
		i += n;
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return (out);
}
