"""``torch.nn.init`` itself, at fastinit's speed: same names, signatures, errors and warnings.

``import fastinit.torch as init`` in place of ``import torch.nn.init as init`` runs unchanged
code.  Each random function draws in one of two ways:

- **seedless** (``seed=None``, torch's semantics): the Philox key is one 63-bit draw from
  ``generator`` (torch's default generator when None), so ``torch.manual_seed(s)``
  reproduces a run and successive calls differ, as with ``torch.nn.init``.
  ``stream=`` may still name the tensor (it is then the stream under the drawn key).
- **counter-based** (``seed=s, stream=name``): fastinit's contract; the tensor gets exactly
  the bits fastinit writes into a NumPy array of that shape and dtype.  ``stream`` is
  required with ``seed`` (two tensors with one seed and no stream would be equal) and
  ``generator`` is refused with it.

Any tensor torch accepts is written in place: a contiguous CPU float tensor through its
zero-copy NumPy view; a non-contiguous one (``w.T``, a column slice, channels_last) gets
the values of its logical (row-major) indices, so ``w.T`` holds the bits of the transposed
fill (one temporary, then ``copy_``); a meta tensor is checked and left as is, as torch
does.  What torch refuses to write is refused too, with torch's message: a tensor whose
elements share memory (``torch.zeros(4).expand(3, 4)``) to a random fill, an inference
tensor outside ``torch.inference_mode()``.  Bad arguments raise ``InitArgumentError`` (a
ValueError that is also the RuntimeError torch raises for bounds) before the generator is
advanced or a byte written.

>>> w = torch.empty(256, 128)
>>> torch.manual_seed(0); fastinit.torch.kaiming_uniform_(w, a=5 ** 0.5)   # torch.nn.init's way
>>> fastinit.torch.kaiming_uniform_(w, a=5 ** 0.5, seed=0, stream="fc.weight")
"""

import math
import warnings

import torch

from .. import fills as _fills
from .. import schemes as _schemes
from ..schemes.fans import QUADRATURE_NONLINEARITIES as _QUADRATURE, TORCH_NONLINEARITIES as _TORCH_TABLE
from .tensors import _FLOAT, as_numpy, inference_refusal

_DRAW_HIGH = 2**63 - 1  # a seedless key: torch.randint(0, 2**63 - 1) from the generator
# torch's own, taken before install() can route torch.nn.init's names here
_TORCH_EYE, _TORCH_DIRAC = torch.nn.init.eye_, torch.nn.init.dirac_


def calculate_gain(nonlinearity, param=None):
    """``torch.nn.init.calculate_gain``: torch's table, values, types and errors.

    ``fastinit.calculate_gain`` also answers "gelu" and "silu" (by quadrature, docs/probe.md);
    the drop-in keeps torch's ``Unsupported nonlinearity`` for them.
    """
    if nonlinearity not in _TORCH_TABLE:
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}")
    return _schemes.calculate_gain(nonlinearity, param)


def _torch_nonlinearity(a, mode, nonlinearity):
    """torch's refusal of a nonlinearity its table lacks, after its mode check (torch's order)."""
    if isinstance(nonlinearity, str) and nonlinearity in _QUADRATURE:
        _schemes.variance._kaiming_args(a, mode, "linear")
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


class InitArgumentError(ValueError, RuntimeError):
    """A bad argument to a ``fastinit.torch`` initializer.

    A ValueError (fastinit's convention) and a RuntimeError, which is what ``torch.nn.init``
    raises for bounds it rejects (``uniform_(t, 2, 1)``, ``normal_(t, std=-1)``) and for
    tensors it will not write in place (an ``expand``-ed tensor, an inference tensor outside
    inference mode), so code written against either catches it."""


# ----------------------------------------------------------------------------------------
# where the key comes from


def _key(seed, stream, generator):
    """``(seed, stream)`` for one fill; a seedless call draws the seed from ``generator``."""
    if seed is None:
        device = "cpu" if generator is None else generator.device
        drawn = torch.randint(0, _DRAW_HIGH, (), generator=generator, dtype=torch.int64, device=device)
        return int(drawn), 0 if stream is None else stream
    if generator is not None:
        raise TypeError("pass seed= (and stream=) or generator=, not both: with seed= the numbers depend "
                        "only on (seed, stream, element index)")
    if stream is None:
        raise TypeError("stream= is required with seed=: name the tensor (e.g. stream='fc1.weight'), or two "
                        "tensors filled with one seed get the same numbers; without seed=, the numbers come "
                        "from torch's generator (torch.manual_seed)")
    return seed, stream


