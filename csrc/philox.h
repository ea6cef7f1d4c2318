/* Philox4x32 (Salmon, Moraes, Dror, Shaw, SC'11; Random123 philox.h) in scalar C, and the
 * bounded integers the sparse patterns draw from its words.  The vector Philox of each
 * instruction set is in philox_x86.h; this is the reference they are tested against.
 * Self-contained: include anywhere. */
#ifndef PHILOX_H
#define PHILOX_H

#include <stdint.h>

/* Philox4x32 constants (Salmon et al. 2011; Random123 philox.h) */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* Scalar Philox4x32-R of counter c[0..3] under key (k0, k1), in place (Random123 philox4x32_R):
 * the reference for fi_philox4x32 and the portable fill path. */
static inline void fi_philox_scalar(uint32_t c[4], uint32_t k0, uint32_t k1, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c[0], p1 = (uint64_t)PHILOX_M1 * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[1] = (uint32_t)p1;
        c[3] = (uint32_t)p0;
        c[0] = n0;
        c[2] = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

/* Philox4x32-10's key words and its round keys (k0 + r W0, k1 + r W1 for r < 10), computed
 * once per kernel call: the vector rounds take them from memory as broadcast operands. */
struct fi_keys {
    uint32_t kw[4]; /* key (seed) words k0, k1, then the stream words (counter words 2, 3) */
    uint32_t k0[10], k1[10];
};

static __attribute__((noinline, unused)) void fi_key_schedule(const uint32_t kw[4], struct fi_keys *ks)
{
    for (int j = 0; j < 4; j++) ks->kw[j] = kw[j];
    ks->k0[0] = kw[0];
    ks->k1[0] = kw[1];
    for (int r = 1; r < 10; r++) {
        ks->k0[r] = ks->k0[r - 1] + PHILOX_W0;
        ks->k1[r] = ks->k1[r - 1] + PHILOX_W1;
    }
}

/* A uniform integer in [0, bound) from up to four words (Lemire's multiply-shift with rejection;
 * if all four are rejected, which happens with probability < 2^-96, the last one is used). */
static inline uint32_t uniform_below(const uint32_t *w4, uint32_t bound)
{
    uint64_t m = 0;
    for (int a = 0; a < 4; a++) {
        m = (uint64_t)w4[a] * bound;
        uint32_t lo = (uint32_t)m;
        if (lo >= bound || lo >= (uint32_t)(-bound) % bound) break;
    }
    return (uint32_t)(m >> 32);
}

#endif
