/* The vector vocabulary of the kernels (GCC vector extensions): lane selects and broadcasts.
 * They name the types vf, vi, vu, vd, vl and the function NAME(splatf), which fill_impl.h
 * declares for each instruction set, so they expand only inside fill_impl.h and fimath.h.
 * Self-contained: only macros. */
#ifndef SIMD_H
#define SIMD_H

#define FI_INLINE static inline __attribute__((always_inline))

/* lane select by a comparison mask (all ones / all zeros): bitwise, rounds nothing */
#define SEL(m, a, b) ((vf)(((vi)(m) & (vi)(a)) | (~(vi)(m) & (vi)(b))))
#define SELU(m, a, b) ((vu)(((vi)(m) & (vi)(a)) | (~(vi)(m) & (vi)(b))))
#define SELD(m, a, b) ((vd)(((vl)(m) & (vl)(a)) | (~(vl)(m) & (vl)(b))))
/* broadcasts (the float ones through their bits: fill_impl.h) */
#define SPLATF(x) NAME(splatf)((float)(x))
#define SPLATU(x) ((vu){} + (uint32_t)(x))
#define SPLATD(x) NAME(splatd)((double)(x))

#endif
