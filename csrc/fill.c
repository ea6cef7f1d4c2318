/* fastinit fill kernels with runtime instruction-set dispatch.
 *
 * The kernel source (fimath.h, fill_impl.h) is C with GCC vector extensions, compiled here
 * once per target at its native vector width:
 * baseline x86-64 (SSE2), AVX2, AVX-512 and AVX-512 with BF16, each under its own target pragma, and
 * chosen at first use from CPUID.  So one build runs on any x86-64 CPU and uses the
 * widest vectors the CPU has; FASTINIT_ISA (read by the Python layer) overrides.
 * All copies give the same bits: only IEEE arithmetic, no contraction (-ffp-contract=off).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "fastinit.h"
#include "fitables.h"
#include "philox.h"
#include "simd.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FASTINIT_NO_DISPATCH)
#define FI_X86 1
#include <immintrin.h>
#endif

/* Each target below sets NAME (the suffix), VBYTES (its native vector width), VSQRTF/VSQRTD
 * (correctly rounded vector sqrt), VFMAF (fused multiply-add, where the target has it),
 * PHILOX32 (32 consecutive Philox blocks into uint32_t w[8][16]), PHILOX_LANES (32 arbitrary
 * blocks), COLLECT (kept columns of a bitmap word) and STREAM_COPY/STREAM_FENCE (copies by
 * non-temporal stores), then includes fill_impl.h, which declares the vector types at that
 * width and has portable fallbacks for the last four. */

/* ---- baseline: SSE2 on x86-64, the compiler's generic vectors elsewhere ---------- */
#define NAME(x) x##_base
#define VBYTES 16
#ifdef FI_X86
#define VSQRTF(x) ((vf)_mm_sqrt_ps((__m128)(x)))
#define VSQRTD(x) ((vd)_mm_sqrt_pd((__m128d)(x)))
#define VANY(m) _mm_movemask_ps((__m128)(m)) /* any lane of the comparison mask m set */
#define VMAXF(a, b) ((vf)_mm_max_ps((__m128)(a), (__m128)(b))) /* a > b ? a : b */
#define VMINF(a, b) ((vf)_mm_min_ps((__m128)(a), (__m128)(b))) /* a < b ? a : b */
#define VMAXD(a, b) ((vd)_mm_max_pd((__m128d)(a), (__m128d)(b)))
#define VMIND(a, b) ((vd)_mm_min_pd((__m128d)(a), (__m128d)(b)))

/* hi and lo halves of a * m in each 32-bit lane (SSE2 has no 32-bit blend: mask and merge) */
#define FI_MULHILO128(a, m, hi, lo)                                                        \
    do {                                                                                   \
        __m128i pe_ = _mm_mul_epu32((a), (m)), po_ = _mm_mul_epu32(_mm_srli_epi64((a), 32), (m)); \
        const __m128i low_ = _mm_set_epi32(0, -1, 0, -1);                                  \
        (lo) = _mm_or_si128(_mm_and_si128(pe_, low_), _mm_slli_epi64(po_, 32));            \
        (hi) = _mm_or_si128(_mm_srli_epi64(pe_, 32), _mm_andnot_si128(low_, po_));        \
    } while (0)

