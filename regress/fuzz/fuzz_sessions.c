/*
 * The monitor as a state machine: sequences of client requests and
 * worker messages through the real monitor (fakemon.c), with the state
 * each leaves for the next.  Sessions are created, executions started,
 * tool calls left pending and answered with values of any size, the
 * deadlines fire during calls, clients vanish mid-call, workers die
 * mid-message, spawns fail, pools are made and used.  Whatever the
 * order, every reply must be well-formed and, when the input is done
 * and every connection closed, nothing may be left: no client,
 * session, pool, worker or fd.
 *
 * Input: steps, each an opcode byte and the bytes its step takes (see
 * step()).  Sizes are given small and scaled, so that a few bytes ask
 * for a megabyte-long answer.
 */

#include <sys/types.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "monitor.h"
#include "fakemon.h"
#include "fuzz.h"

struct input {
	const uint8_t	*p;
	size_t		 left;
	size_t		 answered;	/* bytes of tool results sent */
};

/* What one input may send in tool results: enough to pass any limit. */
#define ANSWERS_MAX	(12U * 1024 * 1024)

static const char *codes[] = {
	"tool:t", "tool:add", "out tool:t", "hang", "error", "parse", "1",
	"out", "advice tool:t", "out out tool:add",
};
#define NCODES	(sizeof(codes) / sizeof(codes[0]))

/* Elements of a double vector as a client may write them. */
static const char *doubles[] = {
	"1E9", "1", "-0", "1e308", "null", "\"NaN\"", "0.1",
	"123456789.123456789", "-1E-300", "\"Inf\"",
};
#define NDOUBLES	(sizeof(doubles) / sizeof(doubles[0]))

static const uint32_t wtypes[] = {
	IMSG_W_SETUP_DONE, IMSG_W_OUTPUT, IMSG_W_TOOL_CALL, IMSG_W_RESULT,
	IMSG_W_ERROR, IMSG_W_ADVISORY, IMSG_W_PLOT, IMSG_W_FILE,
	IMSG_W_READY,
};
#define NWTYPES	(sizeof(wtypes) / sizeof(wtypes[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fm_init();
	return (0);
}

static uint8_t
byte(struct input *in)
{
	if (in->left == 0)
		return (0);
	in->left--;
	return (*in->p++);
}

/* A count: 0 to 65535 scaled by 1, 16, 256 or 4096 as the next byte says. */
static size_t
count(struct input *in)
{
	size_t	 n = byte(in);

	n = n << 8 | byte(in);
	return (n << (4 * (byte(in) & 3)));
}

static struct fm_client *
client(struct input *in)
{
	struct fm_client	*fc = &fm_clients[byte(in) % FM_CLIENTS];

	return (fc->fd == -1 ? NULL : fc);
}

/* A growing line, for answers of any size. */
struct line {
	char	*p;
	size_t	 len, cap;
};

static void
add(struct line *l, const char *s, size_t n)
{
	if (l->len + n + 1 > l->cap) {
		l->cap = (l->len + n + 1) * 2;
		if ((l->p = realloc(l->p, l->cap)) == NULL)
			err(1, "realloc");
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len] = '\0';
}

static void
adds(struct line *l, const char *s)
{
	add(l, s, strlen(s));
}

/* The value of an answer: a double vector, strings or nested lists. */
static void
answer_value(struct line *l, struct input *in)
{
	const char	*elt;
	size_t		 i, n;
	uint8_t		 kind = byte(in);

	n = count(in);
	if (n > 1500000)
		n = 1500000;	/* the line stays under the request limit */
	if (n * 8 > ANSWERS_MAX - in->answered)
		n = (ANSWERS_MAX - in->answered) / 8;
	switch (kind % 3) {
	case 0:
		elt = doubles[byte(in) % NDOUBLES];
		adds(l, "{\"type\":\"double\",\"value\":[");
		for (i = 0; i < n; i++) {
			if (i > 0)
				adds(l, ",");
			adds(l, elt);
		}
		adds(l, "]}");
		break;
	case 1:
		adds(l, "{\"type\":\"character\",\"value\":[");
		for (i = 0; i < n / 8; i++)
			adds(l, i > 0 ? ",\"a\\u0001\\\"\"" : "\"a\\u0001\\\"\"");
		adds(l, "]}");
		break;
	default:
		n %= 300;
		for (i = 0; i < n; i++)
			adds(l, "{\"type\":\"list\",\"value\":[");
		adds(l, "null");
		for (i = 0; i < n; i++)
			adds(l, "]}");
		break;
	}
}

