"""Signal propagation: the quadrature, the predicted recursions against measured networks, the
probe, the gains, advice and muP's coordinate check.

The agreement tests measure random MLPs built by tests/schemes/signal_nets.py (weights ``s * Z``, Z
filled by fastinit) and compare with ``fastinit.signal.propagate`` read from the scheme specs.
Finite width: the log-variance of one network of width n wanders by about sqrt(sum_l c / n),
c ~ 2-7 (7 for ReLU: E[relu^4] / E[relu^2]^2 - 1 = 5, plus 2 from the weights; its mean
direction is shared by the whole batch, so a batch does not average it away).  Over 8 networks
of width 4096 that is a standard error of ~4% at depth 10 for ReLU-like activations (10% is
~2.5 sigma) and ~0.2% on the mean per-layer growth factor over depth 50 (2% is ~10 sigma); a
wrong variance formula (a gain off by 5%, a fan off by one layer) moves them by 10% per layer.
Seeds are fixed: the tests are deterministic.

Batch 2: a ReLU-like network's fluctuation comes from its weights (its outputs share one mean
direction, which a batch does not average), so a large batch buys little; two inputs halve the
input-driven part for the zero-mean activations, while every 67 MB matrix is still read once per
layer for all 24 (scheme, activation) pairs that share it.  float32, as networks run.

Orthogonal weights at width 4096 are ``orthogonal_``'s own matrices applied as Householder
products (signal_nets.OrthogonalOperator, checked against the formed matrices below): forming
400 of them (8 networks x 50 layers) would take 400 x 2.7 s = 18 minutes on one core, applying
them takes about 0.1 s a layer.

Runtime on the 2-core machine when quiet: the quick depth-10 test 3.8 s, the slow depth-50 grid
(xavier/kaiming 26 s, lecun 31 s).  Measured at a load average of 3-7 from other jobs: the quick
tests 12 s (xavier/kaiming) and 17 s (orthogonal), the orthogonal depth-50 grid 158 s; at a load
average of 10-15, several times longer.
"""

import math
import pathlib
import re

import numpy as np
import pytest
import torch
from scipy import integrate

import fastinit
import fastinit.torch
from fastinit import signal
from fastinit.schemes import activations
from fastinit.schemes.moments import weight_second_moment

from . import signal_nets as sn

WIDTH, NETS, BATCH = 4096, 8, 2
D_IN = 2 * WIDTH  # an input wider than the layers: fan_in, fan_out and fan_avg differ in layer 1


# ---- quadrature and gains --------------------------------------------------------------------------

