"""Destination buffers: what fastinit writes into, and where each element sits in its tensor.

``check_out`` accepts any writable, aligned, C-contiguous NumPy array of a float dtype
(``np.memmap`` and ``open_memmap`` arrays included) and returns the flat view the kernels
write through: no copy, ever.  ``accepts_tensors`` lets every public fill and scheme take a
CPU torch tensor too, through its zero-copy NumPy view.  ``runs`` turns ``global_shape``/``offset`` into the
contiguous runs of global element indices that ``out`` holds.
"""

import functools
import math
import numbers
import sys

import ml_dtypes
import numpy as np

from .kernels import BF16, F16, F32

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
FLOAT_DTYPES = (np.dtype(np.float16), BFLOAT16, np.dtype(np.float32), np.dtype(np.float64))
_NAMES = "float16, bfloat16 (ml_dtypes), float32, float64"
FORMAT = {np.dtype(np.float32): F32, np.dtype(np.float16): F16, BFLOAT16: BF16}


# (library module, type name, loader of apply(out, fn, *args, **kwargs)), registered from above
_TENSOR_TYPES = []


def register_tensor_type(module, type_name, loader):
    """Let every fill and scheme take ``<module>.<type_name>`` objects as ``out``.

    ``loader()`` returns ``apply(out, fn, *args, **kwargs)``, which fills ``out`` by ``fn`` on a
    NumPy view of it and returns ``out``.  A front end registers here (the package root
    registers ``fastinit.torch``), so this layer never imports one: the library module is
    looked up in ``sys.modules`` only (its objects can only exist once the caller imported it),
    and the front end is loaded on the first object of that type.
    """
    _TENSOR_TYPES.append((module, type_name, loader))


def accepts_tensors(fn):
    """Let the public fill or scheme ``fn(out, ...)`` take a registered tensor type as ``out``.

    A CPU torch tensor is filled through its zero-copy NumPy view (``fastinit.torch.as_numpy``:
    the same refusals, bfloat16 included) under ``torch.no_grad()``, its autograd version is
    bumped as by an in-place torch op, and the tensor itself is returned -- with the bits
    ``fn`` writes into a NumPy array of that shape and dtype.
    """

    @functools.wraps(fn)
    def scheme(out, *args, **kwargs):
        for module, type_name, loader in _TENSOR_TYPES:
            lib = sys.modules.get(module)
            if lib is not None and isinstance(out, getattr(lib, type_name)):
                return loader()(out, fn, *args, **kwargs)
        return fn(out, *args, **kwargs)

    return scheme


def check_out(out, name="out"):
    """Validate a destination and return its flat, writable view in kernel terms.

    Returns ``(flat, fmt)``: ``fmt`` is None for float64, else the 32-bit family format;
    float16/bfloat16 buffers are viewed as uint16 (the kernels round themselves).
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (ndarray, np.memmap, open_memmap) or a CPU torch "
                        f"tensor; got {type(out).__name__}")
    if out.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {out.dtype}; expected one of {_NAMES}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only (a memmap opened with mode 'r'?); expected a writable array")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} is not C-contiguous (strides {out.strides} for shape {out.shape}); "
                         f"fastinit writes in place, so pass a C-contiguous array")
    if not out.flags.aligned:
        raise ValueError(f"{name} is not aligned to its dtype's size; expected an aligned array")
    flat = out.reshape(-1)
    if out.dtype == np.float64:
        return flat, None
    if out.dtype != np.float32:
        flat = flat.view(np.uint16)
    return flat, FORMAT[out.dtype]


def _shape_tuple(value, name, ndim):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints; got {type(value).__name__}") from None
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{name} must be a tuple of ints; got {value!r}")
    if len(items) != ndim:
        raise ValueError(f"{name} has {len(items)} dims but out has {ndim}: expected a tuple of {ndim} ints")
    if any(v < 0 for v in items):
        raise ValueError(f"{name} must be non-negative; got {items}")
    return tuple(int(v) for v in items)


def runs(shape, global_shape=None, offset=None):
    """Kernel calls ``(at, n_runs, run_len, first, run_stride)`` covering a block of shape ``shape``.

    ``out`` (C order) is the block ``[offset, offset + shape)`` of a C-ordered tensor of
    shape ``global_shape``: its element at flat position ``at + r*run_len + j`` is global
    element ``first + r*run_stride + j``.  Validates the two arguments.
    """
    ndim = len(shape)
    n = math.prod(shape)
    if global_shape is None:
        if offset is not None:
            raise ValueError("offset needs global_shape: pass global_shape= (the whole tensor's shape) too")
        return [(0, 1, n, 0, 0)] if n else []
    gshape = _shape_tuple(global_shape, "global_shape", ndim)
    off = (0,) * ndim if offset is None else _shape_tuple(offset, "offset", ndim)
    for d in range(ndim):
        if off[d] + shape[d] > gshape[d]:
            raise ValueError(f"out of shape {tuple(shape)} at offset {off} does not fit in global_shape "
                             f"{gshape} (dim {d}: {off[d]} + {shape[d]} > {gshape[d]})")
    if math.prod(gshape) >= 2**63:
        raise ValueError(f"global_shape {gshape} has 2**63 or more elements")
    if n == 0:
        return []
    gstride = [math.prod(gshape[d + 1:]) for d in range(ndim)]
    # dims k.. are the contiguous tail: every dim after k spans its whole global extent
    k = ndim - 1 if ndim else 0
    while k > 0 and shape[k] == gshape[k]:
        k -= 1
    if ndim == 0 or k == 0:
        return [(0, 1, n, sum(o * s for o, s in zip(off, gstride)), 0)]
    run_len = shape[k] * gstride[k]
    n_runs = shape[k - 1]
    calls = []
    for outer in np.ndindex(*shape[:k - 1]):
        first = sum((o + i) * s for o, i, s in zip(off, outer + (0,) * (ndim - len(outer)), gstride))
        at = sum(i * math.prod(shape[d + 1:]) for d, i in enumerate(outer))
        calls.append((at, n_runs, run_len, first, gstride[k - 1]))
    return calls
