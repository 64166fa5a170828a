/*
 * securer: run R code in securerd from the command line, as Rscript would
 * run it, and print what it prints.
 */

#include <sys/types.h>

#include <cjson/cJSON.h>
#include <err.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "securer.h"
#include "json.h"
#include "proto.h"
#include "utf8.h"

#define EXIT_USAGE	2

struct opts {
	char		*code;		/* the -e expressions, one a line */
	size_t		 codelen;
	const char	*file;
	const char	*socket;
	const char	*toolsfile;
	double		 timeout;	/* <0: the daemon's */
	int		 json;
	int		 raw;		/* --raw: no escaping */
	const char	*plots;		/* --plots DIR */
	const char	*outdir;	/* --get's, "." by default */
	char		**puts;		/* --put FILE ... */
	size_t		 nputs;
	char		**gets;		/* --get NAME ... */
	size_t		 ngets;
	const char	*session;	/* --session NAME: kept between runs */
	int		 end;		/* --end: ... closed after this one */
};

/* What the callbacks share. */
struct run {
	struct cmdtools	*tools;
	cJSON		*output;	/* --json: the output, in order */
};

static void	 usage(void) __attribute__((__noreturn__));
static void	 add_expr(struct opts *, const char *);
static void	 parse_args(int, char *[], struct opts *);
static int	 load_code(struct opts *);
static void	 on_output(void *, const char *, const char *, size_t);
static int	 on_tool(void *, const char *, const char *, char **,
		    char **);
static int	 session_open(struct securer *, const struct opts *,
		    struct securer_session_opts *, struct securer_session **);
static int	 session_end(struct securer *, const struct opts *);
static int	 run(struct securer *, const struct opts *, struct run *,
		    struct securer_result *, struct securer_session **);
static int	 after(struct securer *, const struct opts *,
		    struct securer_session *, int,
		    const struct securer_result *);
static void	 add_name(char ***, size_t *, char *);
static void	 resume_warning(struct securer_session *);
static void	 print_error(struct securer *);
static int	 report_text(struct securer *, int,
		    const struct securer_result *);
static cJSON	*error_json(struct securer *);
static cJSON	*plain_value(const char *);
static int	 report_json(struct securer *, int, struct run *,
		    const struct securer_result *);

static const struct option longopts[] = {
	{ "end",	no_argument,		NULL,	'E' },
	{ "help",	no_argument,		NULL,	'h' },
	{ "get",	required_argument,	NULL,	'G' },
	{ "json",	no_argument,		NULL,	'j' },
	{ "out",	required_argument,	NULL,	'O' },
	{ "plots",	required_argument,	NULL,	'P' },
	{ "put",	required_argument,	NULL,	'I' },
	{ "raw",	no_argument,		NULL,	'R' },
	{ "session",	required_argument,	NULL,	'S' },
	{ "tools",	required_argument,	NULL,	'T' },
	{ NULL,		0,			NULL,	0 }
};

static void
usage(void)
{
	fprintf(stderr, "usage: securer [-j] [--raw] [-s socket] "
	    "[-T tools.json] [-t seconds]\n"
	    "               [--plots dir] [--put file] [--get name] "
	    "[--out dir]\n"
	    "               [--session name [--end]] -e expr ... | file | -\n"
	    "       securer --session name --end\n");
	exit(EXIT_USAGE);
}

static void
add_name(char ***list, size_t *n, char *name)
{
	char	**p;

	if ((p = reallocarray(*list, *n + 1, sizeof(*p))) == NULL)
		err(1, NULL);
	p[(*n)++] = name;
	*list = p;
}

/* Like Rscript's, the -e expressions are the lines of one program. */
static void
add_expr(struct opts *o, const char *expr)
{
	size_t	 len = strlen(expr);
	char	*p;

	if ((p = realloc(o->code, o->codelen + len + 2)) == NULL)
		err(1, NULL);
	o->code = p;
	if (o->codelen > 0)
		o->code[o->codelen++] = '\n';
	memcpy(o->code + o->codelen, expr, len + 1);
	o->codelen += len;
}

