/* Fill kernels, compiled once per instruction set by fill.c, which defines NAME() (the
 * suffix), VBYTES (native vector width), VSQRTF/VSQRTD and, on x86, PHILOX32.
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
typedef double NAME(vd_t) __attribute__((vector_size(VBYTES)));
typedef int64_t NAME(vl_t) __attribute__((vector_size(VBYTES)));
typedef uint64_t NAME(vul_t) __attribute__((vector_size(VBYTES)));
typedef uint32_t NAME(vu2_t) __attribute__((vector_size(VBYTES / 2)));
#define vf NAME(vf_t)
#define vi NAME(vi_t)
#define vu NAME(vu_t)
#define vh NAME(vh_t)
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

/* the 64 values of one group from its words w[0..3][0..15] into o[0..63] */
FI_INLINE void NAME(transform32)(int dist, const uint32_t (*w)[16], const float *p, float *o)
{
    if (dist == FI_UNIFORM) {
        for (int j = 0; j < 4; j++)
            for (int s = 0; s < 16; s += NF)
                NAME(stf)(o + 16 * j + s, NAME(clampf)(NAME(unitf)(NAME(ldu)(&w[j][s])) * p[0] + p[1], p[2], p[3]));
    } else if (dist == FI_NORMAL) {
        /* Box-Muller on the pairs (w0, w1) and (w2, w3): cos to j even, sin to j odd */
        for (int pair = 0; pair < 2; pair++) {
            for (int s = 0; s < 16; s += NF) {
                vu we = NAME(ldu)(&w[2 * pair][s]), wo = NAME(ldu)(&w[2 * pair + 1][s]);
                vf u1 = __builtin_convertvector((vi)((we >> 8) + 1u), vf) * 0x1p-24f; /* (0, 1] */
                vf r = VSQRTF(-2.0f * NAME(logf)(u1));
                /* angle 2 pi x / 2^24 = quadrant q * pi/2 + phi, phi in [-pi/4, pi/4) */
                vu x = wo >> 8;
                vu q = (x + 0x200000u) >> 22;
                vf phi = __builtin_convertvector((vi)x - (vi)(q << 22), vf) * 0x1.921fb6p-22f; /* float32(pi/2) 2^-22 */
                vf sn = NAME(sinpf)(phi), cs = NAME(cospf)(phi);
                vi swap = (vi)(q & 1u) != 0;
                vf c = SEL(swap, sn, cs), si = SEL(swap, cs, sn);
                c = SEL((vi)((q + 1u) & 2u) != 0, -c, c);
                si = SEL((vi)(q & 2u) != 0, -si, si);
                NAME(stf)(o + 32 * pair + s, FMAF(r * c, SPLATF(p[0]), SPLATF(p[1])));
                NAME(stf)(o + 32 * pair + 16 + s, FMAF(r * si, SPLATF(p[0]), SPLATF(p[1])));
            }
        }
    } else {
        /* inverse CDF of the mass [Phi(alpha), Phi(beta)]: the central rational from
         * q = p - 1/2 = (Phi(alpha) - 1/2) + u m, the tails from the smaller tail probability */
        for (int j = 0; j < 4; j++) {
            for (int s = 0; s < 16; s += NF) {
                vi k2 = (vi)((NAME(ldu)(&w[j][s]) >> 9) << 1) + 1;             /* odd, < 2^24 */
                vf u = __builtin_convertvector(k2, vf) * 0x1p-24f;              /* (0, 1) */
                vf v1 = __builtin_convertvector(0x1000000 - k2, vf) * 0x1p-24f; /* 1 - u, exact */
                vf q = FMAF(u, SPLATF(p[6]), SPLATF(p[7]));
                vf plo = FMAF(u, SPLATF(p[6]), SPLATF(p[4]));
                vf phi_ = FMAF(v1, SPLATF(p[6]), SPLATF(p[5]));
                vi lower = plo <= phi_;
                vf tail = NAME(ndtri_tailf)(SEL(lower, plo, phi_));
                vf z = SEL((q <= F(0.425)) & (q >= -F(0.425)), NAME(ndtri_centralf)(q), SEL(lower, -tail, tail));
                NAME(stf)(o + 16 * j + s, NAME(clampf)(FMAF(z, SPLATF(p[0]), SPLATF(p[1])), p[2], p[3]));
            }
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
    for (int64_t j = 0; j < n; j += NF) {
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
        NAME(transform32)(dist, w, p, o);
        NAME(transform32)(dist, w + 4, p, o + G32);
        if (o == tmp) NAME(store32)(fmt, tmp + e0, out, at, take);
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
#endif
    v = SELD(v < lo, SPLATD(lo), v);
    return SELD(v > hi, SPLATD(hi), v);
}

/* ((hi << 32) | lo) >> shift of ND lanes from two word rows */
FI_INLINE vul NAME(join)(const uint32_t *lo, const uint32_t *hi, int shift)
{
    return ((__builtin_convertvector(NAME(ldu2)(hi), vul) << 32) | __builtin_convertvector(NAME(ldu2)(lo), vul)) >> shift;
}

/* the 32 values of one group from its words w[0..3][0..15] into o[0..31] */
FI_INLINE void NAME(transform64)(int dist, const uint32_t (*w)[16], const double *p, double *o)
{
    if (dist == FI_UNIFORM) {
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 16; s += ND) {
                vd u = __builtin_convertvector((vl)NAME(join)(&w[2 * h][s], &w[2 * h + 1][s], 11), vd) * 0x1p-53;
                NAME(std)(o + 16 * h + s, NAME(clampd)(u * p[0] + p[1], p[2], p[3]));
            }
    } else if (dist == FI_NORMAL) {
        for (int s = 0; s < 16; s += ND) {
            /* (0, 1]; the +1 is exact below 2^53 */
            vd u1 = (__builtin_convertvector((vl)NAME(join)(&w[0][s], &w[1][s], 11), vd) + 1.0) * 0x1p-53;
            vd r = VSQRTD(-2.0 * NAME(log)(u1));
            vul x = NAME(join)(&w[2][s], &w[3][s], 11);
            vul q = (x + 0x4000000000000ull) >> 51;
            vd phi = __builtin_convertvector((vl)x - (vl)(q << 51), vd) * 0x1.921fb54442d18p-51; /* double(pi/2) 2^-51 */
            vd sn = NAME(sinp)(phi), cs = NAME(cosp)(phi);
            vl swap = (vl)(q & 1u) != 0;
            vd c = SELD(swap, sn, cs), si = SELD(swap, cs, sn);
            c = SELD((vl)((q + 1u) & 2u) != 0, -c, c);
            si = SELD((vl)(q & 2u) != 0, -si, si);
            NAME(std)(o + s, (r * c) * p[0] + p[1]);
            NAME(std)(o + 16 + s, (r * si) * p[0] + p[1]);
        }
    } else {
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 16; s += ND) {
                vl k2 = (vl)(NAME(join)(&w[2 * h][s], &w[2 * h + 1][s], 12) << 1) + 1; /* odd, < 2^53 */
                vd u = __builtin_convertvector(k2, vd) * 0x1p-53;
                vd v1 = __builtin_convertvector(0x20000000000000ll - k2, vd) * 0x1p-53; /* 1 - u, exact */
                vd q = p[7] + u * p[6];
                vd plo = p[4] + u * p[6];
                vd phi_ = p[5] + v1 * p[6];
                vl lower = plo <= phi_;
                vd tail = NAME(ndtri_tail)(SELD(lower, plo, phi_));
                vd z = SELD((q <= 0.425) & (q >= -0.425), NAME(ndtri_central)(q), SELD(lower, -tail, tail));
                NAME(std)(o + 16 * h + s, NAME(clampd)(z * p[0] + p[1], p[2], p[3]));
            }
    }
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
        NAME(transform64)(dist, w, p, o);
        NAME(transform64)(dist, w + 4, p, o + G64);
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

/* Philox4x32-10 of 16 arbitrary blocks b[L] (their counters are (b_lo, b_hi, stream)):
 * w[j][L] <- word j of block b[L].  Loops over the lanes, which the compiler vectorizes. */
FI_INLINE void NAME(philox_lanes)(const uint32_t kw[4], const uint64_t b[16], uint32_t w[4][16])
{
    uint32_t c0[16], c1[16], c2[16], c3[16];
    for (int l = 0; l < 16; l++) {
        c0[l] = (uint32_t)b[l];
        c1[l] = (uint32_t)(b[l] >> 32);
        c2[l] = kw[2];
        c3[l] = kw[3];
    }
    uint32_t k0 = kw[0], k1 = kw[1];
    for (int round = 0; round < 10; round++) {
        for (int l = 0; l < 16; l++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l], p1 = (uint64_t)PHILOX_M1 * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int l = 0; l < 16; l++) {
        w[0][l] = c0[l];
        w[1][l] = c1[l];
        w[2][l] = c2[l];
        w[3][l] = c3[l];
    }
}

/* m <= 16 elements: out element pos[L] <- global element e[L].  Lane L computes the group
 * transform of block (e / G) * 16 + e % 16 -- the block element e draws from -- and keeps the
 * one value of that lane e is (the transforms are lane-wise, so these are the dense fill's bits). */
static void NAME(masked_batch32)(int dist, int fmt, const uint32_t kw[4], const float *p, void *out,
                                 const uint64_t *e, const int64_t *pos, int m)
{
    uint64_t b[16] = {0};
    uint32_t w[4][16] __attribute__((aligned(64)));
    float o[G32] __attribute__((aligned(64)));
    for (int l = 0; l < m; l++) b[l] = e[l] / G32 * 16 + e[l] % 16;
    NAME(philox_lanes)(kw, b, w);
    NAME(transform32)(dist, (const uint32_t (*)[16])w, p, o);
    for (int l = 0; l < m; l++) {
        float v = o[16 * (e[l] % G32 / 16) + l];
        if (fmt == FI_F32) {
            ((float *)out)[pos[l]] = v;
        } else {
            vf x = SPLATF(v);
            vh h = fmt == FI_F16 ? NAME(to_f16)(x) : NAME(to_bf16)(x);
            ((uint16_t *)out)[pos[l]] = h[0];
        }
    }
}

static void NAME(masked_batch64)(int dist, const uint32_t kw[4], const double *p, double *out,
                                 const uint64_t *e, const int64_t *pos, int m)
{
    uint64_t b[16] = {0};
    uint32_t w[4][16] __attribute__((aligned(64)));
    double o[G64] __attribute__((aligned(64)));
    for (int l = 0; l < m; l++) b[l] = e[l] / G64 * 16 + e[l] % 16;
    NAME(philox_lanes)(kw, b, w);
    NAME(transform64)(dist, (const uint32_t (*)[16])w, p, o);
    for (int l = 0; l < m; l++) out[pos[l]] = o[16 * (e[l] % G64 / 16) + l];
}

/* out[i * ld + j], i < nr, j < nc: 0 where bit j of row i of bits is set, else global element
 * first + i * row_stride + j.  Only the kept elements are computed. */
static void NAME(masked)(int dist, int fmt, const uint32_t kw[4], const void *p, void *out, int64_t ld,
                         int64_t nr, int64_t nc, const uint32_t *bits, int64_t bits_ld, uint64_t first,
                         uint64_t row_stride)
{
    const int size = fmt < 0 ? 8 : fmt == FI_F32 ? 4 : 2;
    uint64_t e[16];
    int64_t pos[16];
    int m = 0;
    for (int64_t i = 0; i < nr; i++) {
        memset((char *)out + i * ld * size, 0, (size_t)nc * (size_t)size);
        for (int64_t q = 0; q < (nc + 31) / 32; q++) {
            uint32_t keep = ~bits[i * bits_ld + q];
            if (32 * q + 32 > nc) keep &= (1u << (nc - 32 * q)) - 1u;
            while (keep) {
                int64_t j = 32 * q + __builtin_ctz(keep);
                keep &= keep - 1u;
                e[m] = first + (uint64_t)i * row_stride + (uint64_t)j;
                pos[m++] = i * ld + j;
                if (m == 16) {
                    if (fmt < 0) NAME(masked_batch64)(dist, kw, (const double *)p, (double *)out, e, pos, m);
                    else NAME(masked_batch32)(dist, fmt, kw, (const float *)p, out, e, pos, m);
                    m = 0;
                }
            }
        }
    }
    if (m) {
        if (fmt < 0) NAME(masked_batch64)(dist, kw, (const double *)p, (double *)out, e, pos, m);
        else NAME(masked_batch32)(dist, fmt, kw, (const float *)p, out, e, pos, m);
    }
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

/* Philox4x32-10 of blocks b0 .. b0+31 (w[4h + j][L]: word j of block b0 + 16h + L), callable */
static void NAME(philox_blocks)(const uint32_t kw[4], uint64_t b0, uint32_t w[8][16]) { PHILOX32(kw, b0, w); }

#undef vf
#undef vi
#undef vu
#undef vh
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

#undef FMAF
#ifdef FI_SOFT_FMA
#undef VFMAF
#undef FI_SOFT_FMA
#endif
