"""fastinit.torch.datadep: LSUV, Fixup and T-Fixup on small real torch models, written by the
plan engine (their reports' plans replay the same bits)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastinit.torch as ft
from fastinit.torch.datadep import LSUVLayer, fixup_, fixup_branches, lsuv_, t_fixup_

nn = torch.nn


def bits(t):
    return t.detach().reshape(-1).numpy().view(np.uint8).copy()


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(bits(a), bits(b))


def scaled(t, factor):
    """``t * factor`` as a plan's ``scale`` op computes it: in float64, rounded once (RNE)."""
    return (t.double() * factor).to(t.dtype)


def replays(model, report, seed):
    """Every parameter the report's plan writes, replayed by ``fastinit.model.plan.fill`` into
    new memory, has the model's bits."""
    from fastinit.model import plan
    params = dict(model.named_parameters())
    written = [e for e in report.plan.entries.values() if e.ops]
    for e in written:
        out = plan.fill(np.empty(e.shape, np.float32), e.ops, seed=seed, stream=e.name)
        assert same_bits(params[e.name], torch.from_numpy(out)), e.name
    return len(written)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def unchanged(model, snap):
    return all(same_bits(v, snap[k]) for k, v in model.state_dict().items())


# ------------------------------------------------------------------ models

class Block(nn.Module):
    """torchvision's BasicBlock naming; ``fixup=True``: no BatchNorm, the Fixup paper's scalars."""

    def __init__(self, cin, cout, stride=1, fixup=False, reverse=False):
        super().__init__()
        make = {
            "conv1": lambda: nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            "bn1": lambda: nn.Identity() if fixup else nn.BatchNorm2d(cout),
            "conv2": lambda: nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            "bn2": lambda: nn.Identity() if fixup else nn.BatchNorm2d(cout),
            "downsample": lambda: (nn.Conv2d(cin, cout, 1, stride, bias=False)
                                   if stride != 1 or cin != cout else None),
        }
        for name in (reversed(list(make)) if reverse else make):  # registration order differs
            setattr(self, name, make[name]())
        if fixup:
            for name in ("bias1a", "bias1b", "bias2a", "bias2b"):
                setattr(self, name, nn.Parameter(torch.randn(1)))
            self.scale = nn.Parameter(torch.randn(1))
        self.fixup = fixup

    def forward(self, x):
        if self.fixup:
            out = torch.relu(self.conv1(x + self.bias1a) + self.bias1b)
            out = self.conv2(out + self.bias2a) * self.scale + self.bias2b
            short = x if self.downsample is None else self.downsample(x + self.bias1a)
        else:
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            short = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + short)


class ResNet(nn.Module):
    """stem conv 3->8, blocks (8,8), (8,8), (8,16, stride 2), global pool, fc 16->10; 3x16x16 inputs."""

    def __init__(self, fixup=False, reverse=False):
        super().__init__()
        make = {
            "conv1": lambda: nn.Conv2d(3, 8, 3, 1, 1, bias=False),
            "bn1": lambda: nn.Identity() if fixup else nn.BatchNorm2d(8),
            "layer1": lambda: nn.Sequential(Block(8, 8, fixup=fixup, reverse=reverse),
                                            Block(8, 8, fixup=fixup, reverse=reverse)),
            "layer2": lambda: nn.Sequential(Block(8, 16, 2, fixup=fixup, reverse=reverse)),
            "fc": lambda: nn.Linear(16, 10),
        }
        for name in (reversed(list(make)) if reverse else make):
            setattr(self, name, make[name]())

    def forward(self, x):
        x = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(x.mean((2, 3)))


def resnet(fixup=False, reverse=False, torch_seed=0):
    torch.manual_seed(torch_seed)
    return ResNet(fixup, reverse)


def batch():
    return torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))


class Encoder(nn.Module):
    """Embedding -> TransformerEncoder (d_model 32, 4 heads, 3 layers) -> Linear head."""

    def __init__(self, layers=3, reverse=False, no_norm=False):
        super().__init__()
        make = {
            "embed": lambda: nn.Embedding(50, 32, padding_idx=0),
            "encoder": lambda: nn.TransformerEncoder(
                nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), layers,
                enable_nested_tensor=False),
            "head": lambda: nn.Linear(32, 50),
        }
        for name in (reversed(list(make)) if reverse else make):
            setattr(self, name, make[name]())
        if no_norm:
            for layer in self.encoder.layers:
                layer.norm1 = nn.Identity()
                layer.norm2 = nn.Identity()

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)))


