/*
 * The monitor in the fuzzer's process; see fakemon.h.
 *
 * The monitor runs as securerd -M would, but for its privileges and
 * seccomp: monitor_connect() and monitor_setup() on a real broker
 * channel, whose other end is ours.  We play the broker on it, with a
 * channel of the same table (so every message the monitor sends is
 * checked as the broker checks it): a spawn request gets a socketpair
 * whose other end is a fake worker, passed as the broker passes it; a
 * kill request gets the worker's exit; an audit record that asks for it
 * gets its ack.  Fake workers say READY and SETUP_DONE and, if fm_auto,
 * answer executions by what the code says (see worker_exec()).  Every
 * reply line must be a JSON object with an id.  When an input is done
 * every connection is closed, and the monitor must be left with no
 * client, no session, no pool and no worker but its spares.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "../../broker/broker.h"
#include "channels.h"
#include "monitor.h"
#include "msg.h"
#include "fakemon.h"

#define FM_WORKERS	64

struct securerd_conf	*conf;
static struct securerd_conf	 fconf;
struct fm_client	 fm_clients[FM_CLIENTS];
int			 fm_auto;
int			 fm_spawn_fail;
int			 fm_manual;
int			 fm_snap_fail;
unsigned		 fm_audits[AUDIT_MAX];
unsigned		 fm_kills;
unsigned		 fm_idles;
unsigned		 fm_wakes;

static struct fm_worker	 workers[FM_WORKERS];
static size_t		 nworkers;
static struct chan	 bchan;		/* our end: the broker's */
static uint64_t		 progress;
static struct sockaddr_un sun;
static socklen_t	 sunlen;
static uid_t		 uid_next = 1000;

static void	client_lines(struct fm_client *);
static void	fm_recv_spawn(struct chan *, struct imsg *);
static void	fm_recv_kill(struct chan *, struct imsg *);
static void	fm_recv_audit(struct chan *, struct imsg *);
static void	fm_recv_reload(struct chan *, struct imsg *);
static void	fm_recv_rest(struct chan *, struct imsg *);
static void	fm_recv_snap(struct chan *, struct imsg *);
static void	fm_recv_snap_list(struct chan *, struct imsg *);

/* The broker's handlers of the monitor's messages, ours here. */
static const struct chan_handler	fm_broker[] = {
	{ IMSG_SPAWN, fm_recv_spawn },
	{ IMSG_KILL, fm_recv_kill },
	{ IMSG_AUDIT, fm_recv_audit },
	{ IMSG_CTL_RELOAD, fm_recv_reload },
	{ IMSG_WORKER_IDLE, fm_recv_rest },
	{ IMSG_WORKER_WAKE, fm_recv_rest },
	{ IMSG_SNAP_STORE, fm_recv_snap },
	{ IMSG_SNAP_LOAD, fm_recv_snap },
	{ IMSG_SNAP_DELETE, fm_recv_snap },
	{ IMSG_SNAP_COPY, fm_recv_snap },
	{ IMSG_SNAP_LIST, fm_recv_snap_list },
};

/* monitor_main() is never run here, nor the filter it installs. */
void
monitor_sandbox(int listen_fd)
{
	abort();
}

/* A broken invariant of the monitor's: what a real broker would kill. */
static void
fm_broker_lost(struct chan *ch, const char *why)
{
	if (why == NULL)
		errx(1, "the monitor closed the broker channel");
	fprintf(stderr, "the monitor broke the broker channel: %s\n", why);
	abort();
}

