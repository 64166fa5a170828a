/*
 * securer mcp: a Model Context Protocol server on standard input and
 * output (JSON-RPC 2.0, one message per line).  It offers execute_r_code
 * in one sandboxed session that lives as long as the MCP connection,
 * reset_session, and the operator's command tools (--tools), which the
 * R code can call too.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "base64.h"
#include "cmd.h"
#include "securer.h"
#include "json.h"
#include "proto.h"
#include "utf8.h"

#define MCP_LATEST	"2025-11-25"

#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_NO_METHOD		-32601
#define RPC_INVALID_PARAMS	-32602

static const char *versions[] = {
	MCP_LATEST, "2025-06-18", "2025-03-26", "2024-11-05",
};

struct mcp {
	struct securer		*sc;
	struct securer_session	*session;
	struct cmdtools		*tools;
	const char		*socket;
	const char		*name;		/* --session: kept between runs */
	double			 timeout;
	FILE			*out;		/* what the code wrote */
};

static __attribute__((__noreturn__)) void
mcp_usage(void)
{
	fprintf(stderr, "usage: securer mcp [-s socket] [-t seconds] "
	    "[-T tools.json] [--session name]\n");
	exit(2);
}

static void
send_message(cJSON *msg)
{
	char	*text;

	if ((text = json_print(msg, NULL)) == NULL)
		err(1, "json");
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	cJSON_Delete(msg);
}

static cJSON *
rpc_new(const cJSON *id)
{
	cJSON	*msg = cj_must(cJSON_CreateObject());

	cj_add(msg, "jsonrpc", cJSON_CreateString("2.0"));
	cj_add(msg, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
	return (msg);
}

static void
rpc_result(const cJSON *id, cJSON *result)
{
	cJSON	*msg = rpc_new(id);

	cj_add(msg, "result", result);
	send_message(msg);
}

static void
rpc_error(const cJSON *id, int code, const char *text)
{
	cJSON	*msg = rpc_new(id), *e = cj_must(cJSON_CreateObject());

	cj_add(e, "code", cJSON_CreateNumber(code));
	cj_add(e, "message", cJSON_CreateString(text));
	cj_add(msg, "error", e);
	send_message(msg);
}

/* A tools/call result: one text item, and whether it is an error. */
static cJSON *
tool_text(const char *text, int is_error)
{
	cJSON	*r = cj_must(cJSON_CreateObject());
	cJSON	*content = cj_must(cJSON_CreateArray());
	cJSON	*item = cj_must(cJSON_CreateObject());

	cj_add(item, "type", cJSON_CreateString("text"));
	cj_add(item, "text", cJSON_CreateString(text));
	cJSON_AddItemToArray(content, item);
	cj_add(r, "content", content);
	cj_add(r, "isError", cJSON_CreateBool(is_error));
	return (r);
}

static void
mcp_initialize(struct mcp *m, const cJSON *id, const cJSON *params)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(params,
			    "protocolVersion");
	const char	*version = MCP_LATEST;
	cJSON		*r, *caps, *tools, *info;
	size_t		 i;

	/* Speak the client's revision if we know it, else our latest. */
	for (i = 0; cJSON_IsString(v) && i < sizeof(versions) /
	    sizeof(versions[0]); i++)
		if (strcmp(v->valuestring, versions[i]) == 0)
			version = versions[i];
	r = cj_must(cJSON_CreateObject());
	caps = cj_must(cJSON_CreateObject());
	tools = cj_must(cJSON_CreateObject());
	info = cj_must(cJSON_CreateObject());
	cj_add(tools, "listChanged", cJSON_CreateFalse());
	cj_add(caps, "tools", tools);
	cj_add(info, "name", cJSON_CreateString("securer"));
	cj_add(info, "version", cJSON_CreateString(SECURER_VERSION));
	cj_add(r, "protocolVersion", cJSON_CreateString(version));
	cj_add(r, "capabilities", caps);
	cj_add(r, "serverInfo", info);
	cj_add(r, "instructions", cJSON_CreateString("execute_r_code runs R "
	    "code in a sandboxed R session that keeps its variables between "
	    "calls; reset_session starts it afresh."));
	rpc_result(id, r);
}

static cJSON *
schema_property(const char *type, const char *description)
{
	cJSON	*p = cj_must(cJSON_CreateObject());

	if (type != NULL)
		cj_add(p, "type", cJSON_CreateString(type));
	if (description != NULL)
		cj_add(p, "description", cJSON_CreateString(description));
	return (p);
}

