"""The core fills: uniform, normal, truncated normal and constants, in place.

Every random fill obeys fastinit's contract: element ``i`` of the (global) tensor
depends only on (seed, stream, i, parameters, dtype), never on thread count,
chunking, backend, or whether the tensor is filled whole or as a shard.  The
stream layout and the exact arithmetic are in docs/streams.md.

Each function validates everything (buffer, parameters, seed, stream, shard,
backend, threads) before writing a byte, then writes into ``out`` and returns it.
"""

import math

import numpy as np
from scipy.special import erf, ndtr

from . import _parallel, _rounding, _validate, kernels
from ._buffers import BFLOAT16, accepts_tensors, check_out, runs
from ._validate import check_common, compute_dtype as _compute, finfo as _finfo, in_range as _in_range
from ._validate import keywords_of as _keywords_of, real as _real
from .kernels import F32, GROUP32, GROUP64, NORMAL, TRUNCNORMAL, UNIFORM
from .rng import key_words

# a truncated normal needs its interval's probability mass to stay a normal number
# in the compute precision, with room for the uniform's 2^-24 (2^-53) resolution
_MIN_MASS = {32: 1e-30, 64: 1e-290}




def _inward(lo, hi, dtype):
    """[lo', hi']: the dtype values closest to lo and hi that lie inside [lo, hi]."""
    lo_d, hi_d = _rounding.inward(lo, hi, dtype)
    if lo_d > hi_d:
        raise ValueError(f"no {dtype} value lies in [{lo!r}, {hi!r}]: widen the interval")
    return lo_d, hi_d


def _kernel_args(out, seed, stream, global_shape, offset, backend, threads):
    """Everything a kernel call needs, validated before any write: ``(flat, fmt, calls, key words,
    backend, threads)``."""
    flat, fmt = check_out(out)
    calls = runs(out.shape, global_shape, offset)
    return flat, fmt, calls, key_words(seed, stream), kernels.get(backend), _validate.check_threads(threads)


def _fill(out, dist, params, seed, stream, global_shape, offset, backend, threads):
    """Validated fill: params float64[10] (the kernel rounds nothing; we round once here)."""
    flat, fmt, calls, kw, be, nthreads = _kernel_args(out, seed, stream, global_shape, offset, backend, threads)
    if not calls:
        return out
    if fmt is None:
        p = np.asarray(params, np.float64)

        def kernel(o, n_runs, run_len, first, stride):
            be.fill64(dist, kw, p, o, n_runs, run_len, first, stride)

        align = GROUP64
    else:
        p = _rounding.float32_array(params)  # each rounded once, by fastinit (docs/streams.md)

        def kernel(o, n_runs, run_len, first, stride):
            be.fill32(dist, fmt, kw, p, o, n_runs, run_len, first, stride)

        align = GROUP32
    _parallel.run(kernel, flat, _parallel.split(calls, nthreads, align), nthreads)
    return out


def _pad(values):
    """Kernel parameters p[0..9], unused ones zero (csrc/fastinit.h lists them)."""
    return list(values) + [0.0] * (10 - len(values))


@accepts_tensors
def uniform_(out, low=0.0, high=1.0, *, seed, stream=None, global_shape=None, offset=None,
             backend=None, threads=None):
    """Fill ``out`` with U(low, high), in place; returns ``out``.

    ``x = u * (high - low) + low`` with ``u = (w >> 8) * 2^-24`` from one Philox word per
    element (float64: ``u`` has 53 bits from two words), computed in float32 for
    float16/bfloat16/float32 outputs and rounded to nearest even once.  Every value
    satisfies ``low <= x <= high`` in the output dtype (the bounds are clamped inward).
    Matches ``torch.nn.init.uniform_(w, a=low, b=high)`` in distribution.

    >>> w = uniform_(np.empty((256, 128), np.float32), -0.1, 0.1, seed=0, stream="fc1.weight")
    """
    return _uniform(out, low, high, ("low", "high"), seed=seed, stream=stream, global_shape=global_shape,
                    offset=offset, backend=backend, threads=threads)