void
fm_init(void)
{
	size_t	 i;
	int	 s, sv[2];

	for (i = 0; i < FM_CLIENTS; i++)
		fm_clients[i].fd = -1;
	config_defaults(&fconf);
	conf = &fconf;
	fconf.sandbox_have = SBX_ALL;
	fconf.sandbox_policy = SANDBOX_FALLBACK;
	fconf.idle_exit = 0;
	/* One ready worker, never more: its fds stay from input to input. */
	fconf.ready_min = 1;
	fconf.ready_max = 1;
	event_init();
	signal(SIGPIPE, SIG_IGN);

	/* Abstract: nothing is left in the file system. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "securer-fuzz-%d", (int)getpid());
	sunlen = offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sun.sun_path + 1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(s, (struct sockaddr *)&sun, sunlen) == -1 ||
	    listen(s, 16) == -1)
		err(1, "listen");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		err(1, "socketpair");
	chan_init(&bchan, &chan_broker_monitor, PROC_BROKER, fm_broker,
	    sizeof(fm_broker) / sizeof(fm_broker[0]), sv[1]);
	bchan.lost = fm_broker_lost;
	bchan.state = BM_RUN;
	/* The configuration first, as the broker sends it after exec. */
	if (msg_send_conf(&bchan, &fconf) == -1)
		err(1, "conf");
	monitor_connect(sv[0]);
	if (wire_broker_conf() == -1)
		errx(1, "the monitor took no configuration");
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl");
	chan_evented(&bchan);
	monitor_setup(s, 0);
	fm_pump();
}

static void
newest(struct client *c, void *arg)
{
	*(struct client **)arg = c;
}

struct fm_client *
fm_connect(void)
{
	struct fm_client	*fc = NULL;
	struct client		*c = NULL;
	size_t			 i, n = client_count();
	int			 tries;

	for (i = 0; i < FM_CLIENTS; i++)
		if (fm_clients[i].fd == -1) {
			fc = &fm_clients[i];
			break;
		}
	if (fc == NULL)
		return (NULL);
	memset(fc, 0, sizeof(*fc));
	if ((fc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fc->fd, (struct sockaddr *)&sun, sunlen) == -1 ||
	    fcntl(fc->fd, F_SETFL, O_NONBLOCK) == -1)
		err(1, "connect");
	fc->next_id = 1000000;
	for (tries = 0; client_count() == n && tries < 100; tries++)
		event_loop(EVLOOP_NONBLOCK);
	if (client_count() != n + 1)
		errx(1, "the monitor did not accept");
	/*
	 * One uid per input, from a few: a uid that failed to authenticate
	 * too often waits a while, and must not stop the others.
	 */
	client_walk(newest, &c);
	c->uid = uid_next;
	return (fc);
}

void
fm_send(struct fm_client *fc, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fc->fd, p, len)) == -1) {
			/* The monitor may drop a client that breaks a rule. */
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			if (errno != EAGAIN)
				err(1, "write");
			event_loop(EVLOOP_NONBLOCK);
			client_lines(fc);
			continue;
		}
		p += n;
		len -= n;
	}
}

void
fm_request(struct fm_client *fc, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 n;

	va_start(ap, fmt);
	if ((n = vasprintf(&line, fmt, ap)) == -1)
		err(1, "vasprintf");
	va_end(ap);
	fm_send(fc, line, n);
	fm_send(fc, "\n", 1);
	free(line);
}

/* The client goes away, whatever it was waiting for. */
void
fm_disconnect(struct fm_client *fc)
{
	close(fc->fd);
	free(fc->in);
	memset(fc, 0, sizeof(*fc));
	fc->fd = -1;
	fm_pump();
}

struct fm_worker *
fm_worker_last(void)
{
	struct fm_worker	*last = NULL;
	size_t			 i;

	/* The newest with a session: ids only grow. */
	for (i = 0; i < nworkers; i++)
		if (workers[i].fd != -1 && workers[i].setup &&
		    (last == NULL || workers[i].id > last->id))
			last = &workers[i];
	return (last);
}

/* A worker with no session: the monitor's spare. */
struct fm_worker *
fm_worker_spare(void)
{
	size_t	i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].fd != -1 && !workers[i].setup)
			return (&workers[i]);
	return (NULL);
}

