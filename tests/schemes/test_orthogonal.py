"""Orthogonal, unitary and delta-orthogonal kernels: properties, Haar law, memory, errors.

Orthogonal matrices are checked by their properties and their distribution, not by bits
(STYLE.md): orthogonality to working precision, the Haar law of the diagonal entries
(sign a fair coin, Q_kk^2 ~ Beta(1/2, (n-1)/2); unitary: phase uniform, |U_kk|^2 ~
Beta(1, n-1)), with the same test shown to reject plain QR without the sign fix.
"""

import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from numpy.lib.format import open_memmap
from scipy import stats

import fastinit.orthogonal as fo
from fastinit.orthogonal import delta_orthogonal_, orthogonal_, unitary_

from ..conftest import bits, poisoned

BF16 = np.dtype(ml_dtypes.bfloat16)
HAAR_N, HAAR_SAMPLES = 8, 4000
ALPHA = 1e-3  # family-wise: each of the 2n tests runs at ALPHA / (2n)


def orth_error(q):
    """max |Q^H Q - I| (tall or square) or max |Q Q^H - I| (wide), in float64/complex128."""
    q = np.asarray(q, np.complex128 if np.iscomplexobj(q) else np.float64)
    if q.shape[0] < q.shape[1]:
        q = q.conj().T
    return float(np.abs(q.conj().T @ q - np.eye(q.shape[1])).max())


# ------------------------------------------------------------------ orthogonality


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_orthogonal_square_1024(dtype, tol):
    q = orthogonal_(np.empty((1024, 1024), dtype), seed=0, stream="w")
    assert orth_error(q) <= tol


