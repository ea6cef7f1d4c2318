"""Accuracy of the kernels' own arithmetic (docs/streams.md, "The approximations").

The functions tested are the Numba twins in fastinit/kernels/_numba.py.  The C kernels
compute the same bits (tests/core/test_contract.py compares every fill bit for bit), so these
bounds hold for both backends.  The twins are scalar functions; a scalar call from Python
costs microseconds, so each is applied to an array by a small @njit loop (``elementwise``).

Each bound was measured once, exhaustively where the domain allows, and is asserted a
little above the measurement, so an edit that makes an approximation worse fails here.
"ulp" is the ulp of the exact result in the function's own precision; sin/cos are also
bounded absolutely and ndtri relatively (it is 0 at p = 0.5).  Measured (asserted):

- logtf (the table log of Box-Muller and the truncated normal), every float32 in (2^-126, 1]
  (exhaustive): 2.246 ulp at x = 0x3F7AD9C0 (2.25 ulp); absolute 3.98e-7 where log x >= -5
  (4.1e-7).  (Cephes' logf, Box-Muller's log in layouts 1-3, measured 0.819 ulp; the normal's
  r = sqrt(-2 log u1) halves the log's relative error.)
- log, 10^7 random float64 in (2^-60, 1]: 0.817 ulp (1 ulp, fdlibm's documented bound).
- sinpf / cospf, all 2^22 angles the float32 Box-Muller uses (exhaustive): 4.35e-8 / 5.22e-8
  absolute, 0.73 / 0.875 ulp (6e-8 absolute, 1 ulp; cospf fully in Horner form since layout 4,
  Cephes' form measured 5.89e-8, 0.99 ulp).
- sinp / cosp, 10^7 random float64 Box-Muller angles: 8.05e-17 / 8.35e-17 absolute,
  0.73 / 0.75 ulp (2^-53 = 1.1e-16 absolute, 1 ulp).
- ndtrif(p - 1/2, p) (Giles' w = -log(4 p (1 - p)) through logtf, stream layouts 3-4), every
  float32 p in [2^-126, 0.5] (exhaustive): relative 2.777e-7 (2.33 * 2^-23), worst at
  p = 0x37C9E1DC = 2.41e-5 (2.8e-7).  AS241's float32 rationals (layouts 1, 2) measured 4.17e-7.
  (The float32 functions fuse their polynomial steps (FMA) since stream layout 2.)
- ndtri_low, 10^8 random float64 in [1e-300, 0.5]: relative 1.06e-15 against SciPy, whose
  own error at the worst points is 2e-16..4e-16 (checked with mpmath) (1.2e-15 relative).
- to_bf16 / to_f16 on the sweep in ``float32_sweep``: bit-equal to ml_dtypes / NumPy,
  NaN-ness and sign kept for NaN inputs.

References: NumPy's float64 log/sin/cos for the float32 functions, NumPy's long double
(x87 80-bit on x86-64) for the float64 ones, SciPy's ``ndtri`` (Cephes) for both ndtri.
"""

import ml_dtypes
import numba
import numpy as np
import pytest
from scipy.special import ndtri

import fastinit
from fastinit.kernels import _c
from fastinit.kernels import _numba as nb

from ..conftest import bits, each_c_isa


def elementwise(fn, dtype):
    """A compiled loop applying the scalar kernel function ``fn`` to a 1-D array."""
    @numba.njit(nogil=True)
    def apply(x):
        out = np.empty(x.shape[0], dtype)
        for i in range(x.shape[0]):
            out[i] = fn(x[i])
        return out

    return apply


def f32_range(lo, hi, step):
    """float32 values whose bit patterns run from lo's to hi's (both included) in steps of ``step``."""
    a, b = int(np.float32(lo).view(np.uint32)), int(np.float32(hi).view(np.uint32))
    return np.append(np.arange(a, b + 1, step, dtype=np.uint32), np.uint32(b)).view(np.float32)


def ulps(got, exact, mant_bits):
    """|got - exact| in units of the ulp of ``exact`` in a format with ``mant_bits`` explicit bits."""
    exact = np.asarray(exact)
    _, e = np.frexp(np.abs(exact))
    return np.abs(np.asarray(got, exact.dtype) - exact) / np.ldexp(1.0, e - 1 - mant_bits).astype(exact.dtype)


