"""Model files: nothing lost, nothing silently replaced, every corruption caught.

One test (or group) per numbered item of the model-files integrity issue: a stale progress
record, two writers, replacing an existing model, resuming with other options, what the
default ``verify`` catches, and the command line's errors."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastinit.cli import main, parser
from fastinit.model import Locked, OutputExists, ResumeMismatch, fill, from_dict, load, verify
from fastinit.model.safetensors import FILENAME, INDEX, read_header
from fastinit.model.safetensors.writer import STEPS

st_numpy = pytest.importorskip("safetensors.numpy")


def small_dict(seed=5, dtype="bf16"):
    """Seven tensors, ~180 KiB: many 16 KiB chunks, so a fill has many steps to stop at."""
    return {"seed": seed, "dtype": dtype, "defaults": {"*.bias": "zeros", "*": "normal(std=0.02)"},
            "tensors": [{"name": f"layer{i}.weight", "shape": [96, 160]} for i in range(6)]
            + [{"name": "layer0.bias", "shape": [160]}]}


def small(seed=5, dtype="bf16"):
    return from_dict(small_dict(seed, dtype))


# Fills in child processes that die (os._exit: no clean-up, like SIGKILL) at the n-th time the
# writer reaches a step -- the windows between steps, tested without timing.  One interpreter
# imports fastinit once and forks a child per fill (it starts no threads before forking).
STOPPED = textwrap.dedent("""
    import json, os, sys
    from fastinit.model import fill, from_dict, safetensors
    safetensors.stream.CHUNK = 1 << 14
    codes = []
    for out, spec, mode, step, n, shard in json.loads(sys.stdin.read()):
        pid = os.fork()
        if pid == 0:
            seen = 0
            def on_step(name, path):
                global seen
                if name == step:
                    seen += 1
                    if seen == n:
                        os._exit(9)
            try:
                fill(from_dict(spec), out, quiet=True, on_step=on_step, resume=mode == "resume",
                     overwrite=mode == "overwrite", max_shard_size=shard)
            except BaseException as exc:
                print(repr(exc), file=sys.stderr, flush=True)
                os._exit(1)
            os._exit(0)
        codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    print(json.dumps(codes))
""")


def stopped(jobs, shard=None):
    """Run ``[(out, mode, step, n)]`` fills of ``small()``, each stopped at the n-th ``step``;
    their exit codes (9: stopped, 0: finished before reaching it)."""
    jobs = [(str(out), small_dict(), mode, step, n, shard) for out, mode, step, n in jobs]
    result = subprocess.run([sys.executable, "-c", STOPPED], input=json.dumps(jobs), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    codes = json.loads(result.stdout)
    assert set(codes) <= {0, 9}, result.stderr
    return codes


# ---- 1. a stale progress record is never trusted -------------------------------------------

def test_resume_never_trusts_the_record_of_another_attempt(tmp_path):
    """Attempt A is killed with 3 chunks recorded; attempt B of the same spec (replacing it)
    is killed at each step of its protocol in turn, and A's record is put back beside B's
    ``.partial`` (the state the issue's sequence of kills left); the resumed fill must be the
    reference, byte for byte: the record is bound to A's ``.partial``, not to the spec."""
    ref = tmp_path / "ref"
    fill(small(), ref, quiet=True)
    steps = STEPS[:7]
    record = FILENAME + ".progress.json"
    assert stopped([(tmp_path / s, "new", "recorded", 4) for s in steps]) == [9] * len(steps)
    stale = {s: (tmp_path / s / record).read_bytes() for s in steps}
    assert all(json.loads(r)["done"] for r in stale.values())
    assert stopped([(tmp_path / s, "overwrite", s, 1) for s in steps]) == [9] * len(steps)
    for s in steps:
        (tmp_path / s / record).write_bytes(stale[s])
        fill(small(), tmp_path / s, quiet=True, resume=True)
        assert (tmp_path / s / FILENAME).read_bytes() == (ref / FILENAME).read_bytes(), s
        assert verify(small(), tmp_path / s, full=True) == [], s
        assert sorted(os.listdir(tmp_path / s)) == [FILENAME], s


@pytest.mark.parametrize("shard", [None, 100_000], ids=["single", "shards"])
def test_resume_after_a_stop_at_every_step_of_one_fill(tmp_path, shard):
    ref = tmp_path / "ref"
    fill(small(), ref, quiet=True, max_shard_size=shard)
    steps = STEPS if shard else STEPS[:-1]
    codes = stopped([(tmp_path / s, "new", s, 2 if s == "recorded" else 1) for s in steps], shard)
    assert codes == [9] * len(steps)
    for s in steps:
        fill(small(), tmp_path / s, quiet=True, resume=True, max_shard_size=shard)
        assert sorted(os.listdir(tmp_path / s)) == sorted(os.listdir(ref)), s
        for name in os.listdir(ref):
            assert (tmp_path / s / name).read_bytes() == (ref / name).read_bytes(), (s, name)


# ---- 2. one writer per output -------------------------------------------------------------

HELD = textwrap.dedent("""
    import sys, time
    from fastinit.model import fill, from_dict
    import json
    def hook(t, view):
        print("ready", flush=True)
        time.sleep(600)
    fill(from_dict(json.loads(sys.argv[2])), sys.argv[1], quiet=True, test_hook=hook)
""")


def test_second_writer_is_refused_naming_the_first_and_the_lock_dies_with_it(tmp_path, capsys):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", HELD, str(out), json.dumps(small_dict())],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        before = sorted(os.listdir(out))
        with pytest.raises(Locked, match=rf"{out}: process {proc.pid} is filling this output now"):
            fill(small(), out, quiet=True, resume=True)
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps(small_dict()))
        assert main(["fill", str(spec), "-o", str(out), "--overwrite", "--quiet"]) == 4
        assert f"process {proc.pid} is filling this output now" in capsys.readouterr().err
        assert sorted(os.listdir(out)) == before              # the refused writers touched nothing
        (problem,) = verify(small(), out)
        assert problem == f"{out / FILENAME}.partial: incomplete: process {proc.pid} is filling it now; " \
                          f"wait for it to finish"
    finally:
        proc.kill()                                          # SIGKILL: the kernel drops the lock
        proc.wait(timeout=60)
        proc.stdout.close()
    assert "the fill was interrupted or failed; resume the fill" in verify(small(), out)[0]
    fill(small(), out, quiet=True, resume=True)
    assert verify(small(), out, full=True) == [] and sorted(os.listdir(out)) == [FILENAME]


