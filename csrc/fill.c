/* fastinit fill kernels with runtime instruction-set dispatch.
 *
 * The kernel source (fimath.h, fill_impl.h) is plain C, compiled here three times:
 * baseline x86-64 (SSE2), AVX2 and AVX-512, each under its own target pragma, and
 * chosen at first use from CPUID.  So one build runs on any x86-64 CPU and uses the
 * widest vectors the CPU has; FASTINIT_ISA (read by the Python layer) overrides.
 * All copies give the same bits: only IEEE arithmetic, no contraction (-ffp-contract=off).
 */
#include <stdint.h>
#include <string.h>

#include "fastinit.h"

/* float32 constant from a decimal literal, rounded decimal -> double -> float as NumPy does */
#define F(x) ((float)(x))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FASTINIT_NO_DISPATCH)
#define FI_X86 1
#include <immintrin.h>
#endif

/* ---- baseline ---------------------------------------------------------------- */
#define NAME(x) x##_base
#define FI_HAVE_AVX512_PHILOX 0
#include "fimath.h"
#include "fill_impl.h"
#undef NAME
#undef FI_HAVE_AVX512_PHILOX

#ifdef FI_X86
/* ---- AVX2 -------------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi2")
#define NAME(x) x##_avx2
#define FI_HAVE_AVX512_PHILOX 0
#include "fimath.h"
#include "fill_impl.h"
#undef NAME
#undef FI_HAVE_AVX512_PHILOX
#pragma GCC pop_options

/* ---- AVX-512 ----------------------------------------------------------------- */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi2,prefer-vector-width=512")
#define NAME(x) x##_avx512
#define FI_HAVE_AVX512_PHILOX 1

/* hi and lo 32-bit halves of a * m, lane by lane (m broadcast in every 32-bit lane) */
static inline __m512i fi_mulhilo512(__m512i a, __m512i m, __m512i *lo)
{
    __m512i pe = _mm512_mul_epu32(a, m);                        /* lanes 0, 2, 4, ... */
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m); /* lanes 1, 3, 5, ... */
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

static inline void philox16_avx512_avx512(uint32_t k0, uint32_t k1, uint32_t s0, uint32_t s1,
                                          uint64_t b0, uint32_t w[4][16])
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i blo = _mm512_set1_epi32((int)(uint32_t)b0);
    __m512i c0 = _mm512_add_epi32(blo, iota);
    __mmask16 carry = _mm512_cmplt_epu32_mask(c0, blo);
    __m512i c1 = _mm512_mask_add_epi32(_mm512_set1_epi32((int)(uint32_t)(b0 >> 32)), carry,
                                       _mm512_set1_epi32((int)(uint32_t)(b0 >> 32)),
                                       _mm512_set1_epi32(1));
    __m512i c2 = _mm512_set1_epi32((int)s0);
    __m512i c3 = _mm512_set1_epi32((int)s1);
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)PHILOX_M1);
    for (int round = 0; round < 10; round++) {
        __m512i lo0, lo1;
        __m512i hi0 = fi_mulhilo512(c0, m0, &lo0);
        __m512i hi1 = fi_mulhilo512(c2, m1, &lo1);
        __m512i kk0 = _mm512_set1_epi32((int)k0), kk1 = _mm512_set1_epi32((int)k1);
        c0 = _mm512_ternarylogic_epi32(hi1, c1, kk0, 0x96); /* three-way xor */
        c2 = _mm512_ternarylogic_epi32(hi0, c3, kk1, 0x96);
        c1 = lo1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    _mm512_storeu_si512((void *)w[0], c0);
    _mm512_storeu_si512((void *)w[1], c1);
    _mm512_storeu_si512((void *)w[2], c2);
    _mm512_storeu_si512((void *)w[3], c3);
}

#include "fimath.h"
#include "fill_impl.h"
#undef NAME
#undef FI_HAVE_AVX512_PHILOX
#pragma GCC pop_options
#endif /* FI_X86 */

/* ---- dispatch ---------------------------------------------------------------- */

typedef void (*fill32_fn)(int, int, const uint32_t *, const float *, void *, int64_t, int64_t,
                          uint64_t, uint64_t);
typedef void (*fill64_fn)(int, const uint32_t *, const double *, double *, int64_t, int64_t,
                          uint64_t, uint64_t);

static const struct isa {
    const char *name;
    fill32_fn f32;
    fill64_fn f64;
} isas[] = {
    {"baseline", fill32_base, fill64_base},
#ifdef FI_X86
    {"avx2", fill32_avx2, fill64_avx2},
    {"avx512", fill32_avx512, fill64_avx512},
#endif
};
#define N_ISAS ((int)(sizeof(isas) / sizeof(isas[0])))

static int supported(int i)
{
#ifdef FI_X86
    __builtin_cpu_init();
    if (i == 2)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("bmi2");
    if (i == 1)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
#endif
    return i == 0;
}

static int current = -1;

static const struct isa *pick(void)
{
    if (current < 0) {
        int best = 0;
        for (int i = 0; i < N_ISAS; i++)
            if (supported(i)) best = i;
        current = best;
    }
    return &isas[current];
}

const char *fi_isa(void) { return pick()->name; }

int fi_set_isa(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < N_ISAS; i++)
        if (strcmp(name, isas[i].name) == 0 && supported(i)) {
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
    pick()->f32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride);
    return 0;
}

int fi_fill64(int dist, const uint32_t key[2], const uint32_t stream[2], const double p[8],
              double *out, int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL) return -1;
    if (!key || !stream || !p || bad_layout(out, n_runs, run_len)) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    pick()->f64(dist, kw, p, out, n_runs, run_len, first, run_stride);
    return 0;
}

/* Reference scalar Philox4x32-R (Random123 philox4x32_R), for the known-answer tests. */
int fi_philox4x32(const uint32_t *ctr, const uint32_t *key, int64_t key_stride, uint32_t *out,
                  int64_t n, int rounds)
{
    if (!ctr || !key || !out || n < 0 || rounds < 0 || rounds > 16 || key_stride < 0) return -1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t c0 = ctr[4 * i], c1 = ctr[4 * i + 1], c2 = ctr[4 * i + 2], c3 = ctr[4 * i + 3];
        uint32_t k0 = key[key_stride * i], k1 = key[key_stride * i + 1];
        for (int r = 0; r < rounds; r++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        out[4 * i] = c0;
        out[4 * i + 1] = c1;
        out[4 * i + 2] = c2;
        out[4 * i + 3] = c3;
    }
    return 0;
}
