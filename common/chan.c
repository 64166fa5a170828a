/*
 * The dispatcher of every channel between securerd's processes; see
 * chan.h.  A message is checked in two steps: its header as soon as it
 * is in (type, sender, state, fd, peerid, the size its rule allows),
 * before imsg_get() takes memory for its body; then, with the body in,
 * the lengths its header declares.  Only then does a handler run.
 *
 * Writes: a message composed on an evented channel is written at the end
 * of the loop turn that composed it, with whatever else that turn
 * composed for the same peer, so that one turn's messages go in one
 * sendmsg(2) and wake the peer once; a blocking channel writes at once.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <event.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"

static TAILQ_HEAD(, chan)	dirty = TAILQ_HEAD_INITIALIZER(dirty);
static struct event		ev_flush;
static int			flush_ready;

static int	chan_check_header(const struct imsg_hdr *, void *);
static int	chan_check_body(struct chan *, const struct chan_rule *,
		    struct imsg *);
static void	chan_handle(struct chan *, struct imsg *);
static void	chan_drain(struct chan *);
static void	chan_event(int, short, void *);
static void	chan_arm(struct chan *);
static void	chan_flush_all(int, short, void *);
static void	chan_eof(struct chan *);
static void	chan_resumed(int, short, void *);

const struct chan_rule *
chan_rule(const struct chan_spec *spec, uint32_t type)
{
	size_t	i;

	for (i = 0; i < spec->nrules; i++)
		if (spec->rules[i].type == type)
			return (&spec->rules[i]);
	return (NULL);
}

static int
chan_passes_fds(const struct chan_spec *spec)
{
	size_t	i;

	for (i = 0; i < spec->nrules; i++)
		if (spec->rules[i].fd == FD_YES)
			return (1);
	return (0);
}

/*
 * The handlers a process binds for a channel must be those of exactly
 * the rows its peer sends, each once.  -1 with the reason in why.
 */
int
chan_handlers_check(const struct chan_spec *spec, enum proc_id self,
    const struct chan_handler *h, size_t nh, char *why, size_t len)
{
	const struct chan_rule	*r;
	size_t			 i, j, n;

	for (i = 0; i < nh; i++) {
		if ((r = chan_rule(spec, h[i].type)) == NULL ||
		    r->from == self || h[i].fn == NULL) {
			snprintf(why, len, "a handler for message %u, which "
			    "this process does not receive", h[i].type);
			return (-1);
		}
	}
	for (i = 0; i < spec->nrules; i++) {
		if (spec->rules[i].from == self)
			continue;
		for (j = n = 0; j < nh; j++)
			if (h[j].type == spec->rules[i].type)
				n++;
		if (n != 1) {
			snprintf(why, len, "%zu handlers for %s", n,
			    spec->rules[i].name);
			return (-1);
		}
	}
	return (0);
}

void
chan_init(struct chan *ch, const struct chan_spec *spec, enum proc_id self,
    const struct chan_handler *handlers, size_t nhandlers, int fd)
{
	char	why[160];

	if (chan_handlers_check(spec, self, handlers, nhandlers, why,
	    sizeof(why)) == -1)
		fatalx("%s channel: %s", spec->name, why);
	memset(ch, 0, sizeof(*ch));
	ch->spec = spec;
	ch->self = self;
	ch->peer = spec->ends[0] == self ? spec->ends[1] : spec->ends[0];
	ch->handlers = handlers;
	ch->nhandlers = nhandlers;
	if (imsgbuf_init(&ch->ibuf, fd) == -1 ||
	    imsgbuf_set_maxsize(&ch->ibuf, spec->maxsize) == -1)
		fatal("%s channel", spec->name);
	if (chan_passes_fds(spec))
		imsgbuf_allow_fdpass(&ch->ibuf);
	ch->ibuf.check = chan_check_header;
	ch->ibuf.check_arg = ch;
	/*
	 * A blocking channel's end is a worker's (or its template's), whose
	 * job ends with the write of its reply: the broker holds it still
	 * from then on and counts what it runs (broker/rest.c).  So what it
	 * read and wrote for the job is freed when the next message comes
	 * or goes, not after that write: freeing (and zeroing) megabytes
	 * of a file's chunk is work a loaded host may see as the worker's
	 * running at rest.
	 */
	ch->ibuf.w.keep_spent = 1;
	ch->open = 1;
}