def _uniform(out, low, high, names, *, seed, stream=None, global_shape=None, offset=None, backend=None,
             threads=None):
    """uniform_, with ``names``: what the caller calls ``(low, high)`` (``fastinit.torch.uniform_``'s
    ``a``, ``b``; ``Tensor.uniform_``'s ``from``, ``to``), named in every error about them."""
    lo_name, hi_name = names
    low, high = _real(low, lo_name), _real(high, hi_name)
    if low > high:
        raise ValueError(f"{lo_name} must be <= {hi_name}; got {lo_name}={low}, {hi_name}={high}")
    dtype = _dtype_of(out)
    for name, v in ((lo_name, low), (hi_name, high)):
        _in_range(v, name, dtype)
    width = high - low
    if not (math.isfinite(width) and abs(width) <= float(_finfo(_compute(dtype)).max)):
        raise ValueError(f"{hi_name} - {lo_name} = {width} overflows {_compute(dtype)}, fastinit's compute type "
                         f"for {dtype}")
    if low == high:  # a constant, rounded to nearest like constant_
        lo = hi = _rounding.nearest(low, dtype)
    else:
        lo, hi = _inward(low, high, dtype)
    return _fill(out, UNIFORM, _pad([high - low, low, lo, hi]), seed, stream, global_shape, offset,
                 backend, threads)


@accepts_tensors
def normal_(out, mean=0.0, std=1.0, *, seed, stream=None, global_shape=None, offset=None,
            backend=None, threads=None):
    """Fill ``out`` with N(mean, std^2), in place; returns ``out``.

    Box-Muller with a fixed two words per pair of outputs (no rejection), so element
    ``i`` is addressable: ``z = sqrt(-2 log u1) * (cos | sin)(2 pi u2)``, ``x = z * std + mean``.
    float32 ``|z| <= 5.77`` (``u1 >= 2^-24``); float64 ``|z| <= 8.57``.  Matches
    ``torch.nn.init.normal_(w, mean, std)`` in distribution.

    >>> w = normal_(np.empty((4096, 4096), np.float32), std=0.02, seed=0, stream="embed")
    """
    mean, std = _validate.normal_params(mean, std, lambda: _dtype_of(out))
    return _fill(out, NORMAL, _pad([std, mean]), seed, stream, global_shape, offset, backend, threads)


@accepts_tensors
def trunc_normal_(out, mean=0.0, std=1.0, a=-2.0, b=2.0, *, bounds="absolute", seed, stream=None,
                  global_shape=None, offset=None, backend=None, threads=None):
    """Fill ``out`` with N(mean, std^2) truncated to [a, b], in place; returns ``out``.

    ``bounds="absolute"`` (default, torch semantics: ``torch.nn.init.trunc_normal_``)
    takes ``a``, ``b`` as values; ``bounds="std"`` takes them in standard deviations
    around ``mean`` (JAX/Keras: ``truncated_normal`` is ``bounds="std", a=-2, b=2``).

    Inverse CDF of one uniform per element, drawn from the nearer tail so that it stays
    exact at any std: ``z = Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha)))`` with
    ``alpha = (a - mean)/std``, ``beta = (b - mean)/std`` (Phi^-1: Giles' erfinv variable with
    fitted polynomials for float32, AS241 for float64; docs/streams.md), ``x = z * std + mean``,
    and no sample ever lies outside [a, b] in the output dtype (torch emits 1000-sigma
    outliers at tiny std; fastinit does not).  Intervals with probability below 1e-30
    (float32) or 1e-290 (float64) under N(mean, std) are refused.

    >>> w = trunc_normal_(np.empty((768, 768), np.float32), std=0.02, a=-0.04, b=0.04, seed=0, stream="attn.weight")
    """
    plan = trunc_normal_plan(mean, std, a, b, bounds, lambda: _dtype_of(out))
    if plan[0] == "normal":  # bounds="std" at std 0: [mean + a std, mean + b std] is the point mean
        return normal_(out, plan[1], 0.0, seed=seed, stream=stream, global_shape=global_shape, offset=offset,
                       backend=backend, threads=threads)
    if plan[0] == "clamped":  # the limit of N(mean, s) on [a, b] as s -> 0: mean, clamped into [a, b]
        _, value, lo, hi = plan
        return _fill(out, UNIFORM, _pad([0.0, value, lo, hi]), seed, stream, global_shape, offset, backend,
                     threads)
    return _fill(out, TRUNCNORMAL, plan[1], seed, stream, global_shape, offset, backend, threads)


