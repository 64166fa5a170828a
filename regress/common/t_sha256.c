/*
 * Tests of common/sha256.c against the FIPS 180-4 / NIST example
 * vectors and HMAC-SHA256 against RFC 4231's, and that feeding the
 * input in pieces changes nothing.
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

static void	vectors(void);

/* The vectors with the C rounds and, where the CPU has them, SHA-NI. */
ATF_TC_WITHOUT_HEAD(vectors_both);
ATF_TC_BODY(vectors_both, tc)
{
	sha256_accelerated(0);
	vectors();
	if (sha256_accelerated(1))
		vectors();
}

/* Both give the same digest of random messages of every length. */
ATF_TC_WITHOUT_HEAD(paths_agree);
ATF_TC_BODY(paths_agree, tc)
{
	char	msg[700], a[SHA256_HEX_LEN], b[SHA256_HEX_LEN];
	size_t	len, i;

	if (!sha256_accelerated(1))
		atf_tc_skip("this CPU has no SHA extensions");
	srandom(1);
	for (len = 0; len < sizeof(msg); len++) {
		for (i = 0; i < len; i++)
			msg[i] = random();
		sha256_accelerated(0);
		sha256_hex(msg, len, a);
		sha256_accelerated(1);
		sha256_hex(msg, len, b);
		ATF_REQUIRE_STREQ_MSG(a, b, "%zu bytes", len);
	}
}

static void
vectors(void)
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

static void
hmac_check(const uint8_t *key, size_t klen, const void *msg, size_t len,
    const char *want)
{
	static const char	digits[] = "0123456789abcdef";
	struct hmac_sha256	h;
	uint8_t			d[SHA256_DIGEST_LEN];
	char			hex[SHA256_HEX_LEN];
	size_t			i;

	hmac_sha256_init(&h, key, klen);
	hmac_sha256_update(&h, msg, len);
	hmac_sha256_final(&h, d);
	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		hex[i * 2] = digits[d[i] >> 4];
		hex[i * 2 + 1] = digits[d[i] & 0xf];
	}
	hex[SHA256_DIGEST_LEN * 2] = '\0';
	ATF_CHECK_STREQ(hex, want);
}

/* RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (5 truncates its output). */
ATF_TC_WITHOUT_HEAD(hmac_rfc4231);
ATF_TC_BODY(hmac_rfc4231, tc)
{
	const char	*six = "Test Using Larger Than Block-Size Key - Hash "
	    "Key First";
	const char	*seven = "This is a test using a larger than "
	    "block-size key and a larger than block-size data. The key needs "
	    "to be hashed before being used by the HMAC algorithm.";
	uint8_t		 key[131], data[50];
	size_t		 i;

	memset(key, 0x0b, 20);
	hmac_check(key, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	hmac_check((const uint8_t *)"Jefe", 4, "what do ya want for nothing?",
	    28, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	hmac_check(key, 20, data, 50, "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe");
	for (i = 0; i < 25; i++)
		key[i] = (uint8_t)(i + 1);
	memset(data, 0xcd, 50);
	hmac_check(key, 25, data, 50, "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b");
	memset(key, 0xaa, 131);
	hmac_check(key, 131, six, strlen(six),
	    "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54");
	hmac_check(key, 131, seven, strlen(seven),
	    "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2");
}

/* A message fed in pieces gives the tag it gives whole. */
ATF_TC_WITHOUT_HEAD(hmac_pieces);
ATF_TC_BODY(hmac_pieces, tc)
{
	struct hmac_sha256	h;
	uint8_t			whole[SHA256_DIGEST_LEN];
	uint8_t			part[SHA256_DIGEST_LEN];
	char			msg[300];
	size_t			i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 13 + 5);
	hmac_sha256_init(&h, "key", 3);
	hmac_sha256_update(&h, msg, sizeof(msg));
	hmac_sha256_final(&h, whole);
	for (i = 0; i <= sizeof(msg); i += 7) {
		hmac_sha256_init(&h, "key", 3);
		hmac_sha256_update(&h, msg, i);
		hmac_sha256_update(&h, msg + i, sizeof(msg) - i);
		hmac_sha256_final(&h, part);
		ATF_CHECK(memcmp(whole, part, sizeof(whole)) == 0);
	}
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, vectors_both);
	ATF_TP_ADD_TC(tp, paths_agree);
	ATF_TP_ADD_TC(tp, million_a);
	ATF_TP_ADD_TC(tp, pieces);
	ATF_TP_ADD_TC(tp, hmac_rfc4231);
	ATF_TP_ADD_TC(tp, hmac_pieces);
	return (atf_no_error());
}
