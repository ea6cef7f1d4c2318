"""``jax.nn.initializers`` with fastinit's numbers: same names, signatures and distributions.

Every factory takes JAX's parameters with JAX's defaults, plus a keyword-only ``stream``
(an int in [0, 2**64) or a tensor name, default 0), and returns ``init(key, shape,
dtype=..., out_sharding=None)`` as JAX's do.  The values are those fastinit writes into a
NumPy array of the same shape and dtype with the same ``(seed, stream)``, JAX's layout
(``(*kernel, in, out)``) and the scheme below; the distributions are JAX's, the numbers
are not (fastinit draws from Philox with its own stream layout, docs/streams.md).

The key rule (:func:`key_seed`): ``w = jax.random.key_data(key)`` (a raw ``uint32`` key
is its own data).  Two words (threefry2x32, JAX's default): ``seed = (w[0] << 32) | w[1]``,
so ``jax.random.key(s)`` gives fastinit's ``seed = s`` for ``0 <= s < 2**32`` (with x64,
``s < 2**63``).  Any other number of words (``rbg``, ``unsafe_rbg``: 4):
``seed = int.from_bytes(blake2b(w as little-endian uint32 bytes, digest_size=8,
person=b"fastinit.jaxkey").digest(), "little")``.  So keys from ``jax.random.split`` give
independent tensors, and the same key and stream always give the same tensor.

Outside ``jax.jit`` the key is concrete: fastinit fills a 64-byte aligned NumPy array on
the host and ``jax.device_put`` hands it to JAX, zero copy on the CPU backend.  Under
``jax.jit`` (and ``vmap``) the key is a tracer: the same host fill runs through
``jax.pure_callback`` (one copy, into XLA's output buffer).  Every argument is checked in
Python before any of that, so errors are plain ``TypeError``/``ValueError`` even under jit.

Mapping (JAX reference -> fastinit, always JAX's layout and axes):

- ``constant``, ``zeros``, ``ones``: JAX's own (no randomness).
- ``uniform(scale)`` -> ``uniform_(out, 0, scale)``; ``normal(stddev)`` -> ``normal_(out, 0, stddev)``
  (complex: ``schemes.complex.complex_normal_``);
  ``truncated_normal(stddev, lower, upper)`` -> ``trunc_normal_(out, 0, stddev, lower, upper, bounds="std")``.
- ``variance_scaling`` and its presets (``glorot_*``/``xavier_*``, ``he_*``/``kaiming_*``,
  ``lecun_*``) -> ``variance_scaling_(out, scale, mode, distribution, layout="jax", in_axis,
  out_axis, batch_axis)`` (complex: ``schemes.complex.complex_variance_scaling_``).
- ``orthogonal`` -> ``orthogonal_(layout="jax")`` (complex: ``unitary_``);
  ``delta_orthogonal`` -> ``delta_orthogonal_(layout="jax")``.

>>> init = fastinit.jax.initializers.lecun_normal(stream="dense.kernel")
>>> w = init(jax.random.key(0), (784, 256), jnp.bfloat16)
"""

import hashlib
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn.initializers import constant as _jax_constant
from jax.nn.initializers import ones, zeros  # no randomness: JAX's own, exactly

from .. import _validate, fills, schemes
from ..rng import stream_id
from ..schemes.complex import complex_normal_, complex_variance_scaling_
from ..schemes.variance import DISTRIBUTIONS, MODES

_REAL, _COMPLEX = _validate.FLOAT_DTYPES, _validate.COMPLEX_DTYPES
_ALIGN = 64  # bytes: the CPU backend's device_put aliases (zero copy) buffers aligned to this
_KEY_PERSON = b"fastinit.jaxkey"


# ----------------------------------------------------------------------------------------
# the key rule


