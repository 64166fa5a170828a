/*
 * Tests of common/json.c (fmt_double, json_print) and common/utf8.c.
 */

#include <atf-c.h>
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "securerd.h"
#include "sanitizer.h"

#define NUM_MAX		32

static uint64_t
bits(double d)
{
	uint64_t	 u;

	memcpy(&u, &d, sizeof(u));
	return (u);
}

static double
from_bits(uint64_t u)
{
	double	 d;

	memcpy(&d, &u, sizeof(d));
	return (d);
}

/* fmt_double(d) must be want and read back to the same bits. */
static void
check_fmt(double d, const char *want)
{
	char	 buf[NUM_MAX];
	int	 n;

	n = fmt_double(buf, sizeof(buf), d);
	ATF_REQUIRE_MSG(n > 0, "fmt_double(%a) failed", d);
	ATF_CHECK_EQ_MSG((size_t)n, strlen(buf), "%s", buf);
	ATF_CHECK_STREQ(buf, want);
	ATF_CHECK_MSG(bits(strtod(buf, NULL)) == bits(d),
	    "%s does not read back to %a", buf, d);
}

/* Print item, compare with want, and free both. */
static void
check_print(cJSON *item, const char *want)
{
	char	*s;
	size_t	 len = 0;

	ATF_REQUIRE(item != NULL);
	ATF_REQUIRE((s = json_print(item, &len)) != NULL);
	ATF_CHECK_STREQ(s, want);
	ATF_CHECK_EQ(len, strlen(want));
	free(s);
	cJSON_Delete(item);
}

static void
check_sanitize(const char *in, size_t len, const char *want)
{
	char	*s;
	size_t	 outlen = 12345;

	ATF_REQUIRE((s = utf8_sanitize(in, len, &outlen)) != NULL);
	ATF_CHECK_EQ(outlen, strlen(want));
	ATF_CHECK_MSG(memcmp(s, want, strlen(want) + 1) == 0,
	    "sanitize gave \"%s\", want \"%s\"", s, want);
	ATF_CHECK(utf8_valid(s, outlen));
	free(s);
}

#define VALID(s)	ATF_CHECK_MSG(utf8_valid(s, sizeof(s) - 1), \
			    "should be valid: %s", #s)
#define INVALID(s)	ATF_CHECK_MSG(!utf8_valid(s, sizeof(s) - 1), \
			    "should be invalid: %s", #s)

ATF_TC_WITHOUT_HEAD(fmt_known);
ATF_TC_BODY(fmt_known, tc)
{
	volatile double	 a = 0.1, b = 0.2, one = 1.0, three = 3.0;

	check_fmt(a + b, "0.30000000000000004");
	check_fmt(one / three, "0.3333333333333333");
	check_fmt(0.1, "0.1");
	check_fmt(5e-324, "4.94065645841247e-324");
	check_fmt(DBL_MIN, "2.2250738585072014e-308");
	check_fmt(DBL_MAX, "1.7976931348623157e+308");
	check_fmt(-DBL_MAX, "-1.7976931348623157e+308");
	check_fmt(0.0, "0");
	check_fmt(-0.0, "-0");
	check_fmt(1e21, "1e+21");
	check_fmt(100, "100");
	check_fmt(-42, "-42");
	check_fmt(9007199254740992.0, "9007199254740992");	/* 2^53 */
	check_fmt(9007199254740994.0, "9007199254740994");
	check_fmt(123456789012345.0, "123456789012345");
	check_fmt(1e15, "1e+15");
	check_fmt(M_PI, "3.141592653589793");
	check_fmt(2.5e-5, "2.5e-05");
	check_fmt(19723, "19723");		/* as.Date("2024-01-02") */
}