def long_double():
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("needs an extended-precision long double as the reference for float64 functions")
    return np.longdouble


# ---- logarithms -------------------------------------------------------------------------

def test_logtf_is_within_2_25_ulp():
    # the table log (the truncated normal's since version 3, Box-Muller's since 4): the truncated
    # normal's w needs absolute accuracy; near x = 1, where log x is tiny, 2.25 ulp is still
    # below 5e-9 absolute; Box-Muller's u1 = k 2^-24 lies in [2^-24, 1], inside the sweep
    logtf = elementwise(nb.logtf, np.float32)
    worst = np.array([0x3F7AD9C0], np.uint32).view(np.float32)  # the exhaustive sweep's worst input
    x = np.concatenate([f32_range(2.0**-126, 1.0, 61), worst, f32_range(0.99, 1.0, 1),
                        np.nextafter(np.float32(1), np.float32(0), dtype=np.float32)[None]])
    got = logtf(x).astype(np.float64)
    exact = np.log(x.astype(np.float64))
    assert (got[x == 1] == 0).all() and (x == 1).any()
    err = ulps(got[x != 1], exact[x != 1], 23)
    assert err.max() <= 2.25, f"logtf error {err.max():.3f} ulp at x = {x[x != 1][err.argmax()]!r}"
    assert err.max() > 2.24  # the worst input is in the set
    assert np.abs(got - exact)[x >= np.float32(np.exp(-5.0))].max() < 4.1e-7  # the centre's w: 3.98e-7


def test_log_is_within_1_ulp():
    ld = long_double()
    log = elementwise(nb.log, np.float64)
    rng = np.random.default_rng(1)
    lo, hi = np.float64(2.0**-60).view(np.uint64), np.float64(1.0).view(np.uint64)
    x = np.concatenate([rng.integers(lo, hi, 2 * 10**6, dtype=np.uint64, endpoint=True).view(np.float64),
                        1.0 - np.arange(1, 10**4) * 2.0**-53,  # just below 1: log(x) ~ x - 1
                        1.0 - rng.random(10**5) * 2.0**-20,
                        np.ldexp(1.0, -np.arange(1, 1022)),  # every binade: k * ln2 exact
                        # ndtri's tail gets p down to 1e-306
                        rng.integers(np.float64(2.0**-1022).view(np.uint64), lo, 10**5,
                                     dtype=np.uint64).view(np.float64)])
    got = log(x)
    exact = np.log(x.astype(ld))
    assert log(np.array([1.0]))[0] == 0.0
    nonzero = exact != 0
    err = ulps(got[nonzero], exact[nonzero], 52)
    assert err.max() < 1.0, f"log error {float(err.max()):.3f} ulp at x = {x[nonzero][err.argmax()]!r}"


# ---- sin and cos on [-pi/4, pi/4] ------------------------------------------------------------

def box_muller_angles32():
    """Every angle the float32 kernels pass: (x - q 2^22) * (float32(pi/2) 2^-22), x - q 2^22 in [-2^21, 2^21)."""
    return np.arange(-2**21, 2**21, dtype=np.int32).astype(np.float32) * nb.PI2_22


def test_the_angle_constants_are_pi_over_2_scaled_exactly():
    assert nb.PI2_22 == np.float32(np.pi / 2) * np.float32(2.0**-22)
    assert nb.PI2_51 == np.float64(np.pi / 2) * 2.0**-51
    assert box_muller_angles32().max() < np.float32(np.pi / 4) + 1e-7  # the reduced range


@pytest.mark.parametrize("name, exact", [("sinpf", np.sin), ("cospf", np.cos)])
def test_float32_sin_and_cos_are_within_6e_8(name, exact):
    fn = elementwise(getattr(nb, name), np.float32)
    rng = np.random.default_rng(2)
    x = np.concatenate([box_muller_angles32(),
                        rng.uniform(-np.pi / 4, np.pi / 4, 10**6).astype(np.float32),
                        np.float32([0.0, -0.0, 2.0**-126, 2.0**-20])])
    got = fn(x).astype(np.float64)
    ref = exact(x.astype(np.float64))
    err = np.abs(got - ref)
    assert err.max() <= 6e-8, f"{name} error {err.max():.3g} at x = {x[err.argmax()]!r}"
    nonzero = ref != 0
    assert ulps(got[nonzero], ref[nonzero], 23).max() < 1.0
    if name == "sinpf":
        assert np.array_equal(fn(-x), -fn(x))  # odd, exactly: the quadrant signs rely on it
        assert fn(np.float32([0.0]))[0] == 0.0
    else:
        assert np.array_equal(fn(-x), fn(x))
        assert fn(np.float32([0.0]))[0] == 1.0


