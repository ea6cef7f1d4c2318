"""sub_matmul: C -= op(A) B straight into a strided slab, as NumPy computes it, nothing else
touched; triu_mul_: T X and X T^H in place for an upper triangular T; one_thread: BLAS bits that do not depend on BLAS's thread count, the count left as found."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastinit import _blas
from fastinit._blas import sub_matmul, triu_mul_
from fastinit.orthogonal import orthogonal_

from ..conftest import bits


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("right", [False, True])
def test_triu_mul_in_place(dtype, right):
    """x := t x (x := x t^H) in place, as NumPy's product with the upper triangle of t (what
    lies below t's diagonal is not read)."""
    rng = np.random.default_rng(2)

    def draw(*shape):
        x = rng.standard_normal(shape)
        return (x + 1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else x).astype(dtype)

    t = draw(9, 9)
    x = draw(6, 9) if right else draw(9, 6)
    upper = np.triu(t)
    expected = x @ upper.conj().T if right else upper @ x
    out = triu_mul_(x, t, right=right)
    assert out is x
    tol = 1e-5 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(x, expected, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="C-contiguous"):
        triu_mul_(np.asfortranarray(draw(9, 6)), t)


def test_sub_matmul_refuses_what_blas_cannot_take():
    c = np.zeros((4, 4), np.float32)
    with pytest.raises(TypeError, match="sub_matmul needs one of"):
        sub_matmul(c, np.zeros((4, 2), np.float64), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="unit-column-stride c"):
        sub_matmul(c[:, ::2], np.zeros((4, 2), np.float32), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="shapes do not match"):
        sub_matmul(c, np.zeros((4, 3), np.float32), np.zeros((2, 4), np.float32))


# ---- one BLAS thread: bits that do not depend on BLAS's thread count ---------------------

def blas_counts():
    return [p.get() for p in _blas.pins() if p.get is not None]


def set_counts(n):
    for p in _blas.pins():
        if p.put is not None:
            p.put(n)


def counts_seen_from_a_new_thread():
    with ThreadPoolExecutor(1) as ex:
        return ex.submit(blas_counts).result()


@pytest.fixture
def two_blas_threads():
    """The process-wide BLAS count at 2 (what a 2-core machine starts with), restored after."""
    before = blas_counts()
    set_counts(2)
    yield
    for p, n in zip([p for p in _blas.pins() if p.get is not None], before):
        p.put(n)


def test_gemm_bits_change_with_blas_threads_but_not_inside_one_thread(two_blas_threads):
    """The root cause: OpenBLAS sums a GEMM differently on 2 threads than on 1; one_thread()
    gives the 1-thread bits whatever the count is, and puts the count back."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((64, 700)), rng.standard_normal((700, 256))
    set_counts(1)
    single = a @ b
    set_counts(2)
    if np.array_equal(a @ b, single):  # pragma: no cover - a BLAS that does not split this GEMM
        pytest.skip("this BLAS gives the same bits on 1 and 2 threads for this GEMM")
    with _blas.one_thread(outer=True):
        assert blas_counts() and set(blas_counts()) == {1}
        assert np.array_equal(a @ b, single)
    assert set(blas_counts()) == {2}
    with pytest.raises(ZeroDivisionError), _blas.one_thread(outer=True):
        1 / 0
    assert set(blas_counts()) == {2}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal_from_several_python_threads_is_serial_bits_and_leaves_blas_as_it_was(
        dtype, two_blas_threads):
    shapes = [(130, 500), (200, 130), (300, 300)]
    serial = {(s, seed): orthogonal_(np.empty(s, dtype), seed=seed, stream="w", threads=1)
              for s in shapes for seed in range(3)}
    assert set(blas_counts()) == {2} and set(counts_seen_from_a_new_thread()) == {2}
    jobs = list(serial) * 4

    def call(job):
        return job, orthogonal_(np.empty(job[0], dtype), seed=job[1], stream="w", threads=1)

    with ThreadPoolExecutor(3) as ex:
        futures = [ex.submit(call, job) for job in jobs]
        mine = [call(job) for job in jobs[:6]]  # the main thread (threadpoolctl's controller) too
        done = [f.result() for f in futures] + mine
        seen_by_workers = ex.submit(blas_counts).result()
    assert all(bits(out).tobytes() == bits(serial[job]).tobytes() for job, out in done)
    # measured from a worker thread, from a new thread and from the main thread: as it was
    assert set(seen_by_workers) == {2}
    assert set(blas_counts()) == {2} and set(counts_seen_from_a_new_thread()) == {2}
