"""sparse_: torch's exact zeros per column, Martens' exact non-zeros per unit, and the contract."""

import math

import numpy as np
import pytest
from scipy import stats

import fastinit
from fastinit.schemes.sparse import sparse_

from .conftest import BACKENDS, DTYPES, POISON, bits, poisoned

MODES = [dict(sparsity=0.9), dict(sparsity=0.37), dict(nonzeros_per_unit=15), dict(nonzeros_per_unit=1)]


@pytest.mark.parametrize("mode", MODES, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_exact_counts_in_every_column_or_unit(mode, dtype):
    rows, cols = 203, 150
    w = sparse_(np.empty((rows, cols), dtype), **mode, std=0.5, seed=3, stream="w")
    zero = w.astype(np.float64) == 0
    if "sparsity" in mode:  # torch: ceil(sparsity * rows) zeros in each column
        assert (zero.sum(axis=0) == math.ceil(mode["sparsity"] * rows)).all()
    else:  # Martens: exactly k non-zeros per output unit (row of the (out, in) weight)
        assert ((~zero).sum(axis=1) == mode["nonzeros_per_unit"]).all()


def test_non_zeros_are_the_normal_fill_and_follow_n_0_std():
    w = sparse_(np.empty((2000, 1000), np.float32), 0.5, std=0.02, seed=5, stream="s")
    ref = fastinit.normal_(np.empty((2000, 1000), np.float32), 0.0, 0.02, seed=5, stream="s")
    keep = w != 0
    assert np.array_equal(bits(w[keep]), bits(ref[keep]))
    # KS at alpha = 1e-4 on the 10^6 kept values (a wrong std of 1% fails it: D ~ 2.5e-3 > 1.9e-3)
    d = stats.kstest(w[keep].astype(np.float64), stats.norm(0, 0.02).cdf).statistic
    assert d < stats.kstwo.isf(1e-4, keep.sum())


def test_zero_positions_are_uniform_over_rows():
    # each row is zeroed in a column with probability k/rows: chi-square over rows, alpha = 1e-4
    rows, cols = 64, 20000
    w = sparse_(np.empty((rows, cols), np.float32), 0.25, seed=9)
    counts = (w == 0).sum(axis=1)
    chi2 = ((counts - cols * 16 / rows) ** 2 / (cols * 16 / rows)).sum()
    assert chi2 < stats.chi2.isf(1e-4, rows - 1)


@pytest.mark.parametrize("mode", MODES[:3], ids=repr)
def test_backends_threads_and_shards_give_the_same_bits(mode):
    g = (257, 190)
    whole = sparse_(np.empty(g, np.float32), **mode, seed=1, stream="x", backend="c", threads=1)
    rng = np.random.default_rng(0)
    for backend in BACKENDS:
        for threads in (1, 2, 3):
            out = sparse_(np.empty(g, np.float32), **mode, seed=1, stream="x", backend=backend, threads=threads)
            assert np.array_equal(bits(out), bits(whole)), f"{backend} threads={threads}"
        for _ in range(4):
            r0, c0 = int(rng.integers(0, g[0] - 1)), int(rng.integers(0, g[1] - 1))
            nr, nc = int(rng.integers(1, g[0] - r0 + 1)), int(rng.integers(1, g[1] - c0 + 1))
            guarded, out = poisoned((nr, nc), np.float32)
            sparse_(out, **mode, seed=1, stream="x", global_shape=g, offset=(r0, c0), backend=backend, threads=2)
            assert np.array_equal(bits(out), bits(whole[r0:r0 + nr, c0:c0 + nc])), (r0, c0, nr, nc)
            assert (guarded[:64].view(np.uint8) == POISON).all() and (guarded[-64:].view(np.uint8) == POISON).all()


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(sparsity=1.5), ValueError, r"sparsity must be in \[0, 1\]; got 1.5"),
    (dict(sparsity=-0.1), ValueError, r"sparsity must be in \[0, 1\]; got -0.1"),
    (dict(sparsity=float("nan")), ValueError, "sparsity must be finite"),
    (dict(), ValueError, "pass exactly one of sparsity= .* and nonzeros_per_unit="),
    (dict(sparsity=0.5, nonzeros_per_unit=3), ValueError, "pass exactly one of"),
    (dict(nonzeros_per_unit=2.5), TypeError, "nonzeros_per_unit must be an int; got float 2.5"),
    (dict(nonzeros_per_unit=31), ValueError, r"nonzeros_per_unit must be in \[0, 30\] .*; got 31"),
    (dict(sparsity=0.5, std=-1.0), ValueError, "std must be >= 0"),
    (dict(sparsity=0.5, global_shape=(10, 30), offset=(5, 0)), ValueError, "does not fit in global_shape"),
])
def test_bad_input_leaves_the_buffer_untouched(kwargs, exc, match):
    whole, out = poisoned((20, 30), np.float32)
    with pytest.raises(exc, match=match):
        sparse_(out, **kwargs, seed=0)
    assert (whole.view(np.uint8) == POISON).all()


def test_only_2d():
    whole, out = poisoned((4, 5, 6), np.float32)
    with pytest.raises(ValueError, match=r"Only tensors with 2 dimensions are supported: out has shape \(4, 5, 6\)"):
        sparse_(out, 0.5, seed=0)
    assert (whole.view(np.uint8) == POISON).all()