static void
parse_args(int argc, char *argv[], struct opts *o)
{
	char	*end;
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->timeout = -1;
	/* "+": what follows the file is not for us. */
	while ((ch = getopt_long(argc, argv, "+e:hjs:T:t:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'e':
			add_expr(o, optarg);
			break;
		case 'j':
			o->json = 1;
			break;
		case 'R':
			o->raw = 1;
			break;
		case 'P':
			o->plots = optarg;
			break;
		case 'I':
			add_name(&o->puts, &o->nputs, optarg);
			break;
		case 'G':
			add_name(&o->gets, &o->ngets, optarg);
			break;
		case 'O':
			o->outdir = optarg;
			break;
		case 'S':
			o->session = optarg;
			break;
		case 'E':
			o->end = 1;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'T':
			o->toolsfile = optarg;
			break;
		case 't':
			o->timeout = strtod(optarg, &end);
			if (end == optarg || *end != '\0' ||
			    !isfinite(o->timeout) || o->timeout < 0) {
				warnx("bad timeout: %s", optarg);
				usage();
			}
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (o->end && o->session == NULL) {
		warnx("--end closes the session --session names");
		usage();
	}
	/* --session NAME --end alone closes it. */
	if (o->end && o->code == NULL && argc == 0)
		return;
	if (o->code != NULL ? argc != 0 : argc != 1)
		usage();
	if (o->code == NULL)
		o->file = argv[0];
}

static int
load_code(struct opts *o)
{
	FILE	*fp;

	if (strcmp(o->file, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(o->file, "r")) == NULL) {
		warn("%s", o->file);
		return (-1);
	}
	o->code = read_all(fp, fp == stdin ? "stdin" : o->file, &o->codelen);
	if (fp != stdin)
		fclose(fp);
	if (o->code == NULL)
		return (-1);
	if (strlen(o->code) != o->codelen) {
		warnx("%s: contains a NUL byte", o->file);
		return (-1);
	}
	return (0);
}

/* Flushed as it comes, so that what goes to stdout and stderr keeps its
 * order on a terminal. */
static void
on_output(void *arg, const char *stream, const char *text, size_t len)
{
	struct run	*r = arg;
	cJSON		*o;

	if (r->output != NULL) {
		o = cj_must(cJSON_CreateObject());
		cj_add(o, "stream", cJSON_CreateString(stream));
		cj_add(o, "text", cJSON_CreateString(text));
		cj_add(r->output, NULL, o);
		return;
	}
	if (strcmp(stream, "stdout") == 0) {
		term_output(stdout, text, len);
		fflush(stdout);
		return;
	}
	fflush(stdout);
	if (strcmp(stream, "warning") == 0)
		fputs("Warning message:\n", stderr);
	term_output(stderr, text, len);
	if (strcmp(stream, "warning") == 0 && (len == 0 ||
	    text[len - 1] != '\n'))
		fputc('\n', stderr);
}

static int
on_tool(void *arg, const char *tool, const char *args, char **value,
    char **error)
{
	struct run	*r = arg;

	return (cmdtools_call(r->tools, tool, args, value, error));
}

/*
 * --session NAME: the session kept under that name since the last run,
 * else a new one of that name, which the daemon keeps when we go.
 */
static int
session_open(struct securer *sc, const struct opts *o,
    struct securer_session_opts *so, struct securer_session **sp)
{
	if (o->session == NULL)
		return (securer_session_create(sc, so, sp));
	if (securer_session_attach(sc, o->session, sp) == 0)
		return (0);
	if (securer_errcode(sc) != SECURER_EREMOTE ||
	    strcmp(securer_errname(sc), "no_such_session") != 0)
		return (-1);
	so->name = o->session;
	return (securer_session_create(sc, so, sp));
}

/* --session NAME --end alone: the kept session is closed. */
static int
session_end(struct securer *sc, const struct opts *o)
{
	struct securer_session	*s;

	if (securer_connect(sc, o->socket) == -1 ||
	    securer_session_attach(sc, o->session, &s) == -1 ||
	    securer_session_close(s) == -1) {
		print_error(sc);
		return (1);
	}
	return (0);
}

/*
 * The session goes when the connection closes: no session.close.  A
 * named one (--session) the daemon keeps; --end closes it.
 */
static int
run(struct securer *sc, const struct opts *o, struct run *r,
    struct securer_result *res, struct securer_session **sp)
{
	struct securer_session_opts	 so;
	struct securer_exec_opts	 eo;
	struct securer_session		*s;
	size_t				 i;
	int				 rv;

	memset(res, 0, sizeof(*res));
	memset(&so, 0, sizeof(so));
	so.timeout = o->timeout;
	so.tools = r->tools != NULL ? r->tools->specs : NULL;
	memset(&eo, 0, sizeof(eo));
	eo.timeout = -1;
	eo.echo = 1;
	eo.output = on_output;
	eo.tool = r->tools != NULL ? on_tool : NULL;
	eo.arg = r;
	if (securer_connect(sc, o->socket) == -1 ||
	    session_open(sc, o, &so, &s) == -1)
		return (-1);
	*sp = s;
	for (i = 0; i < o->nputs; i++) {
		rv = file_put_path(s, o->puts[i]);
		resume_warning(s);
		if (rv == -1)
			return (-1);
	}
	if (r->tools != NULL)
		tools_deadline(r->tools, o->timeout);
	rv = securer_execute(s, o->code, &eo, res);
	resume_warning(s);
	return (rv);
}

/*
 * The daemon may hibernate an idle session (hibernate-after) and wake it
 * for the next request: what it could not restore is said on stderr.
 */
static void
resume_warning(struct securer_session *s)
{
	const char	*w;

	if (securer_session_resumed(s, NULL, NULL, &w) && w != NULL) {
		fflush(stdout);
		term_note(stderr, "securer: the session was resumed from "
		    "hibernation: %s\n", w);
	}
}

/* An error of the R code as R shows it; anything else as ours. */
static void
print_error(struct securer *sc)
{
	const char	*name = securer_errname(sc), *msg = securer_errmsg(sc);
	const char	*nl;
	const cJSON	*call;
	cJSON		*e;

	nl = msg[0] != '\0' && msg[strlen(msg) - 1] == '\n' ? "" : "\n";
	if (securer_errcode(sc) != SECURER_EREMOTE ||
	    (strcmp(name, "r_error") != 0 &&
	    strcmp(name, "parse_error") != 0)) {
		term_note(stderr, "securer: %s%s", msg, nl);
		return;
	}
	e = cJSON_Parse(securer_errjson(sc));
	call = cJSON_GetObjectItemCaseSensitive(e, "call");
	if (cJSON_IsString(call) && call->valuestring[0] != '\0')
		term_note(stderr, "Error in %s : %s%s", call->valuestring,
		    msg, nl);
	else
		term_note(stderr, "Error: %s%s", msg, nl);
	cJSON_Delete(e);
}

static int
report_text(struct securer *sc, int rv, const struct securer_result *res)
{
	if (rv == 0) {
		if (res->visible)
			term_output(stdout, res->printed,
			    strlen(res->printed));
		return (0);
	}
	fflush(stdout);
	print_error(sc);
	return (1);
}

/* The daemon's error object, or one like it for the library's errors. */
static cJSON *
error_json(struct securer *sc)
{
	cJSON	*e;

	if (securer_errjson(sc) != NULL)
		return (cJSON_CreateRaw(securer_errjson(sc)));
	e = cj_must(cJSON_CreateObject());
	cj_add(e, "code", cJSON_CreateString(securer_errname(sc)));
	cj_add(e, "message", cJSON_CreateString(securer_errmsg(sc)));
	return (e);
}

/*
 * The value as the daemon sent it, but for its binary vectors, which
 * print as "value" arrays (cmdunbin.c): the connection asks for them.
 */
static cJSON *
plain_value(const char *text)
{
	cJSON	*v;

	if (strstr(text, "\"bin\"") == NULL)
		return (cJSON_CreateRaw(text));
	if ((v = cJSON_Parse(text)) == NULL || value_unbin(v) == -1) {
		cJSON_Delete(v);
		errx(1, "securerd sent a value with a bad binary vector");
	}
	return (v);
}

static int
report_json(struct securer *sc, int rv, struct run *r,
    const struct securer_result *res)
{
	cJSON	*o;
	char	*text;

	o = cj_must(cJSON_CreateObject());
	cj_add(o, "value", rv == 0 ? plain_value(res->value) :
	    cJSON_CreateNull());
	cj_add(o, "printed", cJSON_CreateString(rv == 0 ? res->printed : ""));
	cj_add(o, "visible", cJSON_CreateBool(rv == 0 && res->visible));
	cj_add(o, "output", r->output);
	r->output = NULL;
	cj_add(o, "error", rv == 0 ? cJSON_CreateNull() : error_json(sc));
	if ((text = json_print(o, NULL)) == NULL)
		errx(1, "out of memory");
	cJSON_Delete(o);
	term_json(stdout, text);
	free(text);
	return (rv == 0 ? 0 : 1);
}

/* After the execution: its plots (also an error's), the files asked. */
static int
after(struct securer *sc, const struct opts *o, struct securer_session *s,
    int rv, const struct securer_result *res)
{
	size_t	i;
	int	status = 0, n;

	if (o->plots != NULL && (rv == 0 ? plots_write(o->plots, res->plots,
	    res->nplots, res->plots_omitted) : plots_write_error(o->plots,
	    securer_errjson(sc))) == -1)
		status = -1;
	for (i = 0; rv == 0 && i < o->ngets; i++) {
		n = file_get_name(s, o->gets[i], o->outdir != NULL ?
		    o->outdir : ".");
		resume_warning(s);
		if (n == -1)
			term_note(stderr, "securer: %s\n",
			    securer_errmsg(sc));
		if (n != 0)
			status = -1;
	}
	return (status);
}

int
main(int argc, char *argv[])
{
	struct opts		 o;
	struct run		 r;
	struct securer		*sc;
	struct securer_result	 res;
	struct securer_session	*s;
	int			 rv, status;

	if (argc > 1 && strcmp(argv[1], "mcp") == 0)
		return (mcp_main(argc - 1, argv + 1));
	parse_args(argc, argv, &o);
	term_init(o.raw);
	if (o.code == NULL && o.file == NULL) {
		if ((sc = securer_open()) == NULL)
			err(1, NULL);
		status = session_end(sc, &o);
		securer_close(sc);
		return (status);
	}
	if (o.code == NULL && load_code(&o) == -1)
		exit(EXIT_USAGE);
	memset(&r, 0, sizeof(r));
	if (o.toolsfile != NULL && (r.tools = tools_load(o.toolsfile)) == NULL)
		exit(EXIT_USAGE);
	if (o.json)
		r.output = cj_must(cJSON_CreateArray());
	if ((sc = securer_open()) == NULL)
		err(1, NULL);
	securer_set_binary(sc, 1);
	s = NULL;
	rv = run(sc, &o, &r, &res, &s);
	if (o.json)
		status = report_json(sc, rv, &r, &res);
	else
		status = report_text(sc, rv, &res);
	if (after(sc, &o, s, rv, &res) == -1)
		status = 1;
	if (o.end && s != NULL && securer_session_close(s) == -1) {
		print_error(sc);
		status = 1;
	}
	securer_result_free(&res);
	securer_close(sc);
	cmdtools_free(r.tools);
	cJSON_Delete(r.output);
	free(o.code);
	free(o.puts);
	free(o.gets);
	if (fflush(stdout) == EOF) {
		warn("stdout");
		status = 1;
	}
	return (status);
}
