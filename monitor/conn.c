/*
 * Clients' connections: accept, peer credentials, line framing, output
 * and its limits.  Nothing here knows the protocol: a line goes to the
 * front end's conn_ops, and so does the end of a connection.
 *
 * A connection is dropped (conn_drop) from anywhere, and goes at the end
 * of the turn: its front end hears of it then (ops->gone), what it has
 * still to read is written out unless it is dropped for not reading, and
 * then it is freed.
 *
 * Until its front end says it is authenticated (conn_authenticated), a
 * connection has hello-timeout seconds and lines of HELLO_LINE_MAX bytes;
 * its uid's caps (connlimit.c) apply from accept on.  A connection
 * refused at accept gets one error line, never a hang.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <event.h>
#include <malloc.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"

/*
 * More than this waiting for a client and it is behind: its front end
 * stops what fills it (ops->behind: the workers whose output it is) and
 * its grace period starts (client-grace seconds).  Once it has read down
 * to CONN_OUTPUT_LOW it has caught up (ops->caught_up) and its workers
 * go on.  A client that reads nothing for a whole grace period is
 * dropped with its sessions and their work; one that reads, however
 * slowly, is only held back.
 */
#define CONN_OUTPUT_HIGH	(1U * 1024 * 1024)
#define CONN_OUTPUT_LOW		(256U * 1024)
/*
 * What one wakeup writes to a client at most: libevent's default is 16K,
 * which made an 8 MB frame 500 loop turns; the socket takes less anyway.
 */
#define CONN_WRITE_MAX		(1U * 1024 * 1024)

/* Freed buffers worth giving back to the system at once. */
#define CONN_TRIM_BYTES		(8U * 1024 * 1024)
/* About what a connection costs beside its buffers: for the trim. */
#define CONN_OVERHEAD		1024

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct bufferevent	*bev;
	struct peer_cred	 cred;
	struct connuser		*user;
	uint64_t		 charged;	/* bytes buffered, counted */
	void			*data;		/* the front end's */
	struct event		 ev_grace;	/* replies unread */
	struct event		 ev_hello;	/* not yet authenticated */
	int			 authenticated;
	int			 behind;	/* over CONN_OUTPUT_HIGH */
	int			 was_behind;	/* said so once */
	int			 progress;	/* it read, in this grace */
	int			 cutting;	/* conn_cut drains, nobody reads */
	uint64_t		 queued;	/* bytes ever sent it, */
	uint64_t		 written;	/* ... and written of them */
	struct msgends		 ends;		/* where messages end */
	struct event		 ev_linger;	/* dropped, still writing */
	int			 final;		/* nothing more is sent */
	int			 dropped;
	int			 discard;	/* what it did not read goes */
	char			 why[64];
	struct deferred		 d_drop;
};

static TAILQ_HEAD(, conn)	conns = TAILQ_HEAD_INITIALIZER(conns);
static size_t			nconns;
static const struct conn_ops	*ops;
static struct event		ev_accept, ev_pause;
static int			at_fd_limit;	/* said so once */
static int			reserve_fd = -1; /* for a refusal at EMFILE */
static uint64_t			freed_bytes;	/* since the last trim */

static void	conn_accept(int, short, void *);
static void	conn_read(struct bufferevent *, void *);
static void	conn_caught_up(struct bufferevent *, void *);
static void	conn_event(struct bufferevent *, short, void *);
static void	conn_grace_over(int, short, void *);
static void	conn_gone(void *);
static void	conn_drained(struct bufferevent *, void *);
static void	conn_closed(struct bufferevent *, short, void *);
static void	conn_free(struct conn *);
static void	conn_hello_over(int, short, void *);
static void	conn_linger_over(int, short, void *);
static void	conn_linger_arm(struct conn *);
static void	conn_error(struct conn *, const char *, const char *);
static void	conn_trim(uint64_t);
static void	conn_buffered(struct evbuffer *,
		    const struct evbuffer_cb_info *, void *);

/*
 * Ready to accept, before the sandbox (what it needs is done now);
 * conn_accepting() starts it.
 */
