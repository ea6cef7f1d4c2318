"""fastinit's own rounding of a float64 value to float32, float16 or bfloat16.

Why our own: a parameter's rounding decides output bits (a constant, the clamp bounds of
``uniform_``/``trunc_normal_``, the kernels' float32 constants), and third-party conversions
differ between versions: ml_dtypes 0.4-0.6 round a Python float to bfloat16 through float32
(twice), 0.7 once.  So every parameter is rounded here, exactly, by integer arithmetic on
the float64's bits (docs/streams.md, "Parameters"):

* nearest: IEEE 754 round to nearest, ties to even, of the exact float64 value, once;
  values at or past ``max + ulp(max) / 2`` become infinity (callers refuse them first);
* down / up: the largest value <= x / the smallest value >= x (IEEE roundTowardNegative /
  roundTowardPositive), which the clamp bounds use.

:func:`round_parts` is plain integer code that CPython and Numba both compile
(``fastinit.numba`` njit-compiles this same function for its samplers), so there is one
implementation.  Every intermediate stays below 2^62, so Python's unbounded ints and
Numba's int64 give the same results.
"""

import functools
import struct

import ml_dtypes
import numpy as np

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

NEAREST, DOWN, UP = 0, -1, 1

# (precision p including the hidden bit, exponent bits k) of each format
FORMATS = {np.dtype(np.float16): (11, 5), BFLOAT16: (8, 8), np.dtype(np.float32): (24, 8)}


def round_parts(sign, e, m, p, k, mode):
    """Bits of the float64 ``(-1)^sign * (e ? 1.m : 0.m) * 2^(e or 1 - 1023)`` (``e`` its
    biased exponent, ``m`` its 52-bit fraction) rounded to the binary format of precision
    ``p`` (hidden bit included) and ``k`` exponent bits, by ``mode`` (NEAREST, DOWN, UP).

    NaN gives the format's quiet NaN with the sign kept; infinities and zeros keep their sign.
    """
    bias = (1 << (k - 1)) - 1
    top = (1 << k) - 1  # the all-ones exponent field
    frac = p - 1
    sbit = sign << (k + frac)
    if e == 2047:
        return sbit | (top << frac) | ((1 << (frac - 1)) if m != 0 else 0)
    if e == 0 and m == 0:
        return sbit
    if e == 0:  # float64 subnormal: m * 2^-1074
        sig, exp, length = m, -1074, 0
        while (sig >> length) != 0:
            length += 1
    else:
        sig, exp, length = m | (1 << 52), e - 1075, 53
    lead = exp + length - 1  # floor(log2 |x|)
    q = max(lead, 1 - bias) - frac  # exponent of the quantum (ulp) at |x| in the format
    shift = q - exp
    away = (mode == UP and sign == 0) or (mode == DOWN and sign == 1)
    if shift <= 0:  # exact: |x| is a multiple of the quantum
        kept, up = sig << (-shift), False
    elif shift > 60:  # |x| < 2^53 * 2^exp <= a quarter of the quantum: rounds to 0 or one quantum
        kept, up = 0, away
    else:
        kept = sig >> shift
        rem = sig - (kept << shift)
        half = 1 << (shift - 1)
        if mode == NEAREST:
            up = rem > half or (rem == half and (kept & 1) == 1)
        else:
            up = rem != 0 and away
    if up:
        kept += 1
    if kept == (1 << p):  # carried into the next binade
        kept >>= 1
        q += 1
    if kept < (1 << frac):  # subnormal (or zero): exponent field 0
        return sbit | kept
    biased = q + frac + bias
    if biased >= top:  # overflow
        if mode == NEAREST or away:
            return sbit | (top << frac)
        return sbit | ((top - 1) << frac) | ((1 << frac) - 1)  # the largest finite value
    return sbit | (biased << frac) | (kept - (1 << frac))


def _parts(x):
    b = struct.unpack("<Q", struct.pack("<d", x))[0]
    return b >> 63, (b >> 52) & 0x7FF, b & ((1 << 52) - 1)


@functools.lru_cache(maxsize=4096)
def _rounded(parts, p, k, mode):
    """round_parts, remembered: every fill rounds its parameters, and a model's many fills
    (one per block of rows) round the same few; keyed by the float64's bits, so -0.0 and 0.0
    (equal as floats) are apart."""
    return round_parts(*parts, p, k, mode)


