/*
 * What "securerctl metrics" prints: the monitor's counters, gauges and
 * latency histograms in Prometheus' text exposition format (0.0.4).
 *
 * Events the monitor did not count already are counted here, through
 * one-line hooks where they happen; what "show counters" counts
 * (struct counters) is read, not counted a second time, and the gauges
 * are read from the session, pool and worker tables when asked, so
 * nothing here can drift from what the daemon holds.
 */

#include <sys/types.h>

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

#define HIST_BOUNDS_MAX	20

struct histogram {
	const char	*name;
	const char	*help;
	uint64_t	 bounds[HIST_BOUNDS_MAX];	/* us, ascending, 0 ends */
	uint64_t	 buckets[HIST_BOUNDS_MAX + 1];	/* last: above all */
	uint64_t	 count;
	uint64_t	 sum_us;
};

/* From 100 us (an execution of 1+1) to a minute (a long deadline). */
#define LATENCY_BOUNDS	{ 100, 250, 500, 1000, 2500, 5000, 10000, 25000, \
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, \
	30000000, 60000000 }

static struct histogram	exec_hist = {
	"securer_execution_duration_seconds",
	"Executions from the code reaching the worker to the final reply.",
	LATENCY_BOUNDS, { 0 }, 0, 0
};
static struct histogram	start_hist = {
	"securer_session_start_seconds",
	"Sessions from their creation to their first worker being ready.",
	LATENCY_BOUNDS, { 0 }, 0, 0
};
static struct histogram	tool_hist = {
	"securer_tool_call_duration_seconds",
	"Tool calls from their forwarding to the client to its answer.",
	LATENCY_BOUNDS, { 0 }, 0, 0
};

/* Indexed by enum exec_status; labels as exec_status_str() names them. */
#define EXEC_STATUSES	(EXEC_ABORTED + 1)
static uint64_t	executions[EXEC_STATUSES];

static const char *tool_outcomes[TOOL_OUTCOMES] = {
	"ok", "error", "refused", "too_many", "rate_limited"
};
static uint64_t	tool_calls[TOOL_OUTCOMES];

/*
 * Why workers that did not end by themselves ended: the broker's cause,
 * or for a kill the monitor asked for, the reason worker_kill() was
 * given (matched by its start).
 */
static const struct {
	const char	*reason;
	const char	*label;
} kill_reasons[] = {
	{ "timeout",			"timeout" },
	{ "flooded",			"flood" },
	{ "protocol violation",		"protocol" },
	{ "session closed",		"closed" },
	{ "restarted",			"restart" },
};
#define KILL_CAUSES	10
static const char *kill_causes[KILL_CAUSES] = {
	"memory", "cpu", "violation", "signal", "timeout", "flood",
	"protocol", "closed", "restart", "other"
};
static uint64_t	kills[KILL_CAUSES];
static uint64_t	worker_exits;		/* by themselves */
static uint64_t	pool_acquire_timeouts;
static uint64_t	spawn_failures;

static void
hist_observe(struct histogram *h, uint64_t us)
{
	size_t	i;

	for (i = 0; i < HIST_BOUNDS_MAX && h->bounds[i] != 0; i++)
		if (us <= h->bounds[i])
			break;
	h->buckets[i]++;
	h->count++;
	h->sum_us += us;
}

void
metrics_exec_end(struct exec *e, enum exec_status status)
{
	if (status < EXEC_STATUSES)
		executions[status]++;
	if (e->sent)
		hist_observe(&exec_hist, now_us() - e->start_us);
}

void
metrics_session_start(struct session *s)
{
	hist_observe(&start_hist, now_us() - s->created_us);
}

void
metrics_tool_call(struct exec *e, enum tool_outcome outcome)
{
	tool_calls[outcome]++;
	if (outcome == TOOL_OK || outcome == TOOL_ERROR)
		hist_observe(&tool_hist, now_us() - e->call_start_us);
}

void
metrics_pool_timeout(void)
{
	pool_acquire_timeouts++;
}

void
metrics_spawn_failed(void)
{
	spawn_failures++;
}

/*
 * A limit the kernel enforced names the cause whoever asked; otherwise
 * a worker the monitor asked to go went for the monitor's reason, even
 * if it exited by itself (its channel closed) before the signal came.
 */
static size_t
kill_cause(const struct worker *w, const struct worker_exit *we)
{
	size_t	i, n = sizeof(kill_reasons) / sizeof(kill_reasons[0]);

	switch (we->cause) {
	case EXIT_MEMORY:
		return (0);
	case EXIT_CPU:
		return (1);
	case EXIT_VIOLATION:
		return (2);
	}
	if (!w->killed)
		return (3);	/* a signal of its own doing */
	for (i = 0; i < n; i++)
		if (strncmp(w->cause, kill_reasons[i].reason,
		    strlen(kill_reasons[i].reason)) == 0)
			return (4 + i);
	return (KILL_CAUSES - 1);
}

