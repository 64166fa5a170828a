/*
 * SHA-256 as FIPS 180-4 specifies it: 64-byte blocks, big-endian words,
 * the message padded with 0x80, zeros and its length in bits.
 */

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "sha256.h"

static const uint32_t k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b,
	0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
	0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7,
	0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
	0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152,
	0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
	0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
	0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
	0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))

/*
 * The working variables rotate by renaming, not by moving: a memmove
 * of them each round made this four times slower, and a snapshot's MAC
 * runs it over every byte of the snapshot.
 */
#if defined(__x86_64__)
/*
 * The compression with the x86 SHA extensions (SHA-NI) where the CPU
 * has them: a snapshot's MAC runs it over every byte of the snapshot,
 * about eight times as fast as the C rounds below on this project's
 * machines.  CPUID leaf 7: EBX bit 29 is SHA; SSSE3 and SSE4.1 come
 * with it.
 */
static int
sha256_ni_usable(void)
{
	unsigned int	a, b, c, d;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return (0);
	return ((b & (1U << 29)) != 0);
}

/*
 * The state goes in as ABEF and CDGH (the order sha256rnds2 wants);
 * each group of four rounds takes four words of the schedule, those
 * past the sixteenth made by sha256msg1 and sha256msg2 from the four
 * groups before.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void
sha256_ni_block(uint32_t h[8], const uint8_t *p)
{
	const __m128i	swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
			    0x0405060700010203ULL);
	__m128i		abef, cdgh, save0, save1, t, w[4], m;
	int		g;

	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xb1);
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]),
	    0x1b);
	abef = _mm_alignr_epi8(t, cdgh, 8);
	cdgh = _mm_blend_epi16(cdgh, t, 0xf0);
	save0 = abef;
	save1 = cdgh;
	for (g = 0; g < 16; g++) {
		if (g < 4)
			w[g] = _mm_shuffle_epi8(_mm_loadu_si128(
			    (const __m128i *)(p + 16 * g)), swap);
		else
			w[g & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(
			    _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]),
			    _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4)),
			    w[(g + 3) & 3]);
		m = _mm_add_epi32(w[g & 3],
		    _mm_loadu_si128((const __m128i *)&k[4 * g]));
		cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
		abef = _mm_sha256rnds2_epu32(abef, cdgh,
		    _mm_shuffle_epi32(m, 0x0e));
	}
	abef = _mm_add_epi32(abef, save0);
	cdgh = _mm_add_epi32(cdgh, save1);
	t = _mm_shuffle_epi32(abef, 0x1b);
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1);
	_mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, cdgh, 0xf0));
	_mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(cdgh, t, 8));
}
#endif

static void
sha256_block_c(struct sha256 *c, const uint8_t *p)
{
	uint32_t	w[64], a, b, cc, d, e, f, g, h, t1, t2;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[i * 4] << 24 | (uint32_t)p[i * 4 + 1] << 16 |
		    (uint32_t)p[i * 4 + 2] << 8 | p[i * 4 + 3];
	for (; i < 64; i++)
		w[i] = (ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^
		    (w[i - 2] >> 10)) + w[i - 7] + (ROTR(w[i - 15], 7) ^
		    ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	f = c->h[5];
	g = c->h[6];
	h = c->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) +
		    ((e & f) ^ (~e & g)) + k[i] + w[i];
		t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) +
		    ((a & b) ^ (a & cc) ^ (b & cc));
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = cc;
		cc = b;
		b = a;
		a = t1 + t2;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
	c->h[5] += f;
	c->h[6] += g;
	c->h[7] += h;
}

static int	ni = -1;	/* SHA-NI: -1 not yet asked */

/*
 * Whether the SHA extensions are used; want 0 turns them off, 1 on where
 * the CPU has them (the tests run the vectors both ways).
 */
int
sha256_accelerated(int want)
{
#if defined(__x86_64__)
	ni = want && sha256_ni_usable();
#else
	ni = 0;
#endif
	return (ni);
}