@pytest.mark.parametrize("act", sn.ACTS)
def test_moments_match_adaptive_quadrature(act):
    for q in (1e-4, 0.3, 1.0, 9.0):
        f2, d2 = activations.moments(act, q)
        pdf = lambda z: math.exp(-z * z / (2 * q)) / math.sqrt(2 * math.pi * q)  # noqa: E731
        lim = 40 * math.sqrt(q)

        def ref(g):
            return sum(integrate.quad(lambda z: g(z) * pdf(z), lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
                       for lo, hi in ((-lim, 0), (0, lim)))
        phi = lambda z: float(sn.phi(act, torch.tensor(z, dtype=torch.float64)))  # noqa: E731
        dphi = lambda z: float(sn.dphi(act, torch.tensor(z, dtype=torch.float64)))  # noqa: E731
        assert f2 == pytest.approx(ref(lambda z: phi(z) ** 2), rel=1e-9)
        assert d2 == pytest.approx(ref(lambda z: dphi(z) ** 2), rel=1e-9)


def test_calculate_gain_by_quadrature_and_against_torch():
    for act in sn.ACTS:
        if act in sn.TORCH_GAINS:
            assert fastinit.calculate_gain(act) == torch.nn.init.calculate_gain(act)
        else:  # no torch entry: He et al.'s rule, 1 / sqrt(E[phi(z)^2])
            with pytest.raises(ValueError, match=f"Unsupported nonlinearity {act}"):
                torch.nn.init.calculate_gain(act)
            assert fastinit.calculate_gain(act) == pytest.approx(sn.reference_gain(act), rel=1e-10)
    table = signal.gain_table()
    # where torch's gain is He et al.'s rule the two agree; elsewhere torch's is an empirical choice
    for act in ("linear", "relu", "leaky_relu"):
        assert table[act][0] == pytest.approx(table[act][1], rel=1e-12)
    assert table["tanh"][1] == pytest.approx(1.5925374197, rel=1e-9) and table["tanh"][0] == 5 / 3
    assert table["selu"][1] == pytest.approx(1.0, rel=1e-12) and table["selu"][0] == 0.75
    assert table["sigmoid"][1] == pytest.approx(1.8462285453, rel=1e-9)


def test_kaiming_accepts_the_quadrature_gains():
    w = np.empty((512, 256), np.float32)
    fastinit.kaiming_normal_(w, nonlinearity="gelu", seed=0, stream="w")
    assert w.std() == pytest.approx(sn.reference_gain("gelu") / 16, rel=0.01)


# ---- the weights' second moment from a spec ---------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "xavier_uniform(gain=2.0)", "kaiming_normal(mode='fan_out', nonlinearity='tanh')", "lecun_normal",
    "glorot_normal", "he_uniform", "linear_default", "random_walk_normal(nonlinearity='relu')",
    "mup_normal(role='readout', base_width=100, std=0.5)", "uniform(low=-1.0, high=3.0)",
    "normal(mean=0.5, std=2.0)", "trunc_normal(mean=0.1, std=1.0, a=-1.5, b=2.5)",
    "trunc_normal(std=1.0, a=-1.5, b=2.5, bounds='std')", "hf_normal", "sparse(sparsity=0.3)",
    "bias_uniform(fan_in=30)", "variance_scaling(scale=2.0, mode='fan_geo_avg', distribution='uniform')",
    "orthogonal(gain=1.5)"])
def test_weight_second_moment_matches_the_fill(spec):
    shape = (600, 300)
    w = np.empty(shape, np.float64)
    if spec.startswith("orthogonal"):
        fastinit.orthogonal_(w, gain=1.5, seed=1, stream="w")
        assert weight_second_moment(spec, shape) == pytest.approx((w * w).mean(), rel=1e-12)
        return
    fn, kw = fastinit.schemes.parse(spec)
    fn(w, **kw, seed=1, stream="w")
    # 180000 draws: the mean square's relative standard error is <= sqrt(2 / 180000) = 0.33%
    assert weight_second_moment(spec, shape) == pytest.approx((w * w).mean(), rel=0.012)


def test_weight_second_moment_errors():
    with pytest.raises(ValueError, match="not random"):
        weight_second_moment("eye", (4, 4))
    with pytest.raises(ValueError, match="needs base_width"):
        weight_second_moment("mup_normal(role='hidden')", (4, 4))
    with pytest.raises(ValueError, match="orthogonal takes gain= and layout= only"):
        weight_second_moment("orthogonal(std=2)", (4, 4))
    with pytest.raises(ValueError, match="gain must be >= 0; got -1.0"):
        weight_second_moment("orthogonal(gain=-1)", (4, 4))
    with pytest.raises(TypeError, match="gain must be a real number; got str 'a'"):
        weight_second_moment("orthogonal(gain='a')", (4, 4))


# ---- the recursions ----------------------------------------------------------------------------------

