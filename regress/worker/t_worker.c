/*
 * Tests of securer-worker, driven directly over imsg as the monitor would
 * drive it: each case starts "securer-worker -S" with one end of a
 * socketpair on its fd 3, sets up tools, runs executions and checks the
 * exact messages that come back.  No daemon is involved.
 *
 * The worker binary is $SECURER_WORKER, else the configuration variable
 * "worker" (kyua -v test_suites.securer.worker=...), else securer-worker
 * in the configuration variable "build" (as regress/run.sh sets it), else
 * ../securer-worker from this program (build/regress/t_worker and
 * build/securer-worker).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "securerd.h"
#include "sanitizer.h"

#define WAIT_MS		60000
#define TRANSCRIPT_MAX	(256 * 1024)

#define TOOLS \
	"[{\"name\":\"add\",\"description\":\"Add\"," \
	"\"args\":{\"a\":\"numeric\",\"b\":\"numeric\"}}," \
	"{\"name\":\"echo\",\"description\":\"Its argument\"," \
	"\"args\":{\"x\":null}}," \
	"{\"name\":\"fail\",\"description\":\"Fails\",\"args\":{}}," \
	"{\"name\":\"bad\",\"description\":\"Malformed\",\"args\":{}}," \
	"{\"name\":\"now\",\"description\":\"No args\",\"args\":{}}]"

struct worker {
	pid_t		 pid;
	struct imsgbuf	 ib;
	uint32_t	 exec_id;
	const char	*bad;		/* what the "bad" tool answers */
	uint64_t	 max_value;	/* w_exec's, 0 the worker's default */
};

/* What an execution sent, the final message last. */
struct reply {
	uint32_t	 type;		/* IMSG_W_RESULT or IMSG_W_ERROR */
	int		 visible;
	char		*value;
	char		*printed;
	size_t		 printed_len;
	uint32_t	 kind;
	int		 line;
	int		 column;
	char		*msg;
	char		*call;
	char		*classes;
	uint32_t	 rflags;	/* w_result's */
	uint64_t	 omitted_size;
	char		*parts;		/* IMSG_W_RESULT_PARTs, in order */
	size_t		 partlen;
	int		 nparts;
	int		 nout;		/* output messages */
	char		 lasttag[64];	/* of the last piece of out */
	int		 ncalls;
	uint32_t	 last_call;
	int		 calls_ordered;
	char		 out[TRANSCRIPT_MAX];	/* outputs and tool calls */
	size_t		 outlen;
};

static char *
worker_path(const atf_tc_t *tc)
{
	static char	 path[PATH_MAX];
	char		 self[PATH_MAX];
	ssize_t		 n;

	if (getenv("SECURER_WORKER") != NULL)
		return (getenv("SECURER_WORKER"));
	if (atf_tc_has_config_var(tc, "worker"))
		return ((char *)atf_tc_get_config_var(tc, "worker"));
	if (atf_tc_has_config_var(tc, "build")) {
		snprintf(path, sizeof(path), "%s/securer-worker",
		    atf_tc_get_config_var(tc, "build"));
		return (path);
	}
	ATF_REQUIRE((n = readlink("/proc/self/exe", self,
	    sizeof(self) - 1)) > 0);
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/../securer-worker", dirname(self));
	return (path);
}

static void
w_start(struct worker *w, const atf_tc_t *tc)
{
	char	*path = worker_path(tc);
	int	 sv[2];

	memset(w, 0, sizeof(*w));
	ATF_REQUIRE_MSG(access(path, X_OK) == 0, "%s: %s", path,
	    strerror(errno));
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE((w->pid = fork()) != -1);
	if (w->pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(126);
		closefrom(4);
		execl(path, "securer-worker", "-S", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	ATF_REQUIRE(imsgbuf_init(&w->ib, sv[0]) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w->ib, WORKER_IMSG_MAX) == 0);
	w->bad = "{\"type\":\"double\",\"value\":[1,\"x\"]}";
}

/* Close the channel and return how the worker ended. */
static int
w_stop(struct worker *w)
{
	int	 status;

	close(w->ib.fd);
	imsgbuf_clear(&w->ib);
	ATF_REQUIRE(waitpid(w->pid, &status, 0) == w->pid);
	return (status);
}

static void
w_send(struct worker *w, uint32_t type, uint32_t id, const void *a,
    size_t alen, const void *b, size_t blen)
{
	struct iovec	 iov[2];

	iov[0].iov_base = (void *)a;
	iov[0].iov_len = alen;
	iov[1].iov_base = (void *)b;
	iov[1].iov_len = blen;
	ATF_REQUIRE(imsg_composev(&w->ib, type, id, 0, -1, iov, 2) == 0);
	ATF_REQUIRE(imsgbuf_flush(&w->ib) == 0);
}

/* The next message; 0 on EOF.  Fails the test if nothing comes. */
static int
recv_on(struct imsgbuf *ib, struct imsg *imsg)
{
	struct pollfd	 pfd = { .fd = ib->fd, .events = POLLIN };
	ssize_t		 n;

	while ((n = imsg_get(ib, imsg)) == 0) {
		ATF_REQUIRE_MSG(poll(&pfd, 1, WAIT_MS) == 1,
		    "no message from the worker");
		if ((n = imsgbuf_read(ib)) == 0)
			return (0);
		ATF_REQUIRE(n == 1);
	}
	ATF_REQUIRE(n > 0);
	return (1);
}

static int
w_recv(struct worker *w, struct imsg *imsg)
{
	return (recv_on(&w->ib, imsg));
}

/* A forked worker says it waits (empty), before anything else. */
static void
w_waiting(struct worker *w)
{
	struct imsg	 imsg;

	ATF_REQUIRE(w_recv(w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_READY);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), 0);
	imsg_free(&imsg);
}

