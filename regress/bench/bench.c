/*
 * securer-bench: how fast securerd answers, measured from a libsecurer
 * client.  Not a test: it prints medians and 99th percentiles.
 *
 *	securer-bench [-n count] [-s socket]
 *
 * session ready	create a session and get the result of 1+1
 * execute		1+1 in an open session
 * tool call		one call of a tool that returns its argument, in a
 *			loop of calls inside one execution
 */

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "securer.h"

#define TOOL_LOOP	10000

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

static void
report(const char *what, double *t, int n, const char *unit, double scale)
{
	qsort(t, n, sizeof(*t), cmp_double);
	printf("%-16s %10.1f %s %10.1f %s  (n=%d)\n", what,
	    t[n / 2] * scale, unit, t[(int)(n * 0.99)] * scale, unit, n);
}

static int
echo_tool(void *arg, const char *tool, const char *args, char **value,
    char **error)
{
	const char	*x = strstr(args, "\"x\":");
	size_t		 len;

	/* {"x":VALUE}: hand VALUE back as it is. */
	if (x == NULL)
		return (-1);
	x += 4;
	len = strlen(x) - 1;
	if ((*value = strndup(x, len)) == NULL)
		return (-1);
	return (0);
}

static void
run(struct securer_session *s, const char *code, struct securer_exec_opts *o,
    struct securer *h)
{
	struct securer_result	r;

	if (securer_execute(s, code, o, &r) == -1)
		errx(1, "execute: %s", securer_errmsg(h));
	securer_result_free(&r);
}

int
main(int argc, char *argv[])
{
	struct securer_session_opts	 so = { NULL, NULL, -1, 0, 0 };
	struct securer_exec_opts	 eo;
	struct securer_session		*s;
	struct securer			*h;
	const char			*sock = NULL;
	double				*t, t0;
	int				 ch, i, n = 1000;

	while ((ch = getopt(argc, argv, "n:s:")) != -1) {
		switch (ch) {
		case 'n':
			n = atoi(optarg);
			break;
		case 's':
			sock = optarg;
			break;
		default:
			errx(2, "usage: securer-bench [-n count] [-s socket]");
		}
	}
	if (n < 10 || (t = calloc(n, sizeof(*t))) == NULL)
		errx(2, "count must be at least 10");
	if ((h = securer_open()) == NULL || securer_connect(h, sock) == -1)
		errx(1, "connect: %s", securer_errmsg(h));
	memset(&eo, 0, sizeof(eo));
	eo.timeout = -1;
	eo.tool = echo_tool;

	printf("%-16s %13s %13s\n", "", "median", "p99");
	for (i = 0; i < n / 10; i++) {
		t0 = now();
		if (securer_session_create(h, &so, &s) == -1)
			errx(1, "create: %s", securer_errmsg(h));
		run(s, "1+1", &eo, h);
		t[i] = now() - t0;
		securer_session_close(s);
	}
	report("session ready", t, n / 10, "us", 1e6);

	so.tools = "[{\"name\":\"echo\",\"description\":\"\","
	    "\"args\":{\"x\":null}}]";
	if (securer_session_create(h, &so, &s) == -1)
		errx(1, "create: %s", securer_errmsg(h));
	for (i = 0; i < n; i++) {
		t0 = now();
		run(s, "1+1", &eo, h);
		t[i] = now() - t0;
	}
	report("execute 1+1", t, n, "us", 1e6);

	for (i = 0; i < 10; i++) {
		t0 = now();
		run(s, "for (i in 1:10000) echo(i)", &eo, h);
		t[i] = (now() - t0) / TOOL_LOOP;
	}
	report("tool call", t, 10, "us", 1e6);
	securer_session_close(s);
	securer_close(h);
	return (0);
}
