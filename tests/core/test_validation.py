"""Bad input the fuzzing of issue 11 found, and the representability policy: every case is a
TypeError/ValueError naming the argument the caller passed, raised before a byte is written
(poisoned buffers with guards), and no fill or scheme ever writes inf (fastinit/_validate.py)."""

import math
import re

import numpy as np
import pytest

import fastinit
from fastinit import _validate, schemes
from fastinit._validate import BFLOAT16, Z_MAX
from fastinit.orthogonal import delta_orthogonal_, orthogonal_, unitary_

from ..conftest import DTYPES, POISON, poisoned

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
HUGE = 10**400  # a Python int float() cannot convert: OverflowError before this was checked
KW = dict(seed=11, stream="validation")

# (id, fn, positional shape, fixed kwargs, the numeric parameter under test)
NUMERIC = [
    ("uniform.low", fastinit.uniform_, (4, 4), dict(high=1.0), "low"),
    ("uniform.high", fastinit.uniform_, (4, 4), dict(low=0.0), "high"),
    ("normal.mean", fastinit.normal_, (4, 4), {}, "mean"),
    ("normal.std", fastinit.normal_, (4, 4), {}, "std"),
    ("trunc_normal.mean", fastinit.trunc_normal_, (4, 4), {}, "mean"),
    ("trunc_normal.std", fastinit.trunc_normal_, (4, 4), {}, "std"),
    ("trunc_normal.a", fastinit.trunc_normal_, (4, 4), dict(b=1e300), "a"),
    ("trunc_normal.b", fastinit.trunc_normal_, (4, 4), {}, "b"),
    ("constant.value", fastinit.constant_, (4, 4), {}, "value"),
    ("variance_scaling.scale", schemes.variance_scaling_, (4, 4), {}, "scale"),
    ("xavier_uniform.gain", schemes.xavier_uniform_, (4, 4), {}, "gain"),
    ("xavier_normal.gain", schemes.xavier_normal_, (4, 4), {}, "gain"),
    ("kaiming_uniform.a", schemes.kaiming_uniform_, (4, 4), {}, "a"),
    ("kaiming_normal.a", schemes.kaiming_normal_, (4, 4), {}, "a"),
    ("identity.gain", schemes.identity_, (4, 4), {}, "gain"),
    ("hf_normal.initializer_range", schemes.hf_normal_, (4, 4), {}, "initializer_range"),
    ("relu_bias.value", schemes.relu_bias_, (4,), {}, "value"),
    ("lstm_forget_bias.value", schemes.lstm_forget_bias_, (8,), {}, "value"),
    ("sparse.std", schemes.sparse_, (4, 4), dict(sparsity=0.5), "std"),
    ("sparse.sparsity", schemes.sparse_, (4, 4), {}, "sparsity"),
    ("orthogonal.gain", orthogonal_, (4, 4), {}, "gain"),
    ("delta_orthogonal.gain", delta_orthogonal_, (4, 4, 3), {}, "gain"),
]


def assert_untouched(whole):
    assert (np.ascontiguousarray(whole).view(np.uint8) == POISON).all(), "bytes were written before the error"


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("case", NUMERIC, ids=[c[0] for c in NUMERIC])
def test_ints_beyond_float_range_are_a_value_error_naming_the_parameter(case, sign):
    _, fn, shape, fixed, name = case
    whole, out = poisoned(shape, F32)
    with pytest.raises(ValueError, match=rf"^{name} must be finite; got -?1000.*\(401 digits\), beyond the float64"):
        fn(out, **fixed, **{name: sign * HUGE}, **KW)
    assert_untouched(whole)


def test_unitary_gain_beyond_float_range():
    whole, out = poisoned((4, 4), np.complex64)
    with pytest.raises(ValueError, match=r"^gain must be finite; got 1000"):
        unitary_(out, HUGE, **KW)
    assert_untouched(whole)


