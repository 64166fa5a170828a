/*
 * Tools: a session's specifications, parsed and checked once, and the
 * check of each call's arguments against them, made on the encoded
 * values before the client sees a call.
 */

#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

#define TOOLS_MAX	256
#define TOOL_ARGS_MAX	64

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
	/* "any" too: the workers' form (tools_setup_json()) says so. */
	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
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
			    "integer, list, data.frame, any or null", t->name,
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
tools_setup_json(struct tool *tools, size_t n)
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
	*setup = tools_setup_json(tools, n);
	return (0);
}

/* A deep copy of n tools (session.fork's). */
struct tool *
tools_copy(const struct tool *src, size_t n)
{
	struct tool	*tools;
	size_t		 i, j;

	if (n == 0)
		return (NULL);
	if ((tools = calloc(n, sizeof(*tools))) == NULL)
		fatal("%s", __func__);
	for (i = 0; i < n; i++) {
		if ((tools[i].name = strdup(src[i].name)) == NULL ||
		    (tools[i].description = strdup(src[i].description)) ==
		    NULL ||
		    (src[i].nargs > 0 && (tools[i].args = calloc(src[i].nargs,
		    sizeof(*tools[i].args))) == NULL))
			fatal("%s", __func__);
		for (j = 0; j < src[i].nargs; j++) {
			tools[i].args[j].type = src[i].args[j].type;
			if ((tools[i].args[j].name =
			    strdup(src[i].args[j].name)) == NULL)
				fatal("%s", __func__);
		}
		tools[i].nargs = src[i].nargs;
	}
	return (tools);
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
value_has_class(cJSON *v, const char *cls)
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
		    strcmp(ts, "integer") == 0) && !value_has_class(v, "factor") &&
		    !value_has_class(v, "Date") && !value_has_class(v, "POSIXct") &&
		    !value_has_class(v, "difftime"));
	case TT_CHARACTER:
		return (strcmp(ts, "character") == 0);
	case TT_LOGICAL:
		return (strcmp(ts, "logical") == 0);
	case TT_INTEGER:
		return (strcmp(ts, "integer") == 0);
	case TT_LIST:
		return (strcmp(ts, "list") == 0);
	case TT_DATA_FRAME:
		return (strcmp(ts, "list") == 0 && value_has_class(v, "data.frame"));
	}
	return (0);
}

int
tools_check_args(const struct tool *t, cJSON *args, char *err, size_t errlen)
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


struct tool *
tools_find(struct tool *tools, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(tools[i].name, name) == 0)
			return (&tools[i]);
	return (NULL);
}
