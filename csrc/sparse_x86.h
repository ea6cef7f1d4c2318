/* The x86 helpers of the sparse kernels: non-temporal row copies (the masked fill's
 * STREAM_COPY), and with AVX-512 the bitmap's kept columns (COLLECT), Floyd's draws of many
 * units at once (draws_avx512) and the bitmap tile transpose (tile_rows_avx512) of
 * fi_sparse_bitmap (sparse.c, through the dispatch table).  Each section compiles under its
 * own target.  Self-contained: include anywhere (empty off x86 or with FASTINIT_NO_DISPATCH). */
#ifndef SPARSE_X86_H
#define SPARSE_X86_H

#include <stdint.h>
#include <string.h>

#include "philox.h"
#include "philox_x86.h"
#include "simd.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FASTINIT_NO_DISPATCH)
#include <immintrin.h>

/* d[0 .. n) <- s[0 .. n) by non-temporal stores where d is 16-byte aligned (they write whole
 * lines without reading them first: for the masked fill's rows, which are not read again);
 * SSE2's, so every x86-64 target has it (AVX-512 has a wider one) */
static inline void stream_copy_sse2(char *d, const char *s, size_t n)
{
    size_t k = (16 - ((uintptr_t)d & 15)) & 15;
    if (k > n) k = n;
    memcpy(d, s, k);
    for (; k + 16 <= n; k += 16) _mm_stream_si128((__m128i *)(d + k), _mm_loadu_si128((const __m128i *)(s + k)));
    memcpy(d + k, s + k, n - k);
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi2,prefer-vector-width=512")
/* cols[m ..] <- j0 + the positions of keep's set bits, in order, by two compressing stores
 * (no branch per bit); writes up to 16 lanes past the new count.  Returns the new m. */
FI_INLINE int collect_avx512(uint32_t *cols, int m, uint32_t keep, uint32_t j0)
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i base = _mm512_add_epi32(_mm512_set1_epi32((int)j0), iota);
    _mm512_storeu_si512(cols + m, _mm512_maskz_compress_epi32((__mmask16)keep, base));
    m += __builtin_popcount(keep & 0xffffu);
    _mm512_storeu_si512(cols + m, _mm512_maskz_compress_epi32((__mmask16)(keep >> 16),
                                                              _mm512_add_epi32(base, _mm512_set1_epi32(16))));
    return m + __builtin_popcount(keep >> 16);
}

/* d[0 .. n) <- s[0 .. n) by non-temporal stores where d is 64-byte aligned (they write whole
 * lines without reading them first: for the masked fill's rows, which are not read again) */
FI_INLINE void stream_copy_avx512(char *d, const char *s, size_t n)
{
    size_t k = (64 - ((uintptr_t)d & 63)) & 63;
    if (k > n) k = n;
    memcpy(d, s, k);
    for (; k + 64 <= n; k += 64) _mm512_stream_si512((void *)(d + k), _mm512_loadu_si512((const void *)(s + k)));
    memcpy(d + k, s + k, n - k);
}
/* Floyd's draws d = 0 .. nd-1 for the t <= 64 units ua .. ua+t-1 (fi_sparse_bitmap): unit u's
 * set is the bitmap sets[u * W ..].  Sixteen units per vector, four vectors side by side (their
 * gathers overlap): Lemire's multiply-shift on the first word (the rare lane that may be
 * rejected is redone by uniform_below), then a gather, select and scatter of each unit's set
 * word; units' sets are disjoint, so no two lanes of a scatter meet. */