def test_closed_forms():
    relu = signal.propagate(signal.mlp("relu", "kaiming_normal(nonlinearity='relu')", 30, 512, d_in=128))
    assert np.allclose(relu.forward, 2.0, rtol=1e-12) and np.allclose(relu.backward, 1.0, rtol=1e-12)
    xavier = signal.propagate(signal.mlp("relu", "xavier_normal", 30, 512))
    assert xavier.forward_growth == pytest.approx(0.5, rel=1e-12) and xavier.backward_growth == pytest.approx(0.5)
    selu = signal.propagate(signal.mlp("selu", "selu_normal", 40, 512))
    assert np.allclose(selu.forward, 1.0, rtol=1e-10)  # SELU's fixed point (Klambauer et al. 2017)
    assert selu.backward_growth == pytest.approx(activations.moments("selu", 1.0)[1], rel=1e-10)
    # a residual chain of scale alpha on a linear branch: q_l = (1 + alpha^2)^(l - 1)
    res = signal.propagate(signal.mlp("linear", "lecun_normal", 10, 256, residual=0.5))
    assert np.allclose(res.forward, 1.25 ** np.arange(10), rtol=1e-12)
    assert np.allclose(res.backward, 1.25 ** np.arange(9, -1, -1), rtol=1e-12)
    biased = signal.propagate([signal.Layer(1.0, 1.0, bias=0.25)] * 3, q0=2.0)
    assert np.allclose(biased.forward, [2.25, 2.5, 2.75])


def test_residual_chain_matches_a_measured_resnet(one_thread):
    torch.manual_seed(0)
    n, depth, alpha = 1024, 12, 0.5
    pred = signal.propagate(signal.mlp("relu", "kaiming_normal(nonlinearity='relu')", depth, n, residual=alpha))
    ratios = []
    for k in range(4):
        x = torch.empty(64, n)
        fastinit.normal_(x.numpy(), seed=k, stream="x")
        ws = [torch.from_numpy(fastinit.kaiming_normal_(np.empty((n, n), np.float32), nonlinearity="relu",
                                                        seed=k, stream=f"w{i}")) for i in range(depth)]
        h = x @ ws[0].T
        qs = [(h.double() ** 2).mean().item()]
        for w in ws[1:]:
            h = h + alpha * (torch.relu(h) @ w.T)
            qs.append((h.double() ** 2).mean().item())
        ratios.append(np.array(qs) / pred.forward)
    assert np.abs(np.mean(ratios, axis=0) - 1).max() < 0.05


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="activation must be one of"):
        signal.mlp("swish", "lecun_normal", 3, 8)
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        signal.mlp("relu", "lecun_normal", 0, 8)
    with pytest.raises(ValueError, match="Layer forward_gain must be >= 0; got -1.0"):
        signal.Layer(-1.0, 1.0)
    with pytest.raises(TypeError, match="Layer backward_gain must be a real number; got str '1'"):
        signal.Layer(1.0, "1")
    with pytest.raises(ValueError, match="Layer residual must be finite; got inf"):
        signal.Layer(1.0, 1.0, residual=float("inf"))
    with pytest.raises(TypeError, match="non-empty sequence of fastinit.signal.Layer"):
        signal.propagate([])
    with pytest.raises(ValueError, match="q0 must be >= 0; got -1.0"):
        signal.propagate([signal.Layer(1.0, 1.0)], q0=-1.0)
    with pytest.raises(ValueError, match="a residual layer needs fan_in == fan_out"):
        signal.Layer.from_scheme("lecun_normal", (8, 4), residual=1.0)
    with pytest.raises(ValueError, match="factor must be a number > 1"):
        signal.advise("relu", 10, factor=1)
    with pytest.raises(TypeError, match="factor must be a real number; got str '2'"):
        signal.advise("relu", 10, factor="2")
    with pytest.raises(ValueError, match="q \\(a variance\\) must be finite and >= 0"):
        activations.expect(np.square, -1.0)


def test_advise():
    relu = {a.label: a for a in signal.advise("relu", 50)}
    assert relu["kaiming_normal(fan_in)"].ok and relu["orthogonal(gain)"].ok
    assert not relu["xavier_normal"].ok and relu["xavier_normal"].forward_spread == pytest.approx(2.0 ** 49)
    selu = {a.label: a for a in signal.advise("selu", 10)}
    assert selu["lecun_normal"].ok and selu["lecun_normal"].forward_spread == pytest.approx(1.0, abs=1e-9)
    assert not selu["kaiming_normal(fan_in)"].ok  # torch's 3/4 gain: 0.86 per layer
    assert signal.advise("relu", 50)[0].ok


