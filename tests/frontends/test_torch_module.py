"""fastinit.torch.materialize (meta-device modules) and init_module_(pretrained=...)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

import fastinit.torch as ft  # noqa: E402

from .test_torch import Net  # noqa: E402


def state(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for n in a:
        assert a[n].dtype == b[n].dtype and torch.equal(a[n], b[n]), n


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 16)
        self.bn = torch.nn.BatchNorm1d(16)
        self.head = torch.nn.Linear(16, 50, bias=False)
        self.head.weight = self.emb.weight


# ------------------------------------------------------------------ materialize

@pytest.mark.parametrize("dtype", [None, torch.bfloat16, torch.float64])
def test_materialize_equals_init_module_on_cpu(dtype):
    with torch.device("meta"):
        meta = Net()
    assert ft.materialize(meta, seed=5, dtype=dtype) is meta
    report = meta.fastinit_report
    cpu = Net() if dtype is None else Net().to(dtype)
    ref = ft.init_module_(cpu, seed=5)
    assert dict(report) == dict(ref) and report.initialized == ref.initialized
    for p in meta.parameters():
        assert p.device.type == "cpu" and isinstance(p, torch.nn.Parameter) and p.requires_grad
    assert_same(state(meta), state(cpu))


def test_materialize_never_runs_torch_init_and_keeps_ties(monkeypatch):
    ref = Tied()
    ft.init_module_(ref, seed=0)
    with torch.device("meta"):
        m = Tied()

    def boom(*args, **kwargs):
        raise AssertionError("torch's init ran")

    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", boom)
    monkeypatch.setattr(torch.nn.init, "normal_", boom)
    report = ft.materialize(m, seed=0).fastinit_report
    assert m.head.weight is m.emb.weight and not m.emb.weight.is_meta
    # the tied weight once, under its first name; then the buffers
    assert list(report) == ["emb.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                            "bn.num_batches_tracked"]
    assert (m.bn.running_mean == 0).all() and (m.bn.running_var == 1).all() and m.bn.num_batches_tracked == 0
    assert torch.equal(m.emb.weight, ref.emb.weight)


def test_materialize_refusals_leave_module_on_meta():
    class Rope(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.register_buffer("inv_freq", torch.arange(4.0))

    with torch.device("meta"):
        m = Rope()
    with pytest.raises(ValueError, match="inv_freq: not written by the init code"):
        ft.materialize(m, seed=0)
    with pytest.raises(TypeError, match=r"buffers\['inv_freq'\] must be a CPU torch.Tensor; got a tensor on meta"):
        ft.materialize(m, seed=0, buffers={"inv_freq": torch.empty(4, device="meta")})
    with pytest.raises(TypeError, match=r"buffers\['inv_freq'\] must be a CPU torch.Tensor; got list"):
        ft.materialize(m, seed=0, buffers={"inv_freq": [0.0, 1.0, 2.0, 3.0]})
    with torch.device("meta"):
        net = Net()
    with pytest.raises(ValueError, match="unknown scheme"):
        ft.materialize(net, seed=0, rules={"*": "nope"})
    with pytest.raises(TypeError, match="dtype must be"):
        ft.materialize(net, seed=0, dtype=torch.int32)
    with pytest.raises(ValueError, match="pretrained: no such file"):
        ft.materialize(net, seed=0, pretrained="/nonexistent.safetensors")
    with pytest.raises(TypeError, match="module must be"):
        ft.materialize(object(), seed=0)
    assert all(p.is_meta for p in net.parameters()) and all(p.is_meta for p in m.parameters())


def test_materialize_interrupted_during_the_fill_leaves_module_on_meta(monkeypatch):
    # a later materialize would keep any real tensor as it is: a half-written one must not stay
    from fastinit.model import replay

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with torch.device("meta"):
        net = Net()
    monkeypatch.setattr(replay, "fill_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ft.materialize(net, seed=0)
    assert all(p.is_meta for p in net.parameters())
    monkeypatch.undo()
    assert not any(p.is_meta for p in ft.materialize(net, seed=0).parameters())


# ------------------------------------------------------------------ pretrained=

def test_pretrained_loads_matching_and_initializes_the_rest(tmp_path):
    src = Net()
    ft.init_module_(src, seed=99)
    saved = {"conv.weight": src.conv.weight.detach().clone(),            # loaded
             "mlp.0.weight": src.mlp[0].weight.detach().double(),        # loaded, float64 -> float32
             "mlp.2.weight": torch.zeros(3, 3),                           # shape mismatch: initialized
             "norm.bias": torch.arange(32, dtype=torch.int64),            # dtype mismatch: initialized
             "extra.weight": torch.ones(2)}                               # not in the model
    path = tmp_path / "ckpt.safetensors"
    safetensors_torch.save_file(saved, str(path))

    net = Net()
    report = ft.init_module_(net, seed=1, pretrained=path)
    fresh = Net()
    ft.init_module_(fresh, seed=1)
    assert sorted(report.loaded) == ["conv.weight", "mlp.0.weight"]
    assert set(report.mismatched) == {"mlp.2.weight", "norm.bias"}
    assert "shape (3, 3)" in report.mismatched["mlp.2.weight"] and "I64" in report.mismatched["norm.bias"]
    assert report.unexpected == ["extra.weight"]
    assert set(report.initialized) == set(dict(net.named_parameters())) - set(report.loaded)
    assert report.summary().startswith("2 loaded, 7 initialized, 2 mismatched")
    assert torch.equal(net.conv.weight, saved["conv.weight"])
    assert torch.equal(net.mlp[0].weight, saved["mlp.0.weight"].float())
    for name, p in net.named_parameters():
        if name not in report.loaded:
            assert torch.equal(p, dict(fresh.named_parameters())[name]), name


def test_pretrained_sharded_directory_into_meta_model(tmp_path):
    src = Net()
    ft.init_module_(src, seed=3)
    sd = state(src)
    names = sorted(sd)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for file, keys in shards.items():
        safetensors_torch.save_file({k: sd[k].to(torch.bfloat16) for k in keys}, str(tmp_path / file))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}))
    with torch.device("meta"):
        net = Net()
    report = ft.materialize(net, seed=0, dtype=torch.bfloat16, pretrained=tmp_path).fastinit_report
    assert sorted(report.loaded) == names and not report.initialized and not report.mismatched
    for n, p in net.named_parameters():
        assert torch.equal(p, sd[n].to(torch.bfloat16)), n


class Scaled(torch.nn.Module):
    """A parameter no init code writes: only a rule or the checkpoint can supply it."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.scale = torch.nn.Parameter(torch.empty(3))