@pytest.mark.parametrize("shape", [(1000, 300), (300, 1000), (257, 256), (2, 9), (9, 2), (1, 5), (5, 1), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal_rectangular(shape, dtype):
    q = orthogonal_(np.empty(shape, dtype), seed=1, stream=0)
    assert orth_error(q) <= (1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype, tol", [(BF16, 2 ** -8 * 4), (np.dtype(np.float16), 2 ** -11 * 4)])
@pytest.mark.parametrize("shape", [(512, 512), (600, 200), (200, 600)])
def test_orthogonal_half_precision(dtype, tol, shape):
    """Computed in float32, rounded once: orthogonal to the target's precision (a few ulps
    of 1), and exactly the float32 result rounded when built on the same path."""
    q = orthogonal_(np.empty(shape, dtype), seed=2, stream=0)
    assert orth_error(q) <= tol
    f32 = orthogonal_(np.empty(shape, np.float32), seed=2, stream=0)  # the same matrix, in float32
    eps = float((ml_dtypes.finfo if dtype == BF16 else np.finfo)(dtype).eps)
    assert np.abs(q.astype(np.float64) - f32).max() <= eps


def test_streamed_path_several_slabs(monkeypatch):
    """The slab-at-a-time path (half precision, or memmaps larger than RAM) with many slabs."""
    monkeypatch.setattr(fo, "STREAM_SCRATCH", 300 * 64 * 4)  # slabs of 64 columns for L=300
    for shape in [(300, 300), (300, 200), (200, 300)]:
        q = orthogonal_(np.empty(shape, BF16), seed=3, stream=0)
        assert orth_error(q) <= 2 ** -8 * 4
        f32 = orthogonal_(np.empty(shape, np.float32), seed=3, stream=0)
        assert np.abs(q.astype(np.float32) - f32).max() <= 2 ** -8


def test_gain_and_layouts():
    a = orthogonal_(np.empty((6, 4, 3, 3), np.float64), 2.5, seed=4, stream=0)  # torch: (6, 36), wide
    m = a.reshape(6, 36)
    assert np.allclose(m @ m.T, 6.25 * np.eye(6), atol=1e-12)
    b = orthogonal_(np.empty((3, 3, 4, 6), np.float64), seed=4, stream=0, layout="jax")  # JAX: (36, 6), tall
    m = b.reshape(36, 6)
    assert np.allclose(m.T @ m, np.eye(6), atol=1e-12)


def test_nested_shapes():
    """A tall (m, n) result is the first n columns of the (m, m) one, and a wide (n, m) one
    the conjugate transpose of the tall one (up to rounding: the blocking differs)."""
    sq = orthogonal_(np.empty((200, 200)), seed=5, stream=3)
    tall = orthogonal_(np.empty((200, 70)), seed=5, stream=3)
    wide = orthogonal_(np.empty((70, 200)), seed=5, stream=3)
    assert np.abs(sq[:, :70] - tall).max() < 1e-13
    assert np.abs(wide - tall.T).max() < 1e-13


def test_deterministic_and_thread_independent():
    a = orthogonal_(np.empty((700, 500), np.float32), seed=6, stream=0, threads=1)
    b = orthogonal_(np.empty((700, 500), np.float32), seed=6, stream=0, threads=2)
    c = orthogonal_(np.empty((700, 500), np.float32), seed=6, stream=0, threads=2)
    assert np.array_equal(bits(b), bits(c))
    # observed with BLAS pinned to one thread per worker; docs/orthogonal.md: not promised
    assert np.array_equal(bits(a), bits(b))
    d = orthogonal_(np.empty((700, 500), np.float32), seed=6, stream=1)
    assert np.abs(d - a).max() > 0.01


def test_stack_matches_single_matrices():
    stack = orthogonal_(np.empty((5, 40, 30), np.float64), seed=7, stream=0, batch_dims=1)
    single = orthogonal_(np.empty((40, 30), np.float64), seed=7, stream=0)
    assert np.array_equal(bits(stack[0]), bits(single))
    for q in stack:
        assert orth_error(q) <= 1e-13
    assert np.abs(stack[1] - stack[0]).max() > 0.01


@pytest.mark.parametrize("shape", [(256, 256), (300, 100), (100, 300)])
@pytest.mark.parametrize("dtype, tol", [(np.complex64, 1e-5), (np.complex128, 1e-12)])
def test_unitary(shape, dtype, tol):
    u = unitary_(np.empty(shape, dtype), seed=8, stream=0)
    assert orth_error(u) <= tol
    assert np.abs(u.imag).max() > 0.01


# ------------------------------------------------------------------ Haar law


def _diag_pvalues(q):
    """p-values of the Haar law of each diagonal entry of a sample of real n x n matrices:
    sign ~ fair coin (binomial), Q_kk^2 ~ Beta(1/2, (n-1)/2) (Kolmogorov-Smirnov)."""
    n = q.shape[-1]
    beta = stats.beta(0.5, (n - 1) / 2)
    ps = []
    for k in range(n):
        x = q[:, k, k]
        ps.append(stats.binomtest(int((x > 0).sum()), len(x)).pvalue)
        ps.append(stats.kstest(x * x, beta.cdf).pvalue)
    return np.array(ps)


def _unitary_pvalues(u):
    """Unitary Haar: arg(U_kk) ~ U(-pi, pi), |U_kk|^2 ~ Beta(1, n-1) (both KS)."""
    n = u.shape[-1]
    ps = []
    for k in range(n):
        x = u[:, k, k]
        ps.append(stats.kstest(np.angle(x), stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue)
        ps.append(stats.kstest(np.abs(x) ** 2, stats.beta(1, n - 1).cdf).pvalue)
    return np.array(ps)


def _passes(ps):
    return ps.min() > ALPHA / len(ps)


def test_haar_test_accepts_scipy_ortho_group():
    ref = stats.ortho_group.rvs(HAAR_N, size=HAAR_SAMPLES, random_state=np.random.default_rng(0))
    assert _passes(_diag_pvalues(ref))


def test_haar_test_rejects_qr_without_sign_fix():
    """The test has power: numpy QR of a Gaussian without ``Q *= sign(diag R)`` fails it
    (LAPACK makes R_kk = -sign(x_0)||x||, so Q_11 = -|z_11|/||z_1|| < 0 always)."""
    g = np.random.default_rng(0).standard_normal((HAAR_SAMPLES, HAAR_N, HAAR_N))
    q, r = np.linalg.qr(g)
    assert not _passes(_diag_pvalues(q))
    fixed = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    assert _passes(_diag_pvalues(fixed))  # and passes with the fix


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_orthogonal_is_haar(dtype):
    q = orthogonal_(np.empty((HAAR_SAMPLES, HAAR_N, HAAR_N), dtype), seed=9, stream=0, batch_dims=1).astype(np.float64)
    assert _passes(_diag_pvalues(q))
    ref = stats.ortho_group.rvs(HAAR_N, size=HAAR_SAMPLES, random_state=np.random.default_rng(1))
    # two-sample comparison with SciPy's sampler on an off-diagonal and a diagonal entry
    for (a, b) in [(0, 0), (2, 5), (7, 7)]:
        assert stats.ks_2samp(q[:, a, b], ref[:, a, b]).pvalue > ALPHA


def test_rectangular_is_haar():
    """A tall 8 x 3 result: its first column is uniform on the sphere (Q_00^2 ~ Beta(1/2, 7/2))."""
    q = orthogonal_(np.empty((HAAR_SAMPLES, HAAR_N, 3)), seed=10, stream=0, batch_dims=1)
    ps = _diag_pvalues(np.concatenate([q, np.zeros((HAAR_SAMPLES, HAAR_N, HAAR_N - 3))], axis=2))[:6]
    assert _passes(ps)


def test_unitary_is_haar():
    u = unitary_(np.empty((HAAR_SAMPLES, HAAR_N, HAAR_N), np.complex128), seed=11, stream=0, batch_dims=1)
    assert _passes(_unitary_pvalues(u))
    g = np.random.default_rng(0).standard_normal((HAAR_SAMPLES, HAAR_N, HAAR_N, 2)).view(np.complex128)[..., 0]
    q, _ = np.linalg.qr(g)  # without the phase fix: rejected
    assert not _passes(_unitary_pvalues(q))


# ------------------------------------------------------------------ delta-orthogonal


@pytest.mark.parametrize("kernel", [(3,), (4,), (3, 3), (2, 4), (3, 2, 5)])
@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_delta_orthogonal(kernel, layout):
    n_in, n_out = 6, 10
    shape = (n_out, n_in, *kernel) if layout == "torch" else (*kernel, n_in, n_out)
    _, w = poisoned(shape, np.float32)
    delta_orthogonal_(w, 1.5, seed=12, stream="conv", layout=layout)
    centre = tuple(k // 2 for k in kernel) if layout == "torch" else tuple((k - 1) // 2 for k in kernel)
    if layout == "torch":
        tap = w[(slice(None), slice(None)) + centre].T  # (in, out)
        rest = np.moveaxis(w, (0, 1), (-1, -2)).copy()
    else:
        tap = w[centre]
        rest = w.copy()
    rest[centre] = 0
    assert np.array_equal(rest, np.zeros_like(rest))  # every other tap exactly zero
    assert np.allclose(tap @ tap.T, 2.25 * np.eye(n_in), atol=1e-5)


def test_delta_orthogonal_layouts_agree():
    t = delta_orthogonal_(np.empty((8, 8, 3, 3), np.float64), seed=13, stream=0, layout="torch")
    j = delta_orthogonal_(np.empty((3, 3, 8, 8), np.float64), seed=13, stream=0, layout="jax")
    assert np.array_equal(t[:, :, 1, 1].T, j[1, 1])


def test_delta_orthogonal_matches_jax_convention():
    jax = pytest.importorskip("jax")
    shape = (4, 2, 5, 7)  # even kernel dim: JAX's centre is (k-1)//2 = 1
    ref = np.asarray(jax.nn.initializers.delta_orthogonal()(jax.random.key(0), shape, jax.numpy.float32))
    ours = delta_orthogonal_(np.empty(shape, np.float32), seed=0, stream=0, layout="jax")
    assert np.array_equal(np.nonzero(np.abs(ref).sum(axis=(2, 3)))[0], np.nonzero(np.abs(ours).sum(axis=(2, 3)))[0])
    assert np.array_equal(np.argwhere(np.abs(ref).sum(axis=(2, 3)) > 0), np.argwhere(np.abs(ours).sum(axis=(2, 3)) > 0))
    with pytest.raises(ValueError, match="`fan_in` must be less or equal than `fan_out`"):
        jax.nn.initializers.delta_orthogonal()(jax.random.key(0), (3, 3, 8, 4))


# ------------------------------------------------------------------ memory


def test_memmap_in_place_extra_memory(tmp_path):
    """A 3072 x 3072 float32 open_memmap (36 MiB) filled in place: peak heap allocations
    (tracemalloc sees every NumPy buffer; the mapped file is not counted) stay below 16 MiB,
    i.e. O(L * 3 blocks + threads * b * SLAB), not another L x L."""
    n = 3072
    m = open_memmap(tmp_path / "q.npy", mode="w+", dtype=np.float32, shape=(n, n))
    tracemalloc.start()
    try:
        orthogonal_(m, seed=14, stream=0, threads=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak extra {peak / 2**20:.1f} MiB for a {m.nbytes / 2**20:.0f} MiB matrix"
    m.flush()
    q = np.load(tmp_path / "q.npy", mmap_mode="r")
    rows = np.asarray(q[:64], np.float64)
    assert np.abs(rows @ rows.T - np.eye(64)).max() < 1e-5
    cols = np.asarray(q[:, -64:], np.float64)
    assert np.abs(cols.T @ cols - np.eye(64)).max() < 1e-5


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("fn, shape, dtype, kwargs, exc, match", [
    (orthogonal_, (5,), np.float32, {}, ValueError, "at least 2 dims"),
    (orthogonal_, (4, 4), np.int32, {}, TypeError, "dtype int32"),
    (orthogonal_, (4, 4), np.complex64, {}, TypeError, "use fastinit.orthogonal.unitary_"),
    (unitary_, (4, 4), np.float32, {}, TypeError, "use fastinit.orthogonal.orthogonal_"),
    (orthogonal_, (4, 4), np.float32, dict(layout="keras"), ValueError, "layout must be"),
    (orthogonal_, (4, 4), np.float32, dict(gain=float("nan")), ValueError, "gain must be finite"),
    (orthogonal_, (4, 4), np.float32, dict(threads=0), ValueError, "threads"),
    (orthogonal_, (4, 4), np.float32, dict(seed=-1), ValueError, "seed"),
    (orthogonal_, (3, 4, 4), np.float32, dict(batch_dims=2), ValueError, "at least 2 dims per matrix"),
    (orthogonal_, (3, 4, 4), np.float32, dict(batch_dims=-1), ValueError, "batch_dims must be an int >= 0; got -1"),
    (orthogonal_, (3, 4, 4), np.float32, dict(batch_dims=1.0), TypeError, "batch_dims must be an int >= 0; got float 1.0"),
    (delta_orthogonal_, (3, 3, 8, 4), np.float32, dict(layout="jax"), ValueError,
     "`fan_in` must be less or equal than `fan_out`"),
    (delta_orthogonal_, (4, 8, 3, 3), np.float32, dict(layout="torch"), ValueError,
     "`fan_in` must be less or equal than `fan_out`"),
    (delta_orthogonal_, (4, 8), np.float32, {}, ValueError, "3D, 4D or 5D"),
    (delta_orthogonal_, (8, 4, 1, 1, 1, 1), np.float32, {}, ValueError, "3D, 4D or 5D"),
])
def test_errors_leave_buffer_untouched(fn, shape, dtype, kwargs, exc, match):
    kwargs = {"seed": 0, "stream": 0, **kwargs}
    whole, out = poisoned(shape, dtype)
    before = whole.copy()
    with pytest.raises(exc, match=match):
        fn(out, **kwargs)
    assert np.array_equal(whole.view(np.uint8), before.view(np.uint8))


def test_error_not_contiguous_or_read_only():
    a = np.zeros((8, 8), np.float32)
    with pytest.raises(ValueError, match="not C-contiguous"):
        orthogonal_(a.T, seed=0, stream=0)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        orthogonal_(a, seed=0, stream=0)
    with pytest.raises(TypeError, match="NumPy array"):
        orthogonal_([[1.0]], seed=0, stream=0)


def test_zero_size_is_a_no_op():
    assert orthogonal_(np.empty((0, 4), np.float32), seed=0, stream=0).shape == (0, 4)


def test_haar_test_rejects_reflectors_without_sign_fix(monkeypatch):
    """The same reflectors with d = 1 instead of d_k = -sign(x_k[0]) are not Haar: the
    sign fix is what makes the product Haar (Mezzadri 2007)."""
    block = fo._Source.block

    def no_fix(self, i, j, j2):
        G, Gc, T, d = block(self, i, j, j2)
        return G, Gc, T, np.ones_like(d)

    monkeypatch.setattr(fo._Source, "block", no_fix)
    q = orthogonal_(np.empty((HAAR_SAMPLES, HAAR_N, HAAR_N)), seed=9, stream=0, batch_dims=1)
    assert orth_error(q[0]) < 1e-12  # still orthogonal
    assert not _passes(_diag_pvalues(q))