# ---- agreement with measured networks ---------------------------------------------------------------

def _check(results, width, depth, d_in, level_layers, growth):
    worst = {}
    for (scheme, act), (fwd, bwd) in results.items():
        spec = sn.spec_and_std(scheme, act, d_in, width)[0]
        pred = signal.propagate(signal.mlp(act, spec, depth, width, d_in))
        rf, rb = fwd / pred.forward, bwd / pred.backward
        lf = np.abs(rf[:, :level_layers].mean(0) - 1).max()         # the first layers of the forward pass
        lb = np.abs(rb[:, -level_layers:].mean(0) - 1).max()        # the first layers of the backward pass
        assert lf < 0.10, f"{spec} ({act}): forward variance off by {lf:.1%} within {level_layers} layers"
        assert lb < 0.10, f"{spec} ({act}): gradient variance off by {lb:.1%} within {level_layers} layers"
        worst[scheme, act] = (lf, lb)
        if growth:
            gf = np.exp(np.mean(np.log(fwd[:, -1] / fwd[:, 0])) / (depth - 1))
            gb = np.exp(np.mean(np.log(bwd[:, 0] / bwd[:, -1])) / (depth - 1))
            assert gf / pred.forward_growth == pytest.approx(1, abs=0.02), f"{spec} ({act}): forward growth"
            assert gb / pred.backward_growth == pytest.approx(1, abs=0.02), f"{spec} ({act}): backward growth"
    return worst


def test_agreement_depth_10_quick():  # sn.run pins one torch thread itself
    """ReLU, tanh, SELU, GELU under xavier and kaiming: 8 networks of width 4096, 10 layers."""
    results = sn.run(["xavier", "kaiming_in"], 10, WIDTH, D_IN, NETS, BATCH, acts=["relu", "tanh", "selu", "gelu"],
                     keep=True)
    _check(results, WIDTH, 10, D_IN, 10, growth=False)


def test_agreement_depth_10_orthogonal_quick():
    """ReLU, tanh, SELU, GELU under orthogonal(gain): 8 networks of width 4096, 10 layers."""
    results = sn.run(["orthogonal"], 10, WIDTH, D_IN, NETS, BATCH, acts=["relu", "tanh", "selu", "gelu"],
                     keep=True)  # 10 reflector arrays of 67 MB: no second build for the backward pass
    _check(results, WIDTH, 10, D_IN, 10, growth=False)


@pytest.mark.parametrize("shape", [(WIDTH, WIDTH), (1024, 2048), (700, 300), (5, 5), (1, 5)])
def test_orthogonal_operator_is_orthogonal_(shape):
    # the agreement tests' orthogonal weights are orthogonal_'s matrices: Z y and Z^T d through the
    # reflectors equal the products with the formed matrix to float32 rounding (measured 1e-6); the
    # square matrix of the width-4096 tests (at (4096, 4096) the very matrix of network 3's layer 7 in
    # the agreement runs: sn.run's seed 2026 and stream) and wide ones (as the (4096, 8192) first layer)
    z = fastinit.orthogonal_(np.empty(shape, np.float32), seed=2026, stream="net3.layer7").astype(np.float64)
    op = sn.OrthogonalOperator(shape, 2026, "net3.layer7")
    y = fastinit.normal_(np.empty((16, shape[1]), np.float32), seed=1, stream="y").T  # Fortran order, as
    d = fastinit.normal_(np.empty((16, shape[0]), np.float32), seed=1, stream="d").T  # the harness passes them
    y0, d0 = y.copy(), d.copy()
    for got, want in ((op.matmul(y), z @ y0), (op.rmatmul(d), z.T @ d0)):
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert np.array_equal(y, y0) and np.array_equal(d, d0)  # the inputs are left alone
    other = sn.OrthogonalOperator(shape, 2026, "net3.layer8")  # another stream, another matrix
    assert np.abs(other.matmul(y) - z @ y).max() > 0.1 * np.abs(z @ y).max()