/* A tool_result for the client's last call, or a wrong one. */
static void
answer(struct fm_client *fc, struct input *in)
{
	struct line	 l = { NULL, 0, 0 };
	char		 head[256];
	uint8_t		 how = byte(in);
	size_t		 n, i;

	snprintf(head, sizeof(head), "{\"id\":%llu,\"op\":\"tool_result\","
	    "\"session\":\"%s\",\"call\":%llu,",
	    (unsigned long long)fc->next_id++, fc->session,
	    (unsigned long long)(fc->call + (how & 0x10 ? 1 : 0)));
	adds(&l, head);
	switch (how % 4) {
	case 0:
		adds(&l, "\"value\":");
		answer_value(&l, in);
		break;
	case 1:
		adds(&l, "\"error\":\"");
		n = count(in) % 4000000;
		if (n > ANSWERS_MAX - in->answered)
			n = ANSWERS_MAX - in->answered;
		for (i = 0; i < n; i++)
			adds(&l, i % 61 == 60 ? "\\n" : "e");
		adds(&l, "\"");
		break;
	case 2:
		adds(&l, "\"value\":null,\"error\":\"both\"");
		break;
	default:
		adds(&l, "\"nothing\":1");
		break;
	}
	adds(&l, "}");
	in->answered += l.len;
	fm_send(fc, l.p, l.len);
	fm_send(fc, "\n", 1);
	free(l.p);
}

static void
create(struct fm_client *fc, struct input *in)
{
	static const char *add2 = "[{\"name\":\"t\"},{\"name\":\"add\","
	    "\"args\":{\"a\":\"numeric\",\"b\":\"numeric\"}}]";
	const char	*tools[] = { "[]", "[{\"name\":\"t\"}]", add2 };
	uint8_t	 b = byte(in);

	fm_request(fc, "{\"id\":%llu,\"op\":\"session.create\",\"tools\":%s%s%s}",
	    (unsigned long long)fc->next_id++, tools[b % 3],
	    b & 0x80 ? ",\"timeout\":5" : "",
	    b & 0x40 ? ",\"name\":\"kept\"" : "");
}

static void
pool_op(struct fm_client *fc, struct input *in)
{
	uint8_t	 b = byte(in);

	if (b & 1)
		fm_request(fc, "{\"id\":%llu,\"op\":\"pool.create\",\"pool\":"
		    "\"p\",\"size\":%d,\"tools\":[{\"name\":\"t\"}]}",
		    (unsigned long long)fc->next_id++, 1 + (b >> 1) % 2);
	else
		fm_request(fc, "{\"id\":%llu,\"op\":\"pool.execute\",\"pool\":"
		    "\"p\",\"code\":\"%s\",\"acquire_timeout\":%d}",
		    (unsigned long long)fc->next_id++,
		    codes[(b >> 1) % NCODES], (b >> 5) & 1);
}

/* A worker's message from the input: type, id and payload. */
static void
worker_msg(struct fm_worker *fw, struct input *in)
{
	uint32_t	 type = wtypes[byte(in) % NWTYPES];
	uint32_t	 id;
	uint8_t		 buf[256];
	size_t		 len, i;

	switch (byte(in) % 3) {
	case 0:
		id = fw->exec_id;
		break;
	case 1:
		id = fw->call_id;
		break;
	default:
		id = byte(in);
		break;
	}
	len = byte(in);
	for (i = 0; i < len; i++)
		buf[i] = byte(in);
	fm_worker_send(fw, type, id, buf, len);
}

/* A header that promises more than comes, then the worker dies. */
static void
worker_torn(struct fm_worker *fw, struct input *in)
{
	struct imsg_hdr	 hdr;
	uint8_t		 part[8] = { 0 };

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = wtypes[byte(in) % NWTYPES];
	hdr.len = IMSG_HEADER_SIZE + 16 + byte(in);
	hdr.peerid = fw->exec_id;
	(void)write(fw->fd, &hdr, sizeof(hdr));
	(void)write(fw->fd, part, byte(in) % sizeof(part));
	fm_pump();
	fm_worker_exit(fw, byte(in) % (EXIT_VIOLATION + 1), 9);
}

/*
 * A file operation: a chunk of an upload (offsets in order or not, more
 * or last, sizes around the chunk and memory bounds) or a range.
 */
