/* The dense fills: out[r * run_len + j] <- global element first + r * run_stride + j
 * (fastinit.h), two groups (32 Philox blocks) per step, each group's values by the transforms
 * (transforms.h) in the stream layout of docs/streams.md:
 *   32-bit family: element 64g + 16j + L takes word j of block 16g + L;
 *   float64:       element 32g + 16h + L takes words 2h, 2h+1 of block 16g + L.
 * So SIMD lanes compute consecutive blocks and each output vector is one contiguous store.
 *
 * A per-target template, included by fill_impl.h after transforms.h and masked.h: needs NAME(),
 * the vector types, NF/ND, G32/G64, NAME(ldu)/NAME(stf)/NAME(std), NAME(mix_store) (masked.h),
 * PHILOX32 (or the portable one here).
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

#ifndef PHILOX32_KS /* no Philox that takes a key schedule at this target: the key's words */
#define PHILOX32_KS(ks, b0, w) PHILOX32((ks)->kw, b0, w)
#define FI_PHILOX32_KS_LOCAL 1
#endif

/* ---- 32-bit family: one group of 64 float32 values ----------------------------- */

/* o[q .. q + 2 NF) <- the values a (first NF) and b in format fmt (o: float or uint16_t bits);
 * nonan: neither holds a NaN */
FI_INLINE void NAME(emit2)(int fmt, int nonan, void *o, int q, vf a, vf b)
{
    if (fmt == FI_F32) {
        NAME(stf)((float *)o + q, a);
        NAME(stf)((float *)o + q + NF, b);
    } else if (fmt == FI_BF16) {
        vh2 h = NAME(to_bf16x2)(a, b, nonan);
        memcpy((uint16_t *)o + q, &h, sizeof h);
    } else {
        vh ha = NAME(to_f16)(a), hb = NAME(to_f16)(b);
        memcpy((uint16_t *)o + q, &ha, sizeof ha);
        memcpy((uint16_t *)o + q + NF, &hb, sizeof hb);
    }
}

/* the 64 values of one group from its words w[0..3][0..15] into o[0..63] in format fmt, two
 * vectors at a time (so a 16-bit format rounds them in registers: no float32 copy in between).
 * Output q of uniform and truncnormal takes word w[q / 16][q % 16]; normal: pair h = q / 32 of
 * words (2h, 2h + 1), cos for q % 32 < 16, sin for the rest.  fast: uniform by uniform32_fast
 * with scale (uniform32_plan said 1 or 2; 2: no value is a denormal); normal: 2 when
 * normal32_plan says no value is a denormal.  Either way no value is a NaN.  All constant where
 * run32 calls it. */
FI_INLINE uint64_t NAME(group32)(int dist, int fmt, int fast, const uint32_t (*w)[16], const float *p, vf scale,
                                 void *o)
{
    vf v[G32 / NF]; /* v[i]: outputs i NF .. i NF + NF - 1 */
    uint64_t rej = 0;
    const int nonan = (dist == FI_UNIFORM && fast) || (dist == FI_NORMAL && fast == 2);
    if (dist == FI_NORMAL || dist == FI_TRUNCMIX) {
        for (int pair = 0; pair < 2; pair++)
            for (int s = 0; s < 16; s += NF) {
                vf c, si;
                NAME(boxmuller32)(NAME(ldu)(&w[2 * pair][s]), NAME(ldu)(&w[2 * pair + 1][s]), p, &c, &si);
                v[(32 * pair + s) / NF] = c;
                v[(32 * pair + 16 + s) / NF] = si;
            }
        if (dist == FI_TRUNCMIX) /* kept inside [p[8], p[9]] and clamped (fast: no clamp needed);
                                  * bit q of rej: output q is not kept */
            for (int i = 0; i < G32 / NF; i++) {
                rej |= (uint64_t)(uint32_t)VOUTSIDE(v[i], SPLATF(p[8]), SPLATF(p[9])) << (i * NF);
                if (!fast) v[i] = NAME(clampf)(v[i], p[2], p[3]);
            }
    } else {
        const vf shift = SPLATF(p[1]);
#ifdef VTOBF16X2
        const int collect = fmt == FI_BF16; /* for one test per group below */
#else
        const int collect = 0;
#endif
        for (int q = 0; q < G32; q += NF) {
            vu wq = NAME(ldu)(&w[q / 16][q % 16]);
            v[q / NF] = dist != FI_UNIFORM ? NAME(truncnormal32)(wq, p)
                        : fast            ? NAME(uniform32_fast)(wq, scale, shift)
                                          : NAME(uniform32)(wq, p);
            /* a pair written as soon as it is complete: fewer vectors live at once */
            if (!collect && q % (2 * NF) == NF) NAME(emit2)(fmt, nonan, o, q - NF, v[q / NF - 1], v[q / NF]);
        }
        if (!collect) return 0;
    }
#ifdef VTOBF16X2
    /* each vector stored by its own memcpy: one memcpy of the array h kept h on the stack (a
     * store and a load more per vector; truncnormal's bfloat16 3-4% slower) */
    if (fmt == FI_BF16 && fast == 2) { /* no denormal (uniform32_plan, normal32_plan): the instruction's bits */
        for (int i = 0; i < G32 / (2 * NF); i++) {
            const vh2 h = VTOBF16X2(v[2 * i], v[2 * i + 1]);
            memcpy((char *)o + i * sizeof h, &h, sizeof h);
        }
        return rej;
    }
    if (fmt == FI_BF16) { /* the instruction's bits unless a result lane is zero: one test per group */
        vh2 h[G32 / (2 * NF)];
        int zero = 0;
        for (int i = 0; i < G32 / (2 * NF); i++) {
            h[i] = VTOBF16X2(v[2 * i], v[2 * i + 1]);
            zero |= VZERO16(h[i]) != 0;
        }
        if (__builtin_expect(!zero, 1)) {
            for (int i = 0; i < G32 / (2 * NF); i++) memcpy((char *)o + i * sizeof h[i], &h[i], sizeof h[i]);
            return rej;
        }
    }
#endif
    for (int i = 0; i < G32 / NF; i += 2) NAME(emit2)(fmt, nonan, o, i * NF, v[i], v[i + 1]);
    return rej;
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
            vh2 h = NAME(to_bf16x2)(a, b, 0);
            memcpy(d + j, &h, sizeof h);
        }
    for (; j < n; j += NF) {
        vf v;
        memcpy(&v, src + j, sizeof v);
        vh b = fmt == FI_F16 ? NAME(to_f16)(v) : NAME(to_bf16)(v);
        memcpy(d + j, &b, (size_t)(n - j < NF ? n - j : NF) * sizeof(uint16_t));
    }
}

