"""The C backend: cffi bindings of csrc/ (built at install time by _ffi_build.py)."""

import os

from . import Backend
from ._cfill import ffi, lib

ISAS = ("baseline", "avx2", "avx512", "avx512bf16")


def isa() -> str:
    """Instruction set the C fill kernels use: one of ISAS."""
    return ffi.string(lib.fi_isa()).decode()


def set_isa(name: str) -> None:
    """Force the C kernels' instruction set (all give the same bits; for tests and benchmarks)."""
    if name not in ISAS or lib.fi_set_isa(name.encode()) != 0:
        raise ValueError(f"isa must be one of {ISAS} and supported by this CPU; got {name!r}")


def _check(rc):
    if rc != 0:  # only reachable through a bug in fastinit's own validation
        raise RuntimeError("fastinit C kernel rejected its arguments")


def fill32(dist, fmt, kw, p, out, n_runs, run_len, first, run_stride):
    _check(lib.fi_fill32(dist, fmt, ffi.from_buffer("uint32_t[]", kw), ffi.from_buffer("uint32_t[]", kw[2:]),
                         ffi.from_buffer("float[]", p), ffi.from_buffer(out, require_writable=True),
                         n_runs, run_len, first, run_stride))


def fill64(dist, kw, p, out, n_runs, run_len, first, run_stride):
    _check(lib.fi_fill64(dist, ffi.from_buffer("uint32_t[]", kw), ffi.from_buffer("uint32_t[]", kw[2:]),
                         ffi.from_buffer("double[]", p), ffi.from_buffer("double[]", out, require_writable=True),
                         n_runs, run_len, first, run_stride))


def philox4x32(ctr, key, key_stride, out, rounds):
    n = ctr.shape[0]
    _check(lib.fi_philox4x32(ffi.from_buffer("uint32_t[]", ctr), ffi.from_buffer("uint32_t[]", key), 2 * key_stride,
                             ffi.from_buffer("uint32_t[]", out, require_writable=True), n, rounds))


def sparse_bitmap(mode, kw, rows, cols, k, r0, nr, c0, nc, bits, bits_ld):
    rc = lib.fi_sparse_bitmap(mode, ffi.from_buffer("uint32_t[]", kw), rows, cols, k, r0, nr, c0, nc,
                              ffi.from_buffer("uint32_t[]", bits, require_writable=True), bits_ld)
    if rc == -2:
        raise MemoryError(f"fastinit sparse_: no memory for the pattern's scratch (64 subsets of {rows if mode == 0 else cols})")
    _check(rc)


def fill_masked(dist, fmt, kw, p, out, ld, nr, nc, bits, bits_ld, first, row_stride):
    _check(lib.fi_fill_masked(dist, -1 if fmt is None else fmt, ffi.from_buffer("uint32_t[]", kw),
                              ffi.from_buffer("uint32_t[]", kw[2:]), ffi.from_buffer(p),
                              ffi.from_buffer(out, require_writable=True), ld, nr, nc,
                              ffi.from_buffer("uint32_t[]", bits), bits_ld, first, row_stride))


def zero_where(out, ld, nr, nc, bits, bits_ld):
    _check(lib.fi_zero_where(ffi.from_buffer(out, require_writable=True), out.dtype.itemsize, ld, nr, nc,
                             ffi.from_buffer("uint32_t[]", bits), bits_ld))


_env = os.environ.get("FASTINIT_ISA")
if _env:
    set_isa(_env)

BACKEND = Backend("c", fill32, fill64, philox4x32, sparse_bitmap, zero_where, fill_masked, isa())
