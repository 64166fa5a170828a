/*
 * The messages of the worker channel (WORKER_CHANNEL in channels.h):
 * each one's layout, written and read here and nowhere else.  Most are
 * a fixed header whose length fields declare the texts that follow, in
 * order; the dispatcher has checked that they add up before a get runs.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <ctype.h>
#include <string.h>

#include "msg.h"
#include "utf8.h"

/* hdr, then the texts, as one message. */
static int
send_texts(struct chan *ch, uint32_t type, uint32_t id, const void *hdr,
    size_t hlen, const struct msg_text *t, int n)
{
	struct iovec	iov[4];
	int		i, k = 1;

	iov[0].iov_base = (void *)hdr;
	iov[0].iov_len = hlen;
	for (i = 0; i < n; i++) {
		if (t[i].len == 0)
			continue;
		iov[k].iov_base = (void *)t[i].p;
		iov[k++].iov_len = t[i].len;
	}
	return (chan_send(ch, type, id, -1, iov, k));
}

/* The header (copied out), then each text where its length says. */
static void
get_texts(struct imsg *imsg, size_t hlen, struct msg_text *t,
    const uint32_t *lens, int n)
{
	const char	*p = (const char *)imsg->data + hlen;
	int		 i;

	for (i = 0; i < n; i++) {
		t[i].p = lens[i] > 0 ? p : "";
		t[i].len = lens[i];
		p += lens[i];
	}
}

int
msg_send_setup(struct chan *ch, const char *tools, size_t len)
{
	struct w_setup	ws = { len };
	struct msg_text	t = { tools, len };

	return (send_texts(ch, IMSG_W_SETUP, 0, &ws, sizeof(ws), &t, 1));
}

void
msg_get_setup(struct imsg *imsg, struct msg_text *tools)
{
	struct w_setup	ws;

	memcpy(&ws, imsg->data, sizeof(ws));
	get_texts(imsg, sizeof(ws), tools, &ws.tools_len, 1);
}

int
msg_send_exec(struct chan *ch, uint32_t id, uint32_t flags,
    uint64_t max_value, const char *code, size_t len)
{
	struct w_exec	we;
	struct msg_text	t = { code, len };

	memset(&we, 0, sizeof(we));
	we.flags = flags;
	we.code_len = len;
	we.max_value = max_value;

	return (send_texts(ch, IMSG_W_EXEC, id, &we, sizeof(we), &t, 1));
}

void
msg_get_exec(struct imsg *imsg, struct msg_exec *m)
{
	struct w_exec	we;

	memcpy(&we, imsg->data, sizeof(we));
	m->flags = we.flags;
	m->max_value = we.max_value;
	get_texts(imsg, sizeof(we), &m->code, &we.code_len, 1);
}

/* The longest text a tool result can carry on ch. */
size_t
msg_tool_result_room(const struct chan *ch)
{
	return (chan_room(ch, IMSG_W_TOOL_RESULT,
	    sizeof(struct w_tool_result)));
}

int
msg_send_tool_result(struct chan *ch, uint32_t call, int is_error,
    const char *text, size_t len)
{
	struct w_tool_result	tr = { is_error != 0, len };
	struct msg_text		t = { text, len };

	return (send_texts(ch, IMSG_W_TOOL_RESULT, call, &tr, sizeof(tr), &t,
	    1));
}

void
msg_get_tool_result(struct imsg *imsg, struct msg_tool_result *m)
{
	struct w_tool_result	tr;

	memcpy(&tr, imsg->data, sizeof(tr));
	m->is_error = tr.is_error != 0;
	get_texts(imsg, sizeof(tr), &m->text, &tr.len, 1);
}

/* A chunk of a put: its name and bytes go as texts, r's data ignored. */
static void
file_req_header(struct w_file_req *wr, const char *name,
    const struct msg_file_req *r)
{
	memset(wr, 0, sizeof(*wr));
	wr->name_len = strlen(name);
	wr->data_len = r->data.len;
	wr->offset = r->offset;
	wr->length = r->length;
	wr->max = r->max;
	wr->flags = r->flags;
}

int
msg_send_file_put(struct chan *ch, uint32_t id, const char *name,
    const struct msg_file_req *r)
{
	struct w_file_req	wr;
	struct msg_text		t[2] = { { name, strlen(name) }, r->data };

	file_req_header(&wr, name, r);
	return (send_texts(ch, IMSG_W_FILE_PUT, id, &wr, sizeof(wr), t, 2));
}