/* Driven by the event base of event_init() from now on. */
void
chan_evented(struct chan *ch)
{
	if (!flush_ready) {
		TAILQ_INIT(&dirty);
		event_set(&ev_flush, -1, 0, chan_flush_all, NULL);
		flush_ready = 1;
	}
	ch->evented = 1;
	ch->ibuf.w.keep_spent = 0;
	msgbuf_free_spent(&ch->ibuf.w);
	chan_arm(ch);
}

/* Closes the fd and frees the buffers; ch itself is its owner's. */
void
chan_close(struct chan *ch)
{
	if (!ch->open)
		return;
	if (ch->dirty) {
		TAILQ_REMOVE(&dirty, ch, dirty_entry);
		ch->dirty = 0;
	}
	if (ch->evented && event_initialized(&ch->ev))
		event_del(&ch->ev);
	if (ch->resume_set)
		evtimer_del(&ch->ev_resume);
	close(ch->ibuf.fd);
	imsgbuf_clear(&ch->ibuf);
	ibuf_free(ch->held);
	ch->held = NULL;
	ch->open = 0;
	ch->failed = 1;
}

/*
 * Nothing more is read or handled, and nobody is told: the owner has
 * given up on the peer.  The fd stays open until chan_close(), so this
 * is safe under the channel's own dispatcher.
 */
void
chan_stop(struct chan *ch)
{
	ch->failed = 1;
	if (ch->evented && event_initialized(&ch->ev))
		event_del(&ch->ev);
}

/*
 * Evented channels: nothing more is read or handled until chan_resume(),
 * the receiver's back-pressure on its peer (the monitor's on a worker
 * whose client is behind).  A message already read stays in the buffer
 * and is handled first on resume, so nothing is lost or reordered; the
 * end of the stream, if it came, is told after it.  Writes go on.  May
 * be called from a handler: the dispatcher stops after that message.
 */
void
chan_pause(struct chan *ch)
{
	if (ch->paused || ch->failed)
		return;
	ch->paused = 1;
	if (ch->resume_set)
		evtimer_del(&ch->ev_resume);
	chan_arm(ch);
}

/*
 * Reading again; what waited in the buffer is handled in a turn of its
 * own, not under the caller (who may be a connection's callback).
 */
void
chan_resume(struct chan *ch)
{
	struct timeval	now = { 0, 0 };

	if (!ch->paused)
		return;
	ch->paused = 0;
	if (ch->failed || !ch->open)
		return;
	if (!ch->resume_set) {
		evtimer_set(&ch->ev_resume, chan_resumed, ch);
		ch->resume_set = 1;
	}
	evtimer_add(&ch->ev_resume, &now);
	chan_arm(ch);
}

static void
chan_resumed(int fd, short event, void *arg)
{
	struct chan	*ch = arg;

	if (ch->paused || ch->failed)
		return;
	chan_drain(ch);
	if (ch->paused || ch->failed)
		return;
	if (ch->at_eof)
		chan_eof(ch);
	else
		chan_arm(ch);
}

/*
 * A violation: nothing more is read and the owner hears why, once.  The
 * owner must not free the channel from its lost() callback: it is called
 * under the dispatcher.
 */
void
chan_fail(struct chan *ch, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[sizeof(ch->why)];

	if (ch->failed)
		return;
	ch->failed = 1;
	/* Through a copy: the reason may be ch->why itself. */
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	memcpy(ch->why, why, sizeof(why));
	if (ch->evented && event_initialized(&ch->ev))
		event_del(&ch->ev);
	if (ch->lost != NULL)
		ch->lost(ch, ch->why);
}