@pytest.mark.slow
@pytest.mark.parametrize("group", [["xavier", "kaiming_in", "kaiming_out"], ["lecun"], ["orthogonal"]],
                         ids=["xavier-kaiming", "lecun", "orthogonal"])
def test_agreement_grid_depth_50(group):
    """Every activation under each scheme: 8 networks of width 4096 and depth 50: the first 10
    layers of each pass within 10%, the mean growth per layer within 2%."""
    results = sn.run(group, 50, WIDTH, D_IN, NETS, BATCH)
    _check(results, WIDTH, 50, D_IN, 10, growth=True)


def test_harness_weights_are_the_schemes_weights():
    # s * Z with Z = normal_(0, 1) is kaiming_normal_'s tensor for the same seed and stream, to rounding
    z = sn.base_matrix("normal", (256, 512), 7, "w").numpy()
    w = fastinit.kaiming_normal_(np.empty((256, 512), np.float32), nonlinearity="tanh", seed=7, stream="w")
    np.testing.assert_allclose(w, z * sn.spec_and_std("kaiming_in", "tanh", 512, 256)[1], rtol=1e-6, atol=1e-7)
    t = sn.base_matrix("truncated", (256, 512), 7, "w").numpy()
    w = fastinit.lecun_normal_(np.empty((256, 512), np.float32), seed=7, stream="w")
    np.testing.assert_allclose(w, t / math.sqrt(512), rtol=1e-5, atol=1e-7)


# ---- the probe ------------------------------------------------------------------------------------------

def test_probe_measures_each_layer_forward_and_backward():
    from fastinit.torch.nets import mlp

    model = mlp("tanh", "xavier_normal", 4, 64, d_in=32, seed=3, bias="normal(std=0.1)")
    x = torch.empty(16, 32)
    fastinit.normal_(x.numpy(), seed=1, stream="x")
    grads_before = [p.grad for p in model.parameters()]
    result = fastinit.torch.probe(model, x, seed=5)
    assert [r.name for r in result] == [str(i) for i in range(7)]
    assert [p.grad for p in model.parameters()] == grads_before  # nothing of the model changed
    # by hand: the same forward, the loss sum(out * c) with c = normal_(seed=5, stream="fastinit.probe")
    hs, h = [], x.clone().requires_grad_(True)
    for m in model:
        h = m(h)
        h.retain_grad()
        hs.append(h)
    c = torch.from_numpy(fastinit.normal_(np.empty((16, 64), np.float32), seed=5, stream="fastinit.probe"))
    (hs[-1] * c).sum().backward()
    for rec, h in zip(result, hs):
        assert rec.forward == pytest.approx((h.detach().double() ** 2).mean().item(), rel=1e-12)
        assert rec.backward == pytest.approx((h.grad.double() ** 2).mean().item(), rel=1e-12)
    linears = result.select(torch.nn.Linear)
    assert len(linears) == 4 and linears.names == ["0", "2", "4", "6"]
    assert "E[h^2]" in linears.table()


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine small ops are several times faster so."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_probe_agrees_with_the_prediction_for_a_real_model(one_thread):
    from fastinit.torch.nets import mlp

    model = mlp("selu", "lecun_normal", 12, 1024, seed=0)
    x = torch.empty(256, 1024)
    fastinit.normal_(x.numpy(), seed=0, stream="x")
    result = fastinit.torch.probe(model, x).select(torch.nn.Linear)
    pred = signal.propagate(signal.mlp("selu", "lecun_normal", 12, 1024))
    assert np.abs(result.forward / pred.forward - 1).max() < 0.05
    assert np.abs(result.backward / pred.backward - 1).max() < 0.10


