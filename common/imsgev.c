/*
 * imsg channels driven by libevent: EV_WRITE is asked for only while
 * there is something the socket did not take.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <event.h>

#include "securerd.h"

static TAILQ_HEAD(, imsgev)	dirty = TAILQ_HEAD_INITIALIZER(dirty);
static struct event		ev_flush;
static int			deferred;

static void	imsg_event_arm(struct imsgev *);
static void	imsg_event_flush(int, short, void *);

/*
 * Once, after event_init(): messages are written at the end of the turn
 * of the event loop that composed them, so that what one turn composes
 * for a peer (the audit records of several executions, say) goes in one
 * sendmsg(2) and wakes the peer once.  The flush event is made active
 * by the first message of a turn, so it comes after every event that
 * epoll(7) reported for that turn.  Without this, each message is
 * written when it is composed.
 */
int
imsg_event_init(void)
{
	TAILQ_INIT(&dirty);
	event_set(&ev_flush, -1, 0, imsg_event_flush, NULL);
	deferred = 1;
	return (0);
}

/*
 * Uses event_set(), i.e. the base made by event_init(), as every
 * process has exactly one.  iev->ev must start zeroed (calloc) or set.
 */
void
imsg_event_add(struct imsgev *iev)
{
	if (!deferred || imsgbuf_queuelen(&iev->ibuf) == 0) {
		imsg_event_arm(iev);
		return;
	}
	if (!iev->dirty) {
		TAILQ_INSERT_TAIL(&dirty, iev, dirty_entry);
		iev->dirty = 1;
	}
	event_active(&ev_flush, EV_TIMEOUT, 1);
	/* Reading goes on meanwhile. */
	if (!event_initialized(&iev->ev) ||
	    !event_pending(&iev->ev, EV_READ, NULL))
		imsg_event_arm(iev);
}

/* Before the channel's fd is closed or iev freed. */
void
imsg_event_del(struct imsgev *iev)
{
	if (iev->dirty) {
		TAILQ_REMOVE(&dirty, iev, dirty_entry);
		iev->dirty = 0;
	}
	if (event_initialized(&iev->ev))
		event_del(&iev->ev);
}

static void
imsg_event_flush(int fd, short event, void *arg)
{
	struct imsgev	*iev;

	while ((iev = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, iev, dirty_entry);
		iev->dirty = 0;
		imsg_event_arm(iev);
	}
}

/*
 * What is queued is written now: the socket almost always takes it,
 * which saves a wakeup for EV_WRITE and two epoll_ctl(2) calls per
 * message.  A write error is left for the handler's own write to see.
 * The event persists and is changed only when what it waits for does.
 */
static void
imsg_event_arm(struct imsgev *iev)
{
	short	events = EV_READ;

	if (imsgbuf_queuelen(&iev->ibuf) > 0)
		(void)imsgbuf_write(&iev->ibuf);
	if (imsgbuf_queuelen(&iev->ibuf) > 0)
		events |= EV_WRITE;
	if (event_initialized(&iev->ev)) {
		if (iev->events == events &&
		    event_pending(&iev->ev, EV_READ | EV_WRITE, NULL))
			return;
		event_del(&iev->ev);
	}
	iev->events = events;
	event_set(&iev->ev, iev->ibuf.fd, events | EV_PERSIST, iev->handler,
	    iev);
	event_add(&iev->ev, NULL);
}

int
imsg_compose_event(struct imsgev *iev, uint32_t type, uint32_t id,
    pid_t pid, int fd, const void *data, size_t datalen)
{
	if (imsg_compose(&iev->ibuf, type, id, pid, fd, data, datalen) == -1)
		return (-1);
	imsg_event_add(iev);
	return (0);
}

int
imsg_composev_event(struct imsgev *iev, uint32_t type, uint32_t id,
    pid_t pid, int fd, const struct iovec *iov, int iovcnt)
{
	if (imsg_composev(&iev->ibuf, type, id, pid, fd, iov, iovcnt) == -1)
		return (-1);
	imsg_event_add(iev);
	return (0);
}

/*
 * The body of a dispatch function for a peer we serve but do not trust:
 * reads and writes as event says and hands each message to handle; a
 * broken channel or header goes to fail, which kills the peer.  At EOF
 * the event is dropped: the peer's exit is reported by SIGCHLD.
 */
void
imsg_event_dispatch(struct imsgev *iev, short event,
    void (*handle)(struct imsg *), void (*fail)(const char *))
{
	struct imsg	imsg;
	ssize_t		n;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(&iev->ibuf)) == -1 && errno != EAGAIN) {
			fail("unreadable channel");
			return;
		}
		if (n == 0) {
			imsg_event_del(iev);
			return;
		}
	}
	if ((event & EV_WRITE) && imsgbuf_write(&iev->ibuf) == -1 &&
	    errno != EPIPE) {
		fail("unwritable channel");
		return;
	}
	for (;;) {
		if ((n = imsg_get(&iev->ibuf, &imsg)) == -1) {
			fail("bad message header");
			return;
		}
		if (n == 0)
			break;
		handle(&imsg);
		imsg_free(&imsg);
	}
	imsg_event_add(iev);
}
