/*
 * imsg channels driven by libevent: the event is re-armed after every
 * change of the write queue, so EV_WRITE is asked for only while there
 * is something to write.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <event.h>

#include "securerd.h"

/*
 * Uses event_set(), i.e. the base made by event_init(), as every
 * process has exactly one.  iev->ev must start zeroed (calloc) or set.
 */
void
imsg_event_add(struct imsgev *iev)
{
	iev->events = EV_READ;
	if (imsgbuf_queuelen(&iev->ibuf) > 0)
		iev->events |= EV_WRITE;
	if (event_initialized(&iev->ev))
		event_del(&iev->ev);
	event_set(&iev->ev, iev->ibuf.fd, iev->events, iev->handler, iev);
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
			event_del(&iev->ev);
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