# ---- 3. an existing output is never replaced without asking ---------------------------------

@pytest.mark.parametrize("fmt", ["safetensors", "npy"])
def test_existing_model_is_not_replaced_without_overwrite(tmp_path, capsys, fmt):
    out = tmp_path / "out"
    fill(small(seed=1), out, fmt=fmt, quiet=True)
    before = {p: (out / p).read_bytes() for p in os.listdir(out)}
    with pytest.raises(OutputExists, match="already exists .a complete model.; choose another output directory"):
        fill(small(seed=2), out, fmt=fmt, quiet=True)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_dict(seed=2)))
    assert main(["fill", str(spec), "-o", str(out), "--format", fmt, "--quiet"]) == 4
    assert "pass --overwrite to replace it" in capsys.readouterr().err
    assert {p: (out / p).read_bytes() for p in os.listdir(out)} == before
    assert main(["fill", str(spec), "-o", str(out), "--format", fmt, "--quiet", "--overwrite"]) == 0
    assert verify(small(seed=2), out, full=True) == []


def test_unrelated_safetensors_file_is_not_replaced(tmp_path):
    st_numpy.save_file({"x": np.arange(4, dtype=np.float32)}, str(tmp_path / FILENAME))
    before = (tmp_path / FILENAME).read_bytes()
    with pytest.raises(OutputExists):
        fill(small(), tmp_path, quiet=True)
    with pytest.raises(ResumeMismatch, match="tensor 'x' only in the interrupted fill"):
        fill(small(), tmp_path, quiet=True, resume=True)
    assert (tmp_path / FILENAME).read_bytes() == before


