"""Every argument check, in one place: reals, dtypes, buffers, shapes, shards, seeds, streams,
backends, threads, and the representability policy.

A check raises ``TypeError`` (the wrong kind of value) or ``ValueError`` (the right kind, a bad
value) naming the argument, the value and what is accepted, and writes nothing: the public
fills and schemes run every check before the first byte lands in ``out``.

Representability (docs/streams.md, "Bad input"): a fill never writes inf or NaN.  Every value
it can write lies within its *reach* -- uniform ``[low, high]``, normal ``|mean| + Z_MAX std``,
truncated normal ``[a, b]``, a constant itself, orthogonal ``|gain|`` -- and a parameter whose
reach is not finite in the output dtype is refused, naming the parameter the caller passed.
"""

import inspect
import math
import numbers

import ml_dtypes
import numpy as np

from . import kernels

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
FLOAT_DTYPES = (np.dtype(np.float16), BFLOAT16, np.dtype(np.float32), np.dtype(np.float64))
COMPLEX_DTYPES = (np.dtype(np.complex64), np.dtype(np.complex128))
DTYPE_NAMES = "float16, bfloat16 (ml_dtypes), float32, float64"

# the largest |z| of fastinit's Box-Muller (docs/streams.md), rounded up: float32 u1 >= 2^-24
# gives sqrt(48 ln 2) = 5.7686; float64 u1 >= 2^-53 gives sqrt(106 ln 2) = 8.5717
Z_MAX = {32: 5.77, 64: 8.572}
# orthogonal_'s blocked Householder forms products of up to 128 reflectors with gain-sized
# columns in the compute dtype: those reach a few hundred times |gain| before the result's
# entries (|q| <= 1) come back, so gain keeps 2^10 below the compute dtype's largest value
ORTHOGONAL_HEADROOM = 2.0**10
U64 = 2**64


# ----------------------------------------------------------------------------------------
# numbers


def real(value, name, lo=None):
    """A finite Python float from a real number (bools refused), ``>= lo`` if given, else a named error.

    Python ints beyond the float range (``10**400``) are refused with a ValueError, not the
    ``OverflowError`` ``float()`` raises.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite; got {_short(value)}, beyond the float64 range "
                         f"(|x| <= {np.finfo(np.float64).max})") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if lo is not None and value < lo:
        raise ValueError(f"{name} must be >= {lo:g}; got {value}")
    return value


def _short(value):
    """repr(value), a long int shortened to its first and last digits and its length."""
    text = repr(value)
    digits = text.lstrip("-")
    return text if len(text) <= 40 else f"{text[:len(text) - len(digits) + 12]}...{text[-6:]} ({len(digits)} digits)"


def integer(value, name, lo=None, hi=None, what=None):
    """An int (bools refused) in ``[lo, hi]`` (either bound optional), else a named error."""
    accepted = what or "an int" + (f" >= {lo}" if lo is not None and hi is None else "") + \
        (f" in [{lo}, {hi}]" if lo is not None and hi is not None else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {accepted}; got {type(value).__name__} {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return value


def float_dtype(value, name="dtype"):
    """The NumPy dtype ``value`` names (any spelling ``np.dtype`` takes), if it is one of
    FLOAT_DTYPES; else a TypeError naming ``name`` and the accepted dtypes."""
    try:
        dt = np.dtype(value)
    except TypeError:
        dt = None
    if dt is None or dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be one of {DTYPE_NAMES}; got {value!r}")
    return dt


def finfo(dtype):
    return (ml_dtypes.finfo if dtype == BFLOAT16 else np.finfo)(dtype)


def compute_dtype(dtype):
    """The dtype fastinit computes ``dtype`` outputs in: float64 for float64, float32 for the
    other real dtypes; a complex dtype (``unitary_``) is its own."""
    if dtype in COMPLEX_DTYPES:
        return np.dtype(dtype)
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def in_range(value, name, dtype):
    """Refuse ``value`` (a float) outside ``dtype``'s finite range."""
    top = float(finfo(dtype).max)
    if abs(value) > top:
        raise ValueError(f"{name}={value} is outside the range of {dtype} (|x| <= {top})")


