/*
 * Tests of common/sha256.c against the FIPS 180-4 / NIST example
 * vectors, and that feeding the input in pieces changes nothing.
 */

#include <atf-c.h>
#include <stdlib.h>
#include <string.h>

#include "sanitizer.h"
#include "sha256.h"

static void
check(const char *msg, size_t len, const char *want)
{
	char	hex[SHA256_HEX_LEN];

	sha256_hex(msg, len, hex);
	ATF_CHECK_STREQ(hex, want);
}

ATF_TC_WITHOUT_HEAD(vectors);
ATF_TC_BODY(vectors, tc)
{
	const char	*two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmn"
	    "lmnomnopnopq";
	const char	*four = "abcdefghbcdefghicdefghijdefghijkefghijklfghij"
	    "klmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqr"
	    "stu";

	check("", 0, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	check(four, strlen(four), "cf5b16a778af8380036ce59e7b049237"
	    "0b249b11e8f07a51afac45037afee9d1");
}

ATF_TC_WITHOUT_HEAD(million_a);
ATF_TC_BODY(million_a, tc)
{
	char	*m;

	ATF_REQUIRE((m = malloc(1000000)) != NULL);
	memset(m, 'a', 1000000);
	check(m, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

/* Every split point of a message across two updates gives one digest. */
ATF_TC_WITHOUT_HEAD(pieces);
ATF_TC_BODY(pieces, tc)
{
	struct sha256	c;
	uint8_t		whole[SHA256_DIGEST_LEN], part[SHA256_DIGEST_LEN];
	char		msg[200];
	size_t		i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 7 + 1);
	sha256_init(&c);
	sha256_update(&c, msg, sizeof(msg));
	sha256_final(&c, whole);
	for (i = 0; i <= sizeof(msg); i++) {
		sha256_init(&c);
		sha256_update(&c, msg, i);
		sha256_update(&c, msg + i, sizeof(msg) - i);
		sha256_final(&c, part);
		ATF_CHECK(memcmp(whole, part, sizeof(whole)) == 0);
	}
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, vectors);
	ATF_TP_ADD_TC(tp, million_a);
	ATF_TP_ADD_TC(tp, pieces);
	return (atf_no_error());
}
