/*
 * libsecurer: the client side of securer-protocol(7).
 *
 * Every call sends one request and reads lines until that request's final
 * reply, handing the events in between to the callbacks.  A line with
 * another id answers something sent earlier: a refused tool_result, or a
 * request whose call gave up on an error.  Only the refusals of this
 * execution's tool results matter; the rest are dropped.
 *
 * Values cross the library as the daemon and the callbacks wrote them:
 * numbers are printed with json_print(), which keeps every bit of a
 * double, and a tool's value is sent as its own text.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "hugemem.h"
#include "resolve.h"
#include "securer.h"
#include "json.h"
#include "proto.h"
#include "utf8.h"

#define READ_CHUNK	65536
#define item(o, name)	cJSON_GetObjectItemCaseSensitive((o), (name))

struct securer_session {
	TAILQ_ENTRY(securer_session)	 entry;
	struct securer			*sc;
	char				*id;
	char				*sandbox;
	char				*state;	/* session.attach's, or NULL */
	/* What the last call on it said of a resume ("resumed"). */
	int				 resumed;
	double				 resume_ms;
	uint64_t			 resume_bytes;
	char				*resume_warning;
};

struct securer {
	int			 fd;
	uint64_t		 lastid;	/* of the last request made */
	char			*buf;		/* what came from the daemon */
	size_t			 bufsz;
	size_t			 len;		/* bytes in buf */
	size_t			 off;		/* start of the next line */
	size_t			 scan;		/* no newline in off..scan */
	enum securer_error	 err;
	int			 binary;	/* hello asks for "bin" */
	int			 frames;	/* ... and for frames */
	size_t			 reply_max;	/* longest line read */
	char			*errname;	/* the daemon's code */
	char			*errmsg;
	char			*errjson;
	TAILQ_HEAD(, securer_session) sessions;
	struct exec		*pending;	/* securer_execute_start() */
	struct securer_session	*asking;	/* whose request was made last */
};

/* An execution in progress. */
struct exec {
	struct securer_session		*s;
	const struct securer_exec_opts	*opts;
	uint64_t			 id;
	int				 failed;	/* error set: drain */
	struct securer_exec_opts	 copy;		/* of a started one */
};

enum msg_kind {
	MSG_OTHER,
	MSG_REPLY,		/* the final reply to the request */
	MSG_EVENT,		/* an event of the request */
	MSG_TOOL_REFUSED,	/* a refusal of one of its tool results */
};

/* Bytes of one file.put chunk or file.get range: 1 MiB. */
#define FILE_CHUNK	(1024 * 1024)

static const char *const local_names[] = {
	[SECURER_OK] = "",
	[SECURER_ECONNECT] = "ECONNECT",
	[SECURER_EIO] = "EIO",
	[SECURER_EPROTO] = "EPROTO",
	[SECURER_ENOMEM] = "ENOMEM",
	[SECURER_EINVAL] = "EINVAL",
	[SECURER_EREMOTE] = "EREMOTE",
	[SECURER_ETOOL] = "ETOOL",
	[SECURER_ETRUNCATED] = "ETRUNCATED",
	[SECURER_ESLOWCLIENT] = "ESLOWCLIENT",
	[SECURER_EOVERBUDGET] = "EOVERBUDGET",
};

static void	 clear_error(struct securer *);
static int	 set_error(struct securer *, enum securer_error, const char *,
		    ...) __attribute__((__format__(printf, 3, 4)));
static void	 set_remote_error(struct securer *, const cJSON *);
static void	 exec_error(struct exec *, enum securer_error, const char *);
static void	 drop(struct securer *);
static void	 connection_dropped(struct securer *, const cJSON *);
static int	 send_all(struct securer *, const char *, size_t);
static int	 send_request(struct securer *, cJSON *);
static int	 make_room(struct securer *);
static int	 fill(struct securer *);
static char	*read_line(struct securer *, size_t *);
static cJSON	*read_message(struct securer *);
static int	 read_frame(struct securer *, cJSON *);
static enum msg_kind classify(struct securer *, const cJSON *, uint64_t,
		    const struct exec *);
static cJSON	*final_reply(struct securer *, cJSON *, struct exec *);
static int	 dispatch(struct securer *, cJSON *, uint64_t, struct exec *,
		    cJSON **);
static int	 line_buffered(const struct securer *);
static cJSON	*wait_reply(struct securer *, uint64_t, struct exec *);
static cJSON	*roundtrip(struct securer *, cJSON *, struct exec *);
static int	 attach(struct securer *, const char *, const char *,
		    struct securer_session **);
static cJSON	*new_request(struct securer *, const char *);
static cJSON	*session_request(struct securer_session *, const char *);
static int	 on_event(struct exec *, const cJSON *);
static int	 on_output(struct exec *, const cJSON *);
static int	 on_tool_call(struct exec *, const cJSON *);
static char	*run_tool(struct exec *, const cJSON *, const cJSON *,
		    char **);
static char	*splice_value(const char *);
static int	 hello(struct securer *);
static int	 add_json(struct securer *, cJSON *, const char *,
		    const char *, int);
static int	 create_opts(struct securer *, cJSON *,
		    const struct securer_session_opts *);
static int	 exec_opts(struct securer *, cJSON *, const char *,
		    const struct securer_exec_opts *);
static struct securer_session *session_new(struct securer *, const cJSON *);
static void	 session_forget(struct securer_session *);
static int	 fill_result(struct securer *, cJSON *,
		    const struct securer_exec_opts *, struct securer_result *);
static int	 plots_from(const cJSON *, struct securer_plot **, size_t *);
static int	 count_of(const cJSON *, uint64_t *);
static int	 resume_of(const cJSON *, double *, uint64_t *, char **);
static void	 resume_clear(struct securer_session *);
static void	 resume_note(struct securer_session *, const cJSON *);
static int	 file_put_chunk(struct securer_session *, const char *,
		    const void *, size_t, uint64_t, int, uint64_t *);
static int	 file_get_range(struct securer_session *, const char *,
		    uint64_t, size_t, unsigned char **, size_t *, uint64_t *);

static void
clear_error(struct securer *sc)
{
	free(sc->errname);
	free(sc->errmsg);
	free(sc->errjson);
	sc->errname = sc->errmsg = sc->errjson = NULL;
	sc->err = SECURER_OK;
}

static int
set_error(struct securer *sc, enum securer_error code, const char *fmt, ...)
{
	va_list	 ap;

	clear_error(sc);
	sc->err = code;
	va_start(ap, fmt);
	if (vasprintf(&sc->errmsg, fmt, ap) == -1)
		sc->errmsg = NULL;
	va_end(ap);
	return (-1);
}

