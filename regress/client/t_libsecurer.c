/*
 * Tests of libsecurer against a fake daemon: a thread on the other end of
 * a socketpair plays a script of lines to expect and lines to send, so
 * framing, dispatch and errors are checked byte for byte without
 * securerd.  The last cases start a fake securerd (a shell script) to
 * check how the library hands it the socket.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sanitizer.h"
#include "securer.h"
#include "securerd.h"

#define SID	"0123456789abcdef0123456789abcdef"

enum step_op {
	END,
	RECV,		/* a line, which must be text if text is set */
	SEND,		/* text, in one write */
	SLOW,		/* text, a few bytes a write */
	BIG,		/* a reply to id 2 of size bytes, then text */
	HANGUP,
};

struct step {
	enum step_op	 op;
	const char	*text;
	size_t		 size;
};

struct fake {
	int			 fd;
	const struct step	*script;
	char			*got[16];
	int			 ngot;
	char			 bad[2048];	/* the first mismatch */
	pthread_t		 thread;
};

#define HELLO_REQ	"{\"id\":1,\"op\":\"hello\",\"version\":1," \
			"\"client\":\"libsecurer " SECURER_VERSION "\"}"
#define HELLO							\
	{ RECV, HELLO_REQ, 0 },					\
	{ SEND, "{\"id\":1,\"ok\":true,\"version\":1,"		\
	    "\"server\":\"fake\",\"uid\":0,\"pid\":1}\n", 0 }
#define CREATE							\
	{ RECV, "{\"id\":2,\"op\":\"session.create\"}", 0 },	\
	{ SEND, "{\"id\":2,\"ok\":true,\"session\":\"" SID	\
	    "\",\"sandbox\":\"test\"}\n", 0 }

static void
fake_send(struct fake *f, const char *p, size_t len, size_t piece)
{
	ssize_t	 n;

	while (len > 0) {
		n = send(f->fd, p, len < piece ? len : piece, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;	/* the fault tests' shim */
		if (n <= 0)
			return;
		p += n;
		len -= n;
		if (piece < len)
			usleep(2000);
	}
}

static char *
fake_recv(struct fake *f)
{
	char	 line[65536];
	size_t	 len = 0;
	ssize_t	 n;

	while (len < sizeof(line) - 1) {
		if ((n = read(f->fd, line + len, 1)) == -1 && errno == EINTR)
			continue;	/* the fault tests' shim */
		if (n != 1)
			break;
		if (line[len] == '\n') {
			line[len] = '\0';
			return (strdup(line));
		}
		len++;
	}
	return (NULL);
}

static void
fake_big(struct fake *f, size_t size, const char *tail)
{
	static const char	 head[] = "{\"id\":2,\"ok\":true,\"pad\":\"";
	char			*line;

	/* size bytes in all: head, padding, closing quote and brace. */
	line = malloc(size);
	memcpy(line, head, sizeof(head) - 1);
	memset(line + sizeof(head) - 1, 'x', size - (sizeof(head) - 1) - 2);
	memcpy(line + size - 2, "\"}", 2);
	fake_send(f, line, size, size);
	fake_send(f, tail, strlen(tail), strlen(tail));
	free(line);
}

static void *
fake_main(void *arg)
{
	struct fake		*f = arg;
	const struct step	*s;
	char			*line;

	for (s = f->script; s->op != END; s++) {
		switch (s->op) {
		case RECV:
			if ((line = fake_recv(f)) == NULL) {
				snprintf(f->bad, sizeof(f->bad), "step %d: "
				    "EOF, wanted %s", (int)(s - f->script),
				    s->text ? s->text : "a line");
				goto out;
			}
			f->got[f->ngot++] = line;
			if (s->text != NULL && strcmp(line, s->text) != 0) {
				snprintf(f->bad, sizeof(f->bad), "step %d: "
				    "got %s, wanted %s", (int)(s - f->script),
				    line, s->text);
				goto out;
			}
			break;
		case SEND:
		case SLOW:
			fake_send(f, s->text, strlen(s->text),
			    s->op == SLOW ? 5 : strlen(s->text));
			break;
		case BIG:
			fake_big(f, s->size, s->text);
			break;
		case HANGUP:
			goto out;
		case END:
			break;
		}
	}
 out:
	shutdown(f->fd, SHUT_RDWR);
	return (NULL);
}

/* Start the fake on a socketpair and connect a handle to it. */
static struct securer *
fake_start(struct fake *f, const struct step *script, int want)
{
	struct securer	*sc;
	int		 sv[2];

	memset(f, 0, sizeof(*f));
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	f->fd = sv[1];
	f->script = script;
	ATF_REQUIRE(pthread_create(&f->thread, NULL, fake_main, f) == 0);
	ATF_REQUIRE((sc = securer_open()) != NULL);
	ATF_REQUIRE_EQ_MSG(securer_connect_fd(sc, sv[0]), want, "%s",
	    securer_errmsg(sc));
	return (sc);
}

static void
fake_finish(struct fake *f, struct securer *sc)
{
	int	 i;

	securer_close(sc);
	ATF_REQUIRE(pthread_join(f->thread, NULL) == 0);
	close(f->fd);
	ATF_CHECK_MSG(f->bad[0] == '\0', "%s", f->bad);
	for (i = 0; i < f->ngot; i++)
		free(f->got[i]);
}

static struct securer_session *
create(struct securer *sc)
{
	struct securer_session	*s;

	ATF_REQUIRE_EQ_MSG(securer_session_create(sc, NULL, &s), 0, "%s",
	    securer_errmsg(sc));
	ATF_REQUIRE_STREQ(securer_session_id(s), SID);
	ATF_REQUIRE_STREQ(securer_session_sandbox(s), "test");
	return (s);
}

/* What the callbacks saw, in order. */
struct seen {
	char	 log[4096];
	char	*tool_args;
	char	*tool_value;	/* what the tool returns, or NULL */
	char	*tool_error;	/* the error it raises, or NULL */
};

static void
on_output(void *arg, const char *stream, const char *text, size_t len)
{
	struct seen	*seen = arg;

	ATF_CHECK_EQ(strlen(text), len);
	strlcat(seen->log, stream, sizeof(seen->log));
	strlcat(seen->log, ":", sizeof(seen->log));
	strlcat(seen->log, text, sizeof(seen->log));
	strlcat(seen->log, "|", sizeof(seen->log));
}

static int
on_tool(void *arg, const char *tool, const char *args, char **value,
    char **error)
{
	struct seen	*seen = arg;

	strlcat(seen->log, "tool:", sizeof(seen->log));
	strlcat(seen->log, tool, sizeof(seen->log));
	strlcat(seen->log, "|", sizeof(seen->log));
	free(seen->tool_args);
	seen->tool_args = strdup(args);
	if (seen->tool_value != NULL) {
		*value = strdup(seen->tool_value);
		return (0);
	}
	*error = seen->tool_error ? strdup(seen->tool_error) : NULL;
	return (-1);
}

static int
run(struct securer_session *s, struct seen *seen, struct securer_result *res)
{
	struct securer_exec_opts	 o;

	memset(&o, 0, sizeof(o));
	o.timeout = -1;
	o.output = on_output;
	o.tool = on_tool;
	o.arg = seen;
	return (securer_execute(s, "x", &o, res));
}

#define EXEC_REQ	"{\"id\":3,\"op\":\"execute\",\"session\":\"" SID \
			"\",\"code\":\"x\"}"
#define OK3(value)	"{\"id\":3,\"ok\":true,\"value\":" value	\
			",\"visible\":true,\"printed\":\"[1] 1\\n\","	\
			"\"truncated\":false,\"elapsed\":0.25}\n"
#define DBL1		"{\"type\":\"double\",\"value\":[1]}"

ATF_TC_WITHOUT_HEAD(hello);
ATF_TC_BODY(hello, tc)
{
	static const struct step	 script[] = { HELLO, { END, 0, 0 } };
	struct fake			 f;
	struct securer			*sc;

	sc = fake_start(&f, script, 0);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_OK);
	ATF_CHECK_STREQ(securer_errname(sc), "");
	ATF_CHECK_STREQ(securer_errmsg(sc), "");
	ATF_CHECK(securer_errjson(sc) == NULL);
	ATF_CHECK(securer_fd(sc) != -1);
	fake_finish(&f, sc);
}

