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

	if (echo != NULL && !cJSON_IsBool(echo)) {
		snprintf(err, errlen, "echo must be true or false");
		return (-1);
	}
	e->flags = cJSON_IsTrue(echo) ? EXEC_ECHO : 0;
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
	if (json_get_number(req, "timeout", s->timeout,
	    &e->job.timeout) == -1) {
		snprintf(err, errlen, "timeout must be a number of seconds");
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
