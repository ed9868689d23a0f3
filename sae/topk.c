/*
 * sae/topk.c - top-k of a row (sae/topk.h): the heap reference, and the
 * fast path beside it.
 *
 * Fast path. Each float maps to a uint32 key that orders as the floats do:
 *   key(x) = bits(x) | 0x80000000 for x >= 0,  ~bits(x) for x < 0,
 * after -0 -> +0 (x + 0.0f), so keys are equal exactly when the floats
 * compare equal, and a tie stays a tie.
 *   1. Sample: nb = clamp(n / 1024, 16, 4096) blocks of 16 values spread
 *      over the row (s = 16 nb values). With e = k s / n, the number of
 *      sampled values expected above the k-th largest, the threshold t is the
 *      r1-th largest sampled key, r1 = e + 2 sqrt(e) + 2: t lies above the
 *      k-th largest value only if r1 samples beat it, a Poisson tail (0.2% at
 *      e = 0.5); then the filter runs once more with r2 = 2 r1 + 8.
 *   2. Filter: one pass collects (key, index) of every selectable value with
 *      key >= t, in index order, as the float compare z >= x with key(x) = t
 *      (AVX-512: 64 values a branch, a compress for the few that pass). Every
 *      value that beats the k-th best has a key >= t, so the answer is among
 *      these m >= k candidates.
 *   3. Keep the k best: T = the k-th largest candidate key (a quickselect
 *      whose partitions do not branch on the data);
 *      every key > T and the first keys == T in index order (the tie rule).
 *      Sort them by key descending, stably (LSD radix, or insertion when
 *      short): equal keys keep index order.
 * When t was still too high (m < k) or too low (m over the buffer: heavy
 * ties), an exact radix select over the row (histograms of key bits 31..21,
 * 20..10, 9..0 among the keys sharing the bits found so far; four passes)
 * gives T. A NaN among the selectable values sends the row to the reference.
 * Every step has a portable loop beside its AVX-512 one (simd 0 runs them).
 */
#include "sae/topk.h"
#include "core/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define TOPK_AVX512 1
#else
#define TOPK_AVX512 0
#endif

/* ---- reference ---------------------------------------------------------- */

/* The k best of z under mask: a min-heap of size k ordered by (value desc,
 * index asc). Scanning indices upward, a later equal value never displaces a
 * kept one, which is the stable sort's tie rule. */
static int better(const float *z, int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); }

static void sift_down(int *h, int k, int pos, const float *z) {
    for (;;) {
        int l = 2 * pos + 1, r = l + 1, w = pos;
        if (l < k && better(z, h[w], h[l])) w = l;
        if (r < k && better(z, h[w], h[r])) w = r;
        if (w == pos) return;
        int t = h[w]; h[w] = h[pos]; h[pos] = t;
        pos = w;
    }
}

int sae_topk_row_ref(const float *z, int n, int k, const unsigned char *mask, int *idx) {
    if (k < 1) return 0;
    int cnt = 0;
    for (int i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        if (cnt < k) {
            /* sift up: the heap root is the worst kept (smallest value, highest index) */
            int pos = cnt++;
            idx[pos] = i;
            while (pos > 0) {
                int par = (pos - 1) / 2;
                if (!better(z, idx[par], idx[pos])) break;
                int t = idx[par]; idx[par] = idx[pos]; idx[pos] = t;
                pos = par;
            }
        } else if (z[i] > z[idx[0]]) {
            idx[0] = i;
            sift_down(idx, k, 0, z);
        }
    }
    /* heap-sort into descending order: pop the worst to the end */
    for (int e = cnt - 1; e > 0; e--) {
        int t = idx[0]; idx[0] = idx[e]; idx[e] = t;
        sift_down(idx, e, 0, z);
    }
    return cnt;
}

/* ---- fast path ---------------------------------------------------------- */