ATF_TC_WITHOUT_HEAD(fmt_signed_zero);
ATF_TC_BODY(fmt_signed_zero, tc)
{
	char	 buf[NUM_MAX];

	ATF_REQUIRE(fmt_double(buf, sizeof(buf), -0.0) == 2);
	ATF_CHECK(signbit(strtod(buf, NULL)));
	ATF_REQUIRE(fmt_double(buf, sizeof(buf), 0.0) == 1);
	ATF_CHECK(!signbit(strtod(buf, NULL)));
}

ATF_TC_WITHOUT_HEAD(fmt_refuses);
ATF_TC_BODY(fmt_refuses, tc)
{
	char	 buf[NUM_MAX];

	ATF_CHECK_EQ(fmt_double(buf, sizeof(buf), NAN), -1);
	ATF_CHECK_EQ(fmt_double(buf, sizeof(buf), INFINITY), -1);
	ATF_CHECK_EQ(fmt_double(buf, sizeof(buf), -INFINITY), -1);
	/* "0.30000000000000004" is 19 bytes: it needs 20 with the NUL. */
	ATF_CHECK_EQ(fmt_double(buf, 19, 0.1 + 0.2), -1);
	ATF_CHECK_EQ(fmt_double(buf, 20, 0.1 + 0.2), 19);
	ATF_CHECK_EQ(fmt_double(buf, 0, 1), -1);
}

/* The shortest of the three precisions that reads back, as specified. */
static void
reference(char *buf, double d)
{
	static const char	*fmts[] = { "%.15g", "%.16g", "%.17g" };
	size_t			 i;

	for (i = 0; i < 3; i++) {
		snprintf(buf, NUM_MAX, fmts[i], d);
		if (bits(strtod(buf, NULL)) == bits(d))
			return;
	}
}

ATF_TC_WITHOUT_HEAD(fmt_random);
ATF_TC_BODY(fmt_random, tc)
{
	char		 buf[NUM_MAX], ref[NUM_MAX];
	uint64_t	 u, seed = 0x9e3779b97f4a7c15ULL;
	double		 d;
	cJSON		*j;
	int		 i, n, done = 0;

	for (i = 0; done < 100000; i++) {
		/* xorshift64: every bit pattern, subnormals included. */
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		u = seed;
		d = from_bits(u);
		if (!isfinite(d))
			continue;
		done++;
		n = fmt_double(buf, sizeof(buf), d);
		ATF_REQUIRE_MSG(n > 0, "fmt_double(%a) failed", d);
		ATF_REQUIRE_MSG(bits(strtod(buf, NULL)) == u,
		    "%s does not read back to %a", buf, d);
		reference(ref, d);
		ATF_REQUIRE_STREQ(buf, ref);
		/* And it is a JSON number that a JSON parser reads back. */
		if (i % 100 == 0) {
			ATF_REQUIRE((j = cJSON_Parse(buf)) != NULL);
			ATF_REQUIRE(cJSON_IsNumber(j));
			ATF_REQUIRE(bits(j->valuedouble) == u);
			cJSON_Delete(j);
		}
	}
}

ATF_TC_WITHOUT_HEAD(print_numbers);
ATF_TC_BODY(print_numbers, tc)
{
	volatile double	 a = 0.1, b = 0.2;
	cJSON		*arr;

	check_print(cJSON_CreateNumber(a + b), "0.30000000000000004");
	check_print(cJSON_CreateNumber(100), "100");
	check_print(cJSON_CreateNumber(-0.0), "-0");
	check_print(cJSON_CreateNumber(1e21), "1e+21");

	ATF_REQUIRE((arr = cJSON_CreateArray()) != NULL);
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(NAN));
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(INFINITY));
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(-INFINITY));
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(5e-324));
	check_print(arr, "[null,null,null,4.94065645841247e-324]");
}