def test_overwrite_replaces_the_other_layout_too(tmp_path):
    fill(small(), tmp_path, quiet=True, max_shard_size=100_000)
    fill(small(), tmp_path, quiet=True, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == [FILENAME]
    assert verify(small(), tmp_path) == []


# ---- 4. resume with other options is refused, saying what differs -------------------------

def interrupted(out, spec, fmt="safetensors"):
    calls = []

    def crash(t, view):
        calls.append(t.name)
        if len(calls) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill(spec, out, fmt=fmt, quiet=True, test_hook=crash)


@pytest.mark.parametrize("fmt", ["safetensors", "npy"])
@pytest.mark.parametrize("other, says", [
    (small(seed=6), "seed 5 in the interrupted fill, 6 now"),
    (small(dtype="f32"), "dtype of every tensor: bfloat16 in the interrupted fill, float32 now"),
    (from_dict({**small_dict(), "defaults": {"*.bias": "zeros", "*": "normal(std=0.03)"}}),
     "scheme of 'layer0.weight': normal(std=0.02) in the interrupted fill, normal(std=0.03) now"),
])
def test_resume_with_other_options_is_refused(tmp_path, capsys, fmt, other, says):
    out = tmp_path / "out"
    interrupted(out, small(), fmt)
    before = {p: (out / p).read_bytes() for p in os.listdir(out)}
    with pytest.raises(ResumeMismatch, match="the interrupted fill differs from this one: ") as exc:
        fill(other, out, fmt=fmt, quiet=True, resume=True)
    assert says in str(exc.value)
    assert {p: (out / p).read_bytes() for p in os.listdir(out)} == before
    fill(small(), out, fmt=fmt, quiet=True, resume=True)
    assert verify(small(), out, full=True) == []


def test_resume_refusal_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "out"
    interrupted(out, small())
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_dict()))
    assert main(["fill", str(spec), "-o", str(out), "--resume", "--seed", "9", "--quiet"]) == 4
    err = capsys.readouterr().err
    assert "seed 5 in the interrupted fill, 9 now" in err and "pass --overwrite to start over" in err
    assert main(["fill", str(spec), "-o", str(out), "--quiet"]) == 4
    assert "an interrupted fill is here" in capsys.readouterr().err
    assert main(["fill", str(spec), "-o", str(out), "--resume", "--quiet"]) == 0


def test_resume_with_another_shard_size_is_refused(tmp_path):
    interrupted(tmp_path, small())
    with pytest.raises(ResumeMismatch, match="another shard size"):
        fill(small(), tmp_path, quiet=True, resume=True, max_shard_size=100_000)


# ---- 5. the default verify catches any corruption, with a fresh sample each run -----------

def corrupt(path, position, rng):
    with open(path, "r+b") as f:
        f.seek(position)
        old = f.read(1)[0]
        new = (old + int(rng.integers(1, 256))) % 256
        f.seek(position)
        f.write(bytes([new]))
    return old


def restore(path, position, old):
    with open(path, "r+b") as f:
        f.seek(position)
        f.write(bytes([old]))


@pytest.mark.parametrize("sharded", [False, True], ids=["single", "shards"])
def test_default_verify_catches_100_random_single_byte_corruptions(tmp_path, sharded):
    spec = small()
    fill(spec, tmp_path, quiet=True, max_shard_size=200_000 if sharded else None)
    files = sorted(p for p in os.listdir(tmp_path) if p.endswith(".safetensors"))
    sizes = [os.path.getsize(tmp_path / p) for p in files]
    rng = np.random.default_rng(13)
    caught = 0
    for _ in range(100):
        k = int(rng.integers(sum(sizes)))                   # uniform over every byte of every file
        i = int(np.searchsorted(np.cumsum(sizes), k, side="right"))
        position = k - sum(sizes[:i])
        old = corrupt(tmp_path / files[i], position, rng)
        caught += bool(verify(spec, tmp_path))
        restore(tmp_path / files[i], position, old)
    assert caught == 100
    assert verify(spec, tmp_path) == []


@pytest.mark.parametrize("old, new, says", [
    (b'"fastinit.seed":"5"', b'"fastinit.seed":"6"', "seed 6 in the file, 5 now"),
    (b'normal(std=0.02)', b'normal(std=0.03)', "scheme of"),
])
def test_verify_catches_edited_metadata(tmp_path, old, new, says):
    fill(small(), tmp_path, quiet=True)
    path = tmp_path / FILENAME
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    problems = verify(small(), tmp_path)
    assert problems and any(says in p for p in problems), problems


def test_verify_samples_afresh_each_run(tmp_path):
    """A file without fastinit's digests (written by the official writer): only the recomputed
    sample can find a damaged element, and a new sample is drawn on every run."""
    spec = from_dict({"seed": 3, "tensors": [{"name": "w", "shape": [80, 1024], "scheme": "normal"}]})
    w = spec["w"].fill(np.empty((80, 1024), np.float32), 3)
    w[40, 7] += 1.0                                         # a middle block: never the first or last
    st_numpy.save_file({"w": w}, str(tmp_path / FILENAME))
    results = [bool(verify(spec, tmp_path)) for _ in range(30)]
    assert any(results) and not all(results)                # P(all 30 miss) < 1e-5 with 20 blocks
    assert verify(spec, tmp_path, full=True)


# ---- 6. errors name the file and say what to do; Ctrl-C; --version; help --------------------

def test_version_and_help_for_every_option(capsys):
    from fastinit import __version__

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"fastinit {__version__}"
    p = parser()
    subparsers = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"fastinit {name} {action.option_strings or action.dest}: no help"