def test_probe_counts_repeated_calls_takes_a_loss_and_frozen_models():
    lin = torch.nn.Linear(8, 8)
    model = torch.nn.Sequential(lin, torch.nn.ReLU(), lin)
    result = fastinit.torch.probe(model, torch.ones(2, 8), loss=lambda out: out.pow(2).sum())
    assert [r.name for r in result] == ["0", "1", "0#1"]
    model.requires_grad_(False)
    frozen = fastinit.torch.probe(model, torch.ones(2, 8), loss=lambda out: out.pow(2).sum())
    assert frozen.backward == pytest.approx(result.backward) and all(r.backward > 0 for r in frozen)


def test_probe_errors():
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        fastinit.torch.probe(lambda x: x, torch.ones(1))
    with pytest.raises(TypeError, match="loss must be None or a function"):
        fastinit.torch.probe(torch.nn.Linear(2, 2), torch.ones(1, 2), loss=3)


# ---- muP ----------------------------------------------------------------------------------------------------

def test_mup_variances():
    from fastinit.schemes.mup import mup_variance

    assert mup_variance("hidden", 1024, 256) == pytest.approx(1 / 1024)        # fan-in at every width
    assert mup_variance("readout", 1024, 256) == pytest.approx(256 / 1024 ** 2)  # 1 / fan_in^2 relative to base
    assert mup_variance("readout", 256, 256) == pytest.approx(1 / 256)          # = the standard init at base
    assert mup_variance("input", 64, 256, std=0.02) == pytest.approx(0.0004)    # no width in the input's fan
    assert mup_variance("query", 1024, 256, zero=True) == 0.0
    with pytest.raises(ValueError, match="role must be one of"):
        mup_variance("output", 8, 8)
    with pytest.raises(ValueError, match="zero=True is for the readout and query roles"):
        mup_variance("hidden", 8, 8, zero=True)
    with pytest.raises(TypeError, match="base_width must be an int >= 1"):
        mup_variance("hidden", 8, 8.0)
    with pytest.raises(ValueError, match="mup_normal needs base_width"):
        fastinit.mup_normal_(np.empty((4, 4), np.float32), seed=0, stream="w")


def test_mup_in_init_module_rules():
    model = torch.nn.Sequential(torch.nn.Linear(64, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 2048),
                                torch.nn.ReLU(), torch.nn.Linear(2048, 10))
    report = fastinit.torch.init_module_(model, 0, rules={
        "0.weight": "mup_normal(role='input', base_width=256)",
        "2.weight": "mup_normal(role='hidden', base_width=256)",
        "4.weight": "mup_normal(role='readout', base_width=256)", "*.bias": "zeros"})
    assert str(report["4.weight"]).startswith("mup_normal(") and "role='readout'" in str(report["4.weight"])
    assert model[2].weight.std().item() == pytest.approx(1 / math.sqrt(2048), rel=0.01)
    assert model[4].weight.std().item() == pytest.approx(math.sqrt(256) / 2048, rel=0.03)


def test_mup_base_width_in_spec_and_file_metadata(tmp_path):
    from safetensors import safe_open

    from fastinit.model import spec as model_spec
    from fastinit.model.writer import fill

    spec = model_spec.from_dict({"seed": 1, "base_width": 128, "tensors": [
        {"name": "hidden.weight", "shape": [512, 512], "scheme": "mup_normal(role='hidden')"},
        {"name": "head.weight", "shape": [10, 512], "scheme": "mup_normal(role='readout', zero=True)"}]})
    assert spec.metadata == {model_spec.BASE_WIDTH_KEY: "128"}
    fill(spec, tmp_path, quiet=True)
    with safe_open(str(tmp_path / "model.safetensors"), "np") as f:
        assert f.metadata()[model_spec.BASE_WIDTH_KEY] == "128"
        hidden = f.get_tensor("hidden.weight")
        assert hidden.std() == pytest.approx(math.sqrt(1 / 128 / 4), rel=0.01)  # std^2 / m, m = 4
        assert not f.get_tensor("head.weight").any()
    with pytest.raises(model_spec.SpecError, match="needs base_width"):
        model_spec.from_dict({"tensors": [{"name": "w", "shape": [4, 4], "scheme": "mup_normal"}]})
    with pytest.raises(model_spec.SpecError, match="field 'base_width': expected an int >= 1"):
        model_spec.from_dict({"base_width": 0, "tensors": [{"name": "w", "shape": [4, 4], "scheme": "zeros"}]})