enum { TOPK_NAN = -2, TOPK_FULL = -1 };
/* every non-NaN key lies in [KEY_NINF, KEY_PINF]; a threshold t = 0 takes every value */
#define KEY_PINF 0xFF800000u /* key(+inf) */
#define KEY_NINF 0x007FFFFFu /* key(-inf) */

static inline uint32_t key_of(float x) {
    x += 0.0f; /* -0 -> +0 */
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return (b >> 31) ? ~b : b | 0x80000000u;
}

/* The float x with key(x) = t, t clamped to [KEY_NINF, KEY_PINF]: for z not
 * NaN, z >= x exactly when key(z) >= t (the clamped t). */
static float float_of_key(uint32_t t) {
    t = t < KEY_NINF ? KEY_NINF : t > KEY_PINF ? KEY_PINF : t;
    uint32_t b = (t & 0x80000000u) ? t ^ 0x80000000u : ~t;
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* (key, index) of every selectable z[i] with key >= t, in index order, into
 * ck, ci (room for cap + 16). Returns the count, TOPK_FULL when more than cap
 * pass (the scan stops there), TOPK_NAN when a selectable value is NaN. The
 * test is z[i] >= x on floats (x = float_of_key(t)), -0 == +0 included. */
static long filter_scalar(const float *z, long n, const unsigned char *mask, uint32_t t, uint32_t *ck, int *ci,
                          long cap) {
    const float x = float_of_key(t);
    long m = 0;
    for (long i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        if (z[i] != z[i]) return TOPK_NAN;
        if (!(z[i] >= x)) continue;
        if (m == cap) return TOPK_FULL;
        ck[m] = key_of(z[i]), ci[m++] = (int)i;
    }
    return m;
}

#if TOPK_AVX512
/* key_of on 16 lanes */
static inline __m512i key16(__m512 v) {
    __m512i b = _mm512_castps_si512(_mm512_add_ps(v, _mm512_setzero_ps()));
    return _mm512_xor_si512(b, _mm512_or_si512(_mm512_srai_epi32(b, 31), _mm512_set1_epi32((int)0x80000000u)));
}

/* The selectable lanes of z[i..i+16) (lm: those inside the row) */
static inline __mmask16 lanes16(const unsigned char *mask, long i, __mmask16 lm) {
    if (!mask) return lm;
    __m128i mb = _mm_maskz_loadu_epi8(lm, mask + i);
    return _mm_mask_test_epi8_mask(lm, mb, mb);
}

/* Appends the indices i + lane of the lanes sel to ci at m: a compress into
 * a register and a 16-wide store (hence the 16 spare slots; the memory form
 * of vpcompressd is slow on some cores). Returns the new m, or TOPK_FULL
 * past cap. */
static inline long emit16(int *ci, long m, long cap, __mmask16 sel, long i) {
    if (!sel) return m;
    const long c = __builtin_popcount(sel);
    if (m + c > cap) return TOPK_FULL;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    _mm512_storeu_si512(ci + m, _mm512_maskz_compress_epi32(sel, _mm512_add_epi32(iota, _mm512_set1_epi32((int)i))));
    return m + c;
}

/* filter_scalar, 16 values a compare; without a mask, 64 values a branch
 * (taken when one passes or is NaN: fpclass 0x81, quiet or signalling). The
 * keys of the few that pass are made afterwards. */
static long filter_avx512(const float *z, long n, const unsigned char *mask, uint32_t t, uint32_t *ck, int *ci,
                          long cap) {
    const __m512 x = _mm512_set1_ps(float_of_key(t));
    long m = 0, i = 0;
    if (!mask)
        for (; i + 64 <= n; i += 64) {
            const __m512 v0 = _mm512_loadu_ps(z + i), v1 = _mm512_loadu_ps(z + i + 16);
            const __m512 v2 = _mm512_loadu_ps(z + i + 32), v3 = _mm512_loadu_ps(z + i + 48);
            const __mmask16 s0 = _mm512_cmp_ps_mask(v0, x, _CMP_GE_OQ), s1 = _mm512_cmp_ps_mask(v1, x, _CMP_GE_OQ);
            const __mmask16 s2 = _mm512_cmp_ps_mask(v2, x, _CMP_GE_OQ), s3 = _mm512_cmp_ps_mask(v3, x, _CMP_GE_OQ);
            const __mmask16 q = _mm512_fpclass_ps_mask(v0, 0x81) | _mm512_fpclass_ps_mask(v1, 0x81) |
                                _mm512_fpclass_ps_mask(v2, 0x81) | _mm512_fpclass_ps_mask(v3, 0x81);
            if (!(s0 | s1 | s2 | s3 | q)) continue;
            if (q) return TOPK_NAN;
            if ((m = emit16(ci, m, cap, s0, i)) < 0 || (m = emit16(ci, m, cap, s1, i + 16)) < 0 ||
                (m = emit16(ci, m, cap, s2, i + 32)) < 0 || (m = emit16(ci, m, cap, s3, i + 48)) < 0)
                return TOPK_FULL; /* select_exact looks for NaN itself */
        }
    for (; i < n; i += 16) {
        const __mmask16 lm = lanes16(mask, i, n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1));
        const __m512 v = _mm512_maskz_loadu_ps(lm, z + i);
        if (_mm512_mask_fpclass_ps_mask(lm, v, 0x81)) return TOPK_NAN;
        if ((m = emit16(ci, m, cap, _mm512_mask_cmp_ps_mask(lm, v, x, _CMP_GE_OQ), i)) < 0) return TOPK_FULL;
    }
    for (long e = 0; e < m; e++) ck[e] = key_of(z[ci[e]]);
    return m;
}