@pytest.mark.parametrize("args, says", [
    (["--seed", "abc"], "argument --seed: expected an integer in [0, 2**64)"),
    (["--seed", "-1"], "argument --seed: expected an integer in [0, 2**64)"),
    (["--threads", "x"], "argument --threads: expected an integer >= 1; got 'x'"),
])
def test_bad_numbers_say_what_is_accepted(tmp_path, capsys, args, says):
    with pytest.raises(SystemExit) as exit:
        main(["fill", "llama-tiny", "-o", str(tmp_path / "o"), *args])
    assert exit.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_full_disk_while_writing_the_progress_record_names_it(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink("/dev/full", out / (FILENAME + ".progress.json.tmp"))   # a write there: ENOSPC
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_dict()))
    assert main(["fill", str(spec), "-o", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert f"{out / FILENAME}.progress.json: cannot write the progress record (No space left on device)" in err
    assert "free disk space and rerun the same command with --resume" in err


def test_failed_fill_into_new_directories_leaves_nothing(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"seed": 1, "tensors": [{"name": "b.weight", "shape": [4],
                                                        "scheme": "kaiming_uniform"}]}))
    assert main(["fill", str(spec), "-o", str(tmp_path / "a" / "b" / "c"), "--quiet"]) == 2
    assert os.listdir(tmp_path) == ["spec.json"]


INTERRUPTED = textwrap.dedent("""
    import sys, time
    from fastinit.cli import main
    from fastinit.model import writer
    real = writer.fill
    def fill(*args, **kw):
        calls = []
        def hook(t, view):
            calls.append(t)
            if len(calls) == 3:
                print("ready", flush=True)
                time.sleep(600)
        return real(*args, test_hook=hook, **kw)
    import fastinit.cli
    fastinit.cli.fill = fill
    sys.exit(main(sys.argv[1:]))
""")


def test_ctrl_c_is_one_line_exit_130_and_resumable(tmp_path):
    out, spec = tmp_path / "out", tmp_path / "spec.json"
    spec.write_text(json.dumps(small_dict()))
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED, "fill", str(spec), "-o", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err == "fastinit: interrupted (rerun the same command with --resume to continue)\n"
    assert main(["fill", str(spec), "-o", str(out), "--resume", "--quiet"]) == 0
    ref = tmp_path / "ref"
    fill(small(), ref, quiet=True)
    assert (out / FILENAME).read_bytes() == (ref / FILENAME).read_bytes()


def test_index_carries_the_digests(tmp_path):
    fill(small(), tmp_path, quiet=True, max_shard_size=200_000)
    index = json.loads((tmp_path / INDEX).read_text())
    digests = index["metadata"]["fastinit.xxh3_64"]
    assert sorted(digests) == sorted(t.name for t in small().tensors)
    for shard in set(index["weight_map"].values()):
        header, _ = read_header(tmp_path / shard)
        recorded = json.loads(header["__metadata__"]["fastinit.xxh3_64"])
        assert all(digests[n] == d for n, d in recorded.items())
    index["metadata"]["fastinit.xxh3_64"]["layer0.bias"] = "0" * 16
    (tmp_path / INDEX).write_text(json.dumps(index))
    assert any("the digest of tensor 'layer0.bias' differs" in p for p in verify(small(), tmp_path))




# ---- the files stay readable by the official reader and by transformers -------------------

@pytest.mark.parametrize("shard", [None, 10_000_000], ids=["single", "shards"])
def test_transformers_and_the_official_reader_load_the_files(tmp_path, shard):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from fastinit.model import presets
    from fastinit.model.safetensors import open_tensors

    spec = load("llama-tiny").with_options(seed=2, dtype="bf16")
    fill(spec, tmp_path, quiet=True, max_shard_size=shard)
    arrays = open_tensors(tmp_path)
    for name in [p for p in os.listdir(tmp_path) if p.endswith(".safetensors")]:
        for key, value in st_numpy.load_file(str(tmp_path / name)).items():
            assert value.tobytes() == np.asarray(arrays[key]).tobytes()
    config = {k: v for k, v in presets.NAMED["llama-tiny"].items() if k != "model_type"}
    transformers.LlamaConfig(**config).save_pretrained(tmp_path)
    model = transformers.LlamaForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    state = model.state_dict()
    assert sorted(state) == sorted(arrays)
    for name, a in arrays.items():
        assert np.array_equal(state[name].view(torch.int16).numpy(), np.asarray(a).view(np.int16)), name
