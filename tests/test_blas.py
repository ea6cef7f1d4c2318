"""sub_matmul: C -= op(A) B straight into a strided slab, as NumPy computes it, nothing else touched."""

import numpy as np
import pytest

from fastinit._blas import sub_matmul


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("transpose_a", [False, True])
def test_sub_matmul_into_a_slab(dtype, transpose_a):
    rng = np.random.default_rng(1)

    def draw(*shape):
        x = rng.standard_normal(shape)
        return (x + 1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else x).astype(dtype)

    big = draw(60, 50)
    before = big.copy()
    c = big[3:40, 7:33]
    a = draw(8, 37) if transpose_a else draw(37, 8)
    b = draw(8, 26)
    expected = c - (a.T if transpose_a else a) @ b
    sub_matmul(c, a, b, transpose_a=transpose_a)
    tol = 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)
    outside = np.ones(big.shape, bool)
    outside[3:40, 7:33] = False
    assert np.array_equal(big[outside], before[outside])


def test_sub_matmul_refuses_what_blas_cannot_take():
    c = np.zeros((4, 4), np.float32)
    with pytest.raises(TypeError, match="sub_matmul needs one of"):
        sub_matmul(c, np.zeros((4, 2), np.float64), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="unit-column-stride c"):
        sub_matmul(c[:, ::2], np.zeros((4, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="shapes do not match"):
        sub_matmul(c, np.zeros((4, 3), np.float32), np.zeros((2, 4), np.float32))
