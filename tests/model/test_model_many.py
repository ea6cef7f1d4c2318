"""A sharded checkpoint written by many processes: each process fills only its shard files
(``--shard-index I --num-shards N``, ``--shards``, ``only=``), the index is assembled from the
shards' headers, and the directory is byte for byte the one-process fill's -- by separate OS
processes at once, by a job array run in any order, and by a two-worker Dask ``LocalCluster``."""

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastinit.cli import main
from fastinit.model import CorruptFile, Incomplete, Locked, SpecError, fill, finalize, presets, from_config
from fastinit.model import shard_files, verify
from fastinit.model.lock import DirectoryLock, file_lock_name
from fastinit.model.safetensors import INDEX, shard_name

pytest.importorskip("safetensors")
LIMIT = 10_000_000                 # llama-tiny bf16 (36.8 MiB) -> 3 shards
ARGS = ["llama-tiny", "--dtype", "bf16", "--seed", "7", "--max-shard-size", "10MB", "--quiet"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository


def tiny(seed=7):
    return from_config(presets.NAMED["llama-tiny"]).with_options(seed=seed, dtype="bf16")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The one-process sharded fill."""
    out = tmp_path_factory.mktemp("one")
    fill(tiny(), out, quiet=True, max_shard_size=LIMIT)
    return out


def same_directory(a, b):
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b))
    for name in names:
        assert filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False), name


def test_assignment_is_a_pure_function_that_covers_every_file_once():
    spec = tiny()
    names = shard_files(spec, LIMIT)
    assert names == [shard_name(i, 3) for i in (1, 2, 3)] == shard_files(tiny(), "10MB")
    for n in (1, 2, 3, 5):
        parts = [shard_files(spec, LIMIT, i, n) for i in range(n)]
        assert sorted(x for p in parts for x in p) == names
        assert parts[0][0] == names[0] and (n < 2 or parts[1][0] == names[1])   # round robin
    assert shard_files(spec, LIMIT, 4, 5) == []          # more processes than files: nothing to do


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1]])
def test_job_array_in_any_order_equals_the_one_process_fill(reference, tmp_path, order):
    for i in order:
        assert main(["fill", *ARGS, "-o", str(tmp_path), "--shard-index", str(i), "--num-shards", "3"]) == 0
        assert (INDEX in os.listdir(tmp_path)) == (i == order[-1])      # the last one writes the index
    same_directory(reference, tmp_path)
    assert verify(tiny(), tmp_path, full=True) == []
    assert main(["fill", *ARGS, "-o", str(tmp_path), "--shard-index", "3", "--num-shards", "4"]) == 0  # no file
    same_directory(reference, tmp_path)                                  # and the index is left alone


def test_separate_processes_at_once_equal_the_one_process_fill(reference, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    jobs = [subprocess.Popen([sys.executable, "-m", "fastinit", "fill", *ARGS, "-o", str(tmp_path), "--threads", "1",
                              "--shard-index", str(i), "--num-shards", "2"], env=env, stderr=subprocess.PIPE)
            for i in range(2)]
    for job in jobs:
        _, err = job.communicate(timeout=120)
        assert job.returncode == 0, err.decode()
    same_directory(reference, tmp_path)


def test_finalize_writes_the_same_index_and_refuses_what_is_not_complete(reference, tmp_path):
    spec = tiny()
    first, second, third = shard_files(spec, LIMIT)
    fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT, only=[first, third])
    assert INDEX not in os.listdir(tmp_path)
    with pytest.raises(Incomplete, match=f"{second}: no such file"):
        finalize(spec, tmp_path, LIMIT)
    assert main(["fill", *ARGS, "-o", str(tmp_path), "--finalize"]) == 4
    assert verify(spec, tmp_path, only=[first, third], max_shard_size=LIMIT) == []   # per file, before the index
    other = tmp_path / "other"                        # a shard of another seed is never indexed
    fill(tiny(seed=8), other, quiet=True, max_shard_size=LIMIT, only=[second])
    os.replace(other / second, tmp_path / second)
    with pytest.raises(CorruptFile, match=f"{second}: written for another spec"):
        finalize(spec, tmp_path, LIMIT)
    assert INDEX not in os.listdir(tmp_path)
    os.remove(tmp_path / second)
    os.rmdir(other)
    assert main(["fill", *ARGS, "-o", str(tmp_path), "--shards", second]) == 0
    os.remove(tmp_path / INDEX)
    assert main(["fill", *ARGS, "-o", str(tmp_path), "--finalize"]) == 0
    same_directory(reference, tmp_path)
    finalize(spec, tmp_path, LIMIT)                   # again: the same bytes
    same_directory(reference, tmp_path)


def test_resume_and_verify_per_shard_file(reference, tmp_path):
    spec = tiny()
    first, second, third = shard_files(spec, LIMIT)

    class Stop(Exception):
        pass

    def stop(step, path):
        if step == "recorded" and path.endswith(second + ".progress.json") and \
                json.loads(Path(path).read_text())["done"]:
            raise Stop
    fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT, only=[first, third])
    with pytest.raises(Stop):
        fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT, only=[second], on_step=stop)
    assert second + ".partial" in os.listdir(tmp_path)
    (problem,) = verify(spec, tmp_path, only=[second])
    assert second in problem and "incomplete" in problem
    assert verify(spec, tmp_path, only=[first, third], max_shard_size=LIMIT) == []
    assert main(["fill", *ARGS, "-o", str(tmp_path), "--shards", second]) == 4      # exists: resume or overwrite
    assert main(["fill", *ARGS, "-o", str(tmp_path), "--shards", second, "--resume"]) == 0
    same_directory(reference, tmp_path)
    with open(tmp_path / third, "r+b") as f:          # one flipped byte in one shard
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert verify(spec, tmp_path, only=[first, second], max_shard_size=LIMIT) == []
    problems = verify(spec, tmp_path, only=[third], max_shard_size=LIMIT)
    assert problems and all(third in p or "differs from the contract" in p for p in problems)
    assert any("differ from the digest" in p for p in problems)
    assert main(["verify", *ARGS[:-1], str(tmp_path), "--shard-index", "2", "--num-shards", "3"]) == 1
    assert main(["verify", *ARGS[:-1], str(tmp_path), "--shard-index", "0", "--num-shards", "3"]) == 0


def test_each_file_has_its_own_lock(tmp_path):
    spec = tiny()
    first, second, _ = shard_files(spec, LIMIT)
    with DirectoryLock(tmp_path, file_lock_name(first)):      # another process is filling the first file
        with pytest.raises(Locked):
            fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT)                # the whole fill waits for it
        with pytest.raises(Locked):
            fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT, only=[first])
        fill(spec, tmp_path, quiet=True, max_shard_size=LIMIT, only=[second])   # others go ahead
    assert sorted(os.listdir(tmp_path)) == [second]


@pytest.mark.parametrize("extra, message", [
    (["--shard-index", "0", "--num-shards", "2"], "needs --max-shard-size"),
    (["--max-shard-size", "10MB", "--shard-index", "2", "--num-shards", "2"], "--shard-index: must be less"),
    (["--max-shard-size", "10MB", "--shard-index", "0"], "give both"),
    (["--max-shard-size", "10MB", "--shards", "model-00009-of-00009.safetensors"], "is not a file of this model"),
    (["--max-shard-size", "10MB", "--shards", shard_name(1, 3), "--num-shards", "2"], "not both"),
    (["--max-shard-size", "10MB", "--finalize", "--shard-index", "0", "--num-shards", "2"], "--finalize: not with"),
    (["--finalize"], "--finalize: needs --max-shard-size"),
])
def test_bad_shard_flags_are_refused_before_anything_is_written(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["fill", "llama-tiny", "--seed", "7", "-o", str(out), "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_library_refuses_only_without_a_sharded_layout(tmp_path):
    with pytest.raises(SpecError, match="only: .*needs max_shard_size"):
        fill(tiny(), tmp_path / "x", quiet=True, only=[shard_name(1, 3)])
    with pytest.raises(SpecError, match="only: 'model.safetensors' is not a file"):
        fill(tiny(), tmp_path / "x", quiet=True, max_shard_size=LIMIT, only=["model.safetensors"])
    assert not (tmp_path / "x").exists()


def test_two_dask_workers_write_the_one_process_bytes(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    from fastinit.model import cluster
    # the scheduler's web server on a free port: the default 8787 may be another cluster's, and
    # the warning that it moved is an error here
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address="127.0.0.1:0") as lc, distributed.Client(lc) as client:
        filled = cluster.fill(tiny(), tmp_path / "a", LIMIT, client=client, threads=1)
        assert sorted(filled) == sorted(t.name for t in tiny().tensors)
        workers = client.run(os.getpid)
        assert len(set(workers.values())) == 2
        assert main(["fill", *ARGS, "-o", str(tmp_path / "b"), "--dask", lc.scheduler_address]) == 0
    same_directory(reference, tmp_path / "a")
    same_directory(reference, tmp_path / "b")
