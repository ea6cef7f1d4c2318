"""fastinit's own rounding of parameters (fastinit._rounding), held against exact arithmetic.

Nothing here trusts a third-party conversion: the references are exact rational arithmetic
(tests/naive.py) and, for the 16-bit formats, the sorted table of every finite value.
"""

import bisect
import math
import struct
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import fastinit
import fastinit.numba as fnb
from fastinit import _rounding
from fastinit._rounding import DOWN, NEAREST, UP

from .. import naive

BF16 = np.dtype(ml_dtypes.bfloat16)
FMT = {"float16": (np.dtype(np.float16), 11, 5), "bfloat16": (BF16, 8, 8), "float32": (np.dtype(np.float32), 24, 8)}
MODES = {NEAREST: "nearest", DOWN: "down", UP: "up"}


def _table(p, k):
    """Exact values of every finite non-negative pattern of a 16-bit format, with its bits."""
    frac, bias = p - 1, 2 ** (k - 1) - 1
    out = []
    for e in range(2 ** k - 1):
        for m in range(2 ** frac):
            v = Fraction(m, 2 ** frac) * Fraction(2) ** (1 - bias) if e == 0 else \
                (1 + Fraction(m, 2 ** frac)) * Fraction(2) ** (e - bias)
            out.append((v, (e << frac) | m))
    return out


def _from_table(table, x, mode):
    """The table's answer for float x: nearest (ties to the even pattern), or down/up."""
    values = [v for v, _ in table]
    a, neg = abs(Fraction(x)), x < 0
    i = bisect.bisect_left(values, a)
    if i < len(values) and values[i] == a:
        bits = table[i][1]
    elif i == len(values):  # above the largest value
        top = values[-1] + (values[-1] - values[-2]) / 2
        to_inf = (a >= top) if mode == "nearest" else (mode == ("down" if neg else "up"))
        return "inf" if to_inf else table[-1][1] | (0x8000 if neg else 0)
    else:
        lo, hi = table[i - 1], table[i]
        if mode == "nearest":
            d_lo, d_hi = a - lo[0], hi[0] - a
            bits = (lo if d_lo < d_hi or (d_lo == d_hi and lo[1] % 2 == 0) else hi)[1]
        else:
            bits = (lo if (mode == "down") != neg else hi)[1]
    return bits | (0x8000 if neg else 0)


def _inputs(fmt, n=3000, seed=0):
    """float64 inputs around every kind of case of the format: random values over its range,
    exact midpoints of neighbours and the float64s just beside them, subnormals, the edges."""
    dt, p, k = FMT[fmt]
    rng = np.random.default_rng(seed)
    bias = 2 ** (k - 1) - 1
    xs = list(rng.uniform(-1, 1, n) * 2.0 ** rng.integers(-bias - p - 2, bias + 1, n))
    for _ in range(n // 3):  # a midpoint between two neighbours, and the float64s next to it
        e = int(rng.integers(1 - bias - p + 1, bias))
        m = int(rng.integers(0, 2 ** (p - 1)))
        q = 2.0 ** (max(e, 1 - bias) - p + 1)
        mid = (2 ** (p - 1) + m) * q + q / 2 if e >= 1 - bias else (m + 0.5) * q
        xs += [mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf), -mid]
    largest = _rounding.largest(dt)
    ulp = largest - float(np.nextafter(dt.type(largest), dt.type(0))) if fmt != "bfloat16" else 2.0 ** (127 - 7)
    xs += [0.0, -0.0, largest, -largest, largest + ulp / 2, np.nextafter(largest + ulp / 2, 0),
           2.0 ** (1 - bias - p + 1), 2.0 ** (1 - bias - p), 2.0 ** (1 - bias - p) * 1.5, 5e-324, -5e-324,
           1 + 2 ** -8 + 2 ** -40]
    return [float(x) for x in xs]


def _bits_of(value, fmt, x):
    """Bits of the reference's answer for input x (a zero result keeps x's sign, as IEEE)."""
    dt, p, k = FMT[fmt]
    sign = (1 << (k + p - 1)) if struct.pack("<d", x)[7] & 0x80 else 0
    if value in (float("inf"), float("-inf")):
        return ((2 ** k - 1) << (p - 1)) | sign
    return _exact_bits(value, p, k) | sign


