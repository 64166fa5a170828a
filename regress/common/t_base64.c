/*
 * Tests of common/base64.c: the RFC 4648 section 10 vectors both ways,
 * the strictness of the decoder (whole quanta, padding only at the
 * end, the alphabet only), and that the _to functions write exactly
 * the lengths they promise.
 */

#include <atf-c.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sanitizer.h"

static const struct {
	const char	*plain;
	const char	*coded;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

ATF_TC_WITHOUT_HEAD(rfc4648);
ATF_TC_BODY(rfc4648, tc)
{
	unsigned char	*out;
	char		*enc;
	size_t		 i, n;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		enc = base64_encode(vectors[i].plain, strlen(vectors[i].plain));
		ATF_REQUIRE(enc != NULL);
		ATF_CHECK_STREQ(enc, vectors[i].coded);
		ATF_CHECK_EQ(strlen(enc),
		    base64_len(strlen(vectors[i].plain)));
		free(enc);
		ATF_REQUIRE_EQ(base64_decode(vectors[i].coded,
		    strlen(vectors[i].coded), &out, &n), 0);
		ATF_CHECK_EQ(n, strlen(vectors[i].plain));
		ATF_CHECK(memcmp(out, vectors[i].plain, n) == 0);
		ATF_CHECK_EQ(base64_decoded_len(vectors[i].coded,
		    strlen(vectors[i].coded)), (ssize_t)n);
		free(out);
	}
}

ATF_TC_WITHOUT_HEAD(refused);
ATF_TC_BODY(refused, tc)
{
	static const char *bad[] = {
		"Zg=", "Zg", "Z", "Zm9vY", "Z===", "Zg==Zg==", "Zm=v",
		"Zm9v\n", "Zm9*", "Zm 9", "====", "Zg=a",
	};
	unsigned char	*out, buf[16];
	size_t		 i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (unsigned char *)"untouched";
		ATF_CHECK_MSG(base64_decode(bad[i], strlen(bad[i]), &out,
		    &n) == -1, "%s accepted", bad[i]);
		ATF_CHECK(out == NULL);
		if (base64_decoded_len(bad[i], strlen(bad[i])) >= 0 &&
		    (size_t)base64_decoded_len(bad[i], strlen(bad[i])) <=
		    sizeof(buf))
			ATF_CHECK_MSG(base64_decode_to(buf, bad[i],
			    strlen(bad[i])) == -1, "%s decoded", bad[i]);
	}
}

/* Every length from 0 to 300 of every byte value, in and out. */
ATF_TC_WITHOUT_HEAD(round_trip);
ATF_TC_BODY(round_trip, tc)
{
	unsigned char	 data[300], back[300 + 8];
	char		 coded[404 + 8];
	size_t		 n, i, len;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 151 + 7);
	for (n = 0; n <= sizeof(data); n++) {
		len = base64_len(n);
		memset(coded, '#', sizeof(coded));
		base64_encode_to(coded, data, n);
		ATF_REQUIRE(coded[len] == '#');
		ATF_REQUIRE_EQ(base64_decoded_len(coded, len), (ssize_t)n);
		memset(back, 0xee, sizeof(back));
		ATF_REQUIRE_EQ(base64_decode_to(back, coded, len), 0);
		ATF_REQUIRE(memcmp(back, data, n) == 0);
		ATF_REQUIRE(back[n] == 0xee);
	}
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, rfc4648);
	ATF_TP_ADD_TC(tp, refused);
	ATF_TP_ADD_TC(tp, round_trip);
	return (atf_no_error());
}
