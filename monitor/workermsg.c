/*
 * The monitor's handlers of WORKER_CHANNEL (channels.h): what a worker
 * said, read by its message's own function (msgworker.c) and handed to
 * the core.  The dispatcher has checked the type, the state, the size
 * and the peerid; what is left to check here is meaning, and anything
 * wrong is the worker's violation.
 */

#include <sys/types.h>

#include "channels.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"

#define WORKER_OF(ch)	((struct worker *)(ch)->owner)

void
monitor_recv_ready(struct chan *ch, struct imsg *imsg)
{
	core_worker_ready(WORKER_OF(ch));
}

void
monitor_recv_setup_done(struct chan *ch, struct imsg *imsg)
{
	core_worker_setup_done(WORKER_OF(ch));
}

void
monitor_recv_output(struct chan *ch, struct imsg *imsg)
{
	struct msg_output	m;

	if (msg_get_output(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "output of no stream");
		return;
	}
	core_output(WORKER_OF(ch), &m);
}

void
monitor_recv_tool_call(struct chan *ch, struct imsg *imsg)
{
	struct msg_tool_call	m;

	msg_get_tool_call(imsg, &m);
	core_tool_call(WORKER_OF(ch), imsg_get_id(imsg), &m);
}

void
monitor_recv_result_part(struct chan *ch, struct imsg *imsg)
{
	struct msg_text	part;

	msg_get_result_part(imsg, &part);
	core_result_part(WORKER_OF(ch), &part);
}

void
monitor_recv_frame_part(struct chan *ch, struct imsg *imsg)
{
	core_frame_part(WORKER_OF(ch), msg_take_frame_part(imsg));
}

void
monitor_recv_result(struct chan *ch, struct imsg *imsg)
{
	struct msg_result	m;

	if (msg_get_result(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "a bad result");
		return;
	}
	core_result(WORKER_OF(ch), &m);
}

void
monitor_recv_error(struct chan *ch, struct imsg *imsg)
{
	struct msg_error	m;

	if (msg_get_error(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "an error of no kind");
		return;
	}
	core_error(WORKER_OF(ch), &m);
}

void
monitor_recv_advisory(struct chan *ch, struct imsg *imsg)
{
	struct msg_text	names;

	if (msg_get_advisory(imsg, &names) == -1) {
		core_worker_violation(WORKER_OF(ch), "a bad advisory");
		return;
	}
	core_advisory(WORKER_OF(ch), &names);
}

void
monitor_recv_plot(struct chan *ch, struct imsg *imsg)
{
	struct msg_plot	m;

	if (msg_get_plot(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "a bad plot");
		return;
	}
	core_plot(WORKER_OF(ch), &m);
}

void
monitor_recv_file(struct chan *ch, struct imsg *imsg)
{
	struct msg_file	m;

	if (msg_get_file(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "a bad file reply");
		return;
	}
	core_file_reply(WORKER_OF(ch), &m);
}

/* IMSG_W_SNAPSHOT_DONE: its state is in the memfd it was given, or not. */
void
monitor_recv_snapshot_done(struct chan *ch, struct imsg *imsg)
{
	struct msg_snap_done	m;

	if (msg_get_snap_done(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "a bad snapshot reply");
		return;
	}
	core_snapshot_done(WORKER_OF(ch), &m);
}

/* IMSG_W_RESTORED: it took on the state it was given, or not. */
void
monitor_recv_restored(struct chan *ch, struct imsg *imsg)
{
	struct msg_snap_done	m;

	if (msg_get_snap_done(imsg, &m) == -1) {
		core_worker_violation(WORKER_OF(ch), "a bad restore reply");
		return;
	}
	core_restored(WORKER_OF(ch), &m);
}
