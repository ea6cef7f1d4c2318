/* Sparse patterns (fi_sparse_bitmap) and zeroing by a bitmap (fi_zero_where), on the kernels of
 * the instruction set in use (dispatch.h): Floyd's exact random subsets, 64 units in lockstep. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "fastinit.h"
#include "philox.h"

#define UNITS 64 /* units (columns in mode 0, rows in mode 1) drawn together: two Philox32 calls */
#define TILES 16 /* mode 0: tiles of 32 columns (a word of bits) whose row words are written together */

/* draws_avx512, one unit at a time.  With rowmask (mode 0) the sets are bit u of rowmask[x]
 * instead (one word per row for all the units: n words, in L1 or L2), so that a tile's row words need no
 * transpose; sets is then untouched. */
static void draws_scalar(const struct isa *impl, const uint32_t kw[4], uint64_t units, uint64_t ua, int t,
                         uint32_t n, uint32_t nd, uint32_t *sets, int64_t W, uint64_t *rowmask)
{
    uint32_t w[8][16] __attribute__((aligned(64)));
    for (uint32_t d = 0; d < nd; d++) {
        const uint32_t j = n - nd + d;
        for (int s = 0; s < t; s += 32) { /* 32 units per Philox call */
            impl->philox(kw, (uint64_t)d * units + ua + (uint64_t)s, w);
            for (int u = s; u < t && u < s + 32; u++) {
                const int h = (u - s) / 16, L = (u - s) % 16;
                const uint32_t w4[4] = {w[4 * h][L], w[4 * h + 1][L], w[4 * h + 2][L], w[4 * h + 3][L]};
                uint32_t x = uniform_below(w4, j + 1);
                if (rowmask) {
                    if ((rowmask[x] >> u) & 1) x = j;
                    rowmask[x] |= 1ull << u;
                } else {
                    uint32_t *set = sets + u * W;
                    if ((set[x >> 5] >> (x & 31)) & 1) x = j;
                    set[x >> 5] |= 1u << (x & 31);
                }
            }
        }
    }
}

