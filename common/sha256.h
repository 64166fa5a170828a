/*
 * SHA-256 (FIPS 180-4), for the audit log's digest of the code each
 * execution ran, and HMAC-SHA256 (RFC 2104) for the broker's snapshots.
 * None of our dependencies has them (libbsd does not).
 */

#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN	32
#define SHA256_HEX_LEN		(SHA256_DIGEST_LEN * 2 + 1)

struct sha256 {
	uint32_t	h[8];
	uint64_t	len;		/* bytes so far */
	uint8_t		buf[64];
	size_t		used;
};

/* The inner hash under way, the outer one keyed and waiting for it. */
struct hmac_sha256 {
	struct sha256	inner;
	struct sha256	outer;
};

void	 sha256_init(struct sha256 *);
void	 sha256_update(struct sha256 *, const void *, size_t);
void	 sha256_final(struct sha256 *, uint8_t[SHA256_DIGEST_LEN]);
void	 sha256_hex(const void *, size_t, char[SHA256_HEX_LEN]);
int	 sha256_accelerated(int);
int	 digest_differ(const void *, const void *, size_t);
void	 hmac_sha256_init(struct hmac_sha256 *, const void *, size_t);
void	 hmac_sha256_update(struct hmac_sha256 *, const void *, size_t);
void	 hmac_sha256_final(struct hmac_sha256 *, uint8_t[SHA256_DIGEST_LEN]);

#endif /* SHA256_H */