def normal_reach(mean, std, dtype, blame=None):
    """Refuse N(mean, std^2) parameters whose values could overflow ``dtype``: every sample is
    ``z * std + mean`` with ``|z| <= Z_MAX``, so ``|mean| + Z_MAX std`` must be finite in it.

    ``blame``: ``(name, value)`` of the parameter the caller passed that gave ``std`` (a
    scheme's ``scale``, ``gain``, ``initializer_range``); the error names it.
    """
    bits = 64 if dtype == np.float64 else 32
    top = float(finfo(dtype).max)
    reach = abs(mean) + Z_MAX[bits] * std
    if reach > top:
        name, value = blame or ("std", std)
        raise ValueError(f"{name}={value} gives N({mean}, {std}^2) samples up to |x| = {reach:.4g} "
                         f"(|mean| + {Z_MAX[bits]} std), beyond the range of {dtype} (|x| <= {top:.6g}): "
                         f"fastinit never writes inf")


def normal_params(mean, std, dtype_of):
    """normal_'s (mean, std), validated for the output dtype ``dtype_of()`` (asked for after the
    scalar checks): finite, std >= 0, and every sample finite in the dtype (:func:`normal_reach`)."""
    mean, std = real(mean, "mean"), real(std, "std", lo=0)
    dtype = dtype_of()
    in_range(mean, "mean", dtype)
    in_range(std, "std", dtype)
    normal_reach(mean, std, dtype)
    return mean, std


def orthogonal_reach(gain, dtype, compute):
    """Refuse a gain whose orthogonal entries (``|q| <= 1`` times gain) or whose intermediate
    products (``ORTHOGONAL_HEADROOM`` times gain, in ``compute``) overflow."""
    in_range(gain, "gain", dtype)
    limit = float(np.finfo(compute).max) / ORTHOGONAL_HEADROOM
    if abs(gain) > limit:
        raise ValueError(f"gain={gain} is too large for {dtype}: |gain| <= {limit:.6g}, 2^-10 of {compute}'s range, "
                         f"keeps the intermediate products finite: fastinit never writes inf")


# ----------------------------------------------------------------------------------------
# seeds and streams


def u64(value, name):
    """An int in [0, 2**64) (a seed, a stream number)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int in [0, 2**64); got {type(value).__name__} {value!r}")
    value = int(value)
    if not 0 <= value < U64:
        raise ValueError(f"{name} must be in [0, 2**64); got {_short(value)}")
    return value


MISSING_STREAM = ("stream= is required with seed=: name the tensor (stream='fc1.weight'; an int also works), "
                  "or use fastinit.Streams(seed) to hand out one stream per tensor. Two tensors filled "
                  "with the same seed and stream get the same numbers (docs/streams.md, 'One stream per tensor')")


def check_stream(value):
    """A stream: an int in [0, 2**64) (returned as int) or a str, returned as its UTF-8 bytes
    (what rng.stream_id hashes).  A str that is not Unicode text (a lone surrogate such as
    ``"\\ud800"``) has no UTF-8 encoding and is refused; ``None`` (no stream given with a
    seed) is the TypeError :data:`MISSING_STREAM`: the stream keeps two tensors apart."""
    if value is None:
        raise TypeError(MISSING_STREAM)
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"stream must be an int in [0, 2**64) or a str that UTF-8 can encode; "
                             f"{value!r} has {exc.reason} at index {exc.start}") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"stream must be an int in [0, 2**64) or a str (a tensor name); "
                        f"got {type(value).__name__} {value!r}")
    return u64(value, "stream")


# ----------------------------------------------------------------------------------------
# buffers and shapes


def check_out(out, name="out"):
    """Validate a destination of a float dtype; returns it.  Writable, aligned, C-contiguous."""
    return check_array(out, name, FLOAT_DTYPES, f"expected one of {DTYPE_NAMES}")


def check_array(out, name, dtypes, accepted):
    """Validate a destination: an ndarray of one of ``dtypes`` (else ``accepted`` says what
    is), writable, C-contiguous and aligned.  Returns it."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (ndarray, np.memmap, open_memmap) or a CPU torch "
                        f"tensor; got {type(out).__name__}")
    if out.dtype not in dtypes:
        raise TypeError(f"{name} has dtype {out.dtype}; {accepted}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only (a memmap opened with mode 'r'?); expected a writable array")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} is not C-contiguous (strides {out.strides} for shape {out.shape}); "
                         f"fastinit writes in place, so pass a C-contiguous array")
    if not out.flags.aligned:
        raise ValueError(f"{name} is not aligned to its dtype's size; expected an aligned array")
    return out


