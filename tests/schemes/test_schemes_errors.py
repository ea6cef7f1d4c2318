"""Bad input to the schemes: a TypeError/ValueError that names the argument, the value and what
is accepted, raised before a byte of ``out`` is written (checked on poisoned buffers).

Where torch has a message for the same mistake (fans of a 1-D tensor, kaiming's mode,
calculate_gain, eye_/dirac_ ranks, dirac_'s groups) fastinit's message starts with torch's.
The common keywords (seed, stream, shard, backend, threads, the buffer) are covered for every
scheme in test_schemes_contract.py.
"""

import re

import numpy as np
import pytest

import fastinit
from fastinit import schemes

from ..conftest import POISON, poisoned

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)
FEWER_THAN_2 = re.escape("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
FAN_BASED = [name for name, s in schemes.REGISTRY.items() if "in_axis" in s.params]
REQUIRED_PARAMS = {"bias_uniform": dict(fan_in=4), "rnn_default": dict(hidden_size=4)}


def is_poisoned(whole):
    return bool((np.ascontiguousarray(whole).view(np.uint8) == POISON).all())


def refused(fn, shape, exc, match, dtype=F32, **kw):
    """``fn(out, **kw)`` raises ``exc`` matching ``match`` and leaves the poisoned ``out`` as it was."""
    whole, out = poisoned(shape, dtype)
    with pytest.raises(exc, match=match):
        fn(out, **kw)
    assert is_poisoned(whole), f"{fn.__name__} wrote into out before raising"


def test_fan_based_schemes_cover_the_presets():
    assert {"variance_scaling", "xavier_uniform", "kaiming_normal", "he_normal", "lecun_uniform", "selu_normal",
            "random_walk_normal", "linear_default", "simple_xavier_uniform"} <= set(FAN_BASED)


@pytest.mark.parametrize("shape", [(), (7,)], ids=str)
@pytest.mark.parametrize("name", FAN_BASED)
def test_fewer_than_two_dims_raise_torchs_error(name, shape):
    """torch's error in torch's layout, JAX's in JAX's (both need 2 dims without explicit axes)."""
    refused(schemes.REGISTRY[name].fn, shape, ValueError, FEWER_THAN_2, seed=0, stream=0)
    refused(schemes.REGISTRY[name].fn, shape, ValueError,
            re.escape(f"Can't compute input and output sizes of a {len(shape)}-dimensional weights tensor with "
                      "default in_axis. Must be at least 2D or specify in_axis explicitly."),
            seed=0, stream=0, layout="jax")


@pytest.mark.parametrize("name", FAN_BASED + ["looks_linear"])
def test_unknown_layout(name):
    refused(schemes.REGISTRY[name].fn, (4, 6), ValueError,
            re.escape("layout must be one of ['torch', 'jax'] ('torch': (out, in, *kernel), 'jax': "
                      "(*kernel, in, out)); got 'oihw'"), seed=0, stream=0, layout="oihw")


@pytest.mark.parametrize("kw, exc, match", [
    (dict(in_axis=2), ValueError, r"in_axis=2 is out of range for a 2-D weight \(axes -2..1\)"),
    (dict(out_axis=(0, -3)), ValueError, r"out_axis=\(0, -3\) is out of range for a 2-D weight"),
    (dict(in_axis=1.0), TypeError, r"in_axis must be an int or a sequence of ints; got float 1.0"),
    (dict(batch_axis=["0"]), TypeError, r"batch_axis must be an int or a sequence of ints; got \['0'\]"),
    (dict(in_axis=0), ValueError, r"in_axis, out_axis and batch_axis must name different axes; got \(0,\), \(0,\)"),
    (dict(batch_axis=1), ValueError, r"must name different axes; got \(1,\), \(0,\) and \(1,\) of a 2-D weight"),
])
@pytest.mark.parametrize("name", ["variance_scaling", "kaiming_uniform", "glorot_normal", "random_walk_normal"])
def test_bad_axes(name, kw, exc, match):
    refused(schemes.REGISTRY[name].fn, (4, 6), exc, match, seed=0, stream=0, **kw)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(mode="fan_sum"), ValueError,
     re.escape("mode must be one of ['fan_in', 'fan_out', 'fan_avg', 'fan_geo_avg']; got 'fan_sum'")),
    (dict(mode="FAN_IN"), ValueError, r"mode must be one of .*; got 'FAN_IN'"),
    (dict(distribution="gaussian"), ValueError,
     re.escape("distribution must be one of ['uniform', 'normal', 'truncated_normal']; got 'gaussian'")),
    (dict(distribution=None), ValueError, r"distribution must be one of .*; got None"),
    (dict(scale=-1.0), ValueError, r"scale must be >= 0; got -1.0"),
    (dict(scale=float("nan")), ValueError, r"scale must be finite; got nan"),
    (dict(scale="2"), TypeError, r"scale must be a real number; got str '2'"),
])
def test_variance_scaling_parameters(kw, exc, match):
    refused(schemes.variance_scaling_, (4, 6), exc, match, seed=0, stream=0, **kw)


