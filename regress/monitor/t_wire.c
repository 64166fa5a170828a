/*
 * The worker channel's table, at the real monitor (fakemon.c): in each
 * state the monitor keeps a worker in, each message a worker may send
 * is sent where the table does not allow it, and a byte short and a
 * byte long where it does.  Every time the monitor must refuse it
 * before a handler runs: the worker killed, the violation audited, the
 * session's client answered with an error if it waited, a bystander's
 * session working as before, and, once every connection is closed,
 * nothing left behind: no session, no worker but the spare, no fd.
 * (Leaks of memory are LeakSanitizer's, in the suite's ASan run.)
 *
 * The frames are written raw, header and body, so that a length the
 * imsg layer would not compose can be sent too.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atf-c.h>

#include "channels.h"
#include "monitor.h"
#include "fakemon.h"
#include "sanitizer.h"

struct target {
	struct fm_client	*client;	/* its session's */
	struct fm_worker	*worker;
	uint32_t		 worker_id;
	int			 waiting;	/* a request unanswered */
};

static struct fm_client	*bystander;
static int		 fds_at_rest;

static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	ATF_REQUIRE((d = opendir("/proc/self/fd")) != NULL);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n - 1);		/* the directory's own */
}

static void
hello(struct fm_client *fc)
{
	fm_request(fc, "{\"id\":1,\"op\":\"hello\",\"version\":1}");
	fm_pump();
	ATF_REQUIRE_EQ_MSG(fc->oks, 1, "hello refused: %s", fc->error);
}

static void
create(struct fm_client *fc, const char *tools)
{
	unsigned	oks = fc->oks;

	fm_request(fc, "{\"id\":2,\"op\":\"session.create\",\"tools\":%s}",
	    tools);
	fm_pump();
	ATF_REQUIRE_EQ_MSG(fc->oks, oks + 1, "session.create: %s", fc->error);
}

static struct worker *
monitor_worker(uint32_t id)
{
	struct worker	*w = worker_find(id);

	ATF_REQUIRE_MSG(w != NULL, "the monitor has no worker %u", id);
	return (w);
}

/*
 * From the rest state (a spare), a bystander with an idle session.  The
 * spare that replaces the one it took says it is ready, unless the
 * state to reach is one before that.
 */
static void
begin(int state)
{
	if (state == WS_BOOT || state == WS_SETUP_EARLY)
		fm_manual = FM_NO_READY;
	ATF_REQUIRE((bystander = fm_connect()) != NULL);
	hello(bystander);
	create(bystander, "[]");
}

/* A spare again, its messages as fm_manual says. */
static void
refill(int manual)
{
	fm_manual = manual;
	spare_refill();
	fm_pump();
}

/* The worker of a session of the target's, created now. */
static void
target_session(struct target *t, const char *tools)
{
	struct fm_worker	*fw;

	ATF_REQUIRE((fw = fm_worker_spare()) != NULL);
	ATF_REQUIRE((t->client = fm_connect()) != NULL);
	hello(t->client);
	fm_request(t->client, "{\"id\":2,\"op\":\"session.create\","
	    "\"tools\":%s}", tools);
	fm_pump();
	ATF_REQUIRE_MSG(fw->setup, "the session's setup did not come");
	t->worker = fw;
}

/* An execution the worker leaves unanswered. */
static void
target_execute(struct target *t)
{
	uint32_t	before = t->worker->exec_id;

	fm_request(t->client, "{\"id\":3,\"op\":\"execute\",\"session\":"
	    "\"%s\",\"code\":\"hang\"}", t->client->session);
	fm_pump();
	ATF_REQUIRE_MSG(t->worker->exec_id != before, "no execution came");
	t->waiting = 1;
}

/*
 * The session's state asked for and not written (WS_SNAP), or written,
 * stored, and given to the worker that resumes it, which does not
 * answer (WS_RESTORE).
 */
static void
reach_hibernation(struct target *t, int state)
{
	unsigned	oks = t->client->oks;

	if (state == WS_SNAP)
		fm_manual = FM_NO_SNAP;
	fm_request(t->client, "{\"id\":4,\"op\":\"session.hibernate\","
	    "\"session\":\"%s\"}", t->client->session);
	fm_pump();
	if (state == WS_SNAP) {
		t->waiting = 1;
		return;
	}
	ATF_REQUIRE_EQ_MSG(t->client->oks, oks + 1, "session.hibernate: %s",
	    t->client->error);
	ATF_REQUIRE((t->worker = fm_worker_spare()) != NULL);
	fm_manual = FM_NO_SNAP;
	fm_request(t->client, "{\"id\":5,\"op\":\"execute\",\"session\":"
	    "\"%s\",\"code\":\"1\"}", t->client->session);
	fm_pump();
	t->waiting = 1;
}

