"""fastinit.torch: zero-copy views, drop-in torch.nn.init names, init_module_."""

import math

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from fastinit import schemes  # noqa: E402

DTYPES = {torch.float16: np.float16, torch.bfloat16: ml_dtypes.bfloat16, torch.float32: np.float32,
          torch.float64: np.float64}


def bits(a):
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


# ------------------------------------------------------------------ as_numpy

@pytest.mark.parametrize("tdtype", list(DTYPES))
def test_as_numpy_shares_memory_and_bits(tdtype):
    t = torch.empty(37, 19, dtype=tdtype)
    v = ft.as_numpy(t)
    assert v.dtype == np.dtype(DTYPES[tdtype]) and v.shape == (37, 19)
    assert v.ctypes.data == t.data_ptr()
    fastinit.normal_(v, std=0.5, seed=3, stream="w")
    ref = fastinit.normal_(np.empty((37, 19), DTYPES[tdtype]), std=0.5, seed=3, stream="w")
    assert np.array_equal(bits(ft.as_numpy(t)), bits(ref))
    assert t.to(torch.float64).numpy().tolist() == ref.astype(np.float64).tolist()


def test_as_numpy_refusals():
    with pytest.raises(TypeError, match="torch.Tensor"):
        ft.as_numpy(np.zeros(3))
    for dt in (torch.int32, torch.bool, torch.complex64, torch.uint8):
        with pytest.raises(TypeError, match="dtype"):
            ft.as_numpy(torch.zeros(3, dtype=dt))
    with pytest.raises(ValueError, match="not contiguous"):
        ft.as_numpy(torch.zeros(4, 6).t())
    with pytest.raises(ValueError, match="device"):
        ft.as_numpy(torch.zeros(3, device="meta"))
    with pytest.raises(ValueError, match="layout"):
        ft.as_numpy(torch.zeros(3, 3).to_sparse())
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match=r"torch.no_grad\(\)"):
        ft.as_numpy(p)
    with torch.no_grad():
        assert ft.as_numpy(p).ctypes.data == p.data_ptr()


def test_refused_before_writing():
    t = torch.full((8, 8), 7.0)
    with pytest.raises(ValueError):
        ft.uniform_(t, 1.0, 0.0, seed=0, stream="t")
    with pytest.raises(TypeError, match="generator"):
        ft.uniform_(t, generator=torch.Generator(), seed=0, stream="t")
    with pytest.raises(TypeError, match="stream= is required with seed="):
        ft.uniform_(t, seed=0)
    assert (t == 7).all()


# ------------------------------------------------------------------ drop-ins

