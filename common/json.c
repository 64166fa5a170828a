/*
 * JSON output that keeps every bit of a double.
 *
 * cJSON's own printer writes numbers with %.15g first and so turns
 * 0.1 + 0.2 into 0.3: fine for a configuration file, wrong for R values
 * that must read back identical.  json_print() walks a cJSON tree itself
 * and writes numbers with fmt_double(), strings escaped per RFC 8259, and
 * raw nodes (pre-encoded JSON) verbatim.
 *
 * Numbers are formatted and read back in the "C" locale whatever the
 * caller's locale: a client program that called setlocale(LC_ALL, "")
 * in a locale with a decimal comma must still produce JSON.
 */

#include <cjson/cJSON.h>
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

#define JSON_NUM_MAX	32	/* "-1.2345678901234567e-308" and NUL */

struct jbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

static pthread_once_t	 c_locale_once = PTHREAD_ONCE_INIT;
static locale_t		 c_locale = (locale_t)0;

static void	c_locale_init(void);
static int	fmt_try(char *, const char *, double);
static void	jb_add(struct jbuf *, const char *, size_t);
static void	jb_string(struct jbuf *, const char *);
static int	jb_put(void *, const char *, size_t);
static void	jb_number(struct jbuf *, double);
static void	jb_value(struct jbuf *, const cJSON *);

static void
c_locale_init(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Format d with fmt; 1 if it reads back to the same bits. */
static int
fmt_try(char *buf, const char *fmt, double d)
{
	double	 back;

	snprintf(buf, JSON_NUM_MAX, fmt, d);
	back = strtod(buf, NULL);
	return (memcmp(&back, &d, sizeof(d)) == 0);
}

/*
 * Write the shortest of %.15g, %.16g and %.17g that strtod(3) reads back
 * to the identical double (%.17g always does).  Returns the length, or
 * -1 if d is not finite or buf is too small.
 */
int
fmt_double(char *buf, size_t size, double d)
{
	char		 tmp[JSON_NUM_MAX];
	locale_t	 old = (locale_t)0;
	size_t		 len;

	if (!isfinite(d))
		return (-1);
	pthread_once(&c_locale_once, c_locale_init);
	if (c_locale != (locale_t)0)
		old = uselocale(c_locale);
	if (!fmt_try(tmp, "%.15g", d) && !fmt_try(tmp, "%.16g", d))
		(void)fmt_try(tmp, "%.17g", d);
	if (old != (locale_t)0)
		uselocale(old);
	len = strlen(tmp);
	if (len >= size)
		return (-1);
	memcpy(buf, tmp, len + 1);
	return ((int)len);
}

static void
jb_add(struct jbuf *jb, const char *s, size_t n)
{
	size_t	 ncap;
	char	*p;

	if (jb->failed)
		return;
	if (n > SIZE_MAX - 1 - jb->len) {
		jb->failed = 1;
		return;
	}
	if (jb->len + n + 1 > jb->cap) {
		ncap = jb->cap > 0 ? jb->cap : 256;
		while (ncap < jb->len + n + 1)
			ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
		if ((p = realloc(jb->p, ncap)) == NULL) {
			jb->failed = 1;
			return;
		}
		jb->p = p;
		jb->cap = ncap;
	}
	memcpy(jb->p + jb->len, s, n);
	jb->len += n;
	jb->p[jb->len] = '\0';
}

static int
jb_put(void *arg, const char *s, size_t n)
{
	struct jbuf	*jb = arg;

	jb_add(jb, s, n);
	return (jb->failed ? -1 : 0);
}

/*
 * A JSON string.  Text that is not UTF-8 would make the whole document
 * invalid, so it is repaired first (U+FFFD for each bad sequence).
 */
static void
jb_string(struct jbuf *jb, const char *s)
{
	size_t	 len, fixlen;
	char	*fixed;

	if (s == NULL)
		s = "";
	len = strlen(s);
	if (utf8_valid(s, len)) {
		json_escape(s, len, jb_put, jb);
		return;
	}
	if ((fixed = utf8_sanitize(s, len, &fixlen)) == NULL) {
		jb->failed = 1;
		return;
	}
	json_escape(fixed, fixlen, jb_put, jb);
	free(fixed);
}

/*
 * The JSON string of len bytes of UTF-8 at s, quotes included, handed
 * to put in runs: RFC 8259 section 7, the quote, the backslash and the
 * controls are escaped, the rest goes as it is.  -1 as soon as put
 * says so.
 */
int
json_escape(const char *s, size_t len, json_put_fn put, void *arg)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 esc[8];
	size_t			 i, run = 0;
	int			 n;

	if (put(arg, "\"", 1) == -1)
		return (-1);
	for (i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\')
			continue;
		if (i > run && put(arg, s + run, i - run) == -1)
			return (-1);
		run = i + 1;
		n = 2;
		esc[0] = '\\';
		switch (p[i]) {
		case '"':
		case '\\':
			esc[1] = p[i];
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			n = snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			break;
		}
		if (put(arg, esc, n) == -1)
			return (-1);
	}
	if (len > run && put(arg, s + run, len - run) == -1)
		return (-1);
	return (put(arg, "\"", 1));
}

