/* The codec's own: binary vectors' byte order (binorder.c). */

#ifndef RVALUE_BINORDER_H
#define RVALUE_BINORDER_H

#include <stddef.h>

void	rvalue_bin_order(unsigned char *, size_t, size_t);

#endif /* RVALUE_BINORDER_H */