static void
file_op(struct fm_client *fc, struct input *in)
{
	static const uint64_t	 offsets[] = { 0, 0, 1, 3, 1048576, 4194304,
				    4294967296ULL };
	static const char *const names[] = { "a.csv", "b", "a.csv" };
	static const char *const datas[] = { "", "YQ==", "YWJjZA==" };
	uint8_t			 b = byte(in);
	uint64_t		 off = offsets[byte(in) % 7];

	if (b & 1)
		fm_request(fc, "{\"id\":%llu,\"op\":\"file.put\","
		    "\"session\":\"%s\",\"name\":\"%s\",\"data\":\"%s\","
		    "\"offset\":%llu,\"more\":%s}",
		    (unsigned long long)fc->next_id++, fc->session,
		    names[(b >> 1) % 3], datas[(b >> 3) % 3],
		    (unsigned long long)off, b & 0x40 ? "true" : "false");
	else if (b & 2)
		fm_request(fc, "{\"id\":%llu,\"op\":\"file.get\","
		    "\"session\":\"%s\",\"name\":\"%s\"}",
		    (unsigned long long)fc->next_id++, fc->session,
		    names[(b >> 2) % 3]);
	else
		fm_request(fc, "{\"id\":%llu,\"op\":\"file.get\","
		    "\"session\":\"%s\",\"name\":\"%s\",\"offset\":%llu,"
		    "\"length\":%llu}",
		    (unsigned long long)fc->next_id++, fc->session,
		    names[(b >> 2) % 3], (unsigned long long)off,
		    (unsigned long long)offsets[byte(in) % 7]);
}

/*
 * Restart, close, hibernate, fork or attach (by id, or the session named
 * "kept" whose connection went), the snapshot's steps failing as told.  A fork's reply names the new session: the next steps are on it.
 */
static void
session_op(struct fm_client *fc, struct input *in)
{
	static const char *const ops[] = { "session.restart",
	    "session.close", "session.hibernate", "session.hibernate",
	    "session.fork", "session.fork", "session.attach",
	    "session.hibernate" };
	uint8_t	b = byte(in);

	fm_snap_fail = b >> 4;
	if (strcmp(ops[b & 7], "session.attach") == 0 && (b & 8))
		fm_request(fc, "{\"id\":%llu,\"op\":\"session.attach\","
		    "\"name\":\"kept\"}", (unsigned long long)fc->next_id++);
	else
		fm_request(fc, "{\"id\":%llu,\"op\":\"%s\",\"session\":"
		    "\"%s\"}", (unsigned long long)fc->next_id++, ops[b & 7],
		    fc->session);
}

static void
step(struct input *in)
{
	struct fm_client	*fc;
	struct fm_worker	*fw;
	uint8_t			 op = byte(in);

	switch (op % 16) {
	case 0:
		if ((fc = fm_connect()) != NULL)
			fm_request(fc, "{\"id\":1,\"op\":\"hello\",\"version\":1}");
		break;
	case 1:
		if ((fc = client(in)) != NULL)
			create(fc, in);
		break;
	case 2:
	case 3:
		if ((fc = client(in)) != NULL)
			fm_request(fc, "{\"id\":%llu,\"op\":\"execute\","
			    "\"session\":\"%s\",\"code\":\"%s\"}",
			    (unsigned long long)fc->next_id++, fc->session,
			    codes[byte(in) % NCODES]);
		break;
	case 4:
	case 5:
		if ((fc = client(in)) != NULL)
			answer(fc, in);
		break;
	case 6:
		fm_deadlines();
		break;
	case 7:
		if ((fc = client(in)) != NULL)
			fm_disconnect(fc);
		break;
	case 8:
		if ((fw = fm_worker_last()) != NULL)
			fm_worker_exit(fw, byte(in) % (EXIT_VIOLATION + 1),
			    byte(in));
		break;
	case 9:
		if ((fw = fm_worker_last()) != NULL)
			worker_msg(fw, in);
		break;
	case 10:
		if ((fw = fm_worker_last()) != NULL)
			worker_torn(fw, in);
		break;
	case 11:
		fm_spawn_fail = byte(in) & 3;
		break;
	case 12:
		if ((fc = client(in)) != NULL)
			pool_op(fc, in);
		break;
	case 13:
		if ((fc = client(in)) != NULL)
			session_op(fc, in);
		break;
	case 14:
		fm_auto ^= byte(in) & (FM_AUTO_WORKER | FM_AUTO_TOOLS);
		break;
	default:
		if ((fc = client(in)) != NULL && byte(in) & 1)
			file_op(fc, in);
		else if (fc != NULL)
			fm_request(fc, "{\"id\":%llu,\"op\":\"status\"}",
			    (unsigned long long)fc->next_id++);
		break;
	}
	fm_pump();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input	in = { data, size, 0 };
	int		steps = 0;

	fuzz_begin();
	fm_auto = FM_AUTO_WORKER;
	while (in.left > 0 && steps++ < 64)
		step(&in);
	fm_spawn_fail = 0;
	fm_snap_fail = 0;
	fm_end();
	fuzz_end();
	return (0);
}