static void
chan_eof(struct chan *ch)
{
	if (ch->failed)
		return;
	ch->failed = 1;
	if (ch->evented && event_initialized(&ch->ev))
		event_del(&ch->ev);
	if (ch->lost != NULL)
		ch->lost(ch, NULL);
}

static int
chan_violation(struct chan *ch, const char *fmt, ...)
	__attribute__((__format__ (printf, 2, 3)));

static int
chan_violation(struct chan *ch, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(ch->why, sizeof(ch->why), fmt, ap);
	va_end(ap);
	return (-1);
}

/* Everything the header says, checked before the body is read. */
static int
chan_check_header(const struct imsg_hdr *hdr, void *arg)
{
	struct chan		*ch = arg;
	const struct chan_rule	*r;
	const char		*state;
	size_t			 len;

	len = (hdr->len & ~IMSG_FD_MARK) - IMSG_HEADER_SIZE;
	if ((r = chan_rule(ch->spec, hdr->type)) == NULL)
		return (chan_violation(ch, "unknown message %u", hdr->type));
	if (r->from != ch->peer)
		return (chan_violation(ch, "%s, which only the %s sends",
		    r->name, procs[r->from].name));
	if (!(r->states & (1U << ch->state))) {
		state = ch->state < ch->spec->nstates[ch->self ==
		    ch->spec->ends[1]] ? ch->spec->states[ch->self ==
		    ch->spec->ends[1]][ch->state] : "?";
		return (chan_violation(ch, "%s in state %s", r->name, state));
	}
	if ((hdr->len & IMSG_FD_MARK) && r->fd == FD_NO)
		return (chan_violation(ch, "%s with an fd", r->name));
	if (!(hdr->len & IMSG_FD_MARK) && r->fd == FD_YES)
		return (chan_violation(ch, "%s without its fd", r->name));
	if (len < r->hdr || (r->size_rule == RULE_EXACT && len != r->hdr) ||
	    (r->size_rule == RULE_TAIL && len - r->hdr > r->max))
		return (chan_violation(ch, "%s of %zu bytes", r->name, len));
	if (r->id == ID_EXPECTED && hdr->peerid != ch->expect_id)
		return (chan_violation(ch, "%s for %u, not %u", r->name,
		    hdr->peerid, ch->expect_id));
	return (0);
}

/* RULE_LENS: the lengths the header declares add up to the body. */
static int
chan_check_body(struct chan *ch, const struct chan_rule *r,
    struct imsg *imsg)
{
	uint64_t	 total = r->hdr;
	uint32_t	 n;
	int		 i;

	if (r->size_rule != RULE_LENS)
		return (0);
	for (i = 0; i < RULE_LENS_MAX && r->lens[i] != 0; i++) {
		memcpy(&n, (const char *)imsg->data + r->lens[i] - 1,
		    sizeof(n));
		total += n;
	}
	if (total != imsg_get_len(imsg))
		return (chan_violation(ch, "%s of %zu bytes declaring %llu",
		    r->name, imsg_get_len(imsg), (unsigned long long)total));
	return (0);
}

static void
chan_handle(struct chan *ch, struct imsg *imsg)
{
	size_t	i;

	for (i = 0; i < ch->nhandlers; i++)
		if (ch->handlers[i].type == imsg_get_type(imsg)) {
			ch->handlers[i].fn(ch, imsg);
			return;
		}
	/* chan_init() made sure every row received has a handler. */
	fatalx("%s channel: no handler for %u", ch->spec->name,
	    imsg_get_type(imsg));
}

