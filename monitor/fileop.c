/*
 * File operation records: "file.put" and "file.get" are jobs of their
 * own kind, one at a time per session with its deadline and audit
 * records like executions, answered by the worker's IMSG_W_FILE.  Names
 * are checked here, and again by the worker, which alone can see what
 * the code left there.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "base64.h"
#include "log.h"
#include "monitor.h"
#include "msg.h"

/* A single path component of a safe charset; else NULL. */
const char *
fileop_name_ok(const cJSON *name)
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

/*
 * A \u0000 escape anywhere in a request line (an escaped backslash is
 * not one): cJSON cuts strings there, so a name would be read short.
 */
int
fileop_line_has_nul(const char *line, size_t len)
{
	const char	*p = line, *end = line + len;

	while ((p = memchr(p, '\\', end - p)) != NULL && p + 1 < end) {
		if (p[1] == 'u' && end - p >= 6 && memcmp(p + 2, "0000", 4) == 0)
			return (1);
		p += 2;
	}
	return (0);
}

static uint64_t	fileop_chunk_max(void);

/*
 * A whole number of bytes at key, or dflt if absent; -1 if it is not
 * one (a double holds every integer up to 2^53, past any file-size).
 */
static int
fileop_u64(const cJSON *req, const char *key, uint64_t dflt, uint64_t *out)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(req, key);

	if (v == NULL || cJSON_IsNull(v)) {
		*out = dflt;
		return (0);
	}
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return (-1);
	*out = (uint64_t)v->valuedouble;
	return (0);
}

/* The put's chunk decoded into f; -1 once c has been told why not. */
static int
fileop_chunk(struct client *c, uint64_t id, const cJSON *req,
    struct fileop *f)
{
	const cJSON	*data = cJSON_GetObjectItemCaseSensitive(req, "data");
	const cJSON	*more = cJSON_GetObjectItemCaseSensitive(req, "more");
	size_t		 elen;

	if (!cJSON_IsString(data) || (more != NULL && !cJSON_IsBool(more) &&
	    !cJSON_IsNull(more))) {
		reply_error(c, id, "bad_request", NULL, "file.put needs its "
		    "data as a base64 string, and more as a boolean");
		return (-1);
	}
	if (cJSON_IsTrue(more))
		f->flags |= FILE_MORE;
	/* Refused before decoding: the line alone may be 8 MiB. */
	if ((elen = strlen(data->valuestring)) / 4 * 3 > FILE_CHUNK_MAX + 3) {
		reply_error(c, id, "chunk_too_large", NULL, "a chunk is at "
		    "most %u bytes (this one about %zu)", FILE_CHUNK_MAX,
		    elen / 4 * 3);
		return (-1);
	}
	if (base64_decode(data->valuestring, elen, &f->data, &f->len) == -1) {
		reply_error(c, id, "bad_request", NULL,
		    "file.put needs its data as a base64 string");
		return (-1);
	}
	if (f->len > fileop_chunk_max()) {
		reply_error(c, id, "chunk_too_large", NULL, "a chunk is at "
		    "most %llu bytes here (this one %zu)",
		    (unsigned long long)fileop_chunk_max(), f->len);
		return (-1);
	}
	return (0);
}

/*
 * A put's place in its session's upload: offset 0 starts one (an
 * unfinished one goes), any other continues the unfinished one of the
 * name at its end.  -1 once c has been told why not.
 */
