"""The schemes have the reference libraries' semantics: fans, gains, bounds and stds.

Three layers of evidence:

* parameters: the bound / std a scheme hands to the core fill (recorded by a spy on the
  fill) equals the formula of SCHEMES.md and, when torch 2.13.0 is installed, the value
  torch.nn.init computes on its own code path (recorded by a spy on ``Tensor.uniform_`` /
  ``Tensor.normal_``), for 2-D to 5-D shapes;
* samples: on large tensors the empirical std is within 1% of the formula and uniform
  schemes stay inside their bound and reach it; JAX's initializers, when installed, give
  the same std and bound for the JAX-named schemes;
* structure: eye_, identity_, dirac_ and looks_linear_ equal their definitions (and torch's
  eye_/dirac_ exactly, these being deterministic).

Bits are never compared with torch or JAX (different generators).
"""

import math
import pathlib
import re

import numpy as np
import pytest

import fastinit
from fastinit import schemes
from fastinit.schemes import defaults, variance

from ..conftest import bits

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
SHAPES = [(96, 80), (48, 40, 5), (24, 20, 3, 3), (12, 10, 3, 2, 2)]  # torch layout, 2-D to 5-D
TRUNC = 0.87962566103423978


def torch_fans(shape):
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


# ---- spies: the parameters a scheme hands to the core fill ----------------------------------------

@pytest.fixture
def spy(monkeypatch):
    """Record (fill, args) of every core fill the schemes call; the fill still runs."""
    calls = []
    for module in (variance, defaults):
        for name in ("uniform_", "normal_", "trunc_normal_"):
            real = getattr(module, name, None)
            if real is None:
                continue

            def record(out, *args, _real=real, _name=name, **kw):
                calls.append((_name, args, kw.get("bounds", "absolute")))
                return _real(out, *args, **kw)

            monkeypatch.setattr(module, name, record)
    return calls


def ours(spy, fn, shape, **kw):
    """(distribution, parameter) of scheme ``fn`` on ``shape``: ("uniform", bound) or ("normal", std)."""
    spy.clear()
    fn(np.empty(shape, np.float64), **kw, seed=1, stream=0)
    (name, args, _), = spy
    if name == "uniform_":
        assert args[0] == -args[1]
        return "uniform", args[1]
    if name == "normal_":
        assert args[0] == 0.0
        return "normal", args[1]
    return "trunc_normal", args


@pytest.fixture
def torch_spy(monkeypatch):
    """torch, with Tensor.uniform_/normal_ recording their arguments instead of drawing."""
    torch = pytest.importorskip("torch")
    calls = []
    monkeypatch.setattr(torch.Tensor, "uniform_", lambda t, a=0.0, b=1.0, generator=None: calls.append(
        ("uniform", a, b)) or t)
    monkeypatch.setattr(torch.Tensor, "normal_", lambda t, mean=0.0, std=1.0, generator=None: calls.append(
        ("normal", mean, std)) or t)
    return torch, calls


def same(a, b):
    """Two (distribution, parameter) pairs agree: same distribution, parameters equal to 1e-14."""
    return a[0] == b[0] and a[1] == pytest.approx(b[1], rel=1e-14)


def theirs(torch_spy, init, shape, **kw):
    torch, calls = torch_spy
    calls.clear()
    init(torch.empty(shape), **kw)
    (kind, p, q), = calls
    assert p == -q if kind == "uniform" else p == 0.0
    return kind, q


