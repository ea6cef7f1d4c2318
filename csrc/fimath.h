/* Arithmetic shared by every fill kernel, on 16-lane vectors (GCC vector extensions),
 * written once so that every instruction set compiles the same operations: plain IEEE
 * +, -, *, /, sqrt in a fixed order, no libm.  The compiler never contracts a * b + c
 * (-ffp-contract=off); the float32 functions fuse explicitly where written FMAF (one
 * rounding: the FMA instruction, or C99 fmaf on a target without one).
 * Each function has a line-for-line scalar twin in fastinit/kernels/_numba.py; change
 * both or neither.  Lane selects (SEL) are bitwise, so they round nothing.
 *
 * Included once per target instruction set by fill.c, which defines NAME(), VSQRTF and
 * VSQRTD for that target: no include guard, every function static inline.
 */

/* ---- float32 ---------------------------------------------------------------- */

/* Natural log of normal float32 x > 0 (Cephes logf: x = m 2^e, m in [sqrt(.5), sqrt(2))),
 * Horner steps and the final sums fused (FMAF: one rounding each). */
FI_INLINE vf NAME(logf)(vf x)
{
    vu ix = (vu)x;
    vi e = (vi)(ix >> 23) - 126;
    vf m = (vf)((ix & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    vi small = m < F(0.707106781186547524);
    e = e + small; /* e - 1 where small */
    vf f = SEL(small, (m + m) - 1.0f, m - 1.0f);
    vf z = f * f;
    vf y = FMAF(SPLATF(F(7.0376836292e-2)), f, SPLATF(-F(1.1514610310e-1)));
    y = FMAF(y, f, SPLATF(F(1.1676998740e-1)));
    y = FMAF(y, f, SPLATF(-F(1.2420140846e-1)));
    y = FMAF(y, f, SPLATF(F(1.4249322787e-1)));
    y = FMAF(y, f, SPLATF(-F(1.6668057665e-1)));
    y = FMAF(y, f, SPLATF(F(2.0000714765e-1)));
    y = FMAF(y, f, SPLATF(-F(2.4999993993e-1)));
    y = FMAF(y, f, SPLATF(F(3.3333331174e-1)));
    y = (y * f) * z;
    vf fe = __builtin_convertvector(e, vf);
    y = FMAF(SPLATF(-F(2.12194440e-4)), fe, y);
    y = FMAF(SPLATF(-0.5f), z, y);
    vf r = f + y;
    return FMAF(SPLATF(0.693359375f), fe, r);
}

/* sin and cos on [-pi/4, pi/4] (Cephes sinf/cosf polynomials), Horner steps fused. */
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
    return FMAF(y * z, z, -0.5f * z) + 1.0f;
}

/* Phi^-1(1/2 + q) for |q| <= 0.425: the central rational of Wichura's AS241 (PPND16),
 * taken from q itself so that intervals narrow around the mean keep their resolution. */
FI_INLINE vf NAME(ndtri_centralf)(vf q)
{
    vf r = FMAF(-q, q, SPLATF(F(0.180625)));
    vf a = FMAF(SPLATF(F(AS241_A[0])), r, SPLATF(F(AS241_A[1])));
    for (int i = 2; i < 8; i++) a = FMAF(a, r, SPLATF(F(AS241_A[i])));
    vf b = FMAF(SPLATF(F(AS241_B[0])), r, SPLATF(F(AS241_B[1])));
    for (int i = 2; i < 7; i++) b = FMAF(b, r, SPLATF(F(AS241_B[i])));
    b = FMAF(b, r, SPLATF(1.0f));
    return (q * a) / b;
}

/* -Phi^-1(p) for a tail probability 0 < p < 0.075: AS241's two tail rationals, chosen per
 * lane by coefficient selects, so a vector evaluates one rational. */
FI_INLINE vf NAME(ndtri_tailf)(vf p)
{
    vf t = VSQRTF(-NAME(logf)(p));
    vi mid = t <= 5.0f;
#define C2(tab, i) SEL(mid, SPLATF(F(tab##_MID[i])), SPLATF(F(tab##_FAR[i])))
    vf s = SEL(mid, t - F(1.6), t - 5.0f);
    vf c = C2(AS241_C, 0);
    for (int i = 1; i < 8; i++) c = FMAF(c, s, C2(AS241_C, i));
    vf d = C2(AS241_D, 0);
    for (int i = 1; i < 7; i++) d = FMAF(d, s, C2(AS241_D, i));
    d = FMAF(d, s, SPLATF(1.0f));
#undef C2
    return c / d;
}

/* float32 -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
FI_INLINE vh NAME(to_bf16)(vf x)
{
    vu u = (vu)x;
    vu rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    vu nan = (u >> 16) | 0x40u;
    return __builtin_convertvector(SELU((u & 0x7fffffffu) > 0x7f800000u, nan, rounded), vh);
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
