/*
 * Tools of the securer command: each is a command run with its arguments
 * as plain JSON on stdin, printing its value as plain JSON on stdout.
 * "Plain" JSON is what a program in any language reads and writes
 * without knowing the R value encoding of securer-protocol(7); the
 * mapping is in securer(1).
 */

#include <sys/types.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
#include "proto.h"
#include "utf8.h"

#define TOOL_STDERR_MAX	4096	/* only its first line is used */
#define DEFAULT_TIMEOUT	30	/* the daemon's, securer-protocol(7) */
#define TOOL_GRACE	0.5	/* seconds after the execution's deadline */
#define item(o, name)	cJSON_GetObjectItemCaseSensitive((o), (name))

/* A run of a tool's command: its input and what it did. */
struct run {
	const char	*in;		/* what is left to write */
	size_t		 inlen;
	char		*out;
	size_t		 outlen;
	size_t		 outsz;
	char		 err[TOOL_STDERR_MAX];
	size_t		 errlen;
	int		 status;
	int		 timedout;
	int		 toobig;
};

static int	 tool_fail(char **, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));
static int	 tool_add(struct cmdtools *, const cJSON *, cJSON *,
		    const char *);
static double	 now(void);
static int	 spawn(char *const [], int [3]);
static void	 feed(struct run *, int *);
static int	 read_out(struct run *, int *);
static void	 read_err(struct run *, int *);
static int	 pump(struct run *, int [3], int, double);
static int	 run_command(char *const [], const char *, size_t, double,
		    struct run *);
static int	 tool_result(const struct cmdtool *, struct run *, char **,
		    char **);
static char	*first_line(const char *, size_t);
static const cJSON *attr_values(const cJSON *, const char *);
static int	 arg_has_class(const cJSON *, const char *);
static cJSON	*shape(cJSON *, const cJSON *, int);
static cJSON	*elem_plain(const cJSON *, const cJSON *, int);
static cJSON	*plain(const cJSON *, int);
static const char *kind_of(const cJSON *);
static cJSON	*encoded(const char *, cJSON *);
static cJSON	*vector(const char *, const cJSON *, int);
static cJSON	*list_value(const cJSON *);

/* The command has nothing better to do when out of memory. */
cJSON *
cj_must(cJSON *j)
{
	if (j == NULL)
		errx(1, "out of memory");
	return (j);
}

/* Add j to obj, as member key, or as an element if key is NULL. */
void
cj_add(cJSON *obj, const char *key, cJSON *j)
{
	if (!(key != NULL ? cJSON_AddItemToObject(obj, key, cj_must(j)) :
	    cJSON_AddItemToArray(obj, cj_must(j))))
		errx(1, "out of memory");
}

/* A tool's error, raised in the R code. */
static int
tool_fail(char **error, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(error, fmt, ap) == -1)
		*error = NULL;
	va_end(ap);
	return (-1);
}