@pytest.mark.parametrize("fn", [schemes.kaiming_uniform_, schemes.kaiming_normal_], ids=lambda f: f.__name__)
@pytest.mark.parametrize("kw, match", [
    (dict(mode="fan_avg"), re.escape("Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']")),
    (dict(mode="Fan_Geo_Avg"), re.escape("Mode fan_geo_avg not supported, please use one of ['fan_in', 'fan_out']")),
    (dict(mode=None), re.escape("Mode None not supported")),
    (dict(nonlinearity="mish"), "^Unsupported nonlinearity mish$"),
    (dict(a="0.2"), "^negative_slope 0.2 not a valid number$"),
    (dict(a=True), "^negative_slope True not a valid number$"),
])
def test_kaiming_parameters_raise_torchs_errors(fn, kw, match):
    refused(fn, (4, 6), ValueError, match, seed=0, stream=0, **kw)


def test_kaiming_errors_equal_torch():
    torch = pytest.importorskip("torch")
    for kw in (dict(mode="fan_avg"), dict(nonlinearity="mish"), dict(a="0.2")):
        with pytest.raises(ValueError) as theirs:
            torch.nn.init.kaiming_uniform_(torch.empty(4, 6), **kw)
        refused(schemes.kaiming_uniform_, (4, 6), ValueError, f"^{re.escape(str(theirs.value))}$", seed=0, stream=0, **kw)


@pytest.mark.parametrize("fn", [schemes.xavier_uniform_, schemes.xavier_normal_], ids=lambda f: f.__name__)
@pytest.mark.parametrize("gain, exc, match", [
    (-1.0, ValueError, r"gain must be >= 0; got -1.0"),
    (float("inf"), ValueError, r"gain must be finite; got inf"),
    (None, TypeError, r"gain must be a real number; got NoneType None"),
])
def test_xavier_gain(fn, gain, exc, match):
    refused(fn, (4, 6), exc, match, seed=0, stream=0, gain=gain)


def test_random_walk_nonlinearity():
    refused(schemes.random_walk_normal_, (4, 6), ValueError,
            re.escape("nonlinearity must be one of ['linear', 'relu'] for the random-walk gain; got 'tanh'"),
            seed=0, stream=0, nonlinearity="tanh")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        schemes.random_walk_gain("sigmoid", 10)


# ---- calculate_gain and compute_fans ---------------------------------------------------------------

@pytest.mark.parametrize("args, match", [
    (("mish",), "^Unsupported nonlinearity mish$"),  # gelu and silu have gains (quadrature)
    (("Tanh",), "^Unsupported nonlinearity Tanh$"),
    (("leaky_relu", "0.1"), "^negative_slope 0.1 not a valid number$"),
    (("leaky_relu", False), "^negative_slope False not a valid number$"),
    (("leaky_relu", np.float32(0.5)), "^negative_slope 0.5 not a valid number$"),
])
def test_calculate_gain_errors(args, match):
    with pytest.raises(ValueError, match=match):
        fastinit.calculate_gain(*args)