/* The sample's keys (the selectable of nb blocks of 16 at j (n / nb)) into sk; returns how many. */
static long sample_avx512(const float *z, long n, const unsigned char *mask, long nb, uint32_t *sk) {
    long sv = 0;
    for (long j = 0; j < nb; j++) {
        const long i = j * (n / nb);
        const __mmask16 lm = lanes16(mask, i, 0xFFFF);
        _mm512_storeu_si512(sk + sv, _mm512_maskz_compress_epi32(lm, key16(_mm512_maskz_loadu_ps(lm, z + i))));
        sv += __builtin_popcount(lm);
    }
    return sv;
}
#endif

/* Sorts m (key, index) pairs by key descending, stably: LSD radix on ~key a
 * byte a pass, skipping a byte every key shares; insertion sort when short.
 * (*ck, *ci) and the scratch (*tk, *ti) may trade places: the sorted pairs
 * are in (*ck, *ci) on return. */
static void sort_desc(uint32_t **pck, int **pci, uint32_t **ptk, int **pti, long m) {
    uint32_t *ck = *pck, *tk = *ptk;
    int *ci = *pci, *ti = *pti;
    if (m <= 64) {
        for (long e = 1; e < m; e++) {
            uint32_t key = ck[e];
            int i = ci[e];
            long f = e;
            for (; f > 0 && ck[f - 1] < key; f--) ck[f] = ck[f - 1], ci[f] = ci[f - 1];
            ck[f] = key, ci[f] = i;
        }
        return;
    }
    uint32_t cnt[4][256] = {{0}};
    for (long e = 0; e < m; e++) {
        uint32_t d = ~ck[e];
        cnt[0][d & 255]++, cnt[1][(d >> 8) & 255]++, cnt[2][(d >> 16) & 255]++, cnt[3][d >> 24]++;
    }
    for (int p = 0; p < 4; p++) {
        const int sh = 8 * p;
        if (cnt[p][(~ck[0] >> sh) & 255] == (uint32_t)m) continue;
        uint32_t sum = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t c = cnt[p][b];
            cnt[p][b] = sum, sum += c;
        }
        for (long e = 0; e < m; e++) {
            uint32_t o = cnt[p][(~ck[e] >> sh) & 255]++;
            tk[o] = ck[e], ti[o] = ci[e];
        }
        uint32_t *sk = ck; ck = tk, tk = sk;
        int *si = ci; ci = ti, ti = si;
    }
    *pck = ck, *pci = ci, *ptk = tk, *pti = ti;
}