/* JSON has no NaN or infinities: they print as null. */
static void
jb_number(struct jbuf *jb, double d)
{
	char	 num[JSON_NUM_MAX];
	int	 n;

	if ((n = fmt_double(num, sizeof(num), d)) == -1)
		jb_add(jb, "null", 4);
	else
		jb_add(jb, num, n);
}

static void
jb_value(struct jbuf *jb, const cJSON *item)
{
	const cJSON	*c;

	switch (item->type & 0xff) {
	case cJSON_False:
		jb_add(jb, "false", 5);
		break;
	case cJSON_True:
		jb_add(jb, "true", 4);
		break;
	case cJSON_Number:
		jb_number(jb, item->valuedouble);
		break;
	case cJSON_String:
		jb_string(jb, item->valuestring);
		break;
	case cJSON_Raw:
		if (item->valuestring != NULL)
			jb_add(jb, item->valuestring,
			    strlen(item->valuestring));
		else
			jb_add(jb, "null", 4);
		break;
	case cJSON_Array:
		jb_add(jb, "[", 1);
		for (c = item->child; c != NULL; c = c->next) {
			if (c != item->child)
				jb_add(jb, ",", 1);
			jb_value(jb, c);
		}
		jb_add(jb, "]", 1);
		break;
	case cJSON_Object:
		jb_add(jb, "{", 1);
		for (c = item->child; c != NULL; c = c->next) {
			if (c != item->child)
				jb_add(jb, ",", 1);
			jb_string(jb, c->string);
			jb_add(jb, ":", 1);
			jb_value(jb, c);
		}
		jb_add(jb, "}", 1);
		break;
	default:	/* cJSON_NULL, cJSON_Invalid */
		jb_add(jb, "null", 4);
		break;
	}
}

/*
 * The compact JSON text of item, malloc'd and NUL-terminated, its length
 * in *len if len is not NULL.  NULL if memory runs out.
 */
char *
json_print(const cJSON *item, size_t *len)
{
	struct jbuf	 jb;

	memset(&jb, 0, sizeof(jb));
	if (item == NULL)
		jb_add(&jb, "null", 4);
	else
		jb_value(&jb, item);
	if (jb.failed) {
		free(jb.p);
		return (NULL);
	}
	if (len != NULL)
		*len = jb.len;
	return (jb.p);
}

/*
 * Whether s (len bytes) is one JSON value (RFC 8259) that may go out on
 * one line as it is: valid UTF-8 in its strings, no control character
 * in them, nesting at most JSON_VALID_DEPTH, and no line break anywhere
 * (whitespace is a space or a tab).  Linear, a tight loop over long
 * strings: the monitor checks a worker's value of hundreds of megabytes
 * with it instead of parsing and printing it again.
 */
#define JSON_VALID_DEPTH	1024

static const char *
valid_string(const char *p, const char *end)
{
	const unsigned char	*u;
	size_t			 n;

	for (p++; p < end; ) {
		u = (const unsigned char *)p;
		if (*u == '"')
			return (p + 1);
		if (*u == '\\') {
			if (++p >= end)
				return (NULL);
			if (*p == 'u') {
				if (end - p < 5 || !isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]) ||
				    !isxdigit((unsigned char)p[3]) ||
				    !isxdigit((unsigned char)p[4]))
					return (NULL);
				p += 5;
			} else if (strchr("\"\\/bfnrt", *p) != NULL && *p)
				p++;
			else
				return (NULL);
			continue;
		}
		if (*u < 0x20)
			return (NULL);
		if (*u < 0x80) {
			p++;
			continue;
		}
		n = *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : 2;
		if ((size_t)(end - p) < n || !utf8_valid(p, n))
			return (NULL);
		p += n;
	}
	return (NULL);
}