def encoder(reverse=False, torch_seed=0, **kw):
    torch.manual_seed(torch_seed)
    return Encoder(reverse=reverse, **kw)


SEED = 7


# ------------------------------------------------------------------ LSUV

def layer_variances(model, x):
    """Each Linear/Conv layer's output variance (ddof 0, float64) in one eval-mode forward pass."""
    outs, hooks = {}, []

    def keep(name):
        def hook(mod, args, out):  # returns None: the output is not replaced
            outs[name] = out.detach().double()
        return hook

    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            hooks.append(m.register_forward_hook(keep(name)))
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return {name: float(np.var(out.numpy())) for name, out in outs.items()}


def test_lsuv_unit_variance_per_layer():
    model, x = resnet(), batch()
    report = lsuv_(model, x, tol=0.05, seed=SEED)
    assert isinstance(report, ft.InitReport) and replays(model, report, SEED) == 9
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert sorted(report.initialized) == sorted(f"{n}.weight" for n in names)
    assert report["fc.bias"] == "unchanged (LSUV keeps it)"
    assert report["layer1.0.conv1.weight"].startswith("orthogonal(gain=1.0); scale(")
    fits = report.lsuv
    assert sorted(fits) == sorted(names)
    # forward order: stem, block 1, block 2, block 3 (downsample runs after conv2), fc
    assert list(fits) == ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2",
                            "layer2.0.conv1", "layer2.0.conv2", "layer2.0.downsample", "fc"]
    measured = layer_variances(model, x)
    for name, r in fits.items():
        assert isinstance(r, LSUVLayer) and r.converged and 1 <= r.iterations <= 10
        assert abs(measured[name] - 1) < 0.05, (name, measured[name])
        assert abs(r.variance - measured[name]) < 1e-9


def test_lsuv_max_iter_counts_rescales():
    model, x = resnet(), batch()
    report = lsuv_(model, x, tol=1e-12, max_iter=1, seed=SEED).lsuv  # unreachable tol: one rescale each
    assert all(r.iterations == 1 and not r.converged for r in report.values())
    measured = layer_variances(model, x)
    assert all(abs(report[n].variance - v) < 1e-9 for n, v in measured.items())
    # a bias-free conv is linear in its weight: one division by the std lands on variance 1
    assert all(abs(r.variance - 1) < 1e-5 for n, r in report.items() if n != "fc")


def test_lsuv_tol_is_on_the_variance_not_the_std():
    # two output channels with biases +-c: the bias alone gives the output variance c^2 = 1.15,
    # which no rescaling of W removes: |std - 1| < 0.1 would pass, |var - 1| < 0.1 never does
    model = nn.Linear(8, 2)
    c = math.sqrt(1.15)
    with torch.no_grad():
        model.bias.copy_(torch.tensor([c, -c]))
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(3))
    report = lsuv_(model, x, tol=0.1, max_iter=40, seed=SEED)
    r = report.lsuv[""]
    assert r.iterations == 40 and not r.converged
    assert 1.15 < r.variance < 1.2 and abs(math.sqrt(r.variance) - 1) < 0.1


def test_lsuv_orthogonal_preinit_and_uncalled_layers():
    class Net(nn.Sequential):
        def __init__(self):
            super().__init__(nn.Linear(12, 20), nn.ReLU(), nn.Linear(20, 6))
            self.unused = nn.Linear(5, 7)  # never called by forward

        def forward(self, x):
            return self[2](self[1](self[0](x)))

    model = Net()
    x = torch.randn(64, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model[0].bias.zero_()
        model[2].bias.zero_()
    report = lsuv_(model, x, seed=SEED)
    assert report.lsuv["unused"] == LSUVLayer(None, 0, False)
    assert report["unused.weight"] == "orthogonal(gain=1.0) [LSUV: not called by the forward pass]"
    assert same_bits(model.unused.weight, ft.orthogonal_(torch.empty(7, 5), seed=SEED, stream="unused.weight"))
    # a bias-free linear layer: LSUV only rescales the orthogonal matrix
    w0 = ft.orthogonal_(torch.empty(20, 12), seed=SEED, stream="0.weight")
    ratio = model[0].weight / w0
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-5)


def test_lsuv_restores_modes_and_buffers_and_removes_hooks():
    model, x = resnet(), batch()
    model.train()
    model.layer1[1].eval()
    modes = {n: m.training for n, m in model.named_modules()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    report = lsuv_(model, x, seed=SEED, train=True)  # BatchNorm on batch statistics
    assert all(r.converged for r in report.lsuv.values())
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())
    assert not any(m._forward_hooks for m in model.modules())