def check_matrix_out(out, kind, name):
    """Validate ``out`` of an orthogonal scheme ``name``: kind "real" (``orthogonal_``,
    ``delta_orthogonal_``: FLOAT_DTYPES) or "complex" (``unitary_``: COMPLEX_DTYPES).  An array
    of the other kind is a TypeError pointing to the function that fills it."""
    dt = getattr(out, "dtype", None)
    if isinstance(out, np.ndarray) and kind == "real" and dt in COMPLEX_DTYPES:
        raise TypeError(f"out has complex dtype {dt}: {name} fills real (semi-)orthogonal matrices; "
                        f"use fastinit.orthogonal.unitary_ for a Haar unitary matrix")
    if isinstance(out, np.ndarray) and kind == "complex" and dt in FLOAT_DTYPES:
        raise TypeError(f"out has real dtype {dt}: {name} fills complex matrices (complex64, complex128); "
                        f"use fastinit.orthogonal.orthogonal_ for a real orthogonal matrix")
    if kind == "real":
        return check_array(out, "out", FLOAT_DTYPES, f"{name} expects one of {DTYPE_NAMES}")
    return check_array(out, "out", COMPLEX_DTYPES, f"{name} expects complex64 or complex128")


def check_orthogonal(out, kind, gain, seed, stream, backend, threads, layout, batch_dims, min_ndim, name):
    """Every check of an orthogonal scheme ``name`` (fastinit.orthogonal), without writing:
    ``out`` (:func:`check_matrix_out`), gain (finite, within :func:`orthogonal_reach`), seed,
    stream, backend, threads, ``layout`` ("torch" or "jax"), ``batch_dims`` (an int >= 0
    leaving at least ``min_ndim`` dims per matrix).  Returns ``(gain, batch_dims)``."""
    check_matrix_out(out, kind, name)
    gain = real(gain, "gain")
    u64(seed, "seed")
    check_stream(stream)
    check_backend(backend)
    check_threads(threads)
    if layout not in ("torch", "jax"):
        raise ValueError(f"layout must be 'torch' or 'jax'; got {layout!r}")
    batch_dims = integer(batch_dims, "batch_dims", lo=0)
    if out.ndim - batch_dims < min_ndim:
        raise ValueError(f"{name} needs at least {min_ndim} dims per matrix; got out.shape={out.shape} "
                         f"with batch_dims={batch_dims}")
    orthogonal_reach(gain, out.dtype, compute_dtype(out.dtype))
    return gain, batch_dims


def shape(value, name="shape", *, allow_int=False, kind="tuple"):
    """A tuple of non-negative ints (a shape, a global shape, an offset), else a named error.

    ``allow_int``: a bare int is a 1-tuple.  ``kind`` words the accepted container ("tuple";
    JAX says "sequence").  Element types are a TypeError, negative sizes a ValueError.
    """
    accepted = f"an int or a {kind} of ints" if allow_int else f"a {kind} of ints"
    if allow_int and isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {accepted}; got {value!r}")
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be {accepted}; got {type(value).__name__} {value!r}") from None
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{name} must be {accepted}; got {value!r}")
    if any(v < 0 for v in items):
        raise ValueError(f"{name} must be a {kind} of non-negative ints; got {items}")
    return tuple(int(v) for v in items)


def shape_tuple(value, name, ndim):
    """``shape(value, name)`` (an int allowed) of length ``ndim`` (out's): global_shape, offset."""
    items = shape(value, name, allow_int=True)
    if len(items) != ndim:
        raise ValueError(f"{name} has {len(items)} dims but out has {ndim}: expected a tuple of {ndim} ints")
    return items


