"""Sparse initialization: torch's ``sparse_`` and Martens' exactly-k-per-unit scheme.

The non-zero values are those of ``normal_(out, 0, std)`` with the same seed and stream;
which elements are zero is decided by counter-based keys from a second stream (the
tensor's stream XOR ``MASK_STREAM``), so a shard gets exactly the zeros of the whole
tensor, on any backend and thread count (docs/streams.md, "Sparse pattern").
"""

import math

import numpy as np

from .. import _validate
from .._buffers import accepts_tensors, check_out, runs
from .._validate import real as _real
from ..fills import normal_, normal_masked_, subset_bits
from ..rng import key_words, stream_id

MASK_STREAM = 0x5350415253454D4B  # "SPARSEMK": the mask stream is the tensor's stream XOR this


@accepts_tensors
def sparse_(out, sparsity=None, std=0.01, *, nonzeros_per_unit=None, seed, stream=None, global_shape=None,
            offset=None, backend=None, threads=None):
    """Sparse N(0, std^2) weights, in place; returns ``out`` (2-D, torch layout ``(out, in)``).

    - ``sparsity`` (torch ``nn.init.sparse_``): in every **column**, exactly
      ``ceil(sparsity * rows)`` elements are zero (Martens 2010 via torch).
    - ``nonzeros_per_unit=k`` (Martens 2010, "Deep learning via Hessian-free optimization"):
      every output unit (row) has exactly ``k`` non-zero incoming weights.

    The zero positions of each column (row) are an exactly uniform random subset, drawn by
    Floyd's algorithm from the mask stream (docs/streams.md); the non-zeros equal
    ``normal_(out, 0.0, std)`` element for element.  Bits are identical for any backend,
    thread count or shard (``global_shape``/``offset``: patterns are the whole tensor's).
    As in torch, a kept value can itself be 0.0: when its Box-Muller radius or its sine or
    cosine factor is exactly 0 (about 1.5 * 2^-23 per float32 value), or when it rounds to 0
    in float16 (``|x| < 2^-25``).

    >>> w = sparse_(np.empty((256, 128), np.float32), sparsity=0.9, seed=0, stream="fc.weight")
    """
    check_out(out)
    if out.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported: out has shape {out.shape}")
    runs(out.shape, global_shape, offset)  # validates the shard
    rows, cols = (int(v) for v in (out.shape if global_shape is None else global_shape))
    if max(rows, cols) >= 2**31:
        raise ValueError(f"sparse_ supports up to 2**31 - 1 rows and columns; got shape {(rows, cols)}")
    if (sparsity is None) == (nonzeros_per_unit is None):
        raise ValueError("pass exactly one of sparsity= (torch: zeros per column) and "
                         "nonzeros_per_unit= (Martens: non-zeros per row)")
    if sparsity is not None:
        sparsity = _real(sparsity, "sparsity")
        if not 0.0 <= sparsity <= 1.0:
            raise ValueError(f"sparsity must be in [0, 1]; got {sparsity}")
        mode, k = 0, int(math.ceil(sparsity * rows))
    else:
        k = _validate.integer(nonzeros_per_unit, "nonzeros_per_unit", lo=0, hi=cols,
                              what=f"an int in [0, {cols}] (the number of inputs per unit, shape[1])")
        mode = 1
    _, std = _validate.normal_params(0.0, std, lambda: out.dtype)  # one check for both paths, before the pattern
    be = _validate.check_backend(backend)
    nthreads = _validate.check_threads(threads)
    key_words(seed, stream)  # seed and stream checked before anything is computed
    nr, nc = out.shape
    if out.size == 0:
        return normal_(out, 0.0, std, seed=seed, stream=stream, global_shape=global_shape, offset=offset,
                       backend=backend, threads=threads)
    r0, c0 = (0, 0) if offset is None else (int(offset[0]), int(offset[1]))
    g = (rows, cols)

    # 1. the pattern, as bits (1/32 of a float32 out), from the mask stream
    bits, words = subset_bits(mode, k, g, (r0, c0), (nr, nc), seed=seed, stream=stream_id(stream) ^ MASK_STREAM,
                              backend=be.name, threads=nthreads)

    # 2. values and zeros: the fills' masked primitive (the normal_ values where kept)
    kept = (rows - k) / rows if mode == 0 else k / cols
    return normal_masked_(out, bits, 0.0, std, words=words, kept=kept, seed=seed, stream=stream,
                          global_shape=g, offset=(r0, c0), backend=be.name, threads=nthreads)
