/*
 * Tests generated from the channel tables (common/channels.h): for every
 * channel, each end as receiver, every row the peer sends, every state
 * of the receiver, the message as the row wants it is handled where the
 * row allows it and refused everywhere else; where it is allowed, one
 * byte short or long, an fd too many or missing, another peerid, is
 * refused, before any handler runs, and the channel's owner hears why
 * once.  Unknown types and the receiver's own rows are refused too.
 * And DESIGN.md's tables are the code's (tables.c).
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channels.h"
#include "sanitizer.h"
#include "tables.h"

#define HANDLERS_MAX	32

static int	handled, lost_calls;
static char	lost_why[256];

static void
count(struct chan *ch, struct imsg *imsg)
{
	handled++;
}

static void
lost(struct chan *ch, const char *why)
{
	lost_calls++;
	strlcpy(lost_why, why != NULL ? why : "(closed)", sizeof(lost_why));
}

/* A receiver at end self of spec, a sender's raw imsgbuf at the other. */
struct pair {
	struct chan		 rx;
	struct imsgbuf		 tx;
	struct chan_handler	 h[HANDLERS_MAX];
};

static void
pair_open(struct pair *p, const struct chan_spec *spec, enum proc_id self,
    uint32_t state, uint32_t expect)
{
	size_t	i, n = 0;
	int	sv[2];

	for (i = 0; i < spec->nrules; i++)
		if (spec->rules[i].from != self) {
			p->h[n].type = spec->rules[i].type;
			p->h[n++].fn = count;
		}
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	chan_init(&p->rx, spec, self, p->h, n, sv[0]);
	p->rx.lost = lost;
	p->rx.state = state;
	p->rx.expect_id = expect;
	ATF_REQUIRE(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	ATF_REQUIRE(imsgbuf_init(&p->tx, sv[1]) == 0);
	ATF_REQUIRE(imsgbuf_set_maxsize(&p->tx, spec->maxsize + 64) == 0);
	imsgbuf_allow_fdpass(&p->tx);
	handled = lost_calls = 0;
	lost_why[0] = '\0';
}

static void
pair_close(struct pair *p)
{
	chan_close(&p->rx);
	close(p->tx.fd);
	imsgbuf_clear(&p->tx);
}

/*
 * A message of type with len bytes of body whose header declares what
 * the row's length fields say: each declared length set to decl[i].
 */
static void
send_msg(struct pair *p, const struct chan_rule *r, uint32_t type,
    size_t len, const uint32_t *decl, uint32_t id, int withfd)
{
	unsigned char	*body;
	int		 fd = -1, i;

	ATF_REQUIRE((body = calloc(1, len + 1)) != NULL);
	for (i = 0; r != NULL && i < RULE_LENS_MAX && r->lens[i] != 0; i++)
		if (r->lens[i] - 1 + 4 <= len)
			memcpy(body + r->lens[i] - 1, &decl[i], 4);
	if (withfd)
		ATF_REQUIRE((fd = open("/dev/null", O_RDONLY)) != -1);
	ATF_REQUIRE(imsg_compose(&p->tx, type, id, 0, fd, body, len) == 0);
	free(body);
	/* Written as the receiver reads, until it has all or gave up. */
	while (imsgbuf_queuelen(&p->tx) > 0 && !p->rx.failed) {
		ATF_REQUIRE(imsgbuf_write(&p->tx) == 0 || errno == EAGAIN);
		chan_read_all(&p->rx);
	}
	chan_read_all(&p->rx);
}

/* The body a row wants: its header and, declared, one byte per length. */
static size_t
good_len(const struct chan_rule *r, uint32_t *decl)
{
	int	i;
	size_t	len = r->hdr;

	for (i = 0; i < RULE_LENS_MAX; i++)
		decl[i] = 0;
	for (i = 0; i < RULE_LENS_MAX && r->lens[i] != 0; i++) {
		decl[i] = 1;
		len++;
	}
	if (r->size_rule == RULE_TAIL && r->max > 0)
		len++;
	return (len);
}

static void
expect_refused(const char *what, const struct chan_rule *r, const char *st)
{
	ATF_CHECK_MSG(handled == 0, "%s %s in %s: handled", r->name, what, st);
	ATF_CHECK_MSG(lost_calls == 1, "%s %s in %s: owner told %d times",
	    r->name, what, st, lost_calls);
}

/* One byte short and one long, an fd wrong, a peerid other. */
static void
check_malformed(const struct chan_spec *spec, enum proc_id self,
    const struct chan_rule *r, uint32_t state, const char *st)
{
	struct pair	p;
	uint32_t	decl[RULE_LENS_MAX], expect = 7;
	size_t		len = good_len(r, decl);

	/* Short of its header, or of what the header declares. */
	if (r->size_rule == RULE_TAIL ? r->hdr > 0 : len > 0) {
		pair_open(&p, spec, self, state, expect);
		send_msg(&p, r, r->type, r->size_rule == RULE_TAIL ?
		    r->hdr - 1 : len - 1, decl, expect, r->fd == FD_YES);
		expect_refused("a byte short", r, st);
		pair_close(&p);
	}
	if (r->size_rule != RULE_TAIL ||
	    r->hdr + r->max + 1 <= spec->maxsize - IMSG_HEADER_SIZE) {
		pair_open(&p, spec, self, state, expect);
		send_msg(&p, r, r->type, r->size_rule == RULE_TAIL ?
		    r->hdr + r->max + 1 : len + 1, decl, expect,
		    r->fd == FD_YES);
		expect_refused("a byte long", r, st);
		pair_close(&p);
	}
	pair_open(&p, spec, self, state, expect);
	send_msg(&p, r, r->type, len, decl, expect, r->fd != FD_YES);
	expect_refused(r->fd == FD_YES ? "without its fd" : "with an fd", r,
	    st);
	pair_close(&p);
	if (r->id == ID_EXPECTED) {
		pair_open(&p, spec, self, state, expect);
		send_msg(&p, r, r->type, len, decl, expect + 1,
		    r->fd == FD_YES);
		expect_refused("for another id", r, st);
		pair_close(&p);
	}
}

static void
check_channel(const struct chan_spec *spec)
{
	const struct chan_rule	*r;
	struct pair		 p;
	uint32_t		 decl[RULE_LENS_MAX];
	size_t			 i, n, st, len;
	int			 end;
	enum proc_id		 self;
	const char		*name;

	for (end = 0; end < 2; end++) {
		self = spec->ends[end];
		for (i = 0; i < spec->nrules; i++) {
			r = &spec->rules[i];
			for (st = 0; st < spec->nstates[end]; st++) {
				name = spec->states[end][st];
				len = good_len(r, decl);
				pair_open(&p, spec, self, st, 7);
				send_msg(&p, r, r->type, len, decl, 7,
				    r->fd == FD_YES);
				if (r->from != self && (r->states & (1U << st))) {
					ATF_CHECK_MSG(handled == 1 &&
					    lost_calls == 0, "%s in %s: "
					    "refused: %s", r->name, name,
					    lost_why);
					pair_close(&p);
					check_malformed(spec, self, r, st,
					    name);
					continue;
				}
				expect_refused(r->from == self ? "from the "
				    "wrong end" : "out of state", r, name);
				pair_close(&p);
			}
		}
		/* A type of no row. */
		pair_open(&p, spec, self, 0, 0);
		send_msg(&p, NULL, 9999, 0, decl, 0, 0);
		ATF_CHECK(handled == 0 && lost_calls == 1);
		pair_close(&p);
		for (n = i = 0; i < spec->nrules; i++)
			n += spec->rules[i].from != self;
		ATF_CHECK_MSG(n > 0, "%s: the %s receives nothing", spec->name,
		    procs[self].name);
	}
}

ATF_TC_WITHOUT_HEAD(broker_monitor);
ATF_TC_BODY(broker_monitor, tc)
{
	check_channel(&chan_broker_monitor);
}

ATF_TC_WITHOUT_HEAD(broker_template);
ATF_TC_BODY(broker_template, tc)
{
	check_channel(&chan_broker_template);
}

ATF_TC_WITHOUT_HEAD(worker);
ATF_TC_BODY(worker, tc)
{
	check_channel(&chan_worker);
}

/* Every type in one row of one channel; fields within their headers. */
ATF_TC_WITHOUT_HEAD(tables_sane);
ATF_TC_BODY(tables_sane, tc)
{
	const struct chan_spec	*specs[] = { &chan_broker_monitor,
				    &chan_broker_template, &chan_worker };
	const struct chan_rule	*r, *q;
	size_t			 a, b, i, j;
	int			 k, end;

	for (a = 0; a < 3; a++)
		for (i = 0; i < specs[a]->nrules; i++) {
			r = &specs[a]->rules[i];
			ATF_CHECK(r->from == specs[a]->ends[0] ||
			    r->from == specs[a]->ends[1]);
			end = specs[a]->ends[0] == r->from ? 1 : 0;
			ATF_CHECK_MSG(r->states != 0 && (r->states >>
			    specs[a]->nstates[end]) == 0, "%s: states",
			    r->name);
			for (k = 0; k < RULE_LENS_MAX && r->lens[k]; k++)
				ATF_CHECK_MSG(r->lens[k] - 1 + 4 <= r->hdr,
				    "%s: a length past its header", r->name);
			ATF_CHECK(r->hdr + r->max <=
			    specs[a]->maxsize - IMSG_HEADER_SIZE);
			for (b = 0; b < 3; b++)
				for (j = 0; j < specs[b]->nrules; j++) {
					q = &specs[b]->rules[j];
					ATF_CHECK_MSG(q == r ||
					    q->type != r->type, "%s twice",
					    r->name);
				}
		}
}

/* DESIGN.md, between its markers, is what tables.c writes. */
ATF_TC_WITHOUT_HEAD(design);
ATF_TC_BODY(design, tc)
{
	const char	*begin = "<!-- tables: begin -->\n";
	const char	*end = "<!-- tables: end -->";
	char		 path[1024], *doc = NULL, *want = NULL, *p, *q;
	size_t		 doclen = 0, wantlen = 0;
	FILE		*f, *m;
	int		 c;

	snprintf(path, sizeof(path), "%s/DESIGN.md",
	    atf_tc_get_config_var(tc, "top"));
	ATF_REQUIRE_MSG((f = fopen(path, "r")) != NULL, "%s", path);
	ATF_REQUIRE((m = open_memstream(&doc, &doclen)) != NULL);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	ATF_REQUIRE((m = open_memstream(&want, &wantlen)) != NULL);
	tables_markdown(m);
	fclose(m);
	ATF_REQUIRE_MSG((p = strstr(doc, begin)) != NULL, "no %s", begin);
	p += strlen(begin);
	ATF_REQUIRE_MSG((q = strstr(p, end)) != NULL, "no %s", end);
	ATF_CHECK_MSG((size_t)(q - p) == wantlen &&
	    memcmp(p, want, wantlen) == 0, "DESIGN.md's tables are not the "
	    "code's: make -f Makefile.linux tables, and paste");
	free(doc);
	free(want);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, broker_monitor);
	ATF_TP_ADD_TC(tp, broker_template);
	ATF_TP_ADD_TC(tp, worker);
	ATF_TP_ADD_TC(tp, tables_sane);
	ATF_TP_ADD_TC(tp, design);
	return (atf_no_error());
}