ATF_TC_WITHOUT_HEAD(hello_refused);
ATF_TC_BODY(hello_refused, tc)
{
	static const struct step	 script[] = {
		{ RECV, HELLO_REQ, 0 },
		{ SEND, "{\"id\":1,\"ok\":false,\"error\":{\"code\":"
		    "\"unsupported_version\",\"message\":\"no\"}}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;

	sc = fake_start(&f, script, -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "unsupported_version");
	ATF_CHECK_EQ(securer_fd(sc), -1);
	fake_finish(&f, sc);
}

ATF_TC_WITHOUT_HEAD(hello_version);
ATF_TC_BODY(hello_version, tc)
{
	static const struct step	 script[] = {
		{ RECV, HELLO_REQ, 0 },
		{ SEND, "{\"id\":1,\"ok\":true,\"version\":2}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;

	sc = fake_start(&f, script, -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EPROTO);
	fake_finish(&f, sc);
}

/* Lines in pieces, several lines in one write, events in order. */
ATF_TC_WITHOUT_HEAD(framing);
ATF_TC_BODY(framing, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"session.create\"}", 0 },
		{ SLOW, "{\"id\":2,\"ok\":true,\"session\":\"" SID "\","
		    "\"sandbox\":\"test\"}\n", 0 },
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"output\",\"stream\":"
		    "\"stdout\",\"text\":\"a\\n\"}\n{\"id\":3,\"event\":"
		    "\"output\",\"stream\":\"stderr\",\"text\":\"b\"}\n"
		    "{\"id\":3,\"event\":\"output\",\"stream\":", 0 },
		{ SLOW, "\"message\",\"text\":\"c\\n\"}\n{\"id\":3,"
		    "\"event\":\"output\",\"stream\":\"warning\",\"text\":"
		    "\"d\"}\n{\"id\":3,\"event\":\"truncated\"}\n", 0 },
		{ SLOW, OK3(DBL1), 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_STREQ(seen.log,
	    "stdout:a\n|stderr:b|message:c\n|warning:d|");
	ATF_CHECK_STREQ(res.value, DBL1);
	ATF_CHECK_STREQ(res.printed, "[1] 1\n");
	ATF_CHECK_EQ(res.visible, 1);
	ATF_CHECK_EQ(res.truncated, 0);
	ATF_CHECK(res.elapsed == 0.25);
	securer_result_free(&res);
	fake_finish(&f, sc);
}

/* A tool call is answered with the callback's value text unchanged. */
ATF_TC_WITHOUT_HEAD(tool_call);
ATF_TC_BODY(tool_call, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"tool_call\",\"call\":1,"
		    "\"tool\":\"add\",\"args\":{\"a\":{\"type\":\"double\","
		    "\"value\":[0.1]},\"b\":{\"type\":\"double\",\"value\":"
		    "[0.2]}}}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"tool_result\",\"session\":\""
		    SID "\",\"call\":1,\"value\":{\"type\": \"double\", "
		    "\"value\": [0.30000000000000004]}}", 0 },
		{ SEND, OK3("{\"type\":\"double\",\"value\":"
		    "[0.30000000000000004]}"), 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;

	memset(&seen, 0, sizeof(seen));
	/* Its newline would end the line early: it goes as a space. */
	seen.tool_value = "{\"type\": \"double\",\n"
	    "\"value\": [0.30000000000000004]}";
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_STREQ(seen.log, "tool:add|");
	ATF_CHECK_STREQ(seen.tool_args, "{\"a\":{\"type\":\"double\","
	    "\"value\":[0.1]},\"b\":{\"type\":\"double\",\"value\":[0.2]}}");
	ATF_CHECK_STREQ(res.value, "{\"type\":\"double\",\"value\":"
	    "[0.30000000000000004]}");
	securer_result_free(&res);
	free(seen.tool_args);
	fake_finish(&f, sc);
}

/* An execution started, polled to its end, with a tool call between. */
ATF_TC_WITHOUT_HEAD(execute_poll);
ATF_TC_BODY(execute_poll, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"output\",\"stream\":"
		    "\"stdout\",\"text\":\"hi\\n\"}\n", 0 },
		{ SEND, "{\"id\":3,\"event\":\"tool_call\",\"call\":1,"
		    "\"tool\":\"add\",\"args\":{}}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"tool_result\",\"session\":\""
		    SID "\",\"call\":1,\"value\":" DBL1 "}", 0 },
		{ SLOW, OK3(DBL1), 0 },
		{ END, 0, 0 }
	};
	struct securer_exec_opts	 o;
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;
	char				*json;
	int				 rv, polls = 0;

	memset(&seen, 0, sizeof(seen));
	seen.tool_value = DBL1;
	sc = fake_start(&f, script, 0);
	s = create(sc);
	memset(&o, 0, sizeof(o));
	o.timeout = -1;
	o.output = on_output;
	o.tool = on_tool;
	o.arg = &seen;
	ATF_REQUIRE_EQ_MSG(securer_execute_start(s, "x", &o), 0, "%s",
	    securer_errmsg(sc));
	/* One at a time, and no other request meanwhile. */
	ATF_CHECK_EQ(securer_execute_start(s, "x", &o), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	ATF_CHECK_EQ(securer_status(sc, &json), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	while ((rv = securer_execute_poll(s, 10, &res)) == 1)
		polls++;
	ATF_REQUIRE_EQ_MSG(rv, 0, "%s %s", securer_errmsg(sc), f.bad);
	ATF_CHECK_STREQ(seen.log, "stdout:hi\n|tool:add|");
	ATF_CHECK_STREQ(res.value, DBL1);
	ATF_CHECK_STREQ(res.printed, "[1] 1\n");
	securer_result_free(&res);
	/* Nothing is running any more. */
	ATF_CHECK_EQ(securer_execute_poll(s, 0, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	free(seen.tool_args);
	fake_finish(&f, sc);
}

/* The callback's error, and no callback at all, go back as errors. */
ATF_TC_WITHOUT_HEAD(tool_error);
ATF_TC_BODY(tool_error, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"tool_call\",\"call\":7,"
		    "\"tool\":\"f\",\"args\":{}}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"tool_result\",\"session\":\""
		    SID "\",\"call\":7,\"error\":\"boom\\nagain\"}", 0 },
		{ SEND, OK3("null"), 0 },
		{ RECV, "{\"id\":5,\"op\":\"execute\",\"session\":\"" SID
		    "\",\"code\":\"x\"}", 0 },
		{ SEND, "{\"id\":5,\"event\":\"tool_call\",\"call\":8,"
		    "\"tool\":\"f\",\"args\":{}}\n", 0 },
		{ RECV, "{\"id\":6,\"op\":\"tool_result\",\"session\":\""
		    SID "\",\"call\":8,\"error\":\"no tool handler\"}", 0 },
		{ SEND, "{\"id\":5,\"ok\":true,\"value\":null,\"visible\":"
		    "false,\"printed\":\"\",\"truncated\":false,"
		    "\"elapsed\":0}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;

	memset(&seen, 0, sizeof(seen));
	seen.tool_error = "boom\nagain";
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_STREQ(res.value, "null");
	securer_result_free(&res);
	ATF_REQUIRE_EQ_MSG(securer_execute(s, "x", NULL, &res), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_EQ(res.visible, 0);
	ATF_CHECK_STREQ(res.printed, "");
	securer_result_free(&res);
	free(seen.tool_args);
	fake_finish(&f, sc);
}

/*
 * A refused tool result is the execution's error, once its final reply
 * came; a callback returning something that is not JSON is ETOOL.
 */
ATF_TC_WITHOUT_HEAD(tool_refused);
ATF_TC_BODY(tool_refused, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"tool_call\",\"call\":1,"
		    "\"tool\":\"f\",\"args\":{}}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"tool_result\",\"session\":\""
		    SID "\",\"call\":1,\"value\":[1]}", 0 },
		{ SEND, "{\"id\":4,\"ok\":false,\"error\":{\"code\":"
		    "\"bad_request\",\"message\":\"value: not a value\"}}\n"
		    "{\"id\":3,\"event\":\"output\",\"stream\":\"stdout\","
		    "\"text\":\"late\"}\n"
		    "{\"id\":3,\"ok\":false,\"error\":{\"code\":\"timeout\","
		    "\"message\":\"timed out\"}}\n", 0 },
		{ RECV, "{\"id\":5,\"op\":\"execute\",\"session\":\"" SID
		    "\",\"code\":\"x\"}", 0 },
		{ SEND, "{\"id\":5,\"event\":\"tool_call\",\"call\":2,"
		    "\"tool\":\"f\",\"args\":{}}\n", 0 },
		{ RECV, "{\"id\":6,\"op\":\"tool_result\",\"session\":\""
		    SID "\",\"call\":2,\"error\":\"the tool returned an "
		    "invalid value\"}", 0 },
		{ SEND, "{\"id\":5,\"ok\":false,\"error\":{\"code\":"
		    "\"r_error\",\"message\":\"the tool returned an invalid "
		    "value\"}}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;

	memset(&seen, 0, sizeof(seen));
	seen.tool_value = "[1]";
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "bad_request");
	ATF_CHECK_STREQ(securer_errmsg(sc), "value: not a value");
	ATF_CHECK_STREQ(seen.log, "tool:f|stdout:late|");
	ATF_CHECK(res.value == NULL && res.printed == NULL);
	seen.tool_value = "[1";
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_ETOOL);
	ATF_CHECK_STREQ(securer_errname(sc), "ETOOL");
	free(seen.tool_args);
	fake_finish(&f, sc);
}

/* The daemon's error: its code, message and whole object. */
ATF_TC_WITHOUT_HEAD(error_reply);
ATF_TC_BODY(error_reply, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"ok\":false,\"error\":{\"code\":"
		    "\"parse_error\",\"message\":\"unexpected end of input\","
		    "\"line\":2,\"column\":5}}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"session.restart\",\"session\":\""
		    SID "\"}", 0 },
		{ SEND, "{\"id\":4,\"ok\":true}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;
	cJSON				*e;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_REQUIRE_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "parse_error");
	ATF_CHECK_STREQ(securer_errmsg(sc), "unexpected end of input");
	ATF_REQUIRE(securer_errjson(sc) != NULL);
	ATF_REQUIRE((e = cJSON_Parse(securer_errjson(sc))) != NULL);
	ATF_CHECK_EQ(cJSON_GetObjectItem(e, "line")->valueint, 2);
	ATF_CHECK_EQ(cJSON_GetObjectItem(e, "column")->valueint, 5);
	cJSON_Delete(e);
	/* The next call clears it. */
	ATF_CHECK_EQ(securer_session_restart(s), 0);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_OK);
	ATF_CHECK(securer_errjson(sc) == NULL);
	fake_finish(&f, sc);
}

/*
 * session.hibernate: the snapshot's size, the daemon's refusals, and
 * the "resumed" of the replies that follow, on a result and on the
 * session (also when the request then failed).
 */
#define HIB_REQ(id)	"{\"id\":" #id ",\"op\":\"session.hibernate\"," \
			"\"session\":\"" SID "\"}"
#define EXEC_ID(id)	"{\"id\":" #id ",\"op\":\"execute\",\"session\":\"" \
			SID "\",\"code\":\"x\"}"
ATF_TC_WITHOUT_HEAD(hibernate);
ATF_TC_BODY(hibernate, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, HIB_REQ(3), 0 },
		{ SEND, "{\"id\":3,\"ok\":true,\"session\":\"" SID "\","
		    "\"hibernated\":true,\"bytes\":123456,\"ms\":8.5}\n", 0 },
		{ RECV, EXEC_ID(4), 0 },
		{ SEND, "{\"id\":4,\"ok\":true,\"value\":" DBL1 ","
		    "\"visible\":true,\"printed\":\"[1] 1\\n\","
		    "\"truncated\":false,\"elapsed\":0.25,\"resumed\":"
		    "{\"ms\":31.5,\"bytes\":123456,\"warning\":\"con: a "
		    "connection cannot be restored\"}}\n", 0 },
		{ RECV, HIB_REQ(5), 0 },
		{ SEND, "{\"id\":5,\"ok\":false,\"error\":{\"code\":"
		    "\"snapshot_quota\",\"message\":\"the session was not "
		    "hibernated: over snapshot-quota\"}}\n", 0 },
		{ RECV, EXEC_ID(6), 0 },
		{ SEND, "{\"id\":6,\"ok\":false,\"error\":{\"code\":"
		    "\"r_error\",\"message\":\"object 'y' not found\"},"
		    "\"resumed\":{\"ms\":2,\"bytes\":99}}\n", 0 },
		{ RECV, HIB_REQ(7), 0 },
		{ SEND, "{\"id\":7,\"ok\":true}\n", 0 },
		{ RECV, HIB_REQ(8), 0 },
		{ SEND, "{\"id\":8,\"ok\":false,\"error\":{\"code\":"
		    "\"session_busy\",\"message\":\"the session can be "
		    "hibernated only when it is idle\"}}\n", 0 },
		{ RECV, EXEC_ID(9), 0 },
		{ SEND, "{\"id\":9,\"ok\":true,\"value\":" DBL1 ","
		    "\"visible\":true,\"printed\":\"[1] 1\\n\","
		    "\"truncated\":false,\"elapsed\":0.25}\n", 0 },
		{ RECV, "{\"id\":10,\"op\":\"file.put\",\"session\":\"" SID
		    "\",\"name\":\"a\",\"data\":\"aGk=\",\"offset\":0,"
		    "\"more\":false}", 0 },
		{ SEND, "{\"id\":10,\"ok\":true,\"size\":2,\"resumed\":"
		    "{\"ms\":4.5,\"bytes\":10,\"warning\":\"ptr\"}}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;
	const char			*w;
	uint64_t			 bytes;
	double				 ms;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_CHECK_EQ(securer_session_resumed(s, &ms, &bytes, &w), 0);

	ATF_REQUIRE_EQ_MSG(securer_session_hibernate(s, &bytes), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_EQ(bytes, 123456);

	/* The next execution woke it: the result says so, and how. */
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_EQ(res.resumed, 1);
	ATF_CHECK_EQ(res.resume_ms, 31.5);
	ATF_CHECK_EQ(res.resume_bytes, 123456);
	ATF_REQUIRE(res.resume_warning != NULL);
	ATF_CHECK_STREQ(res.resume_warning,
	    "con: a connection cannot be restored");
	ATF_CHECK_EQ(securer_session_resumed(s, &ms, &bytes, &w), 1);
	ATF_CHECK_EQ(ms, 31.5);
	ATF_CHECK_EQ(bytes, 123456);
	ATF_REQUIRE(w != NULL);
	ATF_CHECK_STREQ(w, "con: a connection cannot be restored");
	securer_result_free(&res);
	ATF_CHECK(res.resume_warning == NULL);

	/* A refusal: the daemon's code, no size; the resume is forgotten. */
	bytes = 7;
	ATF_CHECK_EQ(securer_session_hibernate(s, &bytes), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "snapshot_quota");
	ATF_CHECK_EQ(bytes, 0);
	ATF_CHECK_EQ(securer_session_resumed(s, NULL, NULL, NULL), 0);

	/* A resume before an error is still said, on the session. */
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_STREQ(securer_errname(sc), "r_error");
	ATF_CHECK_EQ(securer_session_resumed(s, &ms, &bytes, &w), 1);
	ATF_CHECK_EQ(ms, 2);
	ATF_CHECK_EQ(bytes, 99);
	ATF_CHECK(w == NULL);

	/* A success that does not say it hibernated makes no sense. */
	ATF_CHECK_EQ(securer_session_hibernate(s, NULL), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EPROTO);
	ATF_CHECK_EQ(securer_session_resumed(s, NULL, NULL, NULL), 0);

	ATF_CHECK_EQ(securer_session_hibernate(s, NULL), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "session_busy");

	/* No "resumed": nothing of it. */
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_EQ(res.resumed, 0);
	ATF_CHECK(res.resume_warning == NULL);
	ATF_CHECK_EQ(securer_session_resumed(s, NULL, NULL, NULL), 0);
	securer_result_free(&res);

	/* A file call has no result: the session says it. */
	ATF_REQUIRE_EQ_MSG(securer_file_put(s, "a", "hi", 2), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_EQ(securer_session_resumed(s, &ms, &bytes, &w), 1);
	ATF_CHECK_EQ(ms, 4.5);
	ATF_CHECK_EQ(bytes, 10);
	ATF_REQUIRE(w != NULL);
	ATF_CHECK_STREQ(w, "ptr");
	fake_finish(&f, sc);
}

/* Late answers to earlier requests are not taken for this one's. */
ATF_TC_WITHOUT_HEAD(stale_ids);
ATF_TC_BODY(stale_ids, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, "{\"id\":3,\"op\":\"status\"}", 0 },
		{ SEND, "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"x\","
		    "\"message\":\"old\"}}\n{\"id\":2,\"event\":\"output\","
		    "\"stream\":\"stdout\",\"text\":\"old\"}\n"
		    "{\"id\":3,\"ok\":true,\"sessions\":[]}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	char				*json;

	sc = fake_start(&f, script, 0);
	create(sc);
	ATF_REQUIRE_EQ_MSG(securer_status(sc, &json), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_STREQ(json, "{\"id\":3,\"ok\":true,\"sessions\":[]}");
	free(json);
	fake_finish(&f, sc);
}

/* cJSON_Compare() takes doubles that are close for equal. */
static int
same(const cJSON *a, const cJSON *b)
{
	const cJSON	*x, *y;

	if ((a->type & 0xff) != (b->type & 0xff))
		return (0);
	if (cJSON_IsNumber(a))
		return (memcmp(&a->valuedouble, &b->valuedouble,
		    sizeof(double)) == 0);
	if (cJSON_IsString(a))
		return (strcmp(a->valuestring, b->valuestring) == 0);
	for (x = a->child, y = b->child; x != NULL && y != NULL;
	    x = x->next, y = y->next)
		if ((x->string != NULL && strcmp(x->string, y->string) != 0) ||
		    !same(x, y))
			return (0);
	return (x == NULL && y == NULL);
}

/* Values come through with every bit of their doubles. */
ATF_TC_WITHOUT_HEAD(exact_double);
ATF_TC_BODY(exact_double, tc)
{
#define DBLS	"{\"type\":\"double\",\"value\":[0.30000000000000004," \
		"0.1,1e-300,5e-324,1.7976931348623157e+308,-0,\"NaN\"," \
		"\"Inf\",null,123456789012345680]}"
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, OK3(DBLS), 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;
	cJSON				*a, *b;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_MSG(strstr(res.value, "0.30000000000000004") != NULL,
	    "%s", res.value);
	/* The same bits, however json_print spells them. */
	ATF_REQUIRE((a = cJSON_Parse(DBLS)) != NULL);
	ATF_REQUIRE((b = cJSON_Parse(res.value)) != NULL);
	ATF_CHECK(same(a, b));
	cJSON_Delete(a);
	cJSON_Delete(b);
	securer_result_free(&res);
	fake_finish(&f, sc);
#undef DBLS
}

/* The longest line the protocol allows is taken, one more byte is not. */
ATF_TC_WITHOUT_HEAD(line_max);
ATF_TC_BODY(line_max, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"status\"}", 0 },
		{ BIG, "\n", CLIENT_LINE_MAX },
		{ RECV, "{\"id\":3,\"op\":\"status\"}", 0 },
		{ SEND, "{\"id\":3,\"ok\":true}\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	char				*json;

	sc = fake_start(&f, script, 0);
	ATF_REQUIRE_EQ_MSG(securer_status(sc, &json), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_EQ(strlen(json), CLIENT_LINE_MAX);
	free(json);
	ATF_REQUIRE_EQ_MSG(securer_status(sc, &json), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_STREQ(json, "{\"id\":3,\"ok\":true}");
	free(json);
	fake_finish(&f, sc);
}

ATF_TC_WITHOUT_HEAD(line_too_long);
ATF_TC_BODY(line_too_long, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"status\"}", 0 },
		{ BIG, "\n", CLIENT_LINE_MAX + 1 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	char				*json;

	sc = fake_start(&f, script, 0);
	/* The default is 1.5G, for results at result-size's largest. */
	securer_set_reply_max(sc, CLIENT_LINE_MAX);
	ATF_CHECK_EQ(securer_status(sc, &json), -1);
	ATF_CHECK(json == NULL);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EPROTO);
	ATF_CHECK_MSG(strstr(securer_errmsg(sc), "longer") != NULL, "%s",
	    securer_errmsg(sc));
	/* The stream is out of step: the connection is gone. */
	ATF_CHECK_EQ(securer_fd(sc), -1);
	ATF_CHECK_EQ(securer_status(sc, &json), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EIO);
	fake_finish(&f, sc);
}

/* A close between lines: the connection is gone, nothing more. */
ATF_TC_WITHOUT_HEAD(hangup);
ATF_TC_BODY(hangup, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"output\",\"stream\":"
		    "\"stdout\",\"text\":\"a\"}\n", 0 },
		{ HANGUP, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EIO);
	ATF_CHECK_STREQ(securer_errname(sc), "EIO");
	ATF_CHECK_STREQ(seen.log, "stdout:a|");
	ATF_CHECK(res.value == NULL);
	fake_finish(&f, sc);
}

/*
 * A close in the middle of a line: what came of it is whole JSON here,
 * an output event and a final reply, but without its newline a line may
 * have been cut anywhere, so neither is believed.
 */
ATF_TC_WITHOUT_HEAD(hangup_mid_line);
ATF_TC_BODY(hangup_mid_line, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"output\",\"stream\":"
		    "\"stdout\",\"text\":\"a\"}\n", 0 },
		{ SEND, "{\"id\":3,\"event\":\"output\",\"stream\":"
		    "\"stdout\",\"text\":\"b\"}", 0 },
		{ HANGUP, 0, 0 }
	};
	static const struct step	 status_script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"status\"}", 0 },
		{ SLOW, "{\"id\":2,\"ok\":true,\"sessions\":0}", 0 },
		{ HANGUP, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;
	char				*json;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_ETRUNCATED);
	ATF_CHECK_STREQ(securer_errname(sc), "ETRUNCATED");
	ATF_CHECK_MSG(strstr(securer_errmsg(sc), "middle of a line") != NULL,
	    "%s", securer_errmsg(sc));
	ATF_CHECK_STREQ(seen.log, "stdout:a|");
	ATF_CHECK(res.value == NULL);
	ATF_CHECK_EQ(securer_fd(sc), -1);
	fake_finish(&f, sc);

	/* A final reply cut likewise is no reply, even arriving slowly. */
	sc = fake_start(&f, status_script, 0);
	ATF_CHECK_EQ(securer_status(sc, &json), -1);
	ATF_CHECK(json == NULL);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_ETRUNCATED);
	ATF_CHECK_EQ(securer_fd(sc), -1);
	fake_finish(&f, sc);
}

/*
 * Dropped by the daemon, which says why in its last line: an error of
 * the connection's own, and the connection is closed.  The same line
 * without its newline is only a cut line.
 */
#define SLOW_LINE	"{\"id\":null,\"ok\":false,\"error\":{\"code\":" \
	"\"slow_client\",\"message\":\"securerd dropped this client: " \
	"it read none of its output for 3 seconds (client-grace)\"}}"
ATF_TC_WITHOUT_HEAD(dropped_slow);
ATF_TC_BODY(dropped_slow, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, "{\"id\":3,\"event\":\"output\",\"stream\":"
		    "\"stdout\",\"text\":\"a\"}\n", 0 },
		{ SEND, SLOW_LINE "\n", 0 },
		{ HANGUP, 0, 0 }
	};
	static const struct step	 cut_script[] = {
		HELLO, CREATE,
		{ RECV, EXEC_REQ, 0 },
		{ SEND, SLOW_LINE, 0 },
		{ HANGUP, 0, 0 }
	};
	static const struct step	 budget_script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"status\"}", 0 },
		{ SEND, "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
		    "\"over_budget\",\"message\":\"this user's connections "
		    "hold more unread data than one user may\"}}\n", 0 },
		{ HANGUP, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;
	struct seen			 seen;
	char				*json;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_ESLOWCLIENT);
	ATF_CHECK_STREQ(securer_errname(sc), "ESLOWCLIENT");
	ATF_CHECK_MSG(strstr(securer_errmsg(sc), "client-grace") != NULL,
	    "%s", securer_errmsg(sc));
	ATF_CHECK(securer_errjson(sc) != NULL &&
	    strstr(securer_errjson(sc), "slow_client") != NULL);
	ATF_CHECK_STREQ(seen.log, "stdout:a|");
	ATF_CHECK(res.value == NULL);
	ATF_CHECK_EQ(securer_fd(sc), -1);
	fake_finish(&f, sc);

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, cut_script, 0);
	s = create(sc);
	ATF_CHECK_EQ(run(s, &seen, &res), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_ETRUNCATED);
	ATF_CHECK_EQ(securer_fd(sc), -1);
	fake_finish(&f, sc);

	sc = fake_start(&f, budget_script, 0);
	ATF_CHECK_EQ(securer_status(sc, &json), -1);
	ATF_CHECK(json == NULL);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EOVERBUDGET);
	ATF_CHECK_STREQ(securer_errname(sc), "EOVERBUDGET");
	ATF_CHECK_EQ(securer_fd(sc), -1);
	fake_finish(&f, sc);
}

