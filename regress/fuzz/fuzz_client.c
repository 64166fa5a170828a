/*
 * The client protocol parser: the monitor's NDJSON request parsing and
 * validation (monitor/client.c and each op's handler), fed lines of
 * bytes over a real connection to the monitor running in this process
 * (fakemon.c), with fake workers that answer executions and a client
 * that answers tool calls.
 *
 * Session ids are random, so a line may say $S for the last session id
 * the daemon named to this connection, and $C for the last tool call.
 * A line "@N" (N from 0 to 3) switches to connection N, opened if need
 * be; a line "!REQUEST" is sent on a control connection of its own, as
 * securerctl would (monitor/control.c); a line "%" makes every
 * execution's and pool waiter's deadline pass.  Every reply must be a JSON object with an id, and when the input
 * ends and its connections close, nothing may remain in the monitor.
 */

#include <sys/types.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakemon.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fm_init();
	fm_auto = FM_AUTO_WORKER | FM_AUTO_TOOLS;
	return (0);
}

/* The line with $S and $C replaced. */
static char *
expand(struct fm_client *fc, const char *p, size_t len, size_t *outlen)
{
	char	*out, call[32];
	size_t	 n = 0, i, cap = len * 64 + 1;

	snprintf(call, sizeof(call), "%llu", (unsigned long long)fc->call);
	if ((out = malloc(cap)) == NULL)
		err(1, "malloc");
	for (i = 0; i < len; i++) {
		if (p[i] == '$' && i + 1 < len && p[i + 1] == 'S') {
			n += strlcpy(out + n, fc->session, cap - n);
			i++;
		} else if (p[i] == '$' && i + 1 < len && p[i + 1] == 'C') {
			n += strlcpy(out + n, call, cap - n);
			i++;
		} else
			out[n++] = p[i];
	}
	*outlen = n;
	return (out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm_client	*fc, *cur;
	const char		*p = (const char *)data, *end = p + size, *nl;
	char			*line;
	size_t			 len;
	int			 k;

	fuzz_begin();
	if ((cur = fm_connect()) == NULL)
		errx(1, "no connection");
	while (p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (nl - p == 2 && p[0] == '@' && p[1] >= '0' && p[1] <= '3') {
			k = p[1] - '0';
			fc = &fm_clients[k];
			if (fc->fd == -1 && (fc = fm_connect()) == NULL)
				fc = cur;
			cur = fc;
		} else if (nl - p == 1 && p[0] == '%') {
			fm_deadlines();
		} else if (nl - p >= 1 && p[0] == '!') {
			line = expand(cur, p + 1, nl - p - 1, &len);
			fm_control(line, len);
			free(line);
		} else {
			line = expand(cur, p, nl - p, &len);
			fm_send(cur, line, len);
			if (nl < end)
				fm_send(cur, "\n", 1);
			free(line);
			fm_pump();
		}
		p = nl + 1;
	}
	fm_end();
	fuzz_end();
	return (0);
}
