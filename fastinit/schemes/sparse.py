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
from .._buffers import accepts_tensors, check_out, runs
from ..fills import _pad, _real, normal_
from ..kernels import NORMAL
from ..rng import key_words, stream_id

MASK_STREAM = 0x5350415253454D4B  # "SPARSEMK": the mask stream is the tensor's stream XOR this
MASKED_COST = 4  # a kept value computed alone (fill_masked) costs about 4 values of the dense fill


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
    in float16 (|x| < 2^-25).

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
        k = nonzeros_per_unit
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
            raise TypeError(f"nonzeros_per_unit must be an int; got {type(k).__name__} {k!r}")
        if not 0 <= k <= cols:
            raise ValueError(f"nonzeros_per_unit must be in [0, {cols}] (the number of inputs per unit, "
                             f"shape[1]); got {k}")
        mode, k = 1, int(k)
    std = _real(std, "std")
    be = kernels.get(backend)
    nthreads = _parallel.check_threads(threads)
    if std < 0:  # normal_ would say so too, but only after the pattern was drawn
        raise ValueError(f"std must be >= 0; got {std}")
    key_words(seed, stream)  # seed and stream checked before anything is computed
    nr, nc = out.shape
    if out.size == 0:
        return normal_(out, 0.0, std, seed=seed, stream=stream, global_shape=global_shape, offset=offset,
                       backend=backend, threads=threads)
    r0, c0 = (0, 0) if offset is None else (int(offset[0]), int(offset[1]))
    g = (rows, cols)

    # 1. the pattern, as bits (1/32 of a float32 out): columns (torch) or rows (Martens) split
    #    over threads, columns on multiples of 32 so that no two threads share a word
    words = -(-nc // 32)
    bits = np.zeros(nr * words, np.uint32)  # row i: words i*words .. (i+1)*words
    kw = key_words(seed, stream_id(stream) ^ MASK_STREAM)
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

    # 2. values and zeros, a band of rows at a time so that the zeros land while it is in cache.
    #    fill_masked computes only the kept values, one Philox block and one value each, in
    #    batches of 32 lanes that do not span rows, at about MASKED_COST times the dense fill's
    #    time per value; it pays when a row's batches cost less than the row's dense values
    #    (for wide rows: at most 1 kept in 4, the crossover measured with AVX-512 and AVX2; so
    #    torch's 0.9 and Martens' 15 per unit). Otherwise the dense normal_ values, then the
    #    zeros.
    kept = (rows - k) / rows if mode == 0 else k / cols
    lanes = 32 * math.ceil(kept * nc / 32)  # the batch lanes of a row of the block
    band = max(1, (1 << 20) // max(1, nc * out.dtype.itemsize))  # about 1 MiB of out
    if MASKED_COST * lanes <= nc:
        kflat, fmt = check_out(out)
        p = np.asarray(_pad([std, 0.0]), np.float64 if fmt is None else np.float32)
        vkw = key_words(seed, stream)

        def values(i0):
            i1 = min(nr, i0 + band)
            be.fill_masked(NORMAL, fmt, vkw, p, kflat[i0 * nc:i1 * nc], nc, i1 - i0, nc, bits[i0 * words:i1 * words],
                           words, (r0 + i0) * cols + c0, cols)
    else:
        flat = out.reshape(-1).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[out.dtype.itemsize])

        def values(i0):
            i1 = min(nr, i0 + band)
            normal_(out[i0:i1], 0.0, std, seed=seed, stream=stream, global_shape=g, offset=(r0 + i0, c0),
                    backend=be.name, threads=1)
            be.zero_where(flat[i0 * nc:i1 * nc], nc, i1 - i0, nc, bits[i0 * words:i1 * words], words)

    bands = list(range(0, nr, band))
    per = -(-len(bands) // nthreads)
    _parallel.each(lambda chunk: [values(i0) for i0 in chunk], [bands[i:i + per] for i in range(0, len(bands), per)],
                   nthreads)
    return out
