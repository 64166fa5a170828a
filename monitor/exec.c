/*
 * Execution records: an execute request's options, parsed and held to
 * the operator's caps; the output caps; and the parts of the replies an
 * execution ends with.  When it runs and how it ends is the core's.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "hugemem.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"


static int
exec_caps(struct exec *e, cJSON *req, char *err, size_t errlen)
{
	e->max_tool_calls = conf->max_tool_calls;
	e->max_out_bytes = conf->max_output_bytes;
	e->max_out_lines = conf->max_output_lines;
	if (json_get_count(req, "max_tool_calls", &e->max_tool_calls) == -1 ||
	    json_get_count(req, "max_output_bytes", &e->max_out_bytes) == -1 ||
	    json_get_count(req, "max_output_lines", &e->max_out_lines) == -1) {
		snprintf(err, errlen, "max_tool_calls, max_output_bytes and "
		    "max_output_lines must be positive integers");
		return (-1);
	}
	/* The operator's caps hold whatever the client asks. */
	if (conf->max_output_bytes && e->max_out_bytes > conf->max_output_bytes)
		e->max_out_bytes = conf->max_output_bytes;
	if (conf->max_output_lines && (e->max_out_lines == 0 ||
	    e->max_out_lines > conf->max_output_lines))
		e->max_out_lines = conf->max_output_lines;
	if (conf->max_tool_calls && (e->max_tool_calls == 0 ||
	    e->max_tool_calls > conf->max_tool_calls))
		e->max_tool_calls = conf->max_tool_calls;
	return (0);
}

static int
exec_flags(struct exec *e, cJSON *req, char *err, size_t errlen)
{
	cJSON	*echo = cJSON_GetObjectItemCaseSensitive(req, "echo");
	cJSON	*sanitize = cJSON_GetObjectItemCaseSensitive(req, "sanitize");
	cJSON	*pv = cJSON_GetObjectItemCaseSensitive(req, "printed_vectors");

	if (echo != NULL && !cJSON_IsBool(echo)) {
		snprintf(err, errlen, "echo must be true or false");
		return (-1);
	}
	if (pv != NULL && !cJSON_IsBool(pv)) {
		snprintf(err, errlen, "printed_vectors must be true or false");
		return (-1);
	}
	e->flags = cJSON_IsTrue(echo) ? EXEC_ECHO : 0;
	if (cJSON_IsFalse(pv))
		e->flags |= EXEC_NO_PLAIN;
	if (sanitize != NULL && !cJSON_IsBool(sanitize)) {
		snprintf(err, errlen, "sanitize must be true or false");
		return (-1);
	}
	e->sanitize = cJSON_IsTrue(sanitize);
	return (0);
}

/*
 * An execution of req's code on s, its options checked; NULL with the
 * reason in err.  The code (a string: the caller checked) is copied.
 */
struct exec *
exec_alloc(struct session *s, cJSON *req, char *err, size_t errlen)
{
	struct exec	*e;
	cJSON		*code = cJSON_GetObjectItemCaseSensitive(req, "code");

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("%s", __func__);
	e->job.kind = JOB_EXEC;
	e->job.session = s;
	if (json_get_seconds(req, "timeout", s->timeout,
	    &e->job.timeout) == -1) {
		snprintf(err, errlen, "timeout must be a number of seconds, "
		    "at most 315360000");
		goto bad;
	}
	if (conf->max_timeout > 0 && (e->job.timeout == 0 ||
	    e->job.timeout > conf->max_timeout)) {
		snprintf(err, errlen, "timeout must be at most %g seconds",
		    conf->max_timeout);
		goto bad;
	}
	if (exec_caps(e, req, err, errlen) == -1 ||
	    exec_flags(e, req, err, errlen) == -1)
		goto bad;
	e->job.code_len = strlen(code->valuestring);
	if ((e->job.code = strdup(code->valuestring)) == NULL)
		fatal("%s", __func__);
	return (e);
 bad:
	free(e);
	return (NULL);
}

void
exec_free(struct exec *e)
{
	held_charge(HELD_VALUES, -(int64_t)e->value_len);
	free(e->value);
	frame_free(e->frame);
	plots_free(&e->plots);
	toolcall_free(e->call);
	free(e->advisory);
	free(e->job.code);
	free(e);
}

