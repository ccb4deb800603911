/* sha256.h - SHA-256 (FIPS 180-4), streaming and one-shot, with lowercase hex output.
 *
 * Used for content hashes of input files (idempotent ingest) and images (each distinct image stored
 * and decoded once). Not a general crypto library: no HMAC, no constant-time guarantees. */
#ifndef ENG_SHA256_H
#define ENG_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define ENG_SHA256_LEN     32
#define ENG_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

typedef struct eng_sha256_ctx {
	uint32_t h[8];
	uint64_t bytes;  /* total message length so far */
	uint8_t buf[64]; /* pending partial block */
	size_t nbuf;
} eng_sha256_ctx;

void eng_sha256_init(eng_sha256_ctx *s);
/* Feeds n bytes (data may be NULL when n == 0). */
void eng_sha256_update(eng_sha256_ctx *s, const void *data, size_t n);
/* Writes the 32-byte digest; s must be re-initialised before reuse. */
void eng_sha256_final(eng_sha256_ctx *s, uint8_t out[ENG_SHA256_LEN]);

/* One-shot digest of data[0..n). */
void eng_sha256(const void *data, size_t n, uint8_t out[ENG_SHA256_LEN]);

/* Lowercase hex of a digest into hex (65 bytes incl. NUL). */
void eng_sha256_hex(const uint8_t digest[ENG_SHA256_LEN], char hex[ENG_SHA256_HEX_LEN]);

/* One-shot digest of data[0..n) as lowercase hex. */
void eng_sha256_hex_of(const void *data, size_t n, char hex[ENG_SHA256_HEX_LEN]);

#endif