static void
reach(struct target *t, int state)
{
	struct w_output		 wo = { STREAM_STDOUT, 3 };
	struct w_tool_call	 wc = { 1, 2 };
	char			 out[3 + sizeof(wo)], call[3 + sizeof(wc)];

	memset(t, 0, sizeof(*t));
	switch (state) {
	case WS_BOOT:		/* begin() left a spare that says nothing */
	case WS_READY:
		refill(0);
		ATF_REQUIRE((t->worker = fm_worker_spare()) != NULL);
		break;
	case WS_SETUP_EARLY:	/* the same, given a session */
	case WS_SETUP:
		refill(FM_NO_SETUP);
		target_session(t, "[]");
		t->waiting = 1;	/* for its session */
		break;
	case WS_IDLE:
	case WS_EXEC:
	case WS_RUN:
	case WS_FILE:
		refill(0);
		target_session(t, "[]");
		if (state == WS_FILE) {
			fm_request(t->client, "{\"id\":3,\"op\":\"file.put\","
			    "\"session\":\"%s\",\"name\":\"a\",\"data\":"
			    "\"aGk=\"}", t->client->session);
			fm_pump();
			t->waiting = 1;
		} else if (state != WS_IDLE)
			target_execute(t);
		if (state == WS_RUN) {
			memcpy(out, &wo, sizeof(wo));
			memcpy(out + sizeof(wo), "hi\n", 3);
			fm_worker_send(t->worker, IMSG_W_OUTPUT,
			    t->worker->exec_id, out, sizeof(out));
			fm_pump();
		}
		break;
	case WS_TOOL:
		refill(0);
		target_session(t, "[{\"name\":\"t\"}]");
		target_execute(t);
		memcpy(call, &wc, sizeof(wc));
		memcpy(call + sizeof(wc), "t{}", 3);
		fm_worker_send(t->worker, IMSG_W_TOOL_CALL, 1, call,
		    sizeof(call));
		fm_pump();
		break;
	case WS_SNAP:
	case WS_RESTORE:
		refill(0);
		target_session(t, "[]");
		reach_hibernation(t, state);
		break;
	default:
		atf_tc_fail("no way to state %d", state);
	}
	fm_manual = 0;
	t->worker_id = t->worker->id;
	ATF_REQUIRE_EQ_MSG(monitor_worker(t->worker_id)->chan.state, state,
	    "worker %u is in state %u, not %d", t->worker_id,
	    monitor_worker(t->worker_id)->chan.state, state);
}

/*
 * One frame as the worker's end would write it, whatever its length:
 * written while the monitor reads, until it is all out or the monitor
 * has given up on the worker.
 */
static void
send_raw(struct fm_worker *fw, const struct chan_rule *r, size_t len,
    const uint32_t *decl, uint32_t id)
{
	struct imsg_hdr	 hdr;
	unsigned char	*frame;
	size_t		 off = 0, total = sizeof(hdr) + len;
	ssize_t		 n;
	uint32_t	 worker_id = fw->id;
	int		 i, fd = fw->fd;

	ATF_REQUIRE((frame = calloc(1, total)) != NULL);
	hdr.type = r->type;
	hdr.len = total;
	hdr.peerid = id;
	hdr.pid = 0;
	memcpy(frame, &hdr, sizeof(hdr));
	for (i = 0; i < RULE_LENS_MAX && r->lens[i] != 0; i++)
		if (r->lens[i] - 1 + 4 <= len)
			memcpy(frame + sizeof(hdr) + r->lens[i] - 1, &decl[i],
			    4);
	ATF_REQUIRE(fcntl(fw->fd, F_SETFL, O_NONBLOCK) == 0);
	/* Its slot may be a new worker's once the monitor killed it. */
	while (off < total && fw->fd == fd && fw->id == worker_id) {
		n = send(fd, frame + off, total - off, MSG_NOSIGNAL);
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			break;
		ATF_REQUIRE_MSG(n != -1 || errno == EAGAIN, "send: %s",
		    strerror(errno));
		if (n > 0)
			off += n;
		fm_pump();
	}
	free(frame);
	fm_pump();
}

/* The body the row wants: its header and one byte per declared length. */
static size_t
good_len(const struct chan_rule *r, uint32_t *decl)
{
	size_t	len = r->hdr;
	int	i;

	for (i = 0; i < RULE_LENS_MAX; i++)
		decl[i] = 0;
	for (i = 0; i < RULE_LENS_MAX && r->lens[i] != 0; i++) {
		decl[i] = 1;
		len++;
	}
	return (len);
}