/* bits lo .. hi-1 of a 64-bit word (clipped to 0 .. 64) */
FI_INLINE uint64_t NAME(bit_range)(int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 64 ? 64 : hi;
    return hi <= lo ? 0 : (hi - lo == 64 ? ~0ull : ((1ull << (hi - lo)) - 1u) << lo);
}

#define MIX_WINDOW 2048 /* outputs whose rejected ones are collected before they are drawn again */

/* out[r * run_len + j] <- global element first + r * run_stride + j (fill32), two groups (128
 * elements) per step: whole steps straight into out, a partial one (a run's first or last)
 * through tmp.  dist, fmt and fast are constants where run32 calls it, so each combination
 * compiles to its own loop.  FI_TRUNCMIX: the places of the outputs group32 rejects are
 * collected over a window of MIX_WINDOW outputs of out, across runs (a column shard's short
 * rows share one), then drawn again 32 at a time (mix_store): pos[k], the place in out after
 * win_at; ge[k], its global element, set at the end of its run. */
FI_INLINE void NAME(run32_body)(const int dist, const int fmt, const int fast, const uint32_t kw[4],
                                const float *p, vf scale, void *out, int64_t n_runs, int64_t run_len,
                                uint64_t first, uint64_t run_stride)
{
    float tmp[2 * G32 + 16] __attribute__((aligned(64)));
    uint32_t w[8][16] __attribute__((aligned(64)));
    uint32_t pos[MIX_WINDOW + 2 * G32 + 16] __attribute__((aligned(64))); /* COLLECT writes 16 past */
    uint64_t ge[MIX_WINDOW + 2 * G32];
    int np = 0, nge = 0;
    int64_t win_at = 0; /* the window: out[win_at ..] */
    const int size = fmt == FI_F32 ? 4 : 2;
    struct fi_keys ks;
    fi_key_schedule(kw, &ks);
    for (int64_t r = 0; r < n_runs; r++) {
        const int64_t run_at = r * run_len;
        const uint64_t run_gi = first + (uint64_t)r * run_stride;
        int64_t at = run_at, n = run_len;
        uint64_t gi = run_gi;
        while (n > 0) {
            uint64_t g = gi / G32;
            int64_t e0 = (int64_t)(gi % G32);
            int64_t take = 2 * G32 - e0 < n ? 2 * G32 - e0 : n;
            uint64_t rej[2];
            PHILOX32_KS(&ks, g * 16u, w);
            if (e0 == 0 && take == 2 * G32) {
                char *o = (char *)out + at * size;
                rej[0] = NAME(group32)(dist, fmt, fast, (const uint32_t (*)[16])w, p, scale, o);
                rej[1] = NAME(group32)(dist, fmt, fast, (const uint32_t (*)[16])(w + 4), p, scale, o + G32 * size);
            } else { /* e0 < G32: the run starts in the first group; the second only if it reaches it */
                rej[0] = NAME(group32)(dist, FI_F32, fast, (const uint32_t (*)[16])w, p, scale, tmp);
                rej[1] = e0 + take > G32
                             ? NAME(group32)(dist, FI_F32, fast, (const uint32_t (*)[16])(w + 4), p, scale, tmp + G32)
                             : 0;
                NAME(store32)(fmt, tmp + e0, out, at, take);
                rej[0] &= NAME(bit_range)(e0, e0 + take); /* only the step's outputs in this run */
                rej[1] &= NAME(bit_range)(e0 - G32, e0 + take - G32);
            }
            if (dist == FI_TRUNCMIX) {
                /* output k of the step is window place at - win_at + k - e0 (mod 2^32: k >= e0) */
                const uint32_t j0 = (uint32_t)(at - win_at - e0);
                if (rej[0] | rej[1]) /* one branch per step (a branch per half mispredicts, measured) */
                    for (int h = 0; h < 4; h++)
                        np = COLLECT(pos, np, (uint32_t)(rej[h / 2] >> (32 * (h % 2))), j0 + 32u * (uint32_t)h);
                const int full = at + take - win_at >= MIX_WINDOW;
                if (full || take == n) { /* the run's places so far get their global elements */
                    for (; nge < np; nge++) ge[nge] = run_gi + (uint64_t)(win_at + (int64_t)pos[nge] - run_at);
                    if (full || r == n_runs - 1) {
                        NAME(mix_store)(fmt, kw, p, out, win_at, pos, ge, np);
                        np = nge = 0;
                        win_at = at + take;
                    }
                }
            }
            at += take;
            n -= take;
            gi += (uint64_t)take;
        }
    }
}