def _exact_bits(value, p, k):
    """Bits of an exactly representable Fraction (the reference's answer) by construction."""
    frac, bias = p - 1, 2 ** (k - 1) - 1
    sign = 1 if value < 0 else 0
    a = abs(Fraction(value))
    if a == 0:
        return 0
    e = 1 - bias
    while a >= Fraction(2) ** (e + 1):
        e += 1
    m = a / Fraction(2) ** (e - frac)
    assert m.denominator == 1
    m = int(m)
    field = 0 if m < 2 ** frac else e + bias
    return (sign << (k + frac)) | (field << frac) | (m - (2 ** frac if field else 0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
def test_16_bit_rounding_equals_the_table_of_every_value(fmt, mode):
    dt, p, k = FMT[fmt]
    table = _table(p, k)
    inf = (2 ** k - 1) << (p - 1)
    for x in _inputs(fmt, n=600):
        want = _from_table(table, x, MODES[mode])
        if want == "inf":
            want = inf | (0x8000 if x < 0 else 0)
        got = _rounding.to_bits(x, dt, mode)
        if want & 0x7FFF == 0:  # a zero keeps x's sign
            want = 0x8000 if struct.pack("<d", x)[7] & 0x80 else 0
        assert got == want, (fmt, MODES[mode], x.hex(), hex(got), hex(want))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FMT)
def test_rounding_equals_exact_rational_arithmetic(fmt, mode):
    dt, p, k = FMT[fmt]
    for x in _inputs(fmt, n=1200):
        want = _bits_of(naive.rounded(x, p, k, MODES[mode]), fmt, x)
        assert _rounding.to_bits(x, dt, mode) == want, (fmt, MODES[mode], x.hex())


@pytest.mark.parametrize("fmt", FMT)
def test_numba_compiles_the_same_rounding(fmt):
    dt, p, k = FMT[fmt]
    xs = _inputs(fmt, n=500, seed=1)
    for mode in MODES:
        for x in xs:
            py = _rounding.to_bits(x, dt, mode)
            nb = int(fnb._rounded(x, p, k, mode))
            assert nb == py, (fmt, mode, x.hex())


def test_inf_nan_and_exact_values():
    assert _rounding.to_bits(float("inf"), BF16) == 0x7F80
    assert _rounding.to_bits(float("-inf"), np.float16) == 0xFC00
    assert _rounding.to_bits(float("nan"), np.float32) == 0x7FC00000
    for fmt, (dt, p, k) in FMT.items():
        assert _rounding.from_bits(_rounding.to_bits(_rounding.largest(dt), dt), dt) == _rounding.largest(dt)
        for mode in MODES:  # exact values are their own rounding in every mode
            assert _rounding.to_bits(1.5, dt, mode) == _rounding.to_bits(1.5, dt)
    assert _rounding.largest(np.float16) == 65504.0
    assert _rounding.largest(BF16) == (2 - 2 ** -7) * 2.0 ** 127


def test_remembered_roundings_keep_zeros_signs_apart():
    # to_bits remembers its results by the float64's bits: -0.0 == 0.0 as floats, not as bits
    for dt in (np.float32, np.float16, BF16):
        sign = {np.float32: 0x80000000}.get(dt, 0x8000)
        for order in ((0.0, -0.0), (-0.0, 0.0)):  # whichever is rounded first
            _rounding._rounded.cache_clear()
            for _ in range(2):  # the second time from the cache
                for x in order:
                    assert _rounding.to_bits(x, dt) == (sign if math.copysign(1.0, x) < 0 else 0)


# The issue that made rounding ours: ml_dtypes 0.4-0.6 round this through float32 (0x3F80),
# 0.7 once (0x3F81).  fastinit rounds once, on every version, in every path.
TIE_AFTER_FLOAT32 = 1 + 2 ** -8 + 2 ** -40


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_a_bf16_constant_has_one_value_everywhere(backend):
    out = np.empty(100, BF16)
    fastinit.uniform_(out, TIE_AFTER_FLOAT32, TIE_AFTER_FLOAT32, seed=0, stream="c", backend=backend)
    assert (out.view(np.uint16) == 0x3F81).all()
    fastinit.constant_(out, TIE_AFTER_FLOAT32)
    assert (out.view(np.uint16) == 0x3F81).all()
    key = fnb.key(0, "c")
    assert int(fnb.uniform_bf16(key, 5, TIE_AFTER_FLOAT32, TIE_AFTER_FLOAT32)) == 0x3F81


@pytest.mark.parametrize("fmt", FMT)
def test_constant_and_point_uniform_are_the_nearest_value(fmt):
    dt, p, k = FMT[fmt]
    for x in _inputs(fmt, n=60, seed=2):
        if not abs(x) <= _rounding.largest(dt):
            continue
        want = _rounding.to_bits(x, dt)
        view = np.uint16 if dt.itemsize == 2 else np.uint32
        out = np.empty(70, dt)
        fastinit.constant_(out, x)
        assert (out.view(view) == want).all(), x.hex()
        fastinit.uniform_(out, x, x, seed=1, stream="point")
        if want & ~(1 << (k + p - 1)) == 0:  # a zero: its sign follows the kernel's u * 0 + low
            assert (out.astype(np.float64) == 0).all(), x.hex()
        else:
            assert (out.view(view) == want).all(), x.hex()


@pytest.mark.parametrize("fmt", FMT)
def test_clamp_bounds_are_the_inward_values(fmt):
    dt, p, k = FMT[fmt]
    rng = np.random.default_rng(3)
    for _ in range(40):
        lo = float(rng.uniform(-2, 2) * 2.0 ** rng.integers(-20, 4))
        hi = lo + abs(lo) * 2.0 ** -float(rng.integers(p - 3, p + 4))  # an interval about one ulp wide
        try:
            lo_d, hi_d = fastinit.fills._inward(lo, hi, dt)
        except ValueError:  # no value inside: both bounds' inward neighbours cross
            assert _rounding.from_bits(_rounding.to_bits(lo, dt, UP), dt) > hi
            continue
        assert lo <= lo_d <= hi_d <= hi
        assert Fraction(lo_d) == naive.rounded(lo, p, k, "up") and Fraction(hi_d) == naive.rounded(hi, p, k, "down")
        out = fastinit.uniform_(np.empty(4096, dt), lo, hi, seed=4, stream="clamp")
        v = out.astype(np.float64)
        assert lo <= v.min() and v.max() <= hi


@pytest.mark.parametrize("dt", [np.dtype(np.float16), BF16])
def test_float32_to_16_bit_equals_the_kernels(dt):
    """_rounding.f32_to_16 (orthogonal's final rounding) against the kernels' own to_f16/to_bf16:
    normal_ with std=0 rounds its float32 mean in the kernel."""
    rng = np.random.default_rng(5)
    top = _rounding.largest(dt)
    means = np.concatenate([rng.uniform(-1, 1, 200) * 2.0 ** rng.integers(-30, 16, 200),
                            [0.0, 2.0 ** -24, 3 * 2.0 ** -25, 2.0 ** -25, 1 + 2 ** -11, 1 + 2 ** -8]])
    for m in means[np.abs(means) <= top]:
        m32 = np.float32(m)
        out = fastinit.normal_(np.empty(64, dt), float(m32), 0.0, seed=0, stream="m")
        assert (out.view(np.uint16) == _rounding.f32_to_16(np.array([m32]), dt)[0]).all(), float(m32)


@pytest.mark.parametrize("fmt", FMT)
def test_round_array_rounds_once(fmt):
    """_rounding.round_array (float64 arrays: the plan's scaled and copied values) equals the
    scalar rounding, ties after float32 included."""
    dt, p, k = FMT[fmt]
    xs = np.array([x for x in _inputs(fmt, n=400, seed=6) if abs(x) <= _rounding.largest(dt)])
    got = _rounding.round_array(xs, dt).view(np.uint16 if dt.itemsize == 2 else np.uint32)
    want = [_rounding.to_bits(x, dt) for x in xs]
    assert [int(g) for g in got] == want
    assert int(_rounding.round_array(np.array([TIE_AFTER_FLOAT32]), BF16).view(np.uint16)[0]) == 0x3F81