# the torch-named schemes, each with torch's function and the formula of SCHEMES.md
def _kaiming(shape, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fan = torch_fans(shape)[0 if mode == "fan_in" else 1]
    return fastinit.calculate_gain(nonlinearity, a) / math.sqrt(fan)


TORCH_CASES = {
    "xavier_uniform": ("uniform", {}, lambda s: math.sqrt(6 / sum(torch_fans(s)))),
    "xavier_uniform(gain=5/3)": ("uniform", dict(gain=5 / 3), lambda s: 5 / 3 * math.sqrt(6 / sum(torch_fans(s)))),
    "xavier_normal": ("normal", {}, lambda s: math.sqrt(2 / sum(torch_fans(s)))),
    "xavier_normal(gain=0.5)": ("normal", dict(gain=0.5), lambda s: 0.5 * math.sqrt(2 / sum(torch_fans(s)))),
    "kaiming_uniform": ("uniform", {}, lambda s: math.sqrt(3) * _kaiming(s)),
    "kaiming_uniform(a=0.2, mode=fan_out)": ("uniform", dict(a=0.2, mode="fan_out"),
                                             lambda s: math.sqrt(3) * _kaiming(s, 0.2, "fan_out")),
    "kaiming_uniform(nonlinearity=relu)": ("uniform", dict(nonlinearity="relu"),
                                           lambda s: math.sqrt(6 / torch_fans(s)[0])),
    "kaiming_normal": ("normal", {}, _kaiming),
    "kaiming_normal(mode=FAN_OUT, nonlinearity=tanh)": ("normal", dict(mode="FAN_OUT", nonlinearity="tanh"),
                                                        lambda s: 5 / 3 / math.sqrt(torch_fans(s)[1])),
    "kaiming_normal(a=1, nonlinearity=selu)": ("normal", dict(a=1, nonlinearity="selu"),
                                               lambda s: 0.75 / math.sqrt(torch_fans(s)[0])),
    "linear_default": ("uniform", {}, lambda s: 1 / math.sqrt(torch_fans(s)[0])),
    "conv_default": ("uniform", {}, lambda s: 1 / math.sqrt(torch_fans(s)[0])),
    "simple_xavier_uniform": ("uniform", {}, lambda s: 1 / math.sqrt(torch_fans(s)[0])),
    "selu_normal": ("normal", {}, lambda s: 1 / math.sqrt(torch_fans(s)[0])),
}


def _scheme(case):
    return schemes.get(case.split("(")[0])


def _torch_init(torch, case):
    name = case.split("(")[0]
    if name in ("linear_default", "conv_default"):
        return lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    if name == "simple_xavier_uniform":  # U(+-1/sqrt(fan_in)): nn.Linear's default, as torch computes it
        return lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    if name == "selu_normal":  # torch's recommendation for SELU
        return lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="linear")
    return getattr(torch.nn.init, name + "_")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", TORCH_CASES)
def test_torch_named_schemes_follow_the_formula(spy, case, shape):
    kind, kw, formula = TORCH_CASES[case]
    got_kind, value = ours(spy, _scheme(case), shape, **kw)
    assert got_kind == kind
    assert value == pytest.approx(formula(shape), rel=1e-14)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", TORCH_CASES)
def test_torch_named_schemes_equal_torch(spy, torch_spy, case, shape):
    kind, kw, _ = TORCH_CASES[case]
    assert same(ours(spy, _scheme(case), shape, **kw), theirs(torch_spy, _torch_init(torch_spy[0], case), shape,
                                                              **kw))


# large tensors: the samples have the formula's spread; uniform ones reach their bound, never pass it
LARGE = [(1024, 1024), (256, 64, 64), (128, 128, 8, 8), (64, 32, 8, 8, 8)]


@pytest.mark.parametrize("case", TORCH_CASES)
def test_torch_named_schemes_samples(case):
    kind, kw, formula = TORCH_CASES[case]
    shape = LARGE[list(TORCH_CASES).index(case) % len(LARGE)]  # each case on one rank, the ranks in turn
    w = _scheme(case)(np.empty(shape, F32), **kw, seed=3, stream=case).astype(np.float64)
    value = formula(shape)
    if kind == "uniform":
        assert np.abs(w).max() <= np.float32(value) and np.abs(w).max() > value * (1 - 1e-4)
        assert w.std() == pytest.approx(value / math.sqrt(3), rel=0.01)
    else:
        assert w.std() == pytest.approx(value, rel=0.01)
    assert abs(w.mean()) < 5 * w.std() / math.sqrt(w.size)


