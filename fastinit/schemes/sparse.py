"""Sparse initialization: torch's ``sparse_`` and Martens' exactly-k-per-unit scheme.

The non-zero values are those of ``normal_(out, 0, std)`` with the same seed and stream;
which elements are zero is decided by counter-based keys from a second stream (the
tensor's stream XOR ``MASK_STREAM``), so a shard gets exactly the zeros of the whole
tensor, on any backend and thread count (docs/streams.md, "Sparse pattern").
"""

import math
import numbers

import numpy as np

from .. import _parallel, kernels
from .._buffers import check_out, runs
from ..fills import _real, normal_
from ..rng import key_words, stream_id

MASK_STREAM = 0x5350415253454D4B  # "SPARSEMK": the mask stream is the tensor's stream XOR this


def sparse_(out, sparsity=None, std=0.01, *, nonzeros_per_unit=None, seed, stream=0, global_shape=None,
            offset=None, backend=None, threads=None):
    """Sparse N(0, std^2) weights, in place; returns ``out`` (2-D, torch layout ``(out, in)``).

    - ``sparsity`` (torch ``nn.init.sparse_``): in every **column**, exactly
      ``ceil(sparsity * rows)`` elements are zero (Martens 2010 via torch).
    - ``nonzeros_per_unit=k`` (Martens 2010, "Deep learning via Hessian-free optimization"):
      every output unit (row) has exactly ``k`` non-zero incoming weights.

    The zero positions are the elements with the smallest keys ``(w, index)``, ``w`` a
    Philox word of the mask stream at the element's global index; the non-zeros equal
    ``normal_(out, 0.0, std)`` element for element.  Bits are identical for any backend,
    thread count or shard (``global_shape``/``offset``: fans and patterns are the whole
    tensor's).

    >>> w = sparse_(np.empty((256, 128), np.float32), sparsity=0.9, seed=0, stream="fc.weight")
    """
    check_out(out)
    if out.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported: out has shape {out.shape}")
    runs(out.shape, global_shape, offset)  # validates the shard
    rows, cols = (int(v) for v in (out.shape if global_shape is None else global_shape))
    if (sparsity is None) == (nonzeros_per_unit is None):
        raise ValueError("pass exactly one of sparsity= (torch: zeros per column) and "
                         "nonzeros_per_unit= (Martens: non-zeros per row)")
    if sparsity is not None:
        sparsity = _real(sparsity, "sparsity")
        if not 0.0 <= sparsity <= 1.0:
            raise ValueError(f"sparsity must be in [0, 1]; got {sparsity}")
        mode, k = 0, int(math.ceil(sparsity * rows))
    else:
        k = nonzeros_per_unit
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
            raise TypeError(f"nonzeros_per_unit must be an int; got {type(k).__name__} {k!r}")
        if not 0 <= k <= cols:
            raise ValueError(f"nonzeros_per_unit must be in [0, {cols}] (the number of inputs per unit, "
                             f"shape[1]); got {k}")
        mode, k = 1, int(k)
    std = _real(std, "std")
    # validates the rest (buffer, std, seed, stream, shard, backend, threads), then writes the values
    normal_(out, 0.0, std, seed=seed, stream=stream, global_shape=global_shape, offset=offset,
            backend=backend, threads=threads)
    if out.size == 0:
        return out
    r0, c0 = (0, 0) if offset is None else (int(offset[0]), int(offset[1]))
    nr, nc = out.shape
    kw = key_words(seed, stream_id(stream) ^ MASK_STREAM)
    flat = out.reshape(-1).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[out.dtype.itemsize])
    be = kernels.get(backend)
    nthreads = _parallel.check_threads(threads)
    # torch mode needs every row's key per column: split columns; Martens: split rows
    parts = max(1, min(nthreads, nc if mode == 0 else nr))
    if mode == 0:
        cuts = [nc * i // parts for i in range(parts + 1)]
        tasks = [(flat[a:], r0, nr, c0 + a, b - a) for a, b in zip(cuts, cuts[1:]) if b > a]
    else:
        cuts = [nr * i // parts for i in range(parts + 1)]
        tasks = [(flat[a * nc:], r0 + a, b - a, c0, nc) for a, b in zip(cuts, cuts[1:]) if b > a]

    def one(task):
        o, tr0, tnr, tc0, tnc = task
        be.sparse_mask(mode, kw, rows, cols, k, o, nc, tr0, tnr, tc0, tnc)

    _parallel.each(one, tasks, nthreads)
    return out
