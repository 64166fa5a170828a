/*
 * SHA-256 as FIPS 180-4 specifies it: 64-byte blocks, big-endian words,
 * the message padded with 0x80, zeros and its length in bits.
 */

#include <stdio.h>
#include <string.h>

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

static void
sha256_block(struct sha256 *c, const uint8_t *p)
{
	uint32_t	w[64], v[8], t1, t2;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[i * 4] << 24 | (uint32_t)p[i * 4 + 1] << 16 |
		    (uint32_t)p[i * 4 + 2] << 8 | p[i * 4 + 3];
	for (; i < 64; i++)
		w[i] = (ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^
		    (w[i - 2] >> 10)) + w[i - 7] + (ROTR(w[i - 15], 7) ^
		    ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
	memcpy(v, c->h, sizeof(v));
	for (i = 0; i < 64; i++) {
		t1 = v[7] + (ROTR(v[4], 6) ^ ROTR(v[4], 11) ^ ROTR(v[4], 25)) +
		    ((v[4] & v[5]) ^ (~v[4] & v[6])) + k[i] + w[i];
		t2 = (ROTR(v[0], 2) ^ ROTR(v[0], 13) ^ ROTR(v[0], 22)) +
		    ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		c->h[i] += v[i];
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