def test_pretrained_that_cannot_supply_a_parameter_says_why(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    safetensors_torch.save_file({"scale": torch.ones(4), "lin.weight": torch.ones(3, 4)}, str(path))
    with torch.device("meta"):
        net = Scaled()
    with pytest.raises(ValueError, match=r"scale: in the checkpoint but not loadable \(checkpoint shape \(4,\), "
                                         r"parameter shape \(3,\)\); not written by the init code"):
        ft.materialize(net, seed=0, pretrained=path)
    safetensors_torch.save_file({"lin.weight": torch.ones(3, 4)}, str(path))
    with pytest.raises(ValueError, match=r"scale: not in the checkpoint; not written by the init code"):
        ft.materialize(net, seed=0, pretrained=path)
    assert all(p.is_meta for p in net.parameters())
    safetensors_torch.save_file({"scale": torch.ones(3, dtype=torch.float64)}, str(path))
    assert ft.materialize(net, seed=0, pretrained=path).fastinit_report.loaded == ["scale"]


def test_pretrained_errors_write_nothing(tmp_path):
    net = Net()
    before = state(net)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        ft.init_module_(net, seed=0, pretrained=bad)
    with pytest.raises(ValueError, match="neither model.safetensors"):
        ft.init_module_(net, seed=0, pretrained=tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        ft.init_module_(net, seed=0, pretrained=tmp_path / "missing.safetensors")
    for index in ("{not json", '{"metadata": {}}', '{"weight_map": [1, 2]}'):
        (tmp_path / "model.safetensors.index.json").write_text(index)
        with pytest.raises(ValueError, match="not a shard index with a weight_map"):
            ft.init_module_(net, seed=0, pretrained=tmp_path)
    assert_same(state(net), before)
    np.testing.assert_array_equal(net.conv.weight.detach().numpy(), before["conv.weight"].numpy())
