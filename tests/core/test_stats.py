"""The fills draw from the distributions they name: goodness of fit, moments, independence.

Significance and power.  Every test uses fixed seeds and streams, so it is deterministic:
it was run and passes, and it fails only if the code changes.  Each criterion is set at
significance alpha = 1e-4 (two-sided where that applies), i.e. it would reject a correct
generator for one seed in 10^4, so a failure here is a real defect, not bad luck.  On
n = 2^22 samples the criteria have high power against a 1% error:

* KS (float32/float64): critical D = 1.09e-3 (kstwo.isf(1e-4, 2^22)).  A 1% std error moves
  the normal CDF by up to 0.01 * max|z phi(z)| = 2.4e-3, over twice that (observed: 2.8e-3).
* chi-square over 50 bins (float16/bfloat16): critical 94.6 on 49 dof; a 1% std error
  gives a noncentrality of about n * 0.01^2 * 1.9 = 800 (observed: 940).
* moments: a 1% std error shifts the variance of the normal by 0.0201, 29 standard errors.
* correlations: |r| < 5/sqrt(n), five standard errors (alpha 6e-7).

``test_the_criteria_detect_a_one_percent_error`` applies the same criteria to deliberately
wrong samples (std * 1.01, a uniform shifted by 1% of its width) and checks that they fail.
"""

import functools

import ml_dtypes
import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

import fastinit
from fastinit._buffers import BFLOAT16

from ..conftest import DTYPES, FILLS, bits

N = 2**22
ALPHA = 1e-4
Z = stats.norm.isf(ALPHA / 2)  # 3.89 standard errors: two-sided alpha = 1e-4
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
HALVES = [F16, BFLOAT16]
SEED = 2026


# ---- samples and reference distributions ----------------------------------------------------

@functools.lru_cache(maxsize=16)
def sample(name, dtype, params=None, seed=SEED, stream="stats", n=N):
    """n elements of fill ``name`` (FILLS parameters unless ``params``: a tuple of items), read-only."""
    fn, default = FILLS[name]
    kw = dict(params) if params is not None else default
    out = fn(np.empty(n, dtype), **kw, seed=seed, stream=stream)
    out.flags.writeable = False
    return out


class Reference:
    """A scipy.stats distribution with a fast vectorized CDF for 2^22-point KS tests.

    SciPy's frozen ``cdf`` costs 0.1 us (norm) to 1.3 us (truncnorm) per point, seconds per
    test; these use ``ndtr`` directly and are checked against SciPy in
    test_the_fast_cdfs_are_scipys.  Everything else (ppf, mean, expect) is SciPy's.
    """

    def __init__(self, scipy_dist, cdf):
        self.scipy, self.cdf = scipy_dist, cdf

    def __getattr__(self, attr):
        return getattr(self.scipy, attr)


def uniform(low, high):
    return Reference(stats.uniform(low, high - low), lambda x: np.clip((x - low) / (high - low), 0.0, 1.0))


def norm(mean, std):
    return Reference(stats.norm(mean, std), lambda x: ndtr((x - mean) / std))


def truncnorm(alpha, beta, loc, scale):
    def cdf(x):
        z = np.clip((x - loc) / scale, alpha, beta)
        if alpha > 0:  # an upper tail: survival functions keep the digits
            return (ndtr(-alpha) - ndtr(-z)) / (ndtr(-alpha) - ndtr(-beta))
        return (ndtr(z) - ndtr(alpha)) / (ndtr(beta) - ndtr(alpha))

    ref = Reference(stats.truncnorm(alpha, beta, loc=loc, scale=scale), cdf)
    ref.lo, ref.hi = loc + alpha * scale, loc + beta * scale
    return ref


def reference(name, params=None):
    p = dict(params) if params is not None else FILLS[name][1]
    if name == "uniform":
        return uniform(p["low"], p["high"])
    if name == "normal":
        return norm(p["mean"], p["std"])
    mean, std, a, b = p["mean"], p["std"], p["a"], p["b"]
    if p.get("bounds") == "std":
        a, b = mean + a * std, mean + b * std
    return truncnorm((a - mean) / std, (b - mean) / std, mean, std)


def params_of(name, **changes):
    return tuple({**FILLS[name][1], **changes}.items())


@pytest.mark.parametrize("ref", [
    uniform(-0.5, 1.5), norm(0.25, 2.0), *[truncnorm(alpha, beta, 0.5, 2.0) for alpha, beta in
                                           [(-1.6, 2.4), (3.0, 4.0), (-5.5, -5.0), (-13.0, -12.0), (-2.0, 2.0)]]])
