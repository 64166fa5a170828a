/*
 * Tools: the session's specifications, and the calls the sandboxed code
 * makes, checked here before the client sees them.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

#define TOOLS_MAX	256
#define TOOL_ARGS_MAX	64

static uint64_t	call_ids;

static const char *type_names[] = {
	[TT_ANY] = "any",
	[TT_NUMERIC] = "numeric",
	[TT_CHARACTER] = "character",
	[TT_LOGICAL] = "logical",
	[TT_INTEGER] = "integer",
	[TT_LIST] = "list",
	[TT_DATA_FRAME] = "data.frame",
};

/*
 * A syntactic R name: letters, digits, '.' and '_', starting with a
 * letter or a '.' not followed by a digit, and not a reserved word.
 */
static int
r_identifier(const char *s)
{
	static const char *reserved[] = {
		"if", "else", "repeat", "while", "function", "for", "next",
		"break", "TRUE", "FALSE", "NULL", "Inf", "NaN", "NA",
		"NA_integer_", "NA_real_", "NA_character_", "NA_complex_",
		"in", "...",
	};
	size_t	i;

	if (!isalpha((unsigned char)s[0]) && s[0] != '.')
		return (0);
	if (s[0] == '.' && isdigit((unsigned char)s[1]))
		return (0);
	for (i = 1; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_')
			return (0);
	if (i > 256)
		return (0);
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(s, reserved[i]) == 0)
			return (0);
	if (s[0] == '.' && s[1] == '.' && isdigit((unsigned char)s[2]))
		return (0);
	return (1);
}

static int
tool_type(cJSON *item, enum tool_type *type)
{
	size_t	i;

	if (cJSON_IsNull(item) ||
	    (cJSON_IsString(item) && item->valuestring[0] == '\0')) {
		*type = TT_ANY;
		return (0);
	}
	if (!cJSON_IsString(item))
		return (-1);
	for (i = 1; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(item->valuestring, type_names[i]) == 0) {
			*type = i;
			return (0);
		}
	return (-1);
}

static int
tool_args_parse(struct tool *t, cJSON *args, char *err, size_t errlen)
{
	cJSON	*a;
	size_t	 i, n;

	if (args == NULL || cJSON_IsNull(args))
		return (0);
	if (!cJSON_IsObject(args) ||
	    (n = cJSON_GetArraySize(args)) > TOOL_ARGS_MAX) {
		snprintf(err, errlen, "tool %s: args must be an object of at "
		    "most %d arguments", t->name, TOOL_ARGS_MAX);
		return (-1);
	}
	if ((t->args = calloc(n, sizeof(*t->args))) == NULL)
		fatal("%s", __func__);
	cJSON_ArrayForEach(a, args) {
		if (!r_identifier(a->string)) {
			snprintf(err, errlen, "argument names must be valid "
			    "R identifiers: \"%.64s\"", a->string);
			return (-1);
		}
		for (i = 0; i < t->nargs; i++)
			if (strcmp(t->args[i].name, a->string) == 0) {
				snprintf(err, errlen, "tool %s: duplicate "
				    "argument %s", t->name, a->string);
				return (-1);
			}
		if (tool_type(a, &t->args[t->nargs].type) == -1) {
			snprintf(err, errlen, "tool %s: argument %s has an "
			    "unknown type; use numeric, character, logical, "
			    "integer, list, data.frame or null", t->name,
			    a->string);
			return (-1);
		}
		if ((t->args[t->nargs++].name = strdup(a->string)) == NULL)
			fatal("%s", __func__);
	}
	return (0);
}

