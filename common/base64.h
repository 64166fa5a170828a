/* Base64 for plots and files in the protocol: base64.c. */

#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>

size_t	 base64_len(size_t);
char	*base64_encode(const void *, size_t);
int	 base64_decode(const char *, size_t, unsigned char **, size_t *);

#endif /* BASE64_H */
