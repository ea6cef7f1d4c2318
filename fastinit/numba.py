"""fastinit's stream inside your own ``@njit`` code: Philox4x32-10 and per-element samplers.

Every sampler returns exactly element ``i`` of the matching fill, bit for bit::

    uniform_f32(key(seed, stream), i, low, high) == uniform_(np.empty(n, np.float32), low, high,
                                                             seed=seed, stream=stream).reshape(-1)[i]

for any ``i`` (``i`` is the element's row-major index in its global tensor, as in
docs/streams.md), so a kernel can draw fastinit's values in any order, into any layout, from
any thread.  Each call computes one Philox block and transforms the words element ``i`` needs
with the fill kernels' own per-lane functions (fastinit/kernels/_numba.py: ``uniform32``,
``boxmuller32``, ``truncnormal32``, ... and ``block_of`` for the element's block), so there is
one copy of the arithmetic; a normal computes its Box-Muller pair and returns its half.

* ``key(seed, stream)`` (plain Python: a str stream is hashed with BLAKE2b, which njit
  code cannot do) -> ``(key0, key1, stream0, stream1)``, four ``np.uint32``.
* ``philox4x32(c0, c1, c2, c3, k0, k1)`` -> 4 uint32 words: Random123's ``philox4x32_R(10)``.
* ``block(key, b)`` -> the 4 words of block ``b`` of the stream.
* ``uniform_<t>(key, i, low, high)``, ``normal_<t>(key, i, mean, std)`` and
  ``trunc_normal_<t>(key, i, params)`` with ``params = trunc_normal_params(...)``, for
  ``<t>`` in f32 (returns float32), f64 (float64), f16 and bf16 (return the uint16 bit
  pattern the fills store: Numba has no float16/bfloat16 arrays, so write them into
  ``out.view(np.uint16)``).

Parameters are float64 (Python floats) rounded once to the compute type inside, exactly as
the fills round them; ``trunc_normal_params`` computes the truncated normal's constants with
SciPy in Python (Phi is not available bit-exactly in njit code).  The samplers never validate:
pass parameters the fills accept (finite, ``low <= high``, ``std >= 0``, representable in the
output dtype); others give unspecified values, not errors.

Everything is compiled lazily and cached on disk (``cache=True``, with the sources it compiles
in part of each cache's stamp: see ``_cached``); arithmetic is written with explicit
float32/float64 casts so float32 is never promoted, without fastmath (no FMA contraction),
and reuses the kernels' own math (fastinit/kernels/_numba.py), so the bits are the fills'.
"""

import hashlib
from pathlib import Path

import numpy as np
from numba import njit
from numba.core.caching import NullCache

from . import _rounding
from .kernels import _numba as _kernels
from ._rounding import DOWN, NEAREST, UP
from .kernels._numba import (
    G32,
    G64,
    block_of,
    boxmuller32,
    boxmuller64,
    d2u,
    is_mixture,
    join53,
    mix_kept,
    philox,
    to_bf16,
    to_f16,
    truncnormal32,
    truncnormal64,
    u2f,
    uniform32,
    uniform64,
)

__all__ = ["block", "key", "normal_bf16", "normal_f16", "normal_f32", "normal_f64", "philox4x32",
           "trunc_normal_bf16", "trunc_normal_f16", "trunc_normal_f32", "trunc_normal_f64",
           "trunc_normal_params", "uniform_bf16", "uniform_f16", "uniform_f32", "uniform_f64"]

u16, u32, u64 = np.uint16, np.uint32, np.uint64
i64 = np.int64
f32, f64 = np.float32, np.float64

_ROUNDS = 10  # Philox4x32-10, the stream's generator (docs/streams.md)
_SHIFT32, _SHIFT64 = u64(G32.bit_length() - 1), u64(G64.bit_length() - 1)  # log2 of the kernels' group sizes
# the sources this module's functions compile in: Numba invalidates a cached function when its
# own file changes, not when a function it inlines from another file does
_SOURCES = hashlib.blake2b(b"".join(Path(m.__file__).read_bytes() for m in (_kernels, _rounding)),
                           digest_size=16).hexdigest()


def _cached(**options):
    """``njit(cache=True, **options)`` whose on-disk cache is also stamped with ``_SOURCES``, so
    an edit or upgrade of fastinit/kernels/_numba.py or fastinit/_rounding.py recompiles it
    instead of loading a sampler with another stream layout's bits (Numba compares the stamp
    its index file holds, ``IndexDataCacheFile._source_stamp``; where a Numba has no such
    attribute, the function is compiled in each process instead: never a stale one)."""
    def compile_(fn):
        dispatcher = njit(cache=True, **options)(fn)
        index = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
        if hasattr(index, "_source_stamp"):
            index._source_stamp = (index._source_stamp, _SOURCES)
        else:
            dispatcher._cache = NullCache()
        return dispatcher
    return compile_


