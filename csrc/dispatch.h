/* The instruction sets' kernel table: fill.c builds it, dispatch.c picks from it (and holds the
 * fill entry points), sparse.c (the sparse patterns) calls through it.  Internal: not part of
 * fastinit.h's interface. */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stdint.h>

/* The 32-bit truncated normal is the mixture of docs/streams.md (a normal value kept inside
 * [p[8], p[9]], else the inverse CDF of another word) when its mass p[6] is at least this;
 * FI_TRUNCMIX is then its internal distribution code in fi_fill32 and fi_fill_masked. */
#define FI_TRUNC_MIX_MASS 0.95f
#define FI_TRUNCMIX 3

/* whether the 32-bit truncated normal of parameters p is that mixture (fastinit/kernels/_numba.py:
 * is_mixture) */
static inline int fi_is_mixture(const float *p) { return p[6] >= FI_TRUNC_MIX_MASS; }

typedef void (*fill32_fn)(int, int, const uint32_t *, const float *, void *, int64_t, int64_t,
                          uint64_t, uint64_t);
typedef void (*fill64_fn)(int, const uint32_t *, const double *, double *, int64_t, int64_t,
                          uint64_t, uint64_t);

typedef void (*philox_fn)(const uint32_t *, uint64_t, uint32_t (*)[16]);
typedef void (*zero_bits_fn)(char *, uint32_t, int64_t, int);
typedef void (*masked_fn)(int, int, const uint32_t *, const void *, void *, int64_t, int64_t, int64_t,
                          const uint32_t *, int64_t, uint64_t, uint64_t);
typedef void (*draws_fn)(const uint32_t *, uint64_t, uint64_t, int, uint32_t, uint32_t, uint32_t *, int64_t);
typedef void (*tile_rows_fn)(const uint32_t *, int64_t, int64_t, uint32_t *);
typedef void (*bf16_fn)(const float *, uint16_t *, int64_t);

struct isa {
    const char *name;
    int (*supported)(void);
    fill32_fn f32;
    fill64_fn f64;
    philox_fn philox;
    zero_bits_fn zero_bits;
    masked_fn masked;
    draws_fn draws;         /* NULL: draws_scalar */
    tile_rows_fn tile_rows; /* NULL: draws_scalar keeps a row mask */
    bf16_fn bf16;
};

/* the table, in order of preference (the last one the CPU supports is the default); *n entries */
const struct isa *fi_isas(int *n);

/* the instruction set in use: the best the CPU supports, or the one fi_set_isa chose */
const struct isa *fi_pick(void);

#endif