@pytest.mark.parametrize("name, exact", [("sinp", np.sin), ("cosp", np.cos)])
def test_float64_sin_and_cos_are_within_one_ulp(name, exact):
    ld = long_double()
    fn = elementwise(getattr(nb, name), np.float64)
    rng = np.random.default_rng(3)
    # the float64 kernels' angles: (x - q 2^51) * (float64(pi/2) 2^-51), x - q 2^51 in [-2^50, 2^50)
    k = rng.integers(-2**50, 2**50, 2 * 10**6)
    x = np.concatenate([k.astype(np.float64) * nb.PI2_51, np.ldexp(1.0, -np.arange(1, 60)), [0.0, 2**-1000]])
    got = fn(x)
    ref = exact(x.astype(ld))
    err = np.abs(got - ref)
    assert float(err.max()) <= 2.0**-53, f"{name} error {float(err.max()):.3g} at x = {x[err.argmax()]!r}"
    nonzero = ref != 0
    assert float(ulps(got[nonzero], ref[nonzero], 52).max()) < 1.0
    assert np.array_equal(fn(-x), -fn(x) if name == "sinp" else fn(x))


# ---- ndtri on the lower half: float32 ndtrif (Giles' w), float64 AS241 ----------------------------------------------------------

def relative_error(got, exact):
    nonzero = exact != 0
    assert (got[~nonzero] == 0).all()  # p = 0.5 gives exactly 0
    return np.abs(got[nonzero] - exact[nonzero]) / np.abs(exact[nonzero])


WORST_NDTRIF = 0x37C9E1DC  # float32 bits of the worst p of ndtrif's exhaustive sweep


def lower_half(central, tail, dtype):
    """Phi^-1(p) for p in (0, 0.5] from the kernels' two pieces, as the truncated normal uses them."""
    c, t = elementwise(central, dtype), elementwise(tail, dtype)

    def fn(p):
        q = (p - dtype(0.5)).astype(dtype)  # exact for p in [0.25, 0.5] (Sterbenz)
        return np.where(q >= dtype(-0.425), c(q), -t(p))
    return fn


def ndtrif_lower_half():
    """Phi^-1(p) for float32 p in (0, 0.5] as the truncated normal computes it: ndtrif(q, p)
    with q = p - 1/2 rounded to float32 (the kernel's q carries the same rounding)."""
    @numba.njit(nogil=True)
    def apply(p):
        out = np.empty(p.shape[0], np.float32)
        for i in range(p.shape[0]):
            out[i] = nb.ndtrif(p[i] - np.float32(0.5), p[i])
        return out
    return apply


def test_ndtri_float32_is_within_2_8e_7_relative():
    fn = ndtrif_lower_half()
    worst = np.array([WORST_NDTRIF], np.uint32).view(np.float32)  # the exhaustive sweep's worst p
    # p where w = -log(4 p (1 - p)) is 5 (centre -> tail) and 16 (the tail's two polynomials)
    w5, w16 = (np.float32((1 - np.sqrt(1 - np.exp(-w))) / 2) for w in (5.0, 16.0))
    p = np.concatenate([f32_range(2.0**-126, 0.5, 131), worst,
                        f32_range(w5 * (1 - 1e-4), w5 * (1 + 1e-4), 1), f32_range(w16 * (1 - 1e-4), w16 * (1 + 1e-4), 1),
                        np.float32([0.5, 0.25, 2.0**-24, 2.0**-25, 2.0**-126])])
    got = fn(p).astype(np.float64)
    rel = relative_error(got, ndtri(p.astype(np.float64)))
    assert rel.max() <= 2.8e-7, f"ndtri float32 relative error {rel.max():.3g} at p = {p[rel.argmax()]!r}"
    assert rel.max() > 2.75e-7  # the worst input is in the set


