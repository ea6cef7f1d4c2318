/* Scalar arithmetic shared by every fill kernel, written once so that the
 * C kernels (any instruction set) and the Numba kernels (fastinit/kernels/_numba.py)
 * compute the same bits: plain IEEE +, -, *, /, sqrt in a fixed order, no libm,
 * no fused multiply-add (built with -ffp-contract=off).  Each function here has a
 * line-for-line twin in the Numba module; change both or neither.
 *
 * Included once per target instruction set by fill.c: no include guard, every
 * function static inline so the vectorizer sees through it.
 */

static inline uint32_t NAME(f2u)(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float NAME(u2f)(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static inline uint64_t NAME(d2u)(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double NAME(u2d)(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* ---- float32 ---------------------------------------------------------------- */

/* Natural log of a normal float32 x > 0 (Cephes logf: x = m 2^e, m in [sqrt(.5), sqrt(2))). */
static inline float NAME(logf)(float x)
{
    uint32_t ix = NAME(f2u)(x);
    int32_t e = (int32_t)(ix >> 23) - 126;
    float m = NAME(u2f)((ix & 0x007fffffu) | 0x3f000000u); /* [0.5, 1) */
    int small = m < F(0.707106781186547524);
    e = small ? e - 1 : e;
    float f = small ? (m + m) - 1.0f : m - 1.0f;
    float z = f * f;
    float y = F(7.0376836292e-2);
    y = y * f - F(1.1514610310e-1);
    y = y * f + F(1.1676998740e-1);
    y = y * f - F(1.2420140846e-1);
    y = y * f + F(1.4249322787e-1);
    y = y * f - F(1.6668057665e-1);
    y = y * f + F(2.0000714765e-1);
    y = y * f - F(2.4999993993e-1);
    y = y * f + F(3.3333331174e-1);
    y = (y * f) * z;
    float fe = (float)e;
    y = y + (-F(2.12194440e-4) * fe);
    y = y + (-0.5f * z);
    float r = f + y;
    return r + 0.693359375f * fe;
}

/* sin and cos on [-pi/4, pi/4] (Cephes sinf/cosf polynomials). */
static inline float NAME(sinpf)(float x)
{
    float z = x * x;
    float y = -F(1.9515295891e-4);
    y = y * z + F(8.3321608736e-3);
    y = y * z - F(1.6666654611e-1);
    return ((y * z) * x) + x;
}

static inline float NAME(cospf)(float x)
{
    float z = x * x;
    float y = F(2.443315711809948e-5);
    y = y * z - F(1.388731625493765e-3);
    y = y * z + F(4.166664568298827e-2);
    return (((y * z) * z) - 0.5f * z) + 1.0f;
}

/* AS241 (Wichura 1988) tail and centre rationals, selected per lane so that a vector
 * evaluates one rational per region instead of branching. */
static inline float NAME(ndtri_lowf)(float p)
{
    /* Phi^-1(p) for 0 < p <= ~0.5; result <= 0 */
    float q = p - 0.5f;
    float r = F(0.180625) - q * q;
    float a = F(2509.0809287301226727);
    a = a * r + F(33430.575583588128105);
    a = a * r + F(67265.770927008700853);
    a = a * r + F(45921.953931549871457);
    a = a * r + F(13731.693765509461125);
    a = a * r + F(1971.5909503065514427);
    a = a * r + F(133.14166789178437745);
    a = a * r + F(3.3871328727963666080);
    float b = F(5226.4952788528545610);
    b = b * r + F(28729.085735721942674);
    b = b * r + F(39307.895800092710610);
    b = b * r + F(21213.794301586595867);
    b = b * r + F(5394.1960214247511077);
    b = b * r + F(687.18700749205790830);
    b = b * r + F(42.313330701600911252);
    b = b * r + 1.0f;
    float central = (q * a) / b;

    float t = __builtin_sqrtf(-NAME(logf)(p));
    int mid = t <= 5.0f;
    float s = mid ? t - F(1.6) : t - 5.0f;
    float c = mid ? F(7.74545014278341407640e-4) : F(2.01033439929228813265e-7);
    c = c * s + (mid ? F(2.27238449892691845833e-2) : F(2.71155556874348757815e-5));
    c = c * s + (mid ? F(2.41780725177450611770e-1) : F(1.24266094738807843860e-3));
    c = c * s + (mid ? F(1.27045825245236838258e+0) : F(2.65321895265761230930e-2));
    c = c * s + (mid ? F(3.64784832476320460504e+0) : F(2.96560571828504891230e-1));
    c = c * s + (mid ? F(5.76949722146069140550e+0) : F(1.78482653991729133580e+0));
    c = c * s + (mid ? F(4.63033784615654529590e+0) : F(5.46378491116411436990e+0));
    c = c * s + (mid ? F(1.42343711074968357734e+0) : F(6.65790464350110377720e+0));
    float d = mid ? F(1.05075007164441684324e-9) : F(2.04426310338993978564e-15);
    d = d * s + (mid ? F(5.47593808499534494600e-4) : F(1.42151175831644588870e-7));
    d = d * s + (mid ? F(1.51986665636164571966e-2) : F(1.84631831751005468180e-5));
    d = d * s + (mid ? F(1.48103976427480074590e-1) : F(7.86869131145613259100e-4));
    d = d * s + (mid ? F(6.89767334985100004550e-1) : F(1.48753612908506148525e-2));
    d = d * s + (mid ? F(1.67638483018380384940e+0) : F(1.36929880922735805310e-1));
    d = d * s + (mid ? F(2.05319162663775882187e+0) : F(5.99832206555887937690e-1));
    d = d * s + 1.0f;
    float tail = -(c / d);
    return q >= -F(0.425) ? central : tail;
}

/* float32 -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
static inline uint16_t NAME(to_bf16)(float x)
{
    uint32_t u = NAME(f2u)(x);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u;
    return (uint16_t)(((u & 0x7fffffffu) > 0x7f800000u) ? nan : rounded);
}

/* float32 -> float16 bits, round to nearest even (Giesen's float_to_half_fast3_rtne). */
static inline uint16_t NAME(to_f16)(float x)
{
    uint32_t u = NAME(f2u)(x);
    uint32_t sign = u & 0x80000000u;
    uint32_t a = u ^ sign;
    uint32_t infnan = (a > 0x7f800000u) ? 0x7e00u : 0x7c00u;
    /* subnormal result: let the float adder round the mantissa into place */
    uint32_t sub = NAME(f2u)(NAME(u2f)(a) + 0.5f) - 0x3f000000u;
    uint32_t norm = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13; /* (15-127)<<23 + 0xfff */
    uint32_t o = (a >= 0x47800000u) ? infnan : ((a < 0x38800000u) ? sub : norm);
    return (uint16_t)((sign >> 16) | (o & 0xffffu));
}

/* ---- float64 ---------------------------------------------------------------- */

/* Natural log of a normal double x > 0 (fdlibm e_log.c general case, musl layout). */
static inline double NAME(log)(double x)
{
    uint64_t ix = NAME(d2u)(x);
    int64_t k = (int64_t)(ix >> 52) - 1023;
    double m = NAME(u2d)((ix & 0x000fffffffffffffull) | 0x3ff0000000000000ull); /* [1, 2) */
    int big = m > 1.41421356237309504880;
    m = big ? m * 0.5 : m;
    k = big ? k + 1 : k;
    double f = m - 1.0;
    double hfsq = (0.5 * f) * f;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    double t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    double R = t2 + t1;
    double dk = (double)k;
    return dk * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + dk * 1.90821492927058770002e-10)) - f);
}

/* sin and cos on [-pi/4, pi/4] (fdlibm/musl __sin and __cos kernels with y = 0). */
static inline double NAME(sinp)(double x)
{
    double z = x * x;
    double w = z * z;
    double r = (8.33333333332248946124e-03 + z * (-1.98412698298579493134e-04 + z * 2.75573137070700676789e-06))
             + (z * w) * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10);
    double v = z * x;
    return x + v * (-1.66666666666666324348e-01 + z * r);
}