void
conn_listen(int fd, const struct conn_ops *o)
{
	ops = o;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("listen socket");
	event_set(&ev_accept, fd, EV_READ | EV_PERSIST, conn_accept, NULL);
	evtimer_set(&ev_pause, conn_accept, NULL);
	connlimit_init();
	reserve_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void
conn_accepting(void)
{
	event_add(&ev_accept, NULL);
}

size_t
conn_count(void)
{
	return (nconns);
}

const struct peer_cred *
conn_cred(const struct conn *c)
{
	return (&c->cred);
}

void
conn_set_data(struct conn *c, void *data)
{
	c->data = data;
}

void *
conn_data(const struct conn *c)
{
	return (c->data);
}

/* Why it was dropped, for its sessions' records. */
const char *
conn_why(const struct conn *c)
{
	return (c->why);
}

static void
conn_accept_pause(void)
{
	struct timeval	tv = { 1, 0 };

	/*
	 * Out of fds: stop accepting rather than spin, until a client goes
	 * or for a second (fds may go elsewhere: sessions, the control).
	 */
	if (!at_fd_limit)
		log_warnx("out of file descriptors: not accepting for now");
	at_fd_limit = 1;
	event_del(&ev_accept);
	evtimer_add(&ev_pause, &tv);
}

/* An fd was freed: accept again at once if we had stopped. */
static void
conn_accept_resume(void)
{
	if (evtimer_pending(&ev_pause, NULL)) {
		evtimer_del(&ev_pause);
		event_add(&ev_accept, NULL);
	}
}

/*
 * The peer's uid, gid, pid and supplementary groups, for "allow group"
 * rules; the kernel gives them with the connection, so nothing is read
 * from /etc.  More groups than we keep: the primary one still counts.
 */
static int
conn_peer(int s, struct peer_cred *cred)
{
	struct ucred	uc;
	socklen_t	len = sizeof(uc);

	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return (-1);
	cred->uid = uc.uid;
	cred->gid = uc.gid;
	cred->pid = uc.pid;
	len = sizeof(cred->groups);
	if (getsockopt(s, SOL_SOCKET, SO_PEERGROUPS, cred->groups,
	    &len) == -1)
		cred->ngroups = 0;
	else
		cred->ngroups = len / sizeof(gid_t);
	return (0);
}

/*
 * One error line to a connection we do not keep, and the socket closed.
 * The socket is new, so its send buffer has room for a short line; if
 * not, the peer sees the close.
 */
static void
conn_refuse(int s, const char *code, const char *why)
{
	char	line[256];
	int	n;

	n = snprintf(line, sizeof(line), "{\"id\":null,\"ok\":false,"
	    "\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code,
	    why);
	if (n > 0 && (size_t)n < sizeof(line) && write(s, line, n) == -1)
		log_debug("refused connection: write: %s", strerror(errno));
	close(s);
}

/*
 * Out of descriptors: the reserved one makes room to accept a single
 * connection and tell it so, rather than leave every caller hanging.
 */
static void
conn_accept_full(int lfd)
{
	int	s;

	if (reserve_fd == -1) {
		conn_accept_pause();
		return;
	}
	if (!at_fd_limit)
		log_warnx("out of file descriptors: refusing new connections");
	at_fd_limit = 1;
	close(reserve_fd);
	reserve_fd = -1;
	if ((s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) !=
	    -1)
		conn_refuse(s, "too_many_connections", "too many connections: "
		    "the daemon is out of file descriptors");
	if ((reserve_fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0)) == -1)
		conn_accept_pause();
}

/* Whom a new connection belongs to, and whether it may stay. */
static struct connuser *
conn_admit(int s, struct peer_cred *cred)
{
	struct connuser	*u;
	const char	*why;

	if (conn_peer(s, cred) == -1) {
		log_warn("SO_PEERCRED");
		close(s);
		return (NULL);
	}
	if (ops->admit != NULL && ops->admit(cred) == -1) {
		conn_refuse(s, "unauthorized", "not authorized");
		return (NULL);
	}
	if ((u = connlimit_admit(cred->uid, &why)) == NULL) {
		counters.connections_refused++;
		log_debug("client uid %u pid %d refused: %s", cred->uid,
		    cred->pid, why);
		conn_refuse(s, "too_many_connections", why);
		return (NULL);
	}
	return (u);
}

