/* Base64 for plots, files and binary vectors in the protocol: base64.c. */

#ifndef BASE64_H
#define BASE64_H

#include <sys/types.h>

#include <stddef.h>

size_t	 base64_len(size_t);
void	 base64_encode_to(char *, const void *, size_t);
char	*base64_encode(const void *, size_t);
ssize_t	 base64_decoded_len(const char *, size_t);
int	 base64_decode_to(unsigned char *, const char *, size_t);
int	 base64_decode(const char *, size_t, unsigned char **, size_t *);

#endif /* BASE64_H */
