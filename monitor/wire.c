/*
 * The monitor's channels (channels.h): the one to the broker, and the
 * handlers every worker's channel is opened with.  What the monitor
 * sends the broker is composed here; what comes in goes to the handlers
 * monitor.c bound to the tables, and from there to the core.
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"

static struct chan			 bchan;
static const struct chan_handler	*worker_handlers;
static size_t				 nworker_handlers;
static struct event			 ev_records;

#define WIRE_HOLD_MS	10	/* a held record's wait at most */
#define WIRE_HOLD_MAX	64	/* messages queued, at most, while held */

static void	wire_records_due(int, short, void *);

/* The broker is trusted: it breaking the protocol is a bug, fatal. */
static void
wire_broker_lost(struct chan *ch, const char *why)
{
	if (why == NULL)
		fatalx("broker closed the channel");
	fatalx("broker channel: %s", why);
}

void
wire_broker_open(int fd, const struct chan_handler *h, size_t nh)
{
	chan_init(&bchan, &chan_broker_monitor, PROC_MONITOR, h, nh, fd);
	bchan.lost = wire_broker_lost;
	bchan.state = MB_CONF;
}

/*
 * Exec'd, the monitor knows nothing until the broker says it: the
 * channel is read blocking until its configuration is in (the handler
 * moves the channel to MB_RUN).
 */
int
wire_broker_conf(void)
{
	while (bchan.state == MB_CONF)
		if (chan_dispatch_one(&bchan) != 1)
			return (-1);
	return (0);
}

/* From now on the event loop drives it. */
void
wire_broker_run(void)
{
	if (fcntl(bchan.ibuf.fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("broker channel");
	chan_evented(&bchan);
	evtimer_set(&ev_records, wire_records_due, NULL);
}

static void
wire_broker_send(uint32_t type, uint32_t id, const void *data, size_t len)
{
	if (msg_send_fixed(&bchan, type, id, -1, data, len) == -1)
		fatal("broker channel");
}

void
wire_spawn(uint32_t id, const struct worker_limits *limits)
{
	struct spawn_req	req;

	memset(&req, 0, sizeof(req));
	req.worker_id = id;
	req.limits = *limits;
	wire_broker_send(IMSG_SPAWN, id, &req, sizeof(req));
}

/*
 * A snapshot's request: a store carries the memfd the worker wrote,
 * which the broker owns from now on.
 */
void
wire_snap(uint32_t type, const struct snap_req *sr, const char *rec,
    size_t len, int fd)
{
	if (msg_send_snap_req(&bchan, type, sr, rec, len, fd) == -1)
		fatal("broker channel");
}

/*
 * The sessions a monitor before this one left hibernated: the broker
 * lists them once (IMSG_SNAP_ADOPT each, then IMSG_SNAP_LISTED), and
 * until then the channel is in MB_ADOPT.
 */
void
wire_snap_list(void)
{
	bchan.state = MB_ADOPT;
	wire_broker_send(IMSG_SNAP_LIST, 0, NULL, 0);
}

void
wire_snap_listed(void)
{
	bchan.state = MB_RUN;
}

void
wire_kill(uint32_t id)
{
	struct worker_ref	ref = { id };

	wire_broker_send(IMSG_KILL, id, &ref, sizeof(ref));
}

/*
 * A job of the worker ended: the broker holds it still until the next
 * one, whose start record is sent after the wake, so that the worker
 * runs again before the ack that lets its job go (no round trip more).
 */
void
wire_worker_idle(uint32_t id)
{
	struct worker_ref	ref = { id };

	wire_broker_send(IMSG_WORKER_IDLE, id, &ref, sizeof(ref));
}

/*
 * In the broker's socket before the worker's next message is in its
 * own, which it may act on before the broker reads anything (broker/
 * rest.c judges a running worker only after reading what was in its
 * socket then): wire_broker_ahead() writes it, and the start record
 * queued after it, in one sendmsg(2) just before that message.  Should
 * the socket be full (the broker far behind), the rest is written at
 * the end of the turn, and a worker whose job then starts first may be
 * judged early.
 */
void
wire_worker_wake(uint32_t id)
{
	struct worker_ref	ref = { id };

	wire_broker_send(IMSG_WORKER_WAKE, id, &ref, sizeof(ref));
}

/*
 * Before a job goes to its worker, or its reply to its client: what is
 * queued for the broker (the wake and the start record, the worker's
 * rest and the end record) is written first, in one sendmsg(2), so that
 * it outlives a monitor that dies between the two (securerd(8)
 * "Durability").
 */
void
wire_broker_ahead(void)
{
	if (!bchan.evented || imsgbuf_queuelen(&bchan.ibuf) == 0)
		return;
	if (chan_flush(&bchan) == -1 && errno != EPIPE)
		fatal("broker channel");
}

/* Held tool-call records are due. */
static void
wire_records_due(int fd, short event, void *arg)
{
	wire_broker_ahead();
}

/*
 * A record that asks for an ack goes out now rather than at the end of
 * the turn: an execution, or its reply, waits for the broker's answer.
 * A tool call's record, which nothing waits for, is held (chan_hold())
 * for the next message to the broker, its execution's end at the
 * latest, but never more than WIRE_HOLD_MS or WIRE_HOLD_MAX messages:
 * a loop of calls wakes the broker once in so many, not at every call.
 * Under audit-sync always the end that is acked is behind them, so
 * what securerd(8) promises of them holds.
 */
void
wire_audit(const struct audit_event *ev, const struct msg_text *texts)
{
	struct timeval	tv = { 0, WIRE_HOLD_MS * 1000 };
	int		hold;

	hold = bchan.evented && ev->type == AUDIT_TOOL_CALL &&
	    !(ev->flags & AUDIT_F_ACK);
	chan_hold(&bchan, hold);
	if (msg_send_audit(&bchan, ev, texts) == -1)
		fatal("broker channel");
	chan_hold(&bchan, 0);
	if (hold && imsgbuf_queuelen(&bchan.ibuf) >= WIRE_HOLD_MAX)
		wire_broker_ahead();
	else if (hold && !evtimer_pending(&ev_records, NULL))
		evtimer_add(&ev_records, &tv);
	if ((ev->flags & AUDIT_F_ACK) && bchan.evented &&
	    chan_flush(&bchan) == -1 && errno != EPIPE)
		fatal("broker channel");
}

/*
 * The monitor is about to exit by itself (hibernate-on-stop): what it
 * queued for the broker (audit records, deletions) is written first.
 */
void
wire_broker_drain(void)
{
	int	flags;

	if (!bchan.open || (flags = fcntl(bchan.ibuf.fd, F_GETFL)) == -1 ||
	    fcntl(bchan.ibuf.fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		return;
	if (imsgbuf_flush(&bchan.ibuf) == -1)
		log_warn("broker channel");
}

void
wire_reload(void)
{
	wire_broker_send(IMSG_CTL_RELOAD, 0, NULL, 0);
}

/* The handlers every worker's channel gets (monitor.c binds them). */
void
wire_worker_handlers(const struct chan_handler *h, size_t nh)
{
	worker_handlers = h;
	nworker_handlers = nh;
}

void
wire_worker_open(struct chan *ch, int fd, void *owner,
    void (*lost)(struct chan *, const char *))
{
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("%s", __func__);
	chan_init(ch, &chan_worker, PROC_MONITOR, worker_handlers,
	    nworker_handlers, fd);
	ch->owner = owner;
	ch->lost = lost;
	ch->state = WS_BOOT;
	chan_evented(ch);
}
