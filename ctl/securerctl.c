/*
 * securerctl: the operator's view of securerd and control over it, over
 * the daemon's root-only control socket.  Plain text by default, the
 * daemon's JSON with -j.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "verify.h"

#define REPLY_MAX	(16U * 1024 * 1024)

static __attribute__((__noreturn__)) void
usage(void)
{
	fprintf(stderr, "usage: securerctl [-j] [-s socket] command\n"
	    "commands: show status | show sessions | show session id |\n"
	    "          show counters | kill session id |\n"
	    "          hibernate all | hibernate session id |\n"
	    "          reload | metrics | audit verify file\n");
	exit(1);
}

/* As securerd chooses it when securerd.conf(5) names none. */
static void
default_socket(char *buf, size_t len)
{
	const char	*rt = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(buf, len, "/run/securerd.ctl");
	else if (rt != NULL && rt[0] == '/')
		snprintf(buf, len, "%s/securer/securerd.ctl", rt);
	else
		snprintf(buf, len, "/tmp/securer-%u/securerd.ctl", getuid());
}

static cJSON *
request(int argc, char **argv)
{
	cJSON	*r;

	if ((r = cJSON_CreateObject()) == NULL)
		err(1, NULL);
	if (argc == 2 && strcmp(argv[0], "show") == 0 &&
	    (strcmp(argv[1], "status") == 0 ||
	    strcmp(argv[1], "sessions") == 0 ||
	    strcmp(argv[1], "counters") == 0))
		cJSON_AddStringToObject(r, "op", argv[1]);
	else if (argc == 3 && strcmp(argv[0], "show") == 0 &&
	    strcmp(argv[1], "session") == 0) {
		cJSON_AddStringToObject(r, "op", "session");
		cJSON_AddStringToObject(r, "session", argv[2]);
	} else if (argc == 3 && strcmp(argv[0], "kill") == 0 &&
	    strcmp(argv[1], "session") == 0) {
		cJSON_AddStringToObject(r, "op", "kill");
		cJSON_AddStringToObject(r, "session", argv[2]);
	} else if (argc == 2 && strcmp(argv[0], "hibernate") == 0 &&
	    strcmp(argv[1], "all") == 0) {
		cJSON_AddStringToObject(r, "op", "hibernate");
		cJSON_AddTrueToObject(r, "all");
	} else if (argc == 3 && strcmp(argv[0], "hibernate") == 0 &&
	    strcmp(argv[1], "session") == 0) {
		cJSON_AddStringToObject(r, "op", "hibernate");
		cJSON_AddStringToObject(r, "session", argv[2]);
	} else if (argc == 1 && (strcmp(argv[0], "reload") == 0 ||
	    strcmp(argv[0], "metrics") == 0))
		cJSON_AddStringToObject(r, "op", argv[0]);
	else
		usage();
	return (r);
}

static char *
exchange(const char *path, const char *text)
{
	struct sockaddr_un	 sun;
	char			*buf;
	size_t			 len = 0;
	ssize_t			 n;
	int			 s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: path too long", path);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(1, "%s", path);
	if (write(s, text, strlen(text)) != (ssize_t)strlen(text) ||
	    write(s, "\n", 1) != 1)
		err(1, "%s", path);
	if ((buf = malloc(REPLY_MAX + 1)) == NULL)
		err(1, NULL);
	while (len < REPLY_MAX && (n = read(s, buf + len,
	    REPLY_MAX - len)) > 0)
		len += n;
	if (n == -1)
		err(1, "%s", path);
	close(s);
	if (len == 0)
		errx(1, "%s: no answer (not root?)", path);
	buf[len] = '\0';
	return (buf);
}

static double
num(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (cJSON_IsNumber(v) ? v->valuedouble : 0);
}

static const char *
str(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (cJSON_IsString(v) ? v->valuestring : "-");
}

static void
print_cap(const char *what, double used, double cap)
{
	if (cap > 0)
		printf("%-10s %.0f of %.0f\n", what, used, cap);
	else
		printf("%-10s %.0f\n", what, used);
}