static int
tool_parse(struct tool *tools, size_t n, cJSON *spec, char *err,
    size_t errlen)
{
	struct tool	*t = &tools[n];
	cJSON		*name, *desc;
	size_t		 i;

	name = cJSON_GetObjectItemCaseSensitive(spec, "name");
	desc = cJSON_GetObjectItemCaseSensitive(spec, "description");
	if (!cJSON_IsString(name) || !r_identifier(name->valuestring)) {
		snprintf(err, errlen, "tool name must be a valid R identifier");
		return (-1);
	}
	for (i = 0; i < n; i++)
		if (strcmp(tools[i].name, name->valuestring) == 0) {
			snprintf(err, errlen, "duplicate tool names: \"%s\"",
			    name->valuestring);
			return (-1);
		}
	if (desc != NULL && !cJSON_IsString(desc)) {
		snprintf(err, errlen, "tool %s: description must be a string",
		    name->valuestring);
		return (-1);
	}
	if ((t->name = strdup(name->valuestring)) == NULL ||
	    (t->description = strdup(desc ? desc->valuestring : "")) == NULL)
		fatal("%s", __func__);
	return (tool_args_parse(t, cJSON_GetObjectItemCaseSensitive(spec,
	    "args"), err, errlen));
}

/* What the worker needs to define the tools: names and argument names. */
static char *
tools_setup(struct tool *tools, size_t n)
{
	cJSON	*arr, *o, *args;
	char	*text;
	size_t	 i, j;

	if ((arr = cJSON_CreateArray()) == NULL)
		fatal("%s", __func__);
	for (i = 0; i < n; i++) {
		if ((o = cJSON_CreateObject()) == NULL ||
		    (args = cJSON_AddObjectToObject(o, "args")) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(o, "name", tools[i].name);
		for (j = 0; j < tools[i].nargs; j++)
			cJSON_AddStringToObject(args, tools[i].args[j].name,
			    type_names[tools[i].args[j].type]);
		cJSON_AddItemToArray(arr, o);
	}
	if ((text = json_print(arr, NULL)) == NULL)
		fatal("%s", __func__);
	cJSON_Delete(arr);
	return (text);
}

int
tools_parse(cJSON *specs, struct tool **toolsp, size_t *np, char **setup,
    char *err, size_t errlen)
{
	struct tool	*tools = NULL;
	cJSON		*spec;
	size_t		 n = 0, size;

	if (specs != NULL && !cJSON_IsNull(specs) && (!cJSON_IsArray(specs) ||
	    (size_t)cJSON_GetArraySize(specs) > TOOLS_MAX)) {
		snprintf(err, errlen, "tools must be an array of at most %d "
		    "tool specifications", TOOLS_MAX);
		return (-1);
	}
	size = specs ? cJSON_GetArraySize(specs) : 0;
	if (size > 0 && (tools = calloc(size, sizeof(*tools))) == NULL)
		fatal("%s", __func__);
	cJSON_ArrayForEach(spec, specs) {
		if (!cJSON_IsObject(spec) ||
		    tool_parse(tools, n, spec, err, errlen) == -1) {
			if (!cJSON_IsObject(spec))
				snprintf(err, errlen, "each tool must be an "
				    "object");
			tools_free(tools, n + 1);
			return (-1);
		}
		n++;
	}
	*toolsp = tools;
	*np = n;
	*setup = tools_setup(tools, n);
	return (0);
}

void
tools_free(struct tool *tools, size_t n)
{
	size_t	i, j;

	if (tools == NULL)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < tools[i].nargs; j++)
			free(tools[i].args[j].name);
		free(tools[i].args);
		free(tools[i].name);
		free(tools[i].description);
	}
	free(tools);
}

static int
has_class(cJSON *v, const char *cls)
{
	cJSON	*attrs, *c, *s;

	attrs = cJSON_GetObjectItemCaseSensitive(v, "attributes");
	c = cJSON_GetObjectItemCaseSensitive(attrs, "class");
	c = cJSON_GetObjectItemCaseSensitive(c, "value");
	cJSON_ArrayForEach(s, c)
		if (cJSON_IsString(s) && strcmp(s->valuestring, cls) == 0)
			return (1);
	return (0);
}