static void
set_remote_error(struct securer *sc, const cJSON *error)
{
	const cJSON	*code, *msg;

	clear_error(sc);
	sc->err = SECURER_EREMOTE;
	code = item(error, "code");
	msg = item(error, "message");
	sc->errname = strdup(cJSON_IsString(code) ? code->valuestring :
	    "unknown");
	sc->errmsg = strdup(cJSON_IsString(msg) ? msg->valuestring :
	    "securerd refused without saying why");
	if (error != NULL)
		sc->errjson = json_print(error, NULL);
	connection_dropped(sc, code);
}

/*
 * The daemon dropped this connection and said why, in its last line:
 * an error of the connection's own, and nothing more will come.
 */
static void
connection_dropped(struct securer *sc, const cJSON *code)
{
	if (!cJSON_IsString(code))
		return;
	if (strcmp(code->valuestring, "slow_client") == 0)
		sc->err = SECURER_ESLOWCLIENT;
	else if (strcmp(code->valuestring, "over_budget") == 0)
		sc->err = SECURER_EOVERBUDGET;
	else
		return;
	free(sc->errname);
	sc->errname = NULL;
	drop(sc);
}

/* The first error of an execution is kept; its final reply still comes. */
static void
exec_error(struct exec *ex, enum securer_error code, const char *msg)
{
	if (ex->failed)
		return;
	set_error(ex->s->sc, code, "%s", msg);
	ex->failed = 1;
}

/* Once a read or write failed, the stream is out of step for good. */
static void
drop(struct securer *sc)
{
	if (sc->fd != -1)
		close(sc->fd);
	sc->fd = -1;
	sc->len = sc->off = sc->scan = 0;
}

