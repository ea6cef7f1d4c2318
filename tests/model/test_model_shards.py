"""Sharded Hugging Face safetensors (model-0000i-of-0000N.safetensors + model.safetensors.index.json):
layout, round trip through safetensors' reader, bits equal to the single file, resume, verify."""

import json
import os

import numpy as np
import pytest

from fastinit.cli import main
from fastinit.model import SpecError, fill, from_config, presets, verify
from fastinit.model import safetensors
from fastinit.model.safetensors import FILENAME, INDEX, parse_size, read_header, shard_name, shards

st_numpy = pytest.importorskip("safetensors.numpy")
safe_open = pytest.importorskip("safetensors").safe_open

LIMIT = 10_000_000                 # llama-tiny bf16 (36.8 MiB) -> 3 shards


def tiny(dtype="bf16", seed=7):
    return from_config(presets.NAMED["llama-tiny"]).with_options(seed=seed, dtype=dtype)


@pytest.mark.parametrize("text, expected", [
    ("5GB", 5 * 10 ** 9), ("500MB", 500 * 10 ** 6), ("2GiB", 2 << 30), ("123", 123), ("1.5kB", 1500),
    ("10 mib", 10 << 20), (4096, 4096), ("1e9", 10 ** 9)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["5XB", "", "GB", "-1", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(SpecError, match=r"max_shard_size: "):
        parse_size(text)


def test_shards_are_greedy_in_spec_order_and_never_split_a_tensor():
    spec = tiny()
    groups = shards(spec, LIMIT)
    assert [name for name, _ in groups] == [shard_name(i, 3) for i in (1, 2, 3)] == \
        ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]
    assert [t.name for _, sub in groups for t in sub.tensors] == [t.name for t in spec.tensors]
    for i, (_, sub) in enumerate(groups):
        assert sub.nbytes <= LIMIT or len(sub.tensors) == 1            # an oversized tensor stands alone
        if i + 1 < len(groups):                                          # greedy: the next one did not fit
            assert sub.nbytes + groups[i + 1][1].tensors[0].nbytes > LIMIT
    assert [len(sub.tensors) for _, sub in shards(spec, 1)] == [1] * len(spec.tensors)
    assert len(shards(spec, 1 << 40)) == 1


@pytest.mark.parametrize("dtype", ["bf16", "f32"])
def test_sharded_round_trip_equals_single_file(tmp_path, dtype):
    spec = tiny(dtype)
    fill(spec, tmp_path / "single", quiet=True)
    assert main(["fill", "llama-tiny", "--dtype", dtype, "--seed", "7", "-o", str(tmp_path / "sharded"),
                 "--max-shard-size", "10MB", "--quiet"]) == 0
    names = sorted(os.listdir(tmp_path / "sharded"))
    n = len(names) - 1
    assert names == sorted([INDEX] + [shard_name(i, n) for i in range(1, n + 1)]) and n > 1
    index = json.loads((tmp_path / "sharded" / INDEX).read_text())
    assert index["metadata"]["total_size"] == spec.nbytes
    assert list(index["weight_map"]) == sorted(t.name for t in spec.tensors)
    single = st_numpy.load_file(tmp_path / "single" / FILENAME)
    seen = {}
    for i in range(1, n + 1):
        with safe_open(tmp_path / "sharded" / shard_name(i, n), framework="numpy") as f:
            assert f.metadata()["fastinit.seed"] == "7"
            for name in f.keys():
                assert index["weight_map"][name] == shard_name(i, n)
                seen[name] = f.get_tensor(name)
    assert seen.keys() == single.keys()
    for name, a in single.items():
        assert a.dtype == seen[name].dtype and a.tobytes() == seen[name].tobytes(), name
    assert verify(spec, tmp_path / "sharded", full=True) == []


@pytest.fixture
def sharded(tmp_path):
    spec = tiny()
    fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT)
    return spec, tmp_path


def test_verify_rejects_missing_shard(sharded, capsys):
    spec, directory = sharded
    os.remove(directory / shard_name(2, 3))
    (problem,) = verify(spec, directory)
    assert shard_name(2, 3) in problem and "no such file" in problem
    assert main(["verify", "llama-tiny", str(directory), "--dtype", "bf16", "--seed", "7"]) == 1


def test_verify_rejects_partial_and_truncated_shard(sharded):
    spec, directory = sharded
    path = directory / shard_name(3, 3)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 2)
    (problem,) = verify(spec, directory)
    assert "truncated" in problem and shard_name(3, 3) in problem
    os.rename(path, str(path) + ".partial")
    (problem,) = verify(spec, directory)
    assert "incomplete" in problem and "resume the fill" in problem


