/*
 * The process table (common/proc.c) and the channel tables
 * (common/channels.h), written as the Markdown of DESIGN.md's
 * "Processes" and "Channels".  t_channels checks that DESIGN.md holds
 * exactly this; "make tables" prints it to paste there.
 */

#include <stdio.h>
#include <string.h>

#include "channels.h"
#include "tables.h"

static const char *
size_rule(const struct chan_rule *r, char *buf, size_t len)
{
	switch (r->size_rule) {
	case RULE_EXACT:
		snprintf(buf, len, "exactly %u", r->hdr);
		break;
	case RULE_LENS:
		snprintf(buf, len, "%u + the %d lengths it declares", r->hdr,
		    r->lens[2] ? 3 : r->lens[1] ? 2 : 1);
		break;
	default:
		snprintf(buf, len, "%u + at most %u", r->hdr, r->max);
		break;
	}
	return (buf);
}

static const char *
states(const struct chan_spec *spec, const struct chan_rule *r, char *buf,
    size_t len)
{
	int	end = spec->ends[0] == r->from ? 1 : 0;
	size_t	i;

	buf[0] = '\0';
	for (i = 0; i < spec->nstates[end]; i++) {
		if (!(r->states & (1U << i)))
			continue;
		if (buf[0] != '\0')
			strlcat(buf, " ", len);
		strlcat(buf, spec->states[end][i], len);
	}
	return (buf);
}

static void
channel(FILE *f, const struct chan_spec *spec)
{
	const struct chan_rule	*r;
	char			 sz[64], st[256];
	size_t			 i;

	fprintf(f, "\n### %s (%s <-> %s, messages of at most %u bytes)\n\n",
	    spec->name, procs[spec->ends[0]].name, procs[spec->ends[1]].name,
	    spec->maxsize);
	fprintf(f, "| message | from | bytes after the header | in the "
	    "receiver's states | fd | peerid | handler |\n");
	fprintf(f, "|---|---|---|---|---|---|---|\n");
	for (i = 0; i < spec->nrules; i++) {
		r = &spec->rules[i];
		fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |\n", r->name,
		    procs[r->from].name, size_rule(r, sz, sizeof(sz)),
		    states(spec, r, st, sizeof(st)),
		    r->fd == FD_YES ? "yes" : "no",
		    r->id == ID_EXPECTED ? "expected" : "any", r->handler);
	}
}

void
tables_markdown(FILE *f)
{
	size_t	i;

	fprintf(f, "| process | program | started | runs as |\n");
	fprintf(f, "|---|---|---|---|\n");
	for (i = 0; i < PROC_MAX; i++)
		fprintf(f, "| %s | %s | %s | %s |\n", procs[i].name,
		    procs[i].program, procs[i].started, procs[i].runs_as);
	channel(f, &chan_broker_monitor);
	channel(f, &chan_broker_template);
	channel(f, &chan_worker);
}