int
msg_send_file_get(struct chan *ch, uint32_t id, const char *name,
    const struct msg_file_req *r)
{
	struct w_file_req	wr;
	struct msg_text		t = { name, strlen(name) };

	file_req_header(&wr, name, r);
	wr.data_len = 0;
	return (send_texts(ch, IMSG_W_FILE_GET, id, &wr, sizeof(wr), &t, 1));
}

/*
 * -1 unless: a name; a put's chunk within FILE_CHUNK_MAX and ending
 * within max, FILE_MORE its only flag, no length; a get with no data, a
 * range within FILE_CHUNK_MAX, FILE_WHOLE its only flag.
 */
int
msg_get_file_req(struct imsg *imsg, struct msg_file_req *m)
{
	struct w_file_req	wr;
	uint32_t		lens[2];
	struct msg_text		t[2];

	memcpy(&wr, imsg->data, sizeof(wr));
	lens[0] = wr.name_len;
	lens[1] = wr.data_len;
	get_texts(imsg, sizeof(wr), t, lens, 2);
	m->name = t[0];
	m->data = t[1];
	m->offset = wr.offset;
	m->length = wr.length;
	m->max = wr.max;
	m->flags = wr.flags;
	if (m->name.len == 0 || wr.pad != 0 || m->max > FILE_SIZE_MAX)
		return (-1);
	if (imsg_get_type(imsg) == IMSG_W_FILE_GET)
		return (m->data.len != 0 || m->length > FILE_CHUNK_MAX ||
		    (m->flags & ~FILE_WHOLE) != 0 ? -1 : 0);
	return (m->data.len > FILE_CHUNK_MAX || m->length != 0 ||
	    (m->flags & ~FILE_MORE) != 0 || m->offset > m->max ||
	    m->data.len > m->max - m->offset ? -1 : 0);
}

int
msg_send_output(struct chan *ch, uint32_t id, enum w_stream stream,
    const char *text, size_t len)
{
	struct w_output	wo = { stream, len };
	struct msg_text	t = { text, len };

	return (send_texts(ch, IMSG_W_OUTPUT, id, &wo, sizeof(wo), &t, 1));
}

int
msg_get_output(struct imsg *imsg, struct msg_output *m)
{
	struct w_output	wo;

	memcpy(&wo, imsg->data, sizeof(wo));
	get_texts(imsg, sizeof(wo), &m->text, &wo.len, 1);
	m->stream = wo.stream;
	return (wo.stream >= STREAM_STDOUT && wo.stream <= STREAM_WARNING ?
	    0 : -1);
}

int
msg_send_tool_call(struct chan *ch, uint32_t call, const char *name,
    size_t nlen, const char *args, size_t alen)
{
	struct w_tool_call	wc = { nlen, alen };
	struct msg_text		t[2] = { { name, nlen }, { args, alen } };

	return (send_texts(ch, IMSG_W_TOOL_CALL, call, &wc, sizeof(wc), t,
	    2));
}

void
msg_get_tool_call(struct imsg *imsg, struct msg_tool_call *m)
{
	struct w_tool_call	wc;
	uint32_t		lens[2];
	struct msg_text		t[2];

	memcpy(&wc, imsg->data, sizeof(wc));
	lens[0] = wc.name_len;
	lens[1] = wc.args_len;
	get_texts(imsg, sizeof(wc), t, lens, 2);
	m->name = t[0];
	m->args = t[1];
}

/* Bytes of a value too large for one message, before its result. */
int
msg_send_result_part(struct chan *ch, uint32_t id, const char *p,
    size_t len)
{
	struct iovec	iov = { (void *)p, len };

	return (chan_send(ch, IMSG_W_RESULT_PART, id, -1, &iov, 1));
}

void
msg_get_result_part(struct imsg *imsg, struct msg_text *part)
{
	part->p = imsg->data;
	part->len = imsg_get_len(imsg);
}

/* Bytes of a value's frame, before its result. */
int
msg_send_frame_part(struct chan *ch, uint32_t id, const char *p,
    size_t len)
{
	struct iovec	iov = { (void *)p, len };

	return (chan_send(ch, IMSG_W_FRAME_PART, id, -1, &iov, 1));
}

/*
 * The part's buffer itself, taken from the message (which is left
 * empty): its bytes are ibuf_data() to ibuf_left(), kept uncopied.
 */