def test_torch_module_defaults(spy, torch_spy):
    torch, calls = torch_spy
    for layer, weight_scheme, bias in [
        (lambda: torch.nn.Linear(300, 70), schemes.linear_default_, 300),
        (lambda: torch.nn.Conv2d(12, 40, (3, 5)), schemes.conv_default_, 12 * 15),
        (lambda: torch.nn.Conv1d(12, 40, 3, groups=4), schemes.conv_default_, 3 * 3),
    ]:
        calls.clear()
        module = layer()
        (_, _, torch_weight), (_, _, torch_bias) = calls
        assert same(ours(spy, weight_scheme, tuple(module.weight.shape)), ("uniform", torch_weight))
        assert same(ours(spy, schemes.bias_uniform_, (module.bias.shape[0],), fan_in=bias), ("uniform", torch_bias))
    calls.clear()
    lstm = torch.nn.LSTM(24, 37)
    assert {c[2] for c in calls} == {1 / math.sqrt(37)} and len(calls) == len(list(lstm.parameters()))
    assert ours(spy, schemes.rnn_default_, (4 * 37, 24), hidden_size=37) == ("uniform", 1 / math.sqrt(37))
    calls.clear()
    torch.nn.Embedding(100, 16)
    assert calls == [("normal", 0.0, 1.0)]
    assert ours(spy, schemes.embedding_default_, (100, 16)) == ("normal", 1.0)


def test_bias_and_module_default_formulas(spy):
    assert ours(spy, schemes.bias_uniform_, (70,), fan_in=300) == ("uniform", 1 / math.sqrt(300))
    assert ours(spy, schemes.rnn_default_, (64,), hidden_size=16) == ("uniform", 0.25)
    assert ours(spy, schemes.hf_normal_, (64, 32)) == ("normal", 0.02)
    assert ours(spy, schemes.hf_normal_, (64, 32), initializer_range=0.05) == ("normal", 0.05)
    assert ours(spy, schemes.embedding_default_, (64, 32)) == ("normal", 1.0)
    # torch: bound 0 when fan_in is 0; written as +0.0
    b = schemes.bias_uniform_(np.full(10, 7.0, np.float32), 0, seed=1, stream=0)
    assert (bits(b) == 0).all()


# ---- variance scaling: every mode and distribution -------------------------------------------------

