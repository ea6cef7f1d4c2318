/* fastinit C kernels: the narrow interface the Python layer binds with cffi.
 *
 * Every kernel is purely counter-based: it receives the Philox key (the seed),
 * the two stream words, the scheme parameters and a destination, and derives
 * each element from its global index alone (docs/streams.md).  Kernels never
 * validate user input: the Python layer does that once.  They only refuse
 * impossible arguments (bad codes, negative sizes, NULL pointers) with -1, so
 * no call from Python can make them write out of bounds.
 *
 * Destination layout: out[r * run_len + j] receives global element
 * first + r * run_stride + j, for 0 <= r < n_runs and 0 <= j < run_len.
 */
#ifndef FASTINIT_H
#define FASTINIT_H

#include <stdint.h>

/* distributions */
#define FI_UNIFORM 0
#define FI_NORMAL 1
#define FI_TRUNCNORMAL 2

/* storage formats of the 32-bit family (computed in float32) */
#define FI_F32 0
#define FI_F16 1
#define FI_BF16 2

/* Parameters, p[0..7], by distribution (float for fi_fill32, double for fi_fill64):
 *   uniform:      p[0] scale, p[1] shift, p[2] lo clamp, p[3] hi clamp
 *   normal:       p[0] std,   p[1] mean
 *   truncnormal:  p[0] std, p[1] mean, p[2] lo clamp, p[3] hi clamp,
 *                 p[4] Phi(alpha), p[5] Phi(-beta), p[6] mass of [alpha, beta],
 *                 p[7] Phi(alpha) - 1/2,
 *                 p[8] a rounded up and p[9] b rounded down to float32 (fi_fill32 only)
 * fi_fill32 reads p[0..9] (unused ones anything), fi_fill64 p[0..7].  The 32-bit truncated
 * normal is the mixture of docs/streams.md when p[6] >= 0.95 (dispatch.h: FI_TRUNC_MIX_MASS).
 */

int fi_fill32(int dist, int fmt, const uint32_t key[2], const uint32_t stream[2],
              const float p[10], void *out, int64_t n_runs, int64_t run_len,
              uint64_t first, uint64_t run_stride);
int fi_fill64(int dist, const uint32_t key[2], const uint32_t stream[2],
              const double p[8], double *out, int64_t n_runs, int64_t run_len,
              uint64_t first, uint64_t run_stride);

/* Sparse pattern of a rows x cols matrix (C order, rows and cols < 2^31) on the block of rows
 * r0 .. r0+nr-1 and columns c0 .. c0+nc-1: bit (j & 31) of bits[i * bits_ld + j / 32] is set
 * iff element (r0 + i, c0 + j) is zero (mode 0 tiles start at multiples of 32 of the block).
 * Each unit u (a column in mode 0, a row in mode 1) of n elements gets an exactly uniform
 * random subset by Floyd's algorithm: D = min(z, n - z) draws for its z zeros, draw d from
 * Philox block d * units + u of the stream kw (docs/streams.md).
 *   mode 0 (torch sparse_): k zeros in each column.
 *   mode 1 (Martens):       k non-zeros in each row.
 * Returns 0, -1 for impossible arguments, -2 if scratch memory could not be allocated. */
int fi_sparse_bitmap(int mode, const uint32_t kw[4], int64_t rows, int64_t cols, int64_t k,
                     int64_t r0, int64_t nr, int64_t c0, int64_t nc, uint32_t *bits, int64_t bits_ld);

/* Masked fill of an nr x nc block (row stride ld elements, nc < 2^31): out[i * ld + j] <- 0
 * where bit (j & 31) of bits[i * bits_ld + j / 32] is set, else global element
 * first + i * row_stride + j of the distribution, exactly as fi_fill32 (fmt F32/F16/BF16,
 * p float[10]) or fi_fill64 (fmt -1, p double[8]) writes it.  Only the kept elements are
 * computed, one Philox block each, in batches of 32 within a row: for sparse tensors.
 * Returns 0, or -1 for impossible arguments. */
int fi_fill_masked(int dist, int fmt, const uint32_t key[2], const uint32_t stream[2], const void *p,
                   void *out, int64_t ld, int64_t nr, int64_t nc, const uint32_t *bits, int64_t bits_ld,
                   uint64_t first, uint64_t row_stride);

/* out[i * ld + j] <- 0 (all-zero bits of itemsize bytes) where bit j of row i of bits is set. */
int fi_zero_where(void *out, int itemsize, int64_t ld, int64_t nr, int64_t nc, const uint32_t *bits,
                  int64_t bits_ld);

/* Raw Philox4x32-R: n counters (4 words each) under keys (2 words each; key_stride 0
 * reuses one key) into out (4 words each). */
int fi_philox4x32(const uint32_t *ctr, const uint32_t *key, int64_t key_stride,
                  uint32_t *out, int64_t n, int rounds);

/* out[i] <- x[i] rounded to bfloat16 bits exactly as the bfloat16 fills round (round to nearest
 * even, NaN kept quiet), by the current instruction set's code: for tests. */
int fi_to_bf16(const float *x, uint16_t *out, int64_t n);

/* Instruction set the fill kernels run with: "avx512bf16", "avx512", "avx2" or "baseline". */
const char *fi_isa(void);
/* Force an instruction set (one the CPU supports); returns 0, or -1 if unknown/unsupported. */
int fi_set_isa(const char *name);

#endif