/* All of fp, at most CMD_INPUT_MAX bytes, NUL-terminated. */
char *
read_all(FILE *fp, const char *name, size_t *lenp)
{
	char	*buf = NULL, *p;
	size_t	 len = 0, sz = 0, n;

	for (;;) {
		if (len == sz) {
			sz = sz == 0 ? 65536 : sz * 2;
			if ((p = realloc(buf, sz + 1)) == NULL)
				err(1, NULL);
			buf = p;
		}
		if ((n = fread(buf + len, 1, sz - len, fp)) == 0)
			break;
		if ((len += n) > CMD_INPUT_MAX) {
			warnx("%s: larger than %u bytes", name, CMD_INPUT_MAX);
			free(buf);
			return (NULL);
		}
	}
	if (ferror(fp)) {
		warn("%s", name);
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/*
 * The tools file: an array of tool specifications of
 * securer-protocol(7), each with "command", the argv to run it.  The
 * daemon gets them without their commands: those are the client's.
 */
struct cmdtools *
tools_load(const char *file)
{
	struct cmdtools	*t;
	FILE		*fp;
	cJSON		*doc, *specs, *spec;
	char		*text;
	size_t		 len;

	if ((fp = fopen(file, "r")) == NULL) {
		warn("%s", file);
		return (NULL);
	}
	text = read_all(fp, file, &len);
	fclose(fp);
	if (text == NULL)
		return (NULL);
	doc = cJSON_ParseWithOpts(text, NULL, 1);
	free(text);
	if (!cJSON_IsArray(doc)) {
		warnx("%s: not a JSON array", file);
		cJSON_Delete(doc);
		return (NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->v = calloc(cJSON_GetArraySize(doc) + 1, sizeof(*t->v))) == NULL)
		err(1, NULL);
	specs = cj_must(cJSON_CreateArray());
	cJSON_ArrayForEach(spec, doc)
		if (tool_add(t, spec, specs, file) == -1) {
			cJSON_Delete(doc);
			cJSON_Delete(specs);
			cmdtools_free(t);
			return (NULL);
		}
	cJSON_Delete(doc);
	if ((t->specs = json_print(specs, NULL)) == NULL)
		errx(1, "out of memory");
	cJSON_Delete(specs);
	return (t);
}

static int
tool_add(struct cmdtools *t, const cJSON *spec, cJSON *specs,
    const char *file)
{
	struct cmdtool	*tool = &t->v[t->n];
	const cJSON	*name, *cmd, *arg;
	cJSON		*copy;
	size_t		 i = 0;

	name = item(spec, "name");
	cmd = item(spec, "command");
	if (!cJSON_IsString(name) || !cJSON_IsArray(cmd) ||
	    cmd->child == NULL) {
		warnx("%s: tool %zu: needs a name and a command (an array "
		    "of strings)", file, t->n + 1);
		return (-1);
	}
	if ((tool->name = strdup(name->valuestring)) == NULL ||
	    (tool->argv = calloc(cJSON_GetArraySize(cmd) + 1,
	    sizeof(*tool->argv))) == NULL)
		err(1, NULL);
	t->n++;
	cJSON_ArrayForEach(arg, cmd) {
		if (!cJSON_IsString(arg)) {
			warnx("%s: tool %s: command must be an array of "
			    "strings", file, tool->name);
			return (-1);
		}
		if ((tool->argv[i++] = strdup(arg->valuestring)) == NULL)
			err(1, NULL);
	}
	copy = cj_must(cJSON_Duplicate(spec, 1));
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "command");
	cj_add(specs, NULL, copy);
	return (0);
}

void
cmdtools_free(struct cmdtools *t)
{
	size_t	 i;
	char	**a;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		for (a = t->v[i].argv; *a != NULL; a++)
			free(*a);
		free(t->v[i].argv);
		free(t->v[i].name);
	}
	free(t->v);
	free(t->specs);
	free(t);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/*
 * An execution starts now with this timeout (<0: the daemon's default,
 * 0: none): a tool still running when it is over is killed.  A little
 * after, so that the daemon, which owns the deadline, ends the execution
 * with its time-out rather than the R code with the tool's error.
 */
void
tools_deadline(struct cmdtools *t, double timeout)
{
	if (timeout < 0)
		timeout = DEFAULT_TIMEOUT;
	t->deadline = timeout > 0 ? now() + timeout + TOOL_GRACE : 0;
}

/* A securer_tool_cb, for the tool of that name. */
int
cmdtools_call(struct cmdtools *t, const char *name, const char *args,
    char **value, char **error)
{
	const struct cmdtool	*tool = NULL;
	const cJSON		*arg;
	struct run		 r;
	cJSON			*in, *plainargs;
	char			*text;
	size_t			 i, len;
	int			 rv;

	for (i = 0; i < t->n && tool == NULL; i++)
		if (strcmp(t->v[i].name, name) == 0)
			tool = &t->v[i];
	if (tool == NULL)
		return (tool_fail(error, "no such tool: %s", name));
	if ((in = cJSON_Parse(args)) == NULL || value_unbin(in) == -1) {
		cJSON_Delete(in);
		return (tool_fail(error, "tool %s: bad arguments", name));
	}
	plainargs = cj_must(cJSON_CreateObject());
	cJSON_ArrayForEach(arg, in)
		cj_add(plainargs, arg->string, value_to_plain(arg));
	cJSON_Delete(in);
	if ((text = json_print(plainargs, &len)) == NULL)
		errx(1, "out of memory");
	cJSON_Delete(plainargs);
	rv = run_command(tool->argv, text, len, t->deadline, &r);
	free(text);
	if (rv == -1)
		rv = tool_fail(error, "tool %s: %s", name, strerror(errno));
	else
		rv = tool_result(tool, &r, value, error);
	free(r.out);
	return (rv);
}

/* Fork the command with pipes as its stdin, stdout and stderr. */
static int
spawn(char *const argv[], int fds[3])
{
	int	 p[3][2], i, saved;
	pid_t	 pid;

	for (i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) == -1) {
			saved = errno;
			while (i-- > 0) {
				close(p[i][0]);
				close(p[i][1]);
			}
			errno = saved;
			return (-1);
		}
	if ((pid = fork()) == 0) {
		/* Its own group, so a timeout kills what it started too. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(p[0][0], 0) == -1 || dup2(p[1][1], 1) == -1 ||
		    dup2(p[2][1], 2) == -1)
			_exit(127);
		execvp(argv[0], argv);
		dprintf(2, "cannot execute %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	if (pid != -1)
		setpgid(pid, pid);	/* no race with the child's own */
	saved = errno;
	close(p[0][0]);
	close(p[1][1]);
	close(p[2][1]);
	fds[0] = p[0][1];
	fds[1] = p[1][0];
	fds[2] = p[2][0];
	if (pid == -1) {
		for (i = 0; i < 3; i++)
			close(fds[i]);
		errno = saved;
	}
	return (pid);
}

static int
run_command(char *const argv[], const char *in, size_t inlen,
    double deadline, struct run *r)
{
	struct sigaction	 sa, osa;
	pid_t			 pid;
	int			 fds[3], pidfd, i;

	memset(r, 0, sizeof(*r));
	r->in = in;
	r->inlen = inlen;
	if ((pid = spawn(argv, fds)) == -1)
		return (-1);
	/* To see the exit among the pipes; without, waitpid after EOF. */
	pidfd = pidfd_open(pid, 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	/* A command that does not read its input must not kill us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &osa);
	if (pump(r, fds, pidfd, deadline) == -1)
		kill(-pid, SIGKILL);
	sigaction(SIGPIPE, &osa, NULL);
	for (i = 0; i < 3; i++)
		if (fds[i] != -1)
			close(fds[i]);
	if (pidfd != -1)
		close(pidfd);
	while (waitpid(pid, &r->status, 0) == -1)
		if (errno != EINTR)
			return (-1);
	return (0);
}

/* Write what the command's stdin takes; it need not read it all. */
static void
feed(struct run *r, int *fd)
{
	ssize_t	 n;

	if ((n = write(*fd, r->in, r->inlen)) > 0) {
		r->in += n;
		r->inlen -= n;
	}
	if (r->inlen == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

/* Read from stdout, at most CMD_INPUT_MAX bytes of it. */
static int
read_out(struct run *r, int *fd)
{
	ssize_t	 n;
	char	*p;

	if (r->outlen == r->outsz) {
		r->outsz = r->outsz == 0 ? 65536 : r->outsz * 2;
		if ((p = realloc(r->out, r->outsz + 1)) == NULL)
			err(1, NULL);
		r->out = p;
	}
	n = read(*fd, r->out + r->outlen, r->outsz - r->outlen);
	if (n > 0 && (r->outlen += n) > CMD_INPUT_MAX) {
		r->toobig = 1;
		return (-1);
	}
	if (n == 0 || (n == -1 && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
	return (0);
}

/* Keep the start of stderr, where the message is; drain the rest. */
static void
read_err(struct run *r, int *fd)
{
	char	 buf[4096];
	size_t	 room = sizeof(r->err) - 1 - r->errlen;
	ssize_t	 n;

	if ((n = read(*fd, buf, sizeof(buf))) > 0) {
		memcpy(r->err + r->errlen, buf, (size_t)n < room ? n : room);
		r->errlen += (size_t)n < room ? n : room;
	} else if (n == 0 || errno != EINTR) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Feed stdin, collect stdout and stderr, until both are closed and the
 * command exited.  -1 if it must be killed: too much output, too late.
 */
static int
pump(struct run *r, int fds[3], int pidfd, double deadline)
{
	struct pollfd	 pfd[4];
	double		 left;
	int		 i, exited = pidfd == -1;

	while (fds[1] != -1 || fds[2] != -1 || !exited) {
		for (i = 0; i < 3; i++)
			pfd[i].fd = fds[i];
		pfd[3].fd = exited ? -1 : pidfd;
		pfd[0].events = POLLOUT;
		pfd[1].events = pfd[2].events = pfd[3].events = POLLIN;
		left = deadline > 0 ? deadline - now() : -1;
		if (deadline > 0 && left <= 0) {
			r->timedout = 1;
			return (-1);
		}
		if (poll(pfd, 4, left < 0 ? -1 : left > 60 ? 60000 :
		    (int)(left * 1000) + 1) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (pfd[0].revents != 0)
			feed(r, &fds[0]);
		if (pfd[1].revents != 0 && read_out(r, &fds[1]) == -1)
			return (-1);
		if (pfd[2].revents != 0)
			read_err(r, &fds[2]);
		if (pfd[3].revents != 0)
			exited = 1;
	}
	return (0);
}

/* The value the command printed, or the error it ended with. */
static int
tool_result(const struct cmdtool *tool, struct run *r, char **value,
    char **error)
{
	cJSON	*out, *v;
	char	*line;

	if (r->timedout)
		return (tool_fail(error, "tool %s timed out", tool->name));
	if (r->toobig)
		return (tool_fail(error, "tool %s wrote more than %u bytes",
		    tool->name, CMD_INPUT_MAX));
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0) {
		if ((line = first_line(r->err, r->errlen)) != NULL) {
			*error = line;
			return (-1);
		}
		if (WIFEXITED(r->status))
			return (tool_fail(error, "tool %s exited with status %d",
			    tool->name, WEXITSTATUS(r->status)));
		return (tool_fail(error, "tool %s was killed by signal %d",
		    tool->name, WTERMSIG(r->status)));
	}
	if (r->out != NULL)
		r->out[r->outlen] = '\0';
	/* Nothing printed: NULL, for a tool run for its effect. */
	if (r->out == NULL || strspn(r->out, " \t\r\n") == r->outlen)
		out = cj_must(cJSON_CreateNull());
	else if (memchr(r->out, '\0', r->outlen) != NULL ||
	    (out = cJSON_ParseWithOpts(r->out, NULL, 1)) == NULL)
		return (tool_fail(error, "tool %s printed something that is not "
		    "JSON", tool->name));
	v = plain_to_value(out);
	cJSON_Delete(out);
	if ((*value = json_print(v, NULL)) == NULL)
		errx(1, "out of memory");
	cJSON_Delete(v);
	return (0);
}

/* The first line that is not blank, trimmed, or NULL. */
static char *
first_line(const char *s, size_t len)
{
	const char	*end = s + len, *e;

	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' ||
	    *s == '\n'))
		s++;
	if ((e = memchr(s, '\n', end - s)) == NULL)
		e = end;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	return (e > s ? strndup(s, e - s) : NULL);
}

/* The value array of attribute name, if it has one. */
static const cJSON *
attr_values(const cJSON *attrs, const char *name)
{
	const cJSON	*v;

	v = item(item(attrs, name), "value");
	return (cJSON_IsArray(v) ? v : NULL);
}

static int
arg_has_class(const cJSON *attrs, const char *cls)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, attr_values(attrs, "class"))
		if (cJSON_IsString(c) && strcmp(c->valuestring, cls) == 0)
			return (1);
	return (0);
}

/*
 * arr as an object keyed by names, if there are names; otherwise its one
 * element if scalar is set and there is just one.
 */
static cJSON *
shape(cJSON *arr, const cJSON *names, int scalar)
{
	const cJSON	*n;
	cJSON		*obj, *e;

	if (names != NULL) {
		obj = cj_must(cJSON_CreateObject());
		n = names->child;
		while ((e = cJSON_DetachItemFromArray(arr, 0)) != NULL) {
			cj_add(obj, cJSON_IsString(n) ? n->valuestring : "", e);
			n = n != NULL ? n->next : NULL;
		}
		cJSON_Delete(arr);
		return (obj);
	}
	if (scalar && cJSON_GetArraySize(arr) == 1) {
		e = cJSON_DetachItemFromArray(arr, 0);
		cJSON_Delete(arr);
		return (e);
	}
	return (arr);
}

/* An element of an atomic vector: a factor's level, a Date's day. */
static cJSON *
elem_plain(const cJSON *e, const cJSON *levels, int date)
{
	struct tm	 tm;
	time_t		 t;
	char		 day[32];
	int		 i;

	if (levels != NULL && cJSON_IsNumber(e)) {
		i = e->valueint;
		e = i >= 1 ? cJSON_GetArrayItem(levels, i - 1) : NULL;
		return (cj_must(cJSON_IsString(e) ?
		    cJSON_CreateString(e->valuestring) : cJSON_CreateNull()));
	}
	if (date && cJSON_IsNumber(e) && fabs(e->valuedouble) < 1e8) {
		/* floor(), without libm, which the build does not link */
		t = (time_t)e->valuedouble;
		if ((double)t > e->valuedouble)
			t--;
		t *= 86400;
		if (gmtime_r(&t, &tm) != NULL &&
		    strftime(day, sizeof(day), "%Y-%m-%d", &tm) != 0)
			return (cj_must(cJSON_CreateString(day)));
	}
	return (cj_must(cJSON_Duplicate(e, 1)));
}

/* See value_to_plain(); column: a data frame's, always an array. */
static cJSON *
plain(const cJSON *v, int column)
{
	const cJSON	*type, *val, *attrs, *levels, *e, *names;
	cJSON		*arr;
	int		 list, date;

	type = item(v, "type");
	val = item(v, "value");
	attrs = item(v, "attributes");
	if (!cJSON_IsString(type))
		return (cj_must(cJSON_CreateNull()));
	if (strcmp(type->valuestring, "unsupported") == 0)
		val = item(v, "printed");
	if (cJSON_IsString(val))	/* raw, as base64; unsupported */
		return (cj_must(cJSON_CreateString(val->valuestring)));
	if (!cJSON_IsArray(val))
		return (cj_must(cJSON_CreateNull()));
	list = strcmp(type->valuestring, "list") == 0;
	levels = arg_has_class(attrs, "factor") ?
	    attr_values(attrs, "levels") : NULL;
	date = arg_has_class(attrs, "Date");
	names = column ? NULL : attr_values(attrs, "names");
	arr = cj_must(cJSON_CreateArray());
	cJSON_ArrayForEach(e, val)
		cj_add(arr, NULL, list ? plain(e, arg_has_class(attrs,
		    "data.frame")) : elem_plain(e, levels, date));
	return (shape(arr, names, !list && !column));
}

/* Plain JSON for an encoded value; see TOOLS in securer(1). */
cJSON *
value_to_plain(const cJSON *v)
{
	return (plain(v, 0));
}

static const char *
kind_of(const cJSON *j)
{
	if (cJSON_IsBool(j))
		return ("logical");
	if (cJSON_IsNumber(j))
		return ("double");
	if (cJSON_IsString(j))
		return ("character");
	return (NULL);
}

static cJSON *
encoded(const char *type, cJSON *value)
{
	cJSON	*v;

	v = cj_must(cJSON_CreateObject());
	cj_add(v, "type", cJSON_CreateString(type));
	cj_add(v, "value", value);
	return (v);
}

/* A vector of the scalars of src, or of src alone; null is NA. */
static cJSON *
vector(const char *type, const cJSON *src, int alone)
{
	const cJSON	*e;
	cJSON		*arr;
	double		 d;

	arr = cj_must(cJSON_CreateArray());
	for (e = alone ? src : src->child; e != NULL;
	    e = alone ? NULL : e->next) {
		d = e->valuedouble;
		if (cJSON_IsNumber(e) && !isfinite(d))
			cj_add(arr, NULL, cJSON_CreateString(isnan(d) ? "NaN" :
			    d > 0 ? "Inf" : "-Inf"));
		else
			cj_add(arr, NULL, cJSON_Duplicate(e, 1));
	}
	return (encoded(type, arr));
}

/* A list of src's members; named if src is an object. */
static cJSON *
list_value(const cJSON *src)
{
	const cJSON	*e;
	cJSON		*vals, *names, *v, *attrs;

	vals = cj_must(cJSON_CreateArray());
	names = cj_must(cJSON_CreateArray());
	cJSON_ArrayForEach(e, src) {
		cj_add(vals, NULL, plain_to_value(e));
		if (e->string != NULL)
			cj_add(names, NULL, cJSON_CreateString(e->string));
	}
	v = encoded("list", vals);
	if (!cJSON_IsObject(src)) {
		cJSON_Delete(names);
		return (v);
	}
	attrs = cj_must(cJSON_CreateObject());
	cj_add(attrs, "names", encoded("character", names));
	cj_add(v, "attributes", attrs);
	return (v);
}

/* An encoded value for plain JSON; see TOOLS in securer(1). */
cJSON *
plain_to_value(const cJSON *p)
{
	const cJSON	*e;
	const char	*kind = NULL, *k;

	if (cJSON_IsObject(p))
		return (list_value(p));
	if (!cJSON_IsArray(p))
		return ((k = kind_of(p)) != NULL ? vector(k, p, 1) :
		    cj_must(cJSON_CreateNull()));
	if (p->child == NULL)
		return (list_value(p));
	cJSON_ArrayForEach(e, p) {
		if (cJSON_IsNull(e))
			continue;
		if ((k = kind_of(e)) == NULL ||
		    (kind != NULL && strcmp(k, kind) != 0))
			return (list_value(p));
		kind = k;
	}
	/* All null: NA, which is logical in R. */
	return (vector(kind != NULL ? kind : "logical", p, 0));
}