/* The r-th largest (1-based, 1 <= r <= m) of a (m), a untouched: three-way
 * partitions around a median of three; each pass writes the keys above the
 * pivot and those below into two of the scratch buffers w[0..2] (room for
 * m + 16 each), with no branch on the data (AVX-512: two compresses per 16
 * keys), and goes on in the part that holds r. */
static uint32_t kth_largest(const uint32_t *a, long m, long r, uint32_t *const w[3], int simd) {
    const uint32_t *src = a;
    uint32_t *hi = w[0], *lo = w[1], *spare = w[2];
    long want = r - 1; /* its place in descending order */
    for (;;) {
        const uint32_t x = src[0], y = src[m / 2], v = src[m - 1];
        const uint32_t piv = x < y ? (y < v ? y : x < v ? v : x) : (x < v ? x : y < v ? v : y);
        long g = 0, l = 0;
#if TOPK_AVX512
        if (simd) {
            const __m512i p = _mm512_set1_epi32((int)piv);
            for (long e = 0; e < m; e += 16) {
                const __mmask16 lm = m - e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (m - e)) - 1);
                const __m512i v = _mm512_maskz_loadu_epi32(lm, src + e);
                const __mmask16 gt = _mm512_mask_cmpgt_epu32_mask(lm, v, p), lt = _mm512_mask_cmplt_epu32_mask(lm, v, p);
                _mm512_storeu_si512(hi + g, _mm512_maskz_compress_epi32(gt, v));
                _mm512_storeu_si512(lo + l, _mm512_maskz_compress_epi32(lt, v));
                g += __builtin_popcount(gt), l += __builtin_popcount(lt);
            }
        } else
#endif
            for (long e = 0; e < m; e++) {
                const uint32_t key = src[e];
                hi[g] = key, g += key > piv;
                lo[l] = key, l += key < piv;
            }
        uint32_t *freed = src == a ? spare : (uint32_t *)src; /* src is a scratch buffer past the first pass */
        if (want < g) {
            src = hi, hi = freed, m = g;
        } else if (want < m - l) {
            return piv;
        } else {
            want -= m - l;
            src = lo, lo = freed, m = l;
        }
    }
    (void)simd;
}

/* Keeps the k best of m > k candidates in index order (ck, ci), in place:
 * with T the k-th largest key, every key > T and the first keys == T.
 * Returns k. */
static long keep_best(uint32_t *ck, int *ci, long m, int k, uint32_t *const w[3], int simd) {
    const uint32_t T = kth_largest(ck, m, k, w, simd);
    long need = k, n = 0;
    for (long e = 0; e < m; e++) need -= ck[e] > T;
    for (long e = 0; e < m; e++)
        if (ck[e] > T || (ck[e] == T && need-- > 0)) ck[n] = ck[e], ci[n++] = ci[e];
    return n;
}

/* filter_avx512 or filter_scalar */
static long filter(const float *z, long n, const unsigned char *mask, uint32_t t, uint32_t *ck, int *ci, long cap,
                   int simd) {
#if TOPK_AVX512
    if (simd) return filter_avx512(z, n, mask, t, ck, ci, cap);
#endif
    (void)simd;
    return filter_scalar(z, n, mask, t, ck, ci, cap);
}

/* One pass of the exact select: hist[bin] counts the selectable keys with
 * (key & pmask) == prefix by their bits (key >> shift) & w. A run of keys in
 * one bin is counted in a register (ties). Returns how many were counted, or
 * TOPK_NAN. */
