/*
 * Executions: one at a time per session, each with its deadline timer,
 * output caps and final reply.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"
#include "sha256.h"

static uint32_t	exec_ids;
static uint64_t	values_held;	/* bytes of result parts, all executions */

static void	exec_value_grow(struct exec *, size_t);

static void	exec_timeout(int, short, void *);
static void	exec_add_warnings(struct exec *, cJSON *);
static void	exec_done(struct exec *);
static void	exec_dispatch(struct exec *);
static int	exec_classes_ok(const char *, size_t);
static void	exec_add_classes(cJSON *, const char *, size_t);
static void	exec_r_error(struct exec *, struct w_error *, const char *,
		    const char *, const char *, size_t);

static int
exec_options(struct exec *e, cJSON *req, char *err, size_t errlen)
{
	cJSON	*echo = cJSON_GetObjectItemCaseSensitive(req, "echo");
	cJSON	*sanitize = cJSON_GetObjectItemCaseSensitive(req, "sanitize");

	if (json_get_number(req, "timeout", e->session->timeout,
	    &e->timeout) == -1) {
		snprintf(err, errlen, "timeout must be a number of seconds");
		return (-1);
	}
	if (conf->max_timeout > 0 && (e->timeout == 0 ||
	    e->timeout > conf->max_timeout)) {
		snprintf(err, errlen, "timeout must be at most %g seconds",
		    conf->max_timeout);
		return (-1);
	}
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

static int
exec_admit(struct client *c, uint64_t id, struct session *s, cJSON *code)
{
	size_t	len;

	if (!cJSON_IsString(code)) {
		reply_error(c, id, "bad_request", NULL,
		    "execute needs a string code");
		return (-1);
	}
	if (s->exec != NULL || s->restart_req != 0 || s->create_req != 0) {
		reply_error(c, id, "session_busy", NULL, "session busy: an "
		    "execution is already running in this session");
		return (-1);
	}
	if (s->max_executions && s->executions >= s->max_executions) {
		reply_error(c, id, "max_executions", NULL, "maximum "
		    "executions (%llu) reached for this session",
		    (unsigned long long)s->max_executions);
		return (-1);
	}
	if ((len = strlen(code->valuestring)) > conf->max_code) {
		reply_error(c, id, "code_too_long", NULL, "code too long "
		    "(%zu bytes, max %llu)", len,
		    (unsigned long long)conf->max_code);
		return (-1);
	}
	return (0);
}

void
exec_request(struct client *c, uint64_t id, cJSON *req)
{
	struct session	*s;

	if ((s = session_find(c, req, id)) != NULL)
		exec_submit(c, id, req, s);
}

/* An execution on s for c, from a request on s or on its pool. */
int
exec_submit(struct client *c, uint64_t id, cJSON *req, struct session *s)
{
	struct exec	*e;
	cJSON		*code = cJSON_GetObjectItemCaseSensitive(req, "code");
	char		 err[256];

	if (exec_admit(c, id, s, code) == -1)
		return (-1);
	if (audit_down) {
		reply_error(c, id, "audit_unavailable", NULL, "audit log "
		    "unavailable: no execution runs until it can be "
		    "written again");
		return (-1);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("%s", __func__);
	e->session = s;
	if (exec_options(e, req, err, sizeof(err)) == -1) {
		free(e);
		reply_error(c, id, "bad_request", NULL, "%s", err);
		return (-1);
	}
	if (policy_exec_admit(c, id, s) == -1) {
		free(e);
		return (-1);
	}
	e->code_len = strlen(code->valuestring);
	if ((e->code = strdup(code->valuestring)) == NULL)
		fatal("%s", __func__);
	e->req_id = id;
	exec_init(e);
	s->exec = e;
	s->executions++;
	/* A pool's session answers the client that runs code on it. */
	s->client = c;
	if (s->state == S_IDLE)
		exec_start(e);
	else if (s->worker == NULL)
		session_respawn(s, "worker could not start, trying again");
	return (0);
}

/* An execution's id and deadline timer; of code or of a file. */
void
exec_init(struct exec *e)
{
	e->exec_id = ++exec_ids;
	evtimer_set(&e->timer, exec_timeout, e);
}

/*
 * The start record first; the worker gets the code once the broker says
 * the record is durable (exec_start_acked).  A worker that comes up
 * again after a restart finds the start already recorded.  A file
 * operation's record names what is done, not the bytes.
 */
void
exec_start(struct exec *e)
{
	char	hash[SHA256_HEX_LEN];

	if (e->audit_token != 0) {
		if (e->audit_acked)
			exec_dispatch(e);
		return;
	}
	sha256_hex(e->code, e->code_len, hash);
	audit_wait_start(e, audit_session(e->session, AUDIT_EXEC_START,
	    0, 0, e->exec_id, e->code, hash, NULL));
}

void
exec_start_acked(struct exec *e, int durable)
{
	struct session	*s = e->session;

	if (!durable) {
		exec_fail(e, EXEC_ABORTED, "audit_unavailable", NULL, "audit "
		    "log unavailable: the execution was not run because its "
		    "start could not be recorded");
		return;
	}
	e->audit_acked = 1;
	if (s->state == S_IDLE && s->worker != NULL)
		exec_dispatch(e);
}

static void
exec_dispatch(struct exec *e)
{
	struct session	*s = e->session;
	struct w_exec	 we;
	struct iovec	 iov[2];
	struct timeval	 tv;

	if (e->file_op != 0) {
		if (files_start(e) == -1)
			return;	/* the worker is lost; the session heard */
		goto sent;
	}
	memset(&we, 0, sizeof(we));
	we.flags = e->flags;
	we.max_value = conf->max_result;
	/* A pool's session runs for whichever client executes on it. */
	if (s->client != NULL && s->client->binary)
		we.flags |= EXEC_BINARY;
	we.code_len = e->code_len;
	iov[0].iov_base = &we;
	iov[0].iov_len = sizeof(we);
	iov[1].iov_base = e->code;
	iov[1].iov_len = e->code_len;
	if (worker_send(s->worker, IMSG_W_EXEC, e->exec_id, iov, 2) == -1)
		return;		/* the worker is lost; the session heard */
	free(e->code);
	e->code = NULL;
 sent:
	e->sent = 1;
	e->start_us = now_us();
	s->state = S_BUSY;
	if (e->timeout > 0) {
		tv.tv_sec = (time_t)e->timeout;
		tv.tv_usec = (suseconds_t)((e->timeout - tv.tv_sec) * 1e6);
		evtimer_add(&e->timer, &tv);
	}
}

static void
exec_truncate(struct exec *e)
{
	e->truncated = 1;
	reply_event(e->session->client, e->req_id, "truncated", NULL);
}

/* How much of text fits under the output caps. */
static size_t
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

void
exec_output(struct exec *e, enum w_stream stream, const char *text,
    size_t len)
{
	cJSON	*ev;
	char	*clean;
	size_t	 n, cleanlen;

	if (e->truncated)
		return;
	n = exec_output_fits(e, text, len);
	if (n > 0) {
		if ((clean = utf8_sanitize(text, n, &cleanlen)) == NULL ||
		    (ev = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(ev, "stream", stream_name(stream));
		cJSON_AddStringToObject(ev, "text", clean);
		reply_event(e->session->client, e->req_id, "output", ev);
		free(clean);
	}
	if (n < len || (e->max_out_lines && e->out_lines >= e->max_out_lines))
		exec_truncate(e);
}

int
exec_texts(struct imsg *imsg, size_t hdrlen, const uint32_t *lens,
    int nlens, const char **texts)
{
	struct ibuf	 ib;
	size_t		 total = hdrlen;
	int		 i;

	for (i = 0; i < nlens; i++)
		total += lens[i];
	if (imsg_get_len(imsg) != total || imsg_get_ibuf(imsg, &ib) == -1 ||
	    ibuf_skip(&ib, hdrlen) == -1)
		return (-1);
	for (i = 0; i < nlens; i++) {
		if (lens[i] == 0)
			texts[i] = "";
		else if ((texts[i] = ibuf_seek(&ib, ib.rpos, lens[i])) == NULL)
			return (-1);
		ib.rpos += lens[i];
	}
	return (0);
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
	if (e->value_refused == 0) {
		if (n > conf->max_result - e->value_len)
			e->value_refused = 1;
		else if (n > conf->max_result_memory - values_held)
			e->value_refused = 2;
		else
			return (0);
	}
	values_held -= e->value_len;
	free(e->value);
	e->value = NULL;
	e->value_len = e->value_cap = 0;
	return (-1);
}

/* Bytes of a value too large for one message, kept until its end. */
int
exec_result_part(struct exec *e, struct imsg *imsg)
{
	size_t	 n = imsg_get_len(imsg);

	if (n == 0 || n > WORKER_PART_MAX) {
		worker_violation(e->session->worker, "bad result part");
		return (-1);
	}
	e->value_total += n;
	if (exec_value_room(e, n) == -1)
		return (0);
	exec_value_grow(e, n);
	memcpy(e->value + e->value_len, imsg->data, n);
	e->value_len += n;
	values_held += n;
	return (0);
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
	e->value = p;
	e->value_cap = cap;
}

/* A value refused for its size: the execution's error. */
static void
exec_value_refused(struct exec *e)
{
	if (e->value_refused == 1)
		exec_fail(e, EXEC_ERROR, "result_too_large", NULL, "result "
		    "too large (%llu bytes, max %llu)",
		    (unsigned long long)e->value_total,
		    (unsigned long long)conf->max_result);
	else
		exec_fail(e, EXEC_ERROR, "result_too_large", NULL, "the "
		    "daemon holds other values (result-memory %llu bytes): "
		    "try again", (unsigned long long)conf->max_result_memory);
}

/* The whole value: the parts and the last piece, as one text. */
static cJSON *
exec_value(struct exec *e, const char *last, size_t len)
{
	cJSON	*v;

	if (e->value_len == 0 && e->value_refused == 0)
		return (json_pass_value(last, len));
	if (exec_value_room(e, len) == -1)
		return (NULL);
	exec_value_grow(e, len);
	memcpy(e->value + e->value_len, last, len);
	e->value_len += len;
	e->value[e->value_len] = '\0';
	values_held += len;
	/* Valid, the buffer is the reply's value as it is. */
	if (json_valid_line(e->value, e->value_len)) {
		if ((v = cJSON_CreateRaw("")) == NULL)
			fatal("%s", __func__);
		free(v->valuestring);
		v->valuestring = e->value;
	} else {
		v = json_raw_value(e->value, e->value_len);
		free(e->value);
	}
	values_held -= e->value_len;
	e->value = NULL;
	e->value_len = e->value_cap = 0;
	return (v);
}

/* An invisible value the worker did not send: a warning says why. */
static void
exec_add_omitted(cJSON *r, const struct w_result *wr)
{
	cJSON	*list, *w;
	char	 msg[400];

	if (!(wr->flags & RESULT_OMITTED))
		return;
	if ((list = cJSON_GetObjectItemCaseSensitive(r, "warnings")) == NULL &&
	    (list = cJSON_AddArrayToObject(r, "warnings")) == NULL)
		fatal("%s", __func__);
	snprintf(msg, sizeof(msg), "The value (about %llu bytes encoded) is "
	    "over the daemon's result-size (%llu bytes) and was not "
	    "returned; it is still in the session: return it in parts, "
	    "write it to a file for get_file(), or raise result-size in "
	    "securerd.conf(5).", (unsigned long long)wr->omitted_size,
	    (unsigned long long)conf->max_result);
	if ((w = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(w, "code", "value_omitted");
	cJSON_AddStringToObject(w, "message", msg);
	cJSON_AddNumberToObject(w, "size", (double)wr->omitted_size);
	cJSON_AddNumberToObject(w, "max", (double)conf->max_result);
	cJSON_AddItemToArray(list, w);
}

void
exec_result(struct exec *e, struct imsg *imsg)
{
	struct w_result	 wr;
	struct session	*s = e->session;
	const char	*texts[2];
	uint32_t	 lens[2];
	cJSON		*r, *value;
	char		*printed;
	size_t		 n;
	uint32_t	 token;

	if (imsg_get_len(imsg) < sizeof(wr))
		goto bad;
	memcpy(&wr, imsg->data, sizeof(wr));
	lens[0] = wr.value_len;
	lens[1] = wr.printed_len;
	if (exec_texts(imsg, sizeof(wr), lens, 2, texts) == -1 ||
	    wr.value_total != e->value_total + (uint64_t)lens[0])
		goto bad;
	e->value_total += lens[0];
	if (e->value_len == 0 && e->value_refused == 0 &&
	    lens[0] > conf->max_result)
		e->value_refused = 1;
	if ((value = exec_value(e, texts[0], lens[0])) == NULL) {
		if (e->value_refused) {
			exec_value_refused(e);
			return;
		}
		goto bad;
	}
	if (e->tool_calls_exceeded) {
		cJSON_Delete(value);
		exec_fail(e, EXEC_ERROR, "tool_calls_exceeded", NULL,
		    "maximum tool calls (%llu) exceeded",
		    (unsigned long long)e->max_tool_calls);
		return;
	}
	/* The broker writes the end while the reply is built. */
	token = audit_session(s, AUDIT_EXEC_END, EXEC_OK,
	    now_us() - e->start_us, e->exec_id, NULL, NULL, NULL);
	if ((printed = utf8_sanitize(texts[1], lens[1], &n)) == NULL)
		fatal("%s", __func__);
	r = audit_reply_new(e->req_id, 1);
	cJSON_AddItemToObject(r, "value", value);
	cJSON_AddBoolToObject(r, "visible", wr.visible != 0);
	cJSON_AddStringToObject(r, "printed", printed);
	cJSON_AddBoolToObject(r, "truncated", e->truncated);
	cJSON_AddNumberToObject(r, "elapsed",
	    (now_us() - e->start_us) / 1e6);
	if (s->pool != NULL)
		cJSON_AddStringToObject(r, "session", s->id);
	exec_add_warnings(e, r);
	exec_add_omitted(r, &wr);
	files_add_plots(e, r, (size_t)lens[0] + lens[1]);
	free(printed);
	audit_wait_reply(s->client, e->req_id, r, token);
	metrics_exec_end(e, EXEC_OK);
	exec_done(e);
	return;
 bad:
	worker_violation(s->worker, "bad result");
}

/*
 * The worker's advice: names of risky calls in the parsed code, each a
 * warning with the result.  Any text may come; only names are kept.
 */
void
exec_advisory(struct exec *e, struct imsg *imsg)
{
	size_t		 len = imsg_get_len(imsg), i;
	const char	*p = imsg->data;

	if (len == 0 || len > ADVISORY_MAX)
		goto bad;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '.' &&
		    p[i] != '_' && p[i] != ',')
			goto bad;
	if ((e->advisory = strndup(p, len)) == NULL)
		fatal("%s", __func__);
	return;
 bad:
	worker_violation(e->session->worker, "bad advisory");
}

static void
exec_add_warnings(struct exec *e, cJSON *r)
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

/* An error's classes: names, comma separated, at most W_CLASSES_MAX. */
static int
exec_classes_ok(const char *p, size_t len)
{
	size_t	 i;

	if (len > W_CLASSES_MAX)
		return (-1);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '.' &&
		    p[i] != '_' && p[i] != ',')
			return (-1);
	return (0);
}

/* "classes": the condition's classes, as R code gave them. */
static void
exec_add_classes(cJSON *extra, const char *p, size_t len)
{
	cJSON	*list;
	char	*names, *name, *q;

	if (len == 0)
		return;
	if ((list = cJSON_AddArrayToObject(extra, "classes")) == NULL ||
	    (names = strndup(p, len)) == NULL)
		fatal("%s", __func__);
	q = names;
	while ((name = strsep(&q, ",")) != NULL)
		if (*name != '\0')
			cJSON_AddItemToArray(list, cJSON_CreateString(name));
	free(names);
}

static void
exec_r_error(struct exec *e, struct w_error *we, const char *msg,
    const char *call, const char *classes, size_t classes_len)
{
	cJSON	*extra;

	if ((extra = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	if (we->kind == WERR_R)
		exec_add_classes(extra, classes, classes_len);
	exec_add_warnings(e, extra);
	files_add_plots(e, extra, strlen(msg) + strlen(call));
	switch (we->kind) {
	case WERR_PARSE:
		cJSON_AddNumberToObject(extra, "line", we->line);
		cJSON_AddNumberToObject(extra, "column", we->column);
		exec_fail(e, EXEC_ERROR, "parse_error", extra, "%s", msg);
		break;
	case WERR_R:
		if (call[0] != '\0')
			cJSON_AddStringToObject(extra, "call", call);
		exec_fail(e, EXEC_ERROR, "r_error", extra, "%s", msg);
		break;
	default:
		cJSON_Delete(extra);
		exec_fail(e, EXEC_ERROR, "result_too_large", NULL, "%s", msg);
		break;
	}
}

void
exec_error(struct exec *e, struct imsg *imsg)
{
	struct w_error	 we;
	struct session	*s = e->session;
	const char	*texts[3];
	uint32_t	 lens[3];
	char		*msg, *call;
	size_t		 n;

	if (imsg_get_len(imsg) < sizeof(we))
		goto bad;
	memcpy(&we, imsg->data, sizeof(we));
	lens[0] = we.msg_len;
	lens[1] = we.call_len;
	lens[2] = we.classes_len;
	if (exec_texts(imsg, sizeof(we), lens, 3, texts) == -1 ||
	    we.kind < WERR_R || we.kind > WERR_ENCODE ||
	    exec_classes_ok(texts[2], lens[2]) == -1)
		goto bad;
	if (e->tool_calls_exceeded) {
		exec_fail(e, EXEC_ERROR, "tool_calls_exceeded", NULL,
		    "maximum tool calls (%llu) exceeded",
		    (unsigned long long)e->max_tool_calls);
		return;
	}
	/* Asked for: the error loses what it says about the host. */
	if (e->sanitize && we.kind == WERR_R) {
		msg = sanitize_error(texts[0], lens[0]);
		call = sanitize_error(texts[1], lens[1]);
	} else {
		msg = utf8_sanitize(texts[0], lens[0], &n);
		call = utf8_sanitize(texts[1], lens[1], &n);
	}
	if (msg == NULL || call == NULL)
		fatal("%s", __func__);
	exec_r_error(e, &we, msg, call, texts[2], lens[2]);
	free(msg);
	free(call);
	return;
 bad:
	worker_violation(s->worker, "bad error");
}

/* Ends a file operation with its reply's fields r, once its end is durable. */
void
exec_end(struct exec *e, cJSON *r)
{
	struct session	*s = e->session;
	uint32_t	 token;
	cJSON		*reply;

	token = audit_session(s, AUDIT_EXEC_END, EXEC_OK,
	    now_us() - e->start_us, e->exec_id, NULL, NULL, NULL);
	reply = audit_reply_new(e->req_id, 1);
	reply_merge(reply, r);
	audit_wait_reply(s->client, e->req_id, reply, token);
	exec_done(e);
}

/* Ends the execution with an error reply and its audit record. */
void
exec_fail(struct exec *e, enum exec_status status, const char *code,
    cJSON *extra, const char *fmt, ...)
{
	struct session	*s = e->session;
	va_list		 ap;
	char		*msg;
	cJSON		*r, *err;
	uint64_t	 us = e->sent ? now_us() - e->start_us : 0;
	uint32_t	 token = 0;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	r = audit_reply_new(e->req_id, 0);
	if ((err = cJSON_AddObjectToObject(r, "error")) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", msg);
	reply_merge(err, extra);
	/* Only a recorded start has an end; a worker's death aborts. */
	if (e->audit_token != 0 && e->abort_cause != NULL)
		token = audit_session(s, AUDIT_EXEC_ABORT, status, us,
		    e->exec_id, e->abort_cause, code, NULL);
	else if (e->audit_token != 0)
		token = audit_session(s, AUDIT_EXEC_END, status, us,
		    e->exec_id, code, msg, NULL);
	audit_wait_reply(s->client, e->req_id, r, token);
	metrics_exec_end(e, status);
	free(msg);
	exec_done(e);
}

static void
exec_done(struct exec *e)
{
	struct session	*s = e->session;

	s->exec = NULL;
	if (s->state == S_BUSY)
		s->state = S_IDLE;
	exec_free(e);
	policy_exec_gone(s);
	if (s->pool != NULL)
		pool_exec_done(s);
}

void
exec_free(struct exec *e)
{
	if (e->audit_token != 0 && !e->audit_acked)
		audit_exec_gone(e);
	evtimer_del(&e->timer);
	files_free(e);
	free(e->advisory);
	free(e->call_tool);
	free(e->code);
	values_held -= e->value_len;
	free(e->value);
	free(e);
}

/*
 * Every message of the worker during an execution counts; past the
 * operator's "messages" it floods its channel (output after truncation
 * still costs us a read each) and is killed.  -1: it was.
 */
int
exec_message(struct exec *e)
{
	struct session	*s = e->session;

	if (conf->max_messages == 0 || ++e->messages <= conf->max_messages)
		return (0);
	if (s->worker != NULL)
		worker_kill(s->worker, "flooded its channel");
	exec_fail(e, EXEC_KILLED, "too_many_messages", NULL, "limit "
	    "\"messages\" reached: the worker sent more than %llu messages "
	    "in one execution and was killed; the session was restarted and "
	    "its state is gone", (unsigned long long)conf->max_messages);
	session_respawn(s, "flooded its channel");
	return (-1);
}

static void
exec_timeout(int fd, short event, void *arg)
{
	struct exec	*e = arg;
	struct session	*s = e->session;
	cJSON		*extra;
	double		 t = e->timeout;

	audit_session(s, AUDIT_TIMEOUT, EXEC_TIMEOUT, (uint64_t)(t * 1e6),
	    e->exec_id, NULL, NULL, NULL);
	if ((extra = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(extra, "timeout", t);
	exec_fail(e, EXEC_TIMEOUT, "timeout", extra, "execution timed out "
	    "after %g second%s; the session was restarted and its state is "
	    "gone", t, t == 1 ? "" : "s");
	if (s->worker != NULL)
		worker_kill(s->worker, "timeout");
	session_respawn(s, "timeout");
}
