/* The dense fills: out[r * run_len + j] <- global element first + r * run_stride + j
 * (fastinit.h), two groups (32 Philox blocks) per step, each group's values by the transforms
 * (transforms.h) in the stream layout of docs/streams.md:
 *   32-bit family: element 64g + 16j + L takes word j of block 16g + L;
 *   float64:       element 32g + 16h + L takes words 2h, 2h+1 of block 16g + L.
 * So SIMD lanes compute consecutive blocks and each output vector is one contiguous store.
 *
 * A per-target template, included by fill_impl.h after transforms.h: needs NAME(), the vector
 * types, NF/ND, G32/G64, NAME(ldu)/NAME(stf)/NAME(std), PHILOX32 (or the portable one here).
 * No include guard. */

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

/* ---- 32-bit family: one group of 64 float32 values ----------------------------- */

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