int fi_sparse_bitmap(int mode, const uint32_t kw[4], int64_t rows, int64_t cols, int64_t k,
                     int64_t r0, int64_t nr, int64_t c0, int64_t nc, uint32_t *bits, int64_t bits_ld)
{
    if ((mode != 0 && mode != 1) || !kw || rows < 1 || cols < 1 || k < 0) return -1;
    if (r0 < 0 || nr < 0 || c0 < 0 || nc < 0 || r0 + nr > rows || c0 + nc > cols) return -1;
    if (rows >= (1ll << 31) || cols >= (1ll << 31) || k > (mode == 0 ? rows : cols)) return -1;
    if (bits_ld < (nc + 31) / 32) return -1;
    if (nr == 0 || nc == 0) return 0;
    if (!bits) return -1;
    const struct isa *impl = fi_pick();
    /* units: columns (mode 0: each gets k zero rows) or rows (mode 1: each keeps k columns) */
    int64_t n = mode == 0 ? rows : cols, units = mode == 0 ? cols : rows;
    int64_t u_first = mode == 0 ? c0 : r0, u_count = mode == 0 ? nc : nr;
    int64_t chosen = mode == 0 ? k : n - k; /* elements to zero in each unit */
    int complement = chosen > n / 2;       /* draw the smaller side: the non-zeros */
    int64_t draws = complement ? n - chosen : chosen;
    int64_t W = (n + 31) / 32; /* words of a unit's set; 16 W < 2^30: 32-bit gather indices */
    /* the units' sets: bitmaps (AVX-512, and mode 1), or rowmask (below) */
    const int use_sets = mode == 1 || impl->tile_rows;
    uint32_t *sets = use_sets ? malloc((size_t)(UNITS * W) * sizeof *sets) : NULL;
    /* mode 0: the row words of TILES tiles side by side, column by column (tile k's row i at
     * colw[k * nr + i]), then written a row (TILES words, a cache line) at a time: stores one
     * word per row and tile would each touch another line of bits */
    const int64_t words = (nc + 31) / 32, group = words < TILES ? words : TILES;
    uint32_t *colw = mode == 0 ? malloc((size_t)(group * nr) * sizeof *colw) : NULL;
    /* mode 0 without a vector tile_rows: bit u of rowmask[x] <- unit u drew x */
    uint64_t *rowmask = mode == 0 && !impl->tile_rows ? malloc((size_t)n * sizeof *rowmask) : NULL;
    if ((use_sets && !sets) || (mode == 0 && !colw) || (mode == 0 && !impl->tile_rows && !rowmask)) {
        free(sets);
        free(colw);
        free(rowmask);
        return -2;
    }
    for (int64_t ua = u_first; ua < u_first + u_count; ua += UNITS) {
        int t = (int)(u_first + u_count - ua < UNITS ? u_first + u_count - ua : UNITS);
        if (rowmask) memset(rowmask, 0, (size_t)n * sizeof *rowmask);
        else memset(sets, 0, (size_t)(UNITS * W) * sizeof *sets);
        /* Floyd (Bentley & Floyd 1987): for j = n-draws .. n-1, x = uniform in [0, j]; add x,
         * or j if x is taken.  Draw d of unit u uses Philox block d * units + u (4 words). */
        if (impl->draws) impl->draws(kw, (uint64_t)units, (uint64_t)ua, t, (uint32_t)n, (uint32_t)draws, sets, W);
        else draws_scalar(impl, kw, (uint64_t)units, (uint64_t)ua, t, (uint32_t)n, (uint32_t)draws, sets, W, rowmask);
        /* the zeros: the set's elements, or (complement) the others */
        if (mode == 0) { /* tiles of <= 32 columns, starting at multiples of 32 in the block */
            for (int s = 0; s < t; s += 32) {
                const int64_t tile = (ua + s - c0) / 32, tk = tile % TILES;
                const int tt = t - s < 32 ? t - s : 32;
                uint32_t all = tt == 32 ? 0xffffffffu : (1u << tt) - 1u, a[32];
                for (int64_t q = r0 / 32; q <= (r0 + nr - 1) / 32; q++) {
                    if (impl->tile_rows) impl->tile_rows(sets + s * W, W, q, a);
                    else
                        for (int r = 0; r < 32; r++) a[r] = 32 * q + r < n ? (uint32_t)(rowmask[32 * q + r] >> s) : 0;
                    for (int64_t r = 32 * q < r0 ? r0 - 32 * q : 0; r < 32 && 32 * q + r < r0 + nr; r++)
                        colw[tk * nr + 32 * q + r - r0] = complement ? ~a[r] & all : a[r];
                }
                if (tk == TILES - 1 || tile == words - 1) /* tiles tile - tk .. tile done */
                    for (int64_t i = 0; i < nr; i++)
                        for (int64_t g = 0; g <= tk; g++) bits[i * bits_ld + tile - tk + g] = colw[g * nr + i];
            }
        } else {
            /* all bits of the row set (complement) or clear, then each drawn element of the
             * block toggled: O(n / 32 + draws) per unit, not O(n) */
            int64_t nw = (nc + 31) / 32;
            for (int u = 0; u < t; u++) {
                const uint32_t *set = sets + u * W;
                uint32_t *row = bits + (ua - r0 + u) * bits_ld;
                for (int64_t q = 0; q < nw; q++) row[q] = complement ? 0xffffffffu : 0u;
                if (complement && nc % 32) row[nw - 1] = (1u << (nc % 32)) - 1u;
                for (int64_t q = c0 >> 5; q <= (c0 + nc - 1) >> 5; q++) {
                    for (uint32_t m = set[q]; m; m &= m - 1u) {
                        int64_t e = 32 * q + __builtin_ctz(m);
                        if (e >= c0 && e < c0 + nc) row[(e - c0) >> 5] ^= 1u << ((e - c0) & 31);
                    }
                }
            }
        }
    }
    free(sets);
    free(colw);
    free(rowmask);
    return 0;
}

int fi_zero_where(void *out, int itemsize, int64_t ld, int64_t nr, int64_t nc, const uint32_t *bits,
                  int64_t bits_ld)
{
    if ((itemsize != 2 && itemsize != 4 && itemsize != 8) || nr < 0 || nc < 0 || ld < nc) return -1;
    if (bits_ld < (nc + 31) / 32) return -1;
    if (nr == 0 || nc == 0) return 0;
    if (!out || !bits) return -1;
    const struct isa *impl = fi_pick();
    for (int64_t i = 0; i < nr; i++)
        for (int64_t q = 0; q < (nc + 31) / 32; q++)
            impl->zero_bits((char *)out + (i * ld + 32 * q) * itemsize, bits[i * bits_ld + q],
                            nc - 32 * q < 32 ? nc - 32 * q : 32, itemsize);
    return 0;
}

int fi_to_bf16(const float *x, uint16_t *out, int64_t n)
{
    if (n < 0 || (n > 0 && (!x || !out))) return -1;
    fi_pick()->bf16(x, out, n);
    return 0;
}
