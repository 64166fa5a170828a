/*
 * Tests of common/log.c: each case logs from a child whose stderr is a
 * pipe, and compares what came out byte for byte.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "sanitizer.h"

struct out {
	char	 buf[8192];
	size_t	 len;
	int	 status;
};

/* Run fn in a child logging to the foreground; collect its stderr. */
static void
run(void (*fn)(void), struct out *out)
{
	ssize_t	 n;
	pid_t	 pid;
	int	 p[2];

	ATF_REQUIRE(pipe(p) == 0);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		close(p[0]);
		if (dup2(p[1], STDERR_FILENO) == -1)
			_exit(127);
		log_init(1, LOG_DAEMON);
		log_procinit("test");
		fn();
		exit(0);
	}
	close(p[1]);
	memset(out, 0, sizeof(*out));
	while ((n = read(p[0], out->buf + out->len,
	    sizeof(out->buf) - 1 - out->len)) > 0)
		out->len += n;
	ATF_REQUIRE(n == 0);
	close(p[0]);
	ATF_REQUIRE(waitpid(pid, &out->status, 0) == pid);
}

static void
expect(void (*fn)(void), const char *want, int code)
{
	struct out	 out;

	run(fn, &out);
	ATF_CHECK_STREQ(want, out.buf);
	ATF_CHECK(WIFEXITED(out.status));
	ATF_CHECK_EQ(WEXITSTATUS(out.status), code);
}

static void
do_warnx(void)
{
	log_warnx("a\nb");
}

ATF_TC_WITHOUT_HEAD(warnx_newline);
ATF_TC_BODY(warnx_newline, tc)
{
	/* One line, with the newline shown escaped. */
	expect(do_warnx, "test: a\\nb\n", 0);
}

static void
do_escapes(void)
{
	log_warnx("%s", "x\r\033[2J\t\\\177\001y");
}

ATF_TC_WITHOUT_HEAD(control_chars);
ATF_TC_BODY(control_chars, tc)
{
	expect(do_escapes, "test: x\\r\\033[2J\\t\\\\\\177\\001y\n", 0);
}

static void
do_warn(void)
{
	errno = ENOENT;
	log_warn("open %s", "/x");
	/* Logging leaves errno as it found it. */
	if (errno != ENOENT)
		exit(2);
	log_warn(NULL);
}

ATF_TC_WITHOUT_HEAD(warn_strerror);
ATF_TC_BODY(warn_strerror, tc)
{
	char	 want[256];

	snprintf(want, sizeof(want), "test: open /x: %s\ntest: %s\n",
	    strerror(ENOENT), strerror(ENOENT));
	expect(do_warn, want, 0);
}

static void
do_fatalx(void)
{
	log_warnx("before");
	fatalx("bad %s", "imsg");
}

ATF_TC_WITHOUT_HEAD(fatalx_exits);
ATF_TC_BODY(fatalx_exits, tc)
{
	expect(do_fatalx, "test: before\ntest: fatal: bad imsg\n", 1);
}

static void
do_fatal(void)
{
	errno = EPERM;
	fatal("setresuid");
}

ATF_TC_WITHOUT_HEAD(fatal_errno);
ATF_TC_BODY(fatal_errno, tc)
{
	char	 want[256];

	snprintf(want, sizeof(want), "test: fatal: setresuid: %s\n",
	    strerror(EPERM));
	expect(do_fatal, want, 1);
}

static void
do_levels(void)
{
	log_info("i0");
	log_debug("d0");
	log_setverbose(1);
	log_info("i1");
	log_debug("d1");
	log_setverbose(2);
	log_info("i2");
	log_debug("d2");
	logit(LOG_DEBUG, "l%d", log_getverbose());
}

ATF_TC_WITHOUT_HEAD(verbosity);
ATF_TC_BODY(verbosity, tc)
{
	expect(do_levels, "test: i1\ntest: i2\ntest: d2\ntest: l2\n", 0);
}

static void
do_long(void)
{
	char	 s[5000];

	memset(s, '\n', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	log_warnx("%s", s);
}

ATF_TC_WITHOUT_HEAD(long_line);
ATF_TC_BODY(long_line, tc)
{
	struct out	 out;

	/* Cut, but still exactly one line. */
	run(do_long, &out);
	ATF_REQUIRE(out.len > 1000);
	ATF_CHECK(strncmp(out.buf, "test: \\n\\n", 10) == 0);
	ATF_CHECK(strchr(out.buf, '\n') == out.buf + out.len - 1);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, warnx_newline);
	ATF_TP_ADD_TC(tp, control_chars);
	ATF_TP_ADD_TC(tp, warn_strerror);
	ATF_TP_ADD_TC(tp, fatalx_exits);
	ATF_TP_ADD_TC(tp, fatal_errno);
	ATF_TP_ADD_TC(tp, verbosity);
	ATF_TP_ADD_TC(tp, long_line);
	return (atf_no_error());
}