def test_the_fast_cdfs_are_scipys(ref):
    x = np.linspace(ref.ppf(0) - 1, ref.ppf(1) + 1, 2001) if np.isfinite(ref.ppf(0)) else np.linspace(-8, 8, 2001)
    np.testing.assert_allclose(ref.cdf(x), ref.scipy.cdf(x), rtol=1e-9, atol=1e-12)


# ---- goodness of fit ------------------------------------------------------------------------

KS_CRITICAL = stats.kstwo.isf(ALPHA, N)  # 1.09e-3 = 2.23/sqrt(N)


def ks_statistic(x, dist):
    """Kolmogorov-Smirnov D = sup |F_n - F| of the sample x against dist (ties handled)."""
    x = np.sort(x).astype(np.float64)  # sorting float32 is 5x faster than float64
    f = dist.cdf(x)
    n = len(x)
    return max(float((np.arange(1, n + 1) / n - f).max()), float((f - np.arange(n) / n).max()))


def test_ks_statistic_is_scipys():
    x = sample("normal", F32)[:10**5]
    ref = reference("normal")
    assert ks_statistic(x, ref) == pytest.approx(stats.kstest(x.astype(np.float64), ref.scipy.cdf).statistic,
                                                 rel=1e-9)


def chi_square(x, dist, dtype, bins=50):
    """Chi-square of a float16/bfloat16 sample over ``bins`` near-equiprobable bins.

    The bin edges are representable values e_k (dist's k/bins quantiles rounded to dtype),
    so every sample value lies in one bin unambiguously.  A value rounds to e_k or above
    exactly when the unrounded value is at least the midpoint between e_k and the
    representable value below it, so the expected probability of each bin is the reference
    CDF between consecutive midpoints: the test accounts for the rounding exactly.
    """
    edges = dist.ppf(np.arange(1, bins) / bins).astype(dtype)
    below = np.nextafter(edges, np.array(-np.inf, dtype))
    edges, below = edges.astype(np.float64), below.astype(np.float64)
    assert (np.diff(edges) > 0).all(), "bins too narrow for the dtype"
    cuts = (edges + below) / 2  # exact in float64
    expected = len(x) * np.diff(np.concatenate([[0.0], dist.cdf(cuts), [1.0]]))
    observed = np.bincount(np.searchsorted(edges, x.astype(np.float64), side="right"), minlength=bins)
    return float(((observed - expected) ** 2 / expected).sum())


CHI2_CRITICAL = stats.chi2.isf(ALPHA, 49)  # 94.6


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", FILLS)
def test_kolmogorov_smirnov(name, dtype):
    d = ks_statistic(sample(name, dtype), reference(name))
    assert d < KS_CRITICAL, f"{name} {dtype}: KS D = {d:.3g} >= {KS_CRITICAL:.3g}"


@pytest.mark.parametrize("dtype", HALVES, ids=str)
@pytest.mark.parametrize("name", FILLS)
def test_chi_square_of_the_half_dtypes(name, dtype):
    chi2 = chi_square(sample(name, dtype), reference(name), dtype)
    assert chi2 < CHI2_CRITICAL, f"{name} {dtype}: chi-square {chi2:.1f} >= {CHI2_CRITICAL:.1f}"


# ---- moments --------------------------------------------------------------------------------

def _moment_stats(m):
    """(mean, variance, skewness, excess kurtosis) from raw moments m[0..4]."""
    c2 = m[2] - m[1] ** 2
    c3 = m[3] - 3 * m[1] * m[2] + 2 * m[1] ** 3
    c4 = m[4] - 4 * m[1] * m[3] + 6 * m[1] ** 2 * m[2] - 3 * m[1] ** 4
    return np.array([m[1], c2, c3 / c2**1.5, c4 / c2**2 - 3])


@functools.lru_cache(maxsize=None)
def _expected_moments(name, params=None):
    """Expected statistics and their standard errors on N samples, for the standardized variable.

    Standard errors by the delta method: the raw sample moments (1..4) of y = (x - mu)/sigma
    have covariance (E y^(i+j) - E y^i E y^j)/N, mapped through the Jacobian of _moment_stats.
    """
    dist = reference(name, params)
    mu, sd = dist.mean(), dist.std()
    m = np.array([1.0] + [dist.expect(lambda v, k=k: ((v - mu) / sd) ** k) for k in range(1, 9)])
    cov = np.array([[m[i + j] - m[i] * m[j] for j in range(1, 5)] for i in range(1, 5)]) / N
    jac = np.empty((4, 4))
    for j in range(4):
        h = np.zeros(5)
        h[j + 1] = 1e-6
        jac[:, j] = (_moment_stats(m[:5] + h) - _moment_stats(m[:5] - h)) / 2e-6
    return _moment_stats(m[:5]), np.sqrt(np.diag(jac @ cov @ jac.T)), mu, sd