def test_ndtri_float32_keeps_resolution_near_the_mean():
    # q = p - 1/2 far below float32's resolution of p itself: Phi^-1(1/2 + q) = q sqrt(2 pi) (1 + O(q^2))
    q = np.float32([1e-12, -3e-11, 2.5e-20, -1e-30])

    @numba.njit(nogil=True)
    def apply(q):
        out = np.empty(q.shape[0], np.float32)
        for i in range(q.shape[0]):
            out[i] = nb.ndtrif(q[i], np.float32(0.5) - abs(q[i]))
        return out
    np.testing.assert_allclose(apply(q).astype(np.float64), q.astype(np.float64) * np.sqrt(2 * np.pi), rtol=3e-7)


def test_ndtri_float32_tail_branch_is_taken_per_lane():
    # the C kernels skip the tail polynomials for vectors without a tail lane; a lane's value
    # must not depend on its neighbours: one tail lane among central ones, in every position
    # ([-1.5, 40] holds mass 0.93: the inverse CDF for every element, not the mixture)
    ref = fastinit.trunc_normal_(np.empty(4096, np.float32), 0.0, 1.0, -1.5, 40.0, seed=3, stream=9,
                                 backend="numba")
    assert (np.abs(ref) > 2.93).any() and (np.abs(ref) < 2.93).sum() > 4000  # both regions present
    for _ in each_c_isa():
        got = fastinit.trunc_normal_(np.empty(4096, np.float32), 0.0, 1.0, -1.5, 40.0, seed=3, stream=9,
                                     backend="c")
        assert np.array_equal(bits(got), bits(ref)), _c.isa()


def test_ndtri_float64_is_within_1_2e_15_relative():
    fn = lower_half(nb.ndtri_central, nb.ndtri_tail, np.float64)
    rng = np.random.default_rng(4)
    lo, hi = np.float64(1e-300).view(np.uint64), np.float64(0.5).view(np.uint64)
    p = np.concatenate([rng.integers(lo, hi, 2 * 10**6, dtype=np.uint64, endpoint=True).view(np.float64),
                        rng.uniform(0.0, 0.5, 10**6),
                        [2.3495974567871365e-245, 0.14124470087148402,  # worst seen in 10^8 samples
                         0.5, 0.075, 0.075 - 2**-56, np.exp(-25.0), 1e-300, 2.0**-53]])
    rel = relative_error(fn(p), ndtri(p))
    assert rel.max() <= 1.2e-15, f"ndtri float64 relative error {rel.max():.3g} at p = {p[rel.argmax()]!r}"


# ---- rounding float32 to bfloat16 and float16 ------------------------------------------------

def float32_sweep():
    """Bit patterns: a stride-257 sweep of all 2^32, every rounding tie of both formats and its
    neighbours, and every pattern near the special values."""
    stride = np.arange(0, 2**32, 257, dtype=np.uint64).astype(np.uint32)
    hi16 = np.arange(2**16, dtype=np.uint32) << 16
    bf16_ties = np.concatenate([hi16 | 0x7FFF, hi16 | 0x8000, hi16 | 0x8001])
    hi19 = np.arange(2**19, dtype=np.uint32) << 13
    f16_ties = np.concatenate([hi19 | 0x0FFF, hi19 | 0x1000, hi19 | 0x1001])
    # f16 subnormals are multiples of 2^-24: their ties are odd multiples of 2^-25
    sub = (np.arange(2**12) * 2.0**-25).astype(np.float32).view(np.uint32)
    centres = np.float32([0.0, np.inf, 65504, 65519.996, 65520, 65536, 2.0**-14, 2.0**-24, 2.0**-25,
                          6.0e-8, 2.0**-126, 2.0**-149, 3.3895314e38, np.finfo(np.float32).max,
                          1.0, 0.5]).view(np.uint32)
    window = np.arange(-4096, 4097, dtype=np.int64)
    near = (centres[:, None].astype(np.int64) + window).reshape(-1)
    near = near[(near >= 0) & (near < 2**31)].astype(np.uint32)
    nans = np.uint32([0x7F800001, 0x7FBFFFFF, 0x7FC00000, 0x7FFFFFFF, 0x7F801000, 0x7F810000])
    u = np.concatenate([bf16_ties, f16_ties, sub, sub + 1, sub - 1, near, nans])
    return np.concatenate([stride, u, u ^ np.uint32(0x80000000)]).view(np.float32)  # both signs