static void
conn_accept(int fd, short event, void *arg)
{
	struct timeval	 tv = { conf->hello_timeout, 0 };
	struct peer_cred cred;
	struct connuser	*u;
	struct conn	*c;
	int		 s;

	if (event & EV_TIMEOUT) {
		event_add(&ev_accept, NULL);
		return;
	}
	if ((s = accept4(EVENT_FD(&ev_accept), NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE)
			conn_accept_full(EVENT_FD(&ev_accept));
		else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	if (at_fd_limit) {
		log_info("accepting again");
		at_fd_limit = 0;
	}
	if ((u = conn_admit(s, &cred)) == NULL)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("%s", __func__);
	c->cred = cred;
	c->user = u;
	if ((c->bev = bufferevent_socket_new(NULL, s,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatal("%s", __func__);
	bufferevent_setcb(c->bev, conn_read, conn_caught_up, conn_event, c);
	if (bufferevent_set_max_single_write(c->bev, CONN_WRITE_MAX) == -1)
		fatal("%s", __func__);
	evbuffer_add_cb(bufferevent_get_input(c->bev), conn_buffered, c);
	evbuffer_add_cb(bufferevent_get_output(c->bev), conn_buffered, c);
	/* Until hello, a line is short: conn_read refuses a longer one. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, HELLO_LINE_MAX + 1);
	/* conn_caught_up: it read down to the low mark. */
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUTPUT_LOW, 0);
	evtimer_set(&c->ev_grace, conn_grace_over, c);
	evtimer_set(&c->ev_hello, conn_hello_over, c);
	evtimer_set(&c->ev_linger, conn_linger_over, c);
	if (conf->hello_timeout > 0)
		evtimer_add(&c->ev_hello, &tv);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&conns, c, entry);
	nconns++;
	idle_hold();
	log_debug("client uid %u pid %d connected", c->cred.uid, c->cred.pid);
	ops->opened(c);
}

/* The front end knows who it is: full-size lines, no deadline. */
void
conn_authenticated(struct conn *c)
{
	c->authenticated = 1;
	evtimer_del(&c->ev_hello);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CLIENT_LINE_MAX + 1);
}

/*
 * The bytes libevent holds for c, in either direction, counted to its
 * uid and to all clients as they come and go.
 */
static void
conn_buffered(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn	*c = arg;
	int64_t		 delta = (int64_t)info->n_added - info->n_deleted;

	c->charged += delta;
	connlimit_charge(c->user, delta);
	if (info->n_deleted == 0 || c->cutting ||
	    buf != bufferevent_get_output(c->bev))
		return;
	c->progress = 1;
	c->written += info->n_deleted;
	msgends_written(&c->ends, c->written);
}

/* The record of message ends grew or went: counted as buffers are. */
static void
conn_charge_ends(struct conn *c, int64_t delta)
{
	c->charged += delta;
	connlimit_charge(c->user, delta);
}

/*
 * A connection dropped with a typed error: what it has not yet read is
 * cut at the end of the message being written, so that the error is
 * the next whole line it reads, and then nothing more.  keep_max bounds
 * what is kept of that message (0: all of it); one longer, or one never
 * finished, is cut with the rest and no line follows: the client sees
 * the connection end.
 */
static void
conn_cut(struct conn *c, const char *code, const char *why,
    size_t keep_max)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev), *keep;
	uint64_t	 cut;
	int		 tell;

	tell = msgends_cut(&c->ends, c->written, &cut) == 0;
	if (!tell || (keep_max > 0 && cut - c->written > keep_max))
		tell = 0, cut = c->written;
	if ((keep = evbuffer_new()) == NULL)
		fatal("%s", __func__);
	/* A bufferevent's output is frozen at its start but for its writes. */
	c->cutting = 1;
	evbuffer_unfreeze(out, 1);
	if (evbuffer_remove_buffer(out, keep, cut - c->written) == -1 ||
	    evbuffer_drain(out, evbuffer_get_length(out)) == -1 ||
	    evbuffer_add_buffer(out, keep) == -1)
		fatal("%s", __func__);
	evbuffer_freeze(out, 1);
	c->cutting = 0;
	evbuffer_free(keep);
	conn_charge_ends(c, -(int64_t)msgends_clear(&c->ends));
	if (tell)
		conn_error(c, code, why);
	c->final = 1;
}

/* A typed error line, as the front end's replies are framed. */
static void
conn_error(struct conn *c, const char *code, const char *why)
{
	char	line[256];
	int	n;

	n = snprintf(line, sizeof(line), "{\"id\":null,\"ok\":false,"
	    "\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", code,
	    why);
	if (n > 0 && (size_t)n < sizeof(line))
		conn_send(c, line, n);
}

/*
 * What c holds goes at once, so the budget is free again in this turn,
 * and c goes at its end; the error is written if the socket takes it.
 */
static void
conn_over_budget(struct conn *c, const char *why)
{
	uint64_t	 held = c->charged;

	log_warnx("client uid %u pid %d dropped: %s", c->cred.uid,
	    c->cred.pid, why);
	counters.clients_over_budget++;
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	conn_cut(c, "over_budget", why, CONN_OUTPUT_LOW);
	if (held > c->charged)
		conn_trim(held - c->charged);
	conn_drop(c, why, 0);
}

