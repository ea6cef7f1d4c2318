"""The portable build (no x86 dispatch: GCC's generic vectors and scalar Philox, as on ARM)
gives the same bits as the installed x86 kernels."""

import ctypes
import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fastinit
from fastinit._buffers import BFLOAT16

from .conftest import FILLS, bits

CSRC = Path(__file__).resolve().parents[1] / "csrc"


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    so = tmp_path_factory.mktemp("portable") / "libfill.so"
    subprocess.run([cc, "-O2", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-std=gnu11",
                    "-DFASTINIT_NO_DISPATCH", "-shared", "-fPIC", "-I", str(CSRC), *map(str, sorted(CSRC.glob("*.c"))),
                    "-o", str(so), "-lm"], check=True)
    lib = ctypes.CDLL(str(so))
    lib.fi_isa.restype = ctypes.c_char_p
    ptr, i64, u64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64
    lib.fi_fill32.argtypes = [ctypes.c_int, ctypes.c_int, ptr, ptr, ptr, ptr, i64, i64, u64, u64]
    lib.fi_fill64.argtypes = [ctypes.c_int, ptr, ptr, ptr, ptr, i64, i64, u64, u64]
    return lib


def test_portable_build_is_baseline_only(portable):
    assert portable.fi_isa() == b"baseline"


@pytest.mark.parametrize("name", FILLS)
@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float16), BFLOAT16, np.dtype(np.float64)],
                         ids=str)
def test_portable_build_gives_the_same_bits(portable, name, dtype, monkeypatch):
    from fastinit.kernels import _c

    # route the C backend's kernel calls through the portable library
    def fill32(dist, fmt, kw, p, out, n_runs, run_len, first, stride):
        assert portable.fi_fill32(dist, fmt, kw.ctypes.data, kw[2:].ctypes.data, p.ctypes.data, out.ctypes.data,
                                  n_runs, run_len, first, stride) == 0

    def fill64(dist, kw, p, out, n_runs, run_len, first, stride):
        assert portable.fi_fill64(dist, kw.ctypes.data, kw[2:].ctypes.data, p.ctypes.data, out.ctypes.data,
                                  n_runs, run_len, first, stride) == 0

    expected = bits(FILLS[name][0](np.empty(4099, dtype), **FILLS[name][1], seed=5, stream="p",
                                   global_shape=(10**6,), offset=(77,), backend="c", threads=1)).copy()
    be = dataclasses.replace(_c.BACKEND, fill32=fill32, fill64=fill64, detail="portable")
    monkeypatch.setattr(fastinit.kernels, "load", lambda name: be)
    got = FILLS[name][0](np.empty(4099, dtype), **FILLS[name][1], seed=5, stream="p",
                         global_shape=(10**6,), offset=(77,), backend="c", threads=1)
    assert np.array_equal(bits(got), expected)