static cJSON *
tool_entry(const char *name, const char *description, cJSON *properties,
    cJSON *required)
{
	cJSON	*t = cj_must(cJSON_CreateObject());
	cJSON	*schema = cj_must(cJSON_CreateObject());

	cj_add(schema, "type", cJSON_CreateString("object"));
	cj_add(schema, "properties", properties);
	cj_add(schema, "required", required);
	cj_add(t, "name", cJSON_CreateString(name));
	cj_add(t, "description", cJSON_CreateString(description));
	cj_add(t, "inputSchema", schema);
	return (t);
}

/* securer's argument types as JSON Schema types; NULL for any. */
static const char *
schema_type(const cJSON *type)
{
	static const struct {
		const char	*r, *json;
	} map[] = {
		{ "numeric", "number" }, { "integer", "integer" },
		{ "character", "string" }, { "logical", "boolean" },
		{ "data.frame", "object" },
	};
	size_t	i;

	for (i = 0; cJSON_IsString(type) && i < sizeof(map) / sizeof(map[0]);
	    i++)
		if (strcmp(type->valuestring, map[i].r) == 0)
			return (map[i].json);
	return (NULL);
}

static void
operator_tools(struct mcp *m, cJSON *list)
{
	cJSON	*specs, *spec, *arg, *props, *req;

	if (m->tools == NULL ||
	    (specs = cJSON_Parse(m->tools->specs)) == NULL)
		return;
	cJSON_ArrayForEach(spec, specs) {
		props = cj_must(cJSON_CreateObject());
		req = cj_must(cJSON_CreateArray());
		cJSON_ArrayForEach(arg, cJSON_GetObjectItem(spec, "args")) {
			cj_add(props, arg->string,
			    schema_property(schema_type(arg), NULL));
			cJSON_AddItemToArray(req,
			    cJSON_CreateString(arg->string));
		}
		cJSON_AddItemToArray(list, tool_entry(
		    cJSON_GetStringValue(cJSON_GetObjectItem(spec, "name")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(spec,
		    "description")), props, req));
	}
	cJSON_Delete(specs);
}

static void
mcp_tools_list(struct mcp *m, const cJSON *id)
{
	cJSON	*r = cj_must(cJSON_CreateObject());
	cJSON	*list = cj_must(cJSON_CreateArray());
	cJSON	*props = cj_must(cJSON_CreateObject());
	cJSON	*req = cj_must(cJSON_CreateArray());

	cj_add(props, "code", schema_property("string",
	    "R code to run; the value of its last expression is returned"));
	cj_add(props, "timeout", schema_property("number",
	    "seconds before the code is stopped (default 30)"));
	cJSON_AddItemToArray(req, cJSON_CreateString("code"));
	cJSON_AddItemToArray(list, tool_entry("execute_r_code", "Execute R "
	    "code in a secure sandboxed R session. Variables persist between "
	    "calls. Output and the printed value are returned.", props, req));
	cJSON_AddItemToArray(list, tool_entry("reset_session", "Discard the "
	    "R session's state and start a fresh one.",
	    cj_must(cJSON_CreateObject()), cj_must(cJSON_CreateArray())));
	operator_tools(m, list);
	cj_add(r, "tools", list);
	rpc_result(id, r);
}

static void
on_output(void *arg, const char *stream, const char *text, size_t len)
{
	struct mcp	*m = arg;

	if (strcmp(stream, "warning") == 0)
		fprintf(m->out, "Warning message:\n%s\n", text);
	else
		fwrite(text, 1, len, m->out);
}

static int
on_tool(void *arg, const char *tool, const char *args, char **value,
    char **error)
{
	struct mcp	*m = arg;

	if (m->tools == NULL) {
		*error = strdup("no tools");
		return (-1);
	}
	return (cmdtools_call(m->tools, tool, args, value, error));
}

static int
mcp_session(struct mcp *m)
{
	struct securer_session_opts	so = { NULL, NULL, -1, 0, 0, NULL };

	if (m->session != NULL)
		return (0);
	if (m->sc == NULL) {
		/* Exact and smaller; cmdunbin.c makes them plain again. */
		if ((m->sc = securer_open()) != NULL)
			securer_set_binary(m->sc, 1);
		if (m->sc == NULL)
			return (-1);
		if (securer_connect(m->sc, m->socket) == -1)
			return (-1);
	}
	so.tools = m->tools ? m->tools->specs : NULL;
	/*
	 * --session NAME: the session the daemon kept when the last server
	 * of that name went (its client reconnected), else a new one.
	 */
	if (m->name != NULL) {
		if (securer_session_attach(m->sc, m->name, &m->session) == 0)
			return (0);
		if (securer_errcode(m->sc) != SECURER_EREMOTE ||
		    strcmp(securer_errname(m->sc), "no_such_session") != 0)
			return (-1);
		so.name = m->name;
	}
	return (securer_session_create(m->sc, &so, &m->session));
}

