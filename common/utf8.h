/* UTF-8 checks and repair: utf8.c. */

#ifndef SECURER_UTF8_H
#define SECURER_UTF8_H

#include <stddef.h>

int	 utf8_valid(const char *, size_t);
char	*utf8_sanitize(const char *, size_t, size_t *);

#endif /* SECURER_UTF8_H */