def _key_data(key):
    """A single key's uint32 words: a 1-D ``jax.Array``/tracer (or NumPy array)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single PRNG key; got an array of keys of shape {key.shape} "
                             f"(split it into single keys, or jax.vmap the initializer)")
        return jax.random.key_data(key)
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise TypeError(f"key must be a JAX PRNG key (jax.random.key or jax.random.PRNGKey); "
                        f"got {type(key).__name__}")
    if key.dtype != np.uint32 or key.ndim != 1 or key.shape[0] == 0:
        raise TypeError(f"key must be a typed key (jax.random.key) or a raw uint32 key of shape (n,) "
                        f"(jax.random.PRNGKey); got an array of dtype {key.dtype} and shape {key.shape}")
    return key


def _seed_of(words) -> int:
    """fastinit's seed for a key's uint32 words (the rule in the module docstring)."""
    words = np.asarray(words, np.uint32).reshape(-1)
    if words.size == 2:
        return (int(words[0]) << 32) | int(words[1])
    digest = hashlib.blake2b(words.astype("<u4").tobytes(), digest_size=8, person=_KEY_PERSON).digest()
    return int.from_bytes(digest, "little")


def key_seed(key) -> int:
    """The fastinit seed a concrete JAX key stands for.

    ``w = jax.random.key_data(key)``; two words (threefry2x32): ``(w[0] << 32) | w[1]``;
    otherwise BLAKE2b-64 of the words (``person=b"fastinit.jaxkey"``, little-endian).

    >>> key_seed(jax.random.key(42))
    42
    """
    data = _key_data(key)
    if isinstance(data, jax.core.Tracer):
        raise TypeError("key_seed needs a concrete key; under jax.jit the initializers map the key on the host")
    return _seed_of(np.asarray(data))


# ----------------------------------------------------------------------------------------
# arguments


def _number(value, name, lo=None):
    """A Python float (``>= lo`` if given) from a real number or a concrete 0-d array (JAX accepts both)."""
    if isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer) \
            and value.shape == () and value.dtype.kind in "iuf":
        value = value.item()
    return _validate.real(value, name, lo)


def _stream(stream):
    stream_id(stream)  # TypeError/ValueError naming stream
    return stream


def _shape(shape):
    """A tuple of ints; a bare int is a 1-tuple, as ``jax.random`` (so ``jax.nn.initializers``) takes it."""
    return _validate.shape(shape, kind="sequence", allow_int=True)


def _dtype(dtype, name, allowed):
    """The canonical dtype to fill: JAX's default float for None; float64 (complex128)
    becomes float32 (complex64) without jax_enable_x64, with JAX's warning."""
    if dtype is None:
        return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    try:
        dt = np.dtype(jnp.dtype(dtype))
    except TypeError:
        raise TypeError(f"dtype must be a float dtype such as jnp.float32; got {dtype!r}") from None
    if dt not in allowed:
        names = ", ".join(str(d) for d in allowed)
        hint = " (fastinit has no complex counterpart of this JAX initializer)" if dt in _COMPLEX else ""
        raise TypeError(f"dtype of the {name} initializer must be one of {names}; got {dt}{hint}")
    canonical = np.dtype(jax.dtypes.canonicalize_dtype(dt))
    if canonical != dt:  # what jax.random does: warn and truncate
        warnings.warn(f"Explicitly requested dtype {dt} requested in {name} is not available, and will be "
                      f"truncated to dtype {canonical}. To enable more dtypes, set the jax_enable_x64 "
                      f"configuration option or the JAX_ENABLE_X64 shell environment variable.",
                      UserWarning, stacklevel=3)
    return canonical


def _axis(axis, ndim, name):
    _validate.integer(axis, name)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for a {ndim}-D shape (axes {-ndim}..{ndim - 1})")
    return int(axis) % ndim


# ----------------------------------------------------------------------------------------
# the one path every random initializer takes


def _aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _dry_run(fill, shape, dtype):
    """Validate everything ``fill`` would check, writing nothing: an empty shard of the tensor."""
    fill(np.empty((0,) * len(shape), dtype), seed=0, global_shape=shape, offset=(0,) * len(shape))


