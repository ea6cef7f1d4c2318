"""Model files (fastinit.model.{safetensors,npy,writer}): in-place fills that the official
readers load with the bits of an in-memory fill; independence of other tensors; verify."""

import json
import math
import os
import struct

import numpy as np
import pytest

import fastinit
from fastinit.model import fill, from_config, from_dict, presets, verify
from fastinit.model import safetensors
from fastinit.model.safetensors import FILENAME, layout

st_numpy = pytest.importorskip("safetensors.numpy")
safe_open = pytest.importorskip("safetensors").safe_open

DTYPES = ["bf16", "f16", "f32", "f64"]


def tiny(dtype, seed=11):
    return from_config(presets.NAMED["llama-tiny"]).with_options(seed=seed, dtype=dtype)


def in_memory(t, seed):
    return t.fill(np.empty(t.shape, t.np_dtype), seed)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_safetensors_round_trip(tmp_path, dtype):
    spec = tiny(dtype)
    fill(spec, tmp_path, quiet=True)
    loaded = st_numpy.load_file(tmp_path / FILENAME)
    assert set(loaded) == {t.name for t in spec.tensors}
    for t in spec.tensors:
        assert same_bits(loaded[t.name], in_memory(t, spec.seed)), t.name
    with safe_open(tmp_path / FILENAME, framework="numpy") as f:
        meta = f.metadata()
        assert meta["fastinit.seed"] == "11" and meta["format"] == "pt"
        assert meta["fastinit.stream_layout"] == str(fastinit.STREAM_LAYOUT)
        assert json.loads(meta["fastinit.schemes"])["model.norm.weight"] == "ones"
        t = spec["model.embed_tokens.weight"]
        assert same_bits(f.get_slice(t.name)[100:103], in_memory(t, spec.seed)[100:103])
    assert verify(spec, tmp_path, full=True) == []


@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "page cache"])
def test_streamed_writer_chunk_sizes_and_paths_give_the_same_file(tmp_path, monkeypatch, direct):
    """Tensors cut by chunk boundaries anywhere (shard-path boxes), a file without O_DIRECT
    (plain pwrite), chunks that end mid-row or mid-element-run: always the same bytes."""
    spec = tiny("bf16")
    fill(spec, tmp_path / "ref", quiet=True)
    ref = (tmp_path / "ref" / FILENAME).read_bytes()
    if not direct:
        monkeypatch.setattr(os, "O_DIRECT", 0, raising=False)
    for chunk in (35 * 4096, 1 << 20):
        monkeypatch.setattr(safetensors.stream, "CHUNK", chunk)
        out = tmp_path / f"c{chunk}"
        fill(spec, out, quiet=True)
        assert (out / FILENAME).read_bytes() == ref, chunk


def test_flat_boxes_cover_any_flat_range_in_order():
    for shape in [(7,), (5, 6), (3, 4, 5), (2, 3, 1, 4)]:
        n = math.prod(shape)
        index = np.arange(n).reshape(shape)
        for e0 in range(n + 1):
            for e1 in range(e0, n + 1):
                got = [index[tuple(slice(o, o + b) for o, b in zip(off, blk))].reshape(-1)
                       for off, blk in safetensors.flat_boxes(shape, e0, e1)]
                assert np.concatenate(got or [np.zeros(0, int)]).tolist() == list(range(e0, e1)), (shape, e0, e1)


def test_safetensors_layout(tmp_path):
    spec = from_dict({"seed": 0, "dtype": "bf16", "tensors": [
        {"name": "b", "shape": [3], "scheme": "ones"},                     # odd bf16 before an f64
        {"name": "a", "shape": [5], "scheme": "normal", "dtype": "f64"},
        {"name": "c", "shape": [0, 4], "scheme": "zeros"},
        {"name": "d", "shape": [2, 3], "scheme": "uniform", "dtype": "f32"}]})
    fill(spec, tmp_path, quiet=True)
    raw = (tmp_path / FILENAME).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 4096 == 0 and raw[8:8 + n].rstrip(b" ").endswith(b"}")
    header = json.loads(raw[8:8 + n])
    assert all(isinstance(v, str) for v in header.pop("__metadata__").values())
    assert list(header) == sorted(header)
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
    assert len(raw) == 8 + n + spans[-1][1]
    for v in header.values():
        assert v["data_offsets"][0] % {"F64": 8, "F32": 4, "BF16": 2}[v["dtype"]] == 0
    loaded = st_numpy.load_file(tmp_path / FILENAME)
    for t in spec.tensors:
        assert same_bits(loaded[t.name], in_memory(t, 0))
    assert not [p for p in os.listdir(tmp_path) if p != FILENAME]          # no partial/progress left