/* Philox4x32-10 of the 32 blocks (lo[L], hi[L]): w[4h + j][L] is word j of block 16h + L */
FI_INLINE void philox_lanes_sse2(const uint32_t kw[4], const uint32_t lo[32], const uint32_t hi[32],
                                 uint32_t w[8][16])
{
    __m128i c0[8], c1[8], c2[8], c3[8];
    const __m128i m0 = _mm_set1_epi32((int)PHILOX_M0), m1 = _mm_set1_epi32((int)PHILOX_M1);
    for (int i = 0; i < 8; i++) {
        c0[i] = _mm_loadu_si128((const __m128i *)(lo + 4 * i));
        c1[i] = _mm_loadu_si128((const __m128i *)(hi + 4 * i));
        c2[i] = _mm_set1_epi32((int)kw[2]);
        c3[i] = _mm_set1_epi32((int)kw[3]);
    }
    uint32_t k0 = kw[0], k1 = kw[1];
    for (int round = 0; round < 10; round++) {
        const __m128i kk0 = _mm_set1_epi32((int)k0), kk1 = _mm_set1_epi32((int)k1);
        for (int i = 0; i < 8; i++) {
            __m128i hi0, lo0, hi1, lo1;
            FI_MULHILO128(c0[i], m0, hi0, lo0);
            FI_MULHILO128(c2[i], m1, hi1, lo1);
            c0[i] = _mm_xor_si128(_mm_xor_si128(hi1, c1[i]), kk0);
            c2[i] = _mm_xor_si128(_mm_xor_si128(hi0, c3[i]), kk1);
            c1[i] = lo1;
            c3[i] = lo0;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int i = 0; i < 8; i++) {
        int h = i / 4, l = 4 * (i % 4);
        _mm_storeu_si128((__m128i *)&w[4 * h + 0][l], c0[i]);
        _mm_storeu_si128((__m128i *)&w[4 * h + 1][l], c1[i]);
        _mm_storeu_si128((__m128i *)&w[4 * h + 2][l], c2[i]);
        _mm_storeu_si128((__m128i *)&w[4 * h + 3][l], c3[i]);
    }
}

/* the 32 consecutive blocks b0 .. b0+31 (as PHILOX32) */
FI_INLINE void fi_philox_run(void (*lanes)(const uint32_t *, const uint32_t *, const uint32_t *, uint32_t (*)[16]),
                             const uint32_t kw[4], uint64_t b0, uint32_t w[8][16])
{
    uint32_t lo[32], hi[32];
    for (int L = 0; L < 32; L++) {
        lo[L] = (uint32_t)(b0 + (uint64_t)L);
        hi[L] = (uint32_t)((b0 + (uint64_t)L) >> 32);
    }
    lanes(kw, lo, hi, w);
}

FI_INLINE void philox32_sse2(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16])
{
    fi_philox_run(philox_lanes_sse2, kw, b0, w);
}
#define PHILOX32 philox32_sse2
#define PHILOX_LANES philox_lanes_sse2

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
#define STREAM_COPY stream_copy_sse2
#define STREAM_FENCE() _mm_sfence()
#endif
#include "fill_impl.h"
#include "target_end.h"

#ifdef FI_X86
/* ---- AVX2 -------------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi2")
#define NAME(x) x##_avx2
#define VBYTES 32
#define VSQRTF(x) ((vf)_mm256_sqrt_ps((__m256)(x)))
#define VSQRTD(x) ((vd)_mm256_sqrt_pd((__m256d)(x)))
#define VFMAF(a, b, c) ((vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define VANY(m) _mm256_movemask_ps((__m256)(m))
#define VMAXF(a, b) ((vf)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define VMINF(a, b) ((vf)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define VMAXD(a, b) ((vd)_mm256_max_pd((__m256d)(a), (__m256d)(b)))
#define VMIND(a, b) ((vd)_mm256_min_pd((__m256d)(a), (__m256d)(b)))

/* as philox_lanes_sse2, four interleaved 8-lane chains */
FI_INLINE void philox_lanes_avx2(const uint32_t kw[4], const uint32_t lo[32], const uint32_t hi[32],
                                 uint32_t w[8][16])
{
    __m256i c0[4], c1[4], c2[4], c3[4];
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    for (int i = 0; i < 4; i++) {
        c0[i] = _mm256_loadu_si256((const __m256i *)(lo + 8 * i));
        c1[i] = _mm256_loadu_si256((const __m256i *)(hi + 8 * i));
        c2[i] = _mm256_set1_epi32((int)kw[2]);
        c3[i] = _mm256_set1_epi32((int)kw[3]);
    }
    uint32_t k0 = kw[0], k1 = kw[1];
    for (int round = 0; round < 10; round++) {
        const __m256i kk0 = _mm256_set1_epi32((int)k0), kk1 = _mm256_set1_epi32((int)k1);
        for (int i = 0; i < 4; i++) {
            __m256i pe0 = _mm256_mul_epu32(c0[i], m0), po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0[i], 32), m0);
            __m256i pe1 = _mm256_mul_epu32(c2[i], m1), po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2[i], 32), m1);
            __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
            __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
            c0[i] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[i]), kk0);
            c2[i] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[i]), kk1);
            c1[i] = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
            c3[i] = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int i = 0; i < 4; i++) {
        int h = i / 2, l = 8 * (i % 2);
        _mm256_storeu_si256((__m256i *)&w[4 * h + 0][l], c0[i]);
        _mm256_storeu_si256((__m256i *)&w[4 * h + 1][l], c1[i]);
        _mm256_storeu_si256((__m256i *)&w[4 * h + 2][l], c2[i]);
        _mm256_storeu_si256((__m256i *)&w[4 * h + 3][l], c3[i]);
    }
}

