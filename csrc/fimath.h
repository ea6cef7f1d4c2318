/* Arithmetic shared by every fill kernel, on 16-lane vectors (GCC vector extensions),
 * written once so that every instruction set compiles the same operations: plain IEEE
 * +, -, *, /, sqrt in a fixed order, no libm.  The compiler never contracts a * b + c
 * (-ffp-contract=off); the float32 functions fuse explicitly where written FMAF (one
 * rounding: the FMA instruction, or C99 fmaf on a target without one).
 * Each function has a line-for-line scalar twin in fastinit/kernels/_numba.py; change
 * both or neither.  Where this side is written differently for speed, the comment there says
 * why it is the same value (ndtrif's FNMA, logtf's index).  Lane selects (SEL) are bitwise, so they round nothing.
 *
 * Included once per target instruction set by fill.c, which defines NAME(), VSQRTF and
 * VSQRTD for that target: no include guard, every function static inline.
 */

/* ---- float32 ---------------------------------------------------------------- */

/* Natural log of x 2^e, x > 0 and x 2^e normal float32, by a 16-entry table (the reduction of
 * Szabolcs Nagy's logf, ARM optimized-routines / glibc 2.28): x 2^e = 2^k z, z in [0.7, 1.4),
 * z ~ c_i, so log = k ln 2 - log(1/c_i) + log1p(r), r = z / c_i - 1 (|r| < 0.031, one FMA with
 * the float32 1/c_i, exact up to one rounding), log1p(r) = r + r^2 (A0 + A1 r + A2 r^2).
 * The scaling 2^e (a constant) only moves k: it is taken off the exponent field with the table's
 * offset (one subtraction), so logtf(x, e) is logtf(x 2^e, 0) to the bit, a multiply fewer;
 * z = (tmp & 0x7fffff) + 0x3f330000 is x 2^e - (tmp & 0xff800000), the bits with k removed.
 * LOGT_* in fitables.h; the table lookups are VPERMF (a 16-lane permute) where the target has it. */
FI_INLINE vf NAME(logtf)(vf x, int e)
{
    vu tmp = (vu)x - (0x3f330000u - ((uint32_t)e << 23));
    vi i = (vi)(tmp >> 19); /* & 15 in VPERMF: a 16-entry permute reads the low 4 bits only */
    vi k = (vi)tmp >> 23;
    vf z = (vf)((tmp & 0x007fffffu) + 0x3f330000u);
    vf invc = VPERMF(LOGT_INVC, i), logc = VPERMF(LOGT_LOGC, i);
    vf r = FMAF(z, invc, SPLATF(-1.0f));
    vf fk = __builtin_convertvector(k, vf);
    vf hi = FMAF(fk, SPLATF(0.693359375f), logc); /* k ln2_hi exact (9 + 7 bits) */
    vf lo = FMAF(fk, SPLATF(-F(2.12194440e-4)), r);
    vf p = FMAF(SPLATF(F(LOGT_A[2])), r, SPLATF(F(LOGT_A[1])));
    p = FMAF(p, r, SPLATF(F(LOGT_A[0])));
    return FMAF(p, r * r, lo) + hi;
}

/* sin and cos on [-pi/4, pi/4] (Cephes sinf/cosf polynomials), Horner steps fused; cos fully
 * in Horner form, 1 + z (-1/2 + z (...)) with the last step an FMA too (stream layout 4). */
FI_INLINE vf NAME(sinpf)(vf x)
{
    vf z = x * x;
    vf y = FMAF(SPLATF(-F(1.9515295891e-4)), z, SPLATF(F(8.3321608736e-3)));
    y = FMAF(y, z, SPLATF(-F(1.6666654611e-1)));
    return FMAF(y * z, x, x);
}

FI_INLINE vf NAME(cospf)(vf x)
{
    vf z = x * x;
    vf y = FMAF(SPLATF(F(2.443315711809948e-5)), z, SPLATF(-F(1.388731625493765e-3)));
    y = FMAF(y, z, SPLATF(F(4.166664568298827e-2)));
    y = FMAF(y, z, SPLATF(-0.5f));
    return FMAF(y, z, SPLATF(1.0f));
}