/* The error as R shows it: "Error in call : message" or "Error: ...". */
static void
print_r_error(struct mcp *m)
{
	cJSON	*e = cJSON_Parse(securer_errjson(m->sc));
	cJSON	*call = cJSON_GetObjectItemCaseSensitive(e, "call");

	if (cJSON_IsString(call))
		fprintf(m->out, "Error in %s : %s\n", call->valuestring,
		    securer_errmsg(m->sc));
	else
		fprintf(m->out, "Error: %s\n", securer_errmsg(m->sc));
	cJSON_Delete(e);
}

/* The pages an execution drew, as MCP image content items. */
static void
add_images(cJSON *r, const struct securer_plot *plots, size_t n)
{
	cJSON	*content = cJSON_GetObjectItemCaseSensitive(r, "content");
	cJSON	*item;
	char	*b64;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if ((b64 = base64_encode(plots[i].data, plots[i].len)) == NULL)
			err(1, NULL);
		item = cj_must(cJSON_CreateObject());
		cj_add(item, "type", cJSON_CreateString("image"));
		cj_add(item, "data", cJSON_CreateString(b64));
		cj_add(item, "mimeType", cJSON_CreateString("image/png"));
		cJSON_AddItemToArray(content, item);
		free(b64);
	}
}

static cJSON *
mcp_execute(struct mcp *m, const cJSON *args)
{
	struct securer_exec_opts	 eo;
	struct securer_result		 res;
	struct securer_plot		*plots = NULL;
	size_t				 nplots = 0;
	const cJSON			*code, *t;
	const char			*w;
	char				*text = NULL;
	size_t				 size;
	int				 rv;
	cJSON				*r;

	code = cJSON_GetObjectItemCaseSensitive(args, "code");
	t = cJSON_GetObjectItemCaseSensitive(args, "timeout");
	if (!cJSON_IsString(code))
		return (tool_text("execute_r_code needs a string code", 1));
	if (mcp_session(m) == -1)
		return (tool_text(m->sc ? securer_errmsg(m->sc) :
		    "out of memory", 1));
	memset(&eo, 0, sizeof(eo));
	eo.timeout = cJSON_IsNumber(t) && t->valuedouble >= 0 ?
	    t->valuedouble : m->timeout;
	eo.output = on_output;
	eo.tool = on_tool;
	eo.arg = m;
	if ((m->out = open_memstream(&text, &size)) == NULL)
		err(1, "open_memstream");
	if (m->tools != NULL)
		tools_deadline(m->tools, eo.timeout);
	if ((rv = securer_execute(m->session, code->valuestring, &eo,
	    &res)) == 0) {
		fputs(res.printed, m->out);
		if (res.plots_omitted > 0)
			fprintf(m->out, "[%zu plot%s over the daemon's caps "
			    "not returned]\n", res.plots_omitted,
			    res.plots_omitted == 1 ? "" : "s");
		plots = res.plots;
		nplots = res.nplots;
		res.plots = NULL;
		res.nplots = 0;
		securer_result_free(&res);
	} else {
		print_r_error(m);
		if (securer_errjson(m->sc) != NULL)
			securer_plots_parse(securer_errjson(m->sc), &plots,
			    &nplots);
	}
	/* Woken from hibernation (hibernate-after), not all of it. */
	if (securer_session_resumed(m->session, NULL, NULL, &w) && w != NULL)
		fprintf(m->out, "[the session was resumed from hibernation: "
		    "%s]\n", w);
	fclose(m->out);
	r = tool_text(text, rv == -1);
	add_images(r, plots, nplots);
	securer_plots_free(plots, nplots);
	free(text);
	return (r);
}

static cJSON *
mcp_reset(struct mcp *m)
{
	if (m->session == NULL)
		return (tool_text("the session is fresh", 0));
	if (securer_session_restart(m->session) == -1)
		return (tool_text(securer_errmsg(m->sc), 1));
	return (tool_text("the session was reset: its variables are gone",
	    0));
}