def test_coordinate_check_flat_under_mup_drifting_under_sp(one_thread):
    from fastinit.torch.nets import mup_mlp
    from fastinit.torch.probe import coord_check

    x = torch.empty(32, 64)
    fastinit.normal_(x.numpy(), seed=0, stream="x")
    widths = [256, 1024, 4096]
    rms = {par: {w: np.sqrt(r.forward) for w, r in coord_check(
        lambda w: mup_mlp(w, 256, depth=4, parametrization=par, seed=0), widths, x).items()} for par in ("mup", "sp")}
    mup = np.array([rms["mup"][w] for w in widths])   # [width, layer]
    sp = np.array([rms["sp"][w] for w in widths])
    # muP: the input and hidden layers keep their scale (within 10%) from width 256 to 4096 ...
    assert np.abs(mup[:, :3] / mup[0, :3] - 1).max() < 0.10
    # ... and the readout shrinks as 1/sqrt(m) at init, as muP intends (m = 16: a quarter)
    assert mup[-1, 3] / mup[0, 3] == pytest.approx(0.25, rel=0.15)
    # the standard parametrization (fixed std): layer k grows as m^((k-1)/2): x4, x16, x64 at m = 16
    assert sp[-1, :] / sp[0, :] == pytest.approx([1, 4, 16, 64], rel=0.15)
    # the prediction says the same with no network built
    for w in widths:
        layers = [signal.Layer.from_scheme(f"mup_normal(role='{r}')", shape, "relu" if i else "linear", base_width=256)
                  for i, (r, shape) in enumerate([("input", (w, 64)), ("hidden", (w, w)), ("hidden", (w, w)),
                                                  ("readout", (16, w))])]
        pred = signal.propagate(layers)
        assert np.sqrt(pred.forward[:3]) == pytest.approx(mup[0, :3], rel=0.10)


# ---- the CLI and the docs ------------------------------------------------------------------------------