struct ibuf *
msg_take_frame_part(struct imsg *imsg)
{
	struct ibuf	*buf = imsg->buf;

	imsg->buf = NULL;
	imsg->data = NULL;
	return (buf);
}

int
msg_send_result(struct chan *ch, uint32_t id, const struct msg_result *m)
{
	struct w_result	wr;

	memset(&wr, 0, sizeof(wr));
	wr.visible = m->visible != 0;
	wr.value_len = m->value.len;
	wr.printed_len = m->printed.len;
	wr.flags = m->omitted ? RESULT_OMITTED : 0;
	wr.value_total = m->value_total;
	wr.omitted_size = m->omitted_size;
	wr.frame_total = m->frame_total;
	return (send_texts(ch, IMSG_W_RESULT, id, &wr, sizeof(wr), &m->value,
	    2));
}

/* -1 if it claims a whole smaller than its own part, or unknown flags. */
int
msg_get_result(struct imsg *imsg, struct msg_result *m)
{
	struct w_result	wr;
	uint32_t	lens[2];
	struct msg_text	t[2];

	memcpy(&wr, imsg->data, sizeof(wr));
	lens[0] = wr.value_len;
	lens[1] = wr.printed_len;
	get_texts(imsg, sizeof(wr), t, lens, 2);
	m->visible = wr.visible != 0;
	m->omitted = (wr.flags & RESULT_OMITTED) != 0;
	m->value_total = wr.value_total;
	m->omitted_size = wr.omitted_size;
	m->frame_total = wr.frame_total;
	m->value = t[0];
	m->printed = t[1];
	if ((wr.flags & ~RESULT_OMITTED) != 0 || wr.value_total < wr.value_len)
		return (-1);
	return (0);
}

int
msg_send_error(struct chan *ch, uint32_t id, enum w_error_kind kind,
    int line, int column, const char *msg, size_t mlen, const char *call,
    size_t clen, const char *classes, size_t cllen)
{
	struct w_error	we = { kind, line, column, mlen, clen, cllen };
	struct msg_text	t[3] = { { msg, mlen }, { call, clen },
			    { classes, cllen } };

	return (send_texts(ch, IMSG_W_ERROR, id, &we, sizeof(we), t, 3));
}

/* R's names of classes, comma separated: nothing else may come. */
static int
classes_ok(const struct msg_text *t)
{
	size_t	i;

	if (t->len > W_CLASSES_MAX)
		return (-1);
	for (i = 0; i < t->len; i++)
		if (!isalnum((unsigned char)t->p[i]) && t->p[i] != '.' &&
		    t->p[i] != '_' && t->p[i] != ',')
			return (-1);
	return (0);
}

int
msg_get_error(struct imsg *imsg, struct msg_error *m)
{
	struct w_error	we;
	uint32_t	lens[3];
	struct msg_text	t[3];

	memcpy(&we, imsg->data, sizeof(we));
	lens[0] = we.msg_len;
	lens[1] = we.call_len;
	lens[2] = we.classes_len;
	get_texts(imsg, sizeof(we), t, lens, 3);
	m->kind = we.kind;
	m->line = we.line;
	m->column = we.column;
	m->msg = t[0];
	m->call = t[1];
	m->classes = t[2];
	if (we.kind < WERR_R || we.kind > WERR_ENCODE ||
	    classes_ok(&m->classes) == -1)
		return (-1);
	return (0);
}

int
msg_send_advisory(struct chan *ch, uint32_t id, const char *names,
    size_t len)
{
	struct iovec	iov = { (void *)names, len };

	return (chan_send(ch, IMSG_W_ADVISORY, id, -1, &iov, 1));
}

/* Names of R functions, comma separated: nothing else may come. */
int
msg_get_advisory(struct imsg *imsg, struct msg_text *names)
{
	const char	*p = imsg->data;
	size_t		 i, len = imsg_get_len(imsg);

	if (len == 0)
		return (-1);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '.' &&
		    p[i] != '_' && p[i] != ',')
			return (-1);
	names->p = p;
	names->len = len;
	return (0);
}

int
msg_send_plot(struct chan *ch, uint32_t id, uint32_t index, int omitted,
    uint64_t size, const void *data, size_t len)
{
	struct w_plot	wp;
	struct iovec	iov[2];

	memset(&wp, 0, sizeof(wp));
	wp.index = index;
	wp.flags = omitted ? PLOT_OMITTED : 0;
	wp.size = size;
	iov[0].iov_base = &wp;
	iov[0].iov_len = sizeof(wp);
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	return (chan_send(ch, IMSG_W_PLOT, id, -1, iov, len > 0 ? 2 : 1));
}