# (fastinit.torch call, the NumPy reference, torch.nn.init's std or bound for the statistics test)
SHAPE = (512, 1024)
FAN_IN, FAN_OUT = 1024, 512
CASES = {
    "uniform": (lambda t, **k: ft.uniform_(t, -0.3, 0.7, **k),
                lambda a, **k: fastinit.uniform_(a, -0.3, 0.7, **k), ("mean_std", 0.2, 1 / math.sqrt(12))),
    "normal": (lambda t, **k: ft.normal_(t, 0.1, 0.02, **k),
               lambda a, **k: fastinit.normal_(a, 0.1, 0.02, **k), ("mean_std", 0.1, 0.02)),
    "trunc_normal": (lambda t, **k: ft.trunc_normal_(t, std=0.02, a=-0.04, b=0.04, **k),
                     lambda a, **k: fastinit.trunc_normal_(a, std=0.02, a=-0.04, b=0.04, **k),
                     ("bounds", -0.04, 0.04)),
    "xavier_uniform": (lambda t, **k: ft.xavier_uniform_(t, gain=2.0, **k),
                       lambda a, **k: schemes.xavier_uniform_(a, 2.0, **k),
                       ("std", 2.0 * math.sqrt(2.0 / (FAN_IN + FAN_OUT)))),
    "xavier_normal": (lambda t, **k: ft.xavier_normal_(t, **k), lambda a, **k: schemes.xavier_normal_(a, **k),
                      ("std", math.sqrt(2.0 / (FAN_IN + FAN_OUT)))),
    "kaiming_uniform": (lambda t, **k: ft.kaiming_uniform_(t, a=math.sqrt(5), **k),
                        lambda a, **k: schemes.kaiming_uniform_(a, a=math.sqrt(5), **k),
                        ("std", torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(FAN_IN))),
    "kaiming_normal": (lambda t, **k: ft.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", **k),
                       lambda a, **k: schemes.kaiming_normal_(a, mode="fan_out", nonlinearity="relu", **k),
                       ("std", math.sqrt(2.0) / math.sqrt(FAN_OUT))),
    "sparse": (lambda t, **k: ft.sparse_(t, 0.25, std=0.05, **k), lambda a, **k: schemes.sparse_(a, 0.25, 0.05, **k),
               ("sparse", 0.25, 0.05)),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("tdtype", [torch.float32, torch.bfloat16])
def test_drop_in_random(name, tdtype):
    call, ref_fn, stat = CASES[name]
    t = torch.empty(SHAPE, dtype=tdtype)
    ptr = t.data_ptr()
    assert call(t, seed=11, stream="layer.weight") is t and t.data_ptr() == ptr
    ref = ref_fn(np.empty(SHAPE, DTYPES[tdtype]), seed=11, stream="layer.weight")
    assert np.array_equal(bits(ft.as_numpy(t)), bits(ref))
    if tdtype != torch.float32:
        return
    x = t.double()
    kind = stat[0]
    if kind == "mean_std":
        assert abs(x.mean().item() - stat[1]) < 0.01 * stat[2] * 10
        assert x.std().item() == pytest.approx(stat[2], rel=0.01)
    elif kind == "std":
        assert x.std().item() == pytest.approx(stat[1], rel=0.01)
    elif kind == "bounds":
        assert x.min().item() >= stat[1] and x.max().item() <= stat[2]
        torch_ref = torch.nn.init.trunc_normal_(torch.empty(SHAPE, dtype=torch.float64), std=0.02, a=-0.04, b=0.04)
        assert x.std().item() == pytest.approx(torch_ref.std().item(), rel=0.01)
    elif kind == "sparse":
        zeros = (x == 0).sum(0)
        assert (zeros == math.ceil(stat[1] * SHAPE[0])).all()  # torch: exactly ceil(sparsity*rows) per column
        assert x[x != 0].std().item() == pytest.approx(stat[2], rel=0.01)


def test_uniform_bound_matches_torch_formula():
    t = ft.kaiming_uniform_(torch.empty(SHAPE), nonlinearity="relu", seed=0, stream="w")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / FAN_IN)
    assert t.abs().max().item() <= bound and t.abs().max().item() > 0.99 * bound


def test_orthogonal():
    t = torch.empty(64, 4, 3, 3)
    assert ft.orthogonal_(t, gain=2.0, seed=5, stream="q") is t
    ref = fastinit.orthogonal_(np.empty((64, 4, 3, 3), np.float32), 2.0, seed=5, stream="q")
    assert np.array_equal(bits(t.numpy()), bits(ref))
    m = t.reshape(64, -1).double()
    assert torch.allclose(m.T @ m, 4.0 * torch.eye(36, dtype=torch.float64), atol=1e-4)


def test_deterministic_drop_ins():
    t = torch.empty(5, 7)
    assert ft.constant_(t, 0.25) is t and (t == 0.25).all()
    assert ft.ones_(t) is t and (t == 1).all()
    assert ft.zeros_(t) is t and (t == 0).all()
    assert torch.equal(ft.eye_(t), torch.nn.init.eye_(torch.empty(5, 7)))
    w = torch.empty(24, 8, 3, 3)
    assert ft.dirac_(w, 3) is w and torch.equal(w, torch.nn.init.dirac_(torch.empty(24, 8, 3, 3), 3))
    for nl, p in (("relu", None), ("leaky_relu", 0.2), ("tanh", None), ("selu", None), ("conv2d", None)):
        assert ft.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))


def test_parameter_in_place_under_no_grad_and_version():
    lin = torch.nn.Linear(16, 8)
    v = lin.weight._version
    ft.normal_(lin.weight, std=0.1, seed=0, stream="w")  # like torch.nn.init: works on a Parameter
    assert lin.weight._version > v
    assert lin.weight.requires_grad and isinstance(lin.weight, torch.nn.Parameter)


# ------------------------------------------------------------------ tensors straight into fastinit