def test_verify_rejects_index_mismatch(sharded):
    spec, directory = sharded
    good = (directory / INDEX).read_text()
    index = json.loads(good)
    index["weight_map"]["model.norm.weight"] = shard_name(1, 3)
    (directory / INDEX).write_text(json.dumps(index))
    (problem,) = verify(spec, directory)
    assert "'model.norm.weight'" in problem and "weight_map" in problem
    index = json.loads(good)
    index["metadata"]["total_size"] += 2
    (directory / INDEX).write_text(json.dumps(index))
    (problem,) = verify(spec, directory)
    assert "total_size" in problem
    index = json.loads(good)
    index["weight_map"]["extra.weight"] = shard_name(1, 3)
    (directory / INDEX).write_text(json.dumps(index))
    (problem,) = verify(spec, directory)
    assert "'extra.weight'" in problem
    (directory / INDEX).write_text("{not json")
    (problem,) = verify(spec, directory)
    assert "not a model index" in problem
    os.remove(directory / INDEX)
    (problem,) = verify(spec, directory)
    assert "incomplete sharded fill" in problem


def recorded(directory):
    """Tensor names a resume keeps: the complete shards' tensors and the progress files' lists."""
    names = set()
    for p in os.listdir(directory):
        if p.endswith(".progress.json"):
            names.update(json.loads((directory / p).read_text())["done"])
        elif p.endswith(".safetensors"):
            header, _ = read_header(directory / p)
            names.update(k for k in header if k != "__metadata__")
    return names


def test_sharded_crash_then_resume_is_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr(safetensors.stream, "CHUNK", 1 << 16)  # many chunks, so some are on disk at the crash
    spec = tiny()
    seen = []

    def crash(t, view):
        seen.append(t.name)
        if len(seen) == 20:                  # in the second shard, half filled with garbage
            view.reshape(-1).view(np.uint16)[: view.size // 2] = 0xFFFF
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill(spec, tmp_path / "out", quiet=True, max_shard_size=LIMIT, test_hook=crash)
    left = sorted(os.listdir(tmp_path / "out"))
    assert INDEX not in left and all(p.endswith((".partial", ".progress.json")) for p in left)
    assert "incomplete" in verify(spec, tmp_path / "out")[0]
    kept = recorded(tmp_path / "out")
    assert 1 <= len(kept) < 20               # the first shard at least; never the tensor in flight
    filled = fill(spec, tmp_path / "out", quiet=True, max_shard_size=LIMIT, resume=True)
    assert set(filled) == {t.name for t in spec.tensors} - kept
    fill(spec, tmp_path / "ref", quiet=True, max_shard_size=LIMIT)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.listdir(tmp_path / "ref"))
    for name in os.listdir(tmp_path / "ref"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
    assert verify(spec, tmp_path / "out", full=True) == []


def test_resume_after_a_stop_during_the_renames(sharded):
    spec, directory = sharded
    os.remove(directory / INDEX)             # stopped after renaming the shards, before the index
    os.rename(directory / shard_name(3, 3), directory / (shard_name(3, 3) + ".partial"))
    with pytest.raises(KeyboardInterrupt):   # no progress file for shard 3: it is filled again
        fill(spec, directory, quiet=True, max_shard_size=LIMIT, resume=True,
             test_hook=lambda t, view: (_ for _ in ()).throw(KeyboardInterrupt))
    assert fill(spec, directory, quiet=True, max_shard_size=LIMIT, resume=True) == \
        [t.name for _, sub in shards(spec, LIMIT)[2:] for t in sub.tensors]
    assert verify(spec, directory) == []


def test_shards_only_for_safetensors(tmp_path, capsys):
    assert main(["fill", "llama-tiny", "--seed", "0", "-o", str(tmp_path / "o"), "--format", "npy",
                 "--max-shard-size", "5GB"]) == 2
    assert "--max-shard-size: only for --format safetensors, not 'npy'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["fill", "llama-tiny", "--seed", "0", "-o", str(tmp_path / "o"), "--max-shard-size", "5XB"])
    assert exit.value.code == 2
    assert "argument --max-shard-size: cannot read '5XB'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