@pytest.mark.parametrize("distribution", ["uniform", "normal", "truncated_normal"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
def test_variance_scaling_formula(spy, mode, distribution):
    shape = (24, 20, 3, 3)
    fan_in, fan_out = torch_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    std = math.sqrt(2.5 / n)
    kind, value = ours(spy, schemes.variance_scaling_, shape, scale=2.5, mode=mode, distribution=distribution)
    if distribution == "uniform":
        assert (kind, value) == ("uniform", pytest.approx(math.sqrt(3) * std, rel=1e-14))
    elif distribution == "normal":
        assert (kind, value) == ("normal", pytest.approx(std, rel=1e-14))
    else:  # trunc_normal_(out, 0, std / 0.8796..., -2, 2, bounds="std")
        assert kind == "trunc_normal" and spy[0][2] == "std"
        assert value == (0.0, pytest.approx(std / TRUNC, rel=1e-14), -2.0, 2.0)


@pytest.mark.parametrize("distribution", ["uniform", "normal", "truncated_normal"])
def test_variance_scaling_samples_have_the_std(distribution):
    """The truncated normal's std after truncation is sqrt(scale / n): JAX's 0.8796 correction."""
    shape = (1024, 512, 2)
    w = schemes.variance_scaling_(np.empty(shape, F32), 3.0, "fan_avg", distribution, seed=5, stream=0).astype(np.float64)
    std = math.sqrt(3.0 / ((1024 * 2 + 512 * 2) / 2))
    assert w.std() == pytest.approx(std, rel=0.01)
    if distribution == "truncated_normal":
        bound = 2 * std / TRUNC
        assert np.abs(w).max() <= bound and np.abs(w).max() > bound * (1 - 1e-3)


@pytest.mark.parametrize("name, distribution, scale, mode", [
    ("glorot_uniform", "uniform", 1.0, "fan_avg"), ("glorot_normal", "truncated_normal", 1.0, "fan_avg"),
    ("he_uniform", "uniform", 2.0, "fan_in"), ("he_normal", "truncated_normal", 2.0, "fan_in"),
    ("lecun_uniform", "uniform", 1.0, "fan_in"), ("lecun_normal", "truncated_normal", 1.0, "fan_in"),
    ("selu_normal", "normal", 1.0, "fan_in"), ("simple_xavier_uniform", "uniform", 1 / 3, "fan_in"),
])
@pytest.mark.parametrize("layout", ["torch", "jax"])
def test_presets_are_variance_scaling_bit_for_bit(name, distribution, scale, mode, layout):
    shape = (6, 10, 24, 20)
    a = schemes.get(name)(np.empty(shape, F32), layout=layout, seed=9, stream=name)
    b = schemes.variance_scaling_(np.empty(shape, F32), scale, mode, distribution, layout=layout, seed=9,
                                  stream=name)
    assert np.array_equal(bits(a), bits(b))


@pytest.mark.parametrize("name, fill, params", [
    ("kaiming_uniform", fastinit.uniform_, lambda s: (-math.sqrt(6 / s[1]), math.sqrt(6 / s[1]))),
    ("xavier_normal", fastinit.normal_, lambda s: (0.0, math.sqrt(2 / (s[0] + s[1])))),
    ("he_normal", fastinit.trunc_normal_, lambda s: (0.0, math.sqrt(2 / s[1]) / TRUNC, -2.0, 2.0)),
])
def test_fan_schemes_are_the_core_fill_with_a_computed_scale(name, fill, params):
    """Same kernel, same cost: the scheme's bits are the core fill's with the formula's parameters."""
    shape = (300, 700)
    kw = dict(kaiming_uniform=dict(nonlinearity="relu")).get(name, {})
    a = schemes.get(name)(np.empty(shape, F32), **kw, seed=2, stream="s")
    extra = dict(bounds="std") if fill is fastinit.trunc_normal_ else {}
    b = fill(np.empty(shape, F32), *params(shape), **extra, seed=2, stream="s")
    np.testing.assert_array_equal(bits(a), bits(b))


def test_shards_take_the_fans_of_the_global_shape(spy):
    whole = ours(spy, schemes.kaiming_normal_, (64, 48, 3, 3))
    spy.clear()
    schemes.kaiming_normal_(np.empty((8, 48, 3, 3), F32), seed=1, stream=0, global_shape=(64, 48, 3, 3), offset=(16, 0, 0, 0))
    assert ("normal", spy[0][1][1]) == whole
    spy.clear()
    schemes.xavier_uniform_(np.empty((10, 3), F32), seed=1, stream=0, global_shape=(10, 30), offset=(0, 27))
    assert spy[0][1][1] == pytest.approx(math.sqrt(6 / 40), rel=1e-14)


def test_zero_scale_and_empty_tensors():
    w = schemes.variance_scaling_(np.full((4, 5), 3.0, F32), 0.0, "fan_in", "truncated_normal", seed=0, stream=0)
    assert (bits(w) == 0).all()  # +0.0 everywhere
    w = schemes.xavier_uniform_(np.full((4, 5), 3.0, F32), gain=0, seed=0, stream=0)
    assert (bits(w) == 0).all()
    for fn in (schemes.kaiming_uniform_, schemes.kaiming_normal_, schemes.xavier_normal_, schemes.he_normal_,
               schemes.random_walk_normal_):
        for shape in [(0, 5), (5, 0, 3), (0, 0)]:  # torch warns and does nothing; fastinit does nothing
            empty = np.empty(shape, F32)
            assert fn(empty, seed=0, stream=0) is empty


# ---- fans and gains ----------------------------------------------------------------------------

FAN_CASES = [  # shape, kwargs, (fan_in, fan_out)
    ((30, 20), {}, (20, 30)),
    ((8, 4, 3), {}, (12, 24)),
    ((64, 3, 7, 7), {}, (147, 3136)),
    ((16, 8, 3, 2, 2), {}, (96, 192)),
    ((20, 30), dict(layout="jax"), (20, 30)),
    ((7, 7, 3, 64), dict(layout="jax"), (147, 3136)),
    ((2, 3, 2, 4, 5), dict(layout="jax"), (48, 60)),
    ((5, 6, 7), dict(layout="jax", in_axis=0, out_axis=1), (35, 42)),
    ((5, 6, 7, 2), dict(layout="jax", in_axis=(0, 1), out_axis=-1, batch_axis=2), (30, 2)),
    ((3, 4, 5), dict(in_axis=-1, out_axis=0, batch_axis=(1,)), (5, 3)),
    ((0, 5, 3), {}, (15, 0)),
]


@pytest.mark.parametrize("shape, kw, fans", FAN_CASES, ids=str)
def test_compute_fans(shape, kw, fans):
    assert fastinit.compute_fans(shape, **kw) == fans
    assert all(type(f) is int for f in fastinit.compute_fans(shape, **kw))


@pytest.mark.parametrize("shape", [(30, 20), (8, 4, 3), (64, 3, 7, 7), (16, 8, 3, 2, 2), (2, 3, 4, 5, 6, 7)],
                         ids=str)
def test_compute_fans_equal_torch(shape):
    torch = pytest.importorskip("torch")
    assert fastinit.compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("shape, kw, fans", [c for c in FAN_CASES if c[1].get("layout") == "jax"], ids=str)
def test_compute_fans_equal_jax(shape, kw, fans):
    pytest.importorskip("jax")
    from jax._src.nn.initializers import _compute_fans
    axes = {k: v for k, v in kw.items() if k != "layout"}
    assert fastinit.compute_fans(shape, **kw) == tuple(int(f) for f in _compute_fans(shape, **axes))


NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
EXPECTED_GAIN = dict.fromkeys(NONLINEARITIES[:8], 1) | dict(tanh=5 / 3, relu=math.sqrt(2),
                                                              leaky_relu=math.sqrt(2 / (1 + 0.01**2)), selu=0.75)
SLOPES = [None, 0, 0.2, 1, -0.5, 3, math.sqrt(5)]
BAD_GAINS = [("foo", None), ("ReLU", None), (None, None), ("leaky_relu", "0.2"), ("leaky_relu", True),
             ("leaky_relu", np.float32(0.2)), ("leaky_relu", [0.1])]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_calculate_gain_table(nonlinearity):
    assert fastinit.calculate_gain(nonlinearity) == EXPECTED_GAIN[nonlinearity]
    assert fastinit.calculate_gain(nonlinearity, 0.3) == (math.sqrt(2 / 1.09) if nonlinearity == "leaky_relu"
                                                          else EXPECTED_GAIN[nonlinearity])


def test_calculate_gain_equals_torch():
    torch = pytest.importorskip("torch")
    for nonlinearity in NONLINEARITIES:
        for param in SLOPES:
            ours_, theirs_ = fastinit.calculate_gain(nonlinearity, param), torch.nn.init.calculate_gain(
                nonlinearity, param)
            assert ours_ == theirs_ and type(ours_) is type(theirs_)
    for nonlinearity, param in BAD_GAINS:
        with pytest.raises(ValueError) as theirs_:
            torch.nn.init.calculate_gain(nonlinearity, param)
        with pytest.raises(ValueError, match=f"^{re.escape(str(theirs_.value))}$"):
            fastinit.calculate_gain(nonlinearity, param)


# ---- JAX-named schemes against jax.nn.initializers ---------------------------------------------------

JAX_NAMED = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]


@pytest.mark.parametrize("name", JAX_NAMED)
def test_jax_named_schemes_equal_jax(name):
    jax = pytest.importorskip("jax")
    shape = (3, 3, 96, 160) if "uniform" in name else (2, 160, 384)
    theirs_ = np.asarray(getattr(jax.nn.initializers, name)()(jax.random.key(0), shape, np.float32), np.float64)
    w = schemes.get(name)(np.empty(shape, F32), layout="jax", seed=4, stream=name).astype(np.float64)
    assert w.std() == pytest.approx(theirs_.std(), rel=0.01)
    assert np.abs(w).max() == pytest.approx(np.abs(theirs_).max(), rel=2e-3)  # the same bound


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
def test_variance_scaling_equals_jax_with_axes(mode):
    jax = pytest.importorskip("jax")
    shape, axes = (40, 3, 50, 30), dict(in_axis=(0, 2), out_axis=3, batch_axis=1)
    init = jax.nn.initializers.variance_scaling(0.7, mode, "uniform", **axes)
    try:
        theirs_ = np.asarray(init(jax.random.key(1), shape, np.float32), np.float64)
    except ValueError as exc:  # JAX < 0.6 has no fan_geo_avg
        pytest.skip(f"this JAX ({jax.__version__}): {exc}")
    w = schemes.variance_scaling_(np.empty(shape, F32), 0.7, mode, "uniform", **axes, seed=1, stream=0).astype(np.float64)
    assert np.abs(w).max() == pytest.approx(np.abs(theirs_).max(), rel=2e-3)
    assert w.std() == pytest.approx(theirs_.std(), rel=0.01)


# ---- random walk -----------------------------------------------------------------------------------

@pytest.mark.parametrize("nonlinearity", ["linear", "relu"])
@pytest.mark.parametrize("shape", [(10, 4), (64, 256), (12, 10, 3, 3)], ids=str)
def test_random_walk_gain(spy, nonlinearity, shape):
    n = torch_fans(shape)[0]
    g = math.exp(1 / (2 * n)) if nonlinearity == "linear" else math.sqrt(2) * math.exp(1.2 / (max(n, 6) - 2.4))
    assert schemes.random_walk_gain(nonlinearity, n) == g
    assert ours(spy, schemes.random_walk_normal_, shape, nonlinearity=nonlinearity) == (
        "normal", pytest.approx(g / math.sqrt(n), rel=1e-14))


# ---- structured ------------------------------------------------------------------------------------

def naive_dirac(shape, groups):
    w = np.zeros(shape)
    per = shape[0] // groups
    for g in range(groups):
        for d in range(min(per, shape[1])):
            w[(g * per + d, d) + tuple(k // 2 for k in shape[2:])] = 1
    return w


DIRAC_CASES = [((6, 4, 5), 1), ((4, 6, 4), 1), ((6, 4, 3, 4), 2), ((24, 8, 3, 3), 3), ((8, 1, 2, 2), 8),
               ((6, 6, 2, 3, 4), 3), ((4, 9, 3, 3, 3), 1)]


@pytest.mark.parametrize("shape, groups", DIRAC_CASES, ids=str)
def test_dirac(shape, groups):
    for dtype in (F32, F64):
        w = schemes.dirac_(np.full(shape, 7.0, dtype), groups)
        np.testing.assert_array_equal(w, naive_dirac(shape, groups))
    torch = pytest.importorskip("torch")
    t = torch.full(shape, 7.0)
    torch.nn.init.dirac_(t, groups)
    np.testing.assert_array_equal(w, t.numpy())


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 7), (7, 1)], ids=str)
def test_eye(shape):
    np.testing.assert_array_equal(schemes.eye_(np.full(shape, 7.0, F32)), np.eye(*shape))
    torch = pytest.importorskip("torch")
    t = torch.full(shape, 7.0)
    torch.nn.init.eye_(t)
    np.testing.assert_array_equal(schemes.eye_(np.full(shape, 7.0, F32)), t.numpy())


