/*
 * The monitor's handlers of BROKER_MONITOR_CHANNEL (channels.h), but for
 * the audit log's (audit.c) and the control connections' (control.c):
 * the configuration, and what became of the workers it asked for.  The
 * broker is trusted; a message that is wrong all the same ends the
 * monitor, and the broker starts another.
 */

#include <sys/types.h>

#include <unistd.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"


/*
 * The configuration: the first message after exec, then one for each
 * reload (SIGHUP), which connections and sessions survive.
 */
void
monitor_recv_conf(struct chan *ch, struct imsg *imsg)
{
	static struct securerd_conf	nc;

	if (msg_get_conf(imsg, &nc) == -1)
		fatalx("broker: a bad configuration");
	*conf = nc;
	if (ch->state == MB_CONF) {
		ch->state = MB_RUN;
		return;
	}
	policy_reload();
	spare_reload();
	log_info("configuration reloaded");
}

void
monitor_recv_worker_fd(struct chan *ch, struct imsg *imsg)
{
	struct worker_ref	ref;

	msg_get_fixed(imsg, &ref, sizeof(ref));
	core_worker_fd(ref.worker_id, imsg_get_fd(imsg));
}

void
monitor_recv_spawn_failed(struct chan *ch, struct imsg *imsg)
{
	struct spawn_failed	sf;

	msg_get_fixed(imsg, &sf, sizeof(sf));
	core_spawn_failed(sf.worker_id, sf.error);
}

void
monitor_recv_worker_exit(struct chan *ch, struct imsg *imsg)
{
	struct worker_exit	we;

	if (msg_get_worker_exit(imsg, &we) == -1)
		fatalx("broker: a worker exit of no cause");
	core_worker_exit(&we);
}

/* The broker killed a worker that ran after its job ended (rest.c). */
void
monitor_recv_worker_ran(struct chan *ch, struct imsg *imsg)
{
	struct worker_ran	wr;

	msg_get_fixed(imsg, &wr, sizeof(wr));
	core_worker_ran(&wr);
}

/* IMSG_SNAP_STORED: the snapshot is on disk, authenticated. */
void
monitor_recv_snap_stored(struct chan *ch, struct imsg *imsg)
{
	struct snap_result	res;

	if (msg_get_snap_result(imsg, &res) == -1)
		fatalx("broker: a bad snapshot result");
	core_snap_stored(&res);
}

/* IMSG_SNAP_LOADED: a checked snapshot, in a sealed memfd. */
void
monitor_recv_snap_loaded(struct chan *ch, struct imsg *imsg)
{
	struct snap_result	res;

	if (msg_get_snap_result(imsg, &res) == -1)
		fatalx("broker: a bad snapshot result");
	core_snap_loaded(&res, imsg_get_fd(imsg));
}

/* IMSG_SNAP_FAILED: a store or a load did not happen, and why. */
void
monitor_recv_snap_failed(struct chan *ch, struct imsg *imsg)
{
	struct snap_result	res;

	if (msg_get_snap_result(imsg, &res) == -1)
		fatalx("broker: a bad snapshot result");
	core_snap_failed(&res);
}

/* IMSG_SNAP_ADOPT: a session a monitor before this one left stored. */
void
monitor_recv_snap_adopt(struct chan *ch, struct imsg *imsg)
{
	struct snap_info	si;
	struct msg_text		rec;

	if (msg_get_snap_info(imsg, &si, &rec) == -1)
		fatalx("broker: a bad stored session");
	core_session_adopt(&si, &rec);
}

/* IMSG_SNAP_LISTED: the list is whole. */
void
monitor_recv_snap_listed(struct chan *ch, struct imsg *imsg)
{
	struct snap_listed	sl;

	msg_get_fixed(imsg, &sl, sizeof(sl));
	core_adopt_done(&sl);
}
