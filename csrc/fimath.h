/* Arithmetic shared by every fill kernel, on 16-lane vectors (GCC vector extensions),
 * written once so that every instruction set compiles the same operations: plain IEEE
 * +, -, *, /, sqrt in a fixed order, no libm, no fused multiply-add (-ffp-contract=off).
 * Each function has a line-for-line scalar twin in fastinit/kernels/_numba.py; change
 * both or neither.  Lane selects (SEL) are bitwise, so they round nothing.
 *
 * Included once per target instruction set by fill.c, which defines NAME(), VSQRTF and
 * VSQRTD for that target: no include guard, every function static inline.
 */

/* ---- float32 ---------------------------------------------------------------- */

/* Natural log of normal float32 x > 0 (Cephes logf: x = m 2^e, m in [sqrt(.5), sqrt(2))). */
FI_INLINE vf NAME(logf)(vf x)
{
    vu ix = (vu)x;
    vi e = (vi)(ix >> 23) - 126;
    vf m = (vf)((ix & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    vi small = m < F(0.707106781186547524);
    e = e + small; /* e - 1 where small */
    vf f = SEL(small, (m + m) - 1.0f, m - 1.0f);
    vf z = f * f;
    vf y = F(7.0376836292e-2) * f - F(1.1514610310e-1);
    y = y * f + F(1.1676998740e-1);
    y = y * f - F(1.2420140846e-1);
    y = y * f + F(1.4249322787e-1);
    y = y * f - F(1.6668057665e-1);
    y = y * f + F(2.0000714765e-1);
    y = y * f - F(2.4999993993e-1);
    y = y * f + F(3.3333331174e-1);
    y = (y * f) * z;
    vf fe = __builtin_convertvector(e, vf);
    y = y + (-F(2.12194440e-4) * fe);
    y = y + (-0.5f * z);
    vf r = f + y;
    return r + 0.693359375f * fe;
}

/* sin and cos on [-pi/4, pi/4] (Cephes sinf/cosf polynomials). */
FI_INLINE vf NAME(sinpf)(vf x)
{
    vf z = x * x;
    vf y = -F(1.9515295891e-4) * z + F(8.3321608736e-3);
    y = y * z - F(1.6666654611e-1);
    return ((y * z) * x) + x;
}

FI_INLINE vf NAME(cospf)(vf x)
{
    vf z = x * x;
    vf y = F(2.443315711809948e-5) * z - F(1.388731625493765e-3);
    y = y * z + F(4.166664568298827e-2);
    return (((y * z) * z) - 0.5f * z) + 1.0f;
}

/* Phi^-1(1/2 + q) for |q| <= 0.425: the central rational of Wichura's AS241 (PPND16),
 * taken from q itself so that intervals narrow around the mean keep their resolution. */
FI_INLINE vf NAME(ndtri_centralf)(vf q)
{
    vf r = F(0.180625) - q * q;
    vf a = F(2509.0809287301226727) * r + F(33430.575583588128105);
    a = a * r + F(67265.770927008700853);
    a = a * r + F(45921.953931549871457);
    a = a * r + F(13731.693765509461125);
    a = a * r + F(1971.5909503065514427);
    a = a * r + F(133.14166789178437745);
    a = a * r + F(3.3871328727963666080);
    vf b = F(5226.4952788528545610) * r + F(28729.085735721942674);
    b = b * r + F(39307.895800092710610);
    b = b * r + F(21213.794301586595867);
    b = b * r + F(5394.1960214247511077);
    b = b * r + F(687.18700749205790830);
    b = b * r + F(42.313330701600911252);
    b = b * r + 1.0f;
    return (q * a) / b;
}

/* -Phi^-1(p) for a tail probability 0 < p < 0.075: AS241's two tail rationals, chosen per
 * lane by coefficient selects, so a vector evaluates one rational. */
FI_INLINE vf NAME(ndtri_tailf)(vf p)
{
    vf t = VSQRTF(-NAME(logf)(p));
    vi mid = t <= 5.0f;
#define C2(x, y) SEL(mid, SPLATF(F(x)), SPLATF(F(y)))
    vf s = SEL(mid, t - F(1.6), t - 5.0f);
    vf c = C2(7.74545014278341407640e-4, 2.01033439929228813265e-7);
    c = c * s + C2(2.27238449892691845833e-2, 2.71155556874348757815e-5);
    c = c * s + C2(2.41780725177450611770e-1, 1.24266094738807843860e-3);
    c = c * s + C2(1.27045825245236838258e+0, 2.65321895265761230930e-2);
    c = c * s + C2(3.64784832476320460504e+0, 2.96560571828504891230e-1);
    c = c * s + C2(5.76949722146069140550e+0, 1.78482653991729133580e+0);
    c = c * s + C2(4.63033784615654529590e+0, 5.46378491116411436990e+0);
    c = c * s + C2(1.42343711074968357734e+0, 6.65790464350110377720e+0);
    vf d = C2(1.05075007164441684324e-9, 2.04426310338993978564e-15);
    d = d * s + C2(5.47593808499534494600e-4, 1.42151175831644588870e-7);
    d = d * s + C2(1.51986665636164571966e-2, 1.84631831751005468180e-5);
    d = d * s + C2(1.48103976427480074590e-1, 7.86869131145613259100e-4);
    d = d * s + C2(6.89767334985100004550e-1, 1.48753612908506148525e-2);
    d = d * s + C2(1.67638483018380384940e+0, 1.36929880922735805310e-1);
    d = d * s + C2(2.05319162663775882187e+0, 5.99832206555887937690e-1);
    d = d * s + 1.0f;
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
    vd a = 2509.0809287301226727 * r + 33430.575583588128105;
    a = a * r + 67265.770927008700853;
    a = a * r + 45921.953931549871457;
    a = a * r + 13731.693765509461125;
    a = a * r + 1971.5909503065514427;
    a = a * r + 133.14166789178437745;
    a = a * r + 3.3871328727963666080;
    vd b = 5226.4952788528545610 * r + 28729.085735721942674;
    b = b * r + 39307.895800092710610;
    b = b * r + 21213.794301586595867;
    b = b * r + 5394.1960214247511077;
    b = b * r + 687.18700749205790830;
    b = b * r + 42.313330701600911252;
    b = b * r + 1.0;
    return (q * a) / b;
}

FI_INLINE vd NAME(ndtri_tail)(vd p)
{
    vd t = VSQRTD(-NAME(log)(p));
    vl mid = t <= 5.0;
#define C2(x, y) SELD(mid, SPLATD(x), SPLATD(y))
    vd s = SELD(mid, t - 1.6, t - 5.0);
    vd c = C2(7.74545014278341407640e-4, 2.01033439929228813265e-7);
    c = c * s + C2(2.27238449892691845833e-2, 2.71155556874348757815e-5);
    c = c * s + C2(2.41780725177450611770e-1, 1.24266094738807843860e-3);
    c = c * s + C2(1.27045825245236838258e+0, 2.65321895265761230930e-2);
    c = c * s + C2(3.64784832476320460504e+0, 2.96560571828504891230e-1);
    c = c * s + C2(5.76949722146069140550e+0, 1.78482653991729133580e+0);
    c = c * s + C2(4.63033784615654529590e+0, 5.46378491116411436990e+0);
    c = c * s + C2(1.42343711074968357734e+0, 6.65790464350110377720e+0);
    vd d = C2(1.05075007164441684324e-9, 2.04426310338993978564e-15);
    d = d * s + C2(5.47593808499534494600e-4, 1.42151175831644588870e-7);
    d = d * s + C2(1.51986665636164571966e-2, 1.84631831751005468180e-5);
    d = d * s + C2(1.48103976427480074590e-1, 7.86869131145613259100e-4);
    d = d * s + C2(6.89767334985100004550e-1, 1.48753612908506148525e-2);
    d = d * s + C2(1.67638483018380384940e+0, 1.36929880922735805310e-1);
    d = d * s + C2(2.05319162663775882187e+0, 5.99832206555887937690e-1);
    d = d * s + 1.0;
#undef C2
    return c / d;
}
