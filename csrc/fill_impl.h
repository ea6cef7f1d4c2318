/* Fill kernels, compiled once per instruction set by fill.c (after fitables.h, philox.h and
 * simd.h; target_end.h forgets the target's macros afterwards), which defines NAME() (the
 * suffix), VBYTES (native vector width), VSQRTF/VSQRTD and, on x86, PHILOX32, PHILOX_LANES,
 * STREAM_COPY/STREAM_FENCE and (AVX-512) COLLECT.
 *
 * The stream layout (docs/streams.md) is built around 16 Philox blocks per group:
 * block b has counter (b_lo, b_hi, stream_lo, stream_hi) and key (seed_lo, seed_hi).
 *   32-bit family: a group is 64 elements; element 64g + 16j + L takes word j of block 16g + L.
 *   float64:       a group is 32 elements; element 32g + 16h + L takes words 2h, 2h+1 of block 16g + L.
 * So SIMD lanes compute consecutive blocks and each output vector is one contiguous store.
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

#ifndef VANY /* no mask-to-bits instruction known here: lane by lane */
FI_INLINE int NAME(vany)(vi m)
{
    int any = 0;
    for (int i = 0; i < NF; i++) any |= m[i] != 0;
    return any;
}
#define VANY NAME(vany)
#define FI_ANY_LOCAL 1
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

#ifndef PHILOX32
/* Portable Philox4x32-10 of blocks b0 .. b0+31: w[4h + j][L] is word j of block b0 + 16h + L. */
FI_INLINE void NAME(philox32)(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16])
{
    for (int L = 0; L < 32; L++) {
        uint64_t b = b0 + (uint64_t)L;
        uint32_t c[4] = {(uint32_t)b, (uint32_t)(b >> 32), kw[2], kw[3]};
        fi_philox_scalar(c, kw[0], kw[1], 10);
        for (int j = 0; j < 4; j++) w[4 * (L / 16) + j][L % 16] = c[j];
    }
}
#define PHILOX32 NAME(philox32)
#define FI_PHILOX32_LOCAL 1
#endif

FI_INLINE vu NAME(ldu)(const uint32_t *src) { vu v; memcpy(&v, src, sizeof v); return v; }
FI_INLINE vu2 NAME(ldu2)(const uint32_t *src) { vu2 v; memcpy(&v, src, sizeof v); return v; }
FI_INLINE void NAME(stf)(float *o, vf v) { memcpy(o, &v, sizeof v); }
FI_INLINE void NAME(std)(double *o, vd v) { memcpy(o, &v, sizeof v); }

/* ---- 32-bit family: one group of 64 float32 values ----------------------------- */

/* v clamped into [lo, hi]: (lo > v ? lo : v), then (hi < v ? hi : v) -- which is what x86's
 * MAXPS(lo, v) and MINPS(hi, v) compute, to the bit (v itself when equal or NaN) */
FI_INLINE vf NAME(clampf)(vf v, float lo, float hi)
{
#ifdef VMAXF
    return VMINF(SPLATF(hi), VMAXF(SPLATF(lo), v));
#else
    v = SEL(v < lo, SPLATF(lo), v);
    return SEL(v > hi, SPLATF(hi), v);
#endif
}

/* uniform [0, 1) from the top 24 bits */
FI_INLINE vf NAME(unitf)(vu w) { return __builtin_convertvector((vi)(w >> 8), vf) * 0x1p-24f; }

/* The per-lane transforms of the 32-bit family: NF lanes at a time, each lane's value a
 * function of its own words only.  The dense fill (group32) and the masked fill
 * (pick32) both call these, so they give the same bits. */

/* U(low, high) from word w: p[0] = high - low, p[1] = low, clamped into [p[2], p[3]] */
FI_INLINE vf NAME(uniform32)(vu w, const float *p)
{
    return NAME(clampf)(NAME(unitf)(w) * p[0] + p[1], p[2], p[3]);
}

