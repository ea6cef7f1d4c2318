"""The masked fill kernel (fi_fill_masked and its Numba twin): the dense fill's bits where a
bitmap keeps an element, 0 where it does not, nothing outside the block -- for every
distribution, dtype, backend and C instruction set."""

import numpy as np
import pytest

import fastinit
from fastinit import fills, kernels
from fastinit._buffers import check_out
from fastinit.kernels import NORMAL, TRUNCNORMAL, UNIFORM, _c
from fastinit.rng import key_words, stream_id

from ..conftest import BACKENDS, DTYPES, POISON, bits, each_c_isa

# (dist, the public fill, its parameters, the kernel's p[0..9] for a dtype)
CASES = {
    "uniform": (UNIFORM, fastinit.uniform_, dict(low=-0.5, high=1.5),
                lambda dt: fills._pad([2.0, -0.5, *fills._inward(-0.5, 1.5, dt)])),
    "normal": (NORMAL, fastinit.normal_, dict(mean=0.25, std=2.0), lambda dt: fills._pad([2.0, 0.25])),
    "trunc_normal": (TRUNCNORMAL, fastinit.trunc_normal_, dict(mean=0.1, std=1.0, a=-1.5, b=2.5),
                     lambda dt: fills.trunc_normal_plan(0.1, 1.0, -1.5, 2.5, "absolute", lambda: dt)[1]),
    # mass 0.987: the float32 family's mixture, 1.3% of the kept elements drawn again
    "trunc_mixture": (TRUNCNORMAL, fastinit.trunc_normal_, dict(mean=0.1, std=1.0, a=-2.5, b=2.5),
                      lambda dt: fills.trunc_normal_plan(0.1, 1.0, -2.5, 2.5, "absolute", lambda: dt)[1]),
}


# Blocks of tensors whose Philox block indices pass 2^32 (counter words above the low one): in the
# second, the index passes 2^32 itself inside a row, so inside one batch of 32 (the carry into
# the counter's high word); its rows span several 16 KiB segments in every dtype, and its blocks
# are big enough for non-temporal stores
GEOMETRIES = {  # global shape, first row and column, rows, columns, row stride of out
    "narrow": ((2**28, 1000), 2**28 - 41, 480, 41, 517, 530),
    "wide": ((2**26, 9100), 2**38 // 9100 - 10, 50, 20, 9000, 9003),
}


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_fill_is_the_dense_fill_where_kept(geometry, name, dtype, backend):
    dist, fill, params, plan = CASES[name]
    g, r0, c0, nr, nc, ld = GEOMETRIES[geometry]
    ref = fill(np.empty((nr, nc), dtype), **params, seed=7, stream="m", global_shape=g, offset=(r0, c0))
    rng = np.random.default_rng(1)
    words = -(-nc // 32)
    for density in (0.0, 0.04, 0.5, 0.97, 1.0):
        keep = rng.random((nr, nc)) < density
        mask = np.zeros((nr, words * 32), bool)
        mask[:, :nc] = ~keep
        zbits = np.packbits(mask, axis=1, bitorder="little").view(np.uint32).reshape(-1)
        for isa in each_c_isa() if backend == "c" else [backend]:
            buf = np.empty((nr, ld), dtype)
            buf.view(np.uint8)[...] = POISON
            flat, fmt = check_out(buf.reshape(-1))
            p = np.asarray(plan(dtype), np.float64 if fmt is None else np.float32)
            kernels.get(backend).fill_masked(dist, fmt, key_words(7, stream_id("m")), p, flat, ld, nr, nc, zbits,
                                             words, r0 * g[1] + c0, g[1])
            out = buf[:, :nc]
            assert np.array_equal(bits(out[keep]), bits(ref[keep])), (isa, density)
            assert (bits(out[~keep]) == 0).all(), (isa, density)
            assert (buf[:, nc:].view(np.uint8) == POISON).all(), (isa, density)

@pytest.mark.parametrize("ld, nr, nc, words", [(2**31, 1, 2**31, 2**26), (10, 2, 11, 1), (40, 2, 40, 1), (8, -1, 8, 1)])
def test_c_masked_kernel_refuses_impossible_layouts_before_writing(ld, nr, nc, words):
    # columns from 2^31 on (the collected column indices are 32-bit), a row stride shorter than
    # a row, too few bitmap words per row, negative counts: -1, and out untouched
    out = np.full(64, POISON, np.uint8).view(np.float32)
    zbits = np.zeros(4, np.uint32)
    with pytest.raises(RuntimeError):
        _c.fill_masked(NORMAL, 0, key_words(0, 0), np.zeros(10, np.float32), out, ld, nr, nc, zbits, words, 0, nc)
    assert (out.view(np.uint8) == POISON).all()