static void
sha256_block(struct sha256 *c, const uint8_t *p)
{
#if defined(__x86_64__)
	if (ni == -1)
		ni = sha256_ni_usable();
	if (ni) {
		sha256_ni_block(c->h, p);
		return;
	}
#endif
	sha256_block_c(c, p);
}

void
sha256_init(struct sha256 *c)
{
	static const uint32_t	h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, h0, sizeof(h0));
	c->len = 0;
	c->used = 0;
}

void
sha256_update(struct sha256 *c, const void *data, size_t len)
{
	const uint8_t	*p = data;
	size_t		 n;

	c->len += len;
	while (len > 0) {
		if (c->used == 0 && len >= 64) {
			sha256_block(c, p);
			p += 64;
			len -= 64;
			continue;
		}
		n = 64 - c->used < len ? 64 - c->used : len;
		memcpy(c->buf + c->used, p, n);
		c->used += n;
		p += n;
		len -= n;
		if (c->used == 64) {
			sha256_block(c, c->buf);
			c->used = 0;
		}
	}
}

void
sha256_final(struct sha256 *c, uint8_t out[SHA256_DIGEST_LEN])
{
	uint64_t	bits = c->len * 8;
	int		i;

	c->buf[c->used++] = 0x80;
	if (c->used > 56) {
		memset(c->buf + c->used, 0, 64 - c->used);
		sha256_block(c, c->buf);
		c->used = 0;
	}
	memset(c->buf + c->used, 0, 56 - c->used);
	for (i = 0; i < 8; i++)
		c->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_block(c, c->buf);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}

void
sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN])
{
	static const char	digits[] = "0123456789abcdef";
	struct sha256		c;
	uint8_t			d[SHA256_DIGEST_LEN];
	int			i;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, d);
	for (i = 0; i < SHA256_DIGEST_LEN; i++) {
		hex[i * 2] = digits[d[i] >> 4];
		hex[i * 2 + 1] = digits[d[i] & 0xf];
	}
	hex[SHA256_DIGEST_LEN * 2] = '\0';
}

/*
 * HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || message)), the key
 * hashed first if it is longer than a block.  Both pads are absorbed
 * here, so the key itself is not kept.
 */
void
hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t len)
{
	uint8_t	kb[64], pad[64];
	size_t	i;

	memset(kb, 0, sizeof(kb));
	if (len > sizeof(kb)) {
		sha256_init(&h->inner);
		sha256_update(&h->inner, key, len);
		sha256_final(&h->inner, kb);
	} else if (len > 0)
		memcpy(kb, key, len);
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = kb[i] ^ 0x36;
	sha256_init(&h->inner);
	sha256_update(&h->inner, pad, sizeof(pad));
	for (i = 0; i < sizeof(pad); i++)
		pad[i] = kb[i] ^ 0x5c;
	sha256_init(&h->outer);
	sha256_update(&h->outer, pad, sizeof(pad));
	explicit_bzero(kb, sizeof(kb));
	explicit_bzero(pad, sizeof(pad));
}

void
hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->inner, data, len);
}

/* The context is wiped: it held what the key makes. */
void
hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[SHA256_DIGEST_LEN])
{
	uint8_t	d[SHA256_DIGEST_LEN];

	sha256_final(&h->inner, d);
	sha256_update(&h->outer, d, sizeof(d));
	sha256_final(&h->outer, out);
	explicit_bzero(d, sizeof(d));
	explicit_bzero(h, sizeof(*h));
}

/*
 * Whether two digests differ, in a time that does not depend on where:
 * the libbsd we build with (0.11) has no timingsafe_bcmp().
 */
int
digest_differ(const void *a, const void *b, size_t len)
{
	const volatile uint8_t	*p = a, *q = b;
	uint8_t			 d = 0;
	size_t			 i;

	for (i = 0; i < len; i++)
		d |= p[i] ^ q[i];
	return (d != 0);
}
