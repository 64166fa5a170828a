/*
 * Tests of the securer command's tools (client/cmdtools.c): the mapping
 * between encoded R values and plain JSON both ways, the tools file, and
 * running a tool's command: its input, value, errors, time-out and size
 * limit.  And how the command shows the sandbox's text on a terminal
 * (client/termout.c).
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <atf-c.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "sanitizer.h"
#include "securerd.h"

/* value_to_plain() of the encoded value enc must print as want. */
static void
to_plain(const char *enc, const char *want)
{
	cJSON	*v, *p;
	char	*got;

	ATF_REQUIRE_MSG((v = cJSON_Parse(enc)) != NULL, "%s", enc);
	p = value_to_plain(v);
	ATF_REQUIRE((got = json_print(p, NULL)) != NULL);
	ATF_CHECK_STREQ_MSG(got, want, "for %s", enc);
	free(got);
	cJSON_Delete(p);
	cJSON_Delete(v);
}

/* plain_to_value() of plain must print as want. */
static void
to_value(const char *plain, const char *want)
{
	cJSON	*p, *v;
	char	*got;

	ATF_REQUIRE_MSG((p = cJSON_Parse(plain)) != NULL, "%s", plain);
	v = plain_to_value(p);
	ATF_REQUIRE((got = json_print(v, NULL)) != NULL);
	ATF_CHECK_STREQ_MSG(got, want, "for %s", plain);
	free(got);
	cJSON_Delete(v);
	cJSON_Delete(p);
}

#define D(v)	"{\"type\":\"double\",\"value\":" v "}"
#define I(v)	"{\"type\":\"integer\",\"value\":" v "}"
#define L(v)	"{\"type\":\"logical\",\"value\":" v "}"
#define C(v)	"{\"type\":\"character\",\"value\":" v "}"
#define NAMES(v) "\"attributes\":{\"names\":" C(v) "}"

ATF_TC_WITHOUT_HEAD(plain_atomic);
ATF_TC_BODY(plain_atomic, tc)
{
	to_plain("null", "null");
	to_plain(D("[1.5]"), "1.5");
	to_plain(D("[0.30000000000000004]"), "0.30000000000000004");
	to_plain(D("[1,null,\"NaN\",\"-Inf\"]"), "[1,null,\"NaN\",\"-Inf\"]");
	to_plain(D("[]"), "[]");
	to_plain(I("[1,2,null]"), "[1,2,null]");
	to_plain(L("[true]"), "true");
	to_plain(L("[null]"), "null");
	to_plain(C("[\"a\",null]"), "[\"a\",null]");
	to_plain("{\"type\":\"complex\",\"value\":[[1,2]]}", "[1,2]");
	to_plain("{\"type\":\"raw\",\"value\":\"AAE=\"}", "\"AAE=\"");
	to_plain("{\"type\":\"unsupported\",\"rtype\":\"closure\","
	    "\"printed\":\"function(x) x\"}", "\"function(x) x\"");
	/* Named vectors are objects; a matrix is its elements. */
	to_plain("{\"type\":\"double\",\"value\":[1,2]," NAMES("[\"a\",\"b\"]")
	    "}", "{\"a\":1,\"b\":2}");
	to_plain("{\"type\":\"integer\",\"value\":[1,2,3,4],\"attributes\":"
	    "{\"dim\":" I("[2,2]") "}}", "[1,2,3,4]");
}

ATF_TC_WITHOUT_HEAD(plain_classes);
ATF_TC_BODY(plain_classes, tc)
{
	/* factor: its levels */
	to_plain("{\"type\":\"integer\",\"value\":[2,1,null],\"attributes\":"
	    "{\"levels\":" C("[\"lo\",\"hi\"]") ",\"class\":" C("[\"factor\"]")
	    "}}", "[\"hi\",\"lo\",null]");
	/* Date: days since 1970 */
	to_plain("{\"type\":\"double\",\"value\":[19724,-1],\"attributes\":"
	    "{\"class\":" C("[\"Date\"]") "}}",
	    "[\"2024-01-02\",\"1969-12-31\"]");
	/* data.frame: columns, arrays even of one row */
	to_plain("{\"type\":\"list\",\"value\":[" D("[1]") ","
	    "{\"type\":\"integer\",\"value\":[1],\"attributes\":{\"levels\":"
	    C("[\"u\"]") ",\"class\":" C("[\"factor\"]") "}}],"
	    "\"attributes\":{\"names\":" C("[\"x\",\"f\"]") ",\"class\":"
	    C("[\"data.frame\"]") ",\"row.names\":" I("[null,-1]") "}}",
	    "{\"x\":[1],\"f\":[\"u\"]}");
}