@pytest.mark.parametrize("args, kw, exc, match", [
    ((5,), {}, TypeError, r"shape must be a tuple of ints; got int 5"),
    (((3, -1),), {}, ValueError, r"shape must be a tuple of non-negative ints; got \(3, -1\)"),
    (((3, 2.0),), {}, TypeError, r"shape must be a tuple of ints; got \(3, 2.0\)"),
    (((3,),), {}, ValueError, FEWER_THAN_2),
    (((3, 4),), dict(layout="hwio"), ValueError, r"layout must be one of \['torch', 'jax'\]"),
    (((3, 4),), dict(layout=None), ValueError, r"layout must be one of \['torch', 'jax'\].*; got None"),
])
def test_compute_fans_errors(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        fastinit.compute_fans(*args, **kw)


# ---- structured ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), ()], ids=str)
def test_eye_needs_two_dims(shape):
    refused(schemes.eye_, shape, ValueError,
            re.escape(f"Only tensors with 2 dimensions are supported: out has shape {shape}"))


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)], ids=str)
def test_identity_needs_two_dims(shape):
    refused(schemes.identity_, shape, ValueError, r"Only tensors with 2 dimensions are supported")


@pytest.mark.parametrize("shape, global_shape", [((5, 3), None), ((3, 2), (8, 3)), ((1, 3), (3, 7))], ids=str)
def test_identity_needs_square_blocks(shape, global_shape):
    g = shape if global_shape is None else global_shape
    m, n = max(g), min(g)
    refused(schemes.identity_, shape, ValueError,
            re.escape(f"identity_ needs square blocks: the (global) shape {g} must be (k*n, n) or (n, k*n), "
                      f"but {m} is not a multiple of {n}"), global_shape=global_shape)


@pytest.mark.parametrize("gain, dtype, exc, match", [
    (float("nan"), F32, ValueError, "gain must be finite; got nan"),
    ("1", F32, TypeError, "gain must be a real number; got str '1'"),
    (1e5, F16, ValueError, r"gain=100000.0 is outside the range of float16"),
])
def test_identity_gain(gain, dtype, exc, match):
    refused(schemes.identity_, (4, 4), exc, match, dtype=dtype, gain=gain)


@pytest.mark.parametrize("shape", [(4, 4), (2, 2, 2, 2, 2, 2), (4,)], ids=str)
def test_dirac_needs_three_to_five_dims(shape):
    refused(schemes.dirac_, shape, ValueError,
            re.escape(f"Only tensors with 3, 4, or 5 dimensions are supported: out has shape {shape}"))


@pytest.mark.parametrize("shape, groups, global_shape", [((6, 4, 3), 4, None), ((6, 4, 3), 5, None),
                                                          ((2, 4, 3), 2, (5, 4, 3))], ids=str)
def test_dirac_groups_must_divide_dim_0(shape, groups, global_shape):
    g = shape if global_shape is None else global_shape
    refused(schemes.dirac_, shape, ValueError,
            re.escape(f"dim 0 must be divisible by groups: dim 0 of the (global) shape {g} is {g[0]}, "
                      f"groups={groups}"), groups=groups, global_shape=global_shape)


@pytest.mark.parametrize("groups, exc, got", [(0, ValueError, "0"), (-1, ValueError, "-1"),
                                             (1.5, TypeError, "float 1.5"), (True, TypeError, "bool True"),
                                             ("2", TypeError, "str '2'")])
def test_dirac_groups_must_be_a_positive_int(groups, exc, got):
    refused(schemes.dirac_, (6, 4, 3), exc, f"groups must be an int >= 1; got {re.escape(got)}", groups=groups)


def test_dirac_and_torch_agree_on_the_errors():
    torch = pytest.importorskip("torch")
    for shape, groups in [((6, 4), 1), ((6, 4, 3), 4)]:
        with pytest.raises(ValueError) as theirs:
            torch.nn.init.dirac_(torch.empty(shape), groups)
        refused(schemes.dirac_, shape, ValueError, f"^{re.escape(str(theirs.value))}: ", groups=groups)
    with pytest.raises(ValueError) as theirs:
        torch.nn.init.eye_(torch.empty(3))
    refused(schemes.eye_, (3,), ValueError, f"^{re.escape(str(theirs.value))}: ")