def test_lsuv_cleans_up_on_error():
    class Flaky(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("boom")
            return self.b(torch.relu(self.a(x)))

    model = Flaky().train()
    with pytest.raises(RuntimeError, match="boom"):
        lsuv_(model, torch.randn(32, 8), seed=SEED)
    assert model.training and model.a.training
    assert not any(m._forward_hooks for m in model.modules())


def test_lsuv_reproducible_and_independent_of_construction_order():
    x = batch()
    a, b, c = resnet(torch_seed=0), resnet(reverse=True, torch_seed=1), resnet(torch_seed=2)
    for model in (a, b, c):  # LSUV keeps biases: give them fastinit's torch defaults first
        ft.init_module_(model, seed=SEED)
    lsuv_(a, x, seed=SEED)
    lsuv_(b, x, seed=SEED)
    lsuv_(c, x, seed=SEED + 1)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) != list(sb) and sorted(sa) == sorted(sb)  # other registration order
    assert all(same_bits(sa[n], sb[n]) for n in sa)
    weights = [n for n in sa if n.endswith("weight") and "bn" not in n]
    assert not any(same_bits(sa[n], c.state_dict()[n]) for n in weights)


@pytest.mark.parametrize("kw, exc, match", [
    ({"tol": 0}, ValueError, "tol must be > 0"),
    ({"tol": -0.1}, ValueError, "tol must be > 0"),
    ({"tol": float("nan")}, ValueError, "tol must be finite; got nan"),
    ({"tol": "0.1"}, TypeError, "tol must be a real number; got str '0.1'"),
    ({"max_iter": 0}, ValueError, "max_iter must be an int >= 1; got 0"),
    ({"max_iter": 2.0}, TypeError, "max_iter must be an int >= 1; got float 2.0"),
    ({"train": "yes"}, TypeError, "train must be True or False; got str 'yes'"),
    ({"seed": -1}, ValueError, "seed"),
    ({"threads": 0}, ValueError, "threads"),
    ({"backend": "gpu"}, ValueError, "backend"),
])
def test_lsuv_errors_before_writing(kw, exc, match):
    model = resnet()
    snap = snapshot(model)
    with pytest.raises(exc, match=match):
        lsuv_(model, batch(), **{"seed": SEED, **kw})
    assert unchanged(model, snap)


def test_lsuv_errors_model_and_batch():
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        lsuv_(lambda x: x, batch(), seed=SEED)
    model = resnet()
    snap = snapshot(model)
    with pytest.raises(RuntimeError):  # the model rejects the batch: found by the first pass
        lsuv_(model, torch.randn(2, 5, 16, 16), seed=SEED)
    assert unchanged(model, snap)
    with pytest.raises(ValueError, match="called no Linear/Conv layer"):
        lsuv_(nn.Sequential(nn.ReLU()), torch.randn(3, 3), seed=SEED)


# ------------------------------------------------------------------ Fixup

def he(shape, name, factor=None, mode="fan_in"):
    t = ft.kaiming_normal_(torch.empty(shape), mode=mode, nonlinearity="relu", seed=SEED, stream=name)
    return t if factor is None else scaled(t, factor)


def test_fixup_resnet():
    model = resnet(fixup=True)
    branches = fixup_branches(model)
    assert [[c for c in b] for b in branches] == [[blk.conv1, blk.conv2] for blk in
                                                  (model.layer1[0], model.layer1[1], model.layer2[0])]
    report = fixup_(model, seed=SEED)
    L, m = 3, 2
    factor = L ** (-1.0 / (2 * m - 2))
    for blk in ("layer1.0", "layer1.1", "layer2.0"):
        w = model.get_submodule(blk).conv1.weight
        assert same_bits(w, he(w.shape, f"{blk}.conv1.weight", factor))
        assert not model.get_submodule(blk).conv2.weight.any()
        assert model.get_submodule(blk).scale.item() == 1.0
        for b in ("bias1a", "bias1b", "bias2a", "bias2b"):
            assert getattr(model.get_submodule(blk), b).item() == 0.0
    assert not model.fc.weight.any() and not model.fc.bias.any()
    # outside the branches: He, unscaled (stem, shortcut)
    assert same_bits(model.conv1.weight, he((8, 3, 3, 3), "conv1.weight"))
    assert same_bits(model.layer2[0].downsample.weight, he((16, 8, 1, 1), "layer2.0.downsample.weight"))
    assert report["layer1.0.conv1.weight"] == ("kaiming_normal(a=0.0, mode='fan_in', nonlinearity='relu'); "
                                               f"scale({factor!r}) [Fixup: L^(-1/(2m-2)) = 0.57735 (L=3, m=2)]")
    assert report["layer1.0.scale"] == "ones [Fixup multiplier]"
    assert report["fc.bias"] == "zeros [Fixup: the classifier]"
    assert replays(model, report, SEED) == len(list(model.parameters()))
    # the network is the identity on its residual path at init: the output is the classifier's 0
    with torch.no_grad():
        assert not model(batch()).any()