FI_INLINE void philox32_avx2(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16])
{
    fi_philox_run(philox_lanes_avx2, kw, b0, w);
}
#define PHILOX32 philox32_avx2
#define PHILOX_LANES philox_lanes_avx2
#define STREAM_COPY stream_copy_sse2
#define STREAM_FENCE() _mm_sfence()
#include "fill_impl.h"
#include "target_end.h"
#pragma GCC pop_options

/* ---- AVX-512 ----------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi2,prefer-vector-width=512")
#define NAME(x) x##_avx512
#define VBYTES 64
#define VSQRTF(x) ((vf)_mm512_sqrt_ps((__m512)(x)))
#define VSQRTD(x) ((vd)_mm512_sqrt_pd((__m512d)(x)))
#define VFMAF(a, b, c) ((vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define VANY(m) _mm512_movepi32_mask((__m512i)(m))
#define VPERMF(table, i) ((vf)_mm512_permutexvar_ps((__m512i)(i), _mm512_loadu_ps(table)))
#define VMAXF(a, b) ((vf)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define VMINF(a, b) ((vf)_mm512_min_ps((__m512)(a), (__m512)(b)))
#define VMAXD(a, b) ((vd)_mm512_max_pd((__m512d)(a), (__m512d)(b)))
#define VMIND(a, b) ((vd)_mm512_min_pd((__m512d)(a), (__m512d)(b)))

/* hi and lo 32-bit halves of a * m, lane by lane (m broadcast in every 32-bit lane): two
 * 32x32->64 multiplies (even lanes, odd lanes), then one masked in-lane swap each picks the
 * halves into place */
FI_INLINE __m512i fi_mulhilo512(__m512i a, __m512i m, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(a, m);                        /* products of lanes 0, 2, 4, ... */
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m); /* products of lanes 1, 3, 5, ... */
    *lo = _mm512_mask_shuffle_epi32(pe, 0xAAAA, po, _MM_PERM_CDAB);
    return _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB);
}

/* Philox4x32-10 rounds on two interleaved 16-lane chains (a round's multiplies are a long
 * dependency chain; two chains hide each other's latency), from the counters' low and high
 * words a0, a1 (chain a: w[0..3]) and b0, b1 (chain b: w[4..7]) */
FI_INLINE void philox_rounds512(const uint32_t kw[4], __m512i a0, __m512i a1, __m512i b0v, __m512i b1,
                                uint32_t w[8][16])
{
    __m512i a2 = _mm512_set1_epi32((int)kw[2]), a3 = _mm512_set1_epi32((int)kw[3]);
    __m512i b2 = a2, b3 = a3;
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)PHILOX_M1);
    uint32_t k0 = kw[0], k1 = kw[1];
    for (int round = 0; round < 10; round++) {
        __m512i alo0, alo1, blo0, blo1;
        __m512i ahi0 = fi_mulhilo512(a0, m0, &alo0), bhi0 = fi_mulhilo512(b0v, m0, &blo0);
        __m512i ahi1 = fi_mulhilo512(a2, m1, &alo1), bhi1 = fi_mulhilo512(b2, m1, &blo1);
        const __m512i kk0 = _mm512_set1_epi32((int)k0), kk1 = _mm512_set1_epi32((int)k1);
        a0 = _mm512_ternarylogic_epi32(ahi1, a1, kk0, 0x96); /* a ^ b ^ c */
        b0v = _mm512_ternarylogic_epi32(bhi1, b1, kk0, 0x96);
        a2 = _mm512_ternarylogic_epi32(ahi0, a3, kk1, 0x96);
        b2 = _mm512_ternarylogic_epi32(bhi0, b3, kk1, 0x96);
        a1 = alo1;
        b1 = blo1;
        a3 = alo0;
        b3 = blo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    _mm512_storeu_si512(w[0], a0);
    _mm512_storeu_si512(w[1], a1);
    _mm512_storeu_si512(w[2], a2);
    _mm512_storeu_si512(w[3], a3);
    _mm512_storeu_si512(w[4], b0v);
    _mm512_storeu_si512(w[5], b1);
    _mm512_storeu_si512(w[6], b2);
    _mm512_storeu_si512(w[7], b3);
}