ATF_TC_WITHOUT_HEAD(not_json);
ATF_TC_BODY(not_json, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"status\"}", 0 },
		{ SEND, "[1,2]\n", 0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	char				*json;

	sc = fake_start(&f, script, 0);
	ATF_CHECK_EQ(securer_status(sc, &json), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EPROTO);
	fake_finish(&f, sc);
}

/* session.create carries the options; close frees even when refused. */
ATF_TC_WITHOUT_HEAD(session_opts);
ATF_TC_BODY(session_opts, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"session.create\",\"tools\":"
		    "[{\"name\":\"f\",\"description\":\"F\",\"args\":{\"x\":"
		    "\"numeric\"}}],\"limits\":{\"memory\":1073741824,\"cpu\":"
		    "null},\"timeout\":2.5,\"max_executions\":3,"
		    "\"sandbox_strict\":true}", 0 },
		{ SEND, "{\"id\":2,\"ok\":true,\"session\":\"" SID "\","
		    "\"sandbox\":\"test\"}\n", 0 },
		{ RECV, "{\"id\":3,\"op\":\"execute\",\"session\":\"" SID
		    "\",\"code\":\"1\",\"timeout\":0,\"max_tool_calls\":4,"
		    "\"max_output_lines\":5,\"max_output_bytes\":6,"
		    "\"echo\":true}", 0 },
		{ SEND, OK3(DBL1), 0 },
		{ RECV, "{\"id\":4,\"op\":\"session.close\",\"session\":\""
		    SID "\"}", 0 },
		{ SEND, "{\"id\":4,\"ok\":false,\"error\":{\"code\":"
		    "\"internal\",\"message\":\"oops\"}}\n", 0 },
		{ END, 0, 0 }
	};
	struct securer_session_opts	 so = {
		.tools = "[{\"name\":\"f\",\"description\":\"F\","
		    "\"args\":{\"x\":\"numeric\"}}]",
		.limits = "{\"memory\": 1073741824, \"cpu\": null}",
		.timeout = 2.5,
		.max_executions = 3,
		.sandbox_strict = 1,
	};
	struct securer_exec_opts	 eo = {
		.timeout = 0,
		.max_tool_calls = 4,
		.max_output_lines = 5,
		.max_output_bytes = 6,
		.echo = 1,
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	struct securer_result		 res;

	sc = fake_start(&f, script, 0);
	ATF_REQUIRE_EQ_MSG(securer_session_create(sc, &so, &s), 0, "%s",
	    securer_errmsg(sc));
	ATF_REQUIRE_EQ_MSG(securer_execute(s, "1", &eo, &res), 0, "%s",
	    securer_errmsg(sc));
	securer_result_free(&res);
	ATF_CHECK_EQ(securer_session_close(s), -1);
	ATF_CHECK_STREQ(securer_errname(sc), "internal");
	fake_finish(&f, sc);
}

