/*
 * Base64 (RFC 4648, standard alphabet, padded): how plots and files
 * travel in the NDJSON protocol.
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

/* A NUL-terminated encoding of n bytes, malloc'd; NULL if out of memory. */
char *
base64_encode(const void *data, size_t n)
{
	const unsigned char	*p = data;
	char			*out, *o;
	uint32_t		 v;
	size_t			 i;

	if ((out = malloc(base64_len(n) + 1)) == NULL)
		return (NULL);
	o = out;
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

/*
 * Decodes len characters (padding required, no whitespace) into a
 * malloc'd buffer of *outlen bytes.  -1 on bad input or no memory, with
 * *out NULL.
 */
int
base64_decode(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char	*buf;
	size_t		 i, n = 0, pad = 0;
	uint32_t	 v;
	int		 c, k;

	*out = NULL;
	if (len % 4 != 0)
		return (-1);
	if (len > 0 && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	if ((buf = malloc(len / 4 * 3 + 1)) == NULL)
		return (-1);
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			if (i + k >= len - pad && s[i + k] == '=')
				c = 0;
			else if ((c = b64_value(s[i + k])) == -1) {
				free(buf);
				return (-1);
			}
			v = v << 6 | (uint32_t)c;
		}
		buf[n++] = v >> 16;
		buf[n++] = (v >> 8) & 0xff;
		buf[n++] = v & 0xff;
	}
	*out = buf;
	*outlen = n - pad;
	return (0);
}