/* What must hold after the monitor refused the target's message. */
static void
expect_refused(struct target *t, const char *what, unsigned audits,
    unsigned kills, unsigned errors)
{
	unsigned	oks = bystander->oks;

	ATF_CHECK_MSG(worker_find(t->worker_id) == NULL ||
	    worker_find(t->worker_id)->killed, "%s: worker still there",
	    what);
	ATF_CHECK_MSG(fm_kills == kills + 1, "%s: %u kills, not 1", what,
	    fm_kills - kills);
	ATF_CHECK_MSG(fm_audits[AUDIT_PROTOCOL] == audits + 1,
	    "%s: %u violations audited, not 1", what,
	    fm_audits[AUDIT_PROTOCOL] - audits);
	if (t->waiting)
		ATF_CHECK_MSG(t->client->errors == errors + 1,
		    "%s: the waiting client got %u errors", what,
		    t->client->errors - errors);
	/* The bystander never noticed. */
	fm_auto = FM_AUTO_WORKER;
	fm_request(bystander, "{\"id\":9,\"op\":\"execute\",\"session\":"
	    "\"%s\",\"code\":\"1\"}", bystander->session);
	fm_pump();
	fm_auto = 0;
	ATF_CHECK_MSG(bystander->oks == oks + 1 && bystander->errors == 0,
	    "%s: the bystander's execution: %s", what, bystander->error);
}

/*
 * Each row the worker sends, in state: where the table refuses it,
 * once as it should be; where it allows it, a byte short and a byte
 * long.  Each case starts from rest and must end there.
 */
static void
check_state(int state)
{
	const struct chan_rule	*r;
	struct target		 t;
	uint32_t		 decl[RULE_LENS_MAX];
	size_t			 i, len, lens[2];
	unsigned		 audits, kills, errors;
	int			 j, n;
	char			 what[128];

	fm_init();
	fm_end();
	fds_at_rest = count_fds();
	for (i = 0; i < chan_worker.nrules; i++) {
		r = &chan_worker.rules[i];
		if (r->from != PROC_WORKER)
			continue;
		len = good_len(r, decl);
		n = 0;
		if (!(r->states & (1U << state)))
			lens[n++] = len;
		else {
			if (len > 0)
				lens[n++] = len - 1;
			lens[n++] = r->size_rule == RULE_TAIL ?
			    r->hdr + r->max + 1 : len + 1;
		}
		for (j = 0; j < n; j++) {
			begin(state);
			reach(&t, state);
			snprintf(what, sizeof(what), "%s of %zu bytes in %s",
			    r->name, lens[j],
			    chan_worker.states[0][state]);
			audits = fm_audits[AUDIT_PROTOCOL];
			kills = fm_kills;
			errors = t.client != NULL ? t.client->errors : 0;
			send_raw(t.worker, r, lens[j], decl,
			    monitor_worker(t.worker_id)->chan.expect_id);
			expect_refused(&t, what, audits, kills, errors);
			fm_end();
			ATF_CHECK_EQ_MSG(count_fds(), fds_at_rest,
			    "%s: %d fds open, %d at rest", what, count_fds(),
			    fds_at_rest);
		}
	}
}

#define STATE_CASE(name, state)						\
ATF_TC_WITHOUT_HEAD(name);						\
ATF_TC_BODY(name, tc)							\
{									\
	check_state(state);						\
}

STATE_CASE(boot, WS_BOOT)
STATE_CASE(ready, WS_READY)
STATE_CASE(setup_early, WS_SETUP_EARLY)
STATE_CASE(setup, WS_SETUP)
STATE_CASE(idle, WS_IDLE)
STATE_CASE(exec, WS_EXEC)
STATE_CASE(run, WS_RUN)
STATE_CASE(tool, WS_TOOL)
STATE_CASE(file, WS_FILE)
STATE_CASE(snap, WS_SNAP)
STATE_CASE(restore, WS_RESTORE)

/*
 * The worker ends its execution itself, a well-formed result, and goes
 * on: it speaks (the table refuses it) or runs (the broker says so).
 * Either way it is killed and audited, the session's next execution is
 * told and the one after runs in a fresh worker; an honest one's end
 * and the next start hold it still and wake it.
 */