@pytest.fixture(scope="module")
def sweep():
    return float32_sweep()


def test_to_bf16_equals_ml_dtypes(sweep):
    got = elementwise(nb.to_bf16, np.uint16)(sweep)
    nan = np.isnan(sweep)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = sweep.astype(ml_dtypes.bfloat16).view(np.uint16)
    mismatch = (got != expected) & ~nan
    assert not mismatch.any(), \
        f"to_bf16 differs from ml_dtypes at {sweep.view(np.uint32)[mismatch][:5].tolist()} (float32 bits)"
    # NaN stays NaN: a quiet NaN (bit 6 of the bfloat16) with the input's sign; ml_dtypes
    # gives the canonical 0x7FC0/0xFFC0, fastinit keeps the payload's top bits
    u = sweep.view(np.uint32)[nan]
    g = got[nan]
    assert ((g & 0x7F80) == 0x7F80).all() and ((g & 0x0040) != 0).all()
    assert ((g >> 15) == (u >> 31)).all()
    assert np.array_equal(g, ((u >> 16) | 0x40).astype(np.uint16))  # the rule in csrc/fimath.h


@pytest.mark.parametrize("n", [1, 33, 129])
def test_c_bf16_rounding_equals_the_numba_twin_at_every_isa(sweep, n):
    # every C instruction set's bfloat16 store (the pair-packed portable rounding, and
    # VCVTNE2PS2BF16 on CPUs with AVX512-BF16, which flushes denormals: those pairs fall back)
    # gives to_bf16's bits on the sweep, NaN payloads and denormals included; n exercises the
    # pairs of vectors and the single-vector tail of every width
    expected = elementwise(nb.to_bf16, np.uint16)(sweep)
    denormal = sweep.view(np.uint32)[(np.abs(sweep) < 2.0**-126) & (sweep != 0)]
    assert denormal.size > 8000  # the sweep reaches the lanes the hardware would flush
    x = np.ascontiguousarray(sweep[: len(sweep) // n * n])
    tested = []
    for isa in each_c_isa():
        got = np.full(x.size, 0xCACA, np.uint16)
        step = (1 << 20) // n * n  # calls of n-element multiples, so the tails vary
        for start in range(0, x.size, step):
            chunk = x[start:start + step]
            assert _c.lib.fi_to_bf16(_c.ffi.from_buffer("float[]", chunk),
                                     _c.ffi.from_buffer("uint16_t[]", got[start:start + chunk.size]), chunk.size) == 0
        bad = got != expected[: x.size]
        assert not bad.any(), f"{isa}: bfloat16 bits differ at float32 bits {x.view(np.uint32)[bad][:5].tolist()}"
        tested.append(isa)
    assert "baseline" in tested


def test_to_f16_equals_numpy(sweep):
    got = elementwise(nb.to_f16, np.uint16)(sweep)
    nan = np.isnan(sweep)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = sweep.astype(np.float16).view(np.uint16)
    mismatch = (got != expected) & ~nan
    assert not mismatch.any(), \
        f"to_f16 differs from NumPy at {sweep.view(np.uint32)[mismatch][:5].tolist()} (float32 bits)"
    # NaN in, NaN out (NumPy keeps payload bits, fastinit gives the quiet NaN 0x7E00): compare NaN-ness and sign
    g = got[nan]
    assert np.isnan(g.view(np.float16)).all()
    assert ((g >> 15) == (sweep.view(np.uint32)[nan] >> 31)).all()
    assert ((g & 0x0200) != 0).all()  # quiet


def test_the_sweep_reaches_the_hard_cases(sweep):
    # a guard on the test itself: the rounding edges are in the sweep
    with np.errstate(invalid="ignore"):  # signalling NaNs
        x = sweep.astype(np.float64)
    for v in (65504.0, 65520.0, 2.0**-24, 2.0**-25, 3 * 2.0**-25, 0.0, np.inf):
        assert (x == v).any() and (x == -v).any()
    assert np.isnan(x).sum() >= 12
    assert ((sweep.view(np.uint32) & 0xFFFF) == 0x8000).sum() >= 2**17  # every bfloat16 tie, both signs