/* Box-Muller of the pair (we, wo): *c the cos value, *si the sin value, each * std + mean */
FI_INLINE void NAME(boxmuller32)(vu we, vu wo, const float *p, vf *c, vf *si)
{
    vf u1 = __builtin_convertvector((vi)((we >> 8) + 1u), vf) * 0x1p-24f; /* (0, 1] */
    vf r = VSQRTF(-2.0f * NAME(logf)(u1));
    /* angle 2 pi x / 2^24 = quadrant q * pi/2 + phi, phi in [-pi/4, pi/4) */
    vu x = wo >> 8;
    vu q = (x + 0x200000u) >> 22;
    vf phi = __builtin_convertvector((vi)x - (vi)(q << 22), vf) * 0x1.921fb6p-22f; /* float32(pi/2) 2^-22 */
    vf sn = NAME(sinpf)(phi), cs = NAME(cospf)(phi);
    vi swap = (vi)(q & 1u) != 0;
    vf cq = SEL(swap, sn, cs), sq = SEL(swap, cs, sn);
    cq = SEL((vi)((q + 1u) & 2u) != 0, -cq, cq);
    sq = SEL((vi)(q & 2u) != 0, -sq, sq);
    *c = FMAF(r * cq, SPLATF(p[0]), SPLATF(p[1]));
    *si = FMAF(r * sq, SPLATF(p[0]), SPLATF(p[1]));
}

/* inverse CDF of the mass [Phi(alpha), Phi(beta)]: q = p - 1/2 = (Phi(alpha) - 1/2) + u m
 * (resolution near the mean), and the smaller of p = Phi(alpha) + u m and 1 - p = Phi(-beta)
 * + (1 - u) m (resolution far into either tail) */
FI_INLINE vf NAME(truncnormal32)(vu w, const float *p)
{
    /* u = k2 2^-24 and 1 - u, both exact; u m = k2 (m 2^-24), exact scalings (m >= 1e-30 keeps
     * m 2^-24 a normal float), so each FMA below rounds u m + c once, as written in streams.md */
    vi k2 = (vi)((w >> 9) << 1) + 1; /* odd, < 2^24 */
    vf k = __builtin_convertvector(k2, vf), k1 = __builtin_convertvector(0x1000000 - k2, vf);
    vf m = SPLATF(p[6] * 0x1p-24f);
    vf q = FMAF(k, m, SPLATF(p[7]));
    vf plo = FMAF(k, m, SPLATF(p[4]));
    vf phi_ = FMAF(k1, m, SPLATF(p[5]));
    vf z = NAME(ndtrif)(q, SEL(plo <= phi_, plo, phi_));
    return NAME(clampf)(FMAF(z, SPLATF(p[0]), SPLATF(p[1])), p[2], p[3]);
}

/* the 64 values of one group from its words w[0..3][0..15] into o[0..63] */
FI_INLINE void NAME(group32)(int dist, const uint32_t (*w)[16], const float *p, float *o)
{
    if (dist == FI_UNIFORM) {
        for (int j = 0; j < 4; j++)
            for (int s = 0; s < 16; s += NF) NAME(stf)(o + 16 * j + s, NAME(uniform32)(NAME(ldu)(&w[j][s]), p));
    } else if (dist == FI_NORMAL) {
        /* the pairs (w0, w1) and (w2, w3): cos to j even, sin to j odd */
        for (int pair = 0; pair < 2; pair++)
            for (int s = 0; s < 16; s += NF) {
                vf c, si;
                NAME(boxmuller32)(NAME(ldu)(&w[2 * pair][s]), NAME(ldu)(&w[2 * pair + 1][s]), p, &c, &si);
                NAME(stf)(o + 32 * pair + s, c);
                NAME(stf)(o + 32 * pair + 16 + s, si);
            }
    } else {
        for (int j = 0; j < 4; j++)
            for (int s = 0; s < 16; s += NF) NAME(stf)(o + 16 * j + s, NAME(truncnormal32)(NAME(ldu)(&w[j][s]), p));
    }
}