/* Bad arguments are refused before anything is sent. */
ATF_TC_WITHOUT_HEAD(bad_args);
ATF_TC_BODY(bad_args, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":4,\"op\":\"status\"}", 0 },
		{ SEND, "{\"id\":4,\"ok\":true}\n", 0 },
		{ END, 0, 0 }
	};
	struct securer_session_opts	 so = { .timeout = -1 };
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s;
	char				*json;

	sc = fake_start(&f, script, 0);
	so.tools = "{\"not\":\"an array\"}";
	ATF_CHECK_EQ(securer_session_create(sc, &so, &s), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	ATF_CHECK(s == NULL);
	so.tools = NULL;
	so.limits = "{\"memory\": 1} trailing";
	ATF_CHECK_EQ(securer_session_create(sc, &so, &s), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	ATF_REQUIRE_EQ_MSG(securer_status(sc, &json), 0, "%s",
	    securer_errmsg(sc));
	free(json);
	fake_finish(&f, sc);
}

ATF_TC_WITHOUT_HEAD(private_socket);
ATF_TC_BODY(private_socket, tc)
{
	char	 path[PATH_MAX], want[PATH_MAX];

	ATF_REQUIRE(setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1) == 0);
	ATF_REQUIRE(securer_private_socket(path, sizeof(path)) == 0);
	ATF_CHECK_STREQ(path, "/run/user/1234/securer/securerd.sock");
	ATF_REQUIRE(unsetenv("XDG_RUNTIME_DIR") == 0);
	ATF_REQUIRE(securer_private_socket(path, sizeof(path)) == 0);
	snprintf(want, sizeof(want), "/tmp/securer-%u/securerd.sock",
	    (unsigned int)geteuid());
	ATF_CHECK_STREQ(path, want);
	ATF_CHECK(securer_private_socket(path, 10) == -1);
}

