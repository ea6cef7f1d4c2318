"""Complex weights with JAX's semantics: the random parts are fastinit fills of the float view.

A complex64 (complex128) array of shape ``S`` is filled through its float32 (float64) view of
shape ``S + (2,)``: element ``i``'s real and imaginary parts are elements ``2i`` and ``2i + 1``
of that view, so the draws keep the contract (seed, stream, index).  The polar forms
(uniform on a disk, the modulus-truncated normal) then combine the two parts with NumPy's
``sqrt``/``log``/``exp``/``cos``/``sin``, so, like ``orthogonal_``'s BLAS, their last bits
follow the platform's libm: equal in distribution everywhere, bit-identical on one machine.
"""

import math

import numpy as np

from .._validate import real as _real, shape_tuple as _shape_tuple
from ..fills import normal_, uniform_
from .fans import compute_fans
from .variance import DISTRIBUTIONS, MODES

COMPLEX = {np.dtype(np.complex64): np.dtype(np.float32), np.dtype(np.complex128): np.dtype(np.float64)}
# the std of a complex standard normal (E|z|^2 = 1) whose modulus is truncated to 2 (JAX's
# .95311164380491208): sqrt(1 - 4 e^-4 / (1 - e^-4))
COMPLEX_TRUNCATED_STD = 0.95311164380491208


def real_view(out):
    """The float view ``out.shape + (2,)`` of a C-contiguous, writable complex64/complex128 array."""
    if not isinstance(out, np.ndarray) or out.dtype not in COMPLEX:
        raise TypeError(f"out must be a complex64 or complex128 NumPy array; got "
                        f"{getattr(out, 'dtype', type(out).__name__)}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be a C-contiguous, writable array")
    return out.view(COMPLEX[out.dtype]).reshape(out.shape + (2,))


def _global(out, global_shape):
    return tuple(out.shape) if global_shape is None else _shape_tuple(global_shape, "global_shape", out.ndim)


def _shard(out, global_shape, offset):
    g = _global(out, global_shape)
    off = (0,) * out.ndim if offset is None else tuple(offset)
    return dict(global_shape=tuple(g) + (2,), offset=off + (0,))


def complex_normal_(out, std=1.0, *, seed, stream, global_shape=None, offset=None, backend=None, threads=None):
    """``z = x + i y`` with ``x, y`` iid N(0, std^2 / 2), so ``E|z|^2 = std^2``, in place; returns ``out``.

    ``jax.random.normal`` for complex dtypes (times ``std``): ``normal_`` of the float view
    with std ``std / sqrt(2)``.
    """
    std = _real(std, "std")
    view = real_view(out)
    normal_(view, 0.0, std / math.sqrt(2.0), seed=seed, stream=stream, backend=backend, threads=threads,
            **_shard(out, global_shape, offset))
    return out


def complex_variance_scaling_(out, scale=1.0, mode="fan_in", distribution="truncated_normal", *, layout="jax",
                              in_axis=None, out_axis=None, batch_axis=(), seed, stream, global_shape=None,
                              offset=None, backend=None, threads=None):
    """``jax.nn.initializers.variance_scaling`` for complex dtypes: ``E|z|^2 = scale / n``, in place.

    ``n`` and the fans as in ``variance_scaling_``; ``var = scale / n``:

    - ``"normal"``: ``complex_normal_(out, sqrt(var))``;
    - ``"uniform"``: uniform on the disk of radius ``sqrt(2 var)``: ``z = sqrt(2 u1 var)
      exp(2 pi i u2)``;
    - ``"truncated_normal"``: a complex normal with its modulus truncated to 2 and rescaled
      to ``E|z|^2 = var``: ``r = sqrt(-log(1 - (1 - e^-4) u1))``, ``z = r exp(2 pi i u2)
      sqrt(var) / 0.95311164380491208``;

    ``u1``, ``u2`` = the real and imaginary slots of ``uniform_`` on the float view.
    """
    scale = _real(scale, "scale", lo=0)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode!r}; mode must be one of {list(MODES)}")
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"invalid distribution for variance scaling initializer: {distribution!r}; "
                         f"distribution must be one of {list(DISTRIBUTIONS)}")
    view = real_view(out)
    shape = _global(out, global_shape)
    fan_in, fan_out = compute_fans(shape, layout, in_axis, out_axis, batch_axis)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    var = scale / n if n else 0.0
    kw = dict(seed=seed, stream=stream, backend=backend, threads=threads, **_shard(out, global_shape, offset))
    if distribution == "normal" or var == 0:
        return complex_normal_(out, math.sqrt(var), seed=seed, stream=stream, global_shape=global_shape,
                               offset=offset, backend=backend, threads=threads)
    uniform_(view, 0.0, 1.0, **kw)
    real = view.dtype.type
    u1, u2 = view[..., 0], view[..., 1]
    if distribution == "uniform":
        r = np.sqrt(real(2.0 * var) * u1)
    else:
        r = np.sqrt(-np.log1p(-real(1.0 - math.exp(-4.0)) * u1))
        r *= real(math.sqrt(var) / COMPLEX_TRUNCATED_STD)
    theta = real(2.0 * math.pi) * u2
    out[...] = r * np.exp(1j * theta).astype(out.dtype)
    return out