def test_seed_beyond_64_bits_names_seed_briefly():
    whole, out = poisoned((4, 4), F32)
    with pytest.raises(ValueError, match=r"^seed must be in \[0, 2\*\*64\); got 1000.*\(401 digits\)$"):
        fastinit.normal_(out, seed=HUGE, stream=0)
    assert_untouched(whole)


STREAM_USERS = [
    ("normal", lambda out, **kw: fastinit.normal_(out, **kw)),
    ("constant", lambda out, **kw: fastinit.constant_(out, 1.0, **kw)),
    ("xavier_uniform", lambda out, **kw: schemes.xavier_uniform_(out, **kw)),
    ("eye", lambda out, **kw: schemes.eye_(out, **kw)),
    ("sparse", lambda out, **kw: schemes.sparse_(out, 0.9, **kw)),
    ("orthogonal", lambda out, **kw: orthogonal_(out, **kw)),
]


@pytest.mark.parametrize("stream", ["\ud800", "weight\udfff"], ids=["lone-high", "lone-low"])
@pytest.mark.parametrize("name, call", STREAM_USERS, ids=[c[0] for c in STREAM_USERS])
def test_a_stream_utf8_cannot_encode_is_a_value_error_naming_stream(name, call, stream):
    whole, out = poisoned((8, 8), F32)
    with pytest.raises(ValueError, match=r"^stream must be an int in \[0, 2\*\*64\) or a str that UTF-8 can encode; "
                                         r".* has surrogates not allowed at index \d+$"):
        call(out, seed=1, stream=stream)
    assert_untouched(whole)


def test_variance_scaling_blames_scale_and_presets_blame_gain():
    whole, out = poisoned((16, 16), F32)
    for distribution in ("normal", "uniform", "truncated_normal"):
        with pytest.raises(ValueError, match=r"^scale=1e\+300 gives .*: fastinit never writes inf$"):
            schemes.variance_scaling_(out, 1e300, "fan_in", distribution, **KW)
    with pytest.raises(ValueError, match=r"^gain=1e\+100 gives std 2.5e\+99: uniform samples up to"):
        schemes.xavier_uniform_(out, gain=1e100, **KW)
    with pytest.raises(ValueError, match=r"^gain=1e\+100 gives N\("):
        schemes.xavier_normal_(out, gain=1e100, **KW)
    with pytest.raises(ValueError, match=r"^gain=1e\+200 squared \(the variance scale\) overflows float64$"):
        schemes.xavier_normal_(out, gain=1e200, **KW)
    assert_untouched(whole)


def test_kaiming_with_a_huge_slope_names_a_and_calculate_gain_does_not_overflow():
    assert schemes.calculate_gain("leaky_relu", 1e200) == pytest.approx(math.sqrt(2) / 1e200, rel=1e-15)
    assert schemes.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / (1 + 0.2**2))  # torch's formula kept
    whole, out = poisoned((16, 16), F32)
    for fn in (schemes.kaiming_uniform_, schemes.kaiming_normal_):
        with pytest.raises(ValueError, match=r"^a=1e\+200 gives gain 1.414e-200, whose square \(the variance "
                                             r"scale\) underflows float64$"):
            fn(out, a=1e200, **KW)
    assert_untouched(whole)


@pytest.mark.parametrize("sparsity", [0.1, 0.9], ids=["dense-path", "masked-path"])
def test_sparse_validates_std_alike_on_both_paths(sparsity):
    """float16 256x256 with std=1e6 raised on the dense path and wrote 6,080 infinities on the
    masked one; now one check, before the pattern is drawn."""
    whole, out = poisoned((256, 256), F16)
    with pytest.raises(ValueError, match=r"^std=1000000.0 is outside the range of float16"):
        schemes.sparse_(out, sparsity, std=1e6, **KW)
    with pytest.raises(ValueError, match=r"^std=20000.0 gives N\(0.0, 20000.0\^2\) samples up to .* float16"):
        schemes.sparse_(out, sparsity, std=2e4, **KW)
    assert_untouched(whole)
    schemes.sparse_(out, sparsity, std=1e4, **KW)  # 5.77e4 <= 65504
    assert np.isfinite(out.astype(np.float64)).all()


