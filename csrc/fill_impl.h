/* Fill kernels, compiled once per instruction set by fill.c (NAME() adds the suffix).
 *
 * The stream layout (docs/streams.md) is built around 16 Philox blocks per group:
 * block b has counter (b_lo, b_hi, stream_lo, stream_hi) and key (seed_lo, seed_hi).
 *   32-bit family: a group is 64 elements; element 64g + 16j + L takes word j of block 16g + L.
 *   float64:       a group is 32 elements; element 32g + 16h + L takes words 2h, 2h+1 of block 16g + L.
 * Each output vector of 16 lanes is then one contiguous store, with no transposition.
 */

#define G32 64
#define G64 32

/* Philox4x32 constants (Salmon et al. 2011; Random123 philox.h) */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* Philox4x32-10 of the 16 blocks b0 .. b0+15: w[j][L] is word j of block b0 + L. */
static inline void NAME(philox16)(uint32_t k0, uint32_t k1, uint32_t s0, uint32_t s1,
                                  uint64_t b0, uint32_t w[4][16])
{
#if FI_HAVE_AVX512_PHILOX
    NAME(philox16_avx512)(k0, k1, s0, s1, b0, w);
#else
    uint32_t c0[16], c1[16], c2[16], c3[16];
    for (int L = 0; L < 16; L++) {
        uint64_t b = b0 + (uint64_t)L;
        c0[L] = (uint32_t)b;
        c1[L] = (uint32_t)(b >> 32);
        c2[L] = s0;
        c3[L] = s1;
    }
    for (int round = 0; round < 10; round++) {
        for (int L = 0; L < 16; L++) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[L];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2[L];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[L] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[L] ^ k1;
            c1[L] = (uint32_t)p1;
            c3[L] = (uint32_t)p0;
            c0[L] = n0;
            c2[L] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int L = 0; L < 16; L++) {
        w[0][L] = c0[L];
        w[1][L] = c1[L];
        w[2][L] = c2[L];
        w[3][L] = c3[L];
    }
#endif
}

/* ---- 32-bit family: one group of 64 float32 values ----------------------------- */

static inline void NAME(group32)(int dist, const uint32_t kw[4], const float *p, uint64_t g,
                                 float *restrict o)
{
    uint32_t w[4][16];
    NAME(philox16)(kw[0], kw[1], kw[2], kw[3], g * 16u, w);
    if (dist == FI_UNIFORM) {
        const float scale = p[0], shift = p[1], lo = p[2], hi = p[3];
        for (int j = 0; j < 4; j++) {
            for (int L = 0; L < 16; L++) {
                float u = (float)(int32_t)(w[j][L] >> 8) * 0x1p-24f; /* [0, 1) */
                float v = u * scale + shift;
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
                o[16 * j + L] = v;
            }
        }
    } else if (dist == FI_NORMAL) {
        /* Box-Muller on the pairs (w0, w1) and (w2, w3): cos to j even, sin to j odd */
        const float sd = p[0], mean = p[1];
        for (int pair = 0; pair < 2; pair++) {
            for (int L = 0; L < 16; L++) {
                float u1 = (float)(int32_t)((w[2 * pair][L] >> 8) + 1u) * 0x1p-24f; /* (0, 1] */
                float r = __builtin_sqrtf(-2.0f * NAME(logf)(u1));
                /* angle 2 pi x / 2^24 = quadrant q * pi/2 + phi, phi in [-pi/4, pi/4) */
                uint32_t x = w[2 * pair + 1][L] >> 8;
                uint32_t q = (x + 0x200000u) >> 22;
                float phi = (float)((int32_t)x - (int32_t)(q << 22)) * 0x1.921fb6p-22f; /* float32(pi/2) * 2^-22 */
                float s = NAME(sinpf)(phi), c = NAME(cospf)(phi);
                int swap = (q & 1u) != 0;
                float cs = swap ? s : c, sn = swap ? c : s;
                cs = (((q + 1u) & 2u) != 0) ? -cs : cs;
                sn = ((q & 2u) != 0) ? -sn : sn;
                o[32 * pair + L] = (r * cs) * sd + mean;
                o[32 * pair + 16 + L] = (r * sn) * sd + mean;
            }
        }
    } else {
        /* inverse CDF of the mass [Phi(alpha), Phi(beta)], from the nearer tail */
        const float sd = p[0], mean = p[1], lo = p[2], hi = p[3];
        const float phia = p[4], phicb = p[5], mass = p[6];
        for (int j = 0; j < 4; j++) {
            for (int L = 0; L < 16; L++) {
                int32_t k2 = (int32_t)((w[j][L] >> 9) << 1) + 1;          /* odd, < 2^24 */
                float u = (float)k2 * 0x1p-24f;                           /* (0, 1) */
                float v1 = (float)(0x1000000 - k2) * 0x1p-24f;            /* 1 - u, exact */
                float plo = phia + u * mass;
                float phi_ = phicb + v1 * mass;
                int lower = plo <= phi_;
                float z = NAME(ndtri_lowf)(lower ? plo : phi_);
                z = lower ? z : -z;
                float v = z * sd + mean;
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
                o[16 * j + L] = v;
            }
        }
    }
}