/* One complete message: checked, handled; -1 on a violation. */
static int
chan_next(struct chan *ch, int *got)
{
	const struct chan_rule	*r;
	struct imsg		 imsg;
	ssize_t			 n;

	*got = 0;
	if ((n = imsg_get(&ch->ibuf, &imsg)) == -1) {
		if (errno == EPROTO)
			chan_fail(ch, "%s", ch->why);
		else if (errno == ERANGE)
			chan_fail(ch, "a message over the size limit");
		else
			chan_fail(ch, "a bad message header");
		return (-1);
	}
	if (n == 0)
		return (0);
	*got = 1;
	ibuf_free(ch->held);
	ch->held = NULL;
	r = chan_rule(ch->spec, imsg_get_type(&imsg));
	if (chan_check_body(ch, r, &imsg) == -1) {
		imsg_free(&imsg);
		chan_fail(ch, "%s", ch->why);
		return (-1);
	}
	chan_handle(ch, &imsg);
	if (!ch->evented && ch->open) {
		/* A message handled within this one's handler (a tool's). */
		ibuf_free(ch->held);
		ch->held = imsg.buf;
		imsg.buf = NULL;
	}
	imsg_free(&imsg);
	return (0);
}

static void
chan_drain(struct chan *ch)
{
	int	got = 1;

	while (got && !ch->failed && !ch->paused)
		if (chan_next(ch, &got) == -1)
			return;
}

static void
chan_event(int fd, short event, void *arg)
{
	struct chan	*ch = arg;
	ssize_t		 n;

	if (event & EV_READ) {
		n = imsgbuf_read(&ch->ibuf);
		if (n == -1 && errno == ECONNRESET)
			n = 0;
		if (n == -1) {
			chan_fail(ch, errno == EBADMSG ? "an fd it may not "
			    "pass" : "an unreadable channel");
			return;
		}
		if (n == 0) {
			/* What it sent before it went still counts. */
			chan_drain(ch);
			if (ch->paused) {
				ch->at_eof = 1;
				chan_arm(ch);
				return;
			}
			chan_eof(ch);
			return;
		}
		ch->rbytes += n;
	}
	if ((event & EV_WRITE) && imsgbuf_write(&ch->ibuf) == -1) {
		if (errno == EPIPE || errno == ECONNRESET)
			chan_eof(ch);
		else
			chan_fail(ch, "an unwritable channel");
		return;
	}
	chan_drain(ch);
	if (!ch->failed)
		chan_arm(ch);
}

/*
 * Blocking channels (template, worker): waits for the next message and
 * handles it.  1 when one was handled, 0 at the end of the stream, -1
 * on a violation (lost() was told).
 */
int
chan_dispatch_one(struct chan *ch)
{
	ssize_t	n;
	int	got;

	for (;;) {
		if (chan_next(ch, &got) == -1)
			return (-1);
		if (got)
			return (1);
		if ((n = imsgbuf_read(&ch->ibuf)) == -1) {
			chan_fail(ch, errno == EBADMSG ? "an fd it may not "
			    "pass" : "an unreadable channel");
			return (-1);
		}
		if (n == 0)
			return (0);
		ch->rbytes += n;
	}
}

/*
 * Everything the peer sent that is in the socket now, handled now, up
 * to its end or a violation: what a peer that died had still to say.
 */
void
chan_read_all(struct chan *ch)
{
	struct pollfd	pfd;
	ssize_t		n;
	int		got;

	while (!ch->failed) {
		do {
			if (chan_next(ch, &got) == -1)
				return;
		} while (got && !ch->failed);
		pfd.fd = ch->ibuf.fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) <= 0)
			return;
		if ((n = imsgbuf_read(&ch->ibuf)) <= 0) {
			while (!ch->failed && chan_next(ch, &got) == 0 && got)
				;
			return;
		}
		ch->rbytes += n;
	}
}

/*
 * What the socket takes is written now, which saves a wakeup for
 * EV_WRITE and two epoll_ctl(2) calls per message; the event persists
 * and changes only when what it waits for does.
 */