/* The R predicates of securer's type map, decided on encoded values. */
static int
type_matches(enum tool_type type, cJSON *v)
{
	cJSON		*t = cJSON_GetObjectItemCaseSensitive(v, "type");
	const char	*ts = cJSON_IsString(t) ? t->valuestring : "NULL";

	switch (type) {
	case TT_ANY:
		return (1);
	case TT_NUMERIC:
		return ((strcmp(ts, "double") == 0 ||
		    strcmp(ts, "integer") == 0) && !has_class(v, "factor") &&
		    !has_class(v, "Date") && !has_class(v, "POSIXct") &&
		    !has_class(v, "difftime"));
	case TT_CHARACTER:
		return (strcmp(ts, "character") == 0);
	case TT_LOGICAL:
		return (strcmp(ts, "logical") == 0);
	case TT_INTEGER:
		return (strcmp(ts, "integer") == 0);
	case TT_LIST:
		return (strcmp(ts, "list") == 0);
	case TT_DATA_FRAME:
		return (strcmp(ts, "list") == 0 && has_class(v, "data.frame"));
	}
	return (0);
}

static int
tool_check_args(struct tool *t, cJSON *args, char *err, size_t errlen)
{
	cJSON	*a;
	size_t	 i;

	if (!cJSON_IsObject(args)) {
		snprintf(err, errlen, "tool '%s': malformed arguments",
		    t->name);
		return (-1);
	}
	cJSON_ArrayForEach(a, args) {
		for (i = 0; i < t->nargs; i++)
			if (strcmp(t->args[i].name, a->string) == 0)
				break;
		if (i == t->nargs) {
			snprintf(err, errlen, "tool '%s': unexpected argument "
			    "'%.64s'", t->name, a->string);
			return (-1);
		}
		if (!type_matches(t->args[i].type, a)) {
			snprintf(err, errlen, "tool '%s': argument '%s' must "
			    "be %s", t->name, t->args[i].name,
			    type_names[t->args[i].type]);
			return (-1);
		}
	}
	for (i = 0; i < t->nargs; i++)
		if (cJSON_GetObjectItemCaseSensitive(args,
		    t->args[i].name) == NULL) {
			snprintf(err, errlen, "tool '%s': missing argument "
			    "'%s'", t->name, t->args[i].name);
			return (-1);
		}
	return (0);
}

static void
tool_reply_worker(struct exec *e, uint32_t peerid, int is_error,
    const char *text, size_t len)
{
	struct w_tool_result	 tr;
	struct iovec		 iov[2];

	tr.is_error = is_error;
	tr.len = len;
	iov[0].iov_base = &tr;
	iov[0].iov_len = sizeof(tr);
	iov[1].iov_base = (void *)text;
	iov[1].iov_len = len;
	worker_send(e->session->worker, IMSG_W_TOOL_RESULT, peerid, iov, 2);
}

static void
tool_refuse(struct exec *e, uint32_t peerid, const char *name,
    const char *msg)
{
	audit_session(e->session, AUDIT_TOOL_CALL, EXEC_ERROR, 0, e->exec_id,
	    name, msg, NULL);
	tool_reply_worker(e, peerid, 1, msg, strlen(msg));
}

static struct tool *
tool_find(struct session *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->ntools; i++)
		if (strcmp(s->tools[i].name, name) == 0)
			return (&s->tools[i]);
	return (NULL);
}