def test_fixup_explicit_branches_three_layers_fan_out():
    torch.manual_seed(0)
    net = nn.ModuleDict({
        "stem": nn.Linear(6, 16),
        "blocks": nn.ModuleList(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                                              nn.Linear(32, 16)) for _ in range(4)),
        "head": nn.Linear(16, 3),
        "norm": nn.LayerNorm(16),
    })
    norm = snapshot(net.norm)
    report = fixup_(net, list(net.blocks), net.head, seed=SEED, mode="fan_out", scales=[], biases=[])
    factor = 4 ** (-1.0 / (2 * 3 - 2))
    for i in range(4):
        for j in (0, 2):
            w = net.blocks[i][j].weight
            assert same_bits(w, he(w.shape, f"blocks.{i}.{j}.weight", factor, mode="fan_out"))
            assert not net.blocks[i][j].bias.any()
        assert not net.blocks[i][4].weight.any() and not net.blocks[i][4].bias.any()
    assert same_bits(net.stem.weight, he((16, 6), "stem.weight", mode="fan_out"))
    assert not net.head.weight.any()
    assert unchanged(net.norm, norm) and report["norm.weight"].startswith("unchanged (LayerNorm")
    # a branch as a list of layers; a single-layer branch is just zeroed
    net2 = nn.ModuleDict({"a": nn.Linear(4, 4), "b": nn.Linear(4, 4), "c": nn.Linear(4, 4)})
    fixup_(net2, [[net2.a, net2.b], [net2.c]], None, seed=SEED)
    assert same_bits(net2.a.weight, he((4, 4), "a.weight", 2 ** -0.5))
    assert not net2.b.weight.any() and not net2.c.weight.any()


def test_fixup_reproducible_and_independent_of_construction_order():
    a, b = resnet(fixup=True, torch_seed=0), resnet(fixup=True, reverse=True, torch_seed=3)
    fixup_(a, seed=SEED)
    fixup_(b, seed=SEED)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) != list(sb)
    assert all(same_bits(sa[n], sb[n]) for n in sa)


def test_fixup_errors_before_writing():
    model = resnet(fixup=True)
    snap = snapshot(model)
    other = nn.Linear(8, 8)
    cases = [
        ({"branches": []}, ValueError, "branches is empty"),
        ({"branches": [nn.ReLU()]}, ValueError, r"branches\[0\] has no Linear/Conv layer"),
        ({"branches": [[model.layer1[0].conv1, "conv2"]]}, TypeError, r"branches\[0\] must hold nn.Modules"),
        ({"branches": model.layer1[0]}, TypeError, "branches must be a list"),
        ({"branches": [model.layer1[0], [model.layer1[0].conv2]]}, ValueError, "must not overlap"),
        ({"branches": [[model.layer1[0].conv1, model.layer1[0].conv2], [other]]}, ValueError,
         "not a parameter of module"),
        ({"branches": [[model.layer1[0].conv1, model.fc]], "classifier": model.fc}, ValueError,
         r"the classifier is in branches\[0\]"),
        ({"classifier": nn.ReLU()}, TypeError, "classifier must be 'auto', None or a Linear/Conv"),
        ({"mode": "fan_avg"}, ValueError, "mode must be 'fan_in' or 'fan_out'"),
        ({"scales": [torch.ones(1)]}, TypeError, "scales must hold nn.Parameters"),
        ({"biases": [nn.Parameter(torch.zeros(1))]}, ValueError, "not a parameter of module"),
        ({"seed": 2 ** 64}, ValueError, "seed"),
    ]
    for kw, exc, match in cases:
        with pytest.raises(exc, match=match):
            fixup_(model, **{"seed": SEED, **kw})
        assert unchanged(model, snap), kw
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        fixup_("resnet", seed=SEED)
    with pytest.raises(ValueError, match="none found by fixup_branches"):
        fixup_(nn.Sequential(nn.Linear(3, 3)), seed=SEED)