/*
 * A page, or a page over the worker's own bounds (omitted: no bytes).
 * The bytes sent must be the size it says.
 */
int
msg_get_plot(struct imsg *imsg, struct msg_plot *m)
{
	struct w_plot	wp;
	size_t		n = imsg_get_len(imsg) - sizeof(wp);

	memcpy(&wp, imsg->data, sizeof(wp));
	m->index = wp.index;
	m->omitted = (wp.flags & PLOT_OMITTED) != 0;
	m->size = wp.size;
	m->data.p = (const char *)imsg->data + sizeof(wp);
	m->data.len = n;
	if ((wp.flags & ~PLOT_OMITTED) != 0 || wp.index == 0 ||
	    wp.index > 999999)
		return (-1);
	return (m->omitted ? (n == 0 ? 0 : -1) : (n == wp.size ? 0 : -1));
}

int
msg_send_file(struct chan *ch, uint32_t id, const struct msg_file *m)
{
	struct w_file_reply	wr;
	struct iovec		iov[2];

	memset(&wr, 0, sizeof(wr));
	wr.status = m->status;
	wr.error = m->error;
	wr.size = m->size;
	wr.offset = m->offset;
	iov[0].iov_base = &wr;
	iov[0].iov_len = sizeof(wr);
	iov[1].iov_base = (void *)m->data.p;
	iov[1].iov_len = m->data.len;
	return (chan_send(ch, IMSG_W_FILE, id, -1, iov, m->data.len > 0 ?
	    2 : 1));
}

/*
 * Bytes come only with a file that was found, and end within it; what
 * they must be for the request asked is the monitor's to check.
 */
int
msg_get_file(struct imsg *imsg, struct msg_file *m)
{
	struct w_file_reply	wr;
	size_t			n = imsg_get_len(imsg) - sizeof(wr);

	memcpy(&wr, imsg->data, sizeof(wr));
	m->status = wr.status;
	m->error = wr.error;
	m->size = wr.size;
	m->offset = wr.offset;
	m->data.p = (const char *)imsg->data + sizeof(wr);
	m->data.len = n;
	if (wr.status > WFILE_BAD_OFFSET || (wr.status != WFILE_OK && n != 0) ||
	    wr.offset > wr.size || n > wr.size - wr.offset)
		return (-1);
	return (0);
}

/* Snapshots (hibernation): the fd is a memfd, to write or to read. */
int
msg_send_snapshot(struct chan *ch, uint64_t max_bytes, int fd)
{
	struct w_snapshot	ws = { max_bytes };

	return (msg_send_fixed(ch, IMSG_W_SNAPSHOT, 0, fd, &ws, sizeof(ws)));
}

int
msg_send_restore(struct chan *ch, uint64_t bytes, int fd)
{
	struct w_restore	wr = { bytes };

	return (msg_send_fixed(ch, IMSG_W_RESTORE, 0, fd, &wr, sizeof(wr)));
}

/* IMSG_W_SNAPSHOT_DONE or IMSG_W_RESTORED: how it went and a note. */
int
msg_send_snap_done(struct chan *ch, uint32_t type, enum w_snap_status status,
    uint64_t bytes, const char *note, size_t len)
{
	struct w_snap_done	wd;
	struct msg_text		t = { note, len };

	memset(&wd, 0, sizeof(wd));
	wd.status = status;
	wd.bytes = bytes;
	return (send_texts(ch, type, 0, &wd, sizeof(wd), &t, 1));
}

/* The note is text for a client: valid UTF-8, no NUL. */
int
msg_get_snap_done(struct imsg *imsg, struct msg_snap_done *m)
{
	struct w_snap_done	wd;
	size_t			len = imsg_get_len(imsg) - sizeof(wd);

	memcpy(&wd, imsg->data, sizeof(wd));
	if (wd.status > WSNAP_FAILED)
		return (-1);
	m->status = wd.status;
	m->bytes = wd.bytes;
	m->note.p = (const char *)imsg->data + sizeof(wd);
	m->note.len = len;
	if (len > 0 && (memchr(m->note.p, '\0', len) != NULL ||
	    !utf8_valid(m->note.p, len)))
		return (-1);
	if (len == 0)
		m->note.p = "";
	return (0);
}
