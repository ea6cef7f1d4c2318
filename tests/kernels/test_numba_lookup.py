"""The Numba fills read logtf's 16-entry table 16 lanes at a time (fastinit/kernels/_numba.py:
logt_lookup): a permute on CPUs with AVX-512, lane by lane elsewhere.  Both forms must give the
table's exact values, or the fills' bits would depend on the CPU."""

import llvmlite.binding as llvm
import numpy as np
import pytest
from numba import njit

from fastinit.kernels import _numba as nb


@pytest.mark.parametrize("permute", [False, True], ids=["lanes", "avx512-permute"])
def test_logt_lookup_gives_the_table_entries(permute):
    if permute and not llvm.get_host_cpu_features().get("avx512f", False):
        pytest.skip("the permute form needs AVX-512")
    lookup = nb._logt_lookup(permute)

    @njit
    def both(idx, invc, logc):
        lookup(idx, 0, invc, logc)
        lookup(idx, 16, invc, logc)

    rng = np.random.default_rng(7)
    idx = np.concatenate([np.arange(16)[::-1], rng.integers(0, 16, 16)]).astype(np.uint32)
    invc = np.full(48, np.nan, np.float32)
    logc = np.full(48, np.nan, np.float32)
    both(idx, invc, logc)
    assert np.array_equal(invc[:32].view(np.uint32), nb.LOGT_INVC[idx].view(np.uint32))
    assert np.array_equal(logc[:32].view(np.uint32), nb.LOGT_LOGC[idx].view(np.uint32))
    assert np.isnan(invc[32:]).all() and np.isnan(logc[32:]).all()  # 16 lanes per call, no more


def test_fills_take_the_table_log_lane_by_lane_equal_to_the_scalar_log():
    # the fill's three-pass form (indices, lookup, rest of the log) is logtf, lane by lane
    @njit
    def passes(x, out):
        idx = np.empty(16, np.uint32)
        invc = np.empty(16, np.float32)
        logc = np.empty(16, np.float32)
        for a in range(0, x.size, 16):
            for L in range(16):
                idx[L] = nb.logt_index(x[a + L])
            nb.logt_lookup(idx, 0, invc, logc)
            for L in range(16):
                out[a + L] = nb.logt_rest(x[a + L], invc[L], logc[L])

    @njit
    def scalar(x, out):
        for i in range(x.size):
            out[i] = nb.logtf(x[i])

    x = np.random.default_rng(8).uniform(2.0**-24, 1.0, 1 << 16).astype(np.float32)
    a, b = np.empty_like(x), np.empty_like(x)
    passes(x, a)
    scalar(x, b)
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
