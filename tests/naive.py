"""Slow, obviously correct references for the fill kernels (docs/streams.md, step by step).

Words come from ``fastinit.rng.philox4x32`` (itself checked against Random123's vectors and
randomgen); the transforms use NumPy/SciPy's own log, cos, sin and ndtri, so comparing a
fast kernel with these checks the layout exactly and the arithmetic to within the stated
accuracy of fastinit's approximations.
"""

import numpy as np
from scipy.special import ndtr, ndtri

from fastinit.rng import key_words, philox4x32


def _block_words(seed, stream, blocks):
    kw = key_words(seed, stream)
    b = np.asarray(blocks, np.uint64)
    ctr = np.stack([(b & 0xFFFFFFFF).astype(np.uint32), (b >> np.uint64(32)).astype(np.uint32),
                    np.full(b.shape, kw[2], np.uint32), np.full(b.shape, kw[3], np.uint32)], axis=-1)
    return philox4x32(ctr, kw[:2])  # (..., 4)


def _layout(idx, group):
    idx = np.asarray(idx, np.uint64)
    g, e = idx // np.uint64(group), idx % np.uint64(group)
    return g * np.uint64(16) + e % np.uint64(16), (e // np.uint64(16)).astype(np.int64)


def words32(seed, stream, idx):
    """(w_j, w_pair_even, w_pair_odd, j) of each float32-family element index."""
    blocks, j = _layout(idx, 64)
    w = _block_words(seed, stream, blocks)
    rows = np.arange(len(j))
    return w[rows, j], w[rows, j & ~1], w[rows, j | 1], j


def words64(seed, stream, idx):
    """(53-bit from words 2h,2h+1 as uint64, all 4 words, h) of each float64 element index."""
    blocks, h = _layout(idx, 32)
    w = _block_words(seed, stream, blocks).astype(np.uint64)
    rows = np.arange(len(h))
    x = (w[rows, 2 * h + 1] << np.uint64(32)) | w[rows, 2 * h]
    return x, w, h


def uniform(seed, stream, idx, low, high, dtype):
    """Exact: the same float arithmetic as the kernels (only +, *, one rounding each)."""
    if dtype == np.float64:
        x, _, _ = words64(seed, stream, idx)
        u = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
        return np.clip(u * (high - low) + low, low, high)
    w, _, _, _ = words32(seed, stream, idx)
    u = (w >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)
    return u * np.float32(high - low) + np.float32(low)


def normal(seed, stream, idx, mean, std, dtype):
    """Box-Muller with libm (float64), to compare within tolerance."""
    if dtype == np.float64:
        _, w, h = words64(seed, stream, idx)
        u1 = (((w[:, 1] << np.uint64(32)) | w[:, 0]) >> np.uint64(11)).astype(np.float64) + 1
        u1 *= 2.0**-53
        t = (((w[:, 3] << np.uint64(32)) | w[:, 2]) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    else:
        _, we, wo, j = words32(seed, stream, idx)
        u1 = ((we >> np.uint32(8)).astype(np.float64) + 1) * 2.0**-24
        t = (wo >> np.uint32(8)).astype(np.float64) * 2.0**-24
        h = j & 1
    r = np.sqrt(-2 * np.log(u1))
    z = np.where(h == 0, r * np.cos(2 * np.pi * t), r * np.sin(2 * np.pi * t))
    return z * std + mean


def _inverse_cdf(u, alpha, beta):
    pa, pb = ndtr(alpha), ndtr(beta)
    # from the nearer tail, as the kernels do
    lower = pa + u * (pb - pa) <= 0.5
    return np.where(lower, ndtri(pa + u * (pb - pa)), -ndtri(ndtr(-beta) + (1 - u) * (pb - pa)))


def trunc_normal(seed, stream, idx, mean, std, a, b, dtype):
    """Inverse CDF with SciPy's ndtri (float64), to compare within tolerance; for the float32
    family with mass >= 0.8 the mixture: ``normal()`` kept inside [a, b], else the inverse CDF
    of the element's word in block 2^63 + its block."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    if dtype == np.float64:
        x, _, _ = words64(seed, stream, idx)
        u = ((x >> np.uint64(12)).astype(np.float64) * 2 + 1) * 2.0**-53
        return np.clip(_inverse_cdf(u, alpha, beta) * std + mean, a, b)
    idx = np.asarray(idx, np.uint64)
    w, _, _, _ = words32(seed, stream, idx)
    if np.float32(ndtr(beta) - ndtr(alpha)) >= np.float32(0.8):
        blocks, j = _layout(idx, 64)
        w = _block_words(seed, stream, blocks + np.uint64(2**63))[np.arange(len(j)), j]
    u = ((w >> np.uint32(9)).astype(np.float64) * 2 + 1) * 2.0**-24
    z = np.clip(_inverse_cdf(u, alpha, beta) * std + mean, a, b)
    if np.float32(ndtr(beta) - ndtr(alpha)) >= np.float32(0.8):
        x = normal(seed, stream, idx, mean, std, dtype)
        z = np.where((x >= a) & (x <= b), x, z)
    return z


def rounded(x, p, k, mode):
    """Float ``x`` rounded to the binary format of precision ``p`` and ``k`` exponent bits, in
    exact rational arithmetic: ``mode`` "nearest" (ties to even), "down" or "up".  Returns the
    value as a Fraction, or +-inf.  The reference for fastinit._rounding."""
    from fractions import Fraction

    bias = 2 ** (k - 1) - 1
    largest = (2 - Fraction(1, 2 ** (p - 1))) * Fraction(2) ** bias
    v = Fraction(x)
    if v == 0:
        return v
    a = abs(v)
    e = 1 - bias  # the binade of a, never below the subnormals' quantum
    while a >= Fraction(2) ** (e + 1):
        e += 1
    quantum = Fraction(2) ** (e - p + 1)
    lower = (a // quantum) * quantum
    upper = lower if lower == a else lower + quantum
    if mode == "nearest":
        if a - lower != upper - a:
            r = lower if a - lower < upper - a else upper
        else:
            r = lower if (lower / quantum) % 2 == 0 else upper
        if r > largest:
            return float("inf") if v > 0 else float("-inf")
    else:
        r = lower if (mode == "down") == (v > 0) else upper
        if r > largest:  # away from zero overflows to infinity, towards zero stops at the largest value
            return (float("inf") if v > 0 else float("-inf")) if mode == ("up" if v > 0 else "down") else (
                largest if v > 0 else -largest)
    return r if v > 0 else -r


def sparse_zeros(seed, stream, rows, cols, sparsity=None, nonzeros_per_unit=None):
    """The zero mask of ``sparse_`` (docs/streams.md, "Sparse pattern"), one draw at a time:
    Floyd's algorithm per unit with Lemire's multiply-shift on the mask stream's words."""
    import math

    from fastinit.rng import stream_id
    from fastinit.schemes.sparse import MASK_STREAM

    if sparsity is not None:  # torch: units are columns of `rows` elements, ceil(sparsity * rows) zeros
        units, n, z = cols, rows, int(math.ceil(sparsity * rows))
    else:  # Martens: units are rows of `cols` elements, nonzeros_per_unit kept
        units, n, z = rows, cols, cols - nonzeros_per_unit
    mask_stream = stream_id(stream) ^ MASK_STREAM
    zeros = np.zeros((rows, cols), bool)
    draws = min(z, n - z)
    for u in range(units):
        chosen = set()
        if draws:
            words = _block_words(seed, mask_stream, [d * units + u for d in range(draws)])
        for d in range(draws):
            j = n - draws + d
            s = j + 1
            threshold = (2**32 - s) % s  # Lemire: a low half below this is rejected
            for w in words[d]:
                m = int(w) * s
                if (m & 0xFFFFFFFF) >= threshold:
                    break  # (if all four are rejected, the fourth is used)
            x = m >> 32
            chosen.add(j if x in chosen else x)
        drawn = np.zeros(n, bool)
        drawn[list(chosen)] = True
        unit_zeros = drawn if z == draws else ~drawn
        if sparsity is not None:
            zeros[:, u] = unit_zeros
        else:
            zeros[u, :] = unit_zeros
    return zeros


def orthogonal(seed, stream, rows, cols, gain=1.0, dtype=np.float64):
    """``orthogonal_``'s matrix by its definition (docs/orthogonal.md, "The maths"):
    ``gain * H_0 ... H_{p-1} D E``, one dense reflector at a time, for a (rows, cols) matrix,
    in float64 from the reflector stream drawn in ``dtype`` (the compute type)."""
    import fastinit
    from fastinit.orthogonal import REFLECTOR_STREAM
    from fastinit.rng import stream_id

    L, p = max(rows, cols), min(rows, cols)
    X = fastinit.normal_(np.empty((L, L), dtype), seed=seed, stream=stream_id(stream) ^ REFLECTOR_STREAM)
    X = X.astype(np.float64)
    Q = np.zeros((L, p))
    for k in range(p):  # D E: the sign fix on the diagonal
        x = X[k, k:]
        s = 1.0 if x[0] == 0 else np.sign(x[0])
        Q[k, k] = -s if np.sum(x[1:] ** 2) > 0 else s
    for k in reversed(range(p)):  # H_k applied from the last to the first
        x = X[k, k:]
        if np.sum(x[1:] ** 2) == 0:
            continue
        s = 1.0 if x[0] == 0 else np.sign(x[0])
        v = x.copy()
        v[0] += s * np.linalg.norm(x)
        v /= v[0]
        H = np.eye(L)
        H[k:, k:] -= 2 * np.outer(v, v) / (v @ v)
        Q = H @ Q
    Q *= gain
    return Q if rows >= cols else Q.T