/* one value per lane: o[L] <- the value group32 gives word js[L] (0..3) of lane L */
FI_INLINE void NAME(pick32)(int dist, const uint32_t (*w)[16], const uint32_t *js, const float *p, float *o)
{
    for (int s = 0; s < 16; s += NF) {
        vu j = NAME(ldu)(js + s);
        vi upper = (vi)(j & 2u) != 0, odd = (vi)(j & 1u) != 0;
        vu w0 = NAME(ldu)(&w[0][s]), w1 = NAME(ldu)(&w[1][s]), w2 = NAME(ldu)(&w[2][s]), w3 = NAME(ldu)(&w[3][s]);
        if (dist == FI_NORMAL) {
            vf c, si;
            NAME(boxmuller32)(SELU(upper, w2, w0), SELU(upper, w3, w1), p, &c, &si);
            NAME(stf)(o + s, SEL(odd, si, c));
        } else {
            vu wj = SELU(upper, SELU(odd, w3, w2), SELU(odd, w1, w0));
            NAME(stf)(o + s, dist == FI_UNIFORM ? NAME(uniform32)(wj, p) : NAME(truncnormal32)(wj, p));
        }
    }
}

/* n values from src (float32) into dst[at ..) in format fmt; src has NF readable floats past n */
FI_INLINE void NAME(store32)(int fmt, const float *src, void *dst, int64_t at, int64_t n)
{
    if (fmt == FI_F32) {
        memcpy((float *)dst + at, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *d = (uint16_t *)dst + at;
    int64_t j = 0;
    if (fmt == FI_BF16)
        for (; j + 2 * NF <= n; j += 2 * NF) { /* two vectors into one */
            vf a, b;
            memcpy(&a, src + j, sizeof a);
            memcpy(&b, src + j + NF, sizeof b);
            vh2 h = NAME(to_bf16x2)(a, b);
            memcpy(d + j, &h, sizeof h);
        }
    for (; j < n; j += NF) {
        vf v;
        memcpy(&v, src + j, sizeof v);
        vh b = fmt == FI_F16 ? NAME(to_f16)(v) : NAME(to_bf16)(v);
        memcpy(d + j, &b, (size_t)(n - j < NF ? n - j : NF) * sizeof(uint16_t));
    }
}

/* out[at .. at+n) <- global elements gi .. gi+n, two groups (128 elements) per step */
static void NAME(run32)(int dist, int fmt, const uint32_t kw[4], const float *p, void *out,
                        int64_t at, int64_t n, uint64_t gi)
{
    float tmp[2 * G32 + 16] __attribute__((aligned(64)));
    uint32_t w[8][16] __attribute__((aligned(64)));
    while (n > 0) {
        uint64_t g = gi / G32;
        int64_t e0 = (int64_t)(gi % G32);
        int64_t take = 2 * G32 - e0 < n ? 2 * G32 - e0 : n;
        PHILOX32(kw, g * 16u, w);
        float *o = (e0 == 0 && take == 2 * G32 && fmt == FI_F32) ? (float *)out + at : tmp;
        NAME(group32)(dist, w, p, o);
        NAME(group32)(dist, w + 4, p, o + G32);
        if (o != tmp) {
        } else if (take == 2 * G32) {
            NAME(store32)(fmt, tmp, out, at, 2 * G32); /* a constant count: unrolled, no tail */
        } else {
            NAME(store32)(fmt, tmp + e0, out, at, take);
        }
        at += take;
        n -= take;
        gi += (uint64_t)take;
    }
}

static void NAME(fill32)(int dist, int fmt, const uint32_t *kw, const float *p, void *out,
                         int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    for (int64_t r = 0; r < n_runs; r++)
        NAME(run32)(dist, fmt, kw, p, out, r * run_len, run_len, first + (uint64_t)r * run_stride);
}

/* ---- float64: one group of 32 doubles ------------------------------------------ */

FI_INLINE vd NAME(clampd)(vd v, double lo, double hi)
{
#ifdef VMAXD
    return VMIND(SPLATD(hi), VMAXD(SPLATD(lo), v));
#else
    v = SELD(v < lo, SPLATD(lo), v);
    return SELD(v > hi, SPLATD(hi), v);
#endif
}

/* ((hi << 32) | lo) >> shift of ND lanes from two word rows */
FI_INLINE vul NAME(join53)(const uint32_t *lo, const uint32_t *hi, int shift)
{
    return ((__builtin_convertvector(NAME(ldu2)(hi), vul) << 32) | __builtin_convertvector(NAME(ldu2)(lo), vul)) >> shift;
}

/* The per-lane transforms of float64, shared by group64 and pick64 as for float32;
 * x, a, b are word pairs joined by NAME(join53). */

/* U(low, high) from 53 bits x: p[0] = high - low, p[1] = low, clamped into [p[2], p[3]] */
FI_INLINE vd NAME(uniform64)(vul x, const double *p)
{
    vd u = __builtin_convertvector((vl)x, vd) * 0x1p-53;
    return NAME(clampd)(u * p[0] + p[1], p[2], p[3]);
}

/* Box-Muller of the 53-bit pair (a, x): *c the cos value, *si the sin value, each * std + mean */
FI_INLINE void NAME(boxmuller64)(vul a, vul x, const double *p, vd *c, vd *si)
{
    vd u1 = (__builtin_convertvector((vl)a, vd) + 1.0) * 0x1p-53; /* (0, 1]; the +1 is exact below 2^53 */
    vd r = VSQRTD(-2.0 * NAME(log)(u1));
    vul q = (x + 0x4000000000000ull) >> 51;
    vd phi = __builtin_convertvector((vl)x - (vl)(q << 51), vd) * 0x1.921fb54442d18p-51; /* double(pi/2) 2^-51 */
    vd sn = NAME(sinp)(phi), cs = NAME(cosp)(phi);
    vl swap = (vl)(q & 1u) != 0;
    vd cq = SELD(swap, sn, cs), sq = SELD(swap, cs, sn);
    cq = SELD((vl)((q + 1u) & 2u) != 0, -cq, cq);
    sq = SELD((vl)(q & 2u) != 0, -sq, sq);
    *c = (r * cq) * p[0] + p[1];
    *si = (r * sq) * p[0] + p[1];
}

/* the truncated normal from 52 bits x, as truncnormal32 */
FI_INLINE vd NAME(truncnormal64)(vul x, const double *p)
{
    vl k2 = (vl)(x << 1) + 1; /* odd, < 2^53 */
    vd u = __builtin_convertvector(k2, vd) * 0x1p-53;
    vd v1 = __builtin_convertvector(0x20000000000000ll - k2, vd) * 0x1p-53; /* 1 - u, exact */
    vd q = p[7] + u * p[6];
    vd plo = p[4] + u * p[6];
    vd phi_ = p[5] + v1 * p[6];
    vl lower = plo <= phi_;
    vd tail = NAME(ndtri_tail)(SELD(lower, plo, phi_));
    vd z = SELD((q <= 0.425) & (q >= -0.425), NAME(ndtri_central)(q), SELD(lower, -tail, tail));
    return NAME(clampd)(z * p[0] + p[1], p[2], p[3]);
}

/* the 32 values of one group from its words w[0..3][0..15] into o[0..31] */
FI_INLINE void NAME(group64)(int dist, const uint32_t (*w)[16], const double *p, double *o)
{
    if (dist == FI_UNIFORM) {
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 16; s += ND)
                NAME(std)(o + 16 * h + s, NAME(uniform64)(NAME(join53)(&w[2 * h][s], &w[2 * h + 1][s], 11), p));
    } else if (dist == FI_NORMAL) {
        for (int s = 0; s < 16; s += ND) {
            vd c, si;
            NAME(boxmuller64)(NAME(join53)(&w[0][s], &w[1][s], 11), NAME(join53)(&w[2][s], &w[3][s], 11), p, &c, &si);
            NAME(std)(o + s, c);
            NAME(std)(o + 16 + s, si);
        }
    } else {
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 16; s += ND)
                NAME(std)(o + 16 * h + s, NAME(truncnormal64)(NAME(join53)(&w[2 * h][s], &w[2 * h + 1][s], 12), p));
    }
}