ATF_TC_WITHOUT_HEAD(plain_lists);
ATF_TC_BODY(plain_lists, tc)
{
	to_plain("{\"type\":\"list\",\"value\":[" D("[1]") "," C("[\"a\"]")
	    ",null]}", "[1,\"a\",null]");
	to_plain("{\"type\":\"list\",\"value\":[" D("[1]") "]}", "[1]");
	to_plain("{\"type\":\"list\",\"value\":[" D("[1,2]") ","
	    "{\"type\":\"list\",\"value\":[],\"attributes\":{\"names\":"
	    C("[]") "}}]," NAMES("[\"a\",\"b\"]") "}",
	    "{\"a\":[1,2],\"b\":{}}");
	to_plain("{\"type\":\"list\",\"value\":[]}", "[]");
}

ATF_TC_WITHOUT_HEAD(value_scalars);
ATF_TC_BODY(value_scalars, tc)
{
	to_value("null", "null");
	to_value("3", D("[3]"));
	to_value("0.30000000000000004", D("[0.30000000000000004]"));
	to_value("1e400", D("[\"Inf\"]"));
	to_value("\"a\"", C("[\"a\"]"));
	to_value("false", L("[false]"));
}

ATF_TC_WITHOUT_HEAD(value_arrays);
ATF_TC_BODY(value_arrays, tc)
{
	to_value("[1,2.5]", D("[1,2.5]"));
	to_value("[\"a\",null]", C("[\"a\",null]"));
	to_value("[true,null,false]", L("[true,null,false]"));
	to_value("[null,null]", L("[null,null]"));
	to_value("[]", "{\"type\":\"list\",\"value\":[]}");
	to_value("[1,\"a\"]", "{\"type\":\"list\",\"value\":[" D("[1]") ","
	    C("[\"a\"]") "]}");
	to_value("[[1],{}]", "{\"type\":\"list\",\"value\":[" D("[1]") ","
	    "{\"type\":\"list\",\"value\":[]," NAMES("[]") "}]}");
}

ATF_TC_WITHOUT_HEAD(value_objects);
ATF_TC_BODY(value_objects, tc)
{
	to_value("{\"a\":1,\"b\":[\"x\",\"y\"],\"c\":null}",
	    "{\"type\":\"list\",\"value\":[" D("[1]") "," C("[\"x\",\"y\"]")
	    ",null]," NAMES("[\"a\",\"b\",\"c\"]") "}");
}

/* A file in the work directory, made executable. */
static void
script(const char *name, const char *text)
{
	FILE	*fp;

	ATF_REQUIRE((fp = fopen(name, "w")) != NULL);
	fputs(text, fp);
	fclose(fp);
	ATF_REQUIRE(chmod(name, 0755) == 0);
}

static struct cmdtools *
load(const char *json)
{
	struct cmdtools	*t;
	FILE		*fp;

	ATF_REQUIRE((fp = fopen("tools.json", "w")) != NULL);
	fputs(json, fp);
	fclose(fp);
	t = tools_load("tools.json");
	if (t != NULL)
		tools_deadline(t, 10);
	return (t);
}

#define TOOL(name, cmd)	"{\"name\":\"" name "\",\"description\":\"d\"," \
			"\"args\":{\"x\":null},\"command\":" cmd "}"