static inline double NAME(cosp)(double x)
{
    double z = x * x;
    double w = z * z;
    double r = z * (4.16666666666666019037e-02 + z * (-1.38888888888741095749e-03 + z * 2.48015872894767294178e-05))
             + (w * w) * (-2.75573143513906633035e-07 + z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11));
    double hz = 0.5 * z;
    double one_hz = 1.0 - hz;
    return one_hz + (((1.0 - one_hz) - hz) + z * r);
}

static inline double NAME(ndtri_low)(double p)
{
    double q = p - 0.5;
    double r = 0.180625 - q * q;
    double a = 2509.0809287301226727;
    a = a * r + 33430.575583588128105;
    a = a * r + 67265.770927008700853;
    a = a * r + 45921.953931549871457;
    a = a * r + 13731.693765509461125;
    a = a * r + 1971.5909503065514427;
    a = a * r + 133.14166789178437745;
    a = a * r + 3.3871328727963666080;
    double b = 5226.4952788528545610;
    b = b * r + 28729.085735721942674;
    b = b * r + 39307.895800092710610;
    b = b * r + 21213.794301586595867;
    b = b * r + 5394.1960214247511077;
    b = b * r + 687.18700749205790830;
    b = b * r + 42.313330701600911252;
    b = b * r + 1.0;
    double central = (q * a) / b;

    double t = __builtin_sqrt(-NAME(log)(p));
    int mid = t <= 5.0;
    double s = mid ? t - 1.6 : t - 5.0;
    double c = mid ? 7.74545014278341407640e-4 : 2.01033439929228813265e-7;
    c = c * s + (mid ? 2.27238449892691845833e-2 : 2.71155556874348757815e-5);
    c = c * s + (mid ? 2.41780725177450611770e-1 : 1.24266094738807843860e-3);
    c = c * s + (mid ? 1.27045825245236838258e+0 : 2.65321895265761230930e-2);
    c = c * s + (mid ? 3.64784832476320460504e+0 : 2.96560571828504891230e-1);
    c = c * s + (mid ? 5.76949722146069140550e+0 : 1.78482653991729133580e+0);
    c = c * s + (mid ? 4.63033784615654529590e+0 : 5.46378491116411436990e+0);
    c = c * s + (mid ? 1.42343711074968357734e+0 : 6.65790464350110377720e+0);
    double d = mid ? 1.05075007164441684324e-9 : 2.04426310338993978564e-15;
    d = d * s + (mid ? 5.47593808499534494600e-4 : 1.42151175831644588870e-7);
    d = d * s + (mid ? 1.51986665636164571966e-2 : 1.84631831751005468180e-5);
    d = d * s + (mid ? 1.48103976427480074590e-1 : 7.86869131145613259100e-4);
    d = d * s + (mid ? 6.89767334985100004550e-1 : 1.48753612908506148525e-2);
    d = d * s + (mid ? 1.67638483018380384940e+0 : 1.36929880922735805310e-1);
    d = d * s + (mid ? 2.05319162663775882187e+0 : 5.99832206555887937690e-1);
    d = d * s + 1.0;
    double tail = -(c / d);
    return q >= -0.425 ? central : tail;
}
