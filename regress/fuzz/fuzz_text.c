/*
 * The monitor's text checks on what workers send (common/utf8.c,
 * monitor/reply.c, monitor/sanitize.c): every text that reaches a client
 * is made valid UTF-8 without NULs, a value is one JSON value, and a
 * sanitized error message is valid UTF-8 of bounded length.  Each is
 * checked for what it promises:
 *	utf8_sanitize	valid UTF-8, no NUL, the length it says; text that
 *			was valid and had no NUL comes back unchanged
 *	json_raw_value	what it accepts prints as valid UTF-8 JSON that
 *			parses and prints back to the same text
 *	sanitize_error	valid UTF-8, at most 500 bytes, no NUL
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "monitor.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return (0);
}

static void
check_sanitize(const char *p, size_t len)
{
	char	*t;
	size_t	 n;

	if ((t = utf8_sanitize(p, len, &n)) == NULL)
		abort();
	if (strlen(t) != n || !utf8_valid(t, n))
		abort();
	if (utf8_valid(p, len) && memchr(p, '\0', len) == NULL &&
	    (n != len || memcmp(p, t, n) != 0))
		abort();
	free(t);
}

static void
check_value(const char *p, size_t len)
{
	cJSON	*v, *w;
	char	*text, *again;
	size_t	 n, m;

	if ((v = json_raw_value(p, len)) == NULL)
		return;
	if ((text = json_print(v, &n)) == NULL)
		abort();
	if (strlen(text) != n || !utf8_valid(text, n) ||
	    (w = cJSON_ParseWithLength(text, n)) == NULL) {
		fprintf(stderr, "printed: %s\n", text);
		abort();
	}
	/*
	 * Printed again it is the same text (cJSON_Compare() would not
	 * do: it takes an object's first member of a name for all).
	 */
	if ((again = json_print(w, &m)) == NULL)
		abort();
	if (m != n || memcmp(text, again, n) != 0) {
		fprintf(stderr, "printed differently:\n%s\n%s\n", text, again);
		abort();
	}
	cJSON_Delete(v);
	cJSON_Delete(w);
	free(text);
	free(again);
}

static void
check_error(const char *p, size_t len)
{
	char	*s;
	size_t	 n;

	if ((s = sanitize_error(p, len)) == NULL)
		abort();
	n = strlen(s);
	if (n > 500 || !utf8_valid(s, n)) {
		fprintf(stderr, "sanitized: %s\n", s);
		abort();
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*copy;

	fuzz_begin();
	/* An exact copy: a read past the text is seen by ASan. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(copy, data, size);
	check_sanitize(copy, size);
	check_value(copy, size);
	check_error(copy, size);
	free(copy);
	fuzz_end();
	return (0);
}

/* reply.c's replies go to connections: none here. */
void
conn_send(struct conn *c, const char *text, size_t len)
{
	abort();
}

void
conn_send_more(struct conn *c, const char *text, size_t len)
{
	abort();
}

void
conn_message_end(struct conn *c)
{
	abort();
}

/* Nor frames: replies here never carry one. */
size_t
frame_len(const struct frame *f)
{
	abort();
}

void
frame_free(struct frame *f)
{
	if (f != NULL)
		abort();
}

void
frame_send(struct frame *f, struct conn *c)
{
	abort();
}
