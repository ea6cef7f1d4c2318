/* The masked fills (fi_fill_masked): values only where a bitmap keeps them (sparse tensors),
 * each kept element's Philox block computed on its own and its value picked (pick32, pick64) by
 * the same transforms as the dense fill's, so the bits are the dense fill's; and zero_bits, the
 * sparse patterns' zeroing of a tile row.
 *
 * A per-target template, included by fill_impl.h after transforms.h: needs NAME(), the vector
 * types, NF/ND, SEL/SELU/SELD (simd.h), NAME(ldu)/NAME(ldu2)/NAME(stf)/NAME(std), and uses
 * PHILOX_LANES, STREAM_COPY/STREAM_FENCE, COLLECT where the target defines them (portable ones
 * here otherwise).  No include guard. */

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

/* The mixture's other draw (docs/streams.md) for the global elements ge[L], L < m <= 32
 * (32-bit family): the element's word of Philox block 2^63 + its block, through the inverse
 * CDF (truncnormal32); into o[0 .. m). */
static void NAME(mix_values)(const uint32_t kw[4], const float *p, const uint64_t *ge, int m, float o[32])
{
    uint32_t lo[32] __attribute__((aligned(64))), hi[32] __attribute__((aligned(64)));
    uint32_t js[32] __attribute__((aligned(64)));
    uint32_t w[8][16] __attribute__((aligned(64)));
    for (int L = 0; L < 32; L++) { /* block b = (e >> 6) 16 + e % 16, plus 2^63; lanes past m: any valid element */
        const uint64_t e = ge[L < m ? L : 0];
        lo[L] = (uint32_t)(e >> 2 & ~15ull) | (uint32_t)(e & 15u);
        hi[L] = (uint32_t)(e >> 34) | 0x80000000u;
        js[L] = (uint32_t)(e >> 4) & 3u;
    }
    PHILOX_LANES(kw, lo, hi, w);
    NAME(pick32)(FI_TRUNCNORMAL, (const uint32_t (*)[16])w, js, p, o);
    NAME(pick32)(FI_TRUNCNORMAL, (const uint32_t (*)[16])(w + 4), js + 16, p, o + 16);
}

/* o[at + pos[L]] <- v[L] in format fmt, L < m <= 32 */
static void NAME(scatter32)(int fmt, const float v[32], void *o, int64_t at, const uint32_t *pos, int m)
{
    if (fmt == FI_F32) {
        for (int L = 0; L < m; L++) ((float *)o)[at + pos[L]] = v[L];
        return;
    }
    uint16_t h[32];
    for (int L = 0; L < 32; L += NF) {
        vf x;
        memcpy(&x, v + L, sizeof x);
        vh b = fmt == FI_F16 ? NAME(to_f16)(x) : NAME(to_bf16)(x);
        memcpy(h + L, &b, sizeof b);
    }
    for (int L = 0; L < m; L++) ((uint16_t *)o)[at + pos[L]] = h[L];
}

/* out[at + pos[k]] <- the mixture's other draw for global element ge[k], k < m (run32_body's
 * rejected outputs, 32 at a time) */
static void NAME(mix_store)(int fmt, const uint32_t kw[4], const float *p, void *out, int64_t at, const uint32_t *pos,
                            const uint64_t *ge, int m)
{
    float o[32] __attribute__((aligned(64)));
    for (int k = 0; k < m; k += 32) {
        const int t = m - k < 32 ? m - k : 32;
        NAME(mix_values)(kw, p, ge + k, t, o);
        NAME(scatter32)(fmt, o, out, at, pos + k, t);
    }
}

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
    const float *pf = (const float *)p;
    float o[32] __attribute__((aligned(64)));
    NAME(pick32)(dist == FI_TRUNCMIX ? FI_NORMAL : dist, (const uint32_t (*)[16])w, js, pf, o);
    NAME(pick32)(dist == FI_TRUNCMIX ? FI_NORMAL : dist, (const uint32_t (*)[16])(w + 4), js + 16, pf, o + 16);
    if (dist == FI_TRUNCMIX) { /* the normal values kept inside [p[8], p[9]] (clamped), the others drawn again */
        uint64_t ge[32];
        int at[32], r = 0;
        for (int L = 0; L < m; L++) {
            float x = o[L];
            if (x >= pf[8] && x <= pf[9]) {
                x = pf[2] > x ? pf[2] : x; /* clampf's order */
                o[L] = pf[3] < x ? pf[3] : x;
            } else {
                ge[r] = row + cols[L];
                at[r++] = L;
            }
        }
        if (r) {
            float o2[32] __attribute__((aligned(64)));
            NAME(mix_values)(kw, pf, ge, r, o2);
            for (int k = 0; k < r; k++) o[at[k]] = o2[k];
        }
    }
    NAME(scatter32)(fmt, o, orow, 0, cols, m);
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
    if (dist == FI_TRUNCNORMAL && fmt >= 0 && fi_is_mixture((const float *)p)) dist = FI_TRUNCMIX;
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
