/*
 * Base64 (RFC 4648, standard alphabet, padded, no line breaks): how
 * plots, files and binary vectors travel in the JSON of
 * securer-protocol(7).  The _to functions work in the caller's buffer,
 * so that an encoder can write straight into its output.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_len(size_t n)
{
	return ((n + 2) / 3 * 4);
}

/* Writes base64_len(n) characters at out, no NUL. */
void
base64_encode_to(char *out, const void *data, size_t n)
{
	const unsigned char	*p = data;
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = b64[(v >> 6) & 63];
		*out++ = b64[v & 63];
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
}

/* A NUL-terminated encoding of n bytes, malloc'd; NULL if out of memory. */
char *
base64_encode(const void *data, size_t n)
{
	char	*out;
	size_t	 len = base64_len(n);

	if ((out = malloc(len + 1)) == NULL)
		return (NULL);
	base64_encode_to(out, data, n);
	out[len] = '\0';
	return (out);
}

/* The value of each character, -1 for what is not of the alphabet. */
static const signed char b64_values[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/*
 * The number of bytes that len characters of base64 decode to, or -1
 * if len is not whole quanta.  s is looked at only for its padding.
 */
ssize_t
base64_decoded_len(const char *s, size_t len)
{
	size_t	pad = 0;

	if (len % 4 != 0)
		return (-1);
	if (len > 0 && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	return (len / 4 * 3 - pad);
}

/*
 * Decodes len characters (padding only at the end, no whitespace) into
 * out, which has room for base64_decoded_len() bytes.  -1 on bad input.
 */
int
base64_decode_to(unsigned char *out, const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	ssize_t			 want = base64_decoded_len(s, len);
	size_t			 i, n = 0, whole;
	uint32_t		 v;
	int			 c, c0, c1, c2, c3, k;

	if (want == -1)
		return (-1);
	/* Whole quanta without padding: a table look-up per character. */
	whole = len >= 4 && s[len - 1] == '=' ? len - 4 : len;
	for (i = 0; i < whole; i += 4) {
		c0 = b64_values[u[i]];
		c1 = b64_values[u[i + 1]];
		c2 = b64_values[u[i + 2]];
		c3 = b64_values[u[i + 3]];
		if ((c0 | c1 | c2 | c3) < 0)
			return (-1);
		v = (uint32_t)c0 << 18 | (uint32_t)c1 << 12 |
		    (uint32_t)c2 << 6 | (uint32_t)c3;
		out[n++] = v >> 16;
		out[n++] = (v >> 8) & 0xff;
		out[n++] = v & 0xff;
	}
	if (i == len)
		return (0);
	/* The last, padded one. */
	v = 0;
	for (k = 0; k < 4; k++) {
		if (k >= 2 && s[i + k] == '=' && (k == 3 || s[i + 3] == '='))
			c = 0;
		else if ((c = b64_values[u[i + k]]) == -1)
			return (-1);
		v = v << 6 | (uint32_t)c;
	}
	out[n++] = v >> 16;
	if (n < (size_t)want)
		out[n++] = (v >> 8) & 0xff;
	if (n < (size_t)want)
		out[n++] = v & 0xff;
	return (0);
}

/*
 * Decodes len characters into a malloc'd buffer of *outlen bytes.  -1
 * on bad input or no memory, with *out NULL.
 */
int
base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf;
	ssize_t		 n;

	*out = NULL;
	if ((n = base64_decoded_len(s, len)) == -1)
		return (-1);
	if ((buf = malloc(n + 1)) == NULL)
		return (-1);
	if (base64_decode_to(buf, s, len) == -1) {
		free(buf);
		return (-1);
	}
	*out = buf;
	*outlen = n;
	return (0);
}