static int
send_all(struct securer *sc, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		/* Not SIGPIPE: the caller's program must not die of it. */
		if ((n = send(sc->fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			set_error(sc, SECURER_EIO, "write to securerd: %s",
			    strerror(errno));
			drop(sc);
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

/* Send req, one line, and free it. */
static int
send_request(struct securer *sc, cJSON *req)
{
	char	*text;
	size_t	 len;
	int	 rv;

	text = json_print(req, &len);
	cJSON_Delete(req);
	if (text == NULL)
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	text[len] = '\n';
	rv = send_all(sc, text, len + 1);
	free(text);
	return (rv);
}

/* Move the next line to the front; grow, at most to one whole line. */
static int
make_room(struct securer *sc)
{
	size_t	 want;
	char	*p;

	if (sc->off > 0) {
		memmove(sc->buf, sc->buf + sc->off, sc->len - sc->off);
		sc->len -= sc->off;
		sc->scan -= sc->off;
		sc->off = 0;
	}
	if (sc->len == 0 && sc->bufsz > READ_CHUNK) {
		/* Give back what a huge reply took. */
		free(sc->buf);
		sc->buf = NULL;
		sc->bufsz = 0;
	}
	if (sc->len < sc->bufsz)
		return (0);
	want = sc->bufsz == 0 ? READ_CHUNK : sc->bufsz * 2;
	if (want > sc->reply_max + 1)
		want = sc->reply_max + 1;
	if ((p = realloc(sc->buf, want)) == NULL)
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	sc->buf = p;
	sc->bufsz = want;
	return (0);
}

static int
fill(struct securer *sc)
{
	ssize_t	 n;

	if (make_room(sc) == -1)
		return (-1);
	while ((n = read(sc->fd, sc->buf + sc->len, sc->bufsz - sc->len)) ==
	    -1 && errno == EINTR)
		;
	if (n == 0 && sc->len > sc->off)
		/* A line is only whole with its newline: the rest of this
		 * one may have said anything, so none of it is believed. */
		set_error(sc, SECURER_ETRUNCATED, "securerd closed the "
		    "connection in the middle of a line (%zu bytes without "
		    "their newline)", sc->len - sc->off);
	else if (n == 0)
		set_error(sc, SECURER_EIO, "securerd closed the connection");
	else if (n == -1)
		set_error(sc, SECURER_EIO, "read from securerd: %s",
		    strerror(errno));
	else {
		sc->len += n;
		return (0);
	}
	drop(sc);
	return (-1);
}

/*
 * The next line from the daemon, NUL-terminated in place, valid until the
 * next read.  Lines come in pieces or several at a time.
 */
static char *
read_line(struct securer *sc, size_t *lenp)
{
	char	*nl, *line;

	for (;;) {
		if (sc->len > sc->scan &&
		    (nl = memchr(sc->buf + sc->scan, '\n',
		    sc->len - sc->scan)) != NULL) {
			line = sc->buf + sc->off;
			*nl = '\0';
			*lenp = nl - line;
			sc->off = sc->scan = nl - sc->buf + 1;
			return (line);
		}
		sc->scan = sc->len;
		if (sc->len - sc->off > sc->reply_max) {
			set_error(sc, SECURER_EPROTO, "securerd sent a line "
			    "longer than %zu bytes", sc->reply_max);
			drop(sc);
			return (NULL);
		}
		if (fill(sc) == -1)
			return (NULL);
	}
}

static cJSON *
read_message(struct securer *sc)
{
	cJSON	*msg;
	char	*line;
	size_t	 len;

	if ((line = read_line(sc, &len)) == NULL)
		return (NULL);
	if ((msg = cJSON_ParseWithLength(line, len)) == NULL ||
	    !cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		set_error(sc, SECURER_EPROTO,
		    "securerd sent a line that is not a JSON object");
		return (NULL);
	}
	if (read_frame(sc, msg) == -1) {
		cJSON_Delete(msg);
		drop(sc);
		return (NULL);
	}
	return (msg);
}

/*
 * The frame that follows a line whose "frame" says so (securer-protocol(7)
 * "Values"), read whole before anything else: it rides in the message as
 * a member no JSON has (FRAME_MEMBER, a raw node owning the bytes) until
 * fill_result() takes it.  At most reply_max bytes.
 */
#define FRAME_MEMBER	"\001frame"

static int
read_frame(struct securer *sc, cJSON *msg)
{
	const cJSON	*f = item(msg, "frame");
	cJSON		*node;
	char		*p;
	size_t		 n, have, got;
	ssize_t		 r;

	if (f == NULL)
		return (0);
	if (!sc->frames || !cJSON_IsNumber(f) || f->valuedouble < 0 ||
	    f->valuedouble > (double)sc->reply_max ||
	    f->valuedouble != (double)(size_t)f->valuedouble)
		return (set_error(sc, SECURER_EPROTO, "securerd sent a bad "
		    "frame"));
	n = (size_t)f->valuedouble;
	if ((p = malloc(n + 1)) == NULL)
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	hugemem_advise(p, n + 1);
	have = sc->len - sc->off < n ? sc->len - sc->off : n;
	memcpy(p, sc->buf + sc->off, have);
	sc->off += have;
	if (sc->scan < sc->off)
		sc->scan = sc->off;
	for (got = have; got < n; got += r) {
		while ((r = read(sc->fd, p + got, n - got)) == -1 &&
		    errno == EINTR)
			;
		if (r == 0) {
			free(p);
			return (set_error(sc, SECURER_ETRUNCATED, "securerd "
			    "closed the connection in the middle of a frame"));
		} else if (r == -1) {
			free(p);
			return (set_error(sc, SECURER_EIO, "read from securerd: "
			    "%s", strerror(errno)));
		}
	}
	p[n] = '\0';
	if ((node = cJSON_CreateRaw("")) == NULL) {
		free(p);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	free(node->valuestring);
	node->valuestring = p;
	cJSON_AddItemToObject(msg, FRAME_MEMBER, node);
	return (0);
}

static enum msg_kind
classify(struct securer *sc, const cJSON *msg, uint64_t id,
    const struct exec *ex)
{
	const cJSON	*mid;
	double		 d;

	mid = item(msg, "id");
	if (mid == NULL || cJSON_IsNull(mid))
		/* An error the daemon could tie to no request (a line it
		 * could not parse) is about the one in flight. */
		return (cJSON_IsFalse(item(msg, "ok")) ? MSG_REPLY :
		    MSG_OTHER);
	if (!cJSON_IsNumber(mid))
		return (MSG_OTHER);
	d = mid->valuedouble;
	if (d == (double)id) {
		if (item(msg, "event") != NULL)
			return (MSG_EVENT);
		return (item(msg, "ok") != NULL ? MSG_REPLY : MSG_OTHER);
	}
	/* Requests made during an execution are its tool results. */
	if (ex != NULL && d > (double)id && d <= (double)sc->lastid &&
	    cJSON_IsFalse(item(msg, "ok")))
		return (MSG_TOOL_REFUSED);
	return (MSG_OTHER);
}

/* The reply if ok is true, else NULL with the error set; msg is used up. */
static cJSON *
final_reply(struct securer *sc, cJSON *msg, struct exec *ex)
{
	struct securer_session	*s = ex != NULL ? ex->s : sc->asking;
	const cJSON		*ok;

	/* A resume happened, whatever came of the request after it. */
	if (s != NULL)
		resume_note(s, msg);
	ok = item(msg, "ok");
	if (ex != NULL && ex->failed) {
		/* What went wrong during the execution says more than its
		 * end, which is often only the time-out that followed. */
		cJSON_Delete(msg);
		return (NULL);
	}
	if (cJSON_IsTrue(ok))
		return (msg);
	if (cJSON_IsFalse(ok))
		set_remote_error(sc, item(msg, "error"));
	else
		set_error(sc, SECURER_EPROTO, "securerd sent a reply with no "
		    "boolean ok");
	cJSON_Delete(msg);
	return (NULL);
}

/*
 * Read until the final reply to request id.  ex, if not NULL, is the
 * execution whose events are expected.
 */
static cJSON *
wait_reply(struct securer *sc, uint64_t id, struct exec *ex)
{
	cJSON	*msg, *rep;

	while ((msg = read_message(sc)) != NULL)
		if (dispatch(sc, msg, id, ex, &rep) == 0)
			return (rep);
	return (NULL);
}

/*
 * One message read while waiting for request id: 0 if it ended the wait,
 * with *rep the final reply or NULL with the error set; 1 to go on.  msg
 * is used up.
 */
static int
dispatch(struct securer *sc, cJSON *msg, uint64_t id, struct exec *ex,
    cJSON **rep)
{
	*rep = NULL;
	switch (classify(sc, msg, id, ex)) {
	case MSG_REPLY:
		*rep = final_reply(sc, msg, ex);
		return (0);
	case MSG_EVENT:
		if (ex != NULL && on_event(ex, msg) == -1) {
			cJSON_Delete(msg);
			return (0);
		}
		break;
	case MSG_TOOL_REFUSED:
		if (!ex->failed) {
			set_remote_error(sc, item(msg, "error"));
			ex->failed = 1;
		}
		break;
	case MSG_OTHER:
		break;
	}
	cJSON_Delete(msg);
	return (1);
}

/* Whether a whole line is already in the buffer. */
static int
line_buffered(const struct securer *sc)
{
	return (sc->len > sc->scan &&
	    memchr(sc->buf + sc->scan, '\n', sc->len - sc->scan) != NULL);
}

/* Send req, the last request made, and wait for its reply. */
static cJSON *
roundtrip(struct securer *sc, cJSON *req, struct exec *ex)
{
	uint64_t	 id = sc->lastid;

	if (send_request(sc, req) == -1)
		return (NULL);
	return (wait_reply(sc, id, ex));
}

static cJSON *
new_request(struct securer *sc, const char *op)
{
	cJSON	*req;

	if (sc->fd == -1) {
		set_error(sc, SECURER_EIO, "not connected to securerd");
		return (NULL);
	}
	/* While an execution started runs, only its tool results go. */
	if (sc->pending != NULL && strcmp(op, "tool_result") != 0) {
		set_error(sc, SECURER_EINVAL, "an execution started with "
		    "securer_execute_start() is in progress");
		return (NULL);
	}
	sc->asking = NULL;
	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(req, "id", ++sc->lastid) == NULL ||
	    cJSON_AddStringToObject(req, "op", op) == NULL) {
		cJSON_Delete(req);
		set_error(sc, SECURER_ENOMEM, "out of memory");
		return (NULL);
	}
	return (req);
}

static cJSON *
session_request(struct securer_session *s, const char *op)
{
	cJSON	*req;

	if ((req = new_request(s->sc, op)) == NULL)
		return (NULL);
	if (cJSON_AddStringToObject(req, "session", s->id) == NULL) {
		cJSON_Delete(req);
		set_error(s->sc, SECURER_ENOMEM, "out of memory");
		return (NULL);
	}
	s->sc->asking = s;
	return (req);
}

static int
on_event(struct exec *ex, const cJSON *msg)
{
	const cJSON	*ev;

	ev = item(msg, "event");
	if (!cJSON_IsString(ev))
		return (0);
	if (strcmp(ev->valuestring, "output") == 0)
		return (on_output(ex, msg));
	if (strcmp(ev->valuestring, "tool_call") == 0)
		return (on_tool_call(ex, msg));
	/* truncated is in the final reply too; newer events are ignored. */
	return (0);
}

static int
on_output(struct exec *ex, const cJSON *msg)
{
	const cJSON	*stream, *text;

	stream = item(msg, "stream");
	text = item(msg, "text");
	if (!cJSON_IsString(stream) || !cJSON_IsString(text))
		exec_error(ex, SECURER_EPROTO, "securerd sent a malformed "
		    "output event");
	else if (ex->opts->output != NULL)
		ex->opts->output(ex->opts->arg, stream->valuestring,
		    text->valuestring, strlen(text->valuestring));
	return (0);
}

/* Answer a tool call; -1 only if the answer could not be sent. */
static int
on_tool_call(struct exec *ex, const cJSON *msg)
{
	struct securer	*sc = ex->s->sc;
	const cJSON	*call;
	cJSON		*req = NULL;
	char		*value, *error = NULL, *clean;

	call = item(msg, "call");
	if (!cJSON_IsNumber(call)) {
		exec_error(ex, SECURER_EPROTO, "securerd sent a tool_call "
		    "with no call number");
		return (0);
	}
	value = run_tool(ex, item(msg, "tool"), item(msg, "args"), &error);
	if ((value == NULL && error == NULL) ||
	    (req = session_request(ex->s, "tool_result")) == NULL ||
	    cJSON_AddNumberToObject(req, "call", call->valuedouble) == NULL)
		goto nomem;
	if (value != NULL) {
		if (!cJSON_AddItemToObject(req, "value",
		    cJSON_CreateRaw(value)))
			goto nomem;
	} else {
		/* Sanitized: the sandboxed code sees the message. */
		clean = utf8_sanitize(error, strlen(error), NULL);
		if (clean == NULL || cJSON_AddStringToObject(req, "error",
		    clean) == NULL) {
			free(clean);
			goto nomem;
		}
		free(clean);
	}
	free(value);
	free(error);
	return (send_request(sc, req));
 nomem:
	cJSON_Delete(req);
	free(value);
	free(error);
	set_error(sc, SECURER_ENOMEM, "out of memory");
	return (-1);
}

/*
 * Call the tool callback: the value to send, or NULL and *error, the
 * message the tool raises in R.
 */
static char *
run_tool(struct exec *ex, const cJSON *tool, const cJSON *args,
    char **error)
{
	const struct securer_exec_opts	*o = ex->opts;
	char				*argtext, *value = NULL, *raw;
	int				 rv;

	*error = NULL;
	if (!cJSON_IsString(tool) || !cJSON_IsObject(args)) {
		exec_error(ex, SECURER_EPROTO, "securerd sent a malformed "
		    "tool_call");
		*error = strdup("malformed tool call");
		return (NULL);
	}
	if (o->tool == NULL) {
		*error = strdup("no tool handler");
		return (NULL);
	}
	if ((argtext = json_print(args, NULL)) == NULL) {
		*error = strdup("out of memory");
		return (NULL);
	}
	rv = o->tool(o->arg, tool->valuestring, argtext, &value, error);
	free(argtext);
	if (rv == 0 && (raw = splice_value(value)) != NULL) {
		free(value);
		free(*error);
		*error = NULL;
		return (raw);
	}
	if (rv == 0) {
		exec_error(ex, SECURER_ETOOL, "the tool callback returned "
		    "something that is not JSON");
		free(*error);
		*error = NULL;
	}
	free(value);
	if (*error == NULL)
		*error = strdup(rv == 0 ? "the tool returned an invalid value" :
		    "the tool failed");
	return (NULL);
}

/*
 * The callback's value goes out as written, so that no number is rounded
 * on the way.  It must be one JSON value; its newlines, which can only be
 * whitespace as a JSON string holds none, would end the line early.
 */
static char *
splice_value(const char *value)
{
	cJSON	*v;
	char	*raw, *p;

	if (value == NULL || (v = cJSON_ParseWithOpts(value, NULL, 1)) == NULL)
		return (NULL);
	cJSON_Delete(v);
	if ((raw = strdup(value)) == NULL)
		return (NULL);
	for (p = raw; (p = strchr(p, '\n')) != NULL; p++)
		*p = ' ';
	return (raw);
}

struct securer *
securer_open(void)
{
	struct securer	*sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return (NULL);
	sc->fd = -1;
	sc->reply_max = SECURER_REPLY_MAX;
	TAILQ_INIT(&sc->sessions);
	return (sc);
}

/*
 * Whether the connection's hello asks for vectors in binary form
 * ("bin", securer-protocol(7)): the caller's decoder must read them.
 * Before securer_connect().
 */
void
securer_set_binary(struct securer *sc, int on)
{
	sc->binary = on != 0;
}

/*
 * Whether it also asks for frames: vectors' bytes raw after the reply's
 * line, which a result hands over as its frame ("bin_at" points into
 * it).  Implies binary.  Before securer_connect().
 */
void
securer_set_frames(struct securer *sc, int on)
{
	sc->frames = on != 0;
	if (sc->frames)
		sc->binary = 1;
}

/* The longest line read from the daemon (SECURER_REPLY_MAX unless set). */
void
securer_set_reply_max(struct securer *sc, size_t max)
{
	sc->reply_max = max > 0 ? max : SECURER_REPLY_MAX;
}

int
securer_connect(struct securer *sc, const char *path)
{
	char	 err[1024];
	int	 fd;

	clear_error(sc);
	if (sc->fd != -1)
		return (set_error(sc, SECURER_EINVAL, "already connected"));
	if ((fd = resolve_connect(path, err, sizeof(err))) == -1)
		return (set_error(sc, SECURER_ECONNECT, "%s", err));
	return (securer_connect_fd(sc, fd));
}

int
securer_connect_fd(struct securer *sc, int fd)
{
	clear_error(sc);
	if (sc->fd != -1) {
		close(fd);
		return (set_error(sc, SECURER_EINVAL, "already connected"));
	}
	sc->fd = fd;
	if (hello(sc) == -1) {
		drop(sc);
		return (-1);
	}
	return (0);
}

static int
hello(struct securer *sc)
{
	const cJSON	*v;
	cJSON		*req, *rep;
	int		 rv = 0;

	if ((req = new_request(sc, "hello")) == NULL)
		return (-1);
	if (cJSON_AddNumberToObject(req, "version",
	    SECURER_PROTO_VERSION) == NULL ||
	    cJSON_AddStringToObject(req, "client",
	    "libsecurer " SECURER_VERSION) == NULL ||
	    (sc->binary && cJSON_AddTrueToObject(req, "binary") == NULL) ||
	    (sc->frames && cJSON_AddTrueToObject(req, "frames") == NULL)) {
		cJSON_Delete(req);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	if ((rep = roundtrip(sc, req, NULL)) == NULL)
		return (-1);
	v = item(rep, "version");
	if (!cJSON_IsNumber(v) || v->valuedouble != SECURER_PROTO_VERSION)
		rv = set_error(sc, SECURER_EPROTO, "securerd does not speak "
		    "protocol version %d", SECURER_PROTO_VERSION);
	cJSON_Delete(rep);
	return (rv);
}

void
securer_close(struct securer *sc)
{
	struct securer_session	*s;

	if (sc == NULL)
		return;
	while ((s = TAILQ_FIRST(&sc->sessions)) != NULL)
		session_forget(s);
	free(sc->pending);
	drop(sc);
	clear_error(sc);
	free(sc->buf);
	free(sc);
}

int
securer_fd(struct securer *sc)
{
	return (sc->fd);
}

/*
 * Whether a whole line from the daemon is already read and waits: then
 * polling securer_fd() would not say so.
 */
int
securer_buffered(const struct securer *sc)
{
	return (line_buffered(sc));
}

enum securer_error
securer_errcode(const struct securer *sc)
{
	return (sc->err);
}

const char *
securer_errname(const struct securer *sc)
{
	if (sc->errname != NULL)
		return (sc->errname);
	return (local_names[sc->err]);
}

const char *
securer_errmsg(const struct securer *sc)
{
	if (sc->errmsg != NULL)
		return (sc->errmsg);
	return (sc->err == SECURER_OK ? "" : "out of memory");
}

const char *
securer_errjson(const struct securer *sc)
{
	return (sc->errjson);
}

/* Add the JSON text as member name; array says which kind it must be. */
static int
add_json(struct securer *sc, cJSON *req, const char *name, const char *text,
    int array)
{
	cJSON	*v;

	if (text == NULL)
		return (0);
	v = cJSON_ParseWithOpts(text, NULL, 1);
	if (v == NULL || (array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))) {
		cJSON_Delete(v);
		return (set_error(sc, SECURER_EINVAL, "%s is not a JSON %s",
		    name, array ? "array" : "object"));
	}
	if (!cJSON_AddItemToObject(req, name, v)) {
		cJSON_Delete(v);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	return (0);
}

static int
create_opts(struct securer *sc, cJSON *req,
    const struct securer_session_opts *o)
{
	if (isnan(o->timeout) || isinf(o->timeout) || o->max_executions < 0)
		return (set_error(sc, SECURER_EINVAL, "bad session option"));
	if (add_json(sc, req, "tools", o->tools, 1) == -1 ||
	    add_json(sc, req, "limits", o->limits, 0) == -1)
		return (-1);
	if ((o->timeout >= 0 &&
	    cJSON_AddNumberToObject(req, "timeout", o->timeout) == NULL) ||
	    (o->max_executions > 0 && cJSON_AddNumberToObject(req,
	    "max_executions", o->max_executions) == NULL) ||
	    (o->sandbox_strict &&
	    cJSON_AddTrueToObject(req, "sandbox_strict") == NULL) ||
	    (o->name != NULL &&
	    cJSON_AddStringToObject(req, "name", o->name) == NULL))
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	return (0);
}

int
securer_session_create(struct securer *sc,
    const struct securer_session_opts *o, struct securer_session **sp)
{
	cJSON	*req, *rep;

	*sp = NULL;
	clear_error(sc);
	if ((req = new_request(sc, "session.create")) == NULL)
		return (-1);
	if (o != NULL && create_opts(sc, req, o) == -1) {
		cJSON_Delete(req);
		return (-1);
	}
	if ((rep = roundtrip(sc, req, NULL)) == NULL)
		return (-1);
	*sp = session_new(sc, rep);
	cJSON_Delete(rep);
	return (*sp == NULL ? -1 : 0);
}

static struct securer_session *
session_new(struct securer *sc, const cJSON *rep)
{
	struct securer_session	*s;
	const cJSON		*id, *sandbox;

	id = item(rep, "session");
	sandbox = item(rep, "sandbox");
	if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
		set_error(sc, SECURER_EPROTO, "securerd's reply to "
		    "session.create or session.fork has no session");
		return (NULL);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->id = strdup(id->valuestring)) == NULL ||
	    (s->sandbox = strdup(cJSON_IsString(sandbox) ?
	    sandbox->valuestring : "")) == NULL) {
		if (s != NULL)
			free(s->id);
		free(s);
		set_error(sc, SECURER_ENOMEM, "out of memory");
		return (NULL);
	}
	s->sc = sc;
	TAILQ_INSERT_TAIL(&sc->sessions, s, entry);
	return (s);
}

static void
session_forget(struct securer_session *s)
{
	if (s->sc->asking == s)
		s->sc->asking = NULL;
	TAILQ_REMOVE(&s->sc->sessions, s, entry);
	resume_clear(s);
	free(s->id);
	free(s->sandbox);
	free(s->state);
	free(s);
}

const char *
securer_session_id(const struct securer_session *s)
{
	return (s->id);
}

const char *
securer_session_sandbox(const struct securer_session *s)
{
	return (s->sandbox);
}

static int
exec_opts(struct securer *sc, cJSON *req, const char *code,
    const struct securer_exec_opts *o)
{
	if (code == NULL || isnan(o->timeout) || isinf(o->timeout) ||
	    o->max_tool_calls < 0 || o->max_output_lines < 0 ||
	    o->max_output_bytes < 0)
		return (set_error(sc, SECURER_EINVAL, "bad execute argument"));
	if (cJSON_AddStringToObject(req, "code", code) == NULL ||
	    (o->timeout >= 0 &&
	    cJSON_AddNumberToObject(req, "timeout", o->timeout) == NULL) ||
	    (o->max_tool_calls > 0 && cJSON_AddNumberToObject(req,
	    "max_tool_calls", o->max_tool_calls) == NULL) ||
	    (o->max_output_lines > 0 && cJSON_AddNumberToObject(req,
	    "max_output_lines", o->max_output_lines) == NULL) ||
	    (o->max_output_bytes > 0 && cJSON_AddNumberToObject(req,
	    "max_output_bytes", o->max_output_bytes) == NULL) ||
	    (o->echo && cJSON_AddTrueToObject(req, "echo") == NULL) ||
	    (o->no_plain_printed &&
	    cJSON_AddFalseToObject(req, "printed_vectors") == NULL))
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	return (0);
}

int
securer_execute(struct securer_session *s, const char *code,
    const struct securer_exec_opts *o, struct securer_result *res)
{
	static const struct securer_exec_opts	 defaults = { .timeout = -1 };
	struct securer				*sc = s->sc;
	struct exec				 ex;
	cJSON					*req, *rep;
	int					 rv;

	memset(res, 0, sizeof(*res));
	clear_error(sc);
	resume_clear(s);
	if (o == NULL)
		o = &defaults;
	if ((req = session_request(s, "execute")) == NULL)
		return (-1);
	if (exec_opts(sc, req, code, o) == -1) {
		cJSON_Delete(req);
		return (-1);
	}
	memset(&ex, 0, sizeof(ex));
	ex.s = s;
	ex.opts = o;
	ex.id = sc->lastid;
	if ((rep = roundtrip(sc, req, &ex)) == NULL)
		return (-1);
	rv = fill_result(sc, rep, o, res);
	cJSON_Delete(rep);
	return (rv);
}

/*
 * Sends the execution and returns at once; securer_execute_poll() reads
 * its events and its end.  One at a time per connection.
 */
int
securer_execute_start(struct securer_session *s, const char *code,
    const struct securer_exec_opts *o)
{
	static const struct securer_exec_opts	 defaults = { .timeout = -1 };
	struct securer				*sc = s->sc;
	struct exec				*ex;
	cJSON					*req;

	clear_error(sc);
	if (sc->pending != NULL)
		return (set_error(sc, SECURER_EINVAL, "an execution started "
		    "with securer_execute_start() is in progress"));
	resume_clear(s);
	if ((ex = calloc(1, sizeof(*ex))) == NULL)
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	ex->copy = o != NULL ? *o : defaults;
	ex->opts = &ex->copy;
	ex->s = s;
	if ((req = session_request(s, "execute")) == NULL ||
	    exec_opts(sc, req, code, ex->opts) == -1) {
		cJSON_Delete(req);
		free(ex);
		return (-1);
	}
	ex->id = sc->lastid;
	if (send_request(sc, req) == -1) {
		free(ex);
		return (-1);
	}
	sc->pending = ex;
	return (0);
}

/*
 * Reads what has come for the started execution, waiting at most ms
 * milliseconds (-1 for ever) for the first of it: 1 if it is still
 * running, 0 when it ended with res filled, -1 when it failed.  Events
 * call their callbacks here.  Once a line has begun to arrive, the rest
 * of it is waited for.
 */
int
securer_execute_poll(struct securer_session *s, int ms,
    struct securer_result *res)
{
	struct securer	*sc = s->sc;
	struct exec	*ex = sc->pending;
	struct pollfd	 pfd;
	cJSON		*msg, *rep;
	int		 n, rv;

	memset(res, 0, sizeof(*res));
	clear_error(sc);
	if (ex == NULL || ex->s != s)
		return (set_error(sc, SECURER_EINVAL, "no execution started "
		    "in this session"));
	for (;;) {
		if (!line_buffered(sc)) {
			pfd.fd = sc->fd;
			pfd.events = POLLIN;
			if (sc->fd == -1)
				n = 1;
			else if ((n = poll(&pfd, 1, ms)) == -1 &&
			    errno != EINTR) {
				rv = set_error(sc, SECURER_EIO, "poll: %s",
				    strerror(errno));
				break;
			}
			if (n <= 0)
				return (1);
			ms = 0;
		}
		if ((msg = sc->fd == -1 ? NULL : read_message(sc)) == NULL) {
			if (sc->err == SECURER_OK)
				set_error(sc, SECURER_EIO,
				    "not connected to securerd");
			rv = -1;
			break;
		}
		if (dispatch(sc, msg, ex->id, ex, &rep) == 1)
			continue;
		rv = rep == NULL ? -1 : fill_result(sc, rep, ex->opts, res);
		cJSON_Delete(rep);
		break;
	}
	sc->pending = NULL;
	free(ex);
	return (rv);
}

/*
 * The result of a reply.  With o->value_tree the value is handed over as
 * its cJSON tree (a value of a hundred megabytes printed again to be
 * parsed again took a second).
 */
static int
fill_result(struct securer *sc, cJSON *rep, const struct securer_exec_opts *o,
    struct securer_result *res)
{
	const cJSON	*printed, *elapsed;
	cJSON		*value, *frame;

	value = item(rep, "value");
	printed = item(rep, "printed");
	elapsed = item(rep, "elapsed");
	if (value == NULL)
		return (set_error(sc, SECURER_EPROTO, "securerd's reply to "
		    "execute has no value"));
	if ((frame = cJSON_DetachItemFromObjectCaseSensitive(rep,
	    FRAME_MEMBER)) != NULL) {
		res->frame = frame->valuestring;
		res->frame_len = (size_t)item(rep, "frame")->valuedouble;
		frame->valuestring = NULL;
		cJSON_Delete(frame);
	}
	if (o != NULL && o->value_tree)
		res->value_tree = cJSON_DetachItemViaPointer(rep, value);
	else
		res->value = json_print(value, NULL);
	res->printed = strdup(cJSON_IsString(printed) ?
	    printed->valuestring : "");
	if ((res->value == NULL && res->value_tree == NULL) ||
	    res->printed == NULL) {
		securer_result_free(res);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	res->visible = cJSON_IsTrue(item(rep, "visible"));
	res->truncated = cJSON_IsTrue(item(rep, "truncated"));
	res->elapsed = cJSON_IsNumber(elapsed) ? elapsed->valuedouble : 0;
	res->plots_omitted = cJSON_GetArraySize(item(rep, "plots_omitted"));
	if (cJSON_IsArray(item(rep, "warnings")) &&
	    (res->warnings = json_print(item(rep, "warnings"), NULL)) == NULL) {
		securer_result_free(res);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	if (plots_from(item(rep, "plots"), &res->plots, &res->nplots) == -1) {
		securer_result_free(res);
		return (set_error(sc, SECURER_EPROTO, "securerd sent a plot "
		    "that is not base64"));
	}
	if ((res->resumed = resume_of(rep, &res->resume_ms,
	    &res->resume_bytes, &res->resume_warning)) == -1) {
		securer_result_free(res);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	return (0);
}

/* A whole number of bytes, from 0 to under 2^64; -1 if n is none. */
static int
count_of(const cJSON *n, uint64_t *v)
{
	if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0) ||
	    n->valuedouble >= 18446744073709551616.0 ||
	    n->valuedouble != floor(n->valuedouble))
		return (-1);
	*v = (uint64_t)n->valuedouble;
	return (0);
}

/*
 * The reply's "resumed" (securer-protocol(7)): the request woke the
 * hibernated session first, restoring its state in a fresh worker.  1
 * with how long it took, the snapshot's bytes and a malloc'd warning
 * (what could not be restored) or NULL; 0 if the reply has none; -1 if
 * out of memory.
 */
static int
resume_of(const cJSON *rep, double *ms, uint64_t *bytes, char **warning)
{
	const cJSON	*r, *m, *w;

	*ms = 0;
	*bytes = 0;
	*warning = NULL;
	if (!cJSON_IsObject(r = item(rep, "resumed")))
		return (0);
	m = item(r, "ms");
	w = item(r, "warning");
	if (cJSON_IsNumber(m) && m->valuedouble >= 0)
		*ms = m->valuedouble;
	if (count_of(item(r, "bytes"), bytes) == -1)
		*bytes = 0;
	if (cJSON_IsString(w) && w->valuestring[0] != '\0' &&
	    (*warning = strdup(w->valuestring)) == NULL)
		return (-1);
	return (1);
}

static void
resume_clear(struct securer_session *s)
{
	free(s->resume_warning);
	s->resume_warning = NULL;
	s->resumed = 0;
	s->resume_ms = 0;
	s->resume_bytes = 0;
}

/*
 * A final reply to a request of s (a success or an error): what it says
 * of a resume is kept for securer_session_resumed().  Out of memory, the
 * resume is kept without its warning.
 */
static void
resume_note(struct securer_session *s, const cJSON *rep)
{
	double		 ms;
	uint64_t	 bytes;
	char		*warning;

	if (resume_of(rep, &ms, &bytes, &warning) == 0)
		return;
	resume_clear(s);
	s->resumed = 1;
	s->resume_ms = ms;
	s->resume_bytes = bytes;
	s->resume_warning = warning;
}

/*
 * Whether the last call on s woke it from hibernation (its reply said
 * "resumed"): 1 with how long the restore took, the snapshot's size and
 * what could not be restored (NULL if nothing; valid until the next call
 * on s), else 0.  For a failed call too: a resume may come before the
 * error.  Any pointer may be NULL.
 */
int
securer_session_resumed(const struct securer_session *s, double *ms,
    uint64_t *bytes, const char **warning)
{
	if (ms != NULL)
		*ms = s->resume_ms;
	if (bytes != NULL)
		*bytes = s->resume_bytes;
	if (warning != NULL)
		*warning = s->resume_warning;
	return (s->resumed);
}

/* The "plots" array of a reply; -1 if it is not one of plots. */
static int
plots_from(const cJSON *list, struct securer_plot **plotsp, size_t *np)
{
	const cJSON		*p, *name, *data;
	struct securer_plot	*plots;
	size_t			 n = 0;

	*plotsp = NULL;
	*np = 0;
	if (list == NULL)
		return (0);
	if (!cJSON_IsArray(list) || (plots = calloc(
	    cJSON_GetArraySize(list) + 1, sizeof(*plots))) == NULL)
		return (-1);
	cJSON_ArrayForEach(p, list) {
		name = item(p, "name");
		data = item(p, "data");
		if (!cJSON_IsString(name) || !cJSON_IsString(data) ||
		    (plots[n].name = strdup(name->valuestring)) == NULL ||
		    base64_decode(data->valuestring,
		    strlen(data->valuestring), &plots[n].data,
		    &plots[n].len) == -1) {
			if (plots[n].name != NULL)
				n++;
			securer_plots_free(plots, n);
			return (-1);
		}
		n++;
	}
	*plotsp = plots;
	*np = n;
	return (0);
}

/*
 * The plots of a reply or an error given as JSON text (an execution's
 * error, from securer_errjson()): 0 with *np of them, -1 if it is not
 * JSON.
 */
int
securer_plots_parse(const char *json, struct securer_plot **plotsp,
    size_t *np)
{
	cJSON	*j;
	int	 rv;

	*plotsp = NULL;
	*np = 0;
	if ((j = cJSON_Parse(json)) == NULL)
		return (-1);
	rv = plots_from(item(j, "plots"), plotsp, np);
	cJSON_Delete(j);
	return (rv);
}

void
securer_plots_free(struct securer_plot *plots, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(plots[i].name);
		free(plots[i].data);
	}
	free(plots);
}

void
securer_result_free(struct securer_result *res)
{
	if (res == NULL)
		return;
	free(res->value);
	cJSON_Delete(res->value_tree);
	free(res->printed);
	free(res->warnings);
	free(res->frame);
	free(res->resume_warning);
	securer_plots_free(res->plots, res->nplots);
	memset(res, 0, sizeof(*res));
}

int
securer_session_restart(struct securer_session *s)
{
	cJSON	*req, *rep;

	clear_error(s->sc);
	resume_clear(s);
	if ((req = session_request(s, "session.restart")) == NULL ||
	    (rep = roundtrip(s->sc, req, NULL)) == NULL)
		return (-1);
	cJSON_Delete(rep);
	return (0);
}

/*
 * Saves the session's state and gives up its worker; the next execution
 * or file call restores it.  The snapshot's size goes to *bytes.
 */
int
securer_session_hibernate(struct securer_session *s, uint64_t *bytes)
{
	cJSON		*req, *rep;
	uint64_t	 n;

	if (bytes != NULL)
		*bytes = 0;
	clear_error(s->sc);
	resume_clear(s);
	if ((req = session_request(s, "session.hibernate")) == NULL ||
	    (rep = roundtrip(s->sc, req, NULL)) == NULL)
		return (-1);
	if (!cJSON_IsTrue(item(rep, "hibernated")) ||
	    count_of(item(rep, "bytes"), &n) == -1) {
		cJSON_Delete(rep);
		return (set_error(s->sc, SECURER_EPROTO, "securerd's reply to "
		    "session.hibernate does not say it hibernated, or how "
		    "many bytes"));
	}
	cJSON_Delete(rep);
	if (bytes != NULL)
		*bytes = n;
	return (0);
}

/*
 * A named session kept by the daemon since its connection went
 * (securer_session_opts' name), taken back by name: its state as it was
 * left, restored at its first request.
 */
int
securer_session_attach(struct securer *sc, const char *name,
    struct securer_session **sp)
{
	*sp = NULL;
	clear_error(sc);
	if (name == NULL)
		return (set_error(sc, SECURER_EINVAL, "no session name"));
	return (attach(sc, "name", name, sp));
}

/*
 * By id: a kept session of the user's, named or not, such as one a
 * restart of the daemon left hibernated.
 */
int
securer_session_attach_id(struct securer *sc, const char *id,
    struct securer_session **sp)
{
	*sp = NULL;
	clear_error(sc);
	if (id == NULL)
		return (set_error(sc, SECURER_EINVAL, "no session id"));
	return (attach(sc, "session", id, sp));
}

static int
attach(struct securer *sc, const char *by, const char *what,
    struct securer_session **sp)
{
	const cJSON	*state;
	cJSON		*req, *rep;

	if ((req = new_request(sc, "session.attach")) == NULL)
		return (-1);
	if (cJSON_AddStringToObject(req, by, what) == NULL) {
		cJSON_Delete(req);
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	}
	if ((rep = roundtrip(sc, req, NULL)) == NULL)
		return (-1);
	if ((*sp = session_new(sc, rep)) != NULL &&
	    cJSON_IsString(state = item(rep, "state")) &&
	    ((*sp)->state = strdup(state->valuestring)) == NULL) {
		session_forget(*sp);
		*sp = NULL;
		set_error(sc, SECURER_ENOMEM, "out of memory");
	}
	cJSON_Delete(rep);
	return (*sp == NULL ? -1 : 0);
}

/* What session.attach said of the session's state, else NULL. */
const char *
securer_session_state(const struct securer_session *s)
{
	return (s->state);
}

/*
 * A new session of the same connection whose state is a copy of s's
 * (session.fork): it starts hibernated and resumes at its first request;
 * the two go their own ways from then.
 */
int
securer_session_fork(struct securer_session *s, struct securer_session **np,
    uint64_t *bytes)
{
	cJSON		*req, *rep;
	uint64_t	 n;

	*np = NULL;
	if (bytes != NULL)
		*bytes = 0;
	clear_error(s->sc);
	resume_clear(s);
	if ((req = session_request(s, "session.fork")) == NULL ||
	    (rep = roundtrip(s->sc, req, NULL)) == NULL)
		return (-1);
	if (count_of(item(rep, "bytes"), &n) == -1) {
		cJSON_Delete(rep);
		return (set_error(s->sc, SECURER_EPROTO, "securerd's reply to "
		    "session.fork does not say how many bytes"));
	}
	*np = session_new(s->sc, rep);
	cJSON_Delete(rep);
	if (*np == NULL)
		return (-1);
	if (bytes != NULL)
		*bytes = n;
	return (0);
}

/*
 * Puts len bytes at data as the file name of the session's input
 * directory, in chunks of FILE_CHUNK bytes (the file appears at the
 * last).
 */
int
securer_file_put(struct securer_session *s, const char *name,
    const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 off = 0, n;

	resume_clear(s);
	do {
		n = len - off < FILE_CHUNK ? len - off : FILE_CHUNK;
		if (file_put_chunk(s, name, p + off, n, off,
		    off + n < len, NULL) == -1)
			return (-1);
		off += n;
	} while (off < len);
	return (0);
}

/*
 * Gets the file name of the session's output directory, malloc'd, in
 * ranges of FILE_CHUNK bytes: the first says the file's size.
 */
int
securer_file_get(struct securer_session *s, const char *name,
    unsigned char **data, size_t *len)
{
	unsigned char	*buf = NULL, *part;
	size_t		 got, off;
	uint64_t	 size;

	*data = NULL;
	*len = 0;
	resume_clear(s);
	if (file_get_range(s, name, 0, FILE_CHUNK, &part, &got,
	    &size) == -1)
		return (-1);
	if (size > SIZE_MAX || (size > got && (buf = malloc(size)) == NULL)) {
		free(part);
		return (set_error(s->sc, SECURER_ENOMEM, "out of memory"));
	}
	if (buf == NULL) {
		*data = part;
		*len = got;
		return (0);
	}
	memcpy(buf, part, got);
	free(part);
	for (off = got; off < size; off += got) {
		if (file_get_range(s, name, off, FILE_CHUNK, &part,
		    &got, NULL) == -1) {
			free(buf);
			return (-1);
		}
		if (got == 0 || got > size - off) {
			free(part);
			free(buf);
			return (set_error(s->sc, SECURER_EPROTO, "securerd's "
			    "ranges of %s do not add up to its size", name));
		}
		memcpy(buf + off, part, got);
		free(part);
	}
	*data = buf;
	*len = size;
	return (0);
}

/*
 * One chunk of an upload: len bytes at offset, more when chunks follow.
 * The daemon's byte count so far goes to *size.
 */
int
securer_file_put_chunk(struct securer_session *s, const char *name,
    const void *data, size_t len, uint64_t offset, int more, uint64_t *size)
{
	resume_clear(s);
	return (file_put_chunk(s, name, data, len, offset, more, size));
}

/* The chunk, for one call or one of securer_file_put()'s. */
static int
file_put_chunk(struct securer_session *s, const char *name,
    const void *data, size_t len, uint64_t offset, int more, uint64_t *size)
{
	cJSON		*req, *rep;
	const cJSON	*n;
	char		*b64;

	clear_error(s->sc);
	if ((b64 = base64_encode(data, len)) == NULL)
		return (set_error(s->sc, SECURER_ENOMEM, "out of memory"));
	if ((req = session_request(s, "file.put")) == NULL) {
		free(b64);
		return (-1);
	}
	if (cJSON_AddStringToObject(req, "name", name) == NULL ||
	    cJSON_AddStringToObject(req, "data", b64) == NULL ||
	    cJSON_AddNumberToObject(req, "offset", (double)offset) == NULL ||
	    cJSON_AddBoolToObject(req, "more", more != 0) == NULL) {
		free(b64);
		cJSON_Delete(req);
		return (set_error(s->sc, SECURER_ENOMEM, "out of memory"));
	}
	free(b64);
	if ((rep = roundtrip(s->sc, req, NULL)) == NULL)
		return (-1);
	n = item(rep, "size");
	if (size != NULL)
		*size = cJSON_IsNumber(n) && n->valuedouble >= 0 ?
		    (uint64_t)n->valuedouble : offset + len;
	cJSON_Delete(rep);
	return (0);
}

/*
 * The range of length bytes at offset of the output file name, malloc'd;
 * the whole file's size goes to *size.  A range past the end is cut.
 */
int
securer_file_get_range(struct securer_session *s, const char *name,
    uint64_t offset, size_t length, unsigned char **data, size_t *len,
    uint64_t *size)
{
	resume_clear(s);
	return (file_get_range(s, name, offset, length, data, len, size));
}

/* The range, for one call or one of securer_file_get()'s. */
static int
file_get_range(struct securer_session *s, const char *name,
    uint64_t offset, size_t length, unsigned char **data, size_t *len,
    uint64_t *size)
{
	cJSON		*req, *rep;
	const cJSON	*d, *n;

	*data = NULL;
	*len = 0;
	clear_error(s->sc);
	if ((req = session_request(s, "file.get")) == NULL)
		return (-1);
	if (cJSON_AddStringToObject(req, "name", name) == NULL ||
	    cJSON_AddNumberToObject(req, "offset", (double)offset) == NULL ||
	    cJSON_AddNumberToObject(req, "length", (double)length) == NULL) {
		cJSON_Delete(req);
		return (set_error(s->sc, SECURER_ENOMEM, "out of memory"));
	}
	if ((rep = roundtrip(s->sc, req, NULL)) == NULL)
		return (-1);
	d = item(rep, "data");
	n = item(rep, "size");
	if (!cJSON_IsString(d) || !cJSON_IsNumber(n) || n->valuedouble < 0 ||
	    base64_decode(d->valuestring, strlen(d->valuestring), data,
	    len) == -1) {
		cJSON_Delete(rep);
		return (set_error(s->sc, SECURER_EPROTO, "securerd's reply to "
		    "file.get has no base64 data or no size"));
	}
	if (*len > length) {
		free(*data);
		*data = NULL;
		*len = 0;
		cJSON_Delete(rep);
		return (set_error(s->sc, SECURER_EPROTO, "securerd's reply to "
		    "file.get is longer than the range asked"));
	}
	if (size != NULL)
		*size = (uint64_t)n->valuedouble;
	cJSON_Delete(rep);
	return (0);
}

int
securer_session_close(struct securer_session *s)
{
	struct securer	*sc = s->sc;
	cJSON		*req, *rep = NULL;
	int		 rv;

	clear_error(sc);
	if ((req = session_request(s, "session.close")) != NULL)
		rep = roundtrip(sc, req, NULL);
	rv = rep != NULL ? 0 : -1;
	cJSON_Delete(rep);
	session_forget(s);
	return (rv);
}

int
securer_status(struct securer *sc, char **json)
{
	cJSON	*req, *rep;

	*json = NULL;
	clear_error(sc);
	if ((req = new_request(sc, "status")) == NULL ||
	    (rep = roundtrip(sc, req, NULL)) == NULL)
		return (-1);
	*json = json_print(rep, NULL);
	cJSON_Delete(rep);
	if (*json == NULL)
		return (set_error(sc, SECURER_ENOMEM, "out of memory"));
	return (0);
}