static int
fileop_put_admit(struct client *c, uint64_t id, struct session *s,
    struct fileop *f)
{
	if (f->offset > 0 && (s->upload == NULL ||
	    strcmp(s->upload, f->name) != 0 || s->upload_size != f->offset)) {
		if (s->upload != NULL && strcmp(s->upload, f->name) == 0)
			reply_error(c, id, "bad_offset", NULL, "the upload of "
			    "%s has %llu bytes so far, not %llu", f->name,
			    (unsigned long long)s->upload_size,
			    (unsigned long long)f->offset);
		else
			reply_error(c, id, "bad_offset", NULL, "no upload of "
			    "%s is unfinished: a file starts at offset 0",
			    f->name);
		return (-1);
	}
	if (f->len > conf->max_file_size ||
	    f->offset > conf->max_file_size - f->len) {
		reply_error(c, id, "file_too_large", NULL, "file too large "
		    "(%llu bytes, max %llu)", (unsigned long long)(f->offset +
		    f->len), (unsigned long long)conf->max_file_size);
		return (-1);
	}
	if (f->offset == 0 && s->files_put >= conf->max_files) {
		reply_error(c, id, "too_many_files", NULL, "maximum files "
		    "(%u) put in this session", conf->max_files);
		return (-1);
	}
	return (0);
}

/*
 * The most one chunk or range may carry here: FILE_CHUNK_MAX, and never
 * more than result-memory, which it is held against (a chunk that could
 * never fit is refused for good, not "busy" for ever).
 */
static uint64_t
fileop_chunk_max(void)
{
	return (conf->max_result_memory < FILE_CHUNK_MAX ?
	    conf->max_result_memory : FILE_CHUNK_MAX);
}

/*
 * A get's range: at most a chunk, or (none asked) the rest of the file,
 * which the worker refuses (file_too_large, with the size) if it is
 * more than one reply may carry.
 */
static int
fileop_get_admit(struct client *c, uint64_t id, const cJSON *req,
    struct fileop *f)
{
	if (cJSON_GetObjectItemCaseSensitive(req, "length") == NULL ||
	    cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(req, "length"))) {
		f->flags |= FILE_WHOLE;
		f->length = conf->max_file_size < fileop_chunk_max() ?
		    conf->max_file_size : fileop_chunk_max();
	} else if (f->length > fileop_chunk_max()) {
		reply_error(c, id, "chunk_too_large", NULL, "a range is at "
		    "most %llu bytes here (this one %llu)",
		    (unsigned long long)fileop_chunk_max(),
		    (unsigned long long)f->length);
		return (-1);
	}
	return (0);
}

/*
 * The chunk's bytes against result-memory, with the values and frames
 * held: what the monitor holds in flight for all sessions is bounded.
 */
static int
fileop_hold(struct client *c, uint64_t id, struct fileop *f)
{
	uint64_t	n = f->op == IMSG_W_FILE_PUT ? f->len : f->length;
	if (!held_fits(n)) {
		reply_error(c, id, "memory_busy", NULL, "the daemon holds "
		    "other data in flight (result-memory %llu bytes): try "
		    "again", (unsigned long long)conf->max_result_memory);
		return (-1);
	}
	f->held = n;
	held_charge(HELD_FILES, n);
	return (0);
}

/*
 * What the audit record says is done.  Of a put in chunks only the
 * first and the last are audited, the last with the file's size.
 */
static void
fileop_audit_code(struct fileop *f)
{
	int	 rc;

	if (f->op == IMSG_W_FILE_GET && (f->flags & FILE_WHOLE) &&
	    f->offset == 0)
		rc = asprintf(&f->job.code, "file.get %s", f->name);
	else if (f->op == IMSG_W_FILE_GET)
		rc = asprintf(&f->job.code, "file.get %s (%llu bytes from "
		    "%llu)", f->name, (f->flags & FILE_WHOLE) ? 0ULL :
		    (unsigned long long)f->length,
		    (unsigned long long)f->offset);
	else if (f->offset == 0 && (f->flags & FILE_MORE) == 0)
		rc = asprintf(&f->job.code, "file.put %s (%zu bytes)",
		    f->name, f->len);
	else if (f->offset == 0)
		rc = asprintf(&f->job.code, "file.put %s (first chunk, %zu "
		    "bytes)", f->name, f->len);
	else if ((f->flags & FILE_MORE) == 0)
		rc = asprintf(&f->job.code, "file.put %s (%llu bytes, last "
		    "chunk)", f->name, (unsigned long long)(f->offset +
		    f->len));
	else {
		f->job.unaudited = 1;
		rc = asprintf(&f->job.code, "file.put %s (chunk at %llu)",
		    f->name, (unsigned long long)f->offset);
	}
	if (rc == -1)
		fatal("%s", __func__);
	f->job.code_len = strlen(f->job.code);
}

