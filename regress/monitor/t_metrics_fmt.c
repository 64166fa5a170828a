/*
 * Tests of monitor/metrics.c and stats.c on their own: the hooks' counts, where an
 * observation lands in a histogram, why a worker ended, and label values
 * escaped as the text format wants (a pool named with a quote, a
 * backslash and a newline, which the daemon's own names never have).
 * The tables metrics.c reads are stubs here.
 */

#include <sys/types.h>

#include <atf-c.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"
#include "sanitizer.h"

static struct securerd_conf	 test_conf;
struct securerd_conf		*conf = &test_conf;
static struct identity		 ident = { .uid = 1001 };
static struct pool		 test_pool;
static struct session		 busy;
static struct exec		 busy_exec;

void
client_walk(void (*fn)(struct client *, void *), void *arg)
{
}

void
pool_walk(void (*fn)(struct pool *, void *), void *arg)
{
	if (test_pool.name[0] != '\0')
		fn(&test_pool, arg);
}

size_t
client_count(void)
{
	return (0);
}

size_t
worker_count(void)
{
	return (0);
}

uint32_t
spare_ready(void)
{
	return (0);
}

uint64_t
policy_memory_used(void)
{
	return (0);
}

const char *
session_state_str(const struct session *s)
{
	return ("busy");
}

/* The exposition as securerctl prints it; the caller frees it. */
static char *
exposition(void)
{
	cJSON	*r = metrics_json();
	char	*text;

	ATF_REQUIRE(cJSON_IsString(r));
	text = strdup(r->valuestring);
	cJSON_Delete(r);
	return (text);
}

/* line must be one whole line of the exposition. */
static void
check_line(const char *line)
{
	char	*text = exposition(), *want;

	ATF_REQUIRE(asprintf(&want, "\n%s\n", line) != -1);
	ATF_CHECK_MSG(strstr(text, want) != NULL, "no line %s in:\n%s", line,
	    text);
	free(want);
	free(text);
}

ATF_TC_WITHOUT_HEAD(label_escaping);
ATF_TC_BODY(label_escaping, tc)
{
	strlcpy(test_pool.name, "a\"b\\c\nd", sizeof(test_pool.name));
	test_pool.ident = &ident;
	TAILQ_INIT(&test_pool.sessions);
	busy.job = &busy_exec.job;
	TAILQ_INSERT_TAIL(&test_pool.sessions, &busy, entry);
	check_line("securer_pool_sessions{pool=\"a\\\"b\\\\c\\nd\","
	    "uid=\"1001\",state=\"busy\"} 1");
	check_line("securer_pool_sessions{pool=\"a\\\"b\\\\c\\nd\","
	    "uid=\"1001\",state=\"idle\"} 0");
	check_line("securer_pools 1");
}

ATF_TC_WITHOUT_HEAD(outcomes);
ATF_TC_BODY(outcomes, tc)
{
	uint64_t	start = now_us();

	stats_exec_end(EXEC_OK, 0, 0);		/* never sent: not timed */
	stats_exec_end(EXEC_ERROR, 1, start);
	stats_exec_end(EXEC_TIMEOUT, 1, start);
	stats_exec_end(EXEC_TIMEOUT, 1, start);
	stats_exec_end(EXEC_ABORTED, 1, start);
	stats_tool_call(TOOL_REFUSED, 0);
	stats_tool_call(TOOL_TOO_MANY, 0);
	stats_tool_call(TOOL_OK, now_us());
	counters.tool_rate_limited = 7;
	stats_pool_timeout();
	stats_spawn_failed();
	check_line("securer_executions_total{outcome=\"ok\"} 1");
	check_line("securer_executions_total{outcome=\"error\"} 1");
	check_line("securer_executions_total{outcome=\"timeout\"} 2");
	check_line("securer_executions_total{outcome=\"killed\"} 0");
	check_line("securer_executions_total{outcome=\"aborted\"} 1");
	check_line("securer_timeouts_total{kind=\"execution\"} 2");
	check_line("securer_timeouts_total{kind=\"pool_acquire\"} 1");
	check_line("securer_execution_duration_seconds_count 4");
	check_line("securer_tool_calls_total{outcome=\"ok\"} 1");
	check_line("securer_tool_calls_total{outcome=\"refused\"} 1");
	check_line("securer_tool_calls_total{outcome=\"too_many\"} 1");
	check_line("securer_tool_calls_total{outcome=\"rate_limited\"} 7");
	check_line("securer_tool_call_duration_seconds_count 1");
	check_line("securer_worker_spawn_failures_total 1");
}

/* 3 ms lands above the 2.5 ms bound, in every bucket from 5 ms up. */
ATF_TC_WITHOUT_HEAD(buckets);
ATF_TC_BODY(buckets, tc)
{
	stats_session_start(now_us() - 3000);
	check_line("securer_session_start_seconds_bucket{le=\"0.0025\"} 0");
	check_line("securer_session_start_seconds_bucket{le=\"60\"} 1");
	check_line("securer_session_start_seconds_bucket{le=\"+Inf\"} 1");
	check_line("securer_session_start_seconds_count 1");
	check_line("securer_tool_call_duration_seconds_bucket{le=\"+Inf\"} 0");
	check_line("securer_tool_call_duration_seconds_sum 0.000000");
}

static void
ended(int killed, const char *reason, enum exit_cause cause)
{
	struct worker_exit	we;

	memset(&we, 0, sizeof(we));
	we.cause = cause;
	stats_worker_exit(killed, reason, &we);
}

ATF_TC_WITHOUT_HEAD(kill_causes);
ATF_TC_BODY(kill_causes, tc)
{
	ended(0, "", EXIT_MEMORY);
	ended(1, "timeout", EXIT_MEMORY);	/* the kernel was first */
	ended(0, "", EXIT_CPU);
	ended(0, "", EXIT_VIOLATION);
	ended(0, "", EXIT_SIGNAL);
	ended(0, "", EXIT_NORMAL);
	ended(1, "session closed", EXIT_NORMAL);
	ended(1, "session closed", EXIT_KILLED);
	ended(1, "timeout", EXIT_KILLED);
	ended(1, "flooded its channel", EXIT_KILLED);
	ended(1, "protocol violation: bad result", EXIT_KILLED);
	ended(1, "restarted by the client", EXIT_KILLED);
	ended(1, "something new", EXIT_KILLED);
	check_line("securer_worker_kills_total{cause=\"memory\"} 2");
	check_line("securer_worker_kills_total{cause=\"cpu\"} 1");
	check_line("securer_worker_kills_total{cause=\"violation\"} 1");
	check_line("securer_worker_kills_total{cause=\"signal\"} 1");
	check_line("securer_worker_kills_total{cause=\"closed\"} 2");
	check_line("securer_worker_kills_total{cause=\"timeout\"} 1");
	check_line("securer_worker_kills_total{cause=\"flood\"} 1");
	check_line("securer_worker_kills_total{cause=\"protocol\"} 1");
	check_line("securer_worker_kills_total{cause=\"restart\"} 1");
	check_line("securer_worker_kills_total{cause=\"other\"} 1");
	check_line("securer_worker_exits_total 1");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, label_escaping);
	ATF_TP_ADD_TC(tp, outcomes);
	ATF_TP_ADD_TC(tp, buckets);
	ATF_TP_ADD_TC(tp, kill_causes);
	return (atf_no_error());
}