ATF_TC_WITHOUT_HEAD(tools_file);
ATF_TC_BODY(tools_file, tc)
{
	struct cmdtools	*t;

	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\", \"-v\"]") ","
	    TOOL("b", "[\"b\"]") "]")) != NULL);
	ATF_CHECK_EQ(t->n, 2);
	ATF_CHECK_STREQ(t->v[0].argv[0], "./a");
	ATF_CHECK_STREQ(t->v[0].argv[1], "-v");
	ATF_CHECK(t->v[0].argv[2] == NULL);
	/* The daemon does not see the commands. */
	ATF_CHECK_STREQ(t->specs, "[{\"name\":\"a\",\"description\":\"d\","
	    "\"args\":{\"x\":null}},{\"name\":\"b\",\"description\":\"d\","
	    "\"args\":{\"x\":null}}]");
	cmdtools_free(t);
	ATF_CHECK(load("{}") == NULL);
	ATF_CHECK(load("[{\"name\":\"a\"}]") == NULL);
	ATF_CHECK(load("[" TOOL("a", "[]") "]") == NULL);
	ATF_CHECK(load("[" TOOL("a", "[\"x\", 1]") "]") == NULL);
	ATF_CHECK(load("[" TOOL("a", "\"sh -c x\"") "]") == NULL);
	ATF_CHECK(tools_load("nonexistent.json") == NULL);
}

/* Call tool a of t with args; returns what cmdtools_call() returned. */
static int
call(struct cmdtools *t, const char *args, char **value, char **error)
{
	*value = *error = NULL;
	return (cmdtools_call(t, "a", args, value, error));
}

ATF_TC_WITHOUT_HEAD(tool_roundtrip);
ATF_TC_BODY(tool_roundtrip, tc)
{
	struct cmdtools	*t;
	char		*value, *error;

	/* cat: the arguments as plain JSON come back as its value. */
	script("a", "#!/bin/sh\ncat\n");
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\"]") "]")) != NULL);
	ATF_REQUIRE_EQ(call(t, "{\"x\":" D("[0.1,0.30000000000000004]") ","
	    "\"y\":" C("[\"z\"]") "}", &value, &error), 0);
	ATF_CHECK_STREQ(value, "{\"type\":\"list\",\"value\":["
	    D("[0.1,0.30000000000000004]") "," C("[\"z\"]") "],"
	    NAMES("[\"x\",\"y\"]") "}");
	free(value);
	cmdtools_free(t);
}

ATF_TC_WITHOUT_HEAD(tool_outputs);
ATF_TC_BODY(tool_outputs, tc)
{
	struct cmdtools	*t;
	char		*value, *error;

	/* It need not read its input; printing nothing is NULL. */
	script("a", "#!/bin/sh\n[ \"$1\" = quiet ] || echo ' 42 '\n");
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\"]") "]")) != NULL);
	ATF_REQUIRE_EQ(call(t, "{\"x\":" C("[\"big\"]") "}", &value, &error),
	    0);
	ATF_CHECK_STREQ(value, D("[42]"));
	free(value);
	cmdtools_free(t);
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\", \"quiet\"]") "]")) !=
	    NULL);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), 0);
	ATF_CHECK_STREQ(value, "null");
	free(value);
	cmdtools_free(t);
	script("a", "#!/bin/sh\necho '{\"a\": 1} x'\n");
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\"]") "]")) != NULL);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), -1);
	ATF_CHECK_STREQ(error, "tool a printed something that is not JSON");
	free(error);
	cmdtools_free(t);
}

ATF_TC_WITHOUT_HEAD(tool_errors);
ATF_TC_BODY(tool_errors, tc)
{
	struct cmdtools	*t;
	char		*value, *error;

	script("a", "#!/bin/sh\nprintf '\\n  no such city \\nmore\\n' >&2\n"
	    "exit 3\n");
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\"]") "]")) != NULL);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), -1);
	ATF_CHECK_STREQ(error, "no such city");
	ATF_CHECK(value == NULL);
	free(error);
	cmdtools_free(t);
	script("a", "#!/bin/sh\nexit 4\n");
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\"]") "]")) != NULL);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), -1);
	ATF_CHECK_STREQ(error, "tool a exited with status 4");
	free(error);
	cmdtools_free(t);
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./nonexistent\"]") "]")) !=
	    NULL);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), -1);
	ATF_CHECK_STREQ(error, "cannot execute ./nonexistent: No such file "
	    "or directory");
	free(error);
	value = error = NULL;
	ATF_REQUIRE_EQ(cmdtools_call(t, "b", "{}", &value, &error), -1);
	ATF_CHECK_STREQ(error, "no such tool: b");
	free(error);
	cmdtools_free(t);
}