void
fm_worker_send(struct fm_worker *fw, uint32_t type, uint32_t id,
    const void *data, size_t len)
{
	if (imsg_compose(&fw->ib, type, id, 0, -1, data, len) == -1)
		err(1, "imsg_compose");
	if (imsgbuf_write(&fw->ib) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_sendv(struct fm_worker *fw, uint32_t type, uint32_t id,
    const void *hdr, size_t hlen, const char *a, const char *b)
{
	struct iovec	iov[3];
	int		n = 1;

	iov[0].iov_base = (void *)hdr;
	iov[0].iov_len = hlen;
	if (a != NULL) {
		iov[n].iov_base = (void *)a;
		iov[n++].iov_len = strlen(a);
	}
	if (b != NULL) {
		iov[n].iov_base = (void *)b;
		iov[n++].iov_len = strlen(b);
	}
	if (imsg_composev(&fw->ib, type, id, 0, -1, iov, n) == -1)
		err(1, "imsg_composev");
	if (imsgbuf_write(&fw->ib) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_result(struct fm_worker *fw, const char *value)
{
	struct w_result	wr = { 1, strlen(value), 6, 0, strlen(value), 0, 0 };

	worker_sendv(fw, IMSG_W_RESULT, fw->exec_id, &wr, sizeof(wr), value,
	    "[1] 2\n");
}

static void
worker_error(struct fm_worker *fw, uint32_t kind, const char *msg,
    const char *call)
{
	struct w_error	we = { kind, kind == WERR_PARSE, 2, strlen(msg),
			    strlen(call), 0 };

	worker_sendv(fw, IMSG_W_ERROR, fw->exec_id, &we, sizeof(we), msg,
	    call);
}

/* An execution, answered as its code says. */
static void
worker_exec(struct fm_worker *fw, const char *code, size_t len)
{
	struct w_output		wo = { STREAM_STDOUT, 3 };
	struct w_tool_call	wc;
	char			 text[256], name[64];
	const char		*p, *args = "{\"a\":{\"type\":\"double\","
				    "\"value\":[1]},\"b\":{\"type\":"
				    "\"double\",\"value\":[2]}}";
	size_t			 n = 0;

	snprintf(text, sizeof(text), "%.*s", (int)len, code);
	if (strstr(text, "hang") != NULL)
		return;
	if (strstr(text, "advice") != NULL)
		worker_sendv(fw, IMSG_W_ADVISORY, fw->exec_id, "system,eval",
		    11, NULL, NULL);
	if (strstr(text, "out") != NULL)
		worker_sendv(fw, IMSG_W_OUTPUT, fw->exec_id, &wo, sizeof(wo),
		    "hi\n", NULL);
	if ((p = strstr(text, "tool:")) != NULL) {
		for (p += 5; isalnum((unsigned char)*p) && n < 63; p++)
			name[n++] = *p;
		name[n] = '\0';
		wc.name_len = n;
		wc.args_len = strlen(args);
		fw->waiting = 1;
		worker_sendv(fw, IMSG_W_TOOL_CALL, ++fw->call_id, &wc,
		    sizeof(wc), name, args);
	} else if (strstr(text, "parse") != NULL)
		worker_error(fw, WERR_PARSE, "unexpected end of input", "");
	else if (strstr(text, "error") != NULL)
		worker_error(fw, WERR_R, "boom at /home/user/x.R", "f(x)");
	else
		worker_result(fw, "{\"type\":\"double\",\"value\":[2]}");
}

/*
 * An honest worker's answer to a file request, for a file of
 * FM_FILE_SIZE bytes: a put's bytes so far, a get's range of it (the
 * whole rest if asked so and it fits, else too large).
 */
#define FM_FILE_SIZE	3000
static void
worker_file(struct fm_worker *fw, struct imsg *imsg)
{
	static const char	 zeros[FM_FILE_SIZE];
	struct msg_file_req	 m;
	struct w_file_reply	 wr;
	struct iovec		 iov[2];
	uint64_t		 n = 0;

	if (msg_get_file_req(imsg, &m) == -1)
		abort();	/* the monitor sent what it may not */
	memset(&wr, 0, sizeof(wr));
	if (imsg_get_type(imsg) == IMSG_W_FILE_PUT)
		wr.size = m.offset + m.data.len;
	else if (m.offset > FM_FILE_SIZE) {
		wr.status = WFILE_BAD_OFFSET;
		wr.size = FM_FILE_SIZE;
	} else if ((m.flags & FILE_WHOLE) &&
	    FM_FILE_SIZE - m.offset > m.length) {
		wr.status = WFILE_TOO_LARGE;
		wr.size = FM_FILE_SIZE;
	} else {
		wr.size = FM_FILE_SIZE;
		wr.offset = m.offset;
		n = FM_FILE_SIZE - m.offset;
		if (!(m.flags & FILE_WHOLE) && n > m.length)
			n = m.length;
	}
	iov[0].iov_base = &wr;
	iov[0].iov_len = sizeof(wr);
	iov[1].iov_base = (void *)zeros;
	iov[1].iov_len = n;
	if (imsg_composev(&fw->ib, IMSG_W_FILE, fw->exec_id, 0, -1, iov,
	    n > 0 ? 2 : 1) == -1)
		err(1, "imsg_composev");
	if (imsgbuf_write(&fw->ib) == -1 && errno != EPIPE &&
	    errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_tool_result(struct fm_worker *fw, struct imsg *imsg)
{
	struct w_tool_result	 tr;
	char			*text;
	size_t			 len = imsg_get_len(imsg);

	if (len < sizeof(tr))
		abort();	/* the monitor sends what it must */
	memcpy(&tr, imsg->data, sizeof(tr));
	if (len - sizeof(tr) != tr.len)
		abort();
	if (!fw->waiting || !(fm_auto & FM_AUTO_WORKER))
		return;
	fw->waiting = 0;
	if ((text = strndup((char *)imsg->data + sizeof(tr), tr.len)) == NULL)
		err(1, "strndup");
	if (tr.is_error)
		worker_error(fw, WERR_R, text, "add(1, 2)");
	else
		worker_result(fw, text);
	free(text);
}

/*
 * Its state asked for, or given: a memfd came (or the table is broken);
 * it says it wrote or read 64 bytes, unless told to keep still.
 */
static void
worker_snap(struct fm_worker *fw, struct imsg *imsg)
{
	struct w_snap_done	wd;
	int			fd;
	uint32_t		type = imsg_get_type(imsg);

	if (!fw->setup || (fd = imsg_get_fd(imsg)) == -1)
		abort();
	close(fd);
	if (fm_manual & FM_NO_SNAP) {
		fm_manual &= ~FM_NO_SNAP;
		return;
	}
	memset(&wd, 0, sizeof(wd));
	wd.status = (fm_snap_fail & (type == IMSG_W_SNAPSHOT ? FM_SNAP_WRITE :
	    FM_SNAP_RESTORE)) ? WSNAP_FAILED : WSNAP_OK;
	wd.bytes = 64;
	fm_worker_send(fw, type == IMSG_W_SNAPSHOT ? IMSG_W_SNAPSHOT_DONE :
	    IMSG_W_RESTORED, 0, &wd, sizeof(wd));
}

/* What the monitor sent a worker: checked against the table too. */
static void
worker_msg(struct fm_worker *fw, struct imsg *imsg)
{
	struct w_setup_done	 wd = { 4242, 0 };
	struct w_exec		 we;

	switch (imsg_get_type(imsg)) {
	case IMSG_W_SETUP:
		if (fw->setup)
			abort();	/* a second setup */
		fw->setup = 1;
		if (fm_manual & FM_NO_SETUP)
			fm_manual &= ~FM_NO_SETUP;
		else
			fm_worker_send(fw, IMSG_W_SETUP_DONE, 0, &wd,
			    sizeof(wd));
		break;
	case IMSG_W_EXEC:
		if (!fw->setup || imsg_get_len(imsg) < sizeof(we))
			abort();
		memcpy(&we, imsg->data, sizeof(we));
		if (imsg_get_len(imsg) - sizeof(we) != we.code_len)
			abort();
		fw->exec_id = imsg_get_id(imsg);
		if (fm_auto & FM_AUTO_WORKER)
			worker_exec(fw, (char *)imsg->data + sizeof(we),
			    we.code_len);
		break;
	case IMSG_W_TOOL_RESULT:
		worker_tool_result(fw, imsg);
		break;
	case IMSG_W_FILE_PUT:
	case IMSG_W_FILE_GET:
		if (!fw->setup)
			abort();
		fw->exec_id = imsg_get_id(imsg);
		if (fm_auto & FM_AUTO_WORKER)
			worker_file(fw, imsg);
		break;
	case IMSG_W_SNAPSHOT:
	case IMSG_W_RESTORE:
		worker_snap(fw, imsg);
		break;
	default:
		abort();	/* not for a worker */
	}
}

static void
worker_read(struct fm_worker *fw)
{
	struct imsg	 imsg;
	ssize_t		 n;

	if ((n = imsgbuf_read(&fw->ib)) == -1 && errno != ECONNRESET)
		err(1, "imsgbuf_read");
	while ((n = imsg_get(&fw->ib, &imsg)) > 0) {
		progress++;
		worker_msg(fw, &imsg);
		imsg_free(&imsg);
	}
	if (n == -1)
		abort();	/* the monitor broke the framing */
	if (imsgbuf_queuelen(&fw->ib) > 0 && imsgbuf_write(&fw->ib) == -1 &&
	    errno != EPIPE && errno != ECONNRESET)
		err(1, "imsgbuf_write");
}

static void
worker_close(struct fm_worker *fw)
{
	imsgbuf_clear(&fw->ib);
	close(fw->fd);
	fw->fd = -1;
}

/*
 * A slot for a new worker: one whose worker is gone on both sides, else
 * a new one.  (Live slots stay where they are: an imsgbuf cannot move.)
 */
static struct fm_worker *
worker_new_slot(void)
{
	size_t	i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].fd == -1 && !workers[i].alive)
			return (&workers[i]);
	if (nworkers == FM_WORKERS)
		errx(1, "too many workers in one input");
	return (&workers[nworkers++]);
}

static void
broker_send(uint32_t type, uint32_t id, int fd, const void *data,
    size_t len)
{
	if (msg_send_fixed(&bchan, type, id, fd, data, len) == -1)
		err(1, "broker channel");
}

/* The broker's part: a worker with its channel, or a failure. */
static void
fm_recv_spawn(struct chan *ch, struct imsg *imsg)
{
	struct spawn_req	 req;
	struct spawn_failed	 sf;
	struct worker_ref	 ref;
	struct fm_worker	*fw;
	int			 sv[2];

	progress++;
	msg_get_fixed(imsg, &req, sizeof(req));
	if (fm_spawn_fail > 0) {
		fm_spawn_fail--;
		sf.worker_id = req.worker_id;
		sf.error = EAGAIN;
		broker_send(IMSG_SPAWN_FAILED, req.worker_id, -1, &sf,
		    sizeof(sf));
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "socketpair");
	fw = worker_new_slot();
	memset(fw, 0, sizeof(*fw));
	fw->id = req.worker_id;
	fw->fd = sv[1];
	fw->alive = 1;
	if (imsgbuf_init(&fw->ib, sv[1]) == -1 ||
	    imsgbuf_set_maxsize(&fw->ib, WORKER_IMSG_MAX) == -1)
		err(1, "imsgbuf_init");
	imsgbuf_allow_fdpass(&fw->ib);
	ref.worker_id = req.worker_id;
	broker_send(IMSG_WORKER_FD, req.worker_id, sv[0], &ref, sizeof(ref));
	/* Sandboxed and warm at once. */
	if (fm_manual & FM_NO_READY)
		fm_manual &= ~FM_NO_READY;
	else
		fm_worker_send(fw, IMSG_W_READY, 0, NULL, 0);
}

static void
report_exit(struct fm_worker *fw, uint32_t cause, int status)
{
	struct worker_exit	we;

	we.worker_id = fw->id;
	we.cause = cause;
	we.status = status;
	fw->alive = 0;
	broker_send(IMSG_WORKER_EXIT, fw->id, -1, &we, sizeof(we));
}

static void
fm_recv_kill(struct chan *ch, struct imsg *imsg)
{
	struct worker_ref	 ref;
	struct fm_worker	*fw;
	size_t			 i;

	progress++;
	msg_get_fixed(imsg, &ref, sizeof(ref));
	for (i = 0; i < nworkers; i++) {
		fw = &workers[i];
		if (fw->id != ref.worker_id || !fw->alive)
			continue;
		if (fw->fd != -1)
			worker_close(fw);
		fm_kills++;
		report_exit(fw, EXIT_KILLED, 9);
	}
}

/* No session was stored before this monitor: it serves at once. */
static void
fm_recv_snap_list(struct chan *ch, struct imsg *imsg)
{
	struct snap_listed	sl;

	memset(&sl, 0, sizeof(sl));
	broker_send(IMSG_SNAP_LISTED, 0, -1, &sl, sizeof(sl));
}

/*
 * The broker's snapshot store, believed: a store keeps what the monitor
 * said, a load hands back an empty memfd of that size.
 */
static void
fm_recv_snap(struct chan *ch, struct imsg *imsg)
{
	struct snap_req		sr;
	struct snap_result	res;
	int			fd;

	progress++;
	if (msg_get_snap_req(imsg, &sr, NULL) == -1)
		abort();	/* the monitor made a bad request */
	if ((fd = imsg_get_fd(imsg)) != -1)
		close(fd);
	if (imsg_get_type(imsg) == IMSG_SNAP_DELETE)
		return;
	memset(&res, 0, sizeof(res));
	res.token = sr.token;
	res.bytes = sr.bytes;
	if (imsg_get_type(imsg) == IMSG_SNAP_STORE ||
	    imsg_get_type(imsg) == IMSG_SNAP_COPY) {
		res.status = (fm_snap_fail & FM_SNAP_STORE) ? SNAP_QUOTA :
		    SNAP_OK;
		broker_send(res.status == SNAP_OK ? IMSG_SNAP_STORED :
		    IMSG_SNAP_FAILED, 0, -1, &res, sizeof(res));
		return;
	}
	if (fm_snap_fail & FM_SNAP_LOAD) {
		res.status = SNAP_TAMPERED;
		broker_send(IMSG_SNAP_FAILED, 0, -1, &res, sizeof(res));
		return;
	}
	if ((fd = memfd_create("fm-snapshot", MFD_CLOEXEC)) == -1)
		err(1, "memfd_create");
	res.bytes = 64;
	broker_send(IMSG_SNAP_LOADED, 0, fd, &res, sizeof(res));
}

/* A job's end and the next one's start: counted, for t_wire. */
static void
fm_recv_rest(struct chan *ch, struct imsg *imsg)
{
	struct worker_ref	ref;

	progress++;
	msg_get_fixed(imsg, &ref, sizeof(ref));
	if (imsg_get_type(imsg) == IMSG_WORKER_IDLE)
		fm_idles++;
	else
		fm_wakes++;
}

/* What the broker says of a worker that ran after its job ended. */
void
fm_worker_ran(struct fm_worker *fw, uint64_t cpu_us)
{
	struct worker_ran	wr;

	memset(&wr, 0, sizeof(wr));
	wr.worker_id = fw->id;
	wr.cpu_us = cpu_us;
	broker_send(IMSG_WORKER_RAN, fw->id, -1, &wr, sizeof(wr));
}

/* Each record as the broker reads it; acked when it asks. */
static void
fm_recv_audit(struct chan *ch, struct imsg *imsg)
{
	struct audit_event	ev;
	struct msg_text		texts[AUDIT_TEXTS];
	struct audit_ack	ack;

	progress++;
	if (msg_get_audit(imsg, &ev, texts) == -1)
		abort();
	fm_audits[ev.type]++;
	if (ev.flags & AUDIT_F_ACK) {
		ack.token = ev.token;
		ack.durable = 1;
		broker_send(IMSG_AUDIT_ACK, 0, -1, &ack, sizeof(ack));
	}
}

static void
fm_recv_reload(struct chan *ch, struct imsg *imsg)
{
	progress++;
}

/*
 * Every line the monitor writes is valid UTF-8, a JSON object with an
 * id (null when the request had none) and either ok or event.
 */
static void
client_line(struct fm_client *fc, const char *line, size_t len)
{
	cJSON	*r, *id, *ok, *ev, *s, *call, *e, *code;

	if (!utf8_valid(line, len) ||
	    (r = cJSON_ParseWithLength(line, len)) == NULL ||
	    !cJSON_IsObject(r) ||
	    (id = cJSON_GetObjectItemCaseSensitive(r, "id")) == NULL ||
	    (!cJSON_IsNumber(id) && !cJSON_IsNull(id))) {
		fprintf(stderr, "bad reply: %.*s\n", (int)len, line);
		abort();
	}
	ok = cJSON_GetObjectItemCaseSensitive(r, "ok");
	ev = cJSON_GetObjectItemCaseSensitive(r, "event");
	if (!cJSON_IsBool(ok) && !cJSON_IsString(ev)) {
		fprintf(stderr, "neither reply nor event: %.*s\n", (int)len,
		    line);
		abort();
	}
	if (cJSON_IsTrue(ok))
		fc->oks++;
	else if (cJSON_IsFalse(ok)) {
		fc->errors++;
		e = cJSON_GetObjectItemCaseSensitive(r, "error");
		code = cJSON_GetObjectItemCaseSensitive(e, "code");
		strlcpy(fc->error, cJSON_IsString(code) ? code->valuestring :
		    "", sizeof(fc->error));
	}
	s = cJSON_GetObjectItemCaseSensitive(r, "session");
	if (cJSON_IsString(s))
		strlcpy(fc->session, s->valuestring, sizeof(fc->session));
	if (cJSON_IsString(ev) && strcmp(ev->valuestring, "tool_call") == 0 &&
	    cJSON_IsNumber(call = cJSON_GetObjectItemCaseSensitive(r,
	    "call"))) {
		fc->call = call->valuedouble;
		if (fm_auto & FM_AUTO_TOOLS)
			fm_request(fc, "{\"id\":%llu,\"op\":\"tool_result\","
			    "\"session\":\"%s\",\"call\":%llu,\"value\":"
			    "{\"type\":\"double\",\"value\":[3]}}",
			    (unsigned long long)fc->next_id++, fc->session,
			    (unsigned long long)fc->call);
	}
	cJSON_Delete(r);
}

static void
client_lines(struct fm_client *fc)
{
	char	 buf[65536], *nl, *p;
	ssize_t	 n;

	while ((n = read(fc->fd, buf, sizeof(buf))) > 0) {
		progress++;
		if ((fc->in = realloc(fc->in, fc->inlen + n)) == NULL)
			err(1, "realloc");
		memcpy(fc->in + fc->inlen, buf, n);
		fc->inlen += n;
	}
	p = fc->in;
	while (p != NULL && (nl = memchr(p, '\n', fc->in + fc->inlen - p)) !=
	    NULL) {
		client_line(fc, p, nl - p);
		p = nl + 1;
	}
	if (p != NULL && p != fc->in) {
		fc->inlen -= p - fc->in;
		memmove(fc->in, p, fc->inlen);
	}
}

void
fm_pump(void)
{
	uint64_t	before;
	size_t		i;
	int		quiet = 0, turns;

	for (turns = 0; quiet < 3 && turns < 100000; turns++) {
		before = progress;
		event_loop(EVLOOP_NONBLOCK);
		for (i = 0; i < nworkers; i++)
			if (workers[i].fd != -1)
				worker_read(&workers[i]);
		for (i = 0; i < FM_CLIENTS; i++)
			if (fm_clients[i].fd != -1)
				client_lines(&fm_clients[i]);
		quiet = progress == before ? quiet + 1 : 0;
	}
	if (quiet < 3)
		errx(1, "the monitor never went quiet");
}

static void
count_pools(struct pool *p, void *arg)
{
	(*(int *)arg)++;
}

/* The worker dies: its end closes and the broker reports the exit. */
void
fm_worker_exit(struct fm_worker *fw, uint32_t cause, int status)
{
	worker_close(fw);
	report_exit(fw, cause, status);
	fm_pump();
}

static void
fire(struct event *ev)
{
	if (evtimer_initialized(ev) && evtimer_pending(ev, NULL))
		event_active(ev, EV_TIMEOUT, 1);
}

static void
fire_sessions(struct client *c, void *arg)
{
	struct session	*s;

	TAILQ_FOREACH(s, &c->sessions, entry)
		if (s->job != NULL)
			fire(&s->job->timer);
}

static void
fire_pools(struct pool *p, void *arg)
{
	struct pool_waiter	*w;
	struct session		*s;

	TAILQ_FOREACH(w, &p->waiters, entry)
		fire(&w->timer);
	TAILQ_FOREACH(s, &p->sessions, entry)
		if (s->job != NULL)
			fire(&s->job->timer);
}

/* Time passes: every job's and pool waiter's deadline is reached. */
void
fm_deadlines(void)
{
	client_walk(fire_sessions, NULL);
	pool_walk(fire_pools, NULL);
	fm_pump();
}

/*
 * One request on a control connection (securerctl's), handed over as
 * the broker does; the reply must be one JSON object with ok, and the
 * monitor must close the connection after it.
 */
void
fm_control(const char *line, size_t len)
{
	char	 buf[65536];
	size_t	 got = 0;
	ssize_t	 n = -1;
	int	 sv[2], turns;
	cJSON	*r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "socketpair");
	broker_send(IMSG_CTL_FD, 0, sv[0], NULL, 0);
	if (write(sv[1], line, len) != (ssize_t)len ||
	    write(sv[1], "\n", 1) != 1)
		err(1, "write");
	for (turns = 0; turns < 1000 && n != 0; turns++) {
		fm_pump();
		while (got < sizeof(buf) &&
		    (n = read(sv[1], buf + got, sizeof(buf) - got)) > 0)
			got += n;
		if (n == -1 && errno != EAGAIN)
			err(1, "read");
	}
	if (n != 0 || got == 0 || buf[got - 1] != '\n' ||
	    (r = cJSON_ParseWithLength(buf, got)) == NULL ||
	    !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
		fprintf(stderr, "bad control reply: %.*s\n", (int)got, buf);
		abort();
	}
	cJSON_Delete(r);
	close(sv[1]);
	fm_pump();
}

/*
 * Named sessions outlive their connections until "retention": it passes
 * at the end of each input, so that the next starts with none kept.
 */
static void
close_kept(struct identity *i, void *arg)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&i->kept)) != NULL)
		core_session_destroy(s, "retention");
}