static void
tool_forward(struct exec *e, uint32_t peerid, struct tool *t, cJSON *args)
{
	cJSON	*ev;

	e->call_id = ++call_ids;
	e->call_peerid = peerid;
	e->call_start_us = now_us();
	if ((e->call_tool = strdup(t->name)) == NULL ||
	    (ev = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(ev, "call", (double)e->call_id);
	cJSON_AddStringToObject(ev, "tool", t->name);
	/* On a pool the client learns the session here, to answer. */
	if (e->session->pool != NULL)
		cJSON_AddStringToObject(ev, "session", e->session->id);
	cJSON_AddItemToObject(ev, "args", args);
	reply_event(e->session->client, e->req_id, "tool_call", ev);
}

void
tool_call(struct exec *e, uint32_t peerid, struct imsg *imsg)
{
	struct w_tool_call	 wc;
	struct tool		*t;
	const char		*texts[2];
	uint32_t		 lens[2];
	cJSON			*args;
	char			 name[257], err[256];
	double			 retry;

	if (imsg_get_len(imsg) < sizeof(wc) || e->call_id != 0)
		goto bad;
	memcpy(&wc, imsg->data, sizeof(wc));
	lens[0] = wc.name_len;
	lens[1] = wc.args_len;
	if (wc.name_len >= sizeof(name) ||
	    exec_texts(imsg, sizeof(wc), lens, 2, texts) == -1 ||
	    (args = json_raw_value(texts[1], lens[1])) == NULL)
		goto bad;
	memcpy(name, texts[0], wc.name_len);
	name[wc.name_len] = '\0';
	if (e->max_tool_calls && ++e->tool_calls > e->max_tool_calls) {
		e->tool_calls_exceeded = 1;
		metrics_tool_call(e, TOOL_TOO_MANY);
		snprintf(err, sizeof(err), "maximum tool calls (%llu) "
		    "exceeded", (unsigned long long)e->max_tool_calls);
		tool_refuse(e, peerid, name, err);
	} else if (policy_tool_call(e->session->ident, &retry) == -1) {
		snprintf(err, sizeof(err), "tool calls rate limited; retry "
		    "after %.3g s", retry);
		tool_refuse(e, peerid, name, err);
	} else if ((t = tool_find(e->session, name)) == NULL) {
		snprintf(err, sizeof(err), "unknown tool '%.64s'", name);
		metrics_tool_call(e, TOOL_REFUSED);
		tool_refuse(e, peerid, name, err);
	} else if (tool_check_args(t, args, err, sizeof(err)) == -1) {
		metrics_tool_call(e, TOOL_REFUSED);
		tool_refuse(e, peerid, name, err);
	} else {
		tool_forward(e, peerid, t, args);
		return;
	}
	cJSON_Delete(args);
	return;
 bad:
	worker_violation(e->session->worker, "bad tool call");
}

static void
tool_answer(struct exec *e, cJSON *value, cJSON *error)
{
	char	*text;
	size_t	 len;

	if (error != NULL) {
		if ((text = sanitize_error(error->valuestring,
		    strlen(error->valuestring))) == NULL)
			fatal("%s", __func__);
		len = strlen(text);
	} else if ((text = json_print(value, &len)) == NULL)
		fatal("%s", __func__);
	/* The result's first AUDIT_SUMMARY_MAX bytes say what it was. */
	audit_session(e->session, AUDIT_TOOL_CALL, error ? EXEC_ERROR : EXEC_OK,
	    now_us() - e->call_start_us, e->exec_id, e->call_tool,
	    error ? text : NULL, error ? NULL : text);
	metrics_tool_call(e, error != NULL ? TOOL_ERROR : TOOL_OK);
	tool_reply_worker(e, e->call_peerid, error != NULL, text, len);
	free(text);
	free(e->call_tool);
	e->call_tool = NULL;
	e->call_id = 0;
}

void
tool_result_req(struct client *c, uint64_t id, cJSON *req)
{
	struct session	*s;
	struct exec	*e;
	cJSON		*call, *value, *error;

	if ((s = session_find(c, req, id)) == NULL)
		return;
	call = cJSON_GetObjectItemCaseSensitive(req, "call");
	value = cJSON_GetObjectItemCaseSensitive(req, "value");
	error = cJSON_GetObjectItemCaseSensitive(req, "error");
	if ((e = s->exec) == NULL || e->call_id == 0 ||
	    !cJSON_IsNumber(call) || call->valuedouble != (double)e->call_id) {
		reply_error(c, id, "bad_request", NULL,
		    "no such tool call in progress");
		return;
	}
	if ((value == NULL) == (error == NULL) ||
	    (error != NULL && !cJSON_IsString(error))) {
		reply_error(c, id, "bad_request", NULL, "tool_result needs "
		    "either a value or an error string");
		return;
	}
	tool_answer(e, value, error);
}