@pytest.mark.parametrize("dtype", DTYPES)
def test_npy_round_trip(tmp_path, dtype):
    import ml_dtypes

    spec = tiny(dtype)
    fill(spec, tmp_path, fmt="npy", quiet=True)
    index = json.loads((tmp_path / "index.json").read_text())
    for t in spec.tensors:
        entry = index["tensors"][t.name]
        a = np.load(tmp_path / entry["file"])
        if dtype == "bf16":
            assert a.dtype == np.dtype("<u2") and entry["dtype"] == "bfloat16"
            a = a.view(ml_dtypes.bfloat16)
        assert same_bits(a, in_memory(t, spec.seed)), t.name
    assert verify(spec, tmp_path, full=True) == []


@pytest.mark.parametrize("fmt", ["safetensors", "npy"])
def test_other_tensors_do_not_change_bytes(tmp_path, fmt):
    spec = tiny("bf16").subset(["model.layers.0.self_attn.q_proj.weight", "model.layers.0.input_layernorm.weight",
                                "model.layers.1.mlp.up_proj.weight", "model.norm.weight"])
    reordered = type(spec)(tuple(reversed(spec.tensors)), spec.seed)
    grown = type(spec)(spec.tensors + tiny("bf16").subset(["model.layers.2.mlp.gate_proj.weight"]).tensors,
                       spec.seed)
    shrunk = spec.subset([spec.tensors[0].name, spec.tensors[2].name])
    results = {}
    for label, s in {"base": spec, "reordered": reordered, "grown": grown, "shrunk": shrunk}.items():
        fill(s, tmp_path / label, fmt=fmt, quiet=True)
        results[label] = read(tmp_path / label, fmt)
    for label, tensors in results.items():
        for name, a in tensors.items():
            if name in results["base"]:
                assert a.tobytes() == results["base"][name].tobytes(), (label, name)


def read(directory, fmt):
    if fmt == "safetensors":
        return st_numpy.load_file(directory / FILENAME)
    index = json.loads((directory / "index.json").read_text())
    return {name: np.load(directory / e["file"]) for name, e in index["tensors"].items()}


@pytest.fixture
def filled(tmp_path):
    spec = tiny("bf16").subset(["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight",
                                "model.norm.weight"])
    fill(spec, tmp_path, quiet=True)
    return spec, tmp_path, tmp_path / FILENAME


def test_verify_rejects_truncated(filled):
    spec, directory, path = filled
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 2)
    (problem,) = verify(spec, directory)
    assert "truncated" in problem


def test_verify_rejects_corrupted_byte(filled):
    spec, directory, path = filled
    _, data_start, offsets, _ = layout(spec)
    begin, end = offsets["model.layers.0.mlp.up_proj.weight"]
    position = data_start + begin + (end - begin) // 3 + 1
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0x01]))
    digest, element = verify(spec, directory, full=True)
    assert "tensor 'model.layers.0.mlp.up_proj.weight': its bytes differ from the digest recorded in" in digest
    assert "'model.layers.0.mlp.up_proj.weight': element" in element and "differs" in element


def test_verify_rejects_partial_missing_and_wrong_spec(filled):
    spec, directory, path = filled
    assert verify(spec, directory) == []
    assert verify(spec.with_options(seed=12), directory)
    assert any("missing from the file" in p for p in verify(tiny("bf16"), directory))
    assert any("file holds float32" not in p and "spec says float32" in p
               for p in verify(spec.with_options(dtype="f32"), directory))
    assert any("not in the spec" in p for p in verify(spec.subset(["model.norm.weight"]), directory))
    os.rename(path, str(path) + ".partial")
    (problem,) = verify(spec, directory)
    assert "incomplete" in problem and "resume the fill" in problem


def test_npy_refuses_path_names(tmp_path):
    from fastinit.model import SpecError

    spec = from_dict({"seed": 0, "tensors": [{"name": "a/b", "shape": [2], "scheme": "ones"}]})
    with pytest.raises(SpecError, match=r"tensor 'a/b': field 'name': cannot be a .npy file name"):
        fill(spec, tmp_path, fmt="npy", quiet=True)