def _generator_state(seed, generator):
    """The state to restore if a seedless fill is refused (a refused call draws nothing)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
    if seed is not None:
        return None
    gen = generator if generator is not None else torch.default_generator
    return gen, gen.get_state()


# ----------------------------------------------------------------------------------------
# writing a tensor


def _check_tensor(tensor, any_layout=False):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor; got {type(tensor).__name__}")
    if tensor.layout != torch.strided and not any_layout:
        raise ValueError(f"tensor has layout {tensor.layout}; expected a dense (torch.strided) tensor")


# torch's own words for writing a tensor whose elements share memory (the message below starts with them)
_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
            "location. Please clone() the tensor before performing the operation.")


def _check_writable(tensor):
    """Refuse the in-place writes torch refuses, with torch's message naming ``tensor``.

    - An inference tensor outside inference mode (any device, meta included).
    - Elements sharing memory where torch's ``has_internal_overlap`` says Yes
      (:func:`_shared_dim`).  torch lets the "too hard to tell" views through
      (``as_strided((3, 3), (1, 1))``) and leaves meta tensors alone: so does this.  torch's
      ``fill_``/``zero_`` and its ``eye_``/``dirac_`` do write such tensors: ``constant_``,
      ``ones_``, ``zeros_`` are torch's ``fill_``/``zero_``, and ``eye_``/``dirac_`` hand them
      to torch.
    """
    refusal = inference_refusal(tensor)
    if refusal:
        raise InitArgumentError(refusal)
    dim = _shared_dim(tensor)
    if dim is not None:
        raise InitArgumentError(f"{_OVERLAP} tensor has shape {tuple(tensor.shape)} and strides "
                                f"{tuple(tensor.stride())}: dim {dim}, of size {tensor.shape[dim]}, has stride 0 "
                                f"(a view made by expand() or as_strided())")


def _shared_dim(tensor):
    """The first dim of size > 1 and stride 0 of a non-meta ``tensor`` with elements (its
    elements share memory: torch's ``has_internal_overlap`` Yes), else None."""
    if tensor.is_meta or tensor.numel() == 0:
        return None
    return next((d for d, (n, s) in enumerate(zip(tensor.shape, tensor.stride())) if n > 1 and s == 0), None)


def _direct(tensor):
    """Whether fastinit can write ``tensor``'s memory through its NumPy view."""
    return (tensor.device.type == "cpu" and tensor.dtype in _FLOAT and tensor.is_contiguous()
            and not tensor.is_neg() and not tensor.is_conj())


def _float_dtype(tensor, what):
    if tensor.dtype not in _FLOAT:
        raise TypeError(f"{what} needs a floating-point tensor (float16, bfloat16, float32, float64); "
                        f"got dtype {tensor.dtype}")


def _run(fill, out, args, kwargs):
    try:
        return fill(out, *args, **kwargs)
    except ValueError as exc:
        if type(exc) is ValueError:
            raise InitArgumentError(*exc.args) from None
        raise


def _dry_run(fill, tensor, args, kwargs):
    """Every check ``fill`` makes, on an empty shard of the tensor's shape: nothing is written."""
    shape = tuple(tensor.shape)
    empty = _empty_like_cpu(tensor, (0,) * len(shape))
    _run(fill, as_numpy(empty), args, dict(kwargs, global_shape=shape, offset=(0,) * len(shape)))


def _empty_like_cpu(tensor, shape=None):
    dtype = tensor.dtype if tensor.dtype in _FLOAT else torch.float32
    return torch.empty(tuple(tensor.shape) if shape is None else shape, dtype=dtype, device="cpu")


_BLOCK_BYTES = 4 << 20  # a non-contiguous tensor is filled through a temporary of about this size


def _raw_strided(tensor):
    """A NumPy view of a strided CPU float tensor's memory as unsigned ints of its itemsize
    (bit copies, any strides), or None where torch's ``copy_`` must do it."""
    if tensor.device.type != "cpu" or tensor.dtype not in _FLOAT or tensor.is_neg() or tensor.is_conj():
        return None
    raw = {2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()]
    return tensor.detach().view(raw).numpy()


def _write(tensor, fill, *args, key=None, dry_run=True, shardable=True, **kwargs):
    """Fill ``tensor`` in place with ``fill(numpy_view, *args, **kwargs)``; returns ``tensor``.

    Every fill of this module writes here (``constant_``, ``ones_``, ``zeros_`` are torch's
    ``fill_``/``zero_``, as are ``eye_``/``dirac_`` of a tensor whose elements share memory),
    first through :func:`_check_writable` (torch's refusals: an inference tensor outside
    inference mode; elements sharing memory).  Only then is ``key()`` called, if given: a
    random fill's ``(seed, stream)``, for a seedless call a draw from torch's generator, so a
    refused call leaves the generator as it was.

    Contiguous CPU float tensors are written through their view.  Any other tensor gets the
    values of its logical indices from a contiguous temporary, ``copy_``-ed in (which casts
    to its dtype and device): for a ``shardable`` fill (one that takes ``global_shape`` and
    ``offset``), blocks of leading rows of about 4 MiB, each the shard
    ``[i0, i0 + n)`` of the whole tensor, so the bits are those of the whole fill and the
    temporary stays small; otherwise one temporary of the tensor's size.  A meta tensor is
    only checked (``dry_run``: the fill's own checks on an empty shard), as torch leaves
    meta tensors alone.
    """
    _check_writable(tensor)
    if tensor.is_meta:
        if dry_run:
            _dry_run(fill, tensor, args, kwargs)
        return tensor
    if key is not None:
        kwargs["seed"], kwargs["stream"] = key()
    with torch.no_grad():
        if _direct(tensor):
            _run(fill, as_numpy(tensor), args, kwargs)
        elif not shardable or tensor.ndim == 0 or tensor.numel() == 0:
            tmp = _empty_like_cpu(tensor)
            _run(fill, as_numpy(tmp), args, kwargs)
            tensor.copy_(tmp)
        else:
            shape = tuple(tensor.shape)
            row = max(1, tensor[0].numel()) * tensor.element_size()
            block = max(1, min(shape[0], _BLOCK_BYTES // row))
            tmp = _empty_like_cpu(tensor, (block,) + shape[1:])
            dst = _raw_strided(tensor)
            for i0 in range(0, shape[0], block):
                part = tmp[:min(block, shape[0] - i0)]
                offset = (i0,) + (0,) * (len(shape) - 1)
                _run(fill, as_numpy(part), args, dict(kwargs, global_shape=shape, offset=offset))
                if dst is not None:  # NumPy's strided copy: 1.5-2.5x torch's copy_ into a transposed view
                    dst[i0:i0 + part.shape[0]] = _raw_strided(part)
                else:
                    tensor[i0:i0 + part.shape[0]].copy_(part)
    torch.autograd.graph.increment_version(tensor)  # as an in-place torch op would
    return tensor


def _random(tensor, fill, *args, seed, stream, generator, backend, threads, what, **kwargs):
    """A random fill: checks, then (in :func:`_write`, after torch's refusals) the key -- seedless:
    drawn from the generator, put back if the fill refuses its arguments -- then the write."""
    _check_tensor(tensor)
    _float_dtype(tensor, what)
    if tensor.is_meta:  # checked, and the generator left alone, as torch leaves meta tensors
        if seed is not None:
            _key(seed, stream, generator)
        return _write(tensor, fill, *args, seed=0 if seed is None else seed, stream=0 if stream is None else stream,
                      backend=backend, threads=threads, **kwargs)
    saved = _generator_state(seed, generator)
    try:
        return _write(tensor, fill, *args, key=lambda: _key(seed, stream, generator), backend=backend,
                      threads=threads, **kwargs)
    except (TypeError, ValueError):
        if saved is not None:
            saved[0].set_state(saved[1])
        raise


def _zero_element_warning(tensor):
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


# ----------------------------------------------------------------------------------------
# fans (torch.nn.init's private helpers, which libraries import)


def _calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)`` of a torch-layout weight ``(out, in, *kernel)``: torch's helper."""
    return _schemes.compute_fans(tuple(tensor.shape))


def _calculate_correct_fan(tensor, mode):
    """``fan_in`` or ``fan_out`` by ``mode`` (case-insensitive): torch's helper and errors."""
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of {['fan_in', 'fan_out']}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# ----------------------------------------------------------------------------------------
# the initializers


def uniform_(tensor, a=0.0, b=1.0, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """``torch.nn.init.uniform_``: U(a, b) in place; returns ``tensor``.

    ``x = u (b - a) + a`` with ``u`` 24 (float64: 53) random bits (``fastinit.uniform_``).
    """
    return _uniform(tensor, a, b, ("a", "b"), generator, seed=seed, stream=stream, backend=backend, threads=threads)


def _uniform(tensor, low, high, names, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """:func:`uniform_`, its errors naming ``(low, high)`` as the caller does: ``names`` is
    ``("a", "b")`` for ``uniform_``, ``("from", "to")`` for the installed ``Tensor.uniform_``."""
    return _random(tensor, _fills._uniform, _scalar(low), _scalar(high), names, seed=seed, stream=stream,
                   generator=generator, backend=backend, threads=threads, what="uniform_")


def normal_(tensor, mean=0.0, std=1.0, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """``torch.nn.init.normal_``: N(mean, std^2) in place (``fastinit.normal_``); returns ``tensor``."""
    return _random(tensor, _fills.normal_, _scalar(mean), _scalar(std), seed=seed, stream=stream,
                   generator=generator, backend=backend, threads=threads, what="normal_")


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None, *, seed=None, stream=None,
                  backend=None, threads=None):
    """``torch.nn.init.trunc_normal_``: N(mean, std^2) truncated to the absolute bounds [a, b].

    Inverse CDF (``fastinit.trunc_normal_``): exact at any std, no sample outside [a, b] in
    the tensor's dtype, no rejection loop.
    """
    return _random(tensor, _fills.trunc_normal_, _scalar(mean), _scalar(std), _scalar(a), _scalar(b),
                   bounds="absolute", seed=seed, stream=stream, generator=generator, backend=backend,
                   threads=threads, what="trunc_normal_")


def xavier_uniform_(tensor, gain=1.0, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """``torch.nn.init.xavier_uniform_``: U(-b, b), ``b = gain * sqrt(6 / (fan_in + fan_out))``."""
    _check_tensor(tensor)
    _calculate_fan_in_and_fan_out(tensor)
    return _random(tensor, _schemes.xavier_uniform_, _scalar(gain), seed=seed, stream=stream, generator=generator,
                   backend=backend, threads=threads, what="xavier_uniform_")


def xavier_normal_(tensor, gain=1.0, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """``torch.nn.init.xavier_normal_``: N(0, std^2), ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    _check_tensor(tensor)
    _calculate_fan_in_and_fan_out(tensor)
    return _random(tensor, _schemes.xavier_normal_, _scalar(gain), seed=seed, stream=stream, generator=generator,
                   backend=backend, threads=threads, what="xavier_normal_")


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed=None,
                     stream=None, backend=None, threads=None):
    """``torch.nn.init.kaiming_uniform_``: U(-b, b), ``b = calculate_gain(nonlinearity, a) * sqrt(3 / fan_mode)``.

    A zero-element tensor is left as is with torch's warning ("Initializing zero-element
    tensors is a no-op").
    """
    _check_tensor(tensor)
    if _zero_element_warning(tensor):
        return tensor
    _torch_nonlinearity(a, mode, nonlinearity)
    return _random(tensor, _schemes.kaiming_uniform_, a, mode, nonlinearity, seed=seed, stream=stream,
                   generator=generator, backend=backend, threads=threads, what="kaiming_uniform_")


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed=None,
                    stream=None, backend=None, threads=None):
    """``torch.nn.init.kaiming_normal_``: N(0, std^2), ``std = calculate_gain(nonlinearity, a) / sqrt(fan_mode)``.

    A zero-element tensor is left as is with torch's warning.
    """
    _check_tensor(tensor)
    if _zero_element_warning(tensor):
        return tensor
    _torch_nonlinearity(a, mode, nonlinearity)
    return _random(tensor, _schemes.kaiming_normal_, a, mode, nonlinearity, seed=seed, stream=stream,
                   generator=generator, backend=backend, threads=threads, what="kaiming_normal_")


def orthogonal_(tensor, gain=1, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """``torch.nn.init.orthogonal_``: a (semi-)orthogonal ``(shape[0], numel / shape[0])`` matrix times ``gain``.

    Haar-distributed (``fastinit.orthogonal_``, blocked Householder; not torch's QR of a
    Gaussian, the same distribution).  float16/bfloat16 work too (torch's QR refuses them).
    """
    _check_tensor(tensor)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0 or tensor.is_meta:
        return tensor
    from ..orthogonal import orthogonal_ as fill  # SciPy's LAPACK: loaded on first use

    return _random(tensor, fill, _scalar(gain), seed=seed, stream=stream, generator=generator, backend=backend,
                   threads=threads, what="orthogonal_", shardable=False)


def sparse_(tensor, sparsity, std=0.01, generator=None, *, seed=None, stream=None, backend=None, threads=None):
    """``torch.nn.init.sparse_``: N(0, std^2) with exactly ``ceil(sparsity * rows)`` zeros in every column."""
    _check_tensor(tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if tensor.is_meta:
        return tensor
    return _random(tensor, _schemes.sparse_, _scalar(sparsity), _scalar(std), seed=seed, stream=stream,
                   generator=generator, backend=backend, threads=threads, what="sparse_")


def constant_(tensor, val):
    """``torch.nn.init.constant_``: every element ``val``, by torch's own ``fill_`` (any dtype,
    infinities, a 0-d tensor value; already memory speed); returns ``tensor``."""
    _check_tensor(tensor)
    with torch.no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    """``torch.nn.init.ones_``; returns ``tensor``."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """``torch.nn.init.zeros_``: torch's own ``zero_``, which any layout has (a sparse tensor
    too, as in torch); returns ``tensor``."""
    _check_tensor(tensor, any_layout=True)
    with torch.no_grad():
        return tensor.zero_()


def eye_(tensor):
    """``torch.nn.init.eye_``: the identity of a 2-D tensor (any dtype); returns ``tensor``."""
    _check_tensor(tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if _shared_dim(tensor) is not None:   # which write wins is torch's order: its own eye_
        return _TORCH_EYE(tensor)
    return _write(tensor, _schemes.eye_, dry_run=False)


def dirac_(tensor, groups=1):
    """``torch.nn.init.dirac_``: the Dirac delta of a 3/4/5-D convolution weight (any dtype); returns ``tensor``."""
    _check_tensor(tensor)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if tensor.shape[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    if _shared_dim(tensor) is not None:   # as eye_
        return _TORCH_DIRAC(tensor, groups)
    return _write(tensor, _schemes.dirac_, groups, dry_run=False)


def _scalar(value):
    """A 0-d tensor argument as its Python number (torch accepts them)."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return value.item()
    return value


# torch.nn.init's private no-grad helpers, which some libraries call directly
def _no_grad_uniform_(tensor, a, b, generator=None):
    return uniform_(tensor, a, b, generator)


def _no_grad_normal_(tensor, mean, std, generator=None):
    return normal_(tensor, mean, std, generator)


def _no_grad_trunc_normal_(tensor, mean, std, a, b, generator=None):
    return trunc_normal_(tensor, mean, std, a, b, generator)


def _no_grad_fill_(tensor, val):
    return constant_(tensor, val)


def _no_grad_zero_(tensor):
    return zeros_(tensor)


def _deprecated(fn):
    """torch's deprecated un-suffixed alias of ``fn`` (``init.normal``), with its FutureWarning."""
    new, old = fn.__name__, fn.__name__[:-1]

    def alias(*args, **kwargs):
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.", FutureWarning,
                      stacklevel=2)
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated alias of :func:`{new}` (as in torch.nn.init)."
    return alias


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)

PUBLIC = ("calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
          "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
DEPRECATED = ("uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal", "kaiming_uniform",
              "kaiming_normal", "orthogonal", "sparse")
