/* The fill kernels of one instruction set, compiled once per target by fill.c (after
 * fitables.h, philox.h and simd.h; target_end.h forgets the target's macros afterwards), which
 * defines NAME() (the suffix), VBYTES (native vector width), VSQRTF/VSQRTD and, on x86,
 * PHILOX32, PHILOX_LANES, STREAM_COPY/STREAM_FENCE and (AVX-512) COLLECT.
 *
 * This file declares the vector types at the target's width and the portable fallbacks, then
 * includes the kernels by job: fimath.h (log, sincos, ndtri, rounding), transforms.h (the
 * distributions), masked.h (masked fills and the elements computed one block each), dense.h
 * (dense fills); and forgets its own names.
 *
 * The stream layout (docs/streams.md) is built around 16 Philox blocks per group:
 * block b has counter (b_lo, b_hi, stream_lo, stream_hi) and key (seed_lo, seed_hi).
 *   32-bit family: a group is 64 elements; element 64g + 16j + L takes word j of block 16g + L.
 *   float64:       a group is 32 elements; element 32g + 16h + L takes words 2h, 2h+1 of block 16g + L.
 * Kernels work two groups at a time (32 blocks), which gives Philox independent chains.
 */

/* vector types at this target's native width: NF float lanes, ND double lanes */
#define NF (VBYTES / 4)
#define ND (VBYTES / 8)
typedef float NAME(vf_t) __attribute__((vector_size(VBYTES)));
typedef int32_t NAME(vi_t) __attribute__((vector_size(VBYTES)));
typedef uint32_t NAME(vu_t) __attribute__((vector_size(VBYTES)));
typedef uint16_t NAME(vh_t) __attribute__((vector_size(VBYTES / 2)));
typedef uint16_t NAME(vh2_t) __attribute__((vector_size(VBYTES)));
typedef double NAME(vd_t) __attribute__((vector_size(VBYTES)));
typedef int64_t NAME(vl_t) __attribute__((vector_size(VBYTES)));
typedef uint64_t NAME(vul_t) __attribute__((vector_size(VBYTES)));
typedef uint32_t NAME(vu2_t) __attribute__((vector_size(VBYTES / 2)));
#define vf NAME(vf_t)
#define vi NAME(vi_t)
#define vu NAME(vu_t)
#define vh NAME(vh_t)
#define vh2 NAME(vh2_t)
#define vd NAME(vd_t)
#define vl NAME(vl_t)
#define vul NAME(vul_t)
#define vu2 NAME(vu2_t)

#ifndef VSQRTF /* no vector sqrt intrinsic known here: lane by lane, the vectorizer merges it */
FI_INLINE vf NAME(vsqrtf)(vf x) { for (int i = 0; i < NF; i++) x[i] = __builtin_sqrtf(x[i]); return x; }
FI_INLINE vd NAME(vsqrtd)(vd x) { for (int i = 0; i < ND; i++) x[i] = __builtin_sqrt(x[i]); return x; }
#define VSQRTF NAME(vsqrtf)
#define VSQRTD NAME(vsqrtd)
#endif

/* broadcasts through the bit pattern: an integer add of 0 to the bits is exact, while the
 * float 0 + x would turn -0.0 into +0.0 */
FI_INLINE vf NAME(splatf)(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return (vf)((vu){} + b);
}

FI_INLINE vd NAME(splatd)(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return (vd)((vul){} + b);
}

#ifndef VFMAF /* no FMA instruction at this target: C99's fmaf, correctly rounded, lane by lane */
FI_INLINE vf NAME(vfmaf)(vf a, vf b, vf c)
{
    for (int i = 0; i < NF; i++) a[i] = __builtin_fmaf(a[i], b[i], c[i]);
    return a;
}
#define VFMAF NAME(vfmaf)
#define FI_SOFT_FMA 1
#endif
#define FMAF(a, b, c) VFMAF(a, b, c) /* a * b + c rounded once, on vectors */
#ifdef VFNMAF
#define FNMAF(a, b, c) VFNMAF(a, b, c) /* c - a * b rounded once */
#else
#define FNMAF(a, b, c) VFMAF(-(a), b, c)
#endif

#ifndef VANY /* no mask-to-bits instruction known here: lane by lane */
/* bit i set iff lane i of the comparison mask m is (as the x86 VANY's; nonzero iff any) */
FI_INLINE int NAME(vany)(vi m)
{
    int bits = 0;
    for (int i = 0; i < NF; i++) bits |= (m[i] != 0) << i;
    return bits;
}
#define VANY NAME(vany)
#define FI_ANY_LOCAL 1
#endif
#ifndef VOUTSIDE /* lanes of v not inside [a, b] (NaN: not inside), as bits */
#define VOUTSIDE(v, a, b) VANY(~(((v) >= (a)) & ((v) <= (b))))
#define FI_OUTSIDE_LOCAL 1
#endif
#ifndef VPERMF /* table[i] lane by lane */
FI_INLINE vf NAME(vpermf)(const float *table, vi i)
{
    vf v;
    for (int l = 0; l < NF; l++) v[l] = table[i[l] & 15];
    return v;
}
#define VPERMF NAME(vpermf)
#define FI_PERMF_LOCAL 1
#endif
#include "fimath.h"

#define G32 64
#define G64 32

FI_INLINE vu NAME(ldu)(const uint32_t *src) { vu v; memcpy(&v, src, sizeof v); return v; }
FI_INLINE vu2 NAME(ldu2)(const uint32_t *src) { vu2 v; memcpy(&v, src, sizeof v); return v; }
FI_INLINE void NAME(stf)(float *o, vf v) { memcpy(o, &v, sizeof v); }
FI_INLINE void NAME(std)(double *o, vd v) { memcpy(o, &v, sizeof v); }

#include "transforms.h"
#include "masked.h"
#include "dense.h"

#undef G32
#undef G64
#undef vf
#undef vi
#undef vu
#undef vh
#undef vh2
#undef vd
#undef vl
#undef vul
#undef vu2
#undef NF
#undef ND
#ifdef FI_PHILOX32_KS_LOCAL
#undef PHILOX32_KS
#undef FI_PHILOX32_KS_LOCAL
#endif
#ifdef FI_PHILOX32_LOCAL
#undef PHILOX32
#undef FI_PHILOX32_LOCAL
#endif
#ifdef FI_STREAM_LOCAL
#undef STREAM_COPY
#undef STREAM_FENCE
#undef FI_STREAM_LOCAL
#endif
#undef SEG_BYTES
#undef STREAM_MIN
#ifdef FI_COLLECT_LOCAL
#undef COLLECT
#undef FI_COLLECT_LOCAL
#endif
#ifdef FI_PHILOX_LANES_LOCAL
#undef PHILOX_LANES
#undef FI_PHILOX_LANES_LOCAL
#endif

#undef FMAF
#undef FNMAF
#ifdef FI_PERMF_LOCAL
#undef VPERMF
#undef FI_PERMF_LOCAL
#endif
#ifdef FI_ANY_LOCAL
#undef VANY
#undef FI_ANY_LOCAL
#endif
#ifdef FI_OUTSIDE_LOCAL
#undef VOUTSIDE
#undef FI_OUTSIDE_LOCAL
#endif
#ifdef FI_SOFT_FMA
#undef VFMAF
#undef FI_SOFT_FMA
#endif
