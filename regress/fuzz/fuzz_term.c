/*
 * What the securer command writes of the sandbox's text to a terminal
 * (client/termout.c).  For any bytes, term_escape() gives valid UTF-8
 * with no control character a terminal acts on: no C0 but newline and
 * tab, no DEL, no C1 (U+0080 to U+009F), the length it says; text that
 * had none of them comes back unchanged.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fuzz.h"
#include "utf8.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return (0);
}

/* Whether s holds a byte or character a terminal would act on. */
static int
has_controls(const unsigned char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') ||
		    s[i] == 0x7f)
			return (1);
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 &&
		    s[i + 1] < 0xa0)
			return (1);
	}
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*out;
	size_t	 n;

	if ((out = term_escape((const char *)data, size, &n)) == NULL)
		abort();
	if (strlen(out) != n || !utf8_valid(out, n) ||
	    has_controls((const unsigned char *)out, n))
		abort();
	if (utf8_valid((const char *)data, size) && !has_controls(data, size) &&
	    (n != size || memcmp(out, data, n) != 0))
		abort();
	free(out);
	return (0);
}
