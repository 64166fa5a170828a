/*
 * The channel tables, made from the rows of channels.h.  Pure data:
 * every process links all of them, binds handlers for the rows it
 * receives, and the dispatcher (chan.c) reads them.
 */

#include <stddef.h>

#include "channels.h"

/*
 * A row's size rule (FIXED() and the others) expands to six fields:
 * size_rule, hdr, max and the three length offsets.
 */
#define RULE_INIT(type, name, from, size_rule, hdr, max, l0, l1, l2,	\
    fd, id, states, fn)							\
	{ type, name, from, size_rule, fd, id, hdr, max, { l0, l1, l2 },	\
	    states, fn }
#define RULE_EXPAND(...)	RULE_INIT(__VA_ARGS__)
#define RULE_ROW(type, from, rule, states, fd, id, fn)		\
	RULE_EXPAND(type, #type, PROC_##from, rule, fd, id, states, #fn),

static const struct chan_rule	broker_monitor_rules[] = {
	BROKER_MONITOR_CHANNEL(RULE_ROW)
};
static const struct chan_rule	broker_template_rules[] = {
	BROKER_TEMPLATE_CHANNEL(RULE_ROW)
};
static const struct chan_rule	worker_rules[] = {
	WORKER_CHANNEL(RULE_ROW)
};

static const char *const	mb_states[] = { "MB_CONF", "MB_ADOPT", "MB_RUN" };
static const char *const	bm_states[] = { "BM_RUN", "BM_DRAIN" };
static const char *const	bt_states[] = { "BT_START", "BT_UP" };
static const char *const	tb_states[] = { "TB_RUN" };
static const char *const	ws_states[] = {
	"WS_BOOT", "WS_READY", "WS_SETUP_EARLY", "WS_SETUP", "WS_IDLE",
	"WS_EXEC", "WS_RUN", "WS_TOOL", "WS_FILE", "WS_SNAP", "WS_RESTORE",
};
static const char *const	wk_states[] = { "WK_BOOT", "WK_IDLE", "WK_TOOL" };

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

const struct chan_spec	chan_broker_monitor = {
	"broker-monitor", { PROC_BROKER, PROC_MONITOR }, BROKER_IMSG_MAX,
	{ bm_states, mb_states }, { NELEM(bm_states), NELEM(mb_states) },
	broker_monitor_rules, NELEM(broker_monitor_rules),
};

const struct chan_spec	chan_broker_template = {
	"broker-template", { PROC_BROKER, PROC_TEMPLATE }, BROKER_IMSG_MAX,
	{ bt_states, tb_states }, { NELEM(bt_states), NELEM(tb_states) },
	broker_template_rules, NELEM(broker_template_rules),
};

const struct chan_spec	chan_worker = {
	"worker", { PROC_MONITOR, PROC_WORKER }, WORKER_IMSG_MAX,
	{ ws_states, wk_states }, { NELEM(ws_states), NELEM(wk_states) },
	worker_rules, NELEM(worker_rules),
};