/* A daemon refused before it is asked: what is in its directory. */
static void
check_refused(const char *want)
{
	struct securer	*sc;

	ATF_REQUIRE(unsetenv(SECURER_SOCKET_ENV) == 0);
	ATF_REQUIRE(setenv("SECURERD", "/nonexistent", 1) == 0);
	ATF_REQUIRE((sc = securer_open()) != NULL);
	ATF_CHECK_EQ(securer_connect(sc, NULL), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_ECONNECT);
	ATF_CHECK_MSG(strstr(securer_errmsg(sc), want) != NULL, "%s",
	    securer_errmsg(sc));
	securer_close(sc);
}

ATF_TC_WITHOUT_HEAD(private_dir);
ATF_TC_BODY(private_dir, tc)
{
	char	 cwd[PATH_MAX];

	if (access(SECURER_SYSTEM_SOCKET, F_OK) == 0)
		atf_tc_skip("a system daemon answers at "
		    SECURER_SYSTEM_SOCKET);
	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	ATF_REQUIRE(setenv("XDG_RUNTIME_DIR", cwd, 1) == 0);
	ATF_REQUIRE(mkdir("elsewhere", 0700) == 0);
	ATF_REQUIRE(symlink("elsewhere", "securer") == 0);
	check_refused("symbolic link");
	ATF_REQUIRE(unlink("securer") == 0);
	ATF_REQUIRE(mkdir("securer", 0755) == 0);
	ATF_REQUIRE(chmod("securer", 0755) == 0);
	check_refused("mode 755");
	ATF_REQUIRE(chmod("securer", 0700) == 0);
	/* The directory is fine now: the daemon is what is missing. */
	check_refused("cannot execute /nonexistent");
	ATF_REQUIRE(unlink("securer/securerd.lock") == 0);
	ATF_REQUIRE(rmdir("securer") == 0);
	check_refused("cannot execute /nonexistent");
	ATF_CHECK(access("securer", F_OK) == 0);
}

