"""Kernel backends behind one record.

A backend is a pair of counter-based fill kernels and a raw Philox kernel:

``fill32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride)``
    float32-family fill: ``kw`` uint32[4] = (key0, key1, stream0, stream1), ``p`` float32[10]
    parameters, ``out`` a 1-D float32 array (``fmt`` F32) or uint16 array holding float16/
    bfloat16 bits (``fmt`` F16/BF16); ``out[r*run_len + j]`` <- global element
    ``first + r*run_stride + j``.
``fill64(dist, kw, p, out, n_runs, run_len, first, run_stride)``
    the same for float64 (``p`` float64, 8 read).
``philox4x32(ctr, key, key_stride, out, rounds)``
    raw words: ``ctr`` (n, 4), ``key`` (m, 2), ``out`` (n, 4), all uint32.
``sparse_bitmap(mode, kw, rows, cols, k, r0, nr, c0, nc, bits, bits_ld)``
    the sparse pattern's zeros in the ``nr x nc`` block at ``(r0, c0)`` of a ``rows x cols``
    matrix, as bits of a zeroed uint32 array (csrc/fastinit.h: fi_sparse_bitmap).
``zero_where(out, ld, nr, nc, bits, bits_ld)``
    zero the elements of ``out`` (flat, row stride ``ld``, viewed as unsigned ints) whose bit is set.
``fill_masked(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride)``
    an ``nr x nc`` block of ``out`` (flat, row stride ``ld``): 0 where the bit is set, else
    global element ``first + i*row_stride + j`` as ``fill32`` (``fmt``) or ``fill64``
    (``fmt`` None, ``p`` float64) writes it; only the kept elements are computed.

Kernels never validate user input; fastinit's public functions do, once.  Both
backends give identical bits (tests/core/test_contract.py).
"""

import functools
from dataclasses import dataclass
from typing import Callable

UNIFORM, NORMAL, TRUNCNORMAL = 0, 1, 2
F32, F16, BF16 = 0, 1, 2
GROUP32, GROUP64 = 64, 32  # elements per group of 16 Philox blocks (docs/streams.md)

NAMES = ("c", "numba")


@dataclass(frozen=True)
class Backend:
    name: str
    fill32: Callable
    fill64: Callable
    philox4x32: Callable
    sparse_bitmap: Callable
    zero_where: Callable
    fill_masked: Callable
    detail: str  # instruction set (C) or compiler version (Numba)


@functools.cache
def load(name: str) -> Backend:
    """The backend called ``name`` ("c" or "numba"); ImportError if it cannot load here."""
    if name == "c":
        from . import _c
        return _c.BACKEND
    if name == "numba":
        from . import _numba_backend
        return _numba_backend.BACKEND
    raise ValueError(f"backend must be one of {NAMES} or None; got {name!r}")


def available() -> dict:
    """name -> Backend for every backend that loads here, or the reason it does not."""
    out = {}
    for name in NAMES:
        try:
            out[name] = load(name)
        except ImportError as exc:  # pragma: no cover - depends on the install
            out[name] = exc
    return out


def get(name=None) -> Backend:
    """Validate a ``backend=`` argument and return the backend (None: C, else Numba)."""
    if name is None:
        for candidate in NAMES:
            try:
                return load(candidate)
            except ImportError:
                continue
        raise ImportError("no fastinit backend could load: reinstall fastinit (pip install -e .)")
    if not isinstance(name, str):
        raise TypeError(f"backend must be one of {NAMES} or None; got {type(name).__name__} {name!r}")
    if name not in NAMES:
        raise ValueError(f"backend must be one of {NAMES} or None; got {name!r}")
    try:
        return load(name)
    except ImportError as exc:
        raise ValueError(f"backend {name!r} is not available here: {exc}") from exc
