/*
 * weights/sha256.h - SHA-256 (FIPS 180-4), written out by hand, for checking
 * downloaded files against pinned checksums. A portable reference, and the
 * x86 SHA instructions (SHA-NI) when the CPU has them, tested against it.
 *
 *   SHA256 h;
 *   sha256_init(&h);
 *   sha256_update(&h, buf, n);              // any number of times
 *   uint8_t digest[32];
 *   sha256_final(&h, digest);
 *   char hex[65];
 *   sha256_hex(digest, hex);                // "e3b0c442..." (lowercase)
 *
 *   char hex[65]; uint64_t size;
 *   if (sha256_file("model.safetensors", hex, &size) != 0) return cli_fail();
 */
#ifndef WEIGHTS_SHA256_H
#define WEIGHTS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];      /* the running hash state */
    uint8_t buf[64];    /* a partial block waiting for more bytes */
    size_t nbuf;        /* bytes in buf */
    uint64_t total;     /* bytes hashed so far */
} SHA256;

void sha256_init(SHA256 *s);
void sha256_update(SHA256 *s, const void *data, size_t n);
/* Pad, finish and write the 32-byte digest. s must be re-initialised before reuse. */
void sha256_final(SHA256 *s, uint8_t digest[32]);
/* The digest as 64 lowercase hex digits plus a NUL. */
void sha256_hex(const uint8_t digest[32], char hex[65]);
/* One call: the hex digest of data[0..n). */
void sha256_hex_of(const void *data, size_t n, char hex[65]);
/* Hash a whole file. *size_out (may be NULL) = its length in bytes.
 * Returns 0, or -1 with err_set() naming the file. */
int sha256_file(const char *path, char hex[65], uint64_t *size_out);

/* Use the x86 SHA extensions when the CPU has them (the default, decided on
 * first use) or the portable reference (on = 0; for tests and benchmarks).
 * Returns 1 if the accelerated path is now in use, else 0. */
int sha256_set_accel(int on);

#endif