def trunc_normal_plan(mean, std, a, b, bounds, dtype_of):
    """trunc_normal_'s parameters, validated, for the output dtype ``dtype_of()`` (asked for after
    the scalar checks): ``("normal", mean)`` (``bounds="std"`` at std 0), ``("clamped", value,
    lo, hi)`` (std 0) or ``("trunc", p)``, p the kernel's 10 constants (csrc/fastinit.h).
    fastinit.numba.trunc_normal_params shares it."""
    mean, std = _real(mean, "mean"), _real(std, "std", lo=0)
    a, b = _real(a, "a"), _real(b, "b")
    if bounds not in ("absolute", "std"):
        raise ValueError(f"bounds must be 'absolute' or 'std'; got {bounds!r}")
    if not a < b:
        raise ValueError(f"a must be < b; got a={a}, b={b}")
    if bounds == "std":
        if std == 0:
            return ("normal", mean)
        a, b = mean + a * std, mean + b * std
    dtype = dtype_of()
    for name, v in (("mean", mean), ("std", std)):
        _in_range(v, name, _compute(dtype))
    for name, v in (("a", a), ("b", b)):
        _in_range(v, name, dtype)
    lo, hi = _inward(a, b, dtype)
    if std == 0:
        return ("clamped", min(max(mean, lo), hi), lo, hi)
    alpha, beta = (a - mean) / std, (b - mean) / std
    if alpha >= 0:
        mass = ndtr(-alpha) - ndtr(-beta)
    elif beta <= 0:
        mass = ndtr(beta) - ndtr(alpha)
    else:
        mass = 1.0 - ndtr(alpha) - ndtr(-beta)
    bits = 64 if dtype == np.float64 else 32
    if not mass >= _MIN_MASS[bits]:
        raise ValueError(f"[a, b] = [{a}, {b}] holds probability {mass:.3g} under N({mean}, {std}^2); "
                         f"fastinit needs at least {_MIN_MASS[bits]:g} for {dtype} "
                         f"(the interval lies too far into one tail)")
    # Phi(alpha) - 1/2 by erf keeps its relative precision when alpha is near 0
    q_alpha = 0.5 * erf(alpha / math.sqrt(2.0))
    # [a, b] inward in float32: the float32 family's mixture accepts a normal value inside them
    a32, b32 = _rounding.inward(a, b, np.float32)
    return ("trunc", [std, mean, lo, hi, ndtr(alpha), ndtr(-beta), mass, q_alpha, a32, b32])


def _dtype_of(out):
    """out's dtype, once out is validated as a destination."""
    check_out(out)
    return out.dtype


@accepts_tensors
def constant_(out, value, *, seed=None, stream=None, global_shape=None, offset=None, backend=None, threads=None):
    """Fill ``out`` with ``value`` (rounded to nearest even in out's dtype), in place; returns ``out``.

    Matches ``torch.nn.init.constant_``.  Takes the keywords every scheme takes, so callers
    can treat all schemes alike; they are checked, and a constant needs none of them.
    """
    flat, fmt = check_out(out)
    value = _real(value, "value")
    _in_range(value, "value", out.dtype)
    check_common(out, seed, stream, global_shape, offset, backend, threads)
    if fmt is None:
        out.fill(value)
    else:  # the bit pattern of value rounded by fastinit (ml_dtypes' fill also runs at half speed)
        flat.view(np.uint32 if fmt == F32 else np.uint16).fill(_rounding.to_bits(value, out.dtype))
    return out


@accepts_tensors
@_keywords_of(constant_)
def zeros_(out, **common):
    """Fill ``out`` with 0 (``torch.nn.init.zeros_``); returns ``out``."""
    return constant_(out, 0.0, **common)


@accepts_tensors
@_keywords_of(constant_)
def ones_(out, **common):
    """Fill ``out`` with 1 (``torch.nn.init.ones_``); returns ``out``."""
    return constant_(out, 1.0, **common)


# ----------------------------------------------------------------------------------------
# masked fills: the values of a fill where a bitmap keeps them, 0.0 elsewhere

MASKED_COST = 4  # a kept value computed alone (fill_masked) costs about 4 values of the dense fill


