/*
 * JSON text that keeps every bit of a double: json.c.  Used by the
 * daemon and by every client in the tree.
 */

#ifndef SECURER_JSON_H
#define SECURER_JSON_H

#include <stddef.h>

struct cJSON;

/* Appends n bytes of JSON text; 0, or -1 to stop (out of room). */
typedef int	(*json_put_fn)(void *, const char *, size_t);

int	 fmt_double(char *, size_t, double);
int	 json_escape(const char *, size_t, json_put_fn, void *);
char	*json_print(const struct cJSON *, size_t *);
int	 json_valid_line(const char *, size_t);
int	 json_has_duplicate(const struct cJSON *);

#endif /* SECURER_JSON_H */