/* The connection holding most, of uid u's or of anyone's (u NULL). */
static struct conn *
conn_largest(const struct connuser *u)
{
	struct conn	*c, *big = NULL;

	TAILQ_FOREACH(c, &conns, entry)
		if (!c->dropped && (u == NULL || c->user == u) &&
		    (big == NULL || c->charged > big->charged))
			big = c;
	return (big);
}

/*
 * Over a budget: the connection holding most of it goes, with a typed
 * error, so that the one that grew it pays, not whoever came next.
 */
static void
conn_budget_check(struct conn *c)
{
	struct conn	*big;

	while (connlimit_user_over(c->user) &&
	    (big = conn_largest(c->user)) != NULL)
		conn_over_budget(big, "this user's connections hold more "
		    "unread data than one user may");
	while (connlimit_total_over() && (big = conn_largest(NULL)) != NULL)
		conn_over_budget(big, "the daemon holds as much unread data "
		    "as it takes; this connection held the most");
}

static void
conn_hello_over(int fd, short event, void *arg)
{
	struct conn	*c = arg;

	counters.hello_timeouts++;
	conn_error(c, "hello_timeout", "no hello in time");
	conn_drop(c, "no hello in time", 0);
}

/* Each whole line to the front end; one too long ends the connection. */
static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	size_t			 eol_len, n, max;
	char			*line;

	conn_budget_check(c);
	while (!c->dropped) {
		max = c->authenticated ? CLIENT_LINE_MAX : HELLO_LINE_MAX;
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > max)
				ops->line(c, NULL, max);
			return;
		}
		n = eol.pos;
		if (n > max) {
			ops->line(c, NULL, max);
			return;
		}
		if ((line = malloc(n + 1)) == NULL)
			fatal("%s", __func__);
		evbuffer_remove(in, line, n);
		evbuffer_drain(in, eol_len);
		line[n] = '\0';
		ops->line(c, line, n);
		free(line);
	}
}

/*
 * With nothing queued before it, a line is written at once (the socket
 * is non-blocking): no wakeup for EV_WRITE, no epoll_ctl(2) to ask for it
 * and drop it.  What the socket does not take, and any error, is left to
 * the bufferevent.
 */
static size_t
conn_write_now(struct conn *c, const char *text, size_t len)
{
	ssize_t	n;

	c->queued += len;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return (0);
	if ((n = write(bufferevent_getfd(c->bev), text, len)) <= 0)
		return (0);
	c->written += n;
	msgends_written(&c->ends, c->written);
	return (n);
}

static void
conn_grace_arm(struct conn *c)
{
	struct timeval	tv = { conf->client_grace, 0 };

	c->progress = 0;
	evtimer_add(&c->ev_grace, &tv);
}

/*
 * Replies pile up: its front end holds back what fills them, and the
 * client must read some within each client-grace seconds.  What we keep
 * meanwhile is its uid's budget (connlimit.c), checked as it grows.
 */
static void
conn_behind(struct conn *c)
{
	if (c->behind || c->dropped ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <=
	    CONN_OUTPUT_HIGH)
		return;
	c->behind = 1;
	if (!c->was_behind)
		log_info("client uid %u pid %d is behind: its output is held "
		    "back", c->cred.uid, c->cred.pid);
	c->was_behind = 1;
	if (ops->behind != NULL)
		ops->behind(c);
	if (conf->client_grace > 0 && !evtimer_pending(&c->ev_grace, NULL))
		conn_grace_arm(c);
}

/* A message ends here: a line, or a reply's line and its frame. */
void
conn_message_end(struct conn *c)
{
	if (c->discard || c->final)
		return;
	conn_charge_ends(c, msgends_push(&c->ends, c->queued, c->written));
}

/* A line, and a frame follows it (conn_send_ref, conn_message_end). */
void
conn_send_more(struct conn *c, const char *text, size_t len)
{
	size_t	off;

	/* Dropped: lines still go until its front end has heard. */
	if (c->discard || c->final)
		return;
	off = conn_write_now(c, text, len);
	if (off < len && bufferevent_write(c->bev, text + off, len - off) ==
	    -1)
		fatal("%s", __func__);
	conn_behind(c);
	if (off < len)
		conn_budget_check(c);
}

/* text, len bytes: a whole line and its newline, one message. */
void
conn_send(struct conn *c, const char *text, size_t len)
{
	if (c->discard || c->final)
		return;
	/* Its end is known before the budget check may cut at it. */
	conn_charge_ends(c, msgends_push(&c->ends, c->queued + len,
	    c->written));
	conn_send_more(c, text, len);
}

/*
 * len bytes at data after a line (a reply's frame), sent from where they
 * are, never copied: done(data, len, arg) once they are written or the
 * connection is gone.
 */
