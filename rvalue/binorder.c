/*
 * Binary vectors are little-endian on the wire (BINARY.md): n elements
 * of size bytes each (16: a complex, two doubles) swapped in place
 * between that order and the host's.  The same swap serves both ways.
 */

#include "binorder.h"

void
rvalue_bin_order(unsigned char *p, size_t n, size_t size)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	unsigned char	 t;
	size_t		 i, j, w = size == 16 ? 8 : size;

	for (i = 0; i < n * size; i += w)
		for (j = 0; j < w / 2; j++) {
			t = p[i + j];
			p[i + j] = p[i + w - 1 - j];
			p[i + w - 1 - j] = t;
		}
#else
	(void)p;
	(void)n;
	(void)size;
#endif
}