def moment_zscores(x, name, params=None):
    expected, se, mu, sd = _expected_moments(name, params)
    y = (x.astype(np.float64) - mu) / sd
    y2 = y * y
    observed = _moment_stats(np.array([1.0, y.mean(), y2.mean(), (y2 * y).mean(), (y2 * y2).mean()]))
    return (observed - expected) / se


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", FILLS)
def test_mean_variance_skewness_kurtosis(name, dtype):
    z = moment_zscores(sample(name, dtype), name)
    # float16/bfloat16 rounding adds about ulp^2/12 to the variance: ~1% of a standard error here
    assert (np.abs(z) < Z).all(), f"{name} {dtype}: (mean, var, skew, kurt) off by {np.round(z, 2)} SE"


# ---- power: the same criteria reject a 1% error ------------------------------------------------

WRONG = {
    "uniform": params_of("uniform", low=-0.48, high=1.52),  # shifted by 1% of the width
    "normal": params_of("normal", std=2.02),  # std * 1.01
    "trunc_normal": params_of("trunc_normal", std=1.01),  # std * 1.01, same [a, b]
}


@pytest.mark.parametrize("name", FILLS)
def test_the_criteria_detect_a_one_percent_error(name):
    ref = reference(name)
    wrong32 = sample(name, F32, WRONG[name])
    assert ks_statistic(wrong32, ref) > KS_CRITICAL
    assert chi_square(sample(name, BFLOAT16, WRONG[name]), ref, BFLOAT16) > CHI2_CRITICAL
    assert chi_square(sample(name, F16, WRONG[name]), ref, F16) > CHI2_CRITICAL
    assert (np.abs(moment_zscores(wrong32, name)) >= Z).any()


# ---- independence -----------------------------------------------------------------------------

def assert_uncorrelated(x, y, what=""):
    """|Pearson r| < 5/sqrt(n): r of independent samples has sd 1/sqrt(n), so 5 sd (alpha 6e-7)."""
    r = float(np.corrcoef(x, y)[0, 1])
    assert abs(r) < 5 / np.sqrt(len(x)), f"{what}: r = {r:.2e}"


PAIRS = {
    "streams 7 and 8": (dict(stream=7), dict(stream=8)),
    "streams 0 and 2**32": (dict(stream=0), dict(stream=2**32)),
    "a.weight and b.weight": (dict(stream="a.weight"), dict(stream="b.weight")),
    "seeds 2026 and 2027": (dict(seed=2026), dict(seed=2027)),
    "seeds 0 and 2**32": (dict(seed=0), dict(seed=2**32)),
}


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", FILLS)
@pytest.mark.parametrize("pair", PAIRS)
def test_neighbouring_streams_and_seeds_are_uncorrelated(pair, name, dtype):
    first, second = PAIRS[pair]
    x = sample(name, dtype, **first)
    y = sample(name, dtype, **second)
    assert not np.array_equal(x, y)
    assert_uncorrelated(x, y, pair)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", FILLS)