def normal_masked_(out, zeros, mean=0.0, std=1.0, *, words, kept, seed, stream=None, global_shape=None, offset=None,
                   backend=None, threads=None):
    """``normal_(out, mean, std)`` where bit ``j % 32`` of ``zeros[i * words + j // 32]`` is clear,
    +0.0 where it is set, in place; returns ``out`` (2-D, a block of a 2-D global tensor).

    The kept values are those of ``normal_`` element for element (same seed, stream, shard
    rule), so the bits do not depend on the backend, threads or shard.  ``kept`` (the fraction
    of a row's elements kept, in [0, 1]) picks the cheaper way: compute only the kept values
    (``fill_masked``: one Philox block each, in batches of 32 lanes that do not span rows, at
    about ``MASKED_COST`` times the dense fill's time per value) when a row's batches cost less
    than its dense values, else the dense ``normal_`` values and then the zeros.  A band of about
    1 MiB of rows at a time, so the zeros land while it is in cache.  Validated as ``normal_``.
    """
    flat, fmt = check_out(out)
    if out.ndim != 2:
        raise ValueError(f"normal_masked_ needs a 2-D out; got shape {out.shape}")
    mean, std = _validate.normal_params(mean, std, lambda: out.dtype)
    nr, nc = out.shape
    words = _validate.integer(words, "words", -(-nc // 32), None, f"an int >= {-(-nc // 32)} (ceil(columns / 32))")
    if not isinstance(zeros, np.ndarray) or zeros.dtype != np.uint32 or zeros.ndim != 1 or \
            not zeros.flags.c_contiguous or zeros.size < nr * words:
        raise TypeError(f"zeros must be a C-contiguous 1-D uint32 array of at least rows * words = {nr * words} "
                        f"words; got {getattr(zeros, 'dtype', type(zeros).__name__)} of shape "
                        f"{getattr(zeros, 'shape', None)}")
    kept = _real(kept, "kept")
    if not 0.0 <= kept <= 1.0:
        raise ValueError(f"kept must be in [0, 1] (the fraction of a row kept); got {kept}")
    flat, fmt, calls, kw, be, nthreads = _kernel_args(out, seed, stream, global_shape, offset, backend, threads)
    if not calls:
        return out
    gshape, off = _validate.shard(out.shape, global_shape, offset)
    cols = gshape[1]
    first = off[0] * cols + off[1]
    lanes = 32 * math.ceil(kept * nc / 32)  # the batch lanes of a row
    band = max(1, (1 << 20) // max(1, nc * out.dtype.itemsize))  # about 1 MiB of out
    if MASKED_COST * lanes <= nc:
        p = np.asarray(_pad([std, mean]), np.float64) if fmt is None else _rounding.float32_array(_pad([std, mean]))

        def values(i0):
            i1 = min(nr, i0 + band)
            be.fill_masked(NORMAL, fmt, kw, p, flat[i0 * nc:i1 * nc], nc, i1 - i0, nc, zeros[i0 * words:i1 * words],
                           words, first + i0 * cols, cols)
    else:
        raw = out.reshape(-1).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[out.dtype.itemsize])

        def values(i0):
            i1 = min(nr, i0 + band)
            normal_(out[i0:i1], mean, std, seed=seed, stream=stream, global_shape=gshape, offset=(off[0] + i0, off[1]),
                    backend=be.name, threads=1)
            be.zero_where(raw[i0 * nc:i1 * nc], nc, i1 - i0, nc, zeros[i0 * words:i1 * words], words)

    bands = list(range(0, nr, band))
    per = -(-len(bands) // nthreads)
    _parallel.each(lambda chunk: [values(i0) for i0 in chunk], [bands[i:i + per] for i in range(0, len(bands), per)],
                   nthreads)
    return out


def subset_bits(mode, k, global_shape, offset, shape, *, seed, stream, backend=None, threads=None):
    """Random exact-size subsets as a bitmap: ``(bits, words)``, ``bits`` uint32 with ``words``
    words per row of the ``shape`` block at ``offset`` of a 2-D ``global_shape`` matrix.

    ``mode`` 0: in every column, exactly ``k`` of the rows are set; ``mode`` 1: in every row,
    exactly ``k`` of the columns.  Each column's (row's) subset is an exactly uniform random
    one, drawn by Floyd's algorithm from ``(seed, stream)`` (docs/streams.md, "Sparse
    pattern"), so a block gets exactly the bits of the whole.  ``sparse_``'s zeros; for
    ``normal_masked_``.  Arguments are the caller's to validate (sparse_ does).
    """
    be = kernels.get(backend)
    nthreads = _validate.check_threads(threads)
    rows, cols = global_shape
    (r0, c0), (nr, nc) = offset, shape
    kw = key_words(seed, stream)
    words = -(-nc // 32)
    bits = np.zeros(nr * words, np.uint32)  # row i: words i*words .. (i+1)*words
    # columns (mode 0) or rows (mode 1) split over threads, columns on multiples of 32 so that
    # no two threads share a word
    if mode == 0:
        step = -(-words // nthreads) * 32
        parts = [(r0, nr, c0 + a, min(step, nc - a), bits[a // 32:]) for a in range(0, nc, step)]
    else:
        step = -(-nr // nthreads)
        parts = [(r0 + a, min(step, nr - a), c0, nc, bits[a * words:]) for a in range(0, nr, step)]

    def pattern(part):
        pr0, pnr, pc0, pnc, pbits = part
        be.sparse_bitmap(mode, kw, rows, cols, k, pr0, pnr, pc0, pnc, pbits, words)

    _parallel.each(pattern, parts, nthreads)
    return bits, words