/* blocks b0 .. b0+31, the counters made in registers (a carry into the high word where the
 * low word wraps) */
FI_INLINE void philox32_avx512(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16])
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i one = _mm512_set1_epi32(1), sixteen = _mm512_set1_epi32(16);
    const __m512i blo = _mm512_set1_epi32((int)(uint32_t)b0);
    const __m512i bhi = _mm512_set1_epi32((int)(uint32_t)(b0 >> 32));
    __m512i a0 = _mm512_add_epi32(blo, iota);
    __m512i a1 = _mm512_mask_add_epi32(bhi, _mm512_cmplt_epu32_mask(a0, blo), bhi, one);
    __m512i b0v = _mm512_add_epi32(a0, sixteen);
    __m512i b1 = _mm512_mask_add_epi32(a1, _mm512_cmplt_epu32_mask(b0v, a0), a1, one);
    philox_rounds512(kw, a0, a1, b0v, b1, w);
}

/* the 32 blocks (lo[L], hi[L]) */
FI_INLINE void philox_lanes_avx512(const uint32_t kw[4], const uint32_t lo[32], const uint32_t hi[32],
                                   uint32_t w[8][16])
{
    philox_rounds512(kw, _mm512_loadu_si512(lo), _mm512_loadu_si512(hi), _mm512_loadu_si512(lo + 16),
                     _mm512_loadu_si512(hi + 16), w);
}
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
#define COLLECT collect_avx512

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
#define STREAM_COPY stream_copy_avx512
#define STREAM_FENCE() _mm_sfence()
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
#define PHILOX32 philox32_avx512
#define PHILOX_LANES philox_lanes_avx512
#include "fill_impl.h"
#undef NAME

/* ---- AVX-512 with BF16 (AMD Zen 4/5, Intel Cooper Lake, Sapphire Rapids): as AVX-512, and the
 * bfloat16 rounding by VCVTNE2PS2BF16.  It rounds to nearest even and quiets a NaN exactly as
 * to_bf16 (bits 31..16, bit 6 set), but flushes denormal inputs to a signed zero whatever
 * MXCSR says (Intel SDM, convert_fp32_to_bfloat16): a pair of vectors with a denormal lane
 * takes the portable rounding, so the bits never depend on the CPU. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16,avx2,fma,bmi2,prefer-vector-width=512")
#define NAME(x) x##_avx512bf16
#define VDENORMAL2(a, b) (_mm512_fpclass_ps_mask((__m512)(a), 0x20) | _mm512_fpclass_ps_mask((__m512)(b), 0x20))
#define VTOBF16X2(a, b) ((vh2)_mm512_cvtne2ps_pbh((__m512)(b), (__m512)(a))) /* a's lanes first */
#include "fill_impl.h"
#undef VDENORMAL2
#undef VTOBF16X2
#pragma GCC pop_options
#include "target_end.h"
#pragma GCC pop_options
#endif /* FI_X86 */

/* ---- dispatch ---------------------------------------------------------------- */

/* what each instruction set needs from the CPU (x86 feature names of __builtin_cpu_supports) */
static int always(void) { return 1; }
#ifdef FI_X86
static int has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
}

