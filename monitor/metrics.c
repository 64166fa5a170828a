/*
 * What "securerctl metrics" prints, in Prometheus' text exposition
 * format (0.0.4): the gauges, read from the session, pool and worker
 * tables when asked so that nothing can drift from what the daemon
 * holds, then stats.c's counters and histograms.
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

struct tally {
	struct evbuffer	*b;
	uint64_t	 states[4];	/* starting idle busy dead */
	uint64_t	 pools;
};

static void
tally_session(struct tally *t, const struct session *s)
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
		n[s->job != NULL ? 0 : s->state == S_IDLE ? 1 : 2]++;
	snprintf(uid, sizeof(uid), "%u", (unsigned)p->ident->uid);
	for (i = 0; i < 3; i++) {
		evbuffer_add_printf(b, "securer_pool_sessions{");
		prom_label(b, "pool", p->name);
		evbuffer_add(b, ",", 1);
		prom_label(b, "uid", uid);
		evbuffer_add(b, ",", 1);
		prom_label(b, "state", names[i]);
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
	prom_gauge(b, "securer_clients", "Clients connected.", client_count());
	prom_family(b, "securer_sessions", "gauge", "Sessions open, by state "
	    "(dead: its worker could not start; the next request retries).");
	for (i = 0; i < 4; i++)
		prom_labelled(b, "securer_sessions", "state", states[i],
		    t.states[i]);
	prom_gauge(b, "securer_pools", "Pools open.", t.pools);
	prom_family(b, "securer_pool_sessions", "gauge", "Each pool's "
	    "sessions, by state.");
	pool_walk(put_pool, b);
	prom_gauge(b, "securer_workers_running", "Worker processes spawned "
	    "and not yet reaped.", worker_count());
	prom_gauge(b, "securer_workers_ready", "Workers started ahead of "
	    "demand, waiting for a session.", spare_ready());
	prom_gauge(b, "securer_workers_capacity", "The workers capacity (0: "
	    "none).", conf->cap_workers);
	prom_gauge(b, "securer_memory_used_bytes", "Memory limits of open "
	    "sessions, charged to the capacity.", policy_memory_used());
	prom_gauge(b, "securer_memory_capacity_bytes", "The memory capacity "
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
	stats_put_counters(b);
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