/* one value per lane: o[L] <- the value group64 gives half hs[L] (0, 1) of lane L */
FI_INLINE void NAME(pick64)(int dist, const uint32_t (*w)[16], const uint32_t *hs, const double *p, double *o)
{
    if (dist == FI_NORMAL) { /* both halves come from all four words: cos or sin by lane */
        for (int s = 0; s < 16; s += ND) {
            vd c, si;
            NAME(boxmuller64)(NAME(join53)(&w[0][s], &w[1][s], 11), NAME(join53)(&w[2][s], &w[3][s], 11), p, &c, &si);
            NAME(std)(o + s, SELD(__builtin_convertvector(NAME(ldu2)(hs + s), vl) != 0, si, c));
        }
        return;
    }
    uint32_t lo[16] __attribute__((aligned(64))), hi[16] __attribute__((aligned(64)));
    for (int L = 0; L < 16; L++) { /* words 2h, 2h+1 of the lane */
        lo[L] = hs[L] ? w[2][L] : w[0][L];
        hi[L] = hs[L] ? w[3][L] : w[1][L];
    }
    for (int s = 0; s < 16; s += ND)
        NAME(std)(o + s, dist == FI_UNIFORM ? NAME(uniform64)(NAME(join53)(lo + s, hi + s, 11), p)
                                            : NAME(truncnormal64)(NAME(join53)(lo + s, hi + s, 12), p));
}