# ---- representability: no fill writes inf ------------------------------------------------

def top(dtype):
    return float(_validate.finfo(dtype).max)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_normal_refuses_std_whose_samples_overflow_and_accepts_the_largest_that_does_not(dtype):
    z = Z_MAX[64 if dtype == F64 else 32]
    if dtype == F16:  # the case: 33 of 1,000 values were inf
        whole, out = poisoned((1000,), dtype)
        with pytest.raises(ValueError, match=r"^std=30000.0 gives N\(0.0, 30000.0\^2\) samples up to \|x\| = "
                                             r"1.731e\+05 \(\|mean\| \+ 5.77 std\), beyond the range of float16"):
            fastinit.normal_(out, std=30000.0, **KW)
        assert_untouched(whole)
    whole, out = poisoned((1 << 16,), dtype)
    with pytest.raises(ValueError, match=r"beyond the range of"):
        fastinit.normal_(out, mean=top(dtype) / 2, std=top(dtype) / (2 * z) * 1.001, **KW)
    assert_untouched(whole)
    std = top(dtype) / z * 0.999  # the largest std allowed, give or take: every value finite
    fastinit.normal_(out, std=std, **KW)
    assert np.isfinite(out.astype(np.float64)).all()
    assert np.abs(out.astype(np.float64)).max() > top(dtype) / 4  # the tails are really reached


# float64's edge is out of reach: scale = std^2 * fan overflows float64 first
@pytest.mark.parametrize("dtype", [F32, F16, BFLOAT16], ids=str)
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_variance_scaling_at_the_edge_of_its_dtype_writes_no_inf(dtype, distribution):
    out = np.empty((256, 4), dtype)  # fan_in 4
    n = 4
    compute = F64 if dtype == F64 else F32
    std = {"normal": top(dtype) / Z_MAX[64 if dtype == F64 else 32],
           "uniform": min(top(dtype), top(compute) / 2) / math.sqrt(3),  # and its width 2 sqrt(3) std
           "truncated_normal": top(dtype) / (2 / schemes.variance.TRUNCATED_STD)}[distribution] * 0.99
    scale = std * std * n
    schemes.variance_scaling_(out, scale, "fan_in", distribution, **KW)
    assert np.isfinite(out.astype(np.float64)).all()
    with pytest.raises(ValueError, match=r"^scale="):
        schemes.variance_scaling_(out, scale * 1.1, "fan_in", distribution, **KW)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_orthogonal_gain_at_the_limit_writes_no_inf_and_beyond_is_refused(dtype):
    """gain 3e38 into float32 wrote 39,000 infinities into a 600 x 600 matrix (intermediate
    products of the blocked Householder overflow first)."""
    compute = np.dtype(np.float64) if dtype == F64 else F32
    limit = min(top(dtype), top(compute) / _validate.ORTHOGONAL_HEADROOM)
    out = np.empty((300, 300), dtype)
    orthogonal_(out, limit, **KW)
    assert np.isfinite(out.astype(np.float64)).all()
    whole, out = poisoned((300, 300), dtype)
    with pytest.raises(ValueError, match=r"^gain=.* (is outside the range of|is too large for) "):
        orthogonal_(out, limit * 1.01, **KW)
    assert_untouched(whole)


@pytest.mark.parametrize("dtype", [F16, BFLOAT16, F32, F64], ids=str)
def test_the_bounded_fills_reach_the_dtype_edge_without_inf(dtype):
    t = top(dtype)
    out = np.empty((1 << 12,), dtype)
    fastinit.uniform_(out, -t / 2, t / 2, **KW)  # width t: within the compute dtype
    fastinit.trunc_normal_(out, 0.0, t, -t, t, **KW)
    fastinit.constant_(out, -t)
    schemes.identity_(out.reshape(64, 64), gain=t)
    assert np.isfinite(out.astype(np.float64)).all()


