/*
 * securerctl audit verify FILE: checks an audit log without the daemon.
 * Every line one JSON object with a number, a time and an event; the
 * numbers contiguous; every exec_end or exec_abort closing an exec_start
 * of the same session and execution, no start opened twice.  Each
 * problem is printed with its line number.
 */

#include <sys/queue.h>

#include <err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "verify.h"

struct open_start {
	TAILQ_ENTRY(open_start)	 entry;
	char			*key;
	unsigned long		 line;
};

struct verify {
	const char			*path;
	unsigned long			 line;
	unsigned long			 problems;
	unsigned long			 records;
	double				 first, last;
	unsigned long			 starts, ends, aborts;
	TAILQ_HEAD(, open_start)	 open;
};

static void
problem(struct verify *v, const char *fmt, ...)
	__attribute__((__format__ (printf, 2, 3)));

static void
problem(struct verify *v, const char *fmt, ...)
{
	va_list	ap;

	v->problems++;
	fprintf(stdout, "%s:%lu: ", v->path, v->line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static char *
exec_key(cJSON *rec)
{
	cJSON	*s = cJSON_GetObjectItemCaseSensitive(rec, "session");
	cJSON	*e = cJSON_GetObjectItemCaseSensitive(rec, "exec");
	char	*key;

	if (!cJSON_IsString(s) || !cJSON_IsNumber(e))
		return (NULL);
	if (asprintf(&key, "%s/%.0f", s->valuestring, e->valuedouble) == -1)
		err(1, NULL);
	return (key);
}

static struct open_start *
open_find(struct verify *v, const char *key)
{
	struct open_start	*o;

	TAILQ_FOREACH(o, &v->open, entry)
		if (strcmp(o->key, key) == 0)
			return (o);
	return (NULL);
}

static void
start(struct verify *v, char *key)
{
	struct open_start	*o;

	if ((o = open_find(v, key)) != NULL) {
		problem(v, "exec_start of %s, already started at line %lu "
		    "and not ended", key, o->line);
		free(key);
		return;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		err(1, NULL);
	o->key = key;
	o->line = v->line;
	TAILQ_INSERT_TAIL(&v->open, o, entry);
}

static void
end(struct verify *v, const char *event, char *key)
{
	struct open_start	*o;

	if ((o = open_find(v, key)) == NULL)
		problem(v, "%s of %s without its exec_start", event, key);
	else {
		TAILQ_REMOVE(&v->open, o, entry);
		free(o->key);
		free(o);
	}
	free(key);
}

/* A rotated log's first record names what was open before it. */
static void
rotated_open(struct verify *v, cJSON *rec)
{
	cJSON	*item;
	char	*key;

	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(rec,
	    "open")) {
		if ((key = exec_key(item)) == NULL)
			continue;
		/* Already open when the files are read one after another. */
		if (open_find(v, key) != NULL)
			free(key);
		else
			start(v, key);
	}
}

static void
pairing(struct verify *v, cJSON *rec, const char *event)
{
	char	*key;

	if (strcmp(event, "audit_rotate") == 0) {
		rotated_open(v, rec);
		return;
	}
	if (strcmp(event, "exec_start") != 0 &&
	    strcmp(event, "exec_end") != 0 &&
	    strcmp(event, "exec_abort") != 0)
		return;
	if ((key = exec_key(rec)) == NULL) {
		problem(v, "%s without a session and an execution number",
		    event);
		return;
	}
	if (strcmp(event, "exec_start") == 0) {
		v->starts++;
		start(v, key);
		return;
	}
	if (strcmp(event, "exec_end") == 0)
		v->ends++;
	else
		v->aborts++;
	end(v, event, key);
}

static void
check_line(struct verify *v, const char *line, size_t len)
{
	cJSON	*rec, *seq, *ev, *t;

	if (len == 0 || line[len - 1] != '\n') {
		problem(v, "torn record: no newline at the end");
		return;
	}
	if ((rec = cJSON_ParseWithOpts(line, NULL, 0)) == NULL ||
	    !cJSON_IsObject(rec)) {
		problem(v, "not a JSON object");
		cJSON_Delete(rec);
		return;
	}
	v->records++;
	seq = cJSON_GetObjectItemCaseSensitive(rec, "seq");
	ev = cJSON_GetObjectItemCaseSensitive(rec, "event");
	t = cJSON_GetObjectItemCaseSensitive(rec, "time");
	if (!cJSON_IsNumber(seq) || !cJSON_IsString(ev) || !cJSON_IsString(t))
		problem(v, "a record needs seq, time and event");
	else {
		if (v->records > 1 && seq->valuedouble != v->last + 1)
			problem(v, "seq %.0f after %.0f: numbers are not "
			    "contiguous", seq->valuedouble, v->last);
		if (v->records == 1)
			v->first = seq->valuedouble;
		v->last = seq->valuedouble;
		pairing(v, rec, ev->valuestring);
	}
	cJSON_Delete(rec);
}

int
audit_verify(const char *path)
{
	struct verify		 v;
	struct open_start	*o;
	FILE			*f;
	char			*line = NULL;
	size_t			 size = 0;
	ssize_t			 n;

	memset(&v, 0, sizeof(v));
	v.path = path;
	TAILQ_INIT(&v.open);
	if ((f = fopen(path, "r")) == NULL)
		err(2, "%s", path);
	while ((n = getline(&line, &size, f)) != -1) {
		v.line++;
		if (memchr(line, '\0', n) != NULL)
			problem(&v, "a NUL byte in the record");
		else
			check_line(&v, line, n);
	}
	free(line);
	fclose(f);
	printf("%s: %lu records", path, v.records);
	if (v.records > 0)
		printf(", seq %.0f-%.0f", v.first, v.last);
	printf(", %lu executions: %lu ended, %lu aborted", v.starts, v.ends,
	    v.aborts);
	n = 0;
	while ((o = TAILQ_FIRST(&v.open)) != NULL) {
		TAILQ_REMOVE(&v.open, o, entry);
		free(o->key);
		free(o);
		n++;
	}
	if (n > 0)
		printf(", %zd still open (running)", n);
	printf("; %lu problem%s\n", v.problems, v.problems == 1 ? "" : "s");
	return (v.problems == 0 ? 0 : 1);
}