static long hist_pass(const float *z, long n, const unsigned char *mask, uint32_t prefix, uint32_t pmask, int shift,
                      uint32_t w, uint32_t *hist, int simd) {
    long total = 0, i = 0;
    uint32_t last = 0, run = 0;
#if TOPK_AVX512
    if (simd) {
        const __m512i pv = _mm512_set1_epi32((int)prefix), pm = _mm512_set1_epi32((int)pmask);
        const __m512i wv = _mm512_set1_epi32((int)w);
        const __m128i sh = _mm_cvtsi32_si128(shift);
        for (; i < n; i += 16) {
            const __mmask16 lm = lanes16(mask, i, n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1));
            const __m512 v = _mm512_maskz_loadu_ps(lm, z + i);
            if (_mm512_mask_fpclass_ps_mask(lm, v, 0x81)) return TOPK_NAN;
            const __m512i key = key16(v);
            const __mmask16 in = _mm512_mask_cmpeq_epi32_mask(lm, _mm512_and_si512(key, pm), pv);
            if (!in) continue;
            const __m512i bin = _mm512_and_si512(_mm512_srl_epi32(key, sh), wv);
            const __mmask16 same = _mm512_mask_cmpeq_epi32_mask(in, bin, _mm512_set1_epi32((int)last));
            total += __builtin_popcount(in), run += (uint32_t)__builtin_popcount(same);
            if (same == in) continue;
            uint32_t b[16];
            _mm512_storeu_si512(b, bin);
            for (unsigned r = in & ~same; r; r &= r - 1) hist[b[__builtin_ctz(r)]]++;
            hist[last] += run; /* the run goes on from the block's last lane */
            last = b[31 - __builtin_clz(in)], run = 0;
        }
    }
#endif
    (void)simd;
    for (; i < n; i++) {
        if (mask && !mask[i]) continue;
        if (z[i] != z[i]) return TOPK_NAN;
        const uint32_t key = key_of(z[i]);
        if ((key & pmask) != prefix) continue;
        const uint32_t bin = (key >> shift) & w;
        total++;
        if (bin == last) {
            run++;
            continue;
        }
        hist[last] += run;
        last = bin, run = 1;
    }
    hist[last] += run;
    return total;
}

/* The exact selection: min(k, selectable) pairs into ck, ci (room for k +
 * 16), in index order, or TOPK_NAN. */
static long select_exact(const float *z, long n, const unsigned char *mask, int k, uint32_t *ck, int *ci, int simd) {
    static const int shift[3] = {21, 10, 0}, bits[3] = {11, 11, 10};
    uint32_t hist[2048];
    uint32_t prefix = 0, pmask = 0; /* the top bits of T found so far */
    long need = k;                  /* how many of the keys sharing them still to take */
    for (int p = 0; p < 3; p++) {
        const uint32_t w = (1u << bits[p]) - 1;
        memset(hist, 0, sizeof hist);
        const long total = hist_pass(z, n, mask, prefix, pmask, shift[p], w, hist, simd);
        if (total == TOPK_NAN) return TOPK_NAN;
        if (p == 0 && total <= k) return filter(z, n, mask, 0, ck, ci, k, simd);
        long b = w;
        while (hist[b] < need) need -= hist[b--];
        prefix |= (uint32_t)b << shift[p], pmask |= w << shift[p];
    }
    /* every key > T = prefix, and the first need keys == T */
    long m = 0, i = 0;
#if TOPK_AVX512
    if (simd) {
        const __m512i T = _mm512_set1_epi32((int)prefix);
        for (; i < n; i += 16) {
            const __mmask16 lm = lanes16(mask, i, n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1));
            const __m512i key = key16(_mm512_maskz_loadu_ps(lm, z + i));
            __mmask16 eq = _mm512_mask_cmpeq_epi32_mask(lm, key, T);
            if (need >= __builtin_popcount(eq)) need -= __builtin_popcount(eq);
            else if (need <= 0) eq = 0;
            else /* the first need lanes == T, the rest dropped */
                for (unsigned r = eq; r; r &= r - 1)
                    if (need-- <= 0) eq &= (__mmask16)~(r & -r);
            const __mmask16 sel = _mm512_mask_cmpgt_epu32_mask(lm, key, T) | eq;
            _mm512_storeu_si512(ck + m, _mm512_maskz_compress_epi32(sel, key));
            m = emit16(ci, m, n, sel, i);
        }
    }