static void
forged_end(int speaks)
{
	struct target		 t;
	struct w_result		 wr;
	struct w_output		 wo = { STREAM_STDOUT, 3 };
	char			 res[sizeof(wr) + 3], out[sizeof(wo) + 3];
	unsigned		 audits, kills, errors, oks, idles, wakes;

	memset(&wr, 0, sizeof(wr));
	wr.visible = 1;
	wr.value_len = 3;
	wr.value_total = 3;
	fm_init();
	fm_end();
	fds_at_rest = count_fds();
	begin(WS_EXEC);
	reach(&t, WS_EXEC);
	audits = fm_audits[AUDIT_PROTOCOL];
	kills = fm_kills;
	errors = t.client->errors;
	oks = t.client->oks;
	idles = fm_idles;
	wakes = fm_wakes;
	memcpy(res, &wr, sizeof(wr));
	memcpy(res + sizeof(wr), "[1]", 3);
	fm_worker_send(t.worker, IMSG_W_RESULT, t.worker->exec_id, res,
	    sizeof(res));
	fm_pump();
	ATF_CHECK_EQ_MSG(t.client->oks, oks + 1, "the result: %s",
	    t.client->error);
	ATF_CHECK_EQ_MSG(fm_idles, idles + 1, "%u idles", fm_idles - idles);
	ATF_CHECK_EQ(monitor_worker(t.worker_id)->chan.state, WS_IDLE);
	if (speaks) {
		memcpy(out, &wo, sizeof(wo));
		memcpy(out + sizeof(wo), "hi\n", 3);
		fm_worker_send(t.worker, IMSG_W_OUTPUT, t.worker->exec_id,
		    out, sizeof(out));
	} else
		fm_worker_ran(t.worker, 25000);
	fm_pump();
	t.waiting = 0;
	expect_refused(&t, speaks ? "output after its result" :
	    "CPU after its result", audits, kills, errors);
	ATF_CHECK_EQ_MSG(fm_wakes, wakes, "a dead worker woken");

	/* Told once, with the cause; then a fresh worker runs it. */
	fm_auto = FM_AUTO_WORKER;
	fm_request(t.client, "{\"id\":4,\"op\":\"execute\",\"session\":"
	    "\"%s\",\"code\":\"1\"}", t.client->session);
	fm_pump();
	ATF_CHECK_EQ_MSG(t.client->errors, errors + 1, "not told");
	ATF_CHECK_STREQ(t.client->error, "protocol");
	fm_request(t.client, "{\"id\":5,\"op\":\"execute\",\"session\":"
	    "\"%s\",\"code\":\"1\"}", t.client->session);
	fm_pump();
	ATF_CHECK_EQ_MSG(t.client->oks, oks + 2, "the next execution: %s",
	    t.client->error);
	/* Its end held it, the next start woke it. */
	idles = fm_idles;
	wakes = fm_wakes;
	fm_request(t.client, "{\"id\":6,\"op\":\"execute\",\"session\":"
	    "\"%s\",\"code\":\"1\"}", t.client->session);
	fm_pump();
	fm_auto = 0;
	ATF_CHECK_EQ_MSG(t.client->oks, oks + 3, "the one after: %s",
	    t.client->error);
	ATF_CHECK_EQ_MSG(fm_wakes, wakes + 1, "%u wakes", fm_wakes - wakes);
	ATF_CHECK_EQ_MSG(fm_idles, idles + 1, "%u idles", fm_idles - idles);
	fm_end();
	ATF_CHECK_EQ_MSG(count_fds(), fds_at_rest, "%d fds open, %d at rest",
	    count_fds(), fds_at_rest);
}

ATF_TC_WITHOUT_HEAD(forged_end_speaks);
ATF_TC_BODY(forged_end_speaks, tc)
{
	forged_end(1);
}

ATF_TC_WITHOUT_HEAD(forged_end_runs);
ATF_TC_BODY(forged_end_runs, tc)
{
	forged_end(0);
}

/* Every state of the table has its case above. */
ATF_TC_WITHOUT_HEAD(states_covered);
ATF_TC_BODY(states_covered, tc)
{
	ATF_CHECK_EQ_MSG(chan_worker.nstates[0], WS_RESTORE + 1,
	    "the worker channel has %zu monitor states; t_wire knows %d",
	    chan_worker.nstates[0], WS_RESTORE + 1);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, boot);
	ATF_TP_ADD_TC(tp, ready);
	ATF_TP_ADD_TC(tp, setup_early);
	ATF_TP_ADD_TC(tp, setup);
	ATF_TP_ADD_TC(tp, idle);
	ATF_TP_ADD_TC(tp, exec);
	ATF_TP_ADD_TC(tp, run);
	ATF_TP_ADD_TC(tp, tool);
	ATF_TP_ADD_TC(tp, file);
	ATF_TP_ADD_TC(tp, snap);
	ATF_TP_ADD_TC(tp, restore);
	ATF_TP_ADD_TC(tp, states_covered);
	ATF_TP_ADD_TC(tp, forged_end_speaks);
	ATF_TP_ADD_TC(tp, forged_end_runs);
	return (atf_no_error());
}