/*
 * file.put {session, name, data (base64), offset, more} or file.get
 * {session, name, offset, length} on s for c, checked; NULL once c has
 * been told why not.
 */
struct fileop *
fileop_alloc(struct client *c, uint64_t id, cJSON *req, int put,
    struct session *s)
{
	struct fileop	*f;
	const char	*name;

	if ((name = fileop_name_ok(cJSON_GetObjectItemCaseSensitive(req,
	    "name"))) == NULL) {
		reply_error(c, id, "bad_file_name", NULL, "a file name is "
		    "1 to %d letters, digits, '.', '_' or '-', not starting "
		    "with '.' or '-'", FILE_NAME_MAX);
		return (NULL);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->name = strdup(name)) == NULL)
		fatal("%s", __func__);
	f->job.kind = JOB_FILE;
	f->job.session = s;
	f->job.timeout = s->timeout;
	f->op = put ? IMSG_W_FILE_PUT : IMSG_W_FILE_GET;
	if (fileop_u64(req, "offset", 0, &f->offset) == -1 ||
	    (!put && fileop_u64(req, "length", 0, &f->length) == -1)) {
		reply_error(c, id, "bad_request", NULL, "offset and length "
		    "are whole numbers of bytes");
		fileop_free(f);
		return (NULL);
	}
	if ((put && (fileop_chunk(c, id, req, f) == -1 ||
	    fileop_put_admit(c, id, s, f) == -1)) ||
	    (!put && fileop_get_admit(c, id, req, f) == -1) ||
	    fileop_hold(c, id, f) == -1) {
		fileop_free(f);
		return (NULL);
	}
	fileop_audit_code(f);
	return (f);
}

/* A put starting an upload counts against "files". */
int
fileop_starts_upload(const struct fileop *f)
{
	return (f->op == IMSG_W_FILE_PUT && f->offset == 0);
}

void
fileop_free(struct fileop *f)
{
	held_charge(HELD_FILES, -(int64_t)f->held);
	free(f->name);
	free(f->data);
	free(f->job.code);
	free(f);
}

/* To the worker; the bytes of a put go with it and are freed. */
int
fileop_send(struct fileop *f, struct chan *ch)
{
	struct msg_file_req	r;
	int			rc;

	memset(&r, 0, sizeof(r));
	r.data.p = (const char *)f->data;
	r.data.len = f->len;
	r.offset = f->offset;
	r.length = f->op == IMSG_W_FILE_GET ? f->length : 0;
	r.max = conf->max_file_size;
	r.flags = f->flags;
	if (f->op == IMSG_W_FILE_PUT)
		rc = msg_send_file_put(ch, f->job.id, f->name, &r);
	else
		rc = msg_send_file_get(ch, f->job.id, f->name, &r);
	free(f->data);
	f->data = NULL;
	return (rc);
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
	case WFILE_BAD_OFFSET:
		return ("bad_offset");
	}
	return ("file_error");
}

/* The worker's answer is what was asked: -1 if it breaks the protocol. */
static int
fileop_answer_ok(const struct fileop *f, const struct msg_file *m)
{
	uint64_t	rest;

	if (f->op == IMSG_W_FILE_PUT)
		return (m->data.len != 0 || (m->status == WFILE_OK &&
		    m->size != f->offset + f->len) ? -1 : 0);
	if (m->status != WFILE_OK)
		return (0);
	if (m->offset != f->offset || m->size > conf->max_file_size ||
	    m->offset > m->size)
		return (-1);
	rest = m->size - m->offset;
	if (f->flags & FILE_WHOLE)
		return (rest > f->length || m->data.len != rest ? -1 : 0);
	return (m->data.len != (rest < f->length ? rest : f->length) ? -1 : 0);
}