ATF_TC_WITHOUT_HEAD(tool_timeout);
ATF_TC_BODY(tool_timeout, tc)
{
	struct cmdtools	*t;
	struct timespec	 a, b;
	char		*value, *error;

	/* Its child, which keeps the pipes open, goes with it. */
	script("a", "#!/bin/sh\nsleep 30 &\nsleep 30\n");
	ATF_REQUIRE((t = load("[" TOOL("a", "[\"./a\"]") "]")) != NULL);
	tools_deadline(t, 0.1);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ATF_CHECK_STREQ(error, "tool a timed out");
	ATF_CHECK(b.tv_sec - a.tv_sec < 5);
	free(error);
	cmdtools_free(t);
}

ATF_TC_WITHOUT_HEAD(tool_too_big);
ATF_TC_BODY(tool_too_big, tc)
{
	struct cmdtools	*t;
	char		*value, *error;

	ATF_REQUIRE((t = load("[" TOOL("a", "[\"yes\"]") "]")) != NULL);
	ATF_REQUIRE_EQ(call(t, "{}", &value, &error), -1);
	ATF_CHECK_STREQ(error, "tool a wrote more than 8388608 bytes");
	free(error);
	cmdtools_free(t);
}

/* term_escape() of len bytes at in must be want. */
static void
escaped(const char *in, size_t len, const char *want)
{
	char	*got;
	size_t	 n;

	ATF_REQUIRE((got = term_escape(in, len, &n)) != NULL);
	ATF_CHECK_STREQ_MSG(got, want, "for %s", want);
	ATF_CHECK_EQ(n, strlen(want));
	free(got);
}

#define ESC(lit, want)	escaped((lit), sizeof(lit) - 1, (want))

ATF_TC_WITHOUT_HEAD(term_escape);
ATF_TC_BODY(term_escape, tc)
{
	/* Newline and tab stay; every other C0 control and DEL show. */
	ESC("a\tb\nc", "a\tb\nc");
	ESC("\033]52;c;eA==\007", "\\x1b]52;c;eA==\\x07");
	ESC("\r\b\f\v\177", "\\x0d\\x08\\x0c\\x0b\\x7f");
	ESC("a\0b", "a\\x00b");
	/* C1: U+0080 to U+009F, each one character of two bytes. */
	ESC("\302\200\302\233[2J\302\237", "\\u0080\\u009b[2J\\u009f");
	/* Printable UTF-8 goes through: U+00A0, U+00E9, U+2192, U+1F600. */
	ESC("\302\240\303\251\342\206\222\360\237\230\200",
	    "\302\240\303\251\342\206\222\360\237\230\200");
	/* Bytes of no valid sequence: a lone 8-bit CSI, an overlong ESC, a
	 * surrogate, a sequence cut short at the end. */
	ESC("\233", "\\x9b");
	ESC("\300\233", "\\xc0\\x9b");
	ESC("\355\240\200", "\\xed\\xa0\\x80");
	ESC("x\342\206", "x\\xe2\\x86");
	ESC("", "");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, plain_atomic);
	ATF_TP_ADD_TC(tp, plain_classes);
	ATF_TP_ADD_TC(tp, plain_lists);
	ATF_TP_ADD_TC(tp, value_scalars);
	ATF_TP_ADD_TC(tp, value_arrays);
	ATF_TP_ADD_TC(tp, value_objects);
	ATF_TP_ADD_TC(tp, tools_file);
	ATF_TP_ADD_TC(tp, tool_roundtrip);
	ATF_TP_ADD_TC(tp, tool_outputs);
	ATF_TP_ADD_TC(tp, tool_errors);
	ATF_TP_ADD_TC(tp, tool_timeout);
	ATF_TP_ADD_TC(tp, tool_too_big);
	ATF_TP_ADD_TC(tp, term_escape);
	return (atf_no_error());
}
