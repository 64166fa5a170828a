/*
 * An execution's plots: the worker sends each page it drew (IMSG_W_PLOT)
 * before the result; they are checked, held under the operator's caps
 * ("plots", "plot-size") and added to the result or the error as base64.
 * What does not fit is listed in "plots_omitted" with the reason, never
 * dropped silently.
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

/* Room kept in a reply line for everything but plots. */
#define REPLY_SLACK	(64U * 1024)

static const unsigned char png_magic[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

static void
plots_omit(struct plotset *ps, const char *name, uint64_t size,
    const char *reason)
{
	cJSON	*p;

	if ((ps->omitted == NULL &&
	    (ps->omitted = cJSON_CreateArray()) == NULL) ||
	    (p = cJSON_CreateObject()) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddNumberToObject(p, "size", (double)size);
	cJSON_AddStringToObject(p, "reason", reason);
	cJSON_AddItemToArray(ps->omitted, p);
}

static void
plots_keep(struct plotset *ps, const char *name, const struct msg_plot *m)
{
	cJSON	*p;
	char	*b64;

	if ((ps->pages == NULL && (ps->pages = cJSON_CreateArray()) == NULL) ||
	    (p = cJSON_CreateObject()) == NULL ||
	    (b64 = base64_encode(m->data.p, m->data.len)) == NULL)
		fatal("%s", __func__);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "mime_type", "image/png");
	cJSON_AddNumberToObject(p, "size", (double)m->data.len);
	cJSON_AddStringToObject(p, "data", b64);
	cJSON_AddItemToArray(ps->pages, p);
	ps->b64 += strlen(b64);
	free(b64);
}

/* A page; -1 if the worker reports more than it may (a violation). */
int
plots_add(struct plotset *ps, const struct msg_plot *m)
{
	char	name[32];

	if (ps->count >= PLOTS_LISTED_MAX)
		return (-1);
	ps->count++;
	snprintf(name, sizeof(name), "plot-%03u.png", m->index);
	if (m->omitted)
		plots_omit(ps, name, m->size, m->size > PLOT_SIZE_MAX ?
		    "size" : "count");
	else if (m->size > conf->max_plot_size)
		plots_omit(ps, name, m->size, "size");
	else if ((ps->pages == NULL ? 0 :
	    (uint32_t)cJSON_GetArraySize(ps->pages)) >= conf->max_plots)
		plots_omit(ps, name, m->size, "count");
	else if (m->data.len < sizeof(png_magic) || memcmp(m->data.p,
	    png_magic, sizeof(png_magic)) != 0)
		plots_omit(ps, name, m->size, "not_png");
	else
		plots_keep(ps, name, m);
	return (0);
}

/*
 * The pages into reply r, whose other members take about used bytes:
 * the last ones go to "plots_omitted" (reason "total") while the line
 * would be longer than a client reads.
 */
void
plots_into(struct plotset *ps, cJSON *r, size_t used)
{
	cJSON	*p, *data;
	size_t	 max = CLIENT_LINE_MAX - REPLY_SLACK;
	int	 n;

	if (ps->pages != NULL) {
		while (used + ps->b64 > max &&
		    (n = cJSON_GetArraySize(ps->pages)) > 0) {
			p = cJSON_DetachItemFromArray(ps->pages, n - 1);
			data = cJSON_GetObjectItemCaseSensitive(p, "data");
			ps->b64 -= strlen(data->valuestring);
			plots_omit(ps, cJSON_GetObjectItemCaseSensitive(p,
			    "name")->valuestring, (uint64_t)
			    cJSON_GetObjectItemCaseSensitive(p,
			    "size")->valuedouble, "total");
			cJSON_Delete(p);
		}
		cJSON_AddItemToObject(r, "plots", ps->pages);
		ps->pages = NULL;
	}
	if (ps->omitted != NULL) {
		cJSON_AddItemToObject(r, "plots_omitted", ps->omitted);
		ps->omitted = NULL;
	}
}

void
plots_free(struct plotset *ps)
{
	cJSON_Delete(ps->pages);
	cJSON_Delete(ps->omitted);
	ps->pages = ps->omitted = NULL;
}