_api = _cached(nogil=True, error_model="numpy")
# small helpers are inlined in Numba IR; the larger shared pieces stay separate (cached) functions,
# which the dtype variants call rather than re-inline: compile time is the cost users see first
_inline = _cached(inline="always", nogil=True, error_model="numpy")


# ---- key and raw words -------------------------------------------------------------

def key(seed, stream=None):
    """``(key0, key1, stream0, stream1)`` as four ``np.uint32``: the words of ``(seed, stream)``.

    Plain Python, not njit: a str stream (a tensor name) becomes its number by
    :func:`fastinit.rng.stream_id` (BLAKE2b), which njit code cannot compute.  Derive the key
    once, outside the kernel, and pass the tuple in.  Validates like the fills (``seed`` an int
    in [0, 2**64); ``stream`` such an int or a str).

    >>> [int(w) for w in key(2**32 + 7, 5)]
    [7, 1, 5, 0]
    """
    from .rng import key_words
    return tuple(u32(w) for w in key_words(seed, stream))


@_api
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter ``(c0, c1, c2, c3)`` under key ``(k0, k1)`` -> 4 uint32 words.

    Exactly Random123's ``philox4x32_R(10, ctr, key)`` (Salmon et al., SC'11) and
    :func:`fastinit.rng.philox4x32`; arguments are taken mod 2^32.

    >>> [int(w) for w in philox4x32(0, 0, 0, 0, 0, 0)]  # Random123's known answer
    [1713891541, 3781805453, 3159862348, 2600524760]
    """
    return philox(u32(c0), u32(c1), u32(c2), u32(c3), u32(k0), u32(k1), _ROUNDS)


@_api
def block(key, b):
    """The 4 words of block ``b`` (0 <= b < 2^64) of the stream ``key = (k0, k1, s0, s1)``:
    Philox4x32-10 of counter ``(b mod 2^32, b div 2^32, s0, s1)`` under key ``(k0, k1)``."""
    b = u64(b)
    return philox(u32(b & u64(0xFFFFFFFF)), u32(b >> u64(32)), u32(key[2]), u32(key[3]),
                  u32(key[0]), u32(key[1]), _ROUNDS)


@_inline
def _word_of(w, j):
    """Word j (0..3) of the block words w."""
    return w[0] if j == u64(0) else (w[1] if j == u64(1) else (w[2] if j == u64(2) else w[3]))


@_inline
def _word32(key, i):
    """float32 family: element i is word (i mod 64) div 16 of block 16 (i div 64) + i mod 16."""
    b, j = block_of(i, _SHIFT32)
    return _word_of(block(key, b), j)


@_inline
def _words64(key, i):
    """float64: element i is words 2h, 2h+1 (h = (i mod 32) div 16) of block 16 (i div 32) + i mod 16."""
    b, h = block_of(i, _SHIFT64)
    w = block(key, b)
    return (w[0], w[1]) if h == u64(0) else (w[2], w[3])


# ---- parameters rounded to the output dtype: fastinit._rounding's code, compiled here ------

_round_parts = _inline(_rounding.round_parts)  # the very function the fills round with


@_inline
def _rounded(x, p, k, mode):
    """Bits of float64 ``x`` rounded to the (p, k) format by ``mode`` (fastinit._rounding)."""
    b = d2u(f64(x))
    return _round_parts(i64(b >> u64(63)), i64((b >> u64(52)) & u64(0x7FF)), i64(b & u64(0xFFFFFFFFFFFFF)),
                        p, k, mode)


@_inline
def _f16_value(h):
    """float16 bits -> float64 value (exact)."""
    e = i64((h >> u16(10)) & u16(0x1F))
    m = f64(h & u16(0x3FF))
    v = m * 2.0 ** -24 if e == 0 else (1.0 + m * 2.0 ** -10) * 2.0 ** (e - 15)
    return -v if (h & u16(0x8000)) != u16(0) else v


@_inline
def _bits_value(h, bf):
    return f64(u2f(u32(u32(h) << u32(16)))) if bf else _f16_value(h)


@_inline
def _round16(x, bf, mode):
    return u16(_rounded(x, 8, 8, mode)) if bf else u16(_rounded(x, 11, 5, mode))


@_inline
def _round32(x, mode):
    return u2f(u32(_rounded(x, 24, 8, mode)))


# ---- uniform -----------------------------------------------------------------------

@_api
def _uniform32(key, i, scale, shift, lo, hi):
    return uniform32(_word32(key, i), scale, shift, lo, hi)


@_inline
def _uniform16(key, i, low, high, bf):
    low = f64(low)
    high = f64(high)
    if low == high:
        lo = hi = _round16(low, bf, NEAREST)
    else:
        lo = _round16(low, bf, UP)
        hi = _round16(high, bf, DOWN)
    v = _uniform32(key, i, f32(high - low), f32(low), f32(_bits_value(lo, bf)), f32(_bits_value(hi, bf)))
    return to_bf16(v) if bf else to_f16(v)


@_api
def uniform_f32(key, i, low, high):
    """Element ``i`` of ``uniform_(out, low, high, seed=, stream=)`` for a float32 ``out``.

    ``u = (w >> 8) 2^-24``, ``x = u * float32(high - low) + float32(low)``, clamped to the
    float32 values nearest ``low`` and ``high`` inside [low, high] (docs/streams.md).
    """
    low = f64(low)
    high = f64(high)
    lo = _round32(low, NEAREST if low == high else UP)
    hi = _round32(high, NEAREST if low == high else DOWN)
    return _uniform32(key, i, f32(high - low), f32(low), lo, hi)


@_api
def uniform_f16(key, i, low, high):
    """Element ``i`` of ``uniform_`` for a float16 ``out``, as its uint16 bit pattern."""
    return _uniform16(key, i, low, high, False)


@_api
def uniform_bf16(key, i, low, high):
    """Element ``i`` of ``uniform_`` for a bfloat16 ``out``, as its uint16 bit pattern."""
    return _uniform16(key, i, low, high, True)


@_api
def uniform_f64(key, i, low, high):
    """Element ``i`` of ``uniform_(out, low, high, seed=, stream=)`` for a float64 ``out``.

    ``u = (((w_{2h+1} << 32) | w_{2h}) >> 11) 2^-53``, ``x = u * (high - low) + low``,
    clamped to [low, high].
    """
    low = f64(low)
    high = f64(high)
    w0, w1 = _words64(key, i)
    return uniform64(join53(w0, w1, 11), high - low, low, low, high)


# ---- normal (Box-Muller, one output of the pair) -------------------------------------

@_inline
def _normal32_of(w, j, sd, mean):
    """Value j (0..3) of block words w under N(mean, sd): the cos or sin value of its word pair."""
    pair_hi = j >= u64(2)
    co, si = boxmuller32(w[2] if pair_hi else w[0], w[3] if pair_hi else w[1], sd, mean)
    return si if (j & u64(1)) != u64(0) else co


@_api
def _normal32(key, i, mean, std):
    b, j = block_of(i, _SHIFT32)
    return _normal32_of(block(key, b), j, f32(std), f32(mean))


@_api
def normal_f32(key, i, mean, std):
    """Element ``i`` of ``normal_(out, mean, std, seed=, stream=)`` for a float32 ``out``.

    Box-Muller on the word pair of element ``i``'s block (docs/streams.md), by the fills' own
    ``boxmuller32``; element ``i`` takes the cos or the sin value.
    ``x = (r * trig) * float32(std) + float32(mean)``.
    """
    return _normal32(key, i, f64(mean), f64(std))


@_api
def normal_f16(key, i, mean, std):
    """Element ``i`` of ``normal_`` for a float16 ``out``, as its uint16 bit pattern."""
    return to_f16(_normal32(key, i, f64(mean), f64(std)))


@_api
def normal_bf16(key, i, mean, std):
    """Element ``i`` of ``normal_`` for a bfloat16 ``out``, as its uint16 bit pattern."""
    return to_bf16(_normal32(key, i, f64(mean), f64(std)))


@_api
def normal_f64(key, i, mean, std):
    """Element ``i`` of ``normal_(out, mean, std, seed=, stream=)`` for a float64 ``out``.

    Each block gives two outputs, ``h = 0`` (cos) and ``h = 1`` (sin); only element ``i``'s
    is computed.
    """
    b, h = block_of(i, _SHIFT64)
    w = block(key, b)
    co, si = boxmuller64(join53(w[0], w[1], 11), join53(w[2], w[3], 11), f64(std), f64(mean))
    return si if h != u64(0) else co


# ---- truncated normal (inverse CDF; constants from SciPy in Python) ---------------------

def trunc_normal_params(mean=0.0, std=1.0, a=-2.0, b=2.0, *, dtype, bounds="absolute"):
    """The constants ``trunc_normal_<t>`` takes: a tuple of 10 float32 values (8 float64 values
    for float64 outputs).

    Plain Python, validated exactly as :func:`fastinit.trunc_normal_` (same arguments, same
    errors) for an output of ``dtype`` (float32, float64, float16 or bfloat16; the clamp bounds
    depend on it).  ``(std, mean, a', b', Phi(alpha), Phi(-beta), mass, Phi(alpha) - 1/2)``
    computed in float64 by SciPy, rounded once to float32 (float64 for float64 outputs), and
    for the float32 family ``(a, b)`` rounded inward to float32, the interval in which the
    mixture keeps a normal value (docs/streams.md).

    >>> p = trunc_normal_params(0.0, 0.02, -0.04, 0.04, dtype=np.float32)
    """
    from . import _validate, fills

    dt = _validate.float_dtype(dtype)
    plan = fills.trunc_normal_plan(mean, std, a, b, bounds, lambda: dt)
    rounded = (lambda p: tuple(float(v) for v in p)) if _validate.compute_dtype(dt) == np.float64 else \
        (lambda p: tuple(_rounding.float32_array(p)))
    # any finite z works below: z * 0 + value = value; these are the constants of [-0.67, 0.67]
    # (mass 0.5: the inverse CDF, never the mixture; float64 outputs take p[0..7])
    wide = _validate.compute_dtype(dt) == np.float64
    if plan[0] == "normal":  # fastinit.trunc_normal_ fills N(mean, 0): z * 0 + mean, unclamped
        _validate.in_range(plan[1], "mean", dt)
        p = [0.0, plan[1], -np.inf, np.inf, 0.25, 0.25, 0.5, -0.25, -np.inf, np.inf]
    elif plan[0] == "clamped":  # (+ 0.0: the fills' u * 0 + shift never gives -0.0)
        _, value, lo, hi = plan
        p = [0.0, value + 0.0, lo, hi, 0.25, 0.25, 0.5, -0.25, -np.inf, np.inf]
    else:
        p = plan[1]
    return rounded(p[:8] if wide else p)


@_api
def _trunc_normal32(key, i, p):
    """Layout 5 (docs/streams.md): at mass p[6] >= 0.95 the mixture -- element i's normal value
    if it lies in [p[8], p[9]] (clamped to [p[2], p[3]]), else the inverse CDF of its word of
    block 2^63 + its block; below, the inverse CDF of its own word."""
    p = (f32(p[0]), f32(p[1]), f32(p[2]), f32(p[3]), f32(p[4]), f32(p[5]), f32(p[6]), f32(p[7]),
         f32(p[8]), f32(p[9]))
    b, j = block_of(i, _SHIFT32)
    if is_mixture(p):
        x, rejected = mix_kept(_normal32_of(block(key, b), j, p[0], p[1]), p[8], p[9], p[2], p[3])
        if not rejected:
            return x
        b |= u64(1) << u64(63)
    return truncnormal32(_word_of(block(key, b), j), p)


@_api
def trunc_normal_f32(key, i, params):
    """Element ``i`` of ``trunc_normal_(out, mean, std, a, b, seed=, stream=)`` for a float32
    ``out``, with ``params = trunc_normal_params(mean, std, a, b, dtype=np.float32)``.

    Intervals holding at least 0.95 of N(mean, std^2) take the mixture of docs/streams.md
    (element ``i``'s normal value where it lies in [a, b], else an inverse-CDF draw from
    another word); narrower ones the inverse CDF of element ``i``'s word."""
    return _trunc_normal32(key, i, params)


@_api
def trunc_normal_f16(key, i, params):
    """Element ``i`` of ``trunc_normal_`` for a float16 ``out`` (params for dtype=float16), as bits."""
    return to_f16(_trunc_normal32(key, i, params))


@_api
def trunc_normal_bf16(key, i, params):
    """Element ``i`` of ``trunc_normal_`` for a bfloat16 ``out`` (params for dtype=bfloat16), as bits."""
    return to_bf16(_trunc_normal32(key, i, params))


@_api
def trunc_normal_f64(key, i, params):
    """Element ``i`` of ``trunc_normal_`` for a float64 ``out``, with params for dtype=float64."""
    p = (f64(params[0]), f64(params[1]), f64(params[2]), f64(params[3]),
         f64(params[4]), f64(params[5]), f64(params[6]), f64(params[7]))
    w0, w1 = _words64(key, i)
    return truncnormal64(join53(w0, w1, 12), p)