def test_cli(capsys, tmp_path, one_thread):
    from fastinit.cli import main

    assert main(["advise", "--activation", "relu", "--depth", "50"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ok kaiming_normal\(fan_in\)", out, re.M) and re.search(r"^-- xavier_normal ", out, re.M)
    assert main(["gains"]) == 0
    assert re.search(r"^gelu\s+1\.533530\s+quadrature", capsys.readouterr().out, re.M)
    png = tmp_path / "relu.png"
    assert main(["probe", "--activation", "relu", "--depth", "4", "--width", "64", "--batch", "8",
                 "--scheme", "xavier_normal", "--plot", str(png)]) == 0
    assert "growth per layer" in capsys.readouterr().out and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["probe", "--scheme", "eye", "--depth", "2", "--width", "8"]) == 2
    assert "not random" in capsys.readouterr().err
    svg = tmp_path / "coord.svg"
    assert main(["coord-check", "--base-width", "64", "--widths", "64,256", "--depth", "3", "--plot", str(svg)]) == 0
    out = capsys.readouterr().out
    assert "muP, base width 64" in out and "width    256" in out and svg.exists()
    with pytest.raises(SystemExit):
        main(["coord-check", "--widths", "64,x"])
    assert "argument --widths: expected comma-separated integers >= 1 such as 256,512,1024; got '64,x'" \
        in capsys.readouterr().err
    for args, says in ((["advise", "--activation", "relu", "--depth", "0"], "argument --depth: expected an integer >= 1; got '0'"),
                       (["coord-check", "--widths", "64,0"], "argument --widths: expected comma-separated integers >= 1"),
                       (["probe", "--scheme", "xavier_normal", "--batch", "2.5"], "argument --batch: expected an integer >= 1; got '2.5'")):
        with pytest.raises(SystemExit) as exit:
            main(args)
        assert exit.value.code == 2 and says in capsys.readouterr().err


def test_docs_probe_code_blocks_run(tmp_path, monkeypatch, one_thread):
    text = (pathlib.Path(__file__).parents[2] / "docs" / "probe.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 7
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:  # in order, in one namespace, as a reader runs them
        exec(compile(block, "docs/probe.md", "exec"), namespace)
    assert (tmp_path / "relu.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_chain_of_a_sequential_model_predicts_its_probe(one_thread):
    from fastinit.torch.nets import chain

    model = torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                torch.nn.Tanh(), torch.nn.Linear(1024, 1024))
    x = torch.empty(128, 256)
    fastinit.normal_(x.numpy(), seed=0, stream="x")
    rules = {"*.weight": "kaiming_normal(nonlinearity='relu')", "*.bias": "normal(std=0.5)"}
    for convention in ("rules", "torch"):  # init_module_'s rules, then the torch defaults' report
        if convention == "rules":
            fastinit.torch.init_module_(model, 0, rules)
            plan = rules
        else:
            plan = fastinit.torch.init_module_(model, 0)
        result = fastinit.torch.probe(model, x).select(torch.nn.Linear)
        # the prediction from the measured output gradient (one draw of c: 128 x 1024 values)
        pred = signal.propagate(chain(model, plan), g_out=result.backward[-1])
        assert np.abs(result.forward / pred.forward - 1).max() < 0.06
        assert np.abs(result.backward / pred.backward - 1).max() < 0.06
    with pytest.raises(ValueError, match="neither Linear/Conv nor an elementwise activation"):
        chain(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4)), {})
    with pytest.raises(TypeError, match="must be a torch.nn.Sequential"):
        chain(torch.nn.Linear(4, 4), {})


def test_chain_reads_a_report_of_rules_as_the_rules():
    # a rule's description in the report ends in "[rule ...]": chain reads the report's plan
    from fastinit.torch.nets import chain

    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    rules = {"*.weight": "kaiming_normal(nonlinearity='relu')", "*.bias": "normal(std=0.5)"}
    report = fastinit.torch.init_module_(model, 0, rules)
    assert all(d.endswith("]") for d in report.values())
    assert chain(model, report) == chain(model, rules)


def test_docs_probe_transcripts_are_what_the_cli_prints(capsys):
    from fastinit.cli import main

    text = (pathlib.Path(__file__).parents[2] / "docs" / "probe.md").read_text()
    transcripts = re.findall(r"```console\n\$ fastinit (.*?)\n(.*?)```", text, re.DOTALL)
    assert [t[0] for t in transcripts] == ["gains", "advise --activation relu --depth 50"]
    for command, expected in transcripts:
        assert main(command.split()) == 0
        assert capsys.readouterr().out.splitlines()[:len(expected.splitlines())] == expected.splitlines()


def test_mup_spec_through_the_cli(tmp_path):
    from safetensors import safe_open

    from fastinit.cli import main

    spec = tmp_path / "mup.toml"
    spec.write_text('seed = 3\nbase_width = 64\n\n[defaults]\n"h.*" = "mup_normal(role=\'hidden\')"\n'
                    '"head.weight" = "mup_normal(role=\'readout\')"\n\n'
                    '[[tensors]]\nname = "h.0.weight"\nshape = [256, 256]\n\n'
                    '[[tensors]]\nname = "head.weight"\nshape = [8, 256]\n')
    assert main(["fill", str(spec), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    with safe_open(str(tmp_path / "out" / "model.safetensors"), "np") as f:
        assert f.metadata()["fastinit.mup_base_width"] == "64"
        assert f.get_tensor("head.weight").std() == pytest.approx(math.sqrt(1 / 64) / 4, rel=0.1)  # std / m
    assert main(["verify", str(spec), str(tmp_path / "out"), "--full"]) == 0
