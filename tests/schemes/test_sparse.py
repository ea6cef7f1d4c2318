"""sparse_: torch's exact zeros per column, Martens' exact non-zeros per unit, and the contract."""

import math

import numpy as np
import pytest
from scipy import stats

import fastinit
from fastinit.schemes.sparse import sparse_

from ..conftest import BACKENDS, DTYPES, POISON, bits, each_c_isa, poisoned

# 0.37 and 100 of 150 keep more than 1/4 of each row (sparse_ computes the dense normal_, then the
# zeros); the others keep at most 32 per row of 150, and sparse_ computes only those (fill_masked)
MODES = [dict(sparsity=0.9), dict(sparsity=0.37), dict(nonzeros_per_unit=15), dict(nonzeros_per_unit=1),
         dict(sparsity=0.99), dict(nonzeros_per_unit=100)]


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
    w = sparse_(np.empty((rows, cols), np.float32), 0.25, seed=9, stream=0)
    counts = (w == 0).sum(axis=1)
    chi2 = ((counts - cols * 16 / rows) ** 2 / (cols * 16 / rows)).sum()
    assert chi2 < stats.chi2.isf(1e-4, rows - 1)


@pytest.mark.parametrize("mode", MODES, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_non_zeros_are_the_normal_fills_bits_on_both_paths(mode, dtype, backend):
    # dense path (normal_ then zeros) and masked path (only the kept values computed) alike
    w = sparse_(np.empty((203, 150), dtype), **mode, std=0.5, seed=3, stream="w", backend=backend)
    ref = fastinit.normal_(np.empty((203, 150), dtype), 0.0, 0.5, seed=3, stream="w")
    keep = w.astype(np.float64) != 0
    assert np.array_equal(bits(w[keep]), bits(ref[keep])) and (bits(w[~keep]) == 0).all()


@pytest.mark.parametrize("mode", MODES, ids=repr)
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


@pytest.mark.parametrize("mode", MODES, ids=repr)
def test_every_c_instruction_set_gives_the_same_pattern_and_values(mode):
    # AVX-512 draws by gathers and scatters and transposes tiles by mask tests; the others one
    # unit at a time: the same bits, for blocks that start and end inside a 32-row/column tile
    # and span more than 16 tiles of columns (bitmap rows are written 16 words at a time)
    g, offset, shape = (301, 1200), (37, 45), (230, 1100)
    whole = sparse_(np.empty(g, np.float32), **mode, seed=4, stream="isa", backend="numba")
    for isa in each_c_isa():
        out = sparse_(np.empty(shape, np.float32), **mode, seed=4, stream="isa", global_shape=g, offset=offset,
                      backend="c", threads=1)
        assert np.array_equal(bits(out), bits(whole[37:267, 45:1145])), isa


def test_draws_from_long_units_agree_where_a_first_word_is_rejected():
    # Lemire's multiply-shift rejects a word with probability about n / 2^32: in Martens' rows of
    # 2^24 columns, 4096 draws each, AVX-512's vector draws redo 525 lanes one at a time
    # (16 of them truly rejected); the whole bitmap (every draw visible) must be the same for
    # every backend and instruction set
    from fastinit.kernels import _c
    from fastinit.rng import key_words, stream_id
    from fastinit.schemes.sparse import MASK_STREAM
    rows, cols, k = 35, 2**24, 4096
    words = cols // 32
    kw = key_words(6, stream_id("long") ^ MASK_STREAM)
    whole = np.zeros(rows * words, np.uint32)
    fastinit.kernels.get("numba").sparse_bitmap(1, kw, rows, cols, k, 0, rows, 0, cols, whole, words)
    kept = np.unpackbits(~whole.view(np.uint8), bitorder="little").reshape(rows, cols)
    assert (kept.sum(axis=1) == k).all()
    for isa in each_c_isa():
        out = np.zeros(rows * words, np.uint32)
        _c.sparse_bitmap(1, kw, rows, cols, k, 0, rows, 0, cols, out, words)
        assert np.array_equal(out, whole), isa


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(sparsity=1.5), ValueError, r"sparsity must be in \[0, 1\]; got 1.5"),
    (dict(sparsity=-0.1), ValueError, r"sparsity must be in \[0, 1\]; got -0.1"),
    (dict(sparsity=float("nan")), ValueError, "sparsity must be finite"),
    (dict(), ValueError, "pass exactly one of sparsity= .* and nonzeros_per_unit="),
    (dict(sparsity=0.5, nonzeros_per_unit=3), ValueError, "pass exactly one of"),
    (dict(nonzeros_per_unit=2.5), TypeError, r"nonzeros_per_unit must be an int in \[0, 30\] .*; got float 2.5"),
    (dict(nonzeros_per_unit=31), ValueError, r"nonzeros_per_unit must be an int in \[0, 30\] .*; got 31"),
    (dict(sparsity=0.5, std=-1.0), ValueError, "std must be >= 0"),
    (dict(sparsity=0.5, global_shape=(10, 30), offset=(5, 0)), ValueError, "does not fit in global_shape"),
])
def test_bad_input_leaves_the_buffer_untouched(kwargs, exc, match):
    whole, out = poisoned((20, 30), np.float32)
    with pytest.raises(exc, match=match):
        sparse_(out, **kwargs, seed=0, stream=0)
    assert (whole.view(np.uint8) == POISON).all()


def test_only_2d():
    whole, out = poisoned((4, 5, 6), np.float32)
    with pytest.raises(ValueError, match=r"Only tensors with 2 dimensions are supported: out has shape \(4, 5, 6\)"):
        sparse_(out, 0.5, seed=0, stream=0)
    assert (whole.view(np.uint8) == POISON).all()


@pytest.mark.parametrize("rows, k", [(5, 2), (7, 3), (16, 4), (33, 10)])
def test_zero_subsets_are_uniform_on_small_columns(rows, k):
    # every k-subset of the rows equally likely: chi-square over all C(rows, k) subsets (or over
    # the pairs a subset contains, when there are too many subsets), alpha = 1e-4
    from itertools import combinations
    cols = 40000
    w = sparse_(np.empty((rows, cols), np.float32), k / rows, seed=11, stream="small")
    zero = (w == 0).T  # (cols, rows)
    assert (zero.sum(axis=1) == k).all()
    if math.comb(rows, k) <= 200:
        index = {s: i for i, s in enumerate(combinations(range(rows), k))}
        counts = np.bincount([index[tuple(np.flatnonzero(z))] for z in zero], minlength=len(index))
    else:
        counts = np.array([(zero[:, a] & zero[:, b]).sum() for a, b in combinations(range(rows), 2)])
    expected = counts.sum() / len(counts)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.isf(1e-4, len(counts) - 1), f"chi2 {chi2:.1f} over {len(counts)} cells"


def test_zero_patterns_of_two_rows_are_independent():
    # P(rows a and b both zero in a column) = k/R * (k-1)/(R-1): a binomial test, alpha = 1e-4
    rows, cols, k = 4096, 8192, 1024
    w = sparse_(np.empty((rows, cols), np.float16), k / rows, seed=2, stream="pairs")
    zero = w == 0
    p = k / rows * (k - 1) / (rows - 1)
    for a, b in [(0, 1), (17, 4000), (2047, 2048)]:
        both = int((zero[a] & zero[b]).sum())
        assert stats.binomtest(both, cols, p).pvalue > 1e-4, (a, b, both, cols * p)