# ------------------------------------------------------------------ T-Fixup

def xavier(shape, name, distribution="uniform"):
    fill = ft.xavier_uniform_ if distribution == "uniform" else ft.xavier_normal_
    return fill(torch.empty(shape), seed=SEED, stream=name)


def test_t_fixup_encoder():
    model = encoder()
    norms = {n: p.clone() for n, p in model.named_parameters() if ".norm" in n}
    report = t_fixup_(model, seed=SEED)
    N, d = 3, 32
    f = 0.67 * N ** -0.25
    for i in range(N):
        p = f"encoder.layers.{i}."
        layer = model.encoder.layers[i]
        ref = xavier((3 * d, d), p + "self_attn.in_proj_weight")
        w = layer.self_attn.in_proj_weight
        assert same_bits(w[:2 * d], ref[:2 * d])  # Q and K: torch's packed Xavier, not scaled
        assert same_bits(w[2 * d:], scaled(ref[2 * d:], math.sqrt(2.0) * f))  # V: own-fans Xavier * factor
        for name in ("self_attn.out_proj", "linear1", "linear2"):
            mod = layer.get_submodule(name)
            assert same_bits(mod.weight, scaled(xavier(mod.weight.shape, p + name + ".weight"), f))
            assert not mod.bias.any()
        assert not layer.self_attn.in_proj_bias.any()
    assert same_bits(model.head.weight, xavier((50, d), "head.weight"))  # outside the layers: unscaled
    emb = scaled(ft.normal_(torch.empty(50, d), std=d ** -0.5, seed=SEED, stream="embed.weight"), (9 * N) ** -0.25)
    emb[0] = 0
    assert same_bits(model.embed.weight, emb)
    assert all(torch.equal(p, norms[n]) for n, p in model.named_parameters() if n in norms)
    assert report["encoder.layers.0.norm1.weight"] == "unchanged (LayerNorm: no T-Fixup rule)"
    assert report["encoder.layers.1.linear1.weight"] == (f"xavier_uniform; scale({f!r}) "
                                                         f"[T-Fixup: 0.67*N^(-1/4) (N=3) = 0.50909]")
    assert report["embed.weight"].endswith("; zeros on rows 0:1 [T-Fixup: std d^-1/2, (9N)^(-1/4) = 0.438691]")
    assert replays(model, report, SEED) == len(list(model.parameters())) - 4 * N  # the layer norms: kept
    with torch.no_grad():
        assert torch.isfinite(model(torch.tensor([[1, 2, 3, 0]]))).all()


def test_t_fixup_encoder_decoder_and_normal():
    torch.manual_seed(0)
    model = nn.Transformer(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=3, dim_feedforward=64,
                           dropout=0.0, batch_first=True)
    model.src_embed, model.tgt_embed = nn.Embedding(20, 32), nn.Embedding(30, 32)
    t_fixup_(model, seed=SEED, distribution="normal", encoder_embeddings=[model.src_embed],
             decoder_embeddings=[model.tgt_embed])
    d, N, M = 32, 2, 3
    fe, fd = 0.67 * N ** -0.25, (9 * M) ** -0.25
    dec = model.decoder.layers[2]
    for attn in ("self_attn", "multihead_attn"):
        name = f"decoder.layers.2.{attn}.in_proj_weight"
        ref = xavier((3 * d, d), name, "normal")
        w = dec.get_submodule(attn).in_proj_weight
        assert same_bits(w[:2 * d], ref[:2 * d]) and same_bits(w[2 * d:], scaled(ref[2 * d:], math.sqrt(2.0) * fd))
        ow = dec.get_submodule(attn).out_proj.weight
        assert same_bits(ow, scaled(xavier((d, d), f"decoder.layers.2.{attn}.out_proj.weight", "normal"), fd))
    assert same_bits(dec.linear2.weight, scaled(xavier((d, 64), "decoder.layers.2.linear2.weight", "normal"), fd))
    enc = model.encoder.layers[1]
    assert same_bits(enc.linear1.weight, scaled(xavier((64, d), "encoder.layers.1.linear1.weight", "normal"), fe))
    assert same_bits(model.src_embed.weight, scaled(ft.normal_(torch.empty(20, d), std=d ** -0.5, seed=SEED,
                                                               stream="src_embed.weight"), (9 * N) ** -0.25))
    assert same_bits(model.tgt_embed.weight, scaled(ft.normal_(torch.empty(30, d), std=d ** -0.5, seed=SEED,
                                                               stream="tgt_embed.weight"), fd))