/* An operator tool called by the model: plain JSON in, text out. */
static cJSON *
mcp_operator(struct mcp *m, const char *name, const cJSON *args)
{
	cJSON	*encoded = cj_must(cJSON_CreateObject()), *a, *v, *p, *r;
	char	*text, *value = NULL, *error = NULL, *plain;

	cJSON_ArrayForEach(a, args)
		cj_add(encoded, a->string, plain_to_value(a));
	if ((text = json_print(encoded, NULL)) == NULL)
		err(1, "json");
	cJSON_Delete(encoded);
	tools_deadline(m->tools, m->timeout);
	if (cmdtools_call(m->tools, name, text, &value, &error) == -1) {
		r = tool_text(error ? error : "the tool failed", 1);
	} else {
		v = cJSON_Parse(value);
		p = v ? value_to_plain(v) : NULL;
		plain = p ? json_print(p, NULL) : NULL;
		r = tool_text(plain ? plain : "null", 0);
		free(plain);
		cJSON_Delete(p);
		cJSON_Delete(v);
	}
	free(text);
	free(value);
	free(error);
	return (r);
}

static int
is_operator_tool(struct mcp *m, const char *name)
{
	size_t	i;

	for (i = 0; m->tools != NULL && i < m->tools->n; i++)
		if (strcmp(m->tools->v[i].name, name) == 0)
			return (1);
	return (0);
}

static void
mcp_tools_call(struct mcp *m, const cJSON *id, const cJSON *params)
{
	const cJSON	*name = cJSON_GetObjectItemCaseSensitive(params, "name");
	const cJSON	*args = cJSON_GetObjectItemCaseSensitive(params,
			    "arguments");

	if (!cJSON_IsString(name)) {
		rpc_error(id, RPC_INVALID_PARAMS, "tools/call needs a name");
		return;
	}
	if (strcmp(name->valuestring, "execute_r_code") == 0)
		rpc_result(id, mcp_execute(m, args));
	else if (strcmp(name->valuestring, "reset_session") == 0)
		rpc_result(id, mcp_reset(m));
	else if (is_operator_tool(m, name->valuestring))
		rpc_result(id, mcp_operator(m, name->valuestring, args));
	else
		rpc_error(id, RPC_INVALID_PARAMS, "Unknown tool");
}

static void
mcp_message(struct mcp *m, const char *line)
{
	cJSON		*msg = cJSON_Parse(line);
	const cJSON	*id, *method, *params;

	if (msg == NULL || !cJSON_IsObject(msg)) {
		rpc_error(NULL, RPC_PARSE_ERROR, "not a JSON object");
		cJSON_Delete(msg);
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	params = cJSON_GetObjectItemCaseSensitive(msg, "params");
	if (!cJSON_IsString(method)) {
		/* A response to us (we send no requests) or garbage. */
		if (id == NULL || cJSON_GetObjectItem(msg, "result") == NULL)
			rpc_error(id, RPC_INVALID_REQUEST, "no method");
	} else if (id == NULL)
		;	/* notifications: initialized, cancelled: nothing to do */
	else if (strcmp(method->valuestring, "initialize") == 0)
		mcp_initialize(m, id, params);
	else if (strcmp(method->valuestring, "ping") == 0)
		rpc_result(id, cj_must(cJSON_CreateObject()));
	else if (strcmp(method->valuestring, "tools/list") == 0)
		mcp_tools_list(m, id);
	else if (strcmp(method->valuestring, "tools/call") == 0)
		mcp_tools_call(m, id, params);
	else
		rpc_error(id, RPC_NO_METHOD, "Method not found");
	cJSON_Delete(msg);
}

int
mcp_main(int argc, char *argv[])
{
	struct mcp	 m;
	char		*line = NULL, *end;
	size_t		 cap = 0;
	ssize_t		 n;
	int		 ch;

	memset(&m, 0, sizeof(m));
	m.timeout = -1;
	for (ch = 1; ch < argc; ch++)
		if (strcmp(argv[ch], "--tools") == 0)
			argv[ch] = "-T";
		else if (strcmp(argv[ch], "--session") == 0)
			argv[ch] = "-S";
	while ((ch = getopt(argc, argv, "S:s:t:T:")) != -1) {
		switch (ch) {
		case 'S':
			m.name = optarg;
			break;
		case 's':
			m.socket = optarg;
			break;
		case 't':
			m.timeout = strtod(optarg, &end);
			if (*end != '\0' || m.timeout < 0)
				mcp_usage();
			break;
		case 'T':
			if ((m.tools = tools_load(optarg)) == NULL)
				exit(2);
			break;
		default:
			mcp_usage();
		}
	}
	if (optind != argc)
		mcp_usage();
	while ((n = getline(&line, &cap, stdin)) != -1) {
		if (n > (ssize_t)CMD_INPUT_MAX) {
			rpc_error(NULL, RPC_INVALID_REQUEST, "message too long");
			continue;
		}
		if (n > 1)
			mcp_message(&m, line);
	}
	free(line);
	if (m.sc != NULL)
		securer_close(m.sc);
	cmdtools_free(m.tools);
	return (0);
}
