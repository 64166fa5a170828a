/*
 * Replies and events to clients, built here and nowhere else, and
 * reading members of requests.
 */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

static cJSON *
reply_head(uint64_t id)
{
	cJSON	*r;

	if ((r = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	if (id == 0)
		cJSON_AddNullToObject(r, "id");
	else
		cJSON_AddNumberToObject(r, "id", (double)id);
	return (r);
}

/* A final reply's head, to be filled and sent by reply_send(). */
cJSON *
reply_new(uint64_t id, int ok)
{
	cJSON	*r = reply_head(id);

	cJSON_AddBoolToObject(r, "ok", ok);
	return (r);
}

/*
 * A reply's frame (securer-protocol(7) "Values", frame.c) rides in it
 * as a member of its own (FRAME_MEMBER, a name no JSON member has) that
 * is never printed: a node referring to the frame, which cJSON_Delete()
 * leaves alone; reply_send() sends it after the line and reply_free()
 * frees it with a reply never sent.  Its length is the reply's "frame"
 * member, which the client reads.
 */
#define FRAME_MEMBER	"\001frame"

/* r (a reply's members) with frame after it (consumed; NULL: none). */
void
reply_add_frame(cJSON *r, struct frame *frame)
{
	cJSON	*f;

	if (frame == NULL)
		return;
	if ((f = cJSON_CreateRaw("")) == NULL)
		fatal("%s", __func__);
	free(f->valuestring);
	f->valuestring = (char *)frame;
	f->type |= cJSON_IsReference;
	cJSON_AddNumberToObject(r, "frame", (double)frame_len(frame));
	cJSON_AddItemToObject(r, FRAME_MEMBER, f);
}

static struct frame *
reply_take_frame(cJSON *msg)
{
	struct frame	*frame;
	cJSON		*f;

	if ((f = cJSON_DetachItemFromObjectCaseSensitive(msg,
	    FRAME_MEMBER)) == NULL)
		return (NULL);
	frame = (struct frame *)(void *)f->valuestring;
	cJSON_Delete(f);
	return (frame);
}

/* A reply that may hold a frame, sent or not. */
void
reply_free(cJSON *msg)
{
	if (msg != NULL)
		frame_free(reply_take_frame(msg));
	cJSON_Delete(msg);
}

/* One line to the client, and its frame; NULL or gone: not sent. */
void
reply_send(struct client *c, cJSON *msg)
{
	struct frame	*frame;
	char		*text;
	size_t		 len;

	if (c == NULL || c->gone)
		return;
	frame = reply_take_frame(msg);
	if ((text = json_print(msg, &len)) == NULL)
		fatal("%s", __func__);
	text[len] = '\n';	/* json_print leaves room for the NUL */
	if (frame == NULL) {
		conn_send(c->conn, text, len + 1);
		free(text);
		return;
	}
	/* The line and its frame are one message. */
	conn_send_more(c->conn, text, len + 1);
	free(text);
	frame_send(frame, c->conn);
	conn_message_end(c->conn);
}

/* Moves the members of extra (which is consumed) into r. */
void
reply_merge(cJSON *r, cJSON *extra)
{
	cJSON	*item;

	if (extra == NULL)
		return;
	while ((item = extra->child) != NULL) {
		cJSON_DetachItemViaPointer(extra, item);
		cJSON_AddItemToObject(r, item->string, item);
	}
	cJSON_Delete(extra);
}

void
reply_ok(struct client *c, uint64_t id, cJSON *extra)
{
	cJSON	*r = reply_new(id, 1);

	reply_merge(r, extra);
	reply_send(c, r);
	cJSON_Delete(r);
}

void
reply_error(struct client *c, uint64_t id, const char *code, cJSON *extra,
    const char *fmt, ...)
{
	cJSON	*r = reply_new(id, 0), *e;
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	if ((e = cJSON_AddObjectToObject(r, "error")) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	reply_merge(e, extra);
	reply_send(c, r);
	cJSON_Delete(r);
	free(msg);
}

void
reply_event(struct client *c, uint64_t id, const char *event, cJSON *extra)
{
	cJSON	*r = reply_head(id);

	cJSON_AddStringToObject(r, "event", event);
	reply_merge(r, extra);
	reply_send(c, r);
	cJSON_Delete(r);
}

/*
 * Parses a value that came from a worker.  The worker is not trusted:
 * the text may be anything, so it is made valid UTF-8 first and must be
 * one complete JSON value.
 */
cJSON *
json_raw_value(const char *text, size_t len)
{
	cJSON	*v;
	char	*clean;
	size_t	 n;

	if ((clean = utf8_sanitize(text, len, &n)) == NULL)
		fatal("%s", __func__);
	v = cJSON_ParseWithOpts(clean, NULL, 1);
	free(clean);
	return (v);
}

/*
 * A value to pass on, not to look into: valid as it is, the text goes
 * out as it is (a raw node); parsing and printing a value of hundreds
 * of megabytes again took seconds.  Else as json_raw_value().
 */
cJSON *
json_pass_value(const char *text, size_t len)
{
	cJSON	*v;
	char	*copy;

	if (len == 0 || !json_valid_line(text, len))
		return (json_raw_value(text, len));
	if ((copy = strndup(text, len)) == NULL ||
	    (v = cJSON_CreateRaw("")) == NULL)
		fatal("%s", __func__);
	free(v->valuestring);
	v->valuestring = copy;
	return (v);
}

/*
 * Seconds (a timeout): 0 and *out = dflt if absent; null reads as 0; -1
 * if not a number from 0 to SECONDS_MAX, which a struct timeval holds
 * (a larger double does not convert to time_t).
 */
int
json_get_seconds(cJSON *obj, const char *name, double dflt, double *out)
{
	cJSON	*item = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = dflt;
	if (item == NULL)
		return (0);
	if (cJSON_IsNull(item)) {
		*out = 0;
		return (0);
	}
	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
	    item->valuedouble < 0 || item->valuedouble > SECONDS_MAX)
		return (-1);
	*out = item->valuedouble;
	return (0);
}

/* A positive integer count; *out untouched if absent; -1 if bad. */
int
json_get_count(cJSON *obj, const char *name, uint64_t *out)
{
	cJSON	*item = cJSON_GetObjectItemCaseSensitive(obj, name);
	double	 d;

	if (item == NULL || cJSON_IsNull(item))
		return (0);
	if (!cJSON_IsNumber(item))
		return (-1);
	d = item->valuedouble;
	if (!(d >= 1 && d <= 9007199254740992.0) || d != floor(d))
		return (-1);
	*out = (uint64_t)d;
	return (0);
}