/* fill32's runs: the plan (uniform32_plan, normal32_plan) and the key schedule made once */
static void NAME(run32)(int dist, int fmt, const uint32_t kw[4], const float *p_, void *out,
                        int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    float p[10]; /* a local copy: the stores into out cannot alias it, so it stays in registers */
    memcpy(p, p_, sizeof p);
    float s = 0.0f;
    const int fast = dist == FI_UNIFORM ? NAME(uniform32_plan)(p, &s) : dist == FI_NORMAL ? NAME(normal32_plan)(p) : 0;
    const vf scale = SPLATF(s);
#define FI_RUN32(d, f, fa) NAME(run32_body)(d, f, fa, kw, p, scale, out, n_runs, run_len, first, run_stride)
#define FI_RUN32_FMT(d, fa)                                           \
    do {                                                              \
        if (fmt == FI_F32) FI_RUN32(d, FI_F32, fa);                   \
        else if (fmt == FI_BF16) FI_RUN32(d, FI_BF16, fa);            \
        else FI_RUN32(d, FI_F16, fa);                                 \
    } while (0)
    if (dist == FI_UNIFORM && fast == 2) FI_RUN32_FMT(FI_UNIFORM, 2);
    else if (dist == FI_UNIFORM && fast) FI_RUN32_FMT(FI_UNIFORM, 1);
    else if (dist == FI_UNIFORM) FI_RUN32_FMT(FI_UNIFORM, 0);
    else if (dist == FI_NORMAL && fast == 2 && fmt == FI_BF16) FI_RUN32(FI_NORMAL, FI_BF16, 2);
    else if (dist == FI_NORMAL) FI_RUN32_FMT(FI_NORMAL, 0);
    /* the mixture's clamp changes nothing where the bounds are those of its test (float32) */
    else if (fi_is_mixture(p) && p[2] == p[8] && p[3] == p[9]) FI_RUN32_FMT(FI_TRUNCMIX, 1);
    else if (fi_is_mixture(p)) FI_RUN32_FMT(FI_TRUNCMIX, 0);
    else FI_RUN32_FMT(FI_TRUNCNORMAL, 0);
#undef FI_RUN32_FMT
#undef FI_RUN32
}

/* the twin of fastinit/kernels/_numba.py's fill32, whose run32 the C run32 mirrors */
static void NAME(fill32)(int dist, int fmt, const uint32_t *kw, const float *p, void *out,
                         int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    NAME(run32)(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride);
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

/* out[r * run_len + j] <- global element first + r * run_stride + j, two groups (64 elements)
 * per step, the key schedule made once */
static void NAME(fill64)(int dist, const uint32_t *kw, const double *p, double *out,
                         int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    double tmp[2 * G64] __attribute__((aligned(64)));
    uint32_t w[8][16] __attribute__((aligned(64)));
    struct fi_keys ks;
    fi_key_schedule(kw, &ks);
    for (int64_t r = 0; r < n_runs; r++) {
        int64_t at = r * run_len, n = run_len;
        uint64_t gi = first + (uint64_t)r * run_stride;
        while (n > 0) {
            uint64_t g = gi / G64;
            int64_t e0 = (int64_t)(gi % G64);
            int64_t take = 2 * G64 - e0 < n ? 2 * G64 - e0 : n;
            PHILOX32_KS(&ks, g * 16u, w);
            const int whole = e0 == 0 && take == 2 * G64;
            double *o = whole ? out + at : tmp;
            NAME(group64)(dist, w, p, o);
            if (e0 + take > G64) NAME(group64)(dist, w + 4, p, o + G64); /* only if the run reaches it */
            if (!whole) memcpy(out + at, tmp + e0, (size_t)take * sizeof(double));
            at += take;
            n -= take;
            gi += (uint64_t)take;
        }
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