@pytest.mark.parametrize("tdtype", list(DTYPES), ids=str)
def test_every_scheme_takes_a_tensor_directly(tdtype):
    """fastinit's own functions (not only the drop-ins) fill a CPU tensor in place, with the
    bits they write into a NumPy array of that shape and dtype, and return the tensor."""
    from ..schemes.test_schemes_contract import CASES

    for case, name, params, shapes in CASES:
        shape = shapes[0]
        t = torch.full(shape, 7.0, dtype=tdtype)
        ptr = t.data_ptr()
        fn = schemes.REGISTRY[name]
        assert fn(t, **params, seed=9, stream=case) is t, case
        ref = fn(np.empty(shape, DTYPES[tdtype]), **params, seed=9, stream=case)
        assert t.data_ptr() == ptr and np.array_equal(bits(ft.as_numpy(t)), bits(ref)), case
    shard = torch.empty(3, 54, dtype=tdtype)  # rows 10..12 of a (37, 54) tensor
    fastinit.xavier_normal_(shard, seed=2, stream="w", global_shape=(37, 54), offset=(10, 0))
    whole = fastinit.xavier_normal_(np.empty((37, 54), DTYPES[tdtype]), seed=2, stream="w")
    assert np.array_equal(bits(ft.as_numpy(shard)), bits(whole[10:13]))
    for fn, shape in ((fastinit.orthogonal_, (48, 20)), (fastinit.delta_orthogonal_, (24, 16, 3, 3))):
        t = torch.empty(shape, dtype=tdtype)
        assert fn(t, seed=1, stream="q") is t
        ref = fn(np.empty(shape, DTYPES[tdtype]), seed=1, stream="q")
        assert np.array_equal(bits(ft.as_numpy(t)), bits(ref)), fn.__name__


def test_tensors_straight_into_fastinit_are_checked_first():
    t = torch.full((8, 8), 7.0).t()
    with pytest.raises(ValueError, match="not contiguous"):
        fastinit.normal_(t, seed=0, stream=0)
    with pytest.raises(TypeError, match="dtype"):
        fastinit.xavier_uniform_(torch.zeros(4, 4, dtype=torch.int32), seed=0, stream=0)
    with pytest.raises(ValueError, match="device"):
        fastinit.zeros_(torch.zeros(3, device="meta"))
    assert (t == 7).all()
    p = torch.nn.Parameter(torch.zeros(16, 8))
    v = p._version
    assert fastinit.kaiming_uniform_(p, a=5 ** 0.5, seed=0, stream=0) is p  # like torch.nn.init: under no_grad
    assert p._version > v and p.requires_grad and p.abs().max() > 0


# ------------------------------------------------------------------ init_module_

class Net(torch.nn.Module):
    def __init__(self, order=0):
        super().__init__()
        parts = [("emb", lambda: torch.nn.Embedding(100, 32, padding_idx=0)),
                 ("conv", lambda: torch.nn.Conv2d(3, 16, 3)),
                 ("norm", lambda: torch.nn.LayerNorm(32)),
                 ("mlp", lambda: torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)))]
        if order:
            parts = parts[::-1]
        for name, make in parts:
            setattr(self, name, make())


def test_init_module_torch_defaults():
    torch.manual_seed(0)
    net = Net()
    for p in net.parameters():
        p.data.fill_(float("nan"))
    report = ft.init_module_(net, seed=1)
    assert set(report) == {n for n, _ in net.named_parameters()}
    assert not any(v.startswith("unchanged") for v in report.values()), report
    sd = dict(net.named_parameters())
    assert all(torch.isfinite(p).all() for p in sd.values())
    for name, fan_in in (("conv", 27), ("mlp.0", 32), ("mlp.2", 64)):
        bound = 1 / math.sqrt(fan_in)
        for part in ("weight", "bias"):
            x = sd[f"{name}.{part}"]
            assert x.abs().max().item() <= bound and x.abs().max().item() > 0.8 * bound
    w = net.mlp[0].weight.double()
    assert w.std().item() == pytest.approx(1 / math.sqrt(3 * 32), rel=0.05)
    emb = net.emb.weight
    assert (emb[0] == 0).all() and emb[1:].std().item() == pytest.approx(1.0, rel=0.03)
    assert (net.norm.weight == 1).all() and (net.norm.bias == 0).all()
    a = fastinit.normal_(np.empty((100, 32), np.float32), seed=1, stream="emb.weight")
    assert np.array_equal(emb[1:].detach().numpy(), a[1:])