static void
w_setup(struct worker *w, const char *tools)
{
	struct w_setup_done	 wr;
	struct imsg		 imsg;
	struct w_setup		 ws = { strlen(tools) };

	w_send(w, IMSG_W_SETUP, 0, &ws, sizeof(ws), tools, ws.tools_len);
	ATF_REQUIRE(w_recv(w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_SETUP_DONE);
	ATF_REQUIRE(imsg_get_data(&imsg, &wr, sizeof(wr)) == 0);
	ATF_CHECK_EQ(wr.pid, w->pid);
	imsg_free(&imsg);
}

/*
 * What an execution sent, each piece tagged; consecutive pieces of one
 * stream under one tag, as how the worker batches lines into messages
 * depends on time (nout counts the messages).
 */
static void
transcript(struct reply *r, const char *tag, const char *text, size_t len)
{
	int	 n;

	/* A copy: a tag may be built on its caller's stack. */
	if (strcmp(r->lasttag, tag) == 0 && strncmp(tag, "call ", 5) != 0)
		tag = NULL;
	else
		strlcpy(r->lasttag, tag, sizeof(r->lasttag));
	n = snprintf(r->out + r->outlen, sizeof(r->out) - r->outlen,
	    "%s%s%s%.*s", tag != NULL ? "[" : "", tag != NULL ? tag : "",
	    tag != NULL ? "]" : "", (int)len, text);
	ATF_REQUIRE(n > 0 && (size_t)n < sizeof(r->out) - r->outlen);
	r->outlen += n;
}

static int
has_prefix(const char *s, const char *prefix)
{
	return (strncmp(s, prefix, strlen(prefix)) == 0);
}

static char *
dupmem(const void *p, size_t len)
{
	char	*s;

	ATF_REQUIRE((s = malloc(len + 1)) != NULL);
	memcpy(s, p, len);
	s[len] = '\0';
	return (s);
}

/* The test tools, as a client would implement them. */
static char *
tool_answer(struct worker *w, const char *name, const char *args,
    uint32_t *is_error)
{
	cJSON	*j, *a, *b;
	char	 buf[64];
	char	*s;

	*is_error = 0;
	ATF_REQUIRE((j = cJSON_Parse(args)) != NULL);
	if (strcmp(name, "add") == 0) {
		a = cJSON_GetArrayItem(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(j, "a"), "value"), 0);
		b = cJSON_GetArrayItem(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(j, "b"), "value"), 0);
		ATF_REQUIRE(cJSON_IsNumber(a) && cJSON_IsNumber(b));
		snprintf(buf, sizeof(buf), "{\"type\":\"double\","
		    "\"value\":[%.17g]}", a->valuedouble + b->valuedouble);
		s = strdup(buf);
	} else if (strcmp(name, "echo") == 0)
		s = json_print(cJSON_GetObjectItem(j, "x"), NULL);
	else if (strcmp(name, "fail") == 0) {
		*is_error = 1;
		s = strdup("tool failed: nope");
	} else if (strcmp(name, "bad") == 0)
		s = strdup(w->bad);
	else
		s = strdup("{\"type\":\"character\",\"value\":[\"now\"]}");
	ATF_REQUIRE(s != NULL);
	cJSON_Delete(j);
	return (s);
}

static void
on_tool_call(struct worker *w, struct imsg *imsg, struct reply *r)
{
	struct w_tool_call	 tc;
	struct w_tool_result	 tr;
	char			*name, *args, *ans, tag[32];
	size_t			 len = imsg_get_len(imsg);

	ATF_REQUIRE(len >= sizeof(tc));
	memcpy(&tc, imsg->data, sizeof(tc));
	ATF_REQUIRE_EQ(len, sizeof(tc) + tc.name_len + tc.args_len);
	name = dupmem((char *)imsg->data + sizeof(tc), tc.name_len);
	args = dupmem((char *)imsg->data + sizeof(tc) + tc.name_len,
	    tc.args_len);
	if (r->ncalls > 0 && imsg_get_id(imsg) <= r->last_call)
		r->calls_ordered = 0;
	r->last_call = imsg_get_id(imsg);
	r->ncalls++;
	if (r->ncalls <= 3) {
		snprintf(tag, sizeof(tag), "call %s", name);
		transcript(r, tag, args, strlen(args));
	}
	ans = tool_answer(w, name, args, &tr.is_error);
	tr.len = strlen(ans);
	w_send(w, IMSG_W_TOOL_RESULT, imsg_get_id(imsg), &tr, sizeof(tr),
	    ans, tr.len);
	free(ans);
	free(name);
	free(args);
}

static void
on_output(struct imsg *imsg, struct reply *r)
{
	static const char	*tags[] = { "?", "out", "err", "msg", "warn" };
	struct w_output		 wo;
	size_t			 len = imsg_get_len(imsg);

	ATF_REQUIRE(len >= sizeof(wo));
	memcpy(&wo, imsg->data, sizeof(wo));
	ATF_REQUIRE_EQ(len, sizeof(wo) + wo.len);
	ATF_REQUIRE(wo.stream >= STREAM_STDOUT && wo.stream <= STREAM_WARNING);
	ATF_REQUIRE(utf8_valid((char *)imsg->data + sizeof(wo), wo.len));
	r->nout++;
	transcript(r, tags[wo.stream], (char *)imsg->data + sizeof(wo),
	    wo.len);
}

static void
on_result(struct imsg *imsg, struct reply *r)
{
	struct w_result	 wr;
	const char	*p = (char *)imsg->data + sizeof(wr);
	size_t		 len = imsg_get_len(imsg);

	ATF_REQUIRE(len >= sizeof(wr));
	memcpy(&wr, imsg->data, sizeof(wr));
	ATF_REQUIRE_EQ(len, sizeof(wr) + wr.value_len + wr.printed_len);
	ATF_REQUIRE_EQ(wr.value_total, r->partlen + wr.value_len);
	r->visible = wr.visible;
	r->rflags = wr.flags;
	r->omitted_size = wr.omitted_size;
	ATF_REQUIRE((r->parts = realloc(r->parts, r->partlen + wr.value_len +
	    1)) != NULL);
	memcpy(r->parts + r->partlen, p, wr.value_len);
	r->parts[r->partlen + wr.value_len] = '\0';
	r->value = r->parts;
	r->parts = NULL;
	r->printed = dupmem(p + wr.value_len, wr.printed_len);
	r->printed_len = wr.printed_len;
}

static void
on_error(struct imsg *imsg, struct reply *r)
{
	struct w_error	 we;
	const char	*p = (char *)imsg->data + sizeof(we);
	size_t		 len = imsg_get_len(imsg);

	ATF_REQUIRE(len >= sizeof(we));
	memcpy(&we, imsg->data, sizeof(we));
	ATF_REQUIRE_EQ(len, sizeof(we) + we.msg_len + we.call_len +
	    we.classes_len);
	r->kind = we.kind;
	r->classes = dupmem(p + we.msg_len + we.call_len, we.classes_len);
	r->line = we.line;
	r->column = we.column;
	r->msg = dupmem(p, we.msg_len);
	r->call = dupmem(p + we.msg_len, we.call_len);
}

/* Run code; 0 if the worker ended instead of answering. */
static int
w_exec_flags(struct worker *w, const char *code, uint32_t flags,
    struct reply *r)
{
	struct w_exec	 we;
	struct imsg	 imsg;
	uint32_t	 id = ++w->exec_id;
	size_t		 len;

	memset(r, 0, sizeof(*r));
	memset(&we, 0, sizeof(we));
	r->calls_ordered = 1;
	we.flags = flags;
	we.max_value = w->max_value;
	we.code_len = strlen(code);
	w_send(w, IMSG_W_EXEC, id, &we, sizeof(we), code, we.code_len);
	for (;;) {
		if (w_recv(w, &imsg) == 0)
			return (0);
		r->type = imsg_get_type(&imsg);
		if (r->type != IMSG_W_TOOL_CALL)
			ATF_REQUIRE_EQ(imsg_get_id(&imsg), id);
		switch (r->type) {
		case IMSG_W_OUTPUT:
			on_output(&imsg, r);
			break;
		case IMSG_W_TOOL_CALL:
			on_tool_call(w, &imsg, r);
			break;
		case IMSG_W_RESULT_PART:
			len = imsg_get_len(&imsg);
			ATF_REQUIRE(len > 0 && len <= WORKER_PART_MAX);
			ATF_REQUIRE((r->parts = realloc(r->parts,
			    r->partlen + len)) != NULL);
			memcpy(r->parts + r->partlen, imsg.data, len);
			r->partlen += len;
			r->nparts++;
			break;
		case IMSG_W_RESULT:
			on_result(&imsg, r);
			imsg_free(&imsg);
			return (1);
		case IMSG_W_ERROR:
			on_error(&imsg, r);
			imsg_free(&imsg);
			return (1);
		default:
			atf_tc_fail("unexpected message %u", r->type);
		}
		imsg_free(&imsg);
	}
}