static void
chan_arm(struct chan *ch)
{
	short	events = EV_READ;

	if (!ch->open)
		return;
	if (imsgbuf_queuelen(&ch->ibuf) > 0)
		(void)imsgbuf_write(&ch->ibuf);
	if (imsgbuf_queuelen(&ch->ibuf) > 0)
		events |= EV_WRITE;
	if (ch->failed || ch->paused || ch->at_eof)
		events &= ~EV_READ;
	if (event_initialized(&ch->ev)) {
		if (ch->events == events &&
		    event_pending(&ch->ev, EV_READ | EV_WRITE, NULL))
			return;
		event_del(&ch->ev);
	}
	ch->events = events;
	if (events == 0)
		return;
	event_set(&ch->ev, ch->ibuf.fd, events | EV_PERSIST, chan_event, ch);
	event_add(&ch->ev, NULL);
}

static void
chan_flush_all(int fd, short event, void *arg)
{
	struct chan	*ch;

	while ((ch = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, ch, dirty_entry);
		ch->dirty = 0;
		chan_arm(ch);
	}
}

/* The most bytes a message of type can carry after fixed bytes of it. */
size_t
chan_room(const struct chan *ch, uint32_t type, size_t fixed)
{
	size_t	max = ch->spec->maxsize - IMSG_HEADER_SIZE;

	return (fixed > max ? 0 : max - fixed);
}

/*
 * Queues one message for the peer.  Our own messages follow the table
 * as the peer's must: a row we do not send, or a size against its rule,
 * is a bug here and fatal.  -1 with errno EMSGSIZE if it is larger than
 * the channel carries (callers that send what a peer gave them check
 * chan_room() first and answer with a typed error), or EPIPE if the
 * channel is closed.
 */
int
chan_send(struct chan *ch, uint32_t type, uint32_t id, int fd,
    const struct iovec *iov, int iovcnt)
{
	const struct chan_rule	*r;
	size_t			 len = 0;
	int			 i;

	if ((r = chan_rule(ch->spec, type)) == NULL || r->from != ch->self)
		fatalx("%s channel: the %s may not send message %u",
		    ch->spec->name, procs[ch->self].name, type);
	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if ((r->size_rule == RULE_EXACT && len != r->hdr) || len < r->hdr ||
	    (r->size_rule == RULE_TAIL && len - r->hdr > r->max) ||
	    (fd != -1) != (r->fd == FD_YES))
		fatalx("%s channel: %s of %zu bytes", ch->spec->name,
		    r->name, len);
	/* The worker template runs the execution path with nobody to tell. */
	if (ch->mute)
		return (0);
	if (!ch->open || ch->failed) {
		errno = EPIPE;
		return (-1);
	}
	if (len > ch->spec->maxsize - IMSG_HEADER_SIZE) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (imsg_composev(&ch->ibuf, type, id, 0, fd, iov, iovcnt) == -1)
		fatal("%s channel: %s", ch->spec->name, r->name);
	if (!ch->evented)
		return (chan_flush(ch));
	if (ch->hold)
		return (0);
	if (!ch->dirty) {
		TAILQ_INSERT_TAIL(&dirty, ch, dirty_entry);
		ch->dirty = 1;
	}
	event_active(&ev_flush, EV_TIMEOUT, 1);
	return (0);
}

/*
 * While held, what chan_send() queues on an evented channel is not
 * written at the end of the turn: it goes with the next message sent
 * unheld, or at chan_flush().  For messages nobody waits for, which then
 * share one sendmsg(2) and one wakeup of the peer; the caller bounds how
 * many and for how long.
 */
void
chan_hold(struct chan *ch, int hold)
{
	ch->hold = hold;
}

/* Everything queued, written now (blocking channels, and urgent ones). */
int
chan_flush(struct chan *ch)
{
	if (!ch->open)
		return (-1);
	if (!ch->evented)
		return (imsgbuf_flush(&ch->ibuf));
	if (imsgbuf_write(&ch->ibuf) == -1 && errno != EAGAIN)
		return (-1);
	chan_arm(ch);
	return (0);
}