ATF_TC_WITHOUT_HEAD(print_strings);
ATF_TC_BODY(print_strings, tc)
{
	check_print(cJSON_CreateString(""), "\"\"");
	check_print(cJSON_CreateString("plain"), "\"plain\"");
	check_print(cJSON_CreateString("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
	check_print(cJSON_CreateString("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
	check_print(cJSON_CreateString("\x01\x1f\x7f"),
	    "\"\\u0001\\u001f\x7f\"");
	check_print(cJSON_CreateString("caf\xc3\xa9 \xe2\x82\xac "
	    "\xf0\x9f\x98\x80"),
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Bytes that are not UTF-8 would make the document invalid. */
	check_print(cJSON_CreateString("a\xff" "b\xc3"),
	    "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"");
}

ATF_TC_WITHOUT_HEAD(print_literals);
ATF_TC_BODY(print_literals, tc)
{
	char	*s;

	check_print(cJSON_CreateNull(), "null");
	check_print(cJSON_CreateTrue(), "true");
	check_print(cJSON_CreateFalse(), "false");
	check_print(cJSON_CreateArray(), "[]");
	check_print(cJSON_CreateObject(), "{}");
	ATF_REQUIRE((s = json_print(NULL, NULL)) != NULL);
	ATF_CHECK_STREQ(s, "null");
	free(s);
}

ATF_TC_WITHOUT_HEAD(print_raw);
ATF_TC_BODY(print_raw, tc)
{
	cJSON	*o;

	ATF_REQUIRE((o = cJSON_CreateObject()) != NULL);
	cJSON_AddItemToObject(o, "v", cJSON_CreateRaw(
	    "{\"type\":\"double\",\"value\":[0.30000000000000004]}"));
	cJSON_AddItemToObject(o, "n", cJSON_CreateNumber(1));
	check_print(o, "{\"v\":{\"type\":\"double\","
	    "\"value\":[0.30000000000000004]},\"n\":1}");
	check_print(cJSON_CreateRaw("  [1, 2]"), "  [1, 2]");
}

ATF_TC_WITHOUT_HEAD(print_nested);
ATF_TC_BODY(print_nested, tc)
{
	const char	*text = "{\"a\":[1,2.5,{\"b\":null,\"c\":[[],{}]}],"
			    "\"d\\n\":{\"e\":{\"f\":\"g\"}},\"h\":true}";
	cJSON		*j;
	char		*s;
	size_t		 len;

	ATF_REQUIRE((j = cJSON_Parse(text)) != NULL);
	ATF_REQUIRE((s = json_print(j, &len)) != NULL);
	ATF_CHECK_STREQ(s, text);
	ATF_CHECK_EQ(len, strlen(text));
	free(s);
	ATF_REQUIRE((s = json_print(j, NULL)) != NULL);
	ATF_CHECK_STREQ(s, text);
	free(s);
	cJSON_Delete(j);
}

/* What cJSON's printer gets wrong, ours gets right, through a parse. */
ATF_TC_WITHOUT_HEAD(print_roundtrip);
ATF_TC_BODY(print_roundtrip, tc)
{
	static const double	 v[] = { 0.1 + 0.2, 1.0 / 3, 5e-324,
				    DBL_MAX, -0.0, 1e21, 100, 123.456e-300 };
	cJSON			*arr, *back, *c;
	char			*s;
	size_t			 i = 0;

	ATF_REQUIRE((arr = cJSON_CreateDoubleArray(v, 8)) != NULL);
	ATF_REQUIRE((s = json_print(arr, NULL)) != NULL);
	ATF_REQUIRE((back = cJSON_Parse(s)) != NULL);
	cJSON_ArrayForEach(c, back) {
		ATF_CHECK_MSG(bits(c->valuedouble) == bits(v[i]),
		    "element %zu: %a != %a", i, c->valuedouble, v[i]);
		i++;
	}
	ATF_CHECK_EQ(i, 8);
	free(s);
	cJSON_Delete(arr);
	cJSON_Delete(back);
}

ATF_TC_WITHOUT_HEAD(utf8_valid_edges);
ATF_TC_BODY(utf8_valid_edges, tc)
{
	VALID("");
	VALID("ascii \x7f");
	VALID("a\0b");				/* U+0000 is a character */
	VALID("\xc2\x80");			/* U+0080 */
	VALID("\xdf\xbf");			/* U+07FF */
	VALID("\xe0\xa0\x80");			/* U+0800 */
	VALID("\xed\x9f\xbf");			/* U+D7FF */
	VALID("\xee\x80\x80");			/* U+E000 */
	VALID("\xef\xbf\xbf");			/* U+FFFF */
	VALID("\xf0\x90\x80\x80");		/* U+10000 */
	VALID("\xf4\x8f\xbf\xbf");		/* U+10FFFF */
	INVALID("\x80");			/* lone continuation */
	INVALID("\xbf");
	INVALID("\xc0\x80");			/* overlong NUL */
	INVALID("\xc1\xbf");			/* overlong */
	INVALID("\xe0\x9f\xbf");		/* overlong */
	INVALID("\xf0\x8f\xbf\xbf");		/* overlong */
	INVALID("\xed\xa0\x80");		/* surrogate U+D800 */
	INVALID("\xed\xbf\xbf");		/* surrogate U+DFFF */
	INVALID("\xf4\x90\x80\x80");		/* U+110000 */
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xfe");
	INVALID("\xff");
	INVALID("\xc2");			/* truncated */
	INVALID("\xe2\x82");
	INVALID("\xf0\x9f\x98");
	INVALID("\xc2\x41");			/* bad continuation */
	INVALID("ok\xe2\x82\xac\xe2");
	/* The length is what counts, not a NUL. */
	ATF_CHECK(utf8_valid("\xe2\x82\xac", 3));
	ATF_CHECK(!utf8_valid("\xe2\x82\xac", 2));
	ATF_CHECK(utf8_valid("\xff", 0));
}

ATF_TC_WITHOUT_HEAD(utf8_sanitize_cases);
ATF_TC_BODY(utf8_sanitize_cases, tc)
{
	char	*s;

	check_sanitize("", 0, "");
	check_sanitize("caf\xc3\xa9", 5, "caf\xc3\xa9");
	check_sanitize("a\xff" "b", 3, "a\xef\xbf\xbd" "b");
	check_sanitize("a\0b", 3, "a\xef\xbf\xbd" "b");
	/* A truncated character is one replacement. */
	check_sanitize("\xe2\x82", 2, "\xef\xbf\xbd");
	check_sanitize("\xe2\x82x", 3, "\xef\xbf\xbdx");
	check_sanitize("\xf0\x9f\x98" "A", 4, "\xef\xbf\xbd" "A");
	/* ED A0 is never a prefix: three replacements, per Unicode. */
	check_sanitize("\xed\xa0\x80", 3,
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	check_sanitize("\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd");
	check_sanitize("\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd");
	check_sanitize("\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf");
	check_sanitize("\xe2\x82\xac\xe2", 4, "\xe2\x82\xac\xef\xbf\xbd");
	/* outlen is optional; the copy is NUL-terminated. */
	ATF_REQUIRE((s = utf8_sanitize("abc", 2, NULL)) != NULL);
	ATF_CHECK_STREQ(s, "ab");
	free(s);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, fmt_known);
	ATF_TP_ADD_TC(tp, fmt_signed_zero);
	ATF_TP_ADD_TC(tp, fmt_refuses);
	ATF_TP_ADD_TC(tp, fmt_random);
	ATF_TP_ADD_TC(tp, print_numbers);
	ATF_TP_ADD_TC(tp, print_strings);
	ATF_TP_ADD_TC(tp, print_literals);
	ATF_TP_ADD_TC(tp, print_raw);
	ATF_TP_ADD_TC(tp, print_nested);
	ATF_TP_ADD_TC(tp, print_roundtrip);
	ATF_TP_ADD_TC(tp, utf8_valid_edges);
	ATF_TP_ADD_TC(tp, utf8_sanitize_cases);
	return (atf_no_error());
}
