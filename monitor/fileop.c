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

/*
 * file.put {session, name, data (base64)} or file.get {session, name}
 * on s for c, checked; NULL once c has been told why not.
 */
struct fileop *
fileop_alloc(struct client *c, uint64_t id, cJSON *req, int put,
    struct session *s)
{
	struct fileop	*f;
	const cJSON	*data = cJSON_GetObjectItemCaseSensitive(req, "data");
	const char	*name;
	unsigned char	*bytes = NULL;
	size_t		 len = 0;

	if ((name = fileop_name_ok(cJSON_GetObjectItemCaseSensitive(req,
	    "name"))) == NULL) {
		reply_error(c, id, "bad_file_name", NULL, "a file name is "
		    "1 to %d letters, digits, '.', '_' or '-', not starting "
		    "with '.' or '-'", FILE_NAME_MAX);
		return (NULL);
	}
	if (put && (!cJSON_IsString(data) || base64_decode(data->valuestring,
	    strlen(data->valuestring), &bytes, &len) == -1)) {
		reply_error(c, id, "bad_request", NULL,
		    "file.put needs its data as a base64 string");
		return (NULL);
	}
	if (put && len > conf->max_file_size) {
		free(bytes);
		reply_error(c, id, "file_too_large", NULL, "file too large "
		    "(%zu bytes, max %llu)", len,
		    (unsigned long long)conf->max_file_size);
		return (NULL);
	}
	if (put && s->files_put >= conf->max_files) {
		free(bytes);
		reply_error(c, id, "too_many_files", NULL, "maximum files "
		    "(%u) put in this session", conf->max_files);
		return (NULL);
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->name = strdup(name)) == NULL)
		fatal("%s", __func__);
	f->job.kind = JOB_FILE;
	f->job.session = s;
	f->job.timeout = s->timeout;
	f->op = put ? IMSG_W_FILE_PUT : IMSG_W_FILE_GET;
	f->data = bytes;
	f->len = len;
	/* The audit record's code: what is done, not the bytes. */
	if (asprintf(&f->job.code, "%s %s (%zu bytes)", put ? "file.put" :
	    "file.get", name, len) == -1)
		fatal("%s", __func__);
	f->job.code_len = strlen(f->job.code);
	return (f);
}

void
fileop_free(struct fileop *f)
{
	free(f->name);
	free(f->data);
	free(f->job.code);
	free(f);
}

/* To the worker; the bytes of a put go with it and are freed. */
int
fileop_send(struct fileop *f, struct chan *ch)
{
	int	rc;

	if (f->op == IMSG_W_FILE_PUT)
		rc = msg_send_file_put(ch, f->job.id, f->name, f->data, f->len);
	else
		rc = msg_send_file_get(ch, f->job.id, f->name,
		    conf->max_file_size);
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
	}
	return ("file_error");
}

/*
 * The reply's members for the worker's answer m, or NULL with the
 * error's code and message in *code and err.  *code NULL with NULL
 * returned: the answer breaks the protocol.
 */
cJSON *
fileop_reply(struct fileop *f, const struct msg_file *m, char *err,
    size_t errlen, const char **code)
{
	cJSON	*r;
	char	*b64;

	*code = NULL;
	if ((f->op == IMSG_W_FILE_PUT && m->data.len != 0) ||
	    (f->op == IMSG_W_FILE_GET && m->status == WFILE_OK &&
	    (m->data.len != m->size || m->data.len > conf->max_file_size)))
		return (NULL);
	if (m->status != WFILE_OK) {
		*code = file_status_code(m->status);
		if (m->status == WFILE_TOO_LARGE)
			snprintf(err, errlen, "file %s too large (%llu bytes, "
			    "max %llu)", f->name, (unsigned long long)m->size,
			    (unsigned long long)conf->max_file_size);
		else if (m->status == WFILE_IO)
			snprintf(err, errlen, "file %s: %s", f->name,
			    strerror(m->error));
		else
			snprintf(err, errlen, "file %s: %s", f->name,
			    m->status == WFILE_NOT_FOUND ? "no such file in "
			    "the output directory" : "not a regular file (a "
			    "symlink, directory, FIFO or other special file)");
		return (NULL);
	}
	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(r, "name", f->name);
	cJSON_AddNumberToObject(r, "size", (double)m->size);
	if (f->op == IMSG_W_FILE_GET) {
		if ((b64 = base64_encode(m->data.p, m->data.len)) == NULL)
			fatal("%s", __func__);
		cJSON_AddStringToObject(r, "data", b64);
		free(b64);
	}
	return (r);
}
