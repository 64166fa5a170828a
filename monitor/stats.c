/*
 * The monitor's counts: struct counters ("show counters"), and the
 * outcomes and latency histograms of "securerctl metrics", counted
 * through one-line hooks where things happen, and written out here in
 * Prometheus' text exposition format (0.0.4), with the writers
 * metrics.c uses for the gauges it reads from the tables.
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

struct counters	counters;

/* An execution ended; sent: it reached its worker at start_us. */
void
stats_exec_end(enum exec_status status, int sent, uint64_t start_us)
{
	if (status < EXEC_STATUSES)
		executions[status]++;
	if (sent)
		hist_observe(&exec_hist, now_us() - start_us);
}

void
stats_session_start(uint64_t created_us)
{
	hist_observe(&start_hist, now_us() - created_us);
}

/* A tool call's outcome; answered ones are timed from start_us. */
void
stats_tool_call(enum tool_outcome outcome, uint64_t start_us)
{
	tool_calls[outcome]++;
	if (outcome == TOOL_OK || outcome == TOOL_ERROR)
		hist_observe(&tool_hist, now_us() - start_us);
}

void
stats_pool_timeout(void)
{
	pool_acquire_timeouts++;
}

void
stats_spawn_failed(void)
{
	spawn_failures++;
}

/*
 * A limit the kernel enforced names the cause whoever asked; otherwise
 * a worker the monitor asked to go went for the monitor's reason, even
 * if it exited by itself (its channel closed) before the signal came.
 */
static size_t
kill_cause(int killed, const char *reason, const struct worker_exit *we)
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
	if (!killed)
		return (3);	/* a signal of its own doing */
	for (i = 0; i < n; i++)
		if (strncmp(reason, kill_reasons[i].reason,
		    strlen(kill_reasons[i].reason)) == 0)
			return (4 + i);
	return (KILL_CAUSES - 1);
}

/* killed: the monitor asked, for reason. */
void
stats_worker_exit(int killed, const char *reason,
    const struct worker_exit *we)
{
	if (we->cause == EXIT_NORMAL && !killed)
		worker_exits++;
	else
		kills[kill_cause(killed, reason, we)]++;
}

/* A label value as the format wants it: \, " and newline escaped. */
void
prom_label(struct evbuffer *b, const char *name, const char *value)
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

void
prom_family(struct evbuffer *b, const char *name, const char *type,
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
void
prom_labelled(struct evbuffer *b, const char *name, const char *label,
    const char *value, uint64_t v)
{
	evbuffer_add_printf(b, "%s{", name);
	prom_label(b, label, value);
	evbuffer_add_printf(b, "} %llu\n", (unsigned long long)v);
}

static void
put_counter(struct evbuffer *b, const char *name, const char *help,
    uint64_t v)
{
	prom_family(b, name, "counter", help);
	put_value(b, name, v);
}

void
prom_gauge(struct evbuffer *b, const char *name, const char *help,
    uint64_t v)
{
	prom_family(b, name, "gauge", help);
	put_value(b, name, v);
}

static void
put_histogram(struct evbuffer *b, const struct histogram *h)
{
	uint64_t	cum = 0;
	size_t		i;

	prom_family(b, h->name, "histogram", h->help);
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

	prom_family(b, "securer_executions_total", "counter",
	    "Executions ended, by outcome (aborted: the session was closed "
	    "during it).");
	for (i = 0; i < EXEC_STATUSES; i++)
		prom_labelled(b, "securer_executions_total", "outcome",
		    exec_status_str(i), executions[i]);
	prom_family(b, "securer_tool_calls_total", "counter",
	    "Tool calls from workers, by outcome (refused: unknown tool or "
	    "bad arguments; too_many: past max_tool_calls).");
	for (i = 0; i < TOOL_OUTCOMES; i++)
		prom_labelled(b, "securer_tool_calls_total", "outcome",
		    tool_outcomes[i], i == TOOL_RATE_LIMITED ?
		    counters.tool_rate_limited : tool_calls[i]);
	prom_family(b, "securer_timeouts_total", "counter",
	    "Deadlines that passed: executions' timeouts, pool requests' "
	    "acquire_timeout.");
	prom_labelled(b, "securer_timeouts_total", "kind", "execution",
	    executions[EXEC_TIMEOUT]);
	prom_labelled(b, "securer_timeouts_total", "kind", "pool_acquire",
	    pool_acquire_timeouts);
	prom_family(b, "securer_worker_kills_total", "counter",
	    "Workers ended by a limit, a signal or the daemon, by cause.");
	for (i = 0; i < KILL_CAUSES; i++)
		prom_labelled(b, "securer_worker_kills_total", "cause",
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
	put_counter(b, "securer_connections_refused_total", "Connections "
	    "refused at accept: a uid's or the daemon's cap.",
	    counters.connections_refused);
	put_counter(b, "securer_hello_timeouts_total", "Connections dropped "
	    "for not saying hello in time.", counters.hello_timeouts);
	put_counter(b, "securer_clients_over_budget_total", "Connections "
	    "dropped for holding more buffered data than their budget.",
	    counters.clients_over_budget);
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
	prom_family(b, "securer_refused_total", "counter", "Requests refused, "
	    "by reason (capacity, a per-identity limit, a busy pool at once "
	    "or after acquire_timeout).");
	prom_labelled(b, "securer_refused_total", "reason", "capacity",
	    counters.capacity_refused);
	prom_labelled(b, "securer_refused_total", "reason", "limit",
	    counters.limit_refused);
	prom_labelled(b, "securer_refused_total", "reason", "pool_busy",
	    counters.pool_busy);
	put_counter(b, "securer_reloads_total", "Configuration reloads.",
	    counters.reloads);
	put_counter(b, "securer_operator_kills_total", "Sessions killed with "
	    "securerctl kill.", counters.operator_kills);
}


/* Counters, outcomes and histograms: all but the gauges. */
void
stats_put_counters(struct evbuffer *b)
{
	put_counters(b);
	put_outcomes(b);
	put_histogram(b, &exec_hist);
	put_histogram(b, &start_hist);
	put_histogram(b, &tool_hist);
}