def shard(shape, global_shape=None, offset=None):
    """``(global_shape, offset)`` of a block of ``shape``, validated: the block must fit and the
    global tensor must have fewer than 2**63 elements."""
    ndim = len(shape)
    if global_shape is None:
        if offset is not None:
            raise ValueError("offset needs global_shape: pass global_shape= (the whole tensor's shape) too")
        return tuple(shape), (0,) * ndim
    gshape = shape_tuple(global_shape, "global_shape", ndim)
    off = (0,) * ndim if offset is None else shape_tuple(offset, "offset", ndim)
    for d in range(ndim):
        if off[d] + shape[d] > gshape[d]:
            raise ValueError(f"out of shape {tuple(shape)} at offset {off} does not fit in global_shape "
                             f"{gshape} (dim {d}: {off[d]} + {shape[d]} > {gshape[d]})")
    if math.prod(gshape) >= 2**63:
        raise ValueError(f"global_shape {gshape} has 2**63 or more elements")
    return gshape, off


# ----------------------------------------------------------------------------------------
# execution


def check_threads(value):
    """The thread count: None is every core this process may run on."""
    if value is None:
        from ._parallel import default_threads
        return default_threads()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"threads must be an int >= 1 or None (all cores); got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"threads must be an int >= 1 or None (all cores); got {value!r}")
    return int(value)


def check_backend(name):
    """The kernel backend named ``name`` (None: the default), else a named error."""
    return kernels.get(name)


def check_common(out, seed, stream, global_shape, offset, backend, threads):
    """Validate ``out`` and the keywords every scheme takes, without writing.

    Returns ``(gshape, off)``: the global shape and out's offset in it.  ``seed=None`` is
    accepted (deterministic schemes draw nothing); any other seed and the stream are checked.
    """
    check_out(out)
    gshape, off = shard(out.shape, global_shape, offset)
    if seed is not None:
        u64(seed, "seed")
        check_stream(stream)
    check_backend(backend)
    check_threads(threads)
    return gshape, off


def keywords_of(target):
    """Give ``fn(out, ..., **common)`` the signature it really has: its own parameters, then
    ``target``'s keyword-only ones (for help() and the scheme registry)."""
    keyword_only = [p for p in inspect.signature(target).parameters.values() if p.kind is p.KEYWORD_ONLY]

    def decorate(fn):
        own = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
        fn.__signature__ = inspect.Signature(own + keyword_only)
        return fn

    return decorate


# ---- command-line text: the argparse types of fastinit.cli and fastinit.cli_signal ------------
# argparse prints an ArgumentTypeError's message after the option's name ("argument --depth:
# expected an integer >= 1; got '0'"); any other exception would become its generic "invalid
# value", which does not say what is accepted.

def _argument_error(message):
    import argparse  # the command line's: not loaded with the library

    return argparse.ArgumentTypeError(message)


def _text_int(text, base=10):
    try:
        return int(text, base)
    except (TypeError, ValueError):
        return None


def int_arg(low):
    """An argparse type: an integer >= ``low`` from its decimal text."""
    def parse(text):
        n = _text_int(text)
        if n is None or n < low:
            raise _argument_error(f"expected an integer >= {low}; got {text!r}")
        return n

    parse.__name__ = f"int >= {low}"
    return parse


def ints_arg(low):
    """An argparse type: comma-separated integers, each >= ``low`` (``256,512,1024``)."""
    def parse(text):
        values = [_text_int(v) for v in text.split(",")]
        if not values or any(n is None or n < low for n in values):
            raise _argument_error(f"expected comma-separated integers >= {low} such as 256,512,1024; got {text!r}")
        return values

    parse.__name__ = f"ints >= {low}"
    return parse


def seed_arg(text):
    """An argparse type: a seed in [0, 2**64), decimal or 0x-prefixed hex (as :func:`u64` accepts)."""
    n = _text_int(text, 0)
    if n is None or not 0 <= n < 2 ** 64:
        raise _argument_error(f"expected an integer in [0, 2**64) (decimal, or hex as 0x...); got {text!r}")
    return n