/*
 * A fake securerd: records its arguments and environment, checks that fd
 * 3 is a socket, and leaves a process holding it as a daemon would.
 */
static const char fake_securerd[] =
    "#!/bin/sh\n"
    "echo \"$@\" >> args\n"
    "echo \"$LISTEN_FDS $LISTEN_PID $$\" >> env\n"
    "[ -S /proc/$$/fd/3 ] || { echo 'fd 3: not a socket' >&2; exit 3; }\n"
    "[ -n \"$FAIL\" ] && { echo starting >&2; echo \"$FAIL\" >&2; "
    "exit 1; }\n"
    "sleep 0.3\n"
    "sleep 60 <&3 3<&- >/dev/null 2>&1 &\n"
    "echo $! > holder\n"
    "exit 0\n";

static void
install_fake(void)
{
	char	 cwd[PATH_MAX], bin[PATH_MAX + 16];
	FILE	*fp;

	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(bin, sizeof(bin), "%s/securerd", cwd);
	ATF_REQUIRE((fp = fopen(bin, "w")) != NULL);
	fputs(fake_securerd, fp);
	fclose(fp);
	ATF_REQUIRE(chmod(bin, 0755) == 0);
	ATF_REQUIRE(setenv("SECURERD", bin, 1) == 0);
	ATF_REQUIRE(mkdir("d", 0700) == 0);
}

static void
kill_holder(void)
{
	FILE	*fp;
	int	 pid;

	if ((fp = fopen("holder", "r")) == NULL)
		return;
	if (fscanf(fp, "%d", &pid) == 1 && pid > 1)
		kill(pid, SIGTERM);
	fclose(fp);
	unlink("holder");
}