/* End of an input: everything goes, and nothing may stay. */
void
fm_end(void)
{
	struct fm_client	*fc;
	size_t			 i, alive = 0;
	int			 npools = 0;

	for (i = 0; i < FM_CLIENTS; i++) {
		fc = &fm_clients[i];
		if (fc->fd != -1)
			close(fc->fd);
		free(fc->in);
		memset(fc, 0, sizeof(*fc));
		fc->fd = -1;
	}
	fm_pump();
	identity_walk(close_kept, NULL);
	fm_pump();
	/*
	 * A spare lost is replaced a second later: now, so that each input
	 * starts with the same fds open.
	 */
	spare_refill();
	fm_pump();
	/* Pools go with their identity's last connection. */
	pool_walk(count_pools, &npools);
	if (client_count() != 0 || session_count() != 0 || npools != 0) {
		fprintf(stderr, "left: %zu clients, %zu sessions, %d pools\n",
		    client_count(), session_count(), npools);
		abort();
	}
	for (i = 0; i < nworkers; i++)
		if (workers[i].alive)
			alive++;
	if (worker_count() != spare_count() || alive != worker_count()) {
		fprintf(stderr, "left: %zu workers, %u of them spares, %zu "
		    "alive here\n", worker_count(), spare_count(), alive);
		abort();
	}
	uid_next = 1000 + (uid_next - 1000 + 1) % 16;
}