static int has_avx512(void)
{
    return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

static int has_avx512bf16(void) { return has_avx512() && __builtin_cpu_supports("avx512bf16"); }
#endif

static const struct isa isas[] = { /* in order of preference: the last one the CPU supports is the default */
    {"baseline", always, fill32_base, fill64_base, philox_blocks_base, zero_bits_base, masked_base, NULL, NULL,
     bf16_base},
#ifdef FI_X86
    {"avx2", has_avx2, fill32_avx2, fill64_avx2, philox_blocks_avx2, zero_bits_avx2, masked_avx2, NULL, NULL,
     bf16_avx2},
    {"avx512", has_avx512, fill32_avx512, fill64_avx512, philox_blocks_avx512, zero_bits_avx512, masked_avx512,
     draws_avx512, tile_rows_avx512, bf16_avx512},
    {"avx512bf16", has_avx512bf16, fill32_avx512bf16, fill64_avx512bf16, philox_blocks_avx512bf16,
     zero_bits_avx512bf16, masked_avx512bf16, draws_avx512, tile_rows_avx512, bf16_avx512bf16},
#endif
};
#define N_ISAS ((int)(sizeof(isas) / sizeof(isas[0])))

static int current = -1;

const struct isa *fi_pick(void)
{
    if (current < 0) {
        int best = 0;
        for (int i = 0; i < N_ISAS; i++)
            if (isas[i].supported()) best = i;
        current = best;
    }
    return &isas[current];
}

const char *fi_isa(void) { return fi_pick()->name; }

int fi_set_isa(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < N_ISAS; i++)
        if (strcmp(name, isas[i].name) == 0 && isas[i].supported()) {
            current = i;
            return 0;
        }
    return -1;
}

static int bad_layout(const void *out, int64_t n_runs, int64_t run_len)
{
    if (n_runs < 0 || run_len < 0) return 1;
    if (run_len > 0 && n_runs > INT64_MAX / run_len) return 1;
    return out == NULL && n_runs > 0 && run_len > 0;
}

int fi_fill32(int dist, int fmt, const uint32_t key[2], const uint32_t stream[2],
              const float p[8], void *out, int64_t n_runs, int64_t run_len,
              uint64_t first, uint64_t run_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL || fmt < FI_F32 || fmt > FI_BF16) return -1;
    if (!key || !stream || !p || bad_layout(out, n_runs, run_len)) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    fi_pick()->f32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride);
    return 0;
}

int fi_fill64(int dist, const uint32_t key[2], const uint32_t stream[2], const double p[8],
              double *out, int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL) return -1;
    if (!key || !stream || !p || bad_layout(out, n_runs, run_len)) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    fi_pick()->f64(dist, kw, p, out, n_runs, run_len, first, run_stride);
    return 0;
}

int fi_fill_masked(int dist, int fmt, const uint32_t key[2], const uint32_t stream[2], const void *p,
                   void *out, int64_t ld, int64_t nr, int64_t nc, const uint32_t *bits, int64_t bits_ld,
                   uint64_t first, uint64_t row_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL || fmt < -1 || fmt > FI_BF16) return -1;
    if (!key || !stream || !p || nr < 0 || nc < 0 || nc >= (1ll << 31) || ld < nc || bits_ld < (nc + 31) / 32)
        return -1;
    if (nr > 0 && ld > INT64_MAX / 8 / nr) return -1; /* the block's extent in bytes fits */
    if (nr == 0 || nc == 0) return 0;
    if (!out || !bits) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    fi_pick()->masked(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride);
    return 0;
}

/* Raw Philox4x32-R words, for the known-answer tests and fastinit.rng.philox4x32. */
int fi_philox4x32(const uint32_t *ctr, const uint32_t *key, int64_t key_stride, uint32_t *out,
                  int64_t n, int rounds)
{
    if (!ctr || !key || !out || n < 0 || rounds < 0 || rounds > 16 || key_stride < 0) return -1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t c[4] = {ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3]};
        fi_philox_scalar(c, key[key_stride * i], key[key_stride * i + 1], rounds);
        memcpy(out + 4 * i, c, sizeof c);
    }
    return 0;
}