def to_bits(x, dtype, mode=NEAREST):
    """The bit pattern (a Python int) of float ``x`` rounded to ``dtype`` (float16, bfloat16 or
    float32) by ``mode``.

    >>> hex(to_bits(1 + 2**-8 + 2**-40, BFLOAT16))  # once, not through float32 (0x3f80)
    '0x3f81'
    """
    p, k = FORMATS[np.dtype(dtype)]
    return _rounded(_parts(float(x)), p, k, mode)


def from_bits(bits, dtype):
    """The exact value (a Python float) of ``dtype`` bit pattern ``bits``."""
    p, k = FORMATS[np.dtype(dtype)]
    frac, bias, top = p - 1, (1 << (k - 1)) - 1, (1 << k) - 1
    sign = -1.0 if (bits >> (k + frac)) & 1 else 1.0
    e, m = (bits >> frac) & top, bits & ((1 << frac) - 1)
    if e == top:
        return sign * float("inf") if m == 0 else float("nan")
    if e == 0:
        return sign * m * 2.0 ** (1 - bias - frac)
    return sign * (m + (1 << frac)) * 2.0 ** (e - bias - frac)


def nearest(x, dtype):
    """``x`` rounded to nearest even in ``dtype``, as a Python float (float64: ``x`` itself)."""
    if np.dtype(dtype) == np.float64:
        return float(x)
    return from_bits(to_bits(x, dtype), dtype)


def inward(lo, hi, dtype):
    """``(lo', hi')``: the ``dtype`` values closest to ``lo`` and ``hi`` inside ``[lo, hi]`` (may
    cross when no ``dtype`` value lies inside; callers check)."""
    if np.dtype(dtype) == np.float64:
        return float(lo), float(hi)
    return from_bits(to_bits(lo, dtype, UP), dtype), from_bits(to_bits(hi, dtype, DOWN), dtype)


def largest(dtype):
    """The largest finite value of ``dtype``."""
    p, k = FORMATS[np.dtype(dtype)]
    return from_bits((((1 << k) - 2) << (p - 1)) | ((1 << (p - 1)) - 1), dtype)


def float32_array(values):
    """``values`` (floats) rounded to nearest even in float32, as a float32 array."""
    bits = [to_bits(v, np.float32) for v in values]
    return np.array(bits, np.uint32).view(np.float32)


def f32_to_16(x, dtype):
    """float32 array ``x`` rounded to nearest even in float16 or bfloat16, as uint16 bits: the
    kernels' ``to_f16``/``to_bf16`` (docs/streams.md), vectorized with NumPy integer ops."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    if np.dtype(dtype) == BFLOAT16:
        r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
        return np.where(nan, (u >> np.uint32(16)) | np.uint32(0x40), r).astype(np.uint16)
    sign = u & np.uint32(0x80000000)
    a = u ^ sign
    big = np.where(nan, np.uint32(0x7E00), np.uint32(0x7C00))
    # subnormal results: adding 0.5 lines the float16 quantum 2^-24 up with float32's last bit
    sub = (a.view(np.float32) + np.float32(0.5)).view(np.uint32) - np.uint32(0x3F000000)
    norm = (a + np.uint32(0xC8000FFF) + ((a >> np.uint32(13)) & np.uint32(1))) >> np.uint32(13)
    o = np.where(a >= np.uint32(0x47800000), big, np.where(a < np.uint32(0x38800000), sub, norm))
    return ((sign >> np.uint32(16)) | (o & np.uint32(0xFFFF))).astype(np.uint16)


def round_array(x, dtype):
    """float64 array ``x`` rounded to nearest even in ``dtype`` once, as an array of ``dtype``.

    float32 and float64: IEEE conversion (the CPU's cvtsd2ss, rounding once).  float16 and
    bfloat16: ``x`` is first rounded to float32 *to odd* (truncated, with the sticky bit in
    the last place), which keeps enough bits that the kernels' float32 -> 16-bit rounding
    then rounds ``x`` exactly once (Boldo & Melquiond, "When double rounding is odd", 2005);
    no third-party conversion decides a bit.
    """
    x = np.asarray(x, np.float64)
    dt = np.dtype(dtype)
    with np.errstate(over="ignore"):
        t = x.astype(np.float32)
    if dt.itemsize != 2:
        return t if dt == np.float32 else x.copy()
    back = t.astype(np.float64)
    inexact = (back != x) & np.isfinite(x)
    t = np.where(inexact & (np.abs(back) > np.abs(x)), np.nextafter(t, np.float32(0)), t)
    u = t.view(np.uint32) | inexact.astype(np.uint32)
    return f32_to_16(u.view(np.float32), dt).view(dt)
