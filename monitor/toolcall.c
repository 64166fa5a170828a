/*
 * Tool calls: one forwarded to the client at a time per execution, with
 * the client's call id, the worker's own, and what the answer becomes on
 * its way back to the worker.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "log.h"
#include "monitor.h"

static uint64_t	call_ids;

struct toolcall *
toolcall_new(uint32_t peerid, const char *tool)
{
	struct toolcall	*tc;

	if ((tc = calloc(1, sizeof(*tc))) == NULL ||
	    (tc->tool = strdup(tool)) == NULL)
		fatal("%s", __func__);
	tc->id = ++call_ids;
	tc->peerid = peerid;
	tc->start_us = now_us();
	return (tc);
}

void
toolcall_free(struct toolcall *tc)
{
	if (tc == NULL)
		return;
	free(tc->tool);
	free(tc);
}

/* The tool_call event's members; args (checked) is consumed. */
cJSON *
toolcall_event(const struct toolcall *tc, const struct session *s,
    cJSON *args)
{
	cJSON	*ev;

	if ((ev = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddNumberToObject(ev, "call", (double)tc->id);
	cJSON_AddStringToObject(ev, "tool", tc->tool);
	/* On a pool the client learns the session here, to answer. */
	if (s->pool != NULL)
		cJSON_AddStringToObject(ev, "session", s->id);
	cJSON_AddItemToObject(ev, "args", args);
	return (ev);
}

/*
 * What the worker gets for a client's answer: an error's message made
 * safe to show sandboxed code, or the value's JSON text.  malloc'd.
 */
char *
toolcall_answer_text(cJSON *value, cJSON *error, size_t *len)
{
	char	*text;

	if (error != NULL) {
		if ((text = sanitize_error(error->valuestring,
		    strlen(error->valuestring))) == NULL)
			fatal("%s", __func__);
		*len = strlen(text);
	} else if ((text = json_print(value, len)) == NULL)
		fatal("%s", __func__);
	return (text);
}
