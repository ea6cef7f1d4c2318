/* Philox4x32-10 on x86 vectors (Salmon et al. 2011), one section per instruction set, each
 * compiled under its own target (callers compile under the same or a wider one): 32 blocks at
 * a time into uint32_t w[8][16], w[4h + j][L] word j of block 16h + L -- PHILOX32 (32
 * consecutive blocks from b0) and PHILOX_LANES (32 arbitrary counters) of csrc/fill.c's
 * targets.  philox.h's scalar fi_philox_scalar is the reference; the tests compare the bits.
 * Self-contained: include anywhere (empty off x86 or with FASTINIT_NO_DISPATCH). */
#ifndef PHILOX_X86_H
#define PHILOX_X86_H

#include <stdint.h>

#include "philox.h"
#include "simd.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FASTINIT_NO_DISPATCH)
#include <immintrin.h>

/* ---- SSE2 (every x86-64 CPU) ---------------------------------------------------- */
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

/* ---- AVX2 ------------------------------------------------------------------------ */
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi2")
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
#pragma GCC pop_options

/* ---- AVX-512 --------------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi2,prefer-vector-width=512")
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
FI_INLINE void philox_rounds512(const struct fi_keys *ks, __m512i a0, __m512i a1, __m512i b0v, __m512i b1,
                                uint32_t w[8][16])
{
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)PHILOX_M1);
    const uint32_t *k0 = ks->k0, *k1 = ks->k1;
    /* round 0: words 2 and 3 are the stream words, the same in every lane, so the product
     * stream_lo * M1 is a scalar */
    const uint64_t p1 = (uint64_t)PHILOX_M1 * ks->kw[2];
    __m512i alo0, blo0;
    __m512i ahi0 = fi_mulhilo512(a0, m0, &alo0), bhi0 = fi_mulhilo512(b0v, m0, &blo0);
    const __m512i x0 = _mm512_set1_epi32((int)((uint32_t)(p1 >> 32) ^ ks->kw[0]));
    const __m512i x2 = _mm512_set1_epi32((int)(ks->kw[3] ^ ks->kw[1]));
    a0 = _mm512_xor_si512(a1, x0);
    b0v = _mm512_xor_si512(b1, x0);
    __m512i a2 = _mm512_xor_si512(ahi0, x2), b2 = _mm512_xor_si512(bhi0, x2);
    a1 = b1 = _mm512_set1_epi32((int)(uint32_t)p1);
    __m512i a3 = alo0, b3 = blo0;
    for (int round = 1; round < 10; round++) {
        __m512i alo1, blo1;
        ahi0 = fi_mulhilo512(a0, m0, &alo0);
        bhi0 = fi_mulhilo512(b0v, m0, &blo0);
        __m512i ahi1 = fi_mulhilo512(a2, m1, &alo1), bhi1 = fi_mulhilo512(b2, m1, &blo1);
        a0 = _mm512_ternarylogic_epi32(ahi1, a1, _mm512_set1_epi32((int)k0[round]), 0x96); /* a ^ b ^ c */
        b0v = _mm512_ternarylogic_epi32(bhi1, b1, _mm512_set1_epi32((int)k0[round]), 0x96);
        a2 = _mm512_ternarylogic_epi32(ahi0, a3, _mm512_set1_epi32((int)k1[round]), 0x96);
        b2 = _mm512_ternarylogic_epi32(bhi0, b3, _mm512_set1_epi32((int)k1[round]), 0x96);
        a1 = alo1;
        b1 = blo1;
        a3 = alo0;
        b3 = blo0;
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
 * low word wraps), under the key schedule ks */
FI_INLINE void philox32ks_avx512(const struct fi_keys *ks, uint64_t b0, uint32_t w[8][16])
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i one = _mm512_set1_epi32(1), sixteen = _mm512_set1_epi32(16);
    const __m512i blo = _mm512_set1_epi32((int)(uint32_t)b0);
    const __m512i bhi = _mm512_set1_epi32((int)(uint32_t)(b0 >> 32));
    __m512i a0 = _mm512_add_epi32(blo, iota);
    __m512i a1 = _mm512_mask_add_epi32(bhi, _mm512_cmplt_epu32_mask(a0, blo), bhi, one);
    __m512i b0v = _mm512_add_epi32(a0, sixteen);
    __m512i b1 = _mm512_mask_add_epi32(a1, _mm512_cmplt_epu32_mask(b0v, a0), a1, one);
    philox_rounds512(ks, a0, a1, b0v, b1, w);
}

/* blocks b0 .. b0+31 under the key kw (a schedule made for this one call) */
FI_INLINE void philox32_avx512(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16])
{
    struct fi_keys ks;
    fi_key_schedule(kw, &ks);
    philox32ks_avx512(&ks, b0, w);
}

/* the 32 blocks (lo[L], hi[L]) */
FI_INLINE void philox_lanes_avx512(const uint32_t kw[4], const uint32_t lo[32], const uint32_t hi[32],
                                   uint32_t w[8][16])
{
    struct fi_keys ks;
    fi_key_schedule(kw, &ks);
    philox_rounds512(&ks, _mm512_loadu_si512(lo), _mm512_loadu_si512(hi), _mm512_loadu_si512(lo + 16),
                     _mm512_loadu_si512(hi + 16), w);
}
#pragma GCC pop_options

#endif
#endif
