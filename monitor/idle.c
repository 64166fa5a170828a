/*
 * A private daemon, started for a user's command, goes away by itself
 * once nothing has used it for conf->idle_exit seconds: no connection
 * and no session.  Each of those holds the daemon up while it exists.
 */

#include <sys/types.h>

#include <event.h>
#include <stdlib.h>

#include "log.h"
#include "monitor.h"

static struct event	ev_idle;
static uint32_t		holders;
static uint32_t		idle_secs;

static void
idle_exit(int fd, short event, void *arg)
{
	log_info("idle for %u seconds, exiting", idle_secs);
	exit(0);
}

static void
idle_arm(void)
{
	struct timeval	tv = { idle_secs, 0 };

	if (idle_secs == 0)
		return;
	evtimer_del(&ev_idle);
	if (holders == 0)
		evtimer_add(&ev_idle, &tv);
}

void
idle_init(uint32_t secs)
{
	idle_secs = secs;
	evtimer_set(&ev_idle, idle_exit, NULL);
	idle_arm();
}

void
idle_hold(void)
{
	holders++;
	if (idle_secs > 0)
		evtimer_del(&ev_idle);
}

void
idle_release(void)
{
	if (holders > 0)
		holders--;
	idle_arm();
}