def test_init_module_order_independent_and_rules():
    a, b = Net(0), Net(1)
    assert [n for n, _ in a.named_parameters()] != [n for n, _ in b.named_parameters()]
    ft.init_module_(a, seed=7)
    ft.init_module_(b, seed=7)
    sb = dict(b.named_parameters())
    for n, p in a.named_parameters():
        assert torch.equal(p, sb[n]), n
    report = ft.init_module_(a, seed=7, rules={"mlp.*.bias": "zeros", "mlp.2.weight": "normal(std=0.5)",
                                              "*.weight": "constant(value=3.0)"})
    assert report["mlp.0.bias"] == "zeros [rule 'mlp.*.bias']" and (a.mlp[0].bias == 0).all()
    ref = fastinit.normal_(np.empty((10, 64), np.float32), std=0.5, seed=7, stream="mlp.2.weight")
    assert np.array_equal(a.mlp[2].weight.detach().numpy(), ref)
    assert (a.norm.weight == 3).all() and (a.conv.weight == 3).all()   # first matching rule wins
    bound = 1 / math.sqrt(27)   # Conv2d.reset_parameters: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), recorded
    assert report["conv.bias"] == f"uniform(high={bound!r}, low={-bound!r})"


def test_init_module_rules_only_other_modules_and_errors():
    net = Net()
    before = net.conv.weight.detach().clone()
    report = ft.init_module_(net, seed=0, rules={"*.weight": "normal(std=0.05)", "*.bias": "zeros"}, init=None)
    assert (net.mlp[0].bias == 0).all() and net.mlp[0].weight.std().item() == pytest.approx(0.05, rel=0.1)
    assert not torch.equal(net.conv.weight, before) and not report.unchanged

    m = torch.nn.Module()
    m.act = torch.nn.PReLU()
    m.attn = torch.nn.MultiheadAttention(16, 2)
    m.attn.out_proj.bias.data.fill_(5.0)
    m.rnn = torch.nn.LSTM(8, 16)
    report = ft.init_module_(m, seed=0)
    assert report["act.weight"] == "constant(value=0.25)" and (m.act.weight == 0.25).all()
    assert report["attn.in_proj_weight"] == "xavier_uniform(gain=1.0)" and (m.attn.out_proj.bias == 0).all()
    assert report["attn.out_proj.weight"].startswith("kaiming_uniform(a=2.236")
    for name, p in m.rnn.named_parameters():
        assert report[f"rnn.{name}"] == "uniform(high=0.25, low=-0.25)" and p.abs().max().item() <= 0.25

    with pytest.raises(ValueError, match="unknown scheme"):
        ft.init_module_(net, seed=0, rules={"*": "nope"})
    half = torch.nn.Linear(4, 4)
    half.weight.data = half.weight.data.t()  # non-contiguous: refused, nothing written
    before = half.bias.detach().clone()
    with pytest.raises(ValueError, match="weight is not contiguous"):
        ft.init_module_(half, seed=0)
    assert torch.equal(half.bias, before)
    with pytest.raises(ValueError, match="init must be"):
        ft.init_module_(net, seed=0, init="jax")
    lin = torch.nn.Linear(3, 3)                  # a rule that does not fit its tensor: nothing written
    snap = {k: v.clone() for k, v in lin.state_dict().items()}
    with pytest.raises(ValueError, match=r"tensor 'bias' of shape \[3\]: kaiming_normal: Fan in and fan out"):
        ft.init_module_(lin, seed=0, rules={"bias": "kaiming_normal"})
    assert all(torch.equal(v, snap[k]) for k, v in lin.state_dict().items())
    with torch.device("meta"):
        lin = torch.nn.Linear(3, 3)
    with pytest.raises(ValueError, match=r"tensor 'bias' of shape \[3\]: kaiming_normal"):
        ft.materialize(lin, seed=0, rules={"bias": "kaiming_normal"})
    assert lin.weight.is_meta


class _HalfOrth(torch.nn.Module):
    """Its own init: a normal weight first, then an orthogonal one whose gain float16 cannot hold."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.full((4, 4), 7.0, dtype=torch.float16))
        self.b = torch.nn.Parameter(torch.full((4, 4), 7.0, dtype=torch.float16))

    def init_weights(self):
        torch.nn.init.normal_(self.a)
        torch.nn.init.orthogonal_(self.b, gain=1e6)


def test_init_module_checks_an_orthogonal_gain_before_the_first_write():
    m = _HalfOrth()
    with pytest.raises(ValueError, match=r"tensor 'b' of shape \[4, 4\]: orthogonal\(gain=1000000.0\): .*float16"):
        ft.init_module_(m, seed=0)
    assert (m.a == 7).all() and (m.b == 7).all()   # a comes first in the plan, and is not written either
