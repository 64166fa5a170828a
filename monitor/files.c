/*
 * Plots and files between clients and workers.
 *
 * Plots: the worker sends each page its execution drew (IMSG_W_PLOT)
 * before the result; they are checked, held under the operator's caps
 * ("plots", "plot-size") and added to the result or the error as base64.
 * What does not fit is listed in "plots_omitted" with the reason.
 *
 * Files: "file.put" and "file.get" are executions of a kind: one at a
 * time per session, in its queue, with its deadline and audit records,
 * answered by the worker's IMSG_W_FILE.  Names are checked here, and
 * again by the worker, which alone can see what the code left there.
 */

#include <sys/types.h>
#include <sys/uio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "base64.h"
#include "log.h"
#include "monitor.h"

/* Room kept in a reply line for everything but plots. */
#define REPLY_SLACK	(64U * 1024)

static const unsigned char png_magic[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

static void	plot_omit(struct exec *, const char *, uint64_t,
		    const char *);
static int	line_has_nul(void);

/* The request line being answered: cJSON cuts strings at a \u0000. */
static const char	*req_line;
static size_t		 req_len;

void
files_request_line(const char *line, size_t len)
{
	req_line = line;
	req_len = len;
}

/* A \u0000 escape anywhere in the request (an escaped backslash is not). */
static int
line_has_nul(void)
{
	const char	*p = req_line, *end = req_line + req_len;

	if (p == NULL)
		return (0);
	while ((p = memchr(p, '\\', end - p)) != NULL && p + 1 < end) {
		if (p[1] == 'u' && end - p >= 6 && memcmp(p + 2, "0000", 4) == 0)
			return (1);
		p += 2;
	}
	return (0);
}

/* A single path component of a safe charset; else NULL. */
const char *
files_name_ok(const cJSON *name)
{
	const char	*s;
	size_t		 i, len;

	if (!cJSON_IsString(name))
		return (NULL);
	s = name->valuestring;
	len = strlen(s);
	if (len == 0 || len > FILE_NAME_MAX || s[0] == '.' || s[0] == '-')
		return (NULL);
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return (NULL);
	return (s);
}

void
files_plot(struct exec *e, struct imsg *imsg)
{
	struct w_plot	 wp;
	const char	*data;
	char		 name[32], *b64;
	size_t		 len = imsg_get_len(imsg), n;
	cJSON		*p;

	if (len < sizeof(wp))
		goto bad;
	memcpy(&wp, imsg->data, sizeof(wp));
	n = len - sizeof(wp);
	data = (const char *)imsg->data + sizeof(wp);
	if ((wp.flags & ~PLOT_OMITTED) != 0 || wp.index == 0 ||
	    wp.index > 999999 || e->nplots >= PLOTS_LISTED_MAX ||
	    ((wp.flags & PLOT_OMITTED) ? n != 0 :
	    (n != wp.size || n > PLOT_SIZE_MAX)))
		goto bad;
	e->nplots++;
	snprintf(name, sizeof(name), "plot-%03u.png", wp.index);
	if (wp.flags & PLOT_OMITTED) {
		plot_omit(e, name, wp.size, wp.size > PLOT_SIZE_MAX ?
		    "size" : "count");
		return;
	}
	if (wp.size > conf->max_plot_size) {
		plot_omit(e, name, wp.size, "size");
		return;
	}
	if ((e->plots == NULL ? 0 : (uint32_t)cJSON_GetArraySize(e->plots)) >=
	    conf->max_plots) {
		plot_omit(e, name, wp.size, "count");
		return;
	}
	if (n < sizeof(png_magic) || memcmp(data, png_magic,
	    sizeof(png_magic)) != 0) {
		plot_omit(e, name, wp.size, "not_png");
		return;
	}
	if ((e->plots == NULL && (e->plots = cJSON_CreateArray()) == NULL) ||
	    (p = cJSON_CreateObject()) == NULL ||
	    (b64 = base64_encode(data, n)) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "mime_type", "image/png");
	cJSON_AddNumberToObject(p, "size", (double)n);
	cJSON_AddStringToObject(p, "data", b64);
	cJSON_AddItemToArray(e->plots, p);
	e->plot_b64 += strlen(b64);
	free(b64);
	return;
 bad:
	worker_violation(e->session->worker, "bad plot");
}

static void
plot_omit(struct exec *e, const char *name, uint64_t size,
    const char *reason)
{
	cJSON	*p;

	if ((e->plots_omitted == NULL &&
	    (e->plots_omitted = cJSON_CreateArray()) == NULL) ||
	    (p = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddNumberToObject(p, "size", (double)size);
	cJSON_AddStringToObject(p, "reason", reason);
	cJSON_AddItemToArray(e->plots_omitted, p);
}

/*
 * The execution's plots into its reply r, whose other members take
 * about used bytes: the last ones go to "plots_omitted" (reason
 * "total") while the line would be longer than a client reads.
 */
void
files_add_plots(struct exec *e, cJSON *r, size_t used)
{
	cJSON	*p, *data;
	size_t	 max = CLIENT_LINE_MAX - REPLY_SLACK;
	int	 n;

	if (e->plots != NULL) {
		while (used + e->plot_b64 > max &&
		    (n = cJSON_GetArraySize(e->plots)) > 0) {
			p = cJSON_DetachItemFromArray(e->plots, n - 1);
			data = cJSON_GetObjectItemCaseSensitive(p, "data");
			e->plot_b64 -= strlen(data->valuestring);
			plot_omit(e, cJSON_GetObjectItemCaseSensitive(p,
			    "name")->valuestring, (uint64_t)
			    cJSON_GetObjectItemCaseSensitive(p,
			    "size")->valuedouble, "total");
			cJSON_Delete(p);
		}
		cJSON_AddItemToObject(r, "plots", e->plots);
		e->plots = NULL;
	}
	if (e->plots_omitted != NULL) {
		cJSON_AddItemToObject(r, "plots_omitted", e->plots_omitted);
		e->plots_omitted = NULL;
	}
}

void
files_free(struct exec *e)
{
	cJSON_Delete(e->plots);
	cJSON_Delete(e->plots_omitted);
	free(e->file_name);
	free(e->file_data);
}

/*
 * file.put {session, name, data (base64)} and file.get {session, name}.
 */
void
files_request(struct client *c, uint64_t id, cJSON *req, int put)
{
	struct session	*s;
	struct exec	*e;
	const cJSON	*data = cJSON_GetObjectItemCaseSensitive(req, "data");
	const char	*name;
	unsigned char	*bytes = NULL;
	size_t		 len = 0;

	if ((s = session_find(c, req, id)) == NULL)
		return;
	if ((name = files_name_ok(cJSON_GetObjectItemCaseSensitive(req,
	    "name"))) == NULL || line_has_nul()) {
		reply_error(c, id, "bad_file_name", NULL, "a file name is "
		    "1 to %d letters, digits, '.', '_' or '-', not starting "
		    "with '.' or '-'", FILE_NAME_MAX);
		return;
	}
	if (put && (!cJSON_IsString(data) || base64_decode(data->valuestring,
	    strlen(data->valuestring), &bytes, &len) == -1)) {
		reply_error(c, id, "bad_request", NULL,
		    "file.put needs its data as a base64 string");
		return;
	}
	if (put && len > conf->max_file_size) {
		free(bytes);
		reply_error(c, id, "file_too_large", NULL, "file too large "
		    "(%zu bytes, max %llu)", len,
		    (unsigned long long)conf->max_file_size);
		return;
	}
	if (put && s->files_put >= conf->max_files) {
		free(bytes);
		reply_error(c, id, "too_many_files", NULL, "maximum files "
		    "(%u) put in this session", conf->max_files);
		return;
	}
	if (s->exec != NULL || s->restart_req != 0 || s->create_req != 0) {
		free(bytes);
		reply_error(c, id, "session_busy", NULL, "session busy: an "
		    "execution is already running in this session");
		return;
	}
	if (policy_exec_admit(c, id, s) == -1) {
		free(bytes);
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->file_name = strdup(name)) == NULL)
		fatal("%s", __func__);
	e->session = s;
	e->file_op = put ? IMSG_W_FILE_PUT : IMSG_W_FILE_GET;
	e->file_data = (char *)bytes;
	e->file_len = len;
	e->timeout = s->timeout;
	e->req_id = id;
	/* The audit record's code: what is done, not the bytes. */
	if (asprintf(&e->code, "%s %s (%zu bytes)", put ? "file.put" :
	    "file.get", name, len) == -1)
		fatal("%s", __func__);
	e->code_len = strlen(e->code);
	exec_init(e);
	if (put)
		s->files_put++;
	s->exec = e;
	s->client = c;
	if (s->state == S_IDLE)
		exec_start(e);
	else if (s->worker == NULL)
		session_respawn(s, "worker could not start, trying again");
}

/* exec_start() of a file operation. */
int
files_start(struct exec *e)
{
	struct session		*s = e->session;
	struct w_file_req	 wr;
	struct iovec		 iov[3];

	memset(&wr, 0, sizeof(wr));
	wr.name_len = strlen(e->file_name);
	wr.data_len = e->file_len;
	wr.max = conf->max_file_size;
	iov[0].iov_base = &wr;
	iov[0].iov_len = sizeof(wr);
	iov[1].iov_base = e->file_name;
	iov[1].iov_len = wr.name_len;
	iov[2].iov_base = e->file_data;
	iov[2].iov_len = e->file_len;
	if (worker_send(s->worker, e->file_op, e->exec_id, iov,
	    e->file_len > 0 ? 3 : 2) == -1)
		return (-1);
	free(e->file_data);
	e->file_data = NULL;
	return (0);
}

static const char *
file_status_code(uint32_t status)
{
	switch (status) {
	case WFILE_NOT_FOUND:
		return ("file_not_found");
	case WFILE_NOT_REGULAR:
		return ("not_a_regular_file");
	case WFILE_TOO_LARGE:
		return ("file_too_large");
	}
	return ("file_error");
}

/* IMSG_W_FILE: the worker's answer to a file operation. */
void
files_reply(struct exec *e, struct imsg *imsg)
{
	struct w_file_reply	 wr;
	size_t			 len = imsg_get_len(imsg), n;
	const char		*data;
	char			*b64;
	cJSON			*r;

	if (len < sizeof(wr))
		goto bad;
	memcpy(&wr, imsg->data, sizeof(wr));
	n = len - sizeof(wr);
	data = (const char *)imsg->data + sizeof(wr);
	if (wr.status > WFILE_IO || (wr.status != WFILE_OK && n != 0) ||
	    (e->file_op == IMSG_W_FILE_PUT && n != 0) ||
	    (e->file_op == IMSG_W_FILE_GET && wr.status == WFILE_OK &&
	    (n != wr.size || n > conf->max_file_size)))
		goto bad;
	switch (wr.status) {
	case WFILE_OK:
		break;
	case WFILE_TOO_LARGE:
		exec_fail(e, EXEC_ERROR, "file_too_large", NULL, "file %s too "
		    "large (%llu bytes, max %llu)", e->file_name,
		    (unsigned long long)wr.size,
		    (unsigned long long)conf->max_file_size);
		return;
	case WFILE_IO:
		exec_fail(e, EXEC_ERROR, "file_error", NULL, "file %s: %s",
		    e->file_name, strerror(wr.error));
		return;
	default:
		exec_fail(e, EXEC_ERROR, file_status_code(wr.status), NULL,
		    "file %s: %s", e->file_name,
		    wr.status == WFILE_NOT_FOUND ? "no such file in the "
		    "output directory" : "not a regular file (a symlink, "
		    "directory, FIFO or other special file)");
		return;
	}
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(r, "name", e->file_name);
	cJSON_AddNumberToObject(r, "size", (double)wr.size);
	if (e->file_op == IMSG_W_FILE_GET) {
		if ((b64 = base64_encode(data, n)) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "data", b64);
		free(b64);
	}
	exec_end(e, r);
	return;
 bad:
	worker_violation(e->session->worker, "bad file reply");
}

void
files_put_req(struct client *c, uint64_t id, cJSON *req)
{
	files_request(c, id, req, 1);
}

void
files_get_req(struct client *c, uint64_t id, cJSON *req)
{
	files_request(c, id, req, 0);
}