static void draws_avx512(const uint32_t kw[4], uint64_t units, uint64_t ua, int t, uint32_t n, uint32_t nd,
                         uint32_t *sets, int64_t W)
{
    uint32_t w[2][8][16] __attribute__((aligned(64)));
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i one = _mm512_set1_epi32(1), c31 = _mm512_set1_epi32(31);
    const __m512i stride = _mm512_mullo_epi32(iota, _mm512_set1_epi32((int)W)); /* < 16 W < 2^31 */
    __mmask16 act[4];
    for (int h = 0; h < 4; h++) { /* lane L of vector h is unit 16h + L */
        int lanes = t - 16 * h < 0 ? 0 : t - 16 * h > 16 ? 16 : t - 16 * h;
        act[h] = (__mmask16)((1u << lanes) - 1u);
    }
    const int nv = (t + 15) / 16;
    for (uint32_t d = 0; d < nd; d++) {
        philox32_avx512(kw, (uint64_t)d * units + ua, w[0]);
        if (t > 32) philox32_avx512(kw, (uint64_t)d * units + ua + 32, w[1]);
        const uint32_t j = n - nd + d;
        const __m512i vbound = _mm512_set1_epi32((int)(j + 1)), vj = _mm512_set1_epi32((int)j);
        __m512i x[4], idx[4], g[4], bit[4];
        for (int h = 0; h < nv; h++) {
            const uint32_t (*wh)[16] = &w[h / 2][4 * (h % 2)]; /* words 0..3 of vector h's blocks */
            __m512i lo;
            x[h] = fi_mulhilo512(_mm512_loadu_si512(wh[0]), vbound, &lo);
            __mmask16 redo = _mm512_mask_cmplt_epu32_mask(act[h], lo, vbound);
            if (redo) {
                uint32_t xs[16];
                _mm512_storeu_si512(xs, x[h]);
                for (int L = 0; L < 16; L++)
                    if ((redo >> L) & 1) {
                        const uint32_t w4[4] = {wh[0][L], wh[1][L], wh[2][L], wh[3][L]};
                        xs[L] = uniform_below(w4, j + 1);
                    }
                x[h] = _mm512_loadu_si512(xs);
            }
            idx[h] = _mm512_add_epi32(stride, _mm512_srli_epi32(x[h], 5));
            g[h] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), act[h], idx[h], sets + 16 * h * W, 4);
            bit[h] = _mm512_sllv_epi32(one, _mm512_and_si512(x[h], c31));
        }
        for (int h = 0; h < nv; h++) {
            __mmask16 taken = _mm512_mask_test_epi32_mask(act[h], g[h], bit[h]);
            if (taken) { /* x already drawn: j instead, which no earlier draw can have given */
                x[h] = _mm512_mask_mov_epi32(x[h], taken, vj);
                idx[h] = _mm512_add_epi32(stride, _mm512_srli_epi32(x[h], 5));
                g[h] = _mm512_mask_i32gather_epi32(g[h], taken, idx[h], sets + 16 * h * W, 4);
                bit[h] = _mm512_sllv_epi32(one, _mm512_and_si512(x[h], c31));
            }
            _mm512_mask_i32scatter_epi32(sets + 16 * h * W, act[h], idx[h], _mm512_or_si512(g[h], bit[h]), 4);
        }
    }
}

/* a[r] <- bit r of sets[u * W + q] as bit u, u < 32 (a 32x32 bit transpose: the rows of a tile
 * of 32 units, rows 32q .. 32q+31), by one test per row on two 16-unit vectors */
static void tile_rows_avx512(const uint32_t *sets, int64_t W, int64_t q, uint32_t a[32])
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i stride = _mm512_mullo_epi32(iota, _mm512_set1_epi32((int)W));
    const __m512i v0 = _mm512_i32gather_epi32(stride, sets + q, 4);
    const __m512i v1 = _mm512_i32gather_epi32(stride, sets + 16 * W + q, 4);
    for (int r = 0; r < 32; r++) {
        const __m512i bit = _mm512_set1_epi32((int)(1u << r));
        a[r] = (uint32_t)_mm512_test_epi32_mask(v0, bit) | (uint32_t)_mm512_test_epi32_mask(v1, bit) << 16;
    }
}
#pragma GCC pop_options

#endif
#endif
