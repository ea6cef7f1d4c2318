"""Destination buffers: what fastinit writes into, and where each element sits in its tensor.

``check_out`` accepts any writable, aligned, C-contiguous NumPy array of a float dtype
(``np.memmap`` and ``open_memmap`` arrays included) and returns the flat view the kernels
write through: no copy, ever.  ``accepts_tensors`` lets every public fill and scheme take a
CPU torch tensor too, through its zero-copy NumPy view.  ``runs`` turns ``global_shape``/``offset`` into the
contiguous runs of global element indices that ``out`` holds.
"""

import functools
import math
import sys

import numpy as np

from . import _validate
from ._validate import BFLOAT16, FLOAT_DTYPES  # noqa: F401 (the dtypes' home is _validate)
from .kernels import BF16, F16, F32

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
    """Validate a destination (``_validate.check_out``) and return its flat, writable view in
    kernel terms: ``(flat, fmt)``, ``fmt`` None for float64, else the 32-bit family format;
    float16/bfloat16 buffers are viewed as uint16 (the kernels round themselves)."""
    _validate.check_out(out, name)
    flat = out.reshape(-1)
    if out.dtype == np.float64:
        return flat, None
    if out.dtype != np.float32:
        flat = flat.view(np.uint16)
    return flat, FORMAT[out.dtype]


def runs(shape, global_shape=None, offset=None):
    """Kernel calls ``(at, n_runs, run_len, first, run_stride)`` covering a block of shape ``shape``.

    ``out`` (C order) is the block ``[offset, offset + shape)`` of a C-ordered tensor of
    shape ``global_shape``: its element at flat position ``at + r*run_len + j`` is global
    element ``first + r*run_stride + j``.  Validates the two arguments (``_validate.shard``).
    """
    ndim = len(shape)
    n = math.prod(shape)
    if global_shape is None:
        _validate.shard(shape, None, offset)
        return [(0, 1, n, 0, 0)] if n else []
    gshape, off = _validate.shard(shape, global_shape, offset)
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