static void NAME(run64)(int dist, const uint32_t kw[4], const double *p, double *out,
                        int64_t at, int64_t n, uint64_t gi)
{
    double tmp[2 * G64] __attribute__((aligned(64)));
    uint32_t w[8][16] __attribute__((aligned(64)));
    while (n > 0) {
        uint64_t g = gi / G64;
        int64_t e0 = (int64_t)(gi % G64);
        int64_t take = 2 * G64 - e0 < n ? 2 * G64 - e0 : n;
        PHILOX32(kw, g * 16u, w);
        double *o = (e0 == 0 && take == 2 * G64) ? out + at : tmp;
        NAME(group64)(dist, w, p, o);
        NAME(group64)(dist, w + 4, p, o + G64);
        if (o == tmp) memcpy(out + at, tmp + e0, (size_t)take * sizeof(double));
        at += take;
        n -= take;
        gi += (uint64_t)take;
    }
}

static void NAME(fill64)(int dist, const uint32_t *kw, const double *p, double *out,
                         int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    for (int64_t r = 0; r < n_runs; r++)
        NAME(run64)(dist, kw, p, out, r * run_len, run_len, first + (uint64_t)r * run_stride);
}

/* ---- masked fills: values only where a bitmap keeps them (sparse patterns) ------- */

#ifndef PHILOX_LANES
/* Portable Philox4x32-10 of 32 arbitrary blocks (lo[L], hi[L]): w[4h + j][L] is word j of
 * block 16h + L, the layout of PHILOX32. */
FI_INLINE void NAME(philox_lanes)(const uint32_t kw[4], const uint32_t lo[32], const uint32_t hi[32],
                                  uint32_t w[8][16])
{
    for (int L = 0; L < 32; L++) {
        uint32_t c[4] = {lo[L], hi[L], kw[2], kw[3]};
        fi_philox_scalar(c, kw[0], kw[1], 10);
        for (int j = 0; j < 4; j++) w[4 * (L / 16) + j][L % 16] = c[j];
    }
}
#define PHILOX_LANES NAME(philox_lanes)
#define FI_PHILOX_LANES_LOCAL 1
#endif

/* Up to 32 kept elements of one row, global row start `row`: lane L is global element
 * e = row + cols[L], which draws from Philox block (e / G) * 16 + e % 16 (G the group) and
 * takes word (pair) (e % G) / 16 of it; its value goes to orow[cols[L]].  Philox runs on those
 * blocks and pick32/pick64 take each lane's value: the dense fill's bits, one value computed
 * per element. */