static void
show_status(const cJSON *r)
{
	const cJSON	*p;

	printf("%-10s %.0f\n", "clients", num(r, "clients"));
	printf("%-10s %.0f\n", "sessions", num(r, "sessions"));
	print_cap("workers", num(r, "workers"), num(r, "capacity_workers"));
	printf("%-10s %.0f\n", "ready", num(r, "workers_ready"));
	print_cap("memory", num(r, "memory_used"), num(r, "capacity_memory"));
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "pools"))
		printf("pool %s uid %.0f size %.0f busy %.0f idle %.0f "
		    "other %.0f executions %.0f\n", str(p, "pool"),
		    num(p, "uid"), num(p, "size"), num(p, "busy"),
		    num(p, "idle"), num(p, "other"), num(p, "executions"));
	cJSON_ArrayForEach(p,
	    cJSON_GetObjectItemCaseSensitive(r, "identities"))
		printf("identity uid %.0f%s clients %.0f sessions %.0f "
		    "executions %.0f\n", num(p, "uid"),
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "token")) ?
		    " token" : "", num(p, "clients"), num(p, "sessions"),
		    num(p, "executions"));
}

static void
show_sessions(const cJSON *r)
{
	const cJSON	*s;

	printf("%-32s %7s %-11s %-12s %6s %6s %s\n", "SESSION", "UID",
	    "STATE", "POOL", "EXECS", "AGE", "NAME");
	cJSON_ArrayForEach(s, r)
		printf("%-32s %7.0f %-11s %-12s %6.0f %6.0f %s\n",
		    str(s, "session"), num(s, "uid"), str(s, "state"),
		    str(s, "pool"), num(s, "executions"), num(s, "age"),
		    str(s, "name"));
}

/* One "name value" line per member. */
static void
show_members(const cJSON *r)
{
	const cJSON	*v;

	cJSON_ArrayForEach(v, r) {
		if (cJSON_IsString(v))
			printf("%-18s %s\n", v->string, v->valuestring);
		else if (cJSON_IsNumber(v))
			printf("%-18s %.0f\n", v->string, v->valuedouble);
	}
}

static void
show_text(char **argv, const cJSON *reply)
{
	const cJSON	*r = cJSON_GetObjectItemCaseSensitive(reply, "result");

	if (strcmp(argv[0], "reload") == 0)
		printf("reload requested\n");
	else if (strcmp(argv[0], "metrics") == 0 && cJSON_IsString(r))
		fputs(r->valuestring, stdout);	/* the exposition, as it is */
	else if (strcmp(argv[0], "kill") == 0)
		printf("session %s killed\n", argv[2]);
	else if (strcmp(argv[0], "hibernate") == 0)
		printf("%.0f hibernated, %.0f were already, %.0f failed, "
		    "%.0f closed meanwhile\n", num(r, "hibernated"),
		    num(r, "already"), num(r, "failed"), num(r, "closed"));
	else if (strcmp(argv[1], "status") == 0)
		show_status(r);
	else if (strcmp(argv[1], "sessions") == 0)
		show_sessions(r);
	else
		show_members(r);
}

int
main(int argc, char *argv[])
{
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		*text, *answer;
	cJSON		*req, *reply, *e;
	int		 ch, json = 0, status;

	default_socket(path, sizeof(path));
	while ((ch = getopt(argc, argv, "js:")) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 's':
			if (strlcpy(path, optarg, sizeof(path)) >= sizeof(path))
				errx(1, "%s: path too long", optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	/* A file, not the daemon: works on a copy, or with it stopped. */
	if (strcmp(argv[0], "audit") == 0) {
		if (argc != 3 || strcmp(argv[1], "verify") != 0)
			usage();
		return (audit_verify(argv[2]));
	}
	req = request(argc, argv);
	if ((text = cJSON_PrintUnformatted(req)) == NULL)
		err(1, NULL);
	answer = exchange(path, text);
	if ((reply = cJSON_Parse(answer)) == NULL)
		errx(1, "the daemon's answer is not JSON");
	e = cJSON_GetObjectItemCaseSensitive(reply, "error");
	if (json)
		printf("%s", answer);
	else if (cJSON_IsString(e))
		fprintf(stderr, "securerctl: %s\n", e->valuestring);
	else
		show_text(argv, reply);
	status = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) ?
	    0 : 1;
	cJSON_Delete(reply);
	cJSON_Delete(req);
	free(answer);
	free(text);
	return (status);
}