def _initializer(name, fill, default_dtype, *, allowed=_REAL, check=_dry_run):
    """``init(key, shape, dtype, out_sharding)`` running ``fill(out, seed=...)`` on the host.

    ``check(fill, shape, dtype)`` runs at call time, in Python, before the key is touched.
    """

    def init(key, shape, dtype=default_dtype, out_sharding=None):
        if out_sharding is not None:
            raise NotImplementedError(f"fastinit.jax.initializers.{name}: out_sharding is not supported (fastinit "
                                      f"fills on the host); place the result with jax.device_put(x, sharding)")
        shape = _shape(shape)
        dtype = _dtype(dtype, name, allowed)
        check(fill, shape, dtype)
        data = _key_data(key)

        def host(words):
            return fill(_aligned_empty(shape, dtype), seed=_seed_of(words))

        if isinstance(data, jax.core.Tracer):  # under jit/vmap: the same fill, on the host
            return jax.pure_callback(host, jax.ShapeDtypeStruct(shape, dtype), data, vmap_method="sequential")
        return jax.device_put(host(np.asarray(data)))

    init.__name__ = init.__qualname__ = f"{name}_init"
    init.__doc__ = f"``{name}`` initializer: ``init(key, shape, dtype, out_sharding=None)`` -> jax.Array."
    return init


# ----------------------------------------------------------------------------------------
# the initializers


def constant(value, dtype=None, *, stream=0):
    """``jax.nn.initializers.constant(value, dtype)`` itself: every element ``value``.

    No randomness, so the key and ``stream`` play no part (``stream`` is accepted, and
    checked, so that every factory takes it).
    """
    _stream(stream)
    return _jax_constant(value, dtype)


def uniform(scale=1e-2, dtype=None, *, stream=0):
    """U[0, scale] (``jax.nn.initializers.uniform``: U[0, scale)), by ``fastinit.uniform_(out, 0, scale)``.

    A negative ``scale`` gives U[scale, 0], as JAX's ``U[0, 1) * scale`` does.
    """
    scale, stream = _number(scale, "scale"), _stream(stream)
    low, high = min(0.0, scale), max(0.0, scale)

    def fill(out, **kw):
        return fills.uniform_(out, low, high, stream=stream, **kw)

    return _initializer("uniform", fill, dtype)