static void
w_exec(struct worker *w, const char *code, struct reply *r)
{
	ATF_REQUIRE_MSG(w_exec_flags(w, code, 0, r) == 1,
	    "the worker ended running %s", code);
}

static void
reply_free(struct reply *r)
{
	free(r->value);
	free(r->printed);
	free(r->msg);
	free(r->call);
	free(r->classes);
	free(r->parts);
	memset(r, 0, sizeof(*r));
}

/* code's value must be json, visibly, with no output (tool calls ok). */
static void
check_value(struct worker *w, const char *code, const char *json)
{
	struct reply	 r;

	w_exec(w, code, &r);
	ATF_REQUIRE_EQ_MSG(r.type, IMSG_W_RESULT, "%s: %s", code,
	    r.msg != NULL ? r.msg : "");
	ATF_CHECK_STREQ_MSG(r.value, json, "value of %s", code);
	ATF_CHECK_EQ_MSG(r.visible, 1, "%s", code);
	ATF_CHECK_EQ_MSG(r.nout, 0, "%s: output %s", code, r.out);
	reply_free(&r);
}

static void
check_printed(struct worker *w, const char *code, const char *printed)
{
	struct reply	 r;

	w_exec(w, code, &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_RESULT);
	ATF_CHECK_STREQ_MSG(r.printed, printed, "printed form of %s", code);
	reply_free(&r);
}

static void
check_error(struct worker *w, const char *code, uint32_t kind,
    const char *msg, const char *call)
{
	struct reply	 r;

	w_exec(w, code, &r);
	ATF_REQUIRE_EQ_MSG(r.type, IMSG_W_ERROR, "%s: no error", code);
	ATF_CHECK_EQ_MSG(r.kind, kind, "%s", code);
	ATF_CHECK_STREQ_MSG(r.msg, msg, "message of %s", code);
	ATF_CHECK_STREQ_MSG(r.call, call, "call of %s", code);
	reply_free(&r);
}

static void
check_output(struct worker *w, const char *code, uint32_t flags,
    const char *out)
{
	struct reply	 r;

	ATF_REQUIRE(w_exec_flags(w, code, flags, &r) == 1);
	ATF_CHECK_STREQ_MSG(r.out, out, "output of %s", code);
	reply_free(&r);
}

static void
start(struct worker *w, const atf_tc_t *tc)
{
	w_start(w, tc);
	w_setup(w, TOOLS);
}

static void
finish(struct worker *w)
{
	int	 status = w_stop(w);

	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "worker status %#x", status);
}

ATF_TC_WITHOUT_HEAD(values_atomic);
ATF_TC_BODY(values_atomic, tc)
{
	struct worker	 w;

	start(&w, tc);
	check_value(&w, "1L", "{\"type\":\"integer\",\"value\":[1]}");
	check_value(&w, "TRUE", "{\"type\":\"logical\",\"value\":[true]}");
	check_value(&w, "NULL", "null");
	check_value(&w, "NA", "{\"type\":\"logical\",\"value\":[null]}");
	check_value(&w, "NA_integer_",
	    "{\"type\":\"integer\",\"value\":[null]}");
	check_value(&w, "NA_real_", "{\"type\":\"double\",\"value\":[null]}");
	check_value(&w, "NA_character_",
	    "{\"type\":\"character\",\"value\":[null]}");
	check_value(&w, "NA_complex_",
	    "{\"type\":\"complex\",\"value\":[null]}");
	check_value(&w, "c(NaN, Inf, -Inf, NA, -0, 1e21, 5e-324)",
	    "{\"type\":\"double\",\"value\":[\"NaN\",\"Inf\",\"-Inf\","
	    "null,-0,1e+21,4.94065645841247e-324]}");
	check_value(&w, "1/3", "{\"type\":\"double\","
	    "\"value\":[0.3333333333333333]}");
	check_value(&w, "complex(real = 1.5, imaginary = -2)",
	    "{\"type\":\"complex\",\"value\":[[1.5,-2]]}");
	check_value(&w, "as.raw(c(0, 1, 255))",
	    "{\"type\":\"raw\",\"value\":\"AAH/\"}");
	check_value(&w, "raw(0)", "{\"type\":\"raw\",\"value\":\"\"}");
	check_value(&w, "c(\"caf\\u00e9\", \"q\\\"\\\\\\n\\t\\001\")",
	    "{\"type\":\"character\",\"value\":[\"caf\xc3\xa9\","
	    "\"q\\\"\\\\\\n\\t\\u0001\"]}");
	check_value(&w, "character(0)",
	    "{\"type\":\"character\",\"value\":[]}");
	finish(&w);
}

