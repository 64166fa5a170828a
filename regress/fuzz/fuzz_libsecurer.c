/*
 * The replies libsecurer parses (client/libsecurer.c): the input is
 * everything a daemon says on a connection, and the library plays its
 * part: hello, a session with a tool, an execution with output and tool
 * callbacks, status, close.  A daemon that says anything must give a
 * clean error, never a crash, a leak or an fd left open.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "securer.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);
	return (0);
}

static void
output(void *arg, const char *stream, const char *text, size_t len)
{
	if (strlen(text) > len || stream == NULL)
		abort();
}

static int
tool(void *arg, const char *name, const char *args, char **value,
    char **error)
{
	if (name == NULL || args == NULL)
		abort();
	if (strcmp(name, "fail") == 0) {
		*error = strdup("no");
		return (-1);
	}
	*value = strdup("{\"type\":\"double\",\"value\":[3]}");
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct securer_session_opts	 so;
	struct securer_exec_opts	 eo;
	struct securer_result		 r;
	struct securer_session		*s;
	struct securer			*sc;
	char				*status;
	int				 sv[2];

	fuzz_begin();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		err(1, "socketpair");
	/* All the daemon says is there at once; then it hangs up. */
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		err(1, "write");
	shutdown(sv[1], SHUT_WR);
	if ((sc = securer_open()) == NULL)
		err(1, "securer_open");
	if (securer_connect_fd(sc, sv[0]) == 0) {
		memset(&so, 0, sizeof(so));
		so.tools = "[{\"name\":\"add\",\"args\":{\"a\":\"numeric\"}}]";
		so.timeout = -1;
		if (securer_session_create(sc, &so, &s) == 0) {
			memset(&eo, 0, sizeof(eo));
			eo.timeout = -1;
			eo.output = output;
			eo.tool = tool;
			memset(&r, 0, sizeof(r));
			if (securer_execute(s, "add(1)", &eo, &r) == 0) {
				if (r.value == NULL || r.printed == NULL)
					abort();
				securer_result_free(&r);
			} else if (securer_errmsg(sc) == NULL)
				abort();
			if (securer_status(sc, &status) == 0)
				free(status);
			securer_session_close(s);
		}
	}
	if (securer_errcode(sc) != 0 && securer_errmsg(sc) == NULL)
		abort();
	securer_close(sc);
	close(sv[1]);
	fuzz_end();
	return (0);
}
