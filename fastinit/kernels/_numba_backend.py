"""The Numba backend: the njit twins in _numba.py behind the Backend record."""

import numba

from . import Backend
from . import _numba as nb


def fill32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride):
    nb.fill32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride)


def fill64(dist, kw, p, out, n_runs, run_len, first, run_stride):
    nb.fill64(dist, kw, p, out, n_runs, run_len, first, run_stride)


def philox4x32(ctr, key, key_stride, out, rounds):
    nb.philox4x32(ctr, key, key_stride, out, rounds)


def sparse_bitmap(mode, kw, rows, cols, k, r0, nr, c0, nc, bits, bits_ld):
    nb.sparse_bitmap(mode, kw, rows, cols, k, r0, nr, c0, nc, bits, bits_ld)


def zero_where(out, ld, nr, nc, bits, bits_ld):
    nb.zero_where(out, ld, nr, nc, bits, bits_ld)


def fill_masked(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride):
    if fmt is None:
        nb.fill_masked64(dist, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride)
    else:
        nb.fill_masked32(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride)


BACKEND = Backend("numba", fill32, fill64, philox4x32, sparse_bitmap, zero_where, fill_masked,
                  f"numba {numba.__version__}")