/* 0.1 + 0.2 is not 0.3: the bits come back as they were. */
ATF_TC_WITHOUT_HEAD(values_double_bits);
ATF_TC_BODY(values_double_bits, tc)
{
	volatile double	 a = 0.1, b = 0.2, sum = a + b, back;
	struct worker	 w;
	struct reply	 r;
	cJSON		*j;

	start(&w, tc);
	w_exec(&w, "0.1 + 0.2", &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_RESULT);
	ATF_CHECK_STREQ(r.value,
	    "{\"type\":\"double\",\"value\":[0.30000000000000004]}");
	ATF_CHECK_STREQ(r.printed, "[1] 0.3\n");
	ATF_REQUIRE((j = cJSON_Parse(r.value)) != NULL);
	back = strtod("0.30000000000000004", NULL);
	ATF_CHECK(memcmp((void *)&back, (void *)&sum, sizeof(sum)) == 0);
	cJSON_Delete(j);
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(values_attributes);
ATF_TC_BODY(values_attributes, tc)
{
	struct worker	 w;

	start(&w, tc);
	check_value(&w, "c(a = 1, b = 2)", "{\"type\":\"double\","
	    "\"value\":[1,2],\"attributes\":{\"names\":{\"type\":"
	    "\"character\",\"value\":[\"a\",\"b\"]}}}");
	check_value(&w, "list(1, \"a\", NULL)", "{\"type\":\"list\","
	    "\"value\":[{\"type\":\"double\",\"value\":[1]},{\"type\":"
	    "\"character\",\"value\":[\"a\"]},null]}");
	check_value(&w, "factor(c(\"a\", \"b\", \"a\"))",
	    "{\"type\":\"integer\",\"value\":[1,2,1],\"attributes\":"
	    "{\"levels\":{\"type\":\"character\",\"value\":[\"a\",\"b\"]},"
	    "\"class\":{\"type\":\"character\",\"value\":[\"factor\"]}}}");
	check_value(&w, "data.frame(x = 1:2, y = c(\"a\", \"b\"))",
	    "{\"type\":\"list\",\"value\":[{\"type\":\"integer\","
	    "\"value\":[1,2]},{\"type\":\"character\",\"value\":"
	    "[\"a\",\"b\"]}],\"attributes\":{\"names\":{\"type\":"
	    "\"character\",\"value\":[\"x\",\"y\"]},\"class\":{\"type\":"
	    "\"character\",\"value\":[\"data.frame\"]},\"row.names\":"
	    "{\"type\":\"integer\",\"value\":[null,-2]}}}");
	check_value(&w, "as.Date(\"2024-01-02\")", "{\"type\":\"double\","
	    "\"value\":[19724],\"attributes\":{\"class\":{\"type\":"
	    "\"character\",\"value\":[\"Date\"]}}}");
	check_value(&w, "matrix(1:4, 2)", "{\"type\":\"integer\","
	    "\"value\":[1,2,3,4],\"attributes\":{\"dim\":{\"type\":"
	    "\"integer\",\"value\":[2,2]}}}");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(values_unsupported);
ATF_TC_BODY(values_unsupported, tc)
{
	struct worker	 w;
	struct reply	 r;
	const char	*want;

	start(&w, tc);
	/* Stand-ins: source, text to parse, names; never the thing. */
	check_value(&w, "function(x) x", "{\"type\":\"function\","
	    "\"value\":\"function (x) \\nx\"}");
	check_value(&w, "quote(a + b)", "{\"type\":\"language\","
	    "\"value\":\"a + b\"}");
	check_value(&w, "list(1, as.name(\"s\"))", "{\"type\":\"list\","
	    "\"value\":[{\"type\":\"double\",\"value\":[1]},{\"type\":"
	    "\"symbol\",\"value\":\"s\"}]}");
	check_value(&w, "globalenv()", "{\"type\":\"environment\","
	    "\"value\":\"R_GlobalEnv\"}");
	check_value(&w, "y ~ x", "{\"type\":\"language\",\"value\":"
	    "\"y ~ x\",\"attributes\":{\"class\":{\"type\":\"character\","
	    "\"value\":[\"formula\"]},\".Environment\":{\"type\":"
	    "\"environment\",\"value\":\"R_GlobalEnv\"}}}");
	check_value(&w, "quote(f(0.1, 1L))", "{\"type\":\"language\","
	    "\"value\":\"f(0.10000000000000001, 1L)\"}");
	/* What cannot cross goes whole, with the path of the part. */
	w_exec(&w, "list(a = list(b = compiler::compile(1)))", &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_RESULT);
	want = "{\"type\":\"unsupported\",\"rtype\":\"bytecode\","
	    "\"path\":\"$a$b\",\"printed\":\"$a\\n$a$b\\n<bytecode: ";
	ATF_CHECK_MSG(strncmp(r.value, want, strlen(want)) == 0, "%s",
	    r.value);
	reply_free(&r);
	w_exec(&w, "e <- new.env(); class(e) <- 'R6'; structure(1, obj = e)",
	    &r);
	want = "{\"type\":\"unsupported\",\"rtype\":\"environment with a "
	    "class\",\"path\":\" attr(\\\"obj\\\")\",\"printed\":";
	ATF_CHECK_MSG(strncmp(r.value, want, strlen(want)) == 0, "%s",
	    r.value);
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(printed_form);
ATF_TC_BODY(printed_form, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	check_printed(&w, "1 + 1", "[1] 2\n");
	check_printed(&w, "c(a = 1, b = 2)", "a b \n1 2 \n");
	check_printed(&w, "print.foo <- function(x, ...) cat(\"<foo>\\n\"); "
	    "structure(1, class = \"foo\")", "<foo>\n");
	check_printed(&w, "print.foo <- function(x, ...) stop(\"no way\"); "
	    "structure(1, class = \"foo\")",
	    "Error while printing the value: no way\n");

	w_exec(&w, "invisible(5)", &r);
	ATF_CHECK_EQ(r.visible, 0);
	ATF_CHECK_STREQ(r.value, "{\"type\":\"double\",\"value\":[5]}");
	ATF_CHECK_STREQ(r.printed, "");
	reply_free(&r);

	/* Cut at 1 MiB, with a note that says so. */
	w_exec(&w, "print.foo <- function(x, ...) cat(strrep(\"x\", 2e6)); "
	    "structure(1, class = \"foo\")", &r);
	ATF_CHECK_EQ(r.printed_len, 1024 * 1024);
	ATF_CHECK(strstr(r.printed, "\n[... printed form cut at 1048576 "
	    "bytes]\n") != NULL);
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(state_persists);
ATF_TC_BODY(state_persists, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "x <- 41", &r);
	ATF_CHECK_EQ(r.visible, 0);
	reply_free(&r);
	check_value(&w, "x + 1", "{\"type\":\"double\",\"value\":[42]}");
	/* Clearing globalenv does not break the worker. */
	w_exec(&w, "rm(list = ls(all.names = TRUE))", &r);
	reply_free(&r);
	check_value(&w, "exists(\"x\")",
	    "{\"type\":\"logical\",\"value\":[false]}");
	check_value(&w, "add(1, 1)", "{\"type\":\"double\",\"value\":[2]}");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(output_order);
ATF_TC_BODY(output_order, tc)
{
	struct worker	 w;

	start(&w, tc);
	check_output(&w, "cat(\"a\"); cat(\"b\\n\", file = stderr()); "
	    "cat(\"c\\n\"); print(\"p\"); message(\"m\"); warning(\"w\"); "
	    "cat(\"d\"); cat(\"e\\n\"); log(-1); cat(\"tail\")", 0,
	    "[out]a[err]b\n[out]c\n[1] \"p\"\n[msg]m\n[warn]w"
	    "[out]de\n[warn]NaNs produced[out]tail");
	/* Output before a tool call goes out before it. */
	check_output(&w, "cat(\"before \"); add(1, 2); cat(\"after\\n\")", 0,
	    "[out]before [call add]{\"a\":{\"type\":\"double\","
	    "\"value\":[1]},\"b\":{\"type\":\"double\",\"value\":[2]}}"
	    "[out]after\n");
	/* options(warn) as R has it: ignored below 0, errors from 2. */
	check_output(&w, "options(warn = -1); warning(\"quiet\"); "
	    "options(warn = 0)", 0, "");
	check_error(&w, "options(warn = 2); as.integer(\"x\")", WERR_R,
	    "(converted from warning) NAs introduced by coercion", "");
	check_output(&w, "options(warn = 0)", 0, "");
	/* Messages and warnings inside the user's handlers stay theirs. */
	check_output(&w, "suppressWarnings(warning(\"x\")); "
	    "tryCatch(message(\"y\"), message = function(m) "
	    "cat(\"caught\\n\"))", 0, "[out]caught\n");
	finish(&w);
}

/*
 * Output is sent in chunks of at most W_CHUNK_MAX (32 KiB), never
 * cutting a character; lines close together go in one message, a line
 * after a quiet spell at once.
 */
ATF_TC_WITHOUT_HEAD(output_chunks);
ATF_TC_BODY(output_chunks, tc)
{
	struct worker	 w;
	struct reply	 r;
	char		*want, *p;
	size_t		 i;

	start(&w, tc);
	w_exec(&w, "cat(\"a\", strrep(\"\\u00e9\", 20000), \"\\n\", sep = \"\")",
	    &r);
	ATF_REQUIRE((want = malloc(65536)) != NULL);
	p = want;
	p += sprintf(p, "[out]a");
	for (i = 0; i < 20000; i++)
		p += sprintf(p, "\xc3\xa9");
	sprintf(p, "\n");
	ATF_CHECK_STREQ(r.out, want);
	/* 40002 bytes: 32767 (the last character whole), then the rest. */
	ATF_CHECK_EQ(r.nout, 2);
	free(want);
	reply_free(&r);
	/* Ten thousand lines in a few messages, not ten thousand. */
	w_exec(&w, "for (i in 1:10000) cat(\"line\", i, \"\\n\")", &r);
	ATF_CHECK_MSG(r.nout < 100, "%d messages", r.nout);
	ATF_CHECK(strstr(r.out, "line 10000 \n") != NULL);
	reply_free(&r);
	/* A line then a pause: the line went before the pause ended. */
	w_exec(&w, "cat(\"a\\n\"); Sys.sleep(0.3); cat(\"b\\n\")", &r);
	ATF_CHECK_EQ(r.nout, 2);
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(echo);
ATF_TC_BODY(echo, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	ATF_REQUIRE(w_exec_flags(&w, "1; invisible(2); x <- 3; \"s\"; "
	    "print(\"p\"); 4", EXEC_ECHO, &r) == 1);
	ATF_CHECK_STREQ(r.out, "[out][1] 1\n[1] \"s\"\n[1] \"p\"\n");
	ATF_CHECK_STREQ(r.value, "{\"type\":\"double\",\"value\":[4]}");
	ATF_CHECK_STREQ(r.printed, "[1] 4\n");
	reply_free(&r);
	check_output(&w, "1; invisible(2); x <- 3; \"s\"; 4", 0, "");
	finish(&w);
}

/* A syntax error anywhere: the message R gives, and nothing runs. */
ATF_TC_WITHOUT_HEAD(parse_error);
ATF_TC_BODY(parse_error, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "before <- 1\nf(x y)", &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_ERROR);
	ATF_CHECK_EQ(r.kind, WERR_PARSE);
	ATF_CHECK_STREQ(r.msg, "<text>:2:5: unexpected symbol\n"
	    "1: before <- 1\n2: f(x y\n       ^");
	ATF_CHECK_EQ(r.line, 2);
	ATF_CHECK_EQ(r.column, 5);
	ATF_CHECK_STREQ(r.call, "");
	ATF_CHECK_EQ(r.outlen, 0);
	reply_free(&r);
	check_value(&w, "exists(\"before\")",
	    "{\"type\":\"logical\",\"value\":[false]}");

	w_exec(&w, "x <- 1 {", &r);
	ATF_CHECK_EQ(r.kind, WERR_PARSE);
	ATF_CHECK_STREQ(r.msg, "<text>:1:8: unexpected '{'\n"
	    "1: x <- 1 {\n           ^");
	ATF_CHECK_EQ(r.line, 1);
	ATF_CHECK_EQ(r.column, 8);
	reply_free(&r);

	w_exec(&w, "f(", &r);
	ATF_CHECK_EQ(r.kind, WERR_PARSE);
	ATF_CHECK_STREQ(r.msg, "<text>:2:0: unexpected end of input\n"
	    "1: f(\n   ^");
	ATF_CHECK_EQ(r.line, 2);
	ATF_CHECK_EQ(r.column, 0);
	reply_free(&r);

	/* Empty code is no expression: NULL, invisibly. */
	w_exec(&w, "", &r);
	ATF_CHECK_EQ(r.type, IMSG_W_RESULT);
	ATF_CHECK_STREQ(r.value, "null");
	ATF_CHECK_EQ(r.visible, 0);
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(r_error);
ATF_TC_BODY(r_error, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	check_error(&w, "stop(\"top\")", WERR_R, "top", "");
	check_error(&w, "f <- function() stop(\"boom\"); f()", WERR_R, "boom",
	    "f()");
	check_error(&w, "1 + \"a\"", WERR_R,
	    "non-numeric argument to binary operator", "1 + \"a\"");
	check_error(&w, "undefined_thing", WERR_R,
	    "object 'undefined_thing' not found", "");
	check_error(&w, "g <- function(n) g(n + 1); "
	    "options(expressions = 500); g(1)", WERR_R,
	    "evaluation nested too deeply: infinite recursion / "
	    "options(expressions=)?", "");
	/* Deeper, R runs out of C stack first, and says so. */
	w_exec(&w, "options(expressions = 500000); g(1)", &r);
	ATF_CHECK_EQ(r.kind, WERR_R);
	ATF_CHECK_MSG(strncmp(r.msg, "C stack usage ", 14) == 0, "%s", r.msg);
	reply_free(&r);
	/* An error after output: the output first. */
	w_exec(&w, "cat(\"partial\\n\"); stop(\"late\")", &r);
	ATF_CHECK_STREQ(r.out, "[out]partial\n");
	ATF_CHECK_STREQ(r.msg, "late");
	reply_free(&r);
	/* A jump to the top level that no handler sees. */
	check_error(&w, "invokeRestart(\"abort\")", WERR_R,
	    "the execution was aborted without a result", "");
	check_value(&w, "1L", "{\"type\":\"integer\",\"value\":[1]}");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(tool_roundtrip);
ATF_TC_BODY(tool_roundtrip, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "add(1, 2)", &r);
	ATF_CHECK_STREQ(r.out, "[call add]{\"a\":{\"type\":\"double\","
	    "\"value\":[1]},\"b\":{\"type\":\"double\",\"value\":[2]}}");
	ATF_CHECK_STREQ(r.value, "{\"type\":\"double\",\"value\":[3]}");
	ATF_CHECK_EQ(r.ncalls, 1);
	reply_free(&r);
	/* Values survive the trip out and back. */
	check_value(&w, "v <- list(a = 1L, b = c(x = \"s\", y = NA), "
	    "c = NULL, d = data.frame(x = 1:2, y = c(\"a\", \"b\")), "
	    "e = factor(c(\"q\", \"r\")), f = as.Date(\"2024-01-02\"), "
	    "g = c(1+2i, NA), h = as.raw(0:255), i = c(NA, TRUE), "
	    "j = matrix(c(0.1 + 0.2, -0, NaN, Inf), 2), k = -Inf, "
	    "l = list(list(NA_character_)), m = raw(0), n = \"\\u00e9\"); "
	    "identical(echo(v), v)", "{\"type\":\"logical\",\"value\":[true]}");
	check_value(&w, "1 / echo(-0)",
	    "{\"type\":\"double\",\"value\":[\"-Inf\"]}");
	check_value(&w, "echo(NULL)", "null");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(tool_error);
ATF_TC_BODY(tool_error, tc)
{
	struct worker	 w;

	start(&w, tc);
	check_value(&w, "tryCatch(fail(), error = function(e) "
	    "list(conditionMessage(e), conditionCall(e)))",
	    "{\"type\":\"list\",\"value\":[{\"type\":\"character\","
	    "\"value\":[\"tool failed: nope\"]},null]}");
	check_error(&w, "fail()", WERR_R, "tool failed: nope", "");
	finish(&w);
}

/* Malformed values from a client are R errors, never crashes. */
ATF_TC_WITHOUT_HEAD(tool_bad_value);
ATF_TC_BODY(tool_bad_value, tc)
{
	static const struct {
		const char	*value;
		const char	*msg;
	} cases[] = {
		{ "{\"type\":\"double\",\"value\":[1,\"x\"]}",
		    "element 2 of a double vector is not valid" },
		{ "[1", "not JSON" },
		{ "null x", "text after the JSON value" },
		{ "{\"value\":[1]}", "a value has no \\\"type\\\"" },
		{ "{\"type\":\"integer\",\"value\":[1.5]}",
		    "element 1 of a integer vector is not valid" },
		{ "{\"type\":\"integer\",\"value\":[2147483648]}",
		    "element 1 of a integer vector is not valid" },
		{ "{\"type\":\"list\",\"value\":[{\"type\":\"zz\","
		    "\"value\":1}]}", "unknown type \\\"zz\\\"" },
		{ "{\"type\":\"double\",\"value\":[1,2],\"attributes\":"
		    "{\"dim\":{\"type\":\"integer\",\"value\":[3]}}}",
		    "dims [product 3] do not match the length of object [2]" },
		{ "{\"type\":\"raw\",\"value\":\"AQ=\"}",
		    "bad base64 in a raw vector" },
		{ "{\"type\":\"language\",\"value\":\"f(); g()\"}",
		    "a call's text is not one call" },
		{ "{\"type\":\"double\",\"bin\":\"AAAA\"}",
		    "bad \\\"bin\\\" in a double vector" },
		{ "{\"type\":\"logical\",\"value\":{}}",
		    "the value of a logical vector is not an array" },
	};
	struct worker	 w;
	char		 want[512];
	size_t		 i;

	start(&w, tc);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w.bad = cases[i].value;
		snprintf(want, sizeof(want), "{\"type\":\"character\","
		    "\"value\":[\"invalid value from tool 'bad': %s\"]}",
		    cases[i].msg);
		check_value(&w, "tryCatch(bad(), error = function(e) "
		    "conditionMessage(e))", want);
	}
	/* What cannot cross is a stand-in, the client's value or not. */
	w.bad = "{\"type\":\"unsupported\",\"rtype\":\"closure\","
	    "\"printed\":\"f\"}";
	check_value(&w, "class(bad())", "{\"type\":\"character\","
	    "\"value\":[\"securer_unsupported\"]}");
	w.bad = "{\"type\":\"complex\",\"value\":[[1,\"-Inf\"],null]}";
	check_value(&w, "bad()", "{\"type\":\"complex\",\"value\":"
	    "[[1,\"-Inf\"],null]}");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(tool_loop);
ATF_TC_BODY(tool_loop, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "s <- 0; for (i in 1:1000) s <- add(s, i); s", &r);
	ATF_CHECK_STREQ(r.value, "{\"type\":\"double\",\"value\":[500500]}");
	ATF_CHECK_EQ(r.ncalls, 1000);
	ATF_CHECK(r.calls_ordered);
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(tool_nested);
ATF_TC_BODY(tool_nested, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "f <- function(x) x * 2; f(add(1, add(2, 3)))", &r);
	ATF_CHECK_STREQ(r.out, "[call add]{\"a\":{\"type\":\"double\","
	    "\"value\":[2]},\"b\":{\"type\":\"double\",\"value\":[3]}}"
	    "[call add]{\"a\":{\"type\":\"double\",\"value\":[1]},"
	    "\"b\":{\"type\":\"double\",\"value\":[5]}}");
	ATF_CHECK_STREQ(r.value, "{\"type\":\"double\",\"value\":[12]}");
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(tool_zero_args);
ATF_TC_BODY(tool_zero_args, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "now()", &r);
	ATF_CHECK_STREQ(r.out, "[call now]{}");
	ATF_CHECK_STREQ(r.value,
	    "{\"type\":\"character\",\"value\":[\"now\"]}");
	reply_free(&r);
	check_error(&w, "now(1)", WERR_R, "unused argument (1)", "now(1)");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(tool_missing_arg);
ATF_TC_BODY(tool_missing_arg, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "add(1)", &r);
	ATF_CHECK_EQ(r.type, IMSG_W_ERROR);
	ATF_CHECK_STREQ(r.msg, "argument \"b\" is missing, with no default");
	ATF_CHECK_STREQ(r.call, "add(1)");
	ATF_CHECK_EQ(r.ncalls, 0);
	reply_free(&r);
	/* Tools are on the search path, not in globalenv. */
	check_value(&w, "c(exists(\"add\"), exists(\"add\", globalenv(), "
	    "inherits = FALSE), search()[2] == \"tools:securer\")",
	    "{\"type\":\"logical\",\"value\":[true,false,true]}");
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(result_too_large);
ATF_TC_BODY(result_too_large, tc)
{
	struct worker	 w;
	struct reply	 r;
	const char	*tail = " bytes, max 4194304)";

	start(&w, tc);
	w_exec(&w, "x <- seq_len(1e7) + 0.5; x", &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_ERROR);
	ATF_CHECK_EQ(r.kind, WERR_ENCODE);
	ATF_CHECK(strncmp(r.msg, "result too large (", 18) == 0);
	ATF_CHECK(strlen(r.msg) > strlen(tail) && strcmp(r.msg +
	    strlen(r.msg) - strlen(tail), tail) == 0);
	reply_free(&r);
	/* Nesting past the codec's depth: what cannot cross, not an error. */
	w_exec(&w, "l <- list(); for (i in 1:300) l <- list(l); invisible(l)",
	    &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_RESULT);
	ATF_CHECK(has_prefix(r.value, "{\"type\":\"unsupported\",\"rtype\":"
	    "\"nesting\",\"path\":\"[[1]][[1]]"));
	reply_free(&r);
	/* An invisible value over the bound is no error: null, flagged. */
	w_exec(&w, "x <- seq_len(1e7) + 0.5", &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_RESULT);
	ATF_CHECK_STREQ(r.value, "null");
	ATF_CHECK_EQ(r.rflags & RESULT_OMITTED, RESULT_OMITTED);
	ATF_CHECK(r.omitted_size > 4194304);
	reply_free(&r);
	check_value(&w, "length(x)", "{\"type\":\"integer\","
	    "\"value\":[10000000]}");
	/* Tool arguments are bounded too, as an R error. */
	w_exec(&w, "echo(x)", &r);
	ATF_CHECK_EQ(r.kind, WERR_R);
	ATF_CHECK(strncmp(r.msg, "cannot call tool 'echo': arguments too "
	    "large (", 42) == 0);
	ATF_CHECK(strcmp(r.msg + strlen(r.msg) - strlen(tail), tail) == 0);
	ATF_CHECK_EQ(r.ncalls, 0);
	reply_free(&r);
	finish(&w);
}

/* EXEC_BINARY: vectors of 16 elements or more as "bin" (BINARY.md). */
ATF_TC_WITHOUT_HEAD(values_binary);
ATF_TC_BODY(values_binary, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	ATF_REQUIRE(w_exec_flags(&w, "c(1:15)", EXEC_BINARY, &r) == 1);
	ATF_CHECK(has_prefix(r.value, "{\"type\":\"integer\",\"value\":[1,"));
	reply_free(&r);
	/* 1:16 and NA: 01000000 ... 10000000 then 00000080. */
	ATF_REQUIRE(w_exec_flags(&w, "c(1:15, NA)", EXEC_BINARY, &r) == 1);
	ATF_CHECK_STREQ(r.value, "{\"type\":\"integer\",\"bin\":"
	    "\"AQAAAAIAAAADAAAABAAAAAUAAAAGAAAABwAAAAgAAAAJAAAACgAAAAsAAAAMAAAA"
	    "DQAAAA4AAAAPAAAAAAAAgA==\"}");
	reply_free(&r);
	/* -0, NA and NaN keep their bits. */
	ATF_REQUIRE(w_exec_flags(&w, "c(-0, NA, NaN, rep(0, 13))",
	    EXEC_BINARY, &r) == 1);
	ATF_CHECK(has_prefix(r.value, "{\"type\":\"double\",\"bin\":"
	    "\"AAAAAAAAAICiBwAAAADwfwAAAAAAAPh/"));
	reply_free(&r);
	/* Without the flag, never. */
	w_exec(&w, "1:100 + 0L", &r);
	ATF_CHECK(strstr(r.value, "bin") == NULL);
	reply_free(&r);
	finish(&w);
}

/* A value over WORKER_PART_MAX comes in parts, all of it. */
ATF_TC_WITHOUT_HEAD(result_parts);
ATF_TC_BODY(result_parts, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w.max_value = 64U * 1024 * 1024;
	ATF_REQUIRE(w_exec_flags(&w, "x <- as.double(1:2e6); x",
	    EXEC_BINARY, &r) == 1);
	ATF_REQUIRE_EQ_MSG(r.type, IMSG_W_RESULT, "%s", r.msg);
	ATF_CHECK_EQ(r.nparts, 2);
	/* 16e6 bytes are 21333336 of base64, and 26 of JSON around. */
	ATF_CHECK_EQ(strlen(r.value), 21333362);
	ATF_CHECK(has_prefix(r.value, "{\"type\":\"double\",\"bin\":"
	    "\"AAAAAAAA8D8AAAAAAAAAQA"));
	ATF_CHECK_STREQ(r.value + strlen(r.value) - 2, "\"}");
	reply_free(&r);
	/* Visible and over the bound: an error, as before. */
	w.max_value = 1024;
	ATF_REQUIRE(w_exec_flags(&w, "x", EXEC_BINARY, &r) == 1);
	ATF_CHECK_EQ(r.type, IMSG_W_ERROR);
	ATF_CHECK_EQ(r.kind, WERR_ENCODE);
	reply_free(&r);
	finish(&w);
}

/* An R error's classes but R's own go with it. */
ATF_TC_WITHOUT_HEAD(error_classes);
ATF_TC_BODY(error_classes, tc)
{
	struct worker	 w;
	struct reply	 r;

	start(&w, tc);
	w_exec(&w, "stop(structure(class = c('my_error', 'bad name!', "
	    "'rlang_error', 'error', 'condition'), list(message = 'm', "
	    "call = NULL)))", &r);
	ATF_REQUIRE_EQ(r.type, IMSG_W_ERROR);
	ATF_CHECK_STREQ(r.msg, "m");
	ATF_CHECK_STREQ(r.classes, "my_error,rlang_error");
	reply_free(&r);
	w_exec(&w, "stop('plain')", &r);
	ATF_CHECK_STREQ(r.classes, "");
	reply_free(&r);
	finish(&w);
}

ATF_TC_WITHOUT_HEAD(quit);
ATF_TC_BODY(quit, tc)
{
	struct worker	 w;
	struct reply	 r;
	int		 status;

	start(&w, tc);
	ATF_CHECK(w_exec_flags(&w, "cat(\"bye\\n\"); q(status = 7)", 0,
	    &r) == 0);
	ATF_CHECK_STREQ(r.out, "[out]bye\n");
	status = w_stop(&w);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

/* Anything but what the state allows kills the worker. */
static void
check_violation(const atf_tc_t *tc, int setup, uint32_t type,
    const void *data, size_t len)
{
	struct worker	 w;
	struct imsg	 imsg;
	int		 status;

	w_start(&w, tc);
	if (setup)
		w_setup(&w, TOOLS);
	w_send(&w, type, 1, data, len, NULL, 0);
	ATF_CHECK(w_recv(&w, &imsg) == 0);
	status = w_stop(&w);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 0,
	    "status %#x after message %u", status, type);
}

ATF_TC_WITHOUT_HEAD(protocol_violations);
ATF_TC_BODY(protocol_violations, tc)
{
	struct w_exec		 we = { 0, 10, 0 };
	struct w_tool_result	 tr = { 0, 0 };
	struct w_setup		 ws = { 2 };
	char			 notlist[sizeof(ws) + 2];

	memcpy(notlist, &ws, sizeof(ws));
	memcpy(notlist + sizeof(ws), "{}", 2);
	check_violation(tc, 0, IMSG_W_EXEC, &we, sizeof(we));
	check_violation(tc, 1, IMSG_W_EXEC, &we, sizeof(we));
	check_violation(tc, 1, IMSG_W_EXEC, &we, 4);
	check_violation(tc, 1, IMSG_W_TOOL_RESULT, &tr, sizeof(tr));
	/* A second setup; tools that are not a list; lengths that lie. */
	check_violation(tc, 1, IMSG_W_SETUP, notlist, sizeof(notlist));
	check_violation(tc, 0, IMSG_W_SETUP, notlist, sizeof(notlist));
	check_violation(tc, 0, IMSG_W_SETUP, &ws, sizeof(ws));
	check_violation(tc, 0, IMSG_W_SETUP, "[]", 2);
	check_violation(tc, 1, 9999, NULL, 0);
}

/* The answer to another call than the one waiting is fatal. */
ATF_TC_WITHOUT_HEAD(protocol_wrong_call);
ATF_TC_BODY(protocol_wrong_call, tc)
{
	struct worker		 w;
	struct w_exec		 we;
	struct w_tool_result	 tr = { 0, 4 };
	struct imsg		 imsg;
	int			 status;

	start(&w, tc);
	we.flags = 0;
	we.code_len = 6;
	w_send(&w, IMSG_W_EXEC, 1, &we, sizeof(we), "now()\n", 6);
	ATF_REQUIRE(w_recv(&w, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_W_TOOL_CALL);
	w_send(&w, IMSG_W_TOOL_RESULT, imsg_get_id(&imsg) + 1, &tr,
	    sizeof(tr), "null", 4);
	imsg_free(&imsg);
	ATF_CHECK(w_recv(&w, &imsg) == 0);
	status = w_stop(&w);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

/* The template, as the broker drives it: fd 3 passes fds. */
static pid_t
tpl_start(const atf_tc_t *tc, struct imsgbuf *ib)
{
	struct imsg	 imsg;
	char		*path = worker_path(tc);
	pid_t		 pid;
	int		 sv[2];

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(126);
		closefrom(4);
		execl(path, "securer-worker", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	ATF_REQUIRE(imsgbuf_init(ib, sv[0]) == 0);
	imsgbuf_allow_fdpass(ib);
	ATF_REQUIRE(imsgbuf_set_maxsize(ib, BROKER_IMSG_MAX) == 0);
	ATF_REQUIRE(recv_on(ib, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_TPL_UP);
	ATF_CHECK_EQ(imsg_get_len(&imsg), 0);
	imsg_free(&imsg);
	return (pid);
}

/* Ask the template for a worker; w talks to it as its monitor. */
static void
tpl_spawn(struct imsgbuf *ib, struct worker *w, uint32_t id,
    const struct worker_limits *limits)
{
	struct tpl_spawn	 ts;
	struct tpl_spawned	 sp;
	struct imsg		 imsg;
	int			 sv[2];

	memset(w, 0, sizeof(*w));
	memset(&ts, 0, sizeof(ts));
	ts.worker_id = id;
	ts.uid = ts.gid = 65534;
	ts.limits = *limits;
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE(imsg_compose(ib, IMSG_TPL_SPAWN, 0, 0, sv[1], &ts,
	    sizeof(ts)) == 0);
	ATF_REQUIRE(imsgbuf_flush(ib) == 0);
	ATF_REQUIRE(recv_on(ib, &imsg) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_TPL_SPAWNED);
	ATF_REQUIRE(imsg_get_data(&imsg, &sp, sizeof(sp)) == 0);
	ATF_CHECK_EQ(sp.worker_id, id);
	imsg_free(&imsg);
	w->pid = sp.pid;
	ATF_REQUIRE(imsgbuf_init(&w->ib, sv[0]) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&w->ib, WORKER_IMSG_MAX) == 0);
}

/*
 * Workers cloned from a template: the broker's children (here, ours),
 * each with its own /tmp, the limits asked for, and as root the user.
 */
ATF_TC_WITHOUT_HEAD(template_spawn);
ATF_TC_BODY(template_spawn, tc)
{
	struct worker_limits	 lim = { 10, LIMIT_NONE, 1 << 20, LIMIT_NONE,
				    64, 8 << 20, 16 << 20 };
	struct imsgbuf		 ib;
	struct worker		 w[2];
	char			 want[256];
	unsigned int		 uid = geteuid() == 0 ? 65534 : geteuid();
	int			 i, status;
	pid_t			 tpl;

	tpl = tpl_start(tc, &ib);
	for (i = 0; i < 2; i++) {
		tpl_spawn(&ib, &w[i], i + 1, &lim);
		w_waiting(&w[i]);
		w_setup(&w[i], TOOLS);
		snprintf(want, sizeof(want), "{\"type\":\"integer\","
		    "\"value\":[%d]}", (int)w[i].pid);
		check_value(&w[i], "Sys.getpid()", want);
		check_value(&w[i], "file.exists(\"/tmp/mine\")",
		    "{\"type\":\"logical\",\"value\":[false]}");
		check_value(&w[i], "file.create(\"/tmp/mine\")",
		    "{\"type\":\"logical\",\"value\":[true]}");
		check_value(&w[i], "c(getwd(), Sys.getenv(\"HOME\"), "
		    "dirname(tempdir()), file.exists(tempdir()))",
		    "{\"type\":\"character\",\"value\":[\"/tmp/home\","
		    "\"/tmp/home\",\"/tmp\",\"TRUE\"]}");
		check_value(&w[i], "grep(\"cpu time|open files\", "
		    "readLines(\"/proc/self/limits\"), value = TRUE)",
		    "{\"type\":\"character\",\"value\":["
		    "\"Max cpu time              10                   11"
		    "                   seconds   \",\"Max open files            "
		    "64                   64                   files     \"]}");
		/* Real, effective, saved and fs uid: the one asked for. */
		snprintf(want, sizeof(want), "{\"type\":\"character\","
		    "\"value\":[\"Uid:\\t%u\\t%u\\t%u\\t%u\"]}",
		    uid, uid, uid, uid);
		check_value(&w[i], "grep(\"^Uid:\", "
		    "readLines(\"/proc/self/status\"), value = TRUE)", want);
	}
	for (i = 0; i < 2; i++) {
		close(w[i].ib.fd);
		imsgbuf_clear(&w[i].ib);
		ATF_REQUIRE(waitpid(w[i].pid, &status, 0) == w[i].pid);
		ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(ib.fd);
	imsgbuf_clear(&ib);
	ATF_REQUIRE(waitpid(tpl, &status, 0) == tpl);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A spawn request without its channel is fatal to the template. */
ATF_TC_WITHOUT_HEAD(template_violation);
ATF_TC_BODY(template_violation, tc)
{
	struct tpl_spawn	 ts;
	struct imsgbuf		 ib;
	struct imsg		 imsg;
	int			 status;
	pid_t			 tpl;

	memset(&ts, 0, sizeof(ts));
	tpl = tpl_start(tc, &ib);
	ATF_REQUIRE(imsg_compose(&ib, IMSG_TPL_SPAWN, 0, 0, -1, &ts,
	    sizeof(ts)) == 0);
	ATF_REQUIRE(imsgbuf_flush(&ib) == 0);
	ATF_CHECK(recv_on(&ib, &imsg) == 0);
	close(ib.fd);
	imsgbuf_clear(&ib);
	ATF_REQUIRE(waitpid(tpl, &status, 0) == tpl);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

ATF_TP_ADD_TCS(tp)
{
	signal(SIGPIPE, SIG_IGN);
	ATF_TP_ADD_TC(tp, values_atomic);
	ATF_TP_ADD_TC(tp, values_double_bits);
	ATF_TP_ADD_TC(tp, values_attributes);
	ATF_TP_ADD_TC(tp, values_unsupported);
	ATF_TP_ADD_TC(tp, values_binary);
	ATF_TP_ADD_TC(tp, result_parts);
	ATF_TP_ADD_TC(tp, error_classes);
	ATF_TP_ADD_TC(tp, printed_form);
	ATF_TP_ADD_TC(tp, state_persists);
	ATF_TP_ADD_TC(tp, output_order);
	ATF_TP_ADD_TC(tp, output_chunks);
	ATF_TP_ADD_TC(tp, echo);
	ATF_TP_ADD_TC(tp, parse_error);
	ATF_TP_ADD_TC(tp, r_error);
	ATF_TP_ADD_TC(tp, tool_roundtrip);
	ATF_TP_ADD_TC(tp, tool_error);
	ATF_TP_ADD_TC(tp, tool_bad_value);
	ATF_TP_ADD_TC(tp, tool_loop);
	ATF_TP_ADD_TC(tp, tool_nested);
	ATF_TP_ADD_TC(tp, tool_zero_args);
	ATF_TP_ADD_TC(tp, tool_missing_arg);
	ATF_TP_ADD_TC(tp, result_too_large);
	ATF_TP_ADD_TC(tp, quit);
	ATF_TP_ADD_TC(tp, protocol_violations);
	ATF_TP_ADD_TC(tp, protocol_wrong_call);
	ATF_TP_ADD_TC(tp, template_spawn);
	ATF_TP_ADD_TC(tp, template_violation);
	return (atf_no_error());
}