def test_t_fixup_separate_qkv_and_explicit_layers():
    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(32, 4, kdim=16, vdim=24, add_bias_kv=True)
            self.mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))

    torch.manual_seed(0)
    model = nn.ModuleList([Layer(), Layer()])
    t_fixup_(model, seed=SEED, encoder_layers=list(model))
    f = 0.67 * 2 ** -0.25
    a = model[1].attn
    assert same_bits(a.q_proj_weight, xavier((32, 32), "1.attn.q_proj_weight"))
    assert same_bits(a.k_proj_weight, xavier((32, 16), "1.attn.k_proj_weight"))
    assert same_bits(a.v_proj_weight, scaled(xavier((32, 24), "1.attn.v_proj_weight"), f))
    assert same_bits(a.bias_k, ft.xavier_normal_(torch.empty(1, 1, 32), seed=SEED, stream="1.attn.bias_k"))
    assert same_bits(model[1].mlp[2].weight, scaled(xavier((32, 64), "1.mlp.2.weight"), f))


def test_t_fixup_reproducible_and_independent_of_construction_order():
    a, b, c = encoder(torch_seed=0), encoder(reverse=True, torch_seed=5), encoder(torch_seed=0)
    t_fixup_(a, seed=SEED)
    t_fixup_(b, seed=SEED)
    t_fixup_(c, seed=SEED + 1)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) != list(sb)
    assert all(same_bits(sa[n], sb[n]) for n in sa)
    assert not same_bits(sa["encoder.layers.0.linear1.weight"], c.state_dict()["encoder.layers.0.linear1.weight"])


def test_t_fixup_errors_before_writing():
    model = encoder()
    snap = snapshot(model)
    cases = [
        ({"distribution": "truncated_normal"}, ValueError, "distribution must be 'uniform' or 'normal'"),
        ({"encoder_layers": []}, ValueError, "no encoder or decoder layers"),
        ({"encoder_layers": model.encoder.layers[0]}, TypeError, "encoder_layers must be a list"),
        ({"encoder_layers": ["layer"]}, TypeError, "encoder_layers must hold Modules"),
        ({"decoder_layers": [model.encoder.layers[0]]}, ValueError, "both in encoder_layers and decoder_layers"),
        ({"decoder_embeddings": [model.embed]}, ValueError, r"no decoder layers \(M = 0\)"),
        ({"embeddings": [model.head]}, TypeError, "embeddings must hold Embeddings"),
        ({"encoder_layers": [nn.TransformerEncoderLayer(32, 4, 64)]}, ValueError,
         r"encoder_layers\[0\] \(TransformerEncoderLayer\) is not a submodule of module"),
        ({"embeddings": [nn.Embedding(3, 32)]}, ValueError, r"embeddings\[0\] \(Embedding\) is not a submodule"),
        ({"seed": None}, TypeError, "seed"),
    ]
    for kw, exc, match in cases:
        with pytest.raises(exc, match=match):
            t_fixup_(model, **{"seed": SEED, **kw})
        assert unchanged(model, snap), kw
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        t_fixup_(None, seed=SEED)
    with pytest.raises(ValueError, match="no encoder or decoder layers"):
        t_fixup_(nn.Linear(3, 3), seed=SEED)


def test_every_tensor_checked_before_the_first_write():
    """The plan engine checks every tensor it will write before writing any: a parameter that
    cannot be written (here: a transposed, non-contiguous weight; a meta weight) leaves the
    others untouched too."""
    model = resnet(fixup=True)
    with torch.no_grad():
        model.fc.weight = nn.Parameter(torch.randn(10, 16).T.contiguous().T)   # (10, 16), non-contiguous
    snap = snapshot(model)
    with pytest.raises(ValueError, match="fc.weight"):
        fixup_(model, seed=SEED)
    assert unchanged(model, snap)
    enc = encoder()
    enc.head.weight = nn.Parameter(torch.empty(50, 32, device="meta"))
    snap = {k: v for k, v in snapshot(enc).items() if not v.is_meta}
    with pytest.raises(ValueError, match="head.weight is on the meta device"):
        t_fixup_(enc, seed=SEED)
    assert all(same_bits(v, snap[k]) for k, v in enc.state_dict().items() if k in snap)