#endif
    for (; i < n; i++) {
        if (mask && !mask[i]) continue;
        uint32_t key = key_of(z[i]);
        if (key > prefix || (key == prefix && need-- > 0)) ck[m] = key, ci[m++] = (int)i;
    }
    return m;
}

int sae_topk_row_fast(const float *z, int n, int k, const unsigned char *mask, int *idx, int simd) {
    if (k < 1 || n < 1) return 0;
    /* the sample's size s and ranks r1 (first try) and r2 (second); s = 0:
     * every selectable value is a candidate */
    long nb = n / 1024, s = 0, cap = n, r1 = 0, r2 = 0;
    nb = nb < 16 ? 16 : nb > 4096 ? 4096 : nb;
    if (n >= 4096 && 4.0 * k < n) {
        s = 16 * nb;
        const double e = (double)k * s / n;
        r1 = (long)ceil(e + 2.0 * sqrt(e) + 2.0);
        r2 = 2 * r1 + 8;
        cap = (long)(2.0 * r2 * n / s) + k + 64;
        if (cap > n) cap = n;
    }
    /* (key, index) candidates and the sort's scratch (room each), the
     * sample's keys (s), kth_largest's three scratch buffers (16 more than either) */
    const long room = cap + 16, wn = room > s + 16 ? room : s + 16;
    uint32_t *base = xmalloc((size_t)(4 * room + s + 3 * wn) * sizeof(uint32_t));
    uint32_t *ck = base, *tk = ck + room, *sk = tk + room;
    uint32_t *const w[3] = {sk + s, sk + s + wn, sk + s + 2 * wn};
    int *ci = (int *)(w[2] + wn), *ti = ci + room;
    long m;
    if (!s) {
        m = filter(z, n, mask, 0, ck, ci, cap, simd);
    } else {
        /* 1. the sample; t from rank r1 (0: fewer selectable samples than r1) */
        long sv = 0;
#if TOPK_AVX512
        if (simd) sv = sample_avx512(z, n, mask, nb, sk);
        else
#endif
            for (long j = 0; j < nb; j++)
                for (long i = j * (n / nb), end = i + 16; i < end; i++)
                    if (!mask || mask[i]) sk[sv++] = key_of(z[i]);
        uint32_t t = r1 <= sv ? kth_largest(sk, sv, r1, w, simd) : 0;
        /* 2. the candidates: every selectable key >= t */
        m = filter(z, n, mask, t, ck, ci, cap, simd);
        if (m >= 0 && m < k && t != 0) { /* t too high: once more from rank r2 */
            t = r2 <= sv ? kth_largest(sk, sv, r2, w, simd) : 0;
            m = filter(z, n, mask, t, ck, ci, cap, simd);
            if (m >= 0 && m < k && t != 0) m = TOPK_FULL;
        }
    }
    /* still too high, or too low (over cap): the exact selection */
    if (m == TOPK_FULL) m = select_exact(z, n, mask, k, ck, ci, simd);
    else if (m > k) m = keep_best(ck, ci, m, k, w, simd);
    if (m == TOPK_NAN) {
        free(base);
        return sae_topk_row_ref(z, n, k, mask, idx);
    }
    /* 3. the min(k, selectable) kept, sorted */
    sort_desc(&ck, &ci, &tk, &ti, m);
    memcpy(idx, ci, (size_t)m * sizeof(int));
    free(base);
    return (int)m;
}

int sae_topk_row(const float *z, int n, int k, const unsigned char *mask, int *idx) {
    return sae_topk_row_fast(z, n, k, mask, idx, 1);
}
