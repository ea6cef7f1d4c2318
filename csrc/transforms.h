/* The distribution transforms of the fills: each lane's value from its own Philox words only
 * (uniform, Box-Muller normal, truncated normal by the inverse CDF; float32 NF lanes and float64
 * ND lanes at a time), the formulas of docs/streams.md.  The dense fills (dense.h) and the masked
 * fills (masked.h) both call these, so they give the same bits; fastinit/kernels/_numba.py has
 * the twins under the same names.
 *
 * A per-target template, included by fill_impl.h after fimath.h: needs NAME(), the vector types
 * (vf, vi, vu, vd, vl, vul, vu2), NF/ND, FMAF, VSQRTF/VSQRTD, NAME(ldu2), and fastinit.h's
 * parameter layout.  No include guard. */

/* ---- 32-bit family ------------------------------------------------------------- */

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

/* uniform32 where it is known to need no clamp and u p[0] = k (p[0] 2^-24) exactly (k = w >> 8):
 * k scale + shift, scale = p[0] 2^-24 (uniform32_plan) -- one multiply and no min/max fewer, the
 * same bits */
FI_INLINE vf NAME(uniform32_fast)(vu w, vf scale, vf shift)
{
    return __builtin_convertvector((vi)(w >> 8), vf) * scale + shift;
}

/* Nonzero if uniform32_fast(w, scale, p[1]) equals uniform32(w, p) for every w, with *scale set:
 * p[0] 2^-24 is exact (|p[0]| >= 2^-102: a normal float), so k 2^-24 p[0] and k (p[0] 2^-24)
 * are the one real number rounded once; and the clamp into [p[2], p[3]] changes nothing, since
 * k p[0] 2^-24 + p[1] (each step rounded) is monotone in k: its values lie between those at
 * k = 0 and k = 2^24 - 1, computed here in the same float arithmetic.  No value is then a NaN:
 * p is finite, so |k scale| < |p[0]| is, and a sum of two finite floats is not a NaN. */
FI_INLINE int NAME(uniform32_plan)(const float *p, float *scale)
{
    for (int i = 0; i < 4; i++)
        if (!(p[i] >= -FLT_MAX && p[i] <= FLT_MAX)) return 0; /* NaN or infinite */
    if (p[0] != 0.0f && !(p[0] >= 0x1p-102f || p[0] <= -0x1p-102f)) return 0;
    const float s = p[0] * 0x1p-24f;
    const float v0 = 0.0f * s + p[1], v1 = 16777215.0f * s + p[1];
    const float lo = v0 < v1 ? v0 : v1, hi = v0 < v1 ? v1 : v0;
    if (p[2] > lo || p[3] < hi) return 0;
    *scale = s;
    /* 2 if no value is a denormal: each is fl(k s) + p[1] rounded, both terms 0 or multiples of
     * 2^-126 when |s|, |p[1]| >= 2^-103 (24-bit significands), so a nonzero value is >= 2^-126 */
    const float tiny = 0x1p-103f;
    return (s >= tiny || s <= -tiny) && (p[1] == 0.0f || p[1] >= tiny || p[1] <= -tiny) ? 2 : 1;
}

/* Box-Muller of the pair (we, wo): *c the cos value, *si the sin value, each r std * trig + mean */
FI_INLINE void NAME(boxmuller32)(vu we, vu wo, const float *p, vf *c, vf *si)
{
    /* u1 = k 2^-24 in (0, 1], k = (we >> 8) + 1: log u1 = logtf(k, -24), the scaling done in
     * the exponent field (fimath.h) */
    vf k = __builtin_convertvector((vi)((we >> 8) + 1u), vf);
    vf r = VSQRTF(-2.0f * NAME(logtf)(k, -24));
    /* angle 2 pi x / 2^24 = quadrant q * pi/2 + phi, phi in [-pi/4, pi/4), q = y >> 22 with
     * y = x + 2^21: q's bits are y's bits 22, 23 (and q + 1's bit 1 is bit 23 of y + 2^22), so
     * the swap and the two sign flips are read off y directly (the Numba twin computes q; the
     * same values) */
    vu x = wo >> 8, y = x + 0x200000u;
    vf phi = __builtin_convertvector((vi)(x - (y & 0xffc00000u)), vf) * 0x1.921fb6p-22f; /* float32(pi/2) 2^-22 */
    vf sn = NAME(sinpf)(phi), cs = NAME(cospf)(phi);
    vi swap = (vi)(y & 0x400000u) != 0;
    vf cq = SEL(swap, sn, cs), sq = SEL(swap, cs, sn);
    /* negate where bit 1 of q + 1 (cos) or of q (sin) is set: by flipping the sign bit, which is
     * what negation does (selecting -cq would cost a compare and a blend more) */
    cq = (vf)((vu)cq ^ (((y + 0x400000u) << 8) & 0x80000000u));
    sq = (vf)((vu)sq ^ ((y << 8) & 0x80000000u));
    vf rs = r * SPLATF(p[0]); /* r std, shared by the pair */
    *c = FMAF(rs, cq, SPLATF(p[1]));
    *si = FMAF(rs, sq, SPLATF(p[1]));
}