def normal(stddev=1e-2, dtype=None, *, stream=0):
    """N(0, stddev^2) (``jax.nn.initializers.normal``), by ``fastinit.normal_(out, 0, stddev)``.

    Complex dtypes as in JAX: real and imaginary parts iid N(0, stddev^2 / 2)
    (``fastinit.schemes.complex.complex_normal_``).
    """
    stddev, stream = _number(stddev, "stddev", lo=0), _stream(stream)

    def fill(out, **kw):
        if out.dtype.kind == "c":
            return complex_normal_(out, stddev, stream=stream, **kw)
        return fills.normal_(out, 0.0, stddev, stream=stream, **kw)

    return _initializer("normal", fill, dtype, allowed=_REAL + _COMPLEX)


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0, *, stream=0):
    """N(0, stddev^2) truncated to [lower stddev, upper stddev] (``jax.nn.initializers.truncated_normal``).

    ``lower``/``upper`` are in units of ``stddev``, the std of the *untruncated* normal (no
    0.8796 correction, as in JAX): ``fastinit.trunc_normal_(out, 0, stddev, lower, upper,
    bounds="std")``.
    """
    stddev, stream = _number(stddev, "stddev", lo=0), _stream(stream)
    lower, upper = _number(lower, "lower"), _number(upper, "upper")
    if not lower < upper:
        raise ValueError(f"lower must be < upper; got lower={lower}, upper={upper}")

    def fill(out, **kw):
        return fills.trunc_normal_(out, 0.0, stddev, lower, upper, bounds="std", stream=stream, **kw)

    return _initializer("truncated_normal", fill, dtype)


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(), dtype=None, *, stream=0):
    """Variance ``scale / n`` (``jax.nn.initializers.variance_scaling``), by ``fastinit.variance_scaling_``.

    ``n`` = fan_in, fan_out, (fan_in + fan_out) / 2 or sqrt(fan_in fan_out) by ``mode``,
    fans from JAX's ``in_axis``/``out_axis``/``batch_axis`` (the other axes are the
    receptive field); ``std = sqrt(scale / n)``: "uniform" U(-sqrt(3) std, sqrt(3) std),
    "normal" N(0, std^2), "truncated_normal" N(0, s^2) on [-2 s, 2 s] with ``s = std /
    0.87962566103423978`` (the std of N(0, 1) truncated to +-2).  Complex dtypes with JAX's
    complex semantics (``E|z|^2 = scale / n``; uniform on a disk, modulus-truncated normal):
    ``fastinit.schemes.complex.complex_variance_scaling_``.  Shapes under 2-D need explicit axes
    (``in_axis=[]``, ``out_axis=[0]``, ...), as in JAX.
    """
    scale, stream = _number(scale, "scale", lo=0), _stream(stream)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"invalid mode for variance scaling initializer: {mode!r}; mode must be one of {list(MODES)}")
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"invalid distribution for variance scaling initializer: {distribution!r}; "
                         f"distribution must be one of {list(DISTRIBUTIONS)}")

    def fill(out, **kw):
        vs = complex_variance_scaling_ if out.dtype.kind == "c" else schemes.variance_scaling_
        return vs(out, scale, mode, distribution, layout="jax", in_axis=in_axis, out_axis=out_axis,
                  batch_axis=batch_axis, stream=stream, **kw)

    return _initializer("variance_scaling", fill, dtype, allowed=_REAL + _COMPLEX)


def _preset(name, scale, mode, distribution, formula):
    def factory(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None, *, stream=0):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype, stream=stream)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (f"{formula} (``jax.nn.initializers.{name}``): ``variance_scaling({scale}, {mode!r}, "
                       f"{distribution!r})``, fastinit's ``{name}_`` with ``layout=\"jax\"``.")
    return factory


glorot_uniform = _preset("glorot_uniform", 1.0, "fan_avg", "uniform", "U(-b, b), b = sqrt(6 / (fan_in + fan_out))")
glorot_normal = _preset("glorot_normal", 1.0, "fan_avg", "truncated_normal",
                        "Truncated normal with std sqrt(2 / (fan_in + fan_out)) after truncation at 2 sigma")
he_uniform = _preset("he_uniform", 2.0, "fan_in", "uniform", "U(-b, b), b = sqrt(6 / fan_in)")
he_normal = _preset("he_normal", 2.0, "fan_in", "truncated_normal",
                    "Truncated normal with std sqrt(2 / fan_in) after truncation at 2 sigma")
lecun_uniform = _preset("lecun_uniform", 1.0, "fan_in", "uniform", "U(-b, b), b = sqrt(3 / fan_in)")
lecun_normal = _preset("lecun_normal", 1.0, "fan_in", "truncated_normal",
                       "Truncated normal with std sqrt(1 / fan_in) after truncation at 2 sigma")
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal  # JAX's aliases
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def _orthogonal_into(out, scale, axis, seed, stream):
    """JAX's orthogonal on ``out``: the ``(numel / n, n)`` matrix, ``n = out.shape[axis]``,
    reshaped to ``shape`` without ``axis`` plus ``(n,)``, then axis -1 moved to ``axis``."""
    from .. import orthogonal as _orth  # SciPy's LAPACK: loaded on first use

    fill = _orth.unitary_ if out.dtype.kind == "c" else _orth.orthogonal_
    if axis == out.ndim - 1:
        return fill(out, scale, seed=seed, stream=stream, layout="jax")
    moved = np.empty(out.shape[:axis] + out.shape[axis + 1:] + (out.shape[axis],), out.dtype)
    fill(moved, scale, seed=seed, stream=stream, layout="jax")
    out[...] = np.moveaxis(moved, -1, axis)  # the one copy JAX makes too
    return out