/* The message of the worker's error m. */
static void
fileop_error(struct fileop *f, const struct msg_file *m, char *err,
    size_t errlen, cJSON **extra)
{
	if (m->status == WFILE_TOO_LARGE && m->size <= conf->max_file_size &&
	    f->op == IMSG_W_FILE_GET) {
		snprintf(err, errlen, "file %s is %llu bytes, more than one "
		    "reply carries (%llu): ask for it in ranges (offset, "
		    "length)", f->name, (unsigned long long)m->size,
		    (unsigned long long)f->length);
		if ((*extra = cJSON_CreateObject()) == NULL)
			fatal("%s", __func__);
		cJSON_AddNumberToObject(*extra, "size", (double)m->size);
	} else if (m->status == WFILE_TOO_LARGE)
		snprintf(err, errlen, "file %s too large (%llu bytes, "
		    "max %llu)", f->name, (unsigned long long)m->size,
		    (unsigned long long)conf->max_file_size);
	else if (m->status == WFILE_BAD_OFFSET && f->op == IMSG_W_FILE_GET)
		snprintf(err, errlen, "offset %llu is past the end of %s "
		    "(%llu bytes)", (unsigned long long)f->offset, f->name,
		    (unsigned long long)m->size);
	else if (m->status == WFILE_BAD_OFFSET)
		snprintf(err, errlen, "the upload of %s is not at offset %llu: "
		    "start it again at 0", f->name,
		    (unsigned long long)f->offset);
	else if (m->status == WFILE_IO)
		snprintf(err, errlen, "file %s: %s", f->name,
		    strerror(m->error));
	else
		snprintf(err, errlen, "file %s: %s", f->name,
		    m->status == WFILE_NOT_FOUND ? "no such file in "
		    "the output directory" : "not a regular file (a "
		    "symlink, directory, FIFO or other special file)");
}

/* A put's answer moves its session's upload on, or ends it. */
static void
fileop_upload_moves(struct fileop *f, const struct msg_file *m)
{
	struct session	*s = f->job.session;

	if (f->op != IMSG_W_FILE_PUT)
		return;
	if (m->status == WFILE_OK && (f->flags & FILE_MORE)) {
		if (s->upload == NULL || strcmp(s->upload, f->name) != 0) {
			free(s->upload);
			if ((s->upload = strdup(f->name)) == NULL)
				fatal("%s", __func__);
		}
		s->upload_size = m->size;
	} else
		fileop_upload_end(s);
}

/* s's unfinished upload, if any, is over (its worker's partial gone). */
void
fileop_upload_end(struct session *s)
{
	free(s->upload);
	s->upload = NULL;
	s->upload_size = 0;
}

/*
 * The reply's members for the worker's answer m, or NULL with the
 * error's code, message and members in *code, err and *extra.  *code
 * NULL with NULL returned: the answer breaks the protocol.
 */
cJSON *
fileop_reply(struct fileop *f, const struct msg_file *m, char *err,
    size_t errlen, const char **code, cJSON **extra)
{
	cJSON	*r;
	char	*b64;

	*code = NULL;
	*extra = NULL;
	if (fileop_answer_ok(f, m) == -1)
		return (NULL);
	fileop_upload_moves(f, m);
	if (m->status != WFILE_OK) {
		*code = file_status_code(m->status);
		fileop_error(f, m, err, errlen, extra);
		return (NULL);
	}
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(r, "name", f->name);
	cJSON_AddNumberToObject(r, "size", (double)m->size);
	if (f->op == IMSG_W_FILE_PUT)
		cJSON_AddBoolToObject(r, "done", (f->flags & FILE_MORE) == 0);
	else {
		cJSON_AddNumberToObject(r, "offset", (double)m->offset);
		if ((b64 = base64_encode(m->data.p, m->data.len)) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "data", b64);
		free(b64);
	}
	return (r);
}