void
metrics_worker_exit(const struct worker *w, const struct worker_exit *we)
{
	if (we->cause == EXIT_NORMAL && !w->killed)
		worker_exits++;
	else
		kills[kill_cause(w, we)]++;
}

/* A label value as the format wants it: \, " and newline escaped. */
static void
put_label(struct evbuffer *b, const char *name, const char *value)
{
	const char	*p;

	evbuffer_add_printf(b, "%s=\"", name);
	for (p = value; *p != '\0'; p++) {
		if (*p == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*p == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*p == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
put_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
put_value(struct evbuffer *b, const char *name, uint64_t v)
{
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* name{label="value"} v */
static void
put_labelled(struct evbuffer *b, const char *name, const char *label,
    const char *value, uint64_t v)
{
	evbuffer_add_printf(b, "%s{", name);
	put_label(b, label, value);
	evbuffer_add_printf(b, "} %llu\n", (unsigned long long)v);
}

static void
put_counter(struct evbuffer *b, const char *name, const char *help,
    uint64_t v)
{
	put_family(b, name, "counter", help);
	put_value(b, name, v);
}

static void
put_gauge(struct evbuffer *b, const char *name, const char *help,
    uint64_t v)
{
	put_family(b, name, "gauge", help);
	put_value(b, name, v);
}

static void
put_histogram(struct evbuffer *b, const struct histogram *h)
{
	uint64_t	cum = 0;
	size_t		i;

	put_family(b, h->name, "histogram", h->help);
	for (i = 0; i < HIST_BOUNDS_MAX && h->bounds[i] != 0; i++) {
		cum += h->buckets[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h->name,
		    h->bounds[i] / 1e6, (unsigned long long)cum);
	}
	cum += h->buckets[i];
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", h->name,
	    (unsigned long long)cum);
	evbuffer_add_printf(b, "%s_sum %llu.%06llu\n", h->name,
	    (unsigned long long)(h->sum_us / 1000000),
	    (unsigned long long)(h->sum_us % 1000000));
	evbuffer_add_printf(b, "%s_count %llu\n", h->name,
	    (unsigned long long)h->count);
}

static void
put_outcomes(struct evbuffer *b)
{
	size_t	i;

	put_family(b, "securer_executions_total", "counter",
	    "Executions ended, by outcome (aborted: the session was closed "
	    "during it).");
	for (i = 0; i < EXEC_STATUSES; i++)
		put_labelled(b, "securer_executions_total", "outcome",
		    exec_status_str(i), executions[i]);
	put_family(b, "securer_tool_calls_total", "counter",
	    "Tool calls from workers, by outcome (refused: unknown tool or "
	    "bad arguments; too_many: past max_tool_calls).");
	for (i = 0; i < TOOL_OUTCOMES; i++)
		put_labelled(b, "securer_tool_calls_total", "outcome",
		    tool_outcomes[i], i == TOOL_RATE_LIMITED ?
		    counters.tool_rate_limited : tool_calls[i]);
	put_family(b, "securer_timeouts_total", "counter",
	    "Deadlines that passed: executions' timeouts, pool requests' "
	    "acquire_timeout.");
	put_labelled(b, "securer_timeouts_total", "kind", "execution",
	    executions[EXEC_TIMEOUT]);
	put_labelled(b, "securer_timeouts_total", "kind", "pool_acquire",
	    pool_acquire_timeouts);
	put_family(b, "securer_worker_kills_total", "counter",
	    "Workers ended by a limit, a signal or the daemon, by cause.");
	for (i = 0; i < KILL_CAUSES; i++)
		put_labelled(b, "securer_worker_kills_total", "cause",
		    kill_causes[i], kills[i]);
	put_counter(b, "securer_worker_exits_total", "Workers that exited "
	    "by themselves, unasked.", worker_exits);
	put_counter(b, "securer_worker_spawn_failures_total", "Workers the "
	    "broker could not start.", spawn_failures);
}

static void
put_counters(struct evbuffer *b)
{
	put_counter(b, "securer_connections_total", "Client connections "
	    "accepted.", counters.connections);
	put_counter(b, "securer_auth_failures_total", "Clients refused by "
	    "the allow and deny rules or their token.", counters.auth_failures);
	put_counter(b, "securer_rate_limited_total", "Requests refused by "
	    "an identity's request rate.", counters.rate_limited);
	put_counter(b, "securer_sessions_opened_total", "Sessions admitted.",
	    counters.sessions_opened);
	put_counter(b, "securer_sessions_closed_total", "Sessions closed, "
	    "for whatever reason.", counters.sessions_closed);
	put_counter(b, "securer_sessions_expired_total", "Sessions closed by "
	    "idle-ttl or lifetime.", counters.sessions_expired);
	put_counter(b, "securer_executions_started_total", "Executions "
	    "admitted.", counters.executions);
	put_family(b, "securer_refused_total", "counter", "Requests refused, "
	    "by reason (capacity, a per-identity limit, a busy pool at once "
	    "or after acquire_timeout).");
	put_labelled(b, "securer_refused_total", "reason", "capacity",
	    counters.capacity_refused);
	put_labelled(b, "securer_refused_total", "reason", "limit",
	    counters.limit_refused);
	put_labelled(b, "securer_refused_total", "reason", "pool_busy",
	    counters.pool_busy);
	put_counter(b, "securer_reloads_total", "Configuration reloads.",
	    counters.reloads);
	put_counter(b, "securer_operator_kills_total", "Sessions killed with "
	    "securerctl kill.", counters.operator_kills);
}

struct tally {
	struct evbuffer	*b;
	uint64_t	 states[4];	/* starting idle busy dead */
	uint64_t	 pools;
};

static void
tally_session(struct tally *t, struct session *s)
{
	const char	*st = session_state_str(s);

	if (strcmp(st, "starting") == 0)
		t->states[0]++;
	else if (strcmp(st, "idle") == 0)
		t->states[1]++;
	else if (strcmp(st, "busy") == 0)
		t->states[2]++;
	else
		t->states[3]++;
}

static void
tally_client(struct client *c, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		tally_session(arg, s);
}

static void
tally_pool(struct pool *p, void *arg)
{
	struct tally	*t = arg;
	struct session	*s;

	t->pools++;
	TAILQ_FOREACH(s, &p->sessions, entry)
		tally_session(t, s);
}

/* One line per pool and state: its sessions busy, idle or neither. */
static void
put_pool(struct pool *p, void *arg)
{
	static const char *const names[] = { "busy", "idle", "other" };
	struct evbuffer	*b = arg;
	struct session	*s;
	uint64_t	 n[3] = { 0, 0, 0 };
	char		 uid[16];
	size_t		 i;

	TAILQ_FOREACH(s, &p->sessions, entry)
		n[s->exec != NULL ? 0 : s->state == S_IDLE ? 1 : 2]++;
	snprintf(uid, sizeof(uid), "%u", (unsigned)p->ident->uid);
	for (i = 0; i < 3; i++) {
		evbuffer_add_printf(b, "securer_pool_sessions{");
		put_label(b, "pool", p->name);
		evbuffer_add(b, ",", 1);
		put_label(b, "uid", uid);
		evbuffer_add(b, ",", 1);
		put_label(b, "state", names[i]);
		evbuffer_add_printf(b, "} %llu\n", (unsigned long long)n[i]);
	}
}

static void
put_gauges(struct evbuffer *b)
{
	static const char *const states[] = { "starting", "idle", "busy",
	    "dead" };
	struct tally	 t;
	size_t		 i;

	memset(&t, 0, sizeof(t));
	client_walk(tally_client, &t);
	pool_walk(tally_pool, &t);
	put_gauge(b, "securer_clients", "Clients connected.", client_count());
	put_family(b, "securer_sessions", "gauge", "Sessions open, by state "
	    "(dead: its worker could not start; the next request retries).");
	for (i = 0; i < 4; i++)
		put_labelled(b, "securer_sessions", "state", states[i],
		    t.states[i]);
	put_gauge(b, "securer_pools", "Pools open.", t.pools);
	put_family(b, "securer_pool_sessions", "gauge", "Each pool's "
	    "sessions, by state.");
	pool_walk(put_pool, b);
	put_gauge(b, "securer_workers_running", "Worker processes spawned "
	    "and not yet reaped.", worker_count());
	put_gauge(b, "securer_workers_ready", "Workers started ahead of "
	    "demand, waiting for a session.", workers_ready());
	put_gauge(b, "securer_workers_capacity", "The workers capacity (0: "
	    "none).", conf->cap_workers);
	put_gauge(b, "securer_memory_used_bytes", "Memory limits of open "
	    "sessions, charged to the capacity.", policy_memory_used());
	put_gauge(b, "securer_memory_capacity_bytes", "The memory capacity "
	    "(0: none).", conf->cap_memory);
}

/* Everything, as one string: the control reply's result. */
cJSON *
metrics_json(void)
{
	struct evbuffer	*b;
	cJSON		*r;
	size_t		 len;
	char		*text;

	if ((b = evbuffer_new()) == NULL)
		fatal("%s", __func__);
	put_gauges(b);
	put_counters(b);
	put_outcomes(b);
	put_histogram(b, &exec_hist);
	put_histogram(b, &start_hist);
	put_histogram(b, &tool_hist);
	len = evbuffer_get_length(b);
	if ((text = malloc(len + 1)) == NULL)
		fatal("%s", __func__);
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	evbuffer_free(b);
	if ((r = cJSON_CreateString(text)) == NULL)
		fatal("%s", __func__);
	free(text);
	return (r);
}