def orthogonal(scale=1.0, column_axis=-1, dtype=None, *, stream=0):
    """A Haar (semi-)orthogonal matrix times ``scale`` (``jax.nn.initializers.orthogonal``).

    The matrix is ``(numel / shape[column_axis], shape[column_axis])`` (orthonormal
    columns if tall, rows if wide), laid out as JAX does.  ``fastinit.orthogonal_(out,
    scale, layout="jax")``, or ``fastinit.unitary_`` (Haar unitary) for complex64/complex128.
    Values are deterministic but, unlike the element-wise fills, rely on BLAS
    (docs/orthogonal.md).
    """
    scale, stream = _number(scale, "scale"), _stream(stream)
    _validate.integer(column_axis, "column_axis")  # its range is checked at call time, against the shape

    def fill(out, seed, **_):
        return _orthogonal_into(out, scale, _axis(column_axis, out.ndim, "column_axis"), seed, stream)

    def check(fill, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer requires at least a 2D shape; got shape={shape}")
        _axis(column_axis, len(shape), "column_axis")
        fill(np.empty((0,) * len(shape), dtype), seed=0)  # validates scale for the dtype, writes nothing

    return _initializer("orthogonal", fill, dtype, allowed=_REAL + _COMPLEX, check=check)


def delta_orthogonal(scale=1.0, column_axis=-1, dtype=None, *, stream=0):
    """Orthogonal-delta kernel (``jax.nn.initializers.delta_orthogonal``; Xiao et al. 2018).

    ``shape = (*kernel, in, out)``, 3 to 5 dims, ``in <= out``: zero except the centre tap
    ``(k - 1) // 2`` of each spatial dim, which is ``orthogonal(scale, column_axis)`` of
    ``(in, out)``.  Real dtypes with ``column_axis`` -1 (or 1): ``fastinit.delta_orthogonal_(out,
    scale, layout="jax")``; otherwise (column_axis -2/0, or complex: ``unitary_``) the tap
    is built as :func:`orthogonal` builds it.
    """
    scale, stream = _number(scale, "scale"), _stream(stream)
    _axis(column_axis, 2, "column_axis")  # it indexes the 2-D (in, out) tap

    def fill(out, seed, **_):
        if out.dtype.kind != "c" and column_axis % 2 == 1:
            from ..orthogonal import delta_orthogonal_

            return delta_orthogonal_(out, scale, seed=seed, stream=stream, layout="jax")
        tap = _orthogonal_into(np.empty(out.shape[-2:], out.dtype), scale, column_axis % 2, seed, stream)
        out[...] = 0
        if out.size:
            out[tuple((k - 1) // 2 for k in out.shape[:-2])] = tap
        return out

    def check(fill, shape, dtype):
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"Delta orthogonal initializer requires a 3D, 4D or 5D shape; got shape={shape}")
        if shape[-1] < shape[-2]:
            raise ValueError(f"`fan_in` must be less or equal than `fan_out`; got shape={shape} "
                             f"(in={shape[-2]}, out={shape[-1]})")
        fill(np.empty((0,) * len(shape), dtype), seed=0)  # validates scale for the dtype, writes nothing

    return _initializer("delta_orthogonal", fill, dtype, allowed=_REAL + _COMPLEX, check=check)


__all__ = ["constant", "delta_orthogonal", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
           "kaiming_normal", "kaiming_uniform", "key_seed", "lecun_normal", "lecun_uniform", "normal", "ones",
           "orthogonal", "truncated_normal", "uniform", "variance_scaling", "xavier_normal", "xavier_uniform", "zeros"]