def test_the_command_line_argument_types():
    import argparse

    assert _validate.int_arg(1)("7") == 7 and _validate.int_arg(0)("0") == 0
    assert _validate.ints_arg(1)("256,1024") == [256, 1024]
    assert _validate.seed_arg("0x10") == 16 and _validate.seed_arg(str(2**64 - 1)) == 2**64 - 1
    for parse, text, says in ((_validate.int_arg(1), "0", "expected an integer >= 1; got '0'"),
                              (_validate.int_arg(1), "2.5", "expected an integer >= 1; got '2.5'"),
                              (_validate.ints_arg(1), "64,,128", "expected comma-separated integers >= 1"),
                              (_validate.seed_arg, str(2**64), "expected an integer in [0, 2**64)"),
                              (_validate.seed_arg, "-1", "expected an integer in [0, 2**64)")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(says)):
            parse(text)


def test_float_dtype_and_real_lower_bound():
    assert _validate.float_dtype("bfloat16") == BFLOAT16 and _validate.float_dtype(np.float16) == F16
    for bad in ("int32", "no such type", np.complex64):
        with pytest.raises(TypeError, match=r"dtype must be one of float16, bfloat16 \(ml_dtypes\), float32, float64"):
            _validate.float_dtype(bad)
    assert _validate.real(0, "std", lo=0) == 0.0
    with pytest.raises(ValueError, match=r"std must be >= 0; got -0.5"):
        _validate.real(-0.5, "std", lo=0)


@pytest.mark.parametrize("fn, out, kwargs, exc, says", [
    (orthogonal_, np.zeros((4, 4), np.complex64), {}, TypeError,
     "out has complex dtype complex64: orthogonal_ fills real (semi-)orthogonal matrices; use fastinit.orthogonal.unitary_"),
    (delta_orthogonal_, np.zeros((4, 4, 3), np.complex64), {}, TypeError,
     "out has complex dtype complex64: delta_orthogonal_ fills real"),
    (unitary_, np.zeros((4, 4), np.float32), {}, TypeError,
     "out has real dtype float32: unitary_ fills complex matrices (complex64, complex128); use fastinit.orthogonal.orthogonal_"),
    (orthogonal_, np.zeros((4, 4), np.int32), {}, TypeError,
     "out has dtype int32; orthogonal_ expects one of float16, bfloat16 (ml_dtypes), float32, float64"),
    (unitary_, np.zeros((4, 4), np.int32), {}, TypeError, "out has dtype int32; unitary_ expects complex64 or complex128"),
    (orthogonal_, np.zeros((4, 4), np.float32), {"layout": "tf"}, ValueError, "layout must be 'torch' or 'jax'; got 'tf'"),
    (orthogonal_, np.zeros((4, 4), np.float32), {"batch_dims": 1.0}, TypeError, "batch_dims must be an int >= 0; got float"),
    (orthogonal_, np.zeros((4, 4), np.float32), {"batch_dims": 1}, ValueError,
     "orthogonal_ needs at least 2 dims per matrix; got out.shape=(4, 4) with batch_dims=1"),
    (unitary_, np.zeros((4, 4), np.complex64), {"gain": 1e300}, ValueError, "gain=1e+300 is outside the range of complex64"),
    (delta_orthogonal_, np.zeros((4, 4), np.float32), {}, ValueError, "requires a 3D, 4D or 5D shape"),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_orthogonal_checks_name_the_argument_and_write_nothing(fn, out, kwargs, exc, says):
    out[...] = 7
    with pytest.raises(exc, match=re.escape(says)):
        fn(out, **kwargs, **KW)
    assert (out == 7).all()
