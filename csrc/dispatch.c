/* Dispatch and the entry points of fastinit.h: the instruction set in use (the best the CPU
 * supports, or the one fi_set_isa chose, from fill.c's table), the dense and masked fills'
 * argument checks, and raw Philox for the known-answer tests. */
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "fastinit.h"
#include "philox.h"

static int current = -1;

const struct isa *fi_pick(void)
{
    int n;
    const struct isa *isas = fi_isas(&n);
    if (current < 0) {
        int best = 0;
        for (int i = 0; i < n; i++)
            if (isas[i].supported()) best = i;
        current = best;
    }
    return &isas[current];
}

const char *fi_isa(void) { return fi_pick()->name; }

int fi_set_isa(const char *name)
{
    int n;
    const struct isa *isas = fi_isas(&n);
    if (!name) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(name, isas[i].name) == 0 && isas[i].supported()) {
            current = i;
            return 0;
        }
    return -1;
}

static int bad_layout(const void *out, int64_t n_runs, int64_t run_len)
{
    if (n_runs < 0 || run_len < 0) return 1;
    if (run_len > 0 && n_runs > INT64_MAX / run_len) return 1;
    return out == NULL && n_runs > 0 && run_len > 0;
}

int fi_fill32(int dist, int fmt, const uint32_t key[2], const uint32_t stream[2],
              const float p[10], void *out, int64_t n_runs, int64_t run_len,
              uint64_t first, uint64_t run_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL || fmt < FI_F32 || fmt > FI_BF16) return -1;
    if (!key || !stream || !p || bad_layout(out, n_runs, run_len)) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    fi_pick()->f32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride);
    return 0;
}

int fi_fill64(int dist, const uint32_t key[2], const uint32_t stream[2], const double p[8],
              double *out, int64_t n_runs, int64_t run_len, uint64_t first, uint64_t run_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL) return -1;
    if (!key || !stream || !p || bad_layout(out, n_runs, run_len)) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    fi_pick()->f64(dist, kw, p, out, n_runs, run_len, first, run_stride);
    return 0;
}

int fi_fill_masked(int dist, int fmt, const uint32_t key[2], const uint32_t stream[2], const void *p,
                   void *out, int64_t ld, int64_t nr, int64_t nc, const uint32_t *bits, int64_t bits_ld,
                   uint64_t first, uint64_t row_stride)
{
    if (dist < FI_UNIFORM || dist > FI_TRUNCNORMAL || fmt < -1 || fmt > FI_BF16) return -1;
    if (!key || !stream || !p || nr < 0 || nc < 0 || nc >= (1ll << 31) || ld < nc || bits_ld < (nc + 31) / 32)
        return -1;
    if (nr > 0 && ld > INT64_MAX / 8 / nr) return -1; /* the block's extent in bytes fits */
    if (nr == 0 || nc == 0) return 0;
    if (!out || !bits) return -1;
    const uint32_t kw[4] = {key[0], key[1], stream[0], stream[1]};
    fi_pick()->masked(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride);
    return 0;
}

/* Raw Philox4x32-R words, for the known-answer tests and fastinit.rng.philox4x32. */
int fi_philox4x32(const uint32_t *ctr, const uint32_t *key, int64_t key_stride, uint32_t *out,
                  int64_t n, int rounds)
{
    if (!ctr || !key || !out || n < 0 || rounds < 0 || rounds > 16 || key_stride < 0) return -1;
    for (int64_t i = 0; i < n; i++) {
        uint32_t c[4] = {ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3]};
        fi_philox_scalar(c, key[key_stride * i], key[key_stride * i + 1], rounds);
        memcpy(out + 4 * i, c, sizeof c);
    }
    return 0;
}