static inline void NAME(store32)(int fmt, const float *restrict src, void *dst, int64_t at, int64_t n)
{
    if (fmt == FI_F32) {
        float *d = (float *)dst + at;
        for (int64_t i = 0; i < n; i++) d[i] = src[i];
    } else if (fmt == FI_F16) {
        uint16_t *d = (uint16_t *)dst + at;
        for (int64_t i = 0; i < n; i++) d[i] = NAME(to_f16)(src[i]);
    } else {
        uint16_t *d = (uint16_t *)dst + at;
        for (int64_t i = 0; i < n; i++) d[i] = NAME(to_bf16)(src[i]);
    }
}

/* out[at .. at+n) <- global elements gi .. gi+n */
static void NAME(run32)(int dist, int fmt, const uint32_t kw[4], const float *p, void *out,
                        int64_t at, int64_t n, uint64_t gi)
{
    float tmp[G32] __attribute__((aligned(64)));
    while (n > 0) {
        uint64_t g = gi / G32;
        int64_t e0 = (int64_t)(gi % G32);
        int64_t take = G32 - e0 < n ? G32 - e0 : n;
        if (take == G32 && fmt == FI_F32) {
            NAME(group32)(dist, kw, p, g, (float *)out + at);
        } else {
            NAME(group32)(dist, kw, p, g, tmp);
            NAME(store32)(fmt, tmp + e0, out, at, take);
        }
        at += take;
        n -= take;
        gi += (uint64_t)take;
    }
}

static void NAME(fill32)(int dist, int fmt, const uint32_t kw[4], const float *p, void *out,
                         int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    for (int64_t r = 0; r < n_runs; r++)
        NAME(run32)(dist, fmt, kw, p, out, r * run_len, run_len, first + (uint64_t)r * run_stride);
}

/* ---- float64: one group of 32 doubles ------------------------------------------ */

static inline void NAME(group64)(int dist, const uint32_t kw[4], const double *p, uint64_t g,
                                 double *restrict o)
{
    uint32_t w[4][16];
    NAME(philox16)(kw[0], kw[1], kw[2], kw[3], g * 16u, w);
    if (dist == FI_UNIFORM) {
        const double scale = p[0], shift = p[1], lo = p[2], hi = p[3];
        for (int h = 0; h < 2; h++) {
            for (int L = 0; L < 16; L++) {
                uint64_t x = (((uint64_t)w[2 * h + 1][L] << 32) | w[2 * h][L]) >> 11;
                double u = (double)(int64_t)x * 0x1p-53; /* [0, 1) */
                double v = u * scale + shift;
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
                o[16 * h + L] = v;
            }
        }
    } else if (dist == FI_NORMAL) {
        const double sd = p[0], mean = p[1];
        for (int L = 0; L < 16; L++) {
            uint64_t x1 = (((uint64_t)w[1][L] << 32) | w[0][L]) >> 11;
            double u1 = (double)(int64_t)(x1 + 1u) * 0x1p-53; /* (0, 1] */
            double r = __builtin_sqrt(-2.0 * NAME(log)(u1));
            uint64_t x = (((uint64_t)w[3][L] << 32) | w[2][L]) >> 11;
            uint64_t q = (x + 0x4000000000000ull) >> 51;
            double phi = (double)((int64_t)x - (int64_t)(q << 51)) * 0x1.921fb54442d18p-51; /* double(pi/2) * 2^-51 */
            double s = NAME(sinp)(phi), c = NAME(cosp)(phi);
            int swap = (q & 1u) != 0;
            double cs = swap ? s : c, sn = swap ? c : s;
            cs = (((q + 1u) & 2u) != 0) ? -cs : cs;
            sn = ((q & 2u) != 0) ? -sn : sn;
            o[L] = (r * cs) * sd + mean;
            o[16 + L] = (r * sn) * sd + mean;
        }
    } else {
        const double sd = p[0], mean = p[1], lo = p[2], hi = p[3];
        const double phia = p[4], phicb = p[5], mass = p[6];
        for (int h = 0; h < 2; h++) {
            for (int L = 0; L < 16; L++) {
                uint64_t x = (((uint64_t)w[2 * h + 1][L] << 32) | w[2 * h][L]) >> 12;
                int64_t k2 = (int64_t)(x << 1) + 1;                     /* odd, < 2^53 */
                double u = (double)k2 * 0x1p-53;
                double v1 = (double)(0x20000000000000ll - k2) * 0x1p-53; /* 1 - u, exact */
                double plo = phia + u * mass;
                double phi_ = phicb + v1 * mass;
                int lower = plo <= phi_;
                double z = NAME(ndtri_low)(lower ? plo : phi_);
                z = lower ? z : -z;
                double v = z * sd + mean;
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
                o[16 * h + L] = v;
            }
        }
    }
}

static void NAME(run64)(int dist, const uint32_t kw[4], const double *p, double *out,
                        int64_t at, int64_t n, uint64_t gi)
{
    double tmp[G64] __attribute__((aligned(64)));
    while (n > 0) {
        uint64_t g = gi / G64;
        int64_t e0 = (int64_t)(gi % G64);
        int64_t take = G64 - e0 < n ? G64 - e0 : n;
        if (take == G64) {
            NAME(group64)(dist, kw, p, g, out + at);
        } else {
            NAME(group64)(dist, kw, p, g, tmp);
            for (int64_t i = 0; i < take; i++) out[at + i] = tmp[e0 + i];
        }
        at += take;
        n -= take;
        gi += (uint64_t)take;
    }
}

static void NAME(fill64)(int dist, const uint32_t kw[4], const double *p, double *out,
                         int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    for (int64_t r = 0; r < n_runs; r++)
        NAME(run64)(dist, kw, p, out, r * run_len, run_len, first + (uint64_t)r * run_stride);
}