static int
lines_of(const char *file)
{
	FILE	*fp;
	int	 c, n = 0;

	if ((fp = fopen(file, "r")) == NULL)
		return (0);
	while ((c = getc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return (n);
}

static int
try_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, rv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	ATF_REQUIRE((fd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return (rv);
}

ATF_TC_WITH_CLEANUP(start_daemon);
ATF_TC_HEAD(start_daemon, tc)
{
	atf_tc_set_md_var(tc, "descr", "The daemon gets the socket as fd 3 "
	    "with LISTEN_FDS and LISTEN_PID, and it answers at once");
}
ATF_TC_BODY(start_daemon, tc)
{
	struct stat	 st;
	char		 err[1024], line[PATH_MAX + 64];
	char		 cwd[PATH_MAX], want[PATH_MAX + 64];
	FILE		*fp;
	int		 fds, pid, self;

	install_fake();
	ATF_REQUIRE_EQ_MSG(securer_start_daemon("d/sock", err, sizeof(err)),
	    0, "%s", err);
	ATF_REQUIRE(lstat("d/sock", &st) == 0);
	ATF_CHECK(S_ISSOCK(st.st_mode));
	ATF_CHECK_EQ(st.st_mode & 0777, 0600);
	ATF_CHECK_EQ(try_connect("d/sock"), 0);
	ATF_REQUIRE((fp = fopen("args", "r")) != NULL);
	ATF_REQUIRE(fgets(line, sizeof(line), fp) != NULL);
	fclose(fp);
	/* The audit log beside the socket, absolute as securerd wants. */
	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(want, sizeof(want), "-I 600 -s d/sock -a %s/d/audit.jsonl\n",
	    cwd);
	ATF_CHECK_STREQ(line, want);
	ATF_REQUIRE((fp = fopen("env", "r")) != NULL);
	ATF_REQUIRE(fscanf(fp, "%d %d %d", &fds, &pid, &self) == 3);
	fclose(fp);
	ATF_CHECK_EQ(fds, 1);
	ATF_CHECK_EQ(pid, self);
	/* One that answers is left alone. */
	ATF_REQUIRE_EQ_MSG(securer_start_daemon("d/sock", err, sizeof(err)),
	    0, "%s", err);
	ATF_CHECK_EQ(lines_of("args"), 1);
	kill_holder();
	/* Once it is gone, the stale socket is replaced. */
	usleep(100000);
	ATF_CHECK(try_connect("d/sock") == -1);
	ATF_REQUIRE_EQ_MSG(securer_start_daemon("d/sock", err, sizeof(err)),
	    0, "%s", err);
	ATF_CHECK_EQ(lines_of("args"), 2);
	ATF_CHECK_EQ(try_connect("d/sock"), 0);
}
ATF_TC_CLEANUP(start_daemon, tc)
{
	kill_holder();
}

ATF_TC_WITH_CLEANUP(start_race);
ATF_TC_HEAD(start_race, tc)
{
	atf_tc_set_md_var(tc, "descr", "Clients starting a daemon at once "
	    "start one");
}
ATF_TC_BODY(start_race, tc)
{
	char	 err[1024];
	pid_t	 pids[4];
	int	 i, status;

	install_fake();
	for (i = 0; i < 4; i++) {
		ATF_REQUIRE((pids[i] = fork()) != -1);
		if (pids[i] == 0)
			_exit(securer_start_daemon("d/sock", err,
			    sizeof(err)) == 0 && try_connect("d/sock") == 0 ?
			    0 : 1);
	}
	for (i = 0; i < 4; i++) {
		ATF_REQUIRE(waitpid(pids[i], &status, 0) == pids[i]);
		ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ATF_CHECK_EQ(lines_of("args"), 1);
}
ATF_TC_CLEANUP(start_race, tc)
{
	kill_holder();
}

ATF_TC_WITHOUT_HEAD(start_fails);
ATF_TC_BODY(start_fails, tc)
{
	char	 err[1024];
	FILE	*fp;

	install_fake();
	ATF_REQUIRE(setenv("FAIL", "securerd: cannot open the audit log",
	    1) == 0);
	ATF_CHECK_EQ(securer_start_daemon("d/sock", err, sizeof(err)), -1);
	ATF_CHECK_STREQ(err, "securerd exited with status 1: securerd: "
	    "cannot open the audit log (see d/securerd.log)");
	ATF_CHECK(access("d/sock", F_OK) == -1);
	ATF_CHECK_EQ(lines_of("d/securerd.log"), 2);
	/* Not a socket: not ours to remove. */
	ATF_REQUIRE((fp = fopen("d/sock", "w")) != NULL);
	fclose(fp);
	ATF_CHECK_EQ(securer_start_daemon("d/sock", err, sizeof(err)), -1);
	ATF_CHECK_STREQ(err, "d/sock exists and is not a socket");
	ATF_CHECK(access("d/sock", F_OK) == 0);
	/* A directory others can enter is refused. */
	ATF_REQUIRE(chmod("d", 0711) == 0);
	ATF_CHECK_EQ(securer_start_daemon("d/sock", err, sizeof(err)), -1);
	ATF_CHECK_MSG(strstr(err, "mode 711") != NULL, "%s", err);
}

/*
 * session.fork: a new session handle on the same connection, whose
 * requests name the new id; the source goes on; refusals and replies
 * without a session or a size are errors with no handle.
 */
#define SID2	"fedcba9876543210fedcba9876543210"
#define SID3	"00000000000000000000000000000003"
#define FORK_REQ(id)	"{\"id\":" #id ",\"op\":\"session.fork\"," \
			"\"session\":\"" SID "\"}"
ATF_TC_WITHOUT_HEAD(fork);
ATF_TC_BODY(fork, tc)
{
	static const struct step	 script[] = {
		HELLO, CREATE,
		{ RECV, FORK_REQ(3), 0 },
		{ SEND, "{\"id\":3,\"ok\":true,\"session\":\"" SID2 "\","
		    "\"forked_from\":\"" SID "\",\"hibernated\":true,"
		    "\"bytes\":4321,\"ms\":9.5,\"sandbox\":\"full\"}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"execute\",\"session\":\"" SID2
		    "\",\"code\":\"x\"}", 0 },
		{ SEND, "{\"id\":4,\"ok\":true,\"value\":" DBL1 ","
		    "\"visible\":true,\"printed\":\"[1] 1\\n\","
		    "\"truncated\":false,\"elapsed\":0.25,\"resumed\":"
		    "{\"ms\":12,\"bytes\":4321}}\n", 0 },
		{ RECV, EXEC_ID(5), 0 },
		{ SEND, "{\"id\":5,\"ok\":true,\"value\":" DBL1 ","
		    "\"visible\":true,\"printed\":\"[1] 1\\n\","
		    "\"truncated\":false,\"elapsed\":0.25}\n", 0 },
		{ RECV, FORK_REQ(6), 0 },
		{ SEND, "{\"id\":6,\"ok\":false,\"error\":{\"code\":"
		    "\"session_busy\",\"message\":\"a session can be forked "
		    "only when it is idle or hibernated\"}}\n", 0 },
		{ RECV, FORK_REQ(7), 0 },
		{ SEND, "{\"id\":7,\"ok\":true,\"bytes\":1}\n", 0 },
		{ RECV, FORK_REQ(8), 0 },
		{ SEND, "{\"id\":8,\"ok\":true,\"session\":\"" SID2 "\"}\n",
		    0 },
		{ END, 0, 0 }
	};
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s, *n;
	struct securer_result		 res;
	struct seen			 seen;
	uint64_t			 bytes;

	memset(&seen, 0, sizeof(seen));
	sc = fake_start(&f, script, 0);
	s = create(sc);
	ATF_REQUIRE_EQ_MSG(securer_session_fork(s, &n, &bytes), 0, "%s",
	    securer_errmsg(sc));
	ATF_REQUIRE(n != NULL && n != s);
	ATF_CHECK_EQ(bytes, 4321);
	ATF_CHECK_STREQ(securer_session_id(n), SID2);
	ATF_CHECK_STREQ(securer_session_sandbox(n), "full");
	ATF_CHECK_STREQ(securer_session_id(s), SID);
	/* Its first execution woke it; the source's did not. */
	ATF_REQUIRE_EQ_MSG(run(n, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_EQ(res.resumed, 1);
	ATF_CHECK_EQ(res.resume_bytes, 4321);
	securer_result_free(&res);
	ATF_REQUIRE_EQ_MSG(run(s, &seen, &res), 0, "%s", securer_errmsg(sc));
	ATF_CHECK_EQ(res.resumed, 0);
	securer_result_free(&res);
	/* Refused: the daemon's code, no handle, no size. */
	bytes = 7;
	ATF_CHECK_EQ(securer_session_fork(s, &n, &bytes), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "session_busy");
	ATF_CHECK(n == NULL);
	ATF_CHECK_EQ(bytes, 0);
	/* No session, or no size: the daemon is not making sense. */
	ATF_CHECK_EQ(securer_session_fork(s, &n, NULL), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EPROTO);
	ATF_CHECK(n == NULL);
	ATF_CHECK_EQ(securer_session_fork(s, &n, NULL), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EPROTO);
	ATF_CHECK(n == NULL);
	fake_finish(&f, sc);
}

/*
 * Named sessions: session.create says the name; session.attach takes a
 * kept one back by name, with the state the daemon says; refusals.
 */
ATF_TC_WITHOUT_HEAD(attach);
ATF_TC_BODY(attach, tc)
{
	static const struct step	 script[] = {
		HELLO,
		{ RECV, "{\"id\":2,\"op\":\"session.create\",\"name\":"
		    "\"work\"}", 0 },
		{ SEND, "{\"id\":2,\"ok\":true,\"session\":\"" SID "\","
		    "\"sandbox\":\"test\"}\n", 0 },
		{ RECV, "{\"id\":3,\"op\":\"session.attach\",\"name\":"
		    "\"work\"}", 0 },
		{ SEND, "{\"id\":3,\"ok\":false,\"error\":{\"code\":"
		    "\"session_in_use\",\"message\":\"the session is open on "
		    "another connection\"}}\n", 0 },
		{ RECV, "{\"id\":4,\"op\":\"session.attach\",\"name\":"
		    "\"old\"}", 0 },
		{ SEND, "{\"id\":4,\"ok\":true,\"session\":\"" SID2 "\","
		    "\"name\":\"old\",\"state\":\"hibernated\","
		    "\"sandbox\":\"test\"}\n", 0 },
		{ RECV, "{\"id\":5,\"op\":\"session.attach\",\"name\":"
		    "\"gone\"}", 0 },
		{ SEND, "{\"id\":5,\"ok\":false,\"error\":{\"code\":"
		    "\"no_such_session\",\"message\":\"no such session\"}}\n",
		    0 },
		{ RECV, "{\"id\":6,\"op\":\"session.attach\",\"session\":"
		    "\"" SID3 "\"}", 0 },
		{ SEND, "{\"id\":6,\"ok\":true,\"session\":\"" SID3 "\","
		    "\"name\":\"\",\"state\":\"hibernated\","
		    "\"sandbox\":\"test\"}\n", 0 },
		{ END, 0, 0 }
	};
	struct securer_session_opts	 so = { .timeout = -1,
					    .name = "work" };
	struct fake			 f;
	struct securer			*sc;
	struct securer_session		*s, *k;

	sc = fake_start(&f, script, 0);
	ATF_REQUIRE_EQ_MSG(securer_session_create(sc, &so, &s), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK(securer_session_state(s) == NULL);
	ATF_CHECK_EQ(securer_session_attach(sc, "work", &k), -1);
	ATF_CHECK_STREQ(securer_errname(sc), "session_in_use");
	ATF_CHECK(k == NULL);
	ATF_REQUIRE_EQ_MSG(securer_session_attach(sc, "old", &k), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_STREQ(securer_session_id(k), SID2);
	ATF_REQUIRE(securer_session_state(k) != NULL);
	ATF_CHECK_STREQ(securer_session_state(k), "hibernated");
	ATF_CHECK_EQ(securer_session_attach(sc, "gone", &k), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EREMOTE);
	ATF_CHECK_STREQ(securer_errname(sc), "no_such_session");
	ATF_CHECK_EQ(securer_session_attach(sc, NULL, &k), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	ATF_CHECK_EQ(securer_session_attach_id(sc, NULL, &k), -1);
	ATF_CHECK_EQ(securer_errcode(sc), SECURER_EINVAL);
	ATF_REQUIRE_EQ_MSG(securer_session_attach_id(sc, SID3, &k), 0, "%s",
	    securer_errmsg(sc));
	ATF_CHECK_STREQ(securer_session_id(k), SID3);
	ATF_CHECK_STREQ(securer_session_state(k), "hibernated");
	fake_finish(&f, sc);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, hello);
	ATF_TP_ADD_TC(tp, hello_refused);
	ATF_TP_ADD_TC(tp, hello_version);
	ATF_TP_ADD_TC(tp, framing);
	ATF_TP_ADD_TC(tp, tool_call);
	ATF_TP_ADD_TC(tp, tool_error);
	ATF_TP_ADD_TC(tp, execute_poll);
	ATF_TP_ADD_TC(tp, tool_refused);
	ATF_TP_ADD_TC(tp, error_reply);
	ATF_TP_ADD_TC(tp, hibernate);
	ATF_TP_ADD_TC(tp, fork);
	ATF_TP_ADD_TC(tp, attach);
	ATF_TP_ADD_TC(tp, stale_ids);
	ATF_TP_ADD_TC(tp, exact_double);
	ATF_TP_ADD_TC(tp, line_max);
	ATF_TP_ADD_TC(tp, line_too_long);
	ATF_TP_ADD_TC(tp, hangup);
	ATF_TP_ADD_TC(tp, hangup_mid_line);
	ATF_TP_ADD_TC(tp, dropped_slow);
	ATF_TP_ADD_TC(tp, not_json);
	ATF_TP_ADD_TC(tp, session_opts);
	ATF_TP_ADD_TC(tp, bad_args);
	ATF_TP_ADD_TC(tp, private_socket);
	ATF_TP_ADD_TC(tp, private_dir);
	ATF_TP_ADD_TC(tp, start_daemon);
	ATF_TP_ADD_TC(tp, start_race);
	ATF_TP_ADD_TC(tp, start_fails);
	return (atf_no_error());
}
