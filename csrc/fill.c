/* The fill kernels compiled once per instruction set, and the table of them (dispatch.h).
 *
 * The kernel source (fill_impl.h: fimath.h, transforms.h, dense.h, masked.h) is C with GCC
 * vector extensions, compiled here once per target at its native vector width:
 * baseline x86-64 (SSE2), AVX2, AVX-512 and AVX-512 with BF16, each under its own target pragma;
 * dispatch.c picks one at first use from CPUID.  So one build runs on any x86-64 CPU and uses the
 * widest vectors the CPU has; FASTINIT_ISA (read by the Python layer) overrides.
 * All copies give the same bits: only IEEE arithmetic, no contraction (-ffp-contract=off).
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "fastinit.h"
#include "fitables.h"
#include "philox.h"
#include "philox_x86.h"
#include "simd.h"
#include "sparse_x86.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FASTINIT_NO_DISPATCH)
#define FI_X86 1
#include <immintrin.h>
#endif

/* Each target below sets NAME (the suffix), VBYTES (its native vector width), VSQRTF/VSQRTD
 * (correctly rounded vector sqrt), VFMAF (fused multiply-add, where the target has it),
 * PHILOX32 (32 consecutive Philox blocks into uint32_t w[8][16]), PHILOX_LANES (32 arbitrary
 * blocks; both philox_x86.h), COLLECT (kept columns of a bitmap word) and STREAM_COPY/STREAM_FENCE
 * (copies by non-temporal stores; both sparse_x86.h), then includes fill_impl.h, which declares
 * the vector types at that width and has portable fallbacks for the last four. */

/* ---- baseline: SSE2 on x86-64, the compiler's generic vectors elsewhere ---------- */
#define NAME(x) x##_base
#define VBYTES 16
#ifdef FI_X86
#define VSQRTF(x) ((vf)_mm_sqrt_ps((__m128)(x)))
#define VSQRTD(x) ((vd)_mm_sqrt_pd((__m128d)(x)))
#define VANY(m) _mm_movemask_ps((__m128)(m)) /* any lane of the comparison mask m set */
#define VUNORD2(a, b) _mm_movemask_ps(_mm_cmpunord_ps((__m128)(a), (__m128)(b))) /* a or b NaN in a lane */
#define VMAXF(a, b) ((vf)_mm_max_ps((__m128)(a), (__m128)(b))) /* a > b ? a : b */
#define VMINF(a, b) ((vf)_mm_min_ps((__m128)(a), (__m128)(b))) /* a < b ? a : b */
#define VMAXD(a, b) ((vd)_mm_max_pd((__m128d)(a), (__m128d)(b)))
#define VMIND(a, b) ((vd)_mm_min_pd((__m128d)(a), (__m128d)(b)))
#define PHILOX32 philox32_sse2
#define PHILOX_LANES philox_lanes_sse2
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
#define VFNMAF(a, b, c) ((vf)_mm256_fnmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define VANY(m) _mm256_movemask_ps((__m256)(m))
#define VUNORD2(a, b) _mm256_movemask_ps(_mm256_cmp_ps((__m256)(a), (__m256)(b), _CMP_UNORD_Q))
#define VMAXF(a, b) ((vf)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define VMINF(a, b) ((vf)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define VMAXD(a, b) ((vd)_mm256_max_pd((__m256d)(a), (__m256d)(b)))
#define VMIND(a, b) ((vd)_mm256_min_pd((__m256d)(a), (__m256d)(b)))
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
#define VFNMAF(a, b, c) ((vf)_mm512_fnmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define VANY(m) _mm512_movepi32_mask((__m512i)(m))
/* lanes of v not inside [a, b] as bits: two compares into mask registers (NaN: outside) */
#define VOUTSIDE(v, a, b) (_mm512_cmp_ps_mask((__m512)(v), (__m512)(a), _CMP_NGE_UQ) | \
                           _mm512_cmp_ps_mask((__m512)(v), (__m512)(b), _CMP_NLE_UQ))
#define VPERMF(table, i) ((vf)_mm512_permutexvar_ps((__m512i)(i), _mm512_loadu_ps(table)))
#define VUNORD2(a, b) _mm512_cmp_ps_mask((__m512)(a), (__m512)(b), _CMP_UNORD_Q) /* lanes where a or b is NaN */
#define VMAXF(a, b) ((vf)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define VMINF(a, b) ((vf)_mm512_min_ps((__m512)(a), (__m512)(b)))
#define VMAXD(a, b) ((vd)_mm512_max_pd((__m512d)(a), (__m512d)(b)))
#define VMIND(a, b) ((vd)_mm512_min_pd((__m512d)(a), (__m512d)(b)))
#define COLLECT collect_avx512
#define STREAM_COPY stream_copy_avx512
#define STREAM_FENCE() _mm_sfence()
#define PHILOX32 philox32_avx512
#define PHILOX32_KS philox32ks_avx512
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
#define VTOBF16X2(a, b) ((vh2)_mm512_cvtne2ps_pbh((__m512)(b), (__m512)(a))) /* a's lanes first */
#define VZERO16(h) _mm512_testn_epi16_mask((__m512i)(h), _mm512_set1_epi16(0x7fff)) /* lanes of +-0 */
#include "fill_impl.h"
#undef VTOBF16X2
#undef VZERO16
#pragma GCC pop_options
#include "target_end.h"
#pragma GCC pop_options
#endif /* FI_X86 */

/* ---- the table dispatch.c picks from ------------------------------------------ */

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

const struct isa *fi_isas(int *n)
{
    *n = (int)(sizeof(isas) / sizeof(isas[0]));
    return isas;
}