@pytest.mark.parametrize("shape, kw, exc, match", [
    ((4, 5), {}, ValueError, re.escape("looks_linear_ needs an even size along the input axis (dim 1 for "
                                       "layout='torch'); the (global) shape is (4, 5)")),
    ((4, 5, 3), dict(layout="jax"), ValueError, r"even size along the input axis \(dim 1 for layout='jax'\); "
                                                r"the \(global\) shape is \(4, 5, 3\)"),
    ((4, 2), dict(global_shape=(4, 7), offset=(0, 5)), ValueError, r"the \(global\) shape is \(4, 7\)"),
    ((6,), {}, ValueError, r"looks_linear_ needs at least 2 dims \(it concatenates along the input axis\); "
                           r"out has shape \(6,\)"),
    ((4, 6), dict(base=3), TypeError, r"base must be a scheme spec \(a str such as 'kaiming_uniform\(a=2.236\)'\) "
                                      r"or a callable; got int 3"),
    ((4, 6), dict(base="kaiming(a=1)"), ValueError, r"unknown scheme 'kaiming'"),
    ((4, 6), dict(base="kaiming_uniform(b=1)"), ValueError, r"scheme 'kaiming_uniform' has no parameter 'b'"),
    ((4, 6), dict(base="kaiming_uniform(mode='fan_avg')"), ValueError, r"Mode fan_avg not supported"),
    ((4, 6), dict(base="dirac"), ValueError, r"Only tensors with 3, 4, or 5 dimensions are supported"),
    ((4, 6), dict(base="normal(std=-1)"), ValueError, r"std must be >= 0; got -1.0"),
])
def test_looks_linear_errors(shape, kw, exc, match):
    refused(schemes.looks_linear_, shape, exc, match, seed=0, stream=0, **kw)


def test_looks_linear_refuses_a_base_that_fails_on_a_later_piece_before_writing():
    """Every piece of the base sees the same parameters: the up-front check raises first."""
    calls = []

    def base(out, **kw):
        calls.append(out.size)
        raise ValueError("base says no")

    refused(schemes.looks_linear_, (40, 60), ValueError, "base says no", seed=0, stream=0, base=base)
    assert calls == [0]


# ---- biases and defaults ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn, kw, exc, match", [
    (schemes.bias_uniform_, dict(fan_in=-1), ValueError, r"fan_in must be an int >= 0; got -1"),
    (schemes.bias_uniform_, dict(fan_in=2.5), TypeError, r"fan_in must be an int >= 0; got float 2.5"),
    (schemes.rnn_default_, dict(hidden_size=None), TypeError, r"hidden_size must be an int >= 0; got NoneType None"),
    (schemes.hf_normal_, dict(initializer_range=-0.02), ValueError, r"initializer_range must be >= 0; got -0.02"),
    (schemes.hf_normal_, dict(initializer_range="0.02"), TypeError, r"initializer_range must be a real number"),
    (schemes.relu_bias_, dict(value=-0.1), ValueError, r"value must be >= 0 for a ReLU bias; got -0.1"),
    (schemes.constant_, dict(value=float("nan")), ValueError, r"value must be finite; got nan"),
    (schemes.constant_, dict(value=1e6, global_shape=(8, 8)), ValueError, r"value=1000000.0 is outside the range"),
])
def test_bias_and_default_parameters(fn, kw, exc, match):
    refused(fn, (8,) if "global_shape" not in kw else (8, 8), exc, match,
            dtype=F16 if kw.get("value") == 1e6 else F32, seed=0, stream=0, **kw)