def test_elements_of_a_stream_are_uncorrelated(name, dtype):
    # lag 16: the next word of the same Philox block (float32), the sin of the same Box-Muller
    # pair (float64); lag 32: the float64 group; lag 64: the float32 group
    x = sample(name, dtype)
    for lag in (1, 2, 16, 32, 64, 1000):
        assert_uncorrelated(x[:-lag], x[lag:], f"lag {lag}")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_box_muller_partners_are_independent_not_just_uncorrelated(dtype):
    # element i and its partner i + 16 are cos and sin of one Box-Muller pair (docs/streams.md:
    # j = 0, 2 of a float32 group and h = 0 of a float64 one).  They share the radius, so their
    # squares would correlate if the pair were wired wrongly (the same angle twice, say);
    # for a true pair they are independent normals.
    x = sample("normal", dtype) - FILLS["normal"][1]["mean"]
    i = np.arange(N - 16)
    cos = i[(i // 16) % 2 == 0]  # j in {0, 2} of a float32 group, h = 0 of a float64 one
    assert_uncorrelated(x[cos], x[cos + 16], "x, partner")
    assert_uncorrelated(x[cos] ** 2, x[cos + 16] ** 2, "x^2, partner^2")


# ---- the truncated normal ---------------------------------------------------------------------

# [-2, 2] standard deviations (JAX's truncated_normal): mass 0.954, the float32 family's mixture
# (docs/streams.md), 4.6% of the elements drawn a second time; std * 1.01 (the 1% error the
# criteria detect, above) is refused as it is for the FILLS cases
MIXTURE = (("mean", 0.5), ("std", 2.0), ("a", -2.0), ("b", 2.0), ("bounds", "std"))


@pytest.mark.parametrize("wrong", [False, True])
@pytest.mark.parametrize("dtype", [F32, BFLOAT16, F16], ids=str)
def test_trunc_normal_mixture_has_the_truncated_law(dtype, wrong):
    params = tuple((k, v * 1.01 if wrong and k == "std" else v) for k, v in MIXTURE)
    x, ref = sample("trunc_normal", dtype, params), reference("trunc_normal", MIXTURE)
    stat, critical = (ks_statistic(x, ref), KS_CRITICAL) if dtype == F32 else \
        (chi_square(x, ref, dtype), CHI2_CRITICAL)
    assert (stat > critical) == wrong, f"{dtype} wrong={wrong}: {stat:.4g} vs critical {critical:.4g}"


# float16 outputs need std <= 65504 (its largest value; test_errors), so no 1e10 there
STD_DTYPES = [(std, dtype) for std in (1e-10, 1e-3, 1.0, 1e3, 1e10) for dtype in DTYPES if std < 65504 or dtype != F16]


@pytest.mark.parametrize("std, dtype", STD_DTYPES, ids=str)
@pytest.mark.parametrize("mean, a, b", [(0.0, -2.0, 2.0), (0.0, -1.0, 1.0), (0.0, -0.0123, 0.0123), (0.5, 0.3, 0.7)])
def test_trunc_normal_never_leaves_its_interval(mean, a, b, std, dtype):
    x = fastinit.trunc_normal_(np.empty(2**20, dtype), mean, std, a, b, seed=SEED, stream="bounds")
    x = x.astype(np.float64)
    assert np.isfinite(x).all()
    assert x.min() >= a and x.max() <= b, f"[{x.min()!r}, {x.max()!r}] not in [{a}, {b}]"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_trunc_normal_at_a_tiny_std_has_no_outliers(dtype):
    # torch.nn.init.trunc_normal_(std=1e-10, a=-2, b=2) emits values near +-2: 10^10-sigma outliers.
    # Here z = Phi^-1(u) with u >= 2^-24 (float64: 2^-53), so |z| <= 5.3 (8.2): |x| <= 6e-10 (9e-10)
    x = fastinit.trunc_normal_(np.empty(N, dtype), 0.0, 1e-10, -2.0, 2.0, seed=SEED, stream="tiny")
    bound = 1e-10 * (9 if dtype == F64 else 6)
    assert np.abs(x.astype(np.float64)).max() <= bound


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_trunc_normal_at_a_tiny_std_is_the_normal(dtype):
    x = fastinit.trunc_normal_(np.empty(N, dtype), 0.0, 1e-10, -2.0, 2.0, seed=SEED, stream="tiny")
    assert ks_statistic(x, norm(0.0, 1e-10)) < KS_CRITICAL


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_trunc_normal_at_a_huge_std_is_uniform(dtype):
    # N(0, 1e10^2) on [-1, 1]: its density varies by 1e-20 across the interval, so U(-1, 1)
    x = fastinit.trunc_normal_(np.empty(N, dtype), 0.0, 1e10, -1.0, 1.0, seed=SEED, stream="huge")
    assert ks_statistic(x, uniform(-1.0, 1.0)) < KS_CRITICAL


TAILS = [
    dict(mean=0.5, std=2.0, a=3.0, b=4.0, bounds="std"),  # [3 sigma, 4 sigma]
    dict(mean=0.5, std=2.0, a=0.5 + 2.0 * 3, b=0.5 + 2.0 * 4),  # the same, absolute
    dict(mean=0.0, std=1.0, a=-5.5, b=-5.0),
    dict(mean=-1.0, std=0.01, a=-1.055, b=-1.05),  # [-5.5, -5] sigma away from 0
]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("params", TAILS, ids=lambda p: f"{p['a']}..{p['b']}{' sigma' if 'bounds' in p else ''}")
def test_trunc_normal_in_a_tail(params, dtype):
    x = sample("trunc_normal", dtype, tuple(params.items()))
    dist = reference("trunc_normal", tuple(params.items()))
    assert ks_statistic(x, dist) < KS_CRITICAL
    assert float(x.min()) >= dist.lo and float(x.max()) <= dist.hi


def test_trunc_normal_far_in_the_tail_in_float64():
    # [-13, -12] sigma holds 1.8e-33: refused for float32 (test_errors), exact for float64
    params = (("mean", 0.0), ("std", 1.0), ("a", -13.0), ("b", -12.0))
    x = sample("trunc_normal", F64, params)
    assert ks_statistic(x, reference("trunc_normal", params)) < KS_CRITICAL


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mean, std, a, b", [(0.1, 0.3, -2.0, 2.0), (0.5, 2.0, -1.5, 2.5), (-3.0, 0.05, 3.0, 4.0)])
def test_bounds_std_is_the_absolute_bounds_mean_plus_a_std(mean, std, a, b, dtype):
    kw = dict(seed=SEED, stream="bounds")
    in_std = fastinit.trunc_normal_(np.empty(4099, dtype), mean, std, a, b, bounds="std", **kw)
    absolute = fastinit.trunc_normal_(np.empty(4099, dtype), mean, std, mean + a * std, mean + b * std, **kw)
    assert np.array_equal(bits(in_std), bits(absolute))


# ---- uniform: always inside [low, high] ------------------------------------------------------------

def inward(low, high, dtype):
    """The dtype values nearest low and high inside [low, high] (independently of fastinit)."""
    values = np.array([low, high]).astype(dtype)
    if float(values[0]) < low:
        values[0] = np.nextafter(values[0], np.array(np.inf, dtype))
    if float(values[1]) > high:
        values[1] = np.nextafter(values[1], np.array(-np.inf, dtype))
    return float(values[0]), float(values[1])


BOUNDS = {
    F32: [(0.0, 1.0), (-0.1, 0.7), (-0.0123, 0.0123), (1e-3, 5e3), (-3e37, 3e37)],
    F64: [(0.0, 1.0), (-0.1, 0.7), (-0.0123, 0.0123), (1e-3, 5e3), (-1e307, 1e307)],
    F16: [(0.0, 1.0), (-0.1, 0.7), (-0.0123, 0.0123), (1e-3, 5e3), (-65504.0, 65504.0)],
    BFLOAT16: [(0.0, 1.0), (-0.1, 0.7), (-0.0123, 0.0123), (1e-3, 5e3), (-1e38, 1e38)],
}


@pytest.mark.parametrize("dtype, low, high", [(d, lo, hi) for d in DTYPES for lo, hi in BOUNDS[d]], ids=str)
def test_uniform_stays_inside_low_high(dtype, low, high):
    x = fastinit.uniform_(np.empty(N, dtype), low, high, seed=SEED, stream="bounds").astype(np.float64)
    assert x.min() >= low and x.max() <= high, f"[{x.min()!r}, {x.max()!r}] not in [{low}, {high}]"
    if dtype in HALVES and (low, high) in [(-0.1, 0.7), (-0.0123, 0.0123)]:
        # values that round past a bound are clamped to the bound, not further in, so the bounds
        # are hit: the half-ulp next to each bound holds >= 3.8e-5 of the mass here (160+ samples)
        assert (x.min(), x.max()) == inward(low, high, dtype)


def test_uniform_bfloat16_with_unrepresentable_bounds_is_the_rounded_float32_stream():
    # inside [lo', hi'] the values are the float32 stream rounded; only what rounds outside is clamped
    f32 = fastinit.uniform_(np.empty(N, F32), -0.0123, 0.0123, seed=SEED, stream="bounds")
    bf = fastinit.uniform_(np.empty(N, BFLOAT16), -0.0123, 0.0123, seed=SEED, stream="bounds")
    lo, hi = inward(-0.0123, 0.0123, BFLOAT16)
    rounded = f32.astype(BFLOAT16).astype(np.float64)
    np.testing.assert_array_equal(bf.astype(np.float64), np.clip(rounded, lo, hi))
    assert (rounded > hi).sum() > 100  # the clamp was exercised


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("value", [0.375, -2.5, 0.0, 1e-3])
def test_uniform_with_low_equal_to_high_is_the_constant(dtype, value):
    value = float(np.array(value).astype(dtype))  # a representable value (else: test_errors)
    x = fastinit.uniform_(np.empty(1000, dtype), value, value, seed=SEED, stream="const")
    assert np.array_equal(bits(x), bits(np.full(1000, value, dtype)))


def test_bfloat16_helpers_are_ml_dtypes():
    # the test's own tools: nextafter on bfloat16 steps one representable value
    one = np.array(1.0, BFLOAT16)
    assert float(np.nextafter(one, np.array(-np.inf, BFLOAT16))) == 1 - 2**-8
    assert BFLOAT16 == np.dtype(ml_dtypes.bfloat16)
