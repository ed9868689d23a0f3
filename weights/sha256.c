/* weights/sha256.c - SHA-256 as in FIPS 180-4 section 6.2. See sha256.h. */
#include "weights/sha256.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* The reference: process one 64-byte block. Expand it into the message
 * schedule W[0..64) and run the 64 rounds of the compression function. */
static void sha256_block_ref(uint32_t h[8], const uint8_t *p) {
    uint32_t W[64];
    for (int t = 0; t < 16; t++)
        W[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
               (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(W[t - 15], 7) ^ rotr(W[t - 15], 18) ^ (W[t - 15] >> 3);  /* sigma0 */
        uint32_t s1 = rotr(W[t - 2], 17) ^ rotr(W[t - 2], 19) ^ (W[t - 2] >> 10);    /* sigma1 */
        W[t] = W[t - 16] + s0 + W[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t T1 = hh + S1 + ch + K[t] + W[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t T2 = S0 + maj;
        hh = g; g = f; f = e; e = d + T1;
        d = c; c = b; b = a; a = T1 + T2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define SHA256_HAVE_NI 1
/* The same compression with the x86 SHA extensions (Intel's SHA-NI, also on
 * AMD Zen): sha256rnds2 does two rounds, sha256msg1/msg2 the schedule. The
 * state is kept as the two halves ABEF and CDGH that the instructions want.
 * Message words W[4i..4i+4) live in w[i % 4]. Tested against the reference
 * (tests/test_sha256.c runs every check on both). */
__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    const __m128i BSWAP = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                                     /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                                          /* CDGH */
    for (; nblocks > 0; nblocks--, p += 64) {
        __m128i save0 = st0, save1 = st1, w[4], msg;
        for (int i = 0; i < 16; i++) {
            if (i < 4) w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), BSWAP);
            msg = _mm_add_epi32(w[i % 4], _mm_loadu_si128((const __m128i *)&K[4 * i]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);                /* rounds 4i, 4i+1 */
            if (i >= 3 && i < 15) {                                    /* W[4i+4..4i+8) */
                __m128i t = _mm_alignr_epi8(w[i % 4], w[(i + 3) % 4], 4);
                w[(i + 1) % 4] = _mm_sha256msg2_epu32(_mm_add_epi32(w[(i + 1) % 4], t), w[i % 4]);
            }
            msg = _mm_shuffle_epi32(msg, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, msg);                /* rounds 4i+2, 4i+3 */
            if (i >= 1 && i < 13) w[(i + 3) % 4] = _mm_sha256msg1_epu32(w[(i + 3) % 4], w[i % 4]);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);      /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);      /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);   /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);      /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], st0);
    _mm_storeu_si128((__m128i *)&h[4], st1);
}

static int cpu_has_sha_ni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int sha = (b >> 29) & 1;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return sha && (c & bit_SSE4_1) && (c & bit_SSSE3);
}
#else
#define SHA256_HAVE_NI 0
#endif

static int g_accel = -1; /* -1: not decided yet; 0: reference; 1: SHA-NI */

int sha256_set_accel(int on) {
#if SHA256_HAVE_NI
    g_accel = on && cpu_has_sha_ni();
#else
    (void)on;
    g_accel = 0;
#endif
    return g_accel;
}

static void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    if (g_accel < 0) sha256_set_accel(1);
#if SHA256_HAVE_NI
    if (g_accel) {
        sha256_blocks_ni(h, p, nblocks);
        return;
    }
#endif
    for (; nblocks > 0; nblocks--, p += 64) sha256_block_ref(h, p);
}

void sha256_init(SHA256 *s) {
    /* the first 32 bits of the fractional parts of the square roots of the first 8 primes */
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, H0, sizeof H0);
    s->nbuf = 0;
    s->total = 0;
}

void sha256_update(SHA256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->total += n;
    if (s->nbuf) { /* top up the partial block first */
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take; p += take; n -= take;
        if (s->nbuf < 64) return;
        sha256_blocks(s->h, s->buf, 1);
        s->nbuf = 0;
    }
    size_t nb = n / 64;
    if (nb) sha256_blocks(s->h, p, nb);
    p += nb * 64;
    n -= nb * 64;
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

void sha256_final(SHA256 *s, uint8_t digest[32]) {
    /* padding: a 1 bit, zeros up to 56 mod 64 bytes, then the length in bits (big-endian) */
    uint64_t bits = s->total * 8;
    uint8_t pad[72] = {0x80};
    size_t npad = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
    for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, npad + 8);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(s->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = d[digest[i] >> 4];
        hex[2 * i + 1] = d[digest[i] & 15];
    }
    hex[64] = 0;
}

void sha256_hex_of(const void *data, size_t n, char hex[65]) {
    SHA256 s;
    uint8_t dg[32];
    sha256_init(&s);
    sha256_update(&s, data, n);
    sha256_final(&s, dg);
    sha256_hex(dg, hex);
}

int sha256_file(const char *path, char hex[65], uint64_t *size_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = xmalloc(CHUNK);
    SHA256 s;
    sha256_init(&s);
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) sha256_update(&s, buf, got);
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    free(buf);
    if (bad) return err_set("%s: read error: %s", path, strerror(e));
    if (size_out) *size_out = s.total;
    uint8_t dg[32];
    sha256_final(&s, dg);
    sha256_hex(dg, hex);
    return 0;
}