/* Phi^-1(1/2 + q) = q R(w) from q and the smaller tail probability p = 1/2 - |q|, with
 * w = -log(4 p (1 - p)) = -log(1 - 4 q^2), the variable of Giles' erfinv (GPU Computing Gems
 * Jade, 2011): p keeps 1 - 4 q^2 relatively exact far into either tail, q keeps the
 * resolution near the mean.  One log; R is a polynomial in w - 2.5 (w < 5) or in
 * sqrt(w) - 3.125 (w <= 16) / - 6.625 (w > 16), coefficients NDTRI32_* (fitables.h), Horner steps
 * fused.  The tail's sqrt and polynomial run only for vectors with a lane in the tail
 * (p < 0.0017); each lane's value is the same either way. */
FI_INLINE vf NAME(ndtrif)(vf q, vf p)
{
    vf p4 = p * 4.0f;
    vf lw = NAME(logtf)(FMAF(-p4, p, p4), 0); /* -w */
    /* v = w - 2.5 = -(lw + 2.5) exactly (rounding is symmetric), and r v + c = c - r (lw + 2.5)
     * rounded once: FNMAF, no negation */
    vf t = lw + 2.5f;
    vf r = FNMAF(SPLATF(F(NDTRI32_CENTRAL[0])), t, SPLATF(F(NDTRI32_CENTRAL[1])));
    for (int i = 2; i < 10; i++) r = FNMAF(r, t, SPLATF(F(NDTRI32_CENTRAL[i])));
    vi tail = lw <= -5.0f; /* w >= 5 */
    if (VANY(tail)) {
        vf w = -lw;
        vi mid = w <= 16.0f;
#define C2(i) SEL(mid, SPLATF(F(NDTRI32_TAIL_MID[i])), SPLATF(F(NDTRI32_TAIL_FAR[i])))
        vf s = VSQRTF(w) - SEL(mid, SPLATF(3.125f), SPLATF(6.625f));
        vf rt = FMAF(C2(0), s, C2(1));
        for (int i = 2; i < 10; i++) rt = FMAF(rt, s, C2(i));
#undef C2
        r = SEL(tail, rt, r);
    }
    return q * r;
}

/* float32 -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
FI_INLINE vh NAME(to_bf16)(vf x)
{
    vu u = (vu)x;
    vu rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    vu nan = (u >> 16) | 0x40u;
    return __builtin_convertvector(SELU((u & 0x7fffffffu) > 0x7f800000u, nan, rounded), vh);
}

/* to_bf16 of the 2 NF lanes of a then b: the rounded (or quieted) bits' high halves, picked
 * from both vectors by one two-source shuffle (VPERMT2W with AVX-512) instead of a shift and a
 * narrowing per vector.  A pair without NaN skips the quieting selects: known by the caller
 * (nonan: the fill's plan rules NaN out; a constant there), or by one unordered compare of a
 * with b (VUNORD2, where the target has it).  VTOBF16X2 where the CPU converts in one
 * instruction: it gives these bits except for denormal inputs, which it flushes to a signed zero
 * (convert_fp32_to_bfloat16, Intel SDM) -- so a pair whose result has a zero lane (VZERO16:
 * a denormal, or a true zero, rare) is rounded here instead. */
FI_INLINE vh2 NAME(to_bf16x2)(vf a, vf b, int nonan)
{
#ifdef VTOBF16X2
    const vh2 h = VTOBF16X2(a, b);
    if (__builtin_expect(!VZERO16(h), 1)) return h;
#endif
    vu ua = (vu)a, ub = (vu)b;
    vu ra = ua + 0x7fffu + ((ua >> 16) & 1u), rb = ub + 0x7fffu + ((ub >> 16) & 1u);
#ifdef VUNORD2
    if (!nonan && __builtin_expect(VUNORD2(a, b), 0))
#else
    if (!nonan)
#endif
    {
        ra = SELU((ua & 0x7fffffffu) > 0x7f800000u, ua | 0x400000u, ra);
        rb = SELU((ub & 0x7fffffffu) > 0x7f800000u, ub | 0x400000u, rb);
    }
    vh2 odd;
    for (int i = 0; i < 2 * NF; i++) odd[i] = (uint16_t)(2 * i + 1); /* high halves, little-endian */
    return __builtin_shuffle((vh2)ra, (vh2)rb, odd);
}