/* 2 if no normal32 value with these parameters (p[0] = std, p[1] = mean) is a denormal or a NaN,
 * so a bfloat16 conversion that flushes denormals (VTOBF16X2) needs no per-vector test, nor the
 * portable one a NaN test; else 0.  No NaN: r <= sqrt(48 log 2) < 6, so rs is finite for
 * |std| <= 2^124, and fl(rs trig + mean) adds finite floats (trig may be 0: inf 0 would be NaN).
 * A value is fl(rs trig + mean) with rs = fl(r std): r is 0 or >= 2^-12 (u1 <= 1 - 2^-24), so
 * |std| >= 2^-20 makes rs 0 or a normal float >= 2^-33 (its ulp >= 2^-56); trig is 0 or
 * >= sin(pi/2 2^-22) > 2^-22 (ulp >= 2^-45); so rs trig is a multiple of 2^-101, and mean
 * (0, or |mean| >= 2^-100) one of 2^-123: the exact sum is 0 (converted as +-0 either way) or
 * at least 2^-123 in magnitude, which rounds to a normal float. */
FI_INLINE int NAME(normal32_plan)(const float *p)
{
    const float sd = p[0] < 0.0f ? -p[0] : p[0], mean = p[1] < 0.0f ? -p[1] : p[1];
    return sd >= 0x1p-20f && sd <= 0x1p124f && (mean == 0.0f || (mean >= 0x1p-100f && mean <= FLT_MAX)) ? 2 : 0;
}

/* inverse CDF of the mass [Phi(alpha), Phi(beta)]: q = p - 1/2 = (Phi(alpha) - 1/2) + u m
 * (resolution near the mean), and the smaller of p = Phi(alpha) + u m and 1 - p = Phi(-beta)
 * + (1 - u) m (resolution far into either tail) */
FI_INLINE vf NAME(truncnormal32)(vu w, const float *p)
{
    /* u = k2 2^-24 and 1 - u, both exact; u m = k2 (m 2^-24), exact scalings (m >= 1e-30 keeps
     * m 2^-24 a normal float), so each FMA below rounds u m + c once, as written in streams.md */
    vi k2 = (vi)(w >> 8) | 1; /* ((w >> 9) << 1) + 1: odd, < 2^24 */
    /* 2^24 - k2 as a float: both integers below 2^25, so the float subtraction is exact */
    vf k = __builtin_convertvector(k2, vf), k1 = 16777216.0f - k;
    vf m = SPLATF(p[6] * 0x1p-24f);
    vf q = FMAF(k, m, SPLATF(p[7]));
    vf plo = FMAF(k, m, SPLATF(p[4]));
    vf phi_ = FMAF(k1, m, SPLATF(p[5]));
    /* the smaller: plo <= phi_ ? plo : phi_, as phi_ < plo ? phi_ : plo (one MINPS; the two
     * differ only for a NaN, which valid parameters never give) */
#ifdef VMINF
    vf z = NAME(ndtrif)(q, VMINF(phi_, plo));
#else
    vf z = NAME(ndtrif)(q, SEL(phi_ < plo, phi_, plo));
#endif
    return NAME(clampf)(FMAF(z, SPLATF(p[0]), SPLATF(p[1])), p[2], p[3]);
}

/* ---- float64 ------------------------------------------------------------------- */

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