void
conn_send_ref(struct conn *c, const char *data, size_t len,
    void (*done)(const void *, size_t, void *), void *arg)
{
	size_t	off;

	if (c->discard || c->final) {
		done(data, len, arg);
		return;
	}
	off = conn_write_now(c, data, len);
	if (off == len) {
		done(data, len, arg);
		return;
	}
	if (evbuffer_add_reference(bufferevent_get_output(c->bev),
	    data + off, len - off, done, arg) == -1)
		fatal("%s", __func__);
	conn_behind(c);
	conn_budget_check(c);
}

static void
conn_caught_up(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (!c->behind || c->dropped)
		return;
	evtimer_del(&c->ev_grace);
	c->behind = 0;
	log_debug("client uid %u pid %d caught up", c->cred.uid,
	    c->cred.pid);
	if (ops->caught_up != NULL)
		ops->caught_up(c);
}

/*
 * Dropped only if it read nothing for a whole grace period; it is told
 * why after the message it was reading, if it ever reads again.
 */
static void
conn_grace_over(int fd, short event, void *arg)
{
	struct conn	*c = arg;
	char		 why[160];

	if (c->progress) {
		conn_grace_arm(c);
		return;
	}
	log_warnx("client uid %u pid %d did not read its replies in time, "
	    "dropping it", c->cred.uid, c->cred.pid);
	snprintf(why, sizeof(why), "securerd dropped this client: it read "
	    "none of its output for %u seconds (client-grace); its sessions "
	    "are closed", conf->client_grace);
	conn_cut(c, "slow_client", why, 0);
	conn_drop(c, "client does not read", 0);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	log_debug("client uid %u pid %d gone", c->cred.uid, c->cred.pid);
	conn_drop(c, "client disconnected", 0);
}

/*
 * The connection goes at the end of the turn.  discard: a client dropped
 * for not reading loses what it did not read; waiting for it to drain
 * would keep the connection (and its memory) for ever.
 */
void
conn_drop(struct conn *c, const char *why, int discard)
{
	if (c->dropped)
		return;
	c->dropped = 1;
	c->discard = discard;
	strlcpy(c->why, why, sizeof(c->why));
	evtimer_del(&c->ev_grace);
	bufferevent_disable(c->bev, EV_READ);
	defer(&c->d_drop, conn_gone, c);
}

static void
conn_gone(void *arg)
{
	struct conn	*c = arg;

	ops->gone(c);
	c->final = 1;
	TAILQ_REMOVE(&conns, c, entry);
	nconns--;
	if (c->discard ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_free(c);
		return;
	}
	/* conn_drained waits for an empty output buffer, not a watermark. */
	bufferevent_setcb(c->bev, NULL, conn_drained, conn_closed, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	conn_linger_arm(c);
}

/* Gone, still writing: as long as it reads some in each client-grace. */
static void
conn_linger_arm(struct conn *c)
{
	struct timeval	tv = { conf->client_grace, 0 };

	if (conf->client_grace == 0)
		return;
	c->progress = 0;
	evtimer_add(&c->ev_linger, &tv);
}

static void
conn_linger_over(int fd, short event, void *arg)
{
	struct conn	*c = arg;

	if (c->progress) {
		conn_linger_arm(c);
		return;
	}
	log_debug("client uid %u pid %d did not read its last replies",
	    c->cred.uid, c->cred.pid);
	conn_free(c);
}

static void
conn_drained(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(arg);
}

static void
conn_closed(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg);
}

/*
 * glibc keeps freed memory for reuse; after many connections' buffers
 * went (an attack, a burst), give it back so the monitor's size
 * returns to what it serves.
 */
static void
conn_trim(uint64_t bytes)
{
	freed_bytes += bytes;
	if (freed_bytes < CONN_TRIM_BYTES)
		return;
	freed_bytes = 0;
	malloc_trim(0);
}

static void
conn_free(struct conn *c)
{
	uint64_t	held = c->charged + CONN_OVERHEAD;

	evtimer_del(&c->ev_grace);
	evtimer_del(&c->ev_hello);
	evtimer_del(&c->ev_linger);
	conn_charge_ends(c, -(int64_t)msgends_clear(&c->ends));
	evbuffer_remove_cb(bufferevent_get_input(c->bev), conn_buffered, c);
	evbuffer_remove_cb(bufferevent_get_output(c->bev), conn_buffered, c);
	connlimit_charge(c->user, -(int64_t)c->charged);
	connlimit_release(c->user);
	bufferevent_free(c->bev);
	free(c);
	idle_release();
	conn_accept_resume();
	conn_trim(held);
}