static const char *
valid_number(const char *p, const char *end)
{
	const char	*d;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else {
		for (d = p; p < end && isdigit((unsigned char)*p); p++)
			;
		if (p == d)
			return (NULL);
	}
	if (p < end && *p == '.') {
		for (d = ++p; p < end && isdigit((unsigned char)*p); p++)
			;
		if (p == d)
			return (NULL);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		for (d = p; p < end && isdigit((unsigned char)*p); p++)
			;
		if (p == d)
			return (NULL);
	}
	return (p);
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return (p);
}

int
json_valid_line(const char *s, size_t len)
{
	char		 stack[JSON_VALID_DEPTH];	/* '[' or '{' */
	const char	*p = s, *end = s + len;
	int		 depth = 0, want_value = 1;

	for (;;) {
		p = skip_ws(p, end);
		if (p >= end)
			return (0);
		if (want_value) {
			if (*p == '[' || *p == '{') {
				if (depth == JSON_VALID_DEPTH)
					return (0);
				stack[depth++] = *p++;
				p = skip_ws(p, end);
				if (p < end && (*p == ']' || *p == '}')) {
					if ((*p == ']') != (stack[--depth] ==
					    '['))
						return (0);
					p++;
					want_value = 0;
					goto after;
				}
				if (stack[depth - 1] == '{')
					goto key;
				continue;
			}
			if (*p == '"')
				p = valid_string(p, end);
			else if (*p == '-' || isdigit((unsigned char)*p))
				p = valid_number(p, end);
			else if (end - p >= 4 && memcmp(p, "true", 4) == 0)
				p += 4;
			else if (end - p >= 5 && memcmp(p, "false", 5) == 0)
				p += 5;
			else if (end - p >= 4 && memcmp(p, "null", 4) == 0)
				p += 4;
			else
				return (0);
			if (p == NULL)
				return (0);
			want_value = 0;
		}
 after:
		p = skip_ws(p, end);
		if (depth == 0)
			return (p == end);
		if (p >= end)
			return (0);
		if (*p == ',') {
			p++;
			want_value = 1;
			if (stack[depth - 1] == '{')
				goto key;
			continue;
		}
		if ((*p == ']' && stack[depth - 1] == '[') ||
		    (*p == '}' && stack[depth - 1] == '{')) {
			p++;
			depth--;
			goto after;
		}
		return (0);
 key:
		p = skip_ws(p, end);
		if (p >= end || *p != '"' || (p = valid_string(p, end)) == NULL)
			return (0);
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return (0);
		p++;
		want_value = 1;
	}
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* Whether two members of the object o have one name. */
static int
object_has_duplicate(const cJSON *o)
{
	const char	*few[32], **names = few;
	const cJSON	*m;
	size_t		 n = 0, i;
	int		 dup = 0;

	for (m = o->child; m != NULL; m = m->next)
		n++;
	if (n < 2)
		return (0);
	if (n > sizeof(few) / sizeof(few[0]) &&
	    (names = calloc(n, sizeof(*names))) == NULL)
		return (1);	/* unanswerable: refuse rather than guess */
	for (i = 0, m = o->child; m != NULL; m = m->next)
		names[i++] = m->string != NULL ? m->string : "";
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 1; i < n && !dup; i++)
		dup = strcmp(names[i - 1], names[i]) == 0;
	if (names != few)
		free(names);
	return (dup);
}

/*
 * Whether any object in item has a name twice.  cJSON keeps both and
 * finds the first, while another reader may take the last: a request
 * that says two things is refused, not read one way here and another
 * way elsewhere.  Sorting makes it n log n in an object's size; the
 * depth is cJSON's nesting limit.
 */
int
json_has_duplicate(const cJSON *item)
{
	const cJSON	*m;

	if (item == NULL)
		return (0);
	if (cJSON_IsObject(item) && object_has_duplicate(item))
		return (1);
	if (cJSON_IsObject(item) || cJSON_IsArray(item))
		for (m = item->child; m != NULL; m = m->next)
			if (json_has_duplicate(m))
				return (1);
	return (0);
}