/* How much of text fits under the output caps; counts it. */
size_t
exec_output_fits(struct exec *e, const char *text, size_t len)
{
	size_t	i, n = len;

	if (e->max_out_bytes && e->out_bytes + n > e->max_out_bytes)
		n = e->max_out_bytes - e->out_bytes;
	for (i = 0; i < n; i++) {
		if (text[i] != '\n')
			continue;
		e->out_lines++;
		if (e->max_out_lines && e->out_lines >= e->max_out_lines) {
			n = i + 1;
			break;
		}
	}
	e->out_bytes += n;
	return (n);
}

static const char *
stream_name(enum w_stream stream)
{
	switch (stream) {
	case STREAM_STDOUT:
		return ("stdout");
	case STREAM_STDERR:
		return ("stderr");
	case STREAM_MESSAGE:
		return ("message");
	case STREAM_WARNING:
		return ("warning");
	}
	return (NULL);
}

/* An output event's members: the stream and its text, made UTF-8. */
cJSON *
exec_output_event(enum w_stream stream, const char *text, size_t len)
{
	cJSON	*ev;
	char	*clean;
	size_t	 cleanlen;

	if ((clean = utf8_sanitize(text, len, &cleanlen)) == NULL ||
	    (ev = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(ev, "stream", stream_name(stream));
	cJSON_AddStringToObject(ev, "text", clean);
	free(clean);
	return (ev);
}

/* The worker's risky names, each a warning in r. */
void
exec_add_warnings(const struct exec *e, cJSON *r)
{
	cJSON	*list, *w;
	char	*names, *name, *p;

	if (e->advisory == NULL)
		return;
	if ((list = cJSON_AddArrayToObject(r, "warnings")) == NULL ||
	    (names = strdup(e->advisory)) == NULL)
		fatal("%s", __func__);
	p = names;
	while ((name = strsep(&p, ",")) != NULL) {
		if (*name == '\0' || (w = cJSON_CreateObject()) == NULL)
			continue;
		cJSON_AddStringToObject(w, "code", "risky_call");
		cJSON_AddStringToObject(w, "call", name);
		cJSON_AddItemToArray(list, w);
	}
	free(names);
}

/*
 * What an error reply of an execution carries besides its code and
 * message: warnings, the plots drawn, and for a parse error where it
 * is, for an R error its call (text, already cleaned, or NULL).
 */
cJSON *
exec_error_extra(struct exec *e, const struct msg_text *call, size_t used)
{
	cJSON	*extra;

	if ((extra = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	exec_add_warnings(e, extra);
	plots_into(&e->plots, extra, used);
	if (call != NULL && call->len > 0)
		cJSON_AddStringToObject(extra, "call", call->p);
	return (extra);
}

/* "classes": the condition's classes, as R code gave them. */
void
exec_add_classes(cJSON *extra, const struct msg_text *classes)
{
	cJSON	*list;
	char	*names, *name, *q;

	if (classes->len == 0)
		return;
	if ((list = cJSON_AddArrayToObject(extra, "classes")) == NULL ||
	    (names = strndup(classes->p, classes->len)) == NULL)
		fatal("%s", __func__);
	q = names;
	while ((name = strsep(&q, ",")) != NULL)
		if (*name != '\0')
			cJSON_AddItemToArray(list, cJSON_CreateString(name));
	free(names);
}

/* An invisible value the worker did not send: a warning says why. */
void
exec_add_omitted(cJSON *r, const struct msg_result *m)
{
	cJSON	*list, *w;
	char	 msg[400];

	if (!m->omitted)
		return;
	if ((list = cJSON_GetObjectItemCaseSensitive(r, "warnings")) == NULL &&
	    (list = cJSON_AddArrayToObject(r, "warnings")) == NULL)
		fatal("%s", __func__);
	snprintf(msg, sizeof(msg), "The value (about %llu bytes encoded) is "
	    "over the daemon's result-size (%llu bytes) and was not "
	    "returned; it is still in the session: return it in parts, "
	    "write it to a file for get_file(), or raise result-size in "
	    "securerd.conf(5).", (unsigned long long)m->omitted_size,
	    (unsigned long long)conf->max_result);
	if ((w = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(w, "code", "value_omitted");
	cJSON_AddStringToObject(w, "message", msg);
	cJSON_AddNumberToObject(w, "size", (double)m->omitted_size);
	cJSON_AddNumberToObject(w, "max", (double)conf->max_result);
	cJSON_AddItemToArray(list, w);
}

/*
 * Room for n more bytes of a value: within result-size for the value,
 * within result-memory for all the values held, checked before anything
 * grows.  -1: refused; what was held of it is let go, the rest of it
 * dropped as it comes, and the result, when it comes, is the error.
 */
static int
exec_value_room(struct exec *e, size_t n)
{
	size_t		mine = e->value_len + (e->frame ? frame_len(e->frame) : 0);

	if (e->value_refused == 0) {
		if (n > conf->max_result || mine > conf->max_result - n)
			e->value_refused = 1;
		else if (!held_fits(n))
			e->value_refused = 2;
		else
			return (0);
	}
	held_charge(HELD_VALUES, -(int64_t)e->value_len);
	free(e->value);
	e->value = NULL;
	e->value_len = e->value_cap = 0;
	frame_free(e->frame);
	e->frame = NULL;
	return (-1);
}

/*
 * Room for n more bytes and a NUL: doubling, so that a value of many
 * parts is not copied once per part; never past result-size.
 */
static void
exec_value_grow(struct exec *e, size_t n)
{
	size_t	 cap = e->value_cap;
	char	*p;

	if (e->value_len + n + 1 <= cap)
		return;
	if (cap == 0)
		cap = WORKER_PART_MAX;
	while (cap < e->value_len + n + 1)
		cap *= 2;
	if (cap > conf->max_result + 1)
		cap = conf->max_result + 1;
	if (cap < e->value_len + n + 1)
		cap = e->value_len + n + 1;
	if ((p = realloc(e->value, cap)) == NULL)
		fatal("%s", __func__);
	hugemem_advise(p, cap);
	e->value = p;
	e->value_cap = cap;
}

static void
exec_value_add(struct exec *e, const struct msg_text *t)
{
	exec_value_grow(e, t->len);
	memcpy(e->value + e->value_len, t->p, t->len);
	e->value_len += t->len;
	held_charge(HELD_VALUES, t->len);
}

/* Bytes of a value too large for one message, kept until its end. */
void
exec_value_part(struct exec *e, const struct msg_text *part)
{
	e->value_total += part->len;
	if (exec_value_room(e, part->len) == 0)
		exec_value_add(e, part);
}

/* Bytes of its frame (part is consumed), held to the same budgets. */
void
exec_frame_part(struct exec *e, struct ibuf *part)
{
	size_t	n = ibuf_left(part);

	e->frame_total += n;
	if (exec_value_room(e, n) == -1) {
		ibuf_free(part);
		return;
	}
	if (e->frame == NULL)
		e->frame = frame_new();
	frame_add(e->frame, part);
}

/* The frame received, for the reply (NULL: none); the caller owns it. */
struct frame *
exec_take_frame(struct exec *e)
{
	struct frame	*f = e->frame;

	e->frame = NULL;
	return (f);
}

/*
 * The JSON text of a value, len bytes at text, as one node for the
 * reply: a valid text goes out as it is (a raw node), never parsed and
 * printed again; own: text is a buffer the node may take.
 */
static cJSON *
exec_value_node(char *text, size_t len, int own)
{
	cJSON	*v;

	if (!json_valid_line(text, len)) {
		v = json_raw_value(text, len);
		if (own)
			free(text);
		return (v);
	}
	if (!own && (text = strndup(text, len)) == NULL)
		fatal("%s", __func__);
	text[len] = '\0';
	if ((v = cJSON_CreateRaw("")) == NULL)
		fatal("%s", __func__);
	free(v->valuestring);
	v->valuestring = text;
	return (v);
}

/*
 * The whole value, the parts held and the last piece, as one node for
 * the reply.  NULL: refused for its size (e->value_refused) or not a
 * value.
 */
cJSON *
exec_value(struct exec *e, const struct msg_text *last)
{
	size_t	 flen = e->frame != NULL ? frame_len(e->frame) : 0, len;
	char	*buf;

	e->value_total += last->len;
	if (e->value_len == 0 && e->value_refused == 0) {
		if (last->len > conf->max_result || flen >
		    conf->max_result - last->len) {
			e->value_refused = 1;
			return (NULL);
		}
		return (json_pass_value(last->p, last->len));
	}
	if (exec_value_room(e, last->len) == -1)
		return (NULL);
	exec_value_add(e, last);
	held_charge(HELD_VALUES, -(int64_t)e->value_len);
	buf = e->value;
	len = e->value_len;
	e->value = NULL;
	e->value_len = e->value_cap = 0;
	return (exec_value_node(buf, len, 1));
}