@pytest.mark.parametrize("shape, kw, exc, match", [
    ((4, 8), {}, ValueError, r"lstm_forget_bias_ needs a 1-D bias \(the gates stacked\); out has shape \(4, 8\)"),
    ((10,), {}, ValueError, r"the bias length 10 is not a multiple of the 4 gates 'ifgo'"),
    ((8,), dict(global_shape=(10,), offset=(2,)), ValueError, r"the bias length 10 is not a multiple"),
    ((8,), dict(gates="igo"), ValueError, r"gates must name each gate once by a letter, the forget gate 'f' "
                                          r"among them \(torch: 'ifgo'\); got 'igo'"),
    ((8,), dict(gates="ffgo"), ValueError, r"gates must name each gate once.*; got 'ffgo'"),
    ((8,), dict(gates=4), ValueError, r"gates must name each gate once.*; got 4"),
    ((8,), dict(value=1e6), ValueError, r"value=1000000.0 is outside the range of float16"),
    ((8,), dict(value="1"), TypeError, r"value must be a real number; got str '1'"),
])
def test_lstm_forget_bias_errors(shape, kw, exc, match):
    refused(schemes.lstm_forget_bias_, shape, exc, match, dtype=F16, **kw)


# ---- specs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, exc, match", [
    (3, TypeError, r"a scheme spec must be a str such as 'kaiming_uniform\(a=2.236\)'; got int 3"),
    ("kaiming_unifrom(a=1)", ValueError, r"unknown scheme 'kaiming_unifrom'; did you mean 'kaiming_uniform'\? "
                                         r"known schemes: uniform, normal, "),
    ("orthogonal", ValueError, r"unknown scheme 'orthogonal'; (did you mean .*)?known schemes: "),
    ("", ValueError, r"cannot parse scheme spec '': expected 'name' or 'name\(key=value, ...\)'"),
    ("he normal", ValueError, r"cannot parse scheme spec 'he normal'"),
    ("kaiming_uniform(a=1", ValueError, r"cannot parse scheme spec 'kaiming_uniform\(a=1'"),
    ("kaiming_uniform(a=)", ValueError, r"cannot parse the parameters of scheme spec 'kaiming_uniform\(a=\)'"),
    ("normal(std=1) + eye()", ValueError, r"cannot parse scheme spec 'normal\(std=1\) \+ eye\(\)'"),
    ("normal(std=1)(mean=2)", ValueError, r"cannot parse scheme spec"),
    ("kaiming_uniform(2.236)", ValueError, r"give every parameter by name, e.g. 'kaiming_uniform\(key=value\)'; "
                                           r"positional values are not accepted"),
    ("kaiming_uniform(**{'a': 1})", ValueError, r"'\*\*' is not accepted"),
    ("kaiming_uniform(b=1)", ValueError, r"scheme 'kaiming_uniform' has no parameter 'b'; its parameters are: a, "
                                         r"mode, nonlinearity, layout, in_axis, out_axis, batch_axis"),
    ("eye(gain=2)", ValueError, r"scheme 'eye' has no parameter 'gain'; its parameters are: \(none\)"),
    ("kaiming_uniform(a=sqrt(5))", ValueError, r"the value of a must be a Python literal \(number, string, tuple, "
                                               r"None, True/False\); got 'sqrt\(5\)'"),
    ("normal(std=__import__('os'))", ValueError, r"the value of std must be a Python literal"),
    ("kaiming_uniform(a=1, a=2)", ValueError, r"parameter 'a' is given twice"),
    ("normal(seed=3)", ValueError, r"seed is not a scheme parameter; pass it to the call, not in the spec"),
    ("he_normal(global_shape=(4, 4))", ValueError, r"global_shape is not a scheme parameter"),
    ("bias_uniform", ValueError, r"scheme 'bias_uniform' needs fan_in: e.g. 'bias_uniform\(fan_in=...\)'"),
    ("constant()", ValueError, r"scheme 'constant' needs value"),
])
def test_parse_errors(spec, exc, match):
    with pytest.raises(exc, match=match):
        schemes.parse(spec)


def test_get_errors():
    with pytest.raises(TypeError, match=r"a scheme name must be a str; got NoneType None"):
        schemes.get(None)
    with pytest.raises(ValueError, match=r"unknown scheme 'xavier'; did you mean"):
        schemes.get("xavier")