static void NAME(masked_batch)(int dist, int fmt, const uint32_t kw[4], const void *p, void *orow,
                               uint64_t row, const uint32_t *cols, int m)
{
    const int shift = fmt < 0 ? 5 : 6; /* log2 of the group (G64, G32) */
    uint32_t lo[32] __attribute__((aligned(64))), hi[32] __attribute__((aligned(64)));
    uint32_t js[32] __attribute__((aligned(64)));
    uint32_t w[8][16] __attribute__((aligned(64)));
    for (int L = 0; L < 32; L++) {
        uint64_t e = row + (L < m ? cols[L] : 0u), b = (e >> shift << 4) | (e & 15u);
        lo[L] = (uint32_t)b;
        hi[L] = (uint32_t)(b >> 32);
        js[L] = (uint32_t)(e >> 4) & ((1u << (shift - 4)) - 1u);
    }
    PHILOX_LANES(kw, lo, hi, w);
    if (fmt < 0) {
        double o[32] __attribute__((aligned(64)));
        NAME(pick64)(dist, (const uint32_t (*)[16])w, js, (const double *)p, o);
        NAME(pick64)(dist, (const uint32_t (*)[16])(w + 4), js + 16, (const double *)p, o + 16);
        for (int L = 0; L < m; L++) ((double *)orow)[cols[L]] = o[L];
        return;
    }
    float o[32] __attribute__((aligned(64)));
    NAME(pick32)(dist, (const uint32_t (*)[16])w, js, (const float *)p, o);
    NAME(pick32)(dist, (const uint32_t (*)[16])(w + 4), js + 16, (const float *)p, o + 16);
    if (fmt == FI_F32) {
        for (int L = 0; L < m; L++) ((float *)orow)[cols[L]] = o[L];
        return;
    }
    uint16_t h[32];
    for (int L = 0; L < 32; L += NF) {
        vf v;
        memcpy(&v, o + L, sizeof v);
        vh b = fmt == FI_F16 ? NAME(to_f16)(v) : NAME(to_bf16)(v);
        memcpy(h + L, &b, sizeof b);
    }
    for (int L = 0; L < m; L++) ((uint16_t *)orow)[cols[L]] = h[L];
}

#ifndef STREAM_COPY
#define STREAM_COPY memcpy
#define STREAM_FENCE() ((void)0)
#define FI_STREAM_LOCAL 1
#endif
#define SEG_BYTES 16384 /* a row is built a segment at a time in L1, then copied out */
#define STREAM_MIN (512u << 10) /* bytes of a masked block from which it is written non-temporally */

#ifndef COLLECT
/* cols[m ..] <- j0 + the positions of keep's set bits, in order; returns the new m */
FI_INLINE int NAME(collect)(uint32_t *cols, int m, uint32_t keep, uint32_t j0)
{
    for (; keep; keep &= keep - 1u) cols[m++] = j0 + (uint32_t)__builtin_ctz(keep);
    return m;
}
#define COLLECT NAME(collect)
#define FI_COLLECT_LOCAL 1
#endif

/* out[i * ld + j], i < nr, j < nc < 2^31: 0 where bit j of row i of bits is set, else global
 * element first + i * row_stride + j.  Only the kept elements are computed, 32 at a time, into
 * a zeroed segment of the row in L1, which STREAM_COPY then writes out whole (non-temporal
 * stores on x86: 1.7x the write rate of zeroing out and storing into it on one core, 1.2x
 * on two, measured). */
