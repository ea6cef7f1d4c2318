"""Golden values of the two streams schemes draw beside the core fills (docs/streams.md
versions 2 and 3, which left them unchanged): the sparse pattern (Floyd's draws on the mask
stream) and orthogonal's reflector stream, with their slow references in tests/naive.py.

Generated once (fastinit 0.1.0, stream layout 2) and pasted here.  A change is a stream
change: bump fastinit.STREAM_LAYOUT, announce it, regenerate; never paste silently.
"""

import hashlib

import numpy as np
import pytest

import fastinit
from fastinit.orthogonal import REFLECTOR_STREAM
from fastinit.rng import stream_id
from fastinit.schemes.sparse import MASK_STREAM

from . import naive
from .conftest import BACKENDS

SEED, STREAM = 2026, "golden"

# the derived streams' ids for stream "golden"
REFLECTOR_ID, MASK_ID = 0x085E88053ECC0698, 0x145C9D1F22CE059F

# torch mode, (64, 48) at sparsity 0.75: the zero rows of column 0, and a digest of the whole
# zero mask (np.packbits of the C-order bool mask, BLAKE2b-128)
TORCH_COL0 = [0, 1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 18, 23, 24, 25, 26, 28, 29, 30, 32, 33,
              36, 37, 38, 39, 40, 41, 42, 45, 46, 47, 48, 49, 50, 52, 55, 56, 57, 58, 59, 60, 61, 62, 63]
TORCH_DIGEST = "de597e622eba35b08daf9a5de30fcc5d"
# Martens mode, (48, 64) with 5 non-zeros per row: the kept columns of row 0, and the digest
MARTENS_ROW0 = [11, 21, 33, 43, 54]
MARTENS_DIGEST = "375123ac6ef73a06af0cf07abe0eb609"

# orthogonal_ of a (4, 4) float64 matrix, to 12 decimals: BLAS may change the last bits (not
# promised across BLAS builds, docs/orthogonal.md), the stream and the maths may not
ORTHO_4X4 = [[-0.745663008523, -0.620224046391, 0.111816338669, -0.216346750395],
             [0.601821502997, -0.683204854696, 0.403052884343, 0.092684289251],
             [0.104703730761, 0.251764282629, 0.464206621562, -0.842712339565],
             [0.26614786307, -0.29183557835, -0.780741757131, -0.484189651753]]


def _digest(zeros):
    return hashlib.blake2b(np.packbits(zeros).tobytes(), digest_size=16).hexdigest()


def test_derived_stream_ids():
    assert stream_id(STREAM) ^ REFLECTOR_STREAM == REFLECTOR_ID
    assert stream_id(STREAM) ^ MASK_STREAM == MASK_ID


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_pattern_is_pinned(backend, dtype):
    out = fastinit.sparse_(np.empty((64, 48), dtype), sparsity=0.75, seed=SEED, stream=STREAM, backend=backend)
    assert np.flatnonzero(out[:, 0] == 0).tolist() == TORCH_COL0
    assert _digest(out == 0) == TORCH_DIGEST
    out = fastinit.sparse_(np.empty((48, 64), dtype), nonzeros_per_unit=5, seed=SEED, stream=STREAM,
                           backend=backend)
    assert np.flatnonzero(out[0]).tolist() == MARTENS_ROW0
    assert _digest(out == 0) == MARTENS_DIGEST


def test_sparse_goldens_follow_the_documented_draws():
    assert _digest(naive.sparse_zeros(SEED, STREAM, 64, 48, sparsity=0.75)) == TORCH_DIGEST
    assert _digest(naive.sparse_zeros(SEED, STREAM, 48, 64, nonzeros_per_unit=5)) == MARTENS_DIGEST


@pytest.mark.parametrize("shape, kw", [((37, 29), {"sparsity": 0.3}), ((37, 29), {"sparsity": 0.8}),
                                       ((300, 5), {"sparsity": 0.5}), ((20, 70), {"nonzeros_per_unit": 5}),
                                       ((20, 70), {"nonzeros_per_unit": 60}), ((3, 200), {"nonzeros_per_unit": 1})])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_equals_the_slow_reference(shape, kw, backend):
    out = fastinit.sparse_(np.empty(shape), seed=7, stream="ref", backend=backend, **kw)
    zeros = naive.sparse_zeros(7, "ref", *shape, **kw)
    values = fastinit.normal_(np.empty(shape), 0.0, 0.01, seed=7, stream="ref")
    assert np.array_equal(out == 0, zeros)
    assert np.array_equal(out[~zeros], values[~zeros])


@pytest.mark.parametrize("backend", BACKENDS)
def test_orthogonal_is_pinned(backend):
    out = fastinit.orthogonal_(np.empty((4, 4)), seed=SEED, stream=STREAM, backend=backend)
    np.testing.assert_allclose(out, ORTHO_4X4, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(7, 7), (9, 4), (4, 9), (64, 48), (130, 130)])
@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_orthogonal_equals_the_slow_reference(shape, dtype, atol):
    out = fastinit.orthogonal_(np.empty(shape, dtype), gain=1.5, seed=11, stream="w")
    np.testing.assert_allclose(out, naive.orthogonal(11, "w", *shape, gain=1.5, dtype=dtype), rtol=0, atol=atol)