@pytest.mark.parametrize("shape", [(12, 3), (3, 12), (5, 5), (4, 1), (1, 4)], ids=str)
def test_identity_stacks_square_blocks(shape):
    n = min(shape)
    expected = 0.5 * np.tile(np.eye(n), (shape[0] // n, shape[1] // n))
    np.testing.assert_array_equal(schemes.identity_(np.full(shape, 7.0, F32), gain=0.5), expected)
    np.testing.assert_array_equal(schemes.identity_(np.empty((6, 6), F64)), np.eye(6))  # IRNN


def test_identity_lstm_gates_in_torch_layout():
    h = 16
    w = schemes.identity_(np.empty((4 * h, h), F32))
    for gate in range(4):
        np.testing.assert_array_equal(w[gate * h:(gate + 1) * h], np.eye(h))


def test_lstm_forget_bias_and_relu_bias():
    h = 5
    b = schemes.lstm_forget_bias_(np.full(4 * h, 7.0, F32))
    np.testing.assert_array_equal(b, np.r_[np.zeros(h), np.ones(h), np.zeros(2 * h)])  # torch: i, f, g, o
    b = schemes.lstm_forget_bias_(np.full(3 * h, 7.0, F32), 2.0, gates="rzf")
    np.testing.assert_array_equal(b, np.r_[np.zeros(2 * h), 2 * np.ones(h)])
    part = schemes.lstm_forget_bias_(np.full(7, 7.0, F32), global_shape=(4 * h,), offset=(3,))
    np.testing.assert_array_equal(part, np.r_[np.zeros(2), np.ones(5)])
    np.testing.assert_array_equal(schemes.relu_bias_(np.empty(6, F32)), np.full(6, np.float32(0.1)))
    np.testing.assert_array_equal(schemes.relu_bias_(np.empty(6, F32), 0.01), np.full(6, np.float32(0.01)))


@pytest.mark.parametrize("layout, shape", [("torch", (6, 10)), ("torch", (6, 8, 3, 3)), ("jax", (3, 3, 8, 6)),
                                           ("jax", (10, 6)), ("torch", (4, 6, 3, 2, 2))], ids=str)
@pytest.mark.parametrize("base", ["kaiming_uniform(a=0.5)", "he_normal", "xavier_normal(gain=2.0)"])
def test_looks_linear_is_w0_and_minus_w0(layout, shape, base):
    axis = 1 if layout == "torch" else len(shape) - 2
    half = shape[axis] // 2
    w = schemes.looks_linear_(np.empty(shape, F32), base=base, layout=layout, seed=8, stream="ll")
    first, second = np.split(w, 2, axis=axis)
    np.testing.assert_array_equal(bits(second), bits(first) ^ np.uint32(0x80000000))  # exactly -W0
    fn, kw = schemes.parse(base)
    w0 = fn(np.empty(shape[:axis] + (half,) + shape[axis + 1:], F32), **kw, layout=layout, seed=8, stream="ll")
    np.testing.assert_array_equal(bits(first), bits(w0))
    x = np.random.default_rng(0).standard_normal(half)  # W relu(x) - W relu(-x) = W0 x (2-D, torch layout)
    if layout == "torch" and len(shape) == 2:
        relu = lambda v: np.maximum(v, 0)  # noqa: E731
        cat = np.r_[relu(x), relu(-x)]
        np.testing.assert_allclose(w @ cat - w @ -cat, w0 @ x + w0 @ x, rtol=1e-5)


def test_looks_linear_with_a_callable_or_deterministic_base():
    def base(out, **kw):
        return schemes.normal_(out, 1.0, 0.5, **kw)

    w = schemes.looks_linear_(np.empty((5, 8), F64), base=base, seed=1, stream=0)
    np.testing.assert_array_equal(w[:, 4:], -w[:, :4])
    np.testing.assert_array_equal(w[:, :4], fastinit.normal_(np.empty((5, 4)), 1.0, 0.5, seed=1, stream=0))
    w = schemes.looks_linear_(np.empty((3, 6), F32), base="eye", seed=1, stream=0)
    np.testing.assert_array_equal(w, np.c_[np.eye(3), -np.eye(3)])


def test_looks_linear_of_a_large_non_contiguous_half():
    """The first half is written piece by piece through a bounded temporary; same bits."""
    shape = (700, 900)
    w = schemes.looks_linear_(np.empty(shape, F32), base="normal(std=0.5)", seed=2, stream=0, threads=2)
    w0 = fastinit.normal_(np.empty((700, 450), F32), std=0.5, seed=2, stream=0)
    np.testing.assert_array_equal(bits(w[:, :450]), bits(w0))
    np.testing.assert_array_equal(w[:, 450:], -w0)


@pytest.mark.parametrize("chunk", [1, 40, 1 << 18])
@pytest.mark.parametrize("layout, shape", [("torch", (7, 12)), ("torch", (6, 10, 3, 4)), ("jax", (3, 4, 10, 6)),
                                           ("jax", (2, 3, 2, 8, 5))], ids=str)
def test_looks_linear_pieces_never_change_the_bits(monkeypatch, chunk, layout, shape):
    """Pieces through the temporary, pieces filled in place (a row of >= _CHUNK elements) and
    whole contiguous halves all give W0's bits; so do shards across the middle."""
    from fastinit.schemes import structured
    axis = 1 if layout == "torch" else len(shape) - 2
    half = shape[axis] // 2
    w0 = schemes.he_uniform_(np.empty(shape[:axis] + (half,) + shape[axis + 1:], F32), layout=layout, seed=6, stream=0)
    expected = np.concatenate([w0, -w0], axis=axis)
    monkeypatch.setattr(structured, "_CHUNK", chunk)
    w = schemes.looks_linear_(np.empty(shape, F32), base="he_uniform", layout=layout, seed=6, stream=0)
    np.testing.assert_array_equal(bits(w), bits(expected))
    offset = tuple(1 if d != axis else half - 2 for d in range(len(shape)))
    block = tuple(s - 1 if d != axis else 3 for d, s in enumerate(shape))
    part = schemes.looks_linear_(np.empty(block, F32), base="he_uniform", layout=layout, seed=6, stream=0,
                                 global_shape=shape, offset=offset)
    np.testing.assert_array_equal(bits(part), bits(expected[tuple(slice(o, o + b) for o, b in zip(offset, block))]))


# ---- the registry and specs ----------------------------------------------------------------------------

def test_registry_lists_every_scheme_with_its_parameters():
    reg = schemes.REGISTRY
    for name, scheme in reg.items():
        assert scheme.name == name and getattr(schemes, name + "_") is scheme.fn
        assert scheme.summary and "out" not in scheme.params and "seed" not in scheme.params
    assert dict(reg["kaiming_uniform"].params) == dict(a=0, mode="fan_in", nonlinearity="leaky_relu",
                                                       layout="torch", in_axis=None, out_axis=None,
                                                       batch_axis=())
    assert reg["bias_uniform"].params["fan_in"] is schemes.REQUIRED
    assert reg["normal"].fn is fastinit.normal_ and reg["eye"].random is False and reg["he_normal"].random
    expected = {"uniform", "normal", "trunc_normal", "constant", "zeros", "ones", "variance_scaling",
                "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "glorot_uniform",
                "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "selu_normal",
                "simple_xavier_uniform", "random_walk_normal", "eye", "identity", "dirac", "looks_linear",
                "bias_uniform", "lstm_forget_bias", "relu_bias", "linear_default", "conv_default", "rnn_default",
                "embedding_default", "hf_normal", "mup_normal"}
    assert expected <= set(reg) <= expected | {"sparse"}


def test_every_scheme_is_documented():
    table = (pathlib.Path(__file__).parents[2] / "docs" / "schemes.md").read_text()
    for name in schemes.REGISTRY:
        assert f"`{name}" in table, f"docs/schemes.md does not list {name}"


@pytest.mark.parametrize("spec, name, kwargs", [
    ("kaiming_uniform(a=2.236, mode='fan_out')", "kaiming_uniform", dict(a=2.236, mode="fan_out")),
    ("  he_normal  ", "he_normal", {}),
    ("he_normal()", "he_normal", {}),
    ("eye_", "eye", {}),
    ("variance_scaling(scale=2, mode=\"fan_avg\", distribution='uniform', in_axis=(0, 1), batch_axis=())",
     "variance_scaling", dict(scale=2, mode="fan_avg", distribution="uniform", in_axis=(0, 1), batch_axis=())),
    ("normal(mean=-1e-3, std=+0.5)", "normal", dict(mean=-1e-3, std=0.5)),
    ("bias_uniform(fan_in=128)", "bias_uniform", dict(fan_in=128)),
    ("looks_linear(base='kaiming_uniform(a=1)', layout='jax')", "looks_linear",
     dict(base="kaiming_uniform(a=1)", layout="jax")),
    ("trunc_normal(\n  std=0.02,\n  a=-0.04, b=0.04,\n)", "trunc_normal", dict(std=0.02, a=-0.04, b=0.04)),
])
def test_parse(spec, name, kwargs):
    fn, kw = schemes.parse(spec)
    assert fn is schemes.REGISTRY[name].fn and kw == kwargs and all(type(kw[k]) is type(kwargs[k]) for k in kw)


def test_a_parsed_spec_fills_like_the_direct_call():
    fn, kw = schemes.parse("kaiming_uniform(a=2.236, mode='fan_out')")
    a = fn(np.empty((30, 20), F32), **kw, seed=3, stream="w")
    b = schemes.kaiming_uniform_(np.empty((30, 20), F32), a=2.236, mode="fan_out", seed=3, stream="w")
    assert np.array_equal(bits(a), bits(b))