static void NAME(masked)(int dist, int fmt, const uint32_t kw[4], const void *p, void *out, int64_t ld,
                         int64_t nr, int64_t nc, const uint32_t *bits, int64_t bits_ld, uint64_t first,
                         uint64_t row_stride)
{
    const int size = fmt < 0 ? 8 : fmt == FI_F32 ? 4 : 2;
    uint32_t cols[64] __attribute__((aligned(64))); /* COLLECT may write 16 lanes past its count */
    char seg[SEG_BYTES] __attribute__((aligned(64)));
    const int64_t per = SEG_BYTES / size; /* elements of a segment, a multiple of 32 */
    /* non-temporal stores for blocks that cannot stay in cache anyway; smaller ones are copied
     * normally, so that they are in cache for whoever reads them next */
    const int stream = (uint64_t)nr * (uint64_t)nc * (uint64_t)size >= STREAM_MIN;
    for (int64_t i = 0; i < nr; i++) {
        char *orow = (char *)out + i * ld * size;
        const uint64_t row = first + (uint64_t)i * row_stride;
        for (int64_t s0 = 0; s0 < nc; s0 += per) {
            const int64_t sn = nc - s0 < per ? nc - s0 : per;
            memset(seg, 0, (size_t)sn * (size_t)size);
            int m = 0;
            for (int64_t q = s0 / 32; q < (s0 + sn + 31) / 32; q++) {
                uint32_t keep = ~bits[i * bits_ld + q];
                if (32 * q + 32 > nc) keep &= (1u << (nc - 32 * q)) - 1u;
                m = COLLECT(cols, m, keep, (uint32_t)(32 * q - s0));
                if (m >= 32) {
                    NAME(masked_batch)(dist, fmt, kw, p, seg, row + (uint64_t)s0, cols, 32);
                    m -= 32;
                    memmove(cols, cols + 32, (size_t)m * sizeof *cols);
                }
            }
            if (m) NAME(masked_batch)(dist, fmt, kw, p, seg, row + (uint64_t)s0, cols, m);
            if (stream) STREAM_COPY(orow + s0 * size, seg, (size_t)sn * (size_t)size);
            else memcpy(orow + s0 * size, seg, (size_t)sn * (size_t)size);
        }
    }
    if (stream) STREAM_FENCE();
}

/* row[j] <- 0 where bit j of m is set, j < t <= 32 (a sparse pattern's row across a tile) */
static void NAME(zero_bits)(char *row, uint32_t m, int64_t t, int itemsize)
{
    static const uint32_t iota_[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const vu iota = NAME(ldu)(iota_);
    int64_t j = 0;
    if (itemsize == 4)
        for (; j + NF <= t; j += NF) {
            vi z = (vi)((SPLATU(m >> j) >> iota) & 1u) != 0;
            vu v;
            memcpy(&v, row + 4 * j, sizeof v);
            v = SELU(z, SPLATU(0), v);
            memcpy(row + 4 * j, &v, sizeof v);
        }
    else if (itemsize == 2)
        for (; j + NF <= t; j += NF) {
            vi z = (vi)((SPLATU(m >> j) >> iota) & 1u) != 0;
            vh v;
            memcpy(&v, row + 2 * j, sizeof v);
            v &= __builtin_convertvector(~z, vh);
            memcpy(row + 2 * j, &v, sizeof v);
        }
    for (; j < t; j++) {
        if (!((m >> j) & 1)) continue;
        if (itemsize == 4) ((uint32_t *)row)[j] = 0;
        else if (itemsize == 2) ((uint16_t *)row)[j] = 0;
        else ((uint64_t *)row)[j] = 0;
    }
}

/* out[0 .. n) <- x[0 .. n) rounded to bfloat16 bits as the 16-bit fills round (fi_to_bf16) */
static void NAME(bf16)(const float *x, uint16_t *out, int64_t n)
{
    float tmp[2 * G32 + 16] __attribute__((aligned(64)));
    for (int64_t i = 0; i < n; i += 2 * G32) {
        const int64_t k = n - i < 2 * G32 ? n - i : 2 * G32;
        memcpy(tmp, x + i, (size_t)k * sizeof(float));
        NAME(store32)(FI_BF16, tmp, out, i, k);
    }
}

/* Philox4x32-10 of blocks b0 .. b0+31 (w[4h + j][L]: word j of block b0 + 16h + L), callable */
static void NAME(philox_blocks)(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16]) { PHILOX32(kw, b0, w); }

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
#ifdef FI_PERMF_LOCAL
#undef VPERMF
#undef FI_PERMF_LOCAL
#endif
#ifdef FI_ANY_LOCAL
#undef VANY
#undef FI_ANY_LOCAL
#endif
#ifdef FI_SOFT_FMA
#undef VFMAF
#undef FI_SOFT_FMA
#endif