/* float32 -> float16 bits, round to nearest even (Giesen's float_to_half_fast3_rtne). */
FI_INLINE vh NAME(to_f16)(vf x)
{
    vu u = (vu)x;
    vu sign = u & 0x80000000u;
    vu a = u ^ sign;
    vu infnan = SELU(a > 0x7f800000u, SPLATU(0x7e00u), SPLATU(0x7c00u));
    /* subnormal result: let the float adder round the mantissa into place */
    vu sub = (vu)((vf)a + 0.5f) - 0x3f000000u;
    vu norm = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13; /* (15-127)<<23 + 0xfff */
    vu o = SELU(a >= 0x47800000u, infnan, SELU(a < 0x38800000u, sub, norm));
    return __builtin_convertvector((sign >> 16) | (o & 0xffffu), vh);
}

/* ---- float64 ---------------------------------------------------------------- */

/* Natural log of normal double x > 0 (fdlibm e_log.c general case). */
FI_INLINE vd NAME(log)(vd x)
{
    vul ix = (vul)x;
    vl k = (vl)(ix >> 52) - 1023;
    vd m = (vd)((ix & 0x000fffffffffffffull) | 0x3ff0000000000000ull); /* [1, 2) */
    vl big = m > 1.41421356237309504880;
    m = SELD(big, m * 0.5, m);
    k = k - big; /* k + 1 where big */
    vd f = m - 1.0;
    vd hfsq = (0.5 * f) * f;
    vd s = f / (2.0 + f);
    vd z = s * s;
    vd w = z * z;
    vd t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    vd t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    vd R = t2 + t1;
    vd dk = __builtin_convertvector(k, vd);
    return dk * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + dk * 1.90821492927058770002e-10)) - f);
}

/* sin and cos on [-pi/4, pi/4] (fdlibm/musl __sin and __cos kernels with y = 0). */
FI_INLINE vd NAME(sinp)(vd x)
{
    vd z = x * x;
    vd w = z * z;
    vd r = (8.33333333332248946124e-03 + z * (-1.98412698298579493134e-04 + z * 2.75573137070700676789e-06))
         + (z * w) * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10);
    vd v = z * x;
    return x + v * (-1.66666666666666324348e-01 + z * r);
}

FI_INLINE vd NAME(cosp)(vd x)
{
    vd z = x * x;
    vd w = z * z;
    vd r = z * (4.16666666666666019037e-02 + z * (-1.38888888888741095749e-03 + z * 2.48015872894767294178e-05))
         + (w * w) * (-2.75573143513906633035e-07 + z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11));
    vd hz = 0.5 * z;
    vd one_hz = 1.0 - hz;
    return one_hz + (((1.0 - one_hz) - hz) + z * r);
}

FI_INLINE vd NAME(ndtri_central)(vd q)
{
    vd r = 0.180625 - q * q;
    vd a = AS241_A[0] * r + AS241_A[1];
    for (int i = 2; i < 8; i++) a = a * r + AS241_A[i];
    vd b = AS241_B[0] * r + AS241_B[1];
    for (int i = 2; i < 7; i++) b = b * r + AS241_B[i];
    b = b * r + 1.0;
    return (q * a) / b;
}

FI_INLINE vd NAME(ndtri_tail)(vd p)
{
    vd t = VSQRTD(-NAME(log)(p));
    vl mid = t <= 5.0;
#define C2(tab, i) SELD(mid, SPLATD(tab##_MID[i]), SPLATD(tab##_FAR[i]))
    vd s = SELD(mid, t - 1.6, t - 5.0);
    vd c = C2(AS241_C, 0);
    for (int i = 1; i < 8; i++) c = c * s + C2(AS241_C, i);
    vd d = C2(AS241_D, 0);
    for (int i = 1; i < 7; i++) d = d * s + C2(AS241_D, i);
    d = d * s + 1.0;
#undef C2
    return c / d;
}
