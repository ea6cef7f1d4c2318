"""The command line (fastinit.cli): fill/plan/verify/presets, errors, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fastinit.cli import main
from fastinit.model import presets
from fastinit.model.safetensors import FILENAME

pytest.importorskip("safetensors")


def run(*args):
    return subprocess.run([sys.executable, "-m", "fastinit", *args], capture_output=True, text=True, timeout=120)


def test_fill_verify_plan_presets(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fill", "llama-tiny", "--dtype", "bf16", "--seed", "3", "-o", str(out), "--quiet"]) == 0
    assert main(["verify", "llama-tiny", str(out), "--dtype", "bf16", "--seed", "3"]) == 0
    assert "OK 39 tensors" in capsys.readouterr().out
    assert main(["verify", "llama-tiny", str(out), "--dtype", "bf16", "--seed", "4"]) == 1
    assert "FAIL tensor 'model.embed_tokens.weight'" in capsys.readouterr().err
    assert main(["fill", "llama-tiny", "--dtype", "f16", "--seed", "3", "-o", str(tmp_path / "npy"),
                 "--format", "npy", "--threads", "1"]) == 0
    assert "filled 39 of 39 tensors" in capsys.readouterr().err
    assert main(["verify", "llama-tiny", str(tmp_path / "npy"), "--dtype", "f16", "--seed", "3", "--full"]) == 0
    assert main(["plan", "llama-tiny"]) == 0
    assert "39 tensors, 19,286,272 parameters" in capsys.readouterr().out
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in presets.NAMED)


@pytest.mark.parametrize("spec, args, match", [
    ({"seed": 0, "tensors": [{"name": "w", "shape": [2], "scheme": "nrmal"}]}, [],
     "tensor 'w': field 'scheme': unknown scheme 'nrmal'"),
    ({"seed": 0, "tensors": [{"name": "w", "shape": [2, "x"], "scheme": "ones"}]}, [], "tensor 'w': field 'shape'"),
    ({"tensors": [{"name": "w", "shape": [2], "scheme": "ones"}]}, [], "seed: not set"),
    ({"seed": 0, "tensors": [{"name": "w", "shape": [2], "scheme": "ones"}]}, ["--dtype", "f8"],
     "--dtype: unknown dtype 'f8'"),
])
def test_bad_spec_exits_2_naming_the_field(tmp_path, capsys, spec, args, match):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["fill", str(path), "-o", str(tmp_path / "out"), *args]) == 2
    assert match in capsys.readouterr().err


def test_console_module_bad_spec(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('seed = 0\n[[tensors]]\nname = "w"\nshape = [2]\nscheme = "normal(sd=1)"\n')
    result = run("fill", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "tensor 'w': field 'scheme'" in result.stderr and "no parameter 'sd'" in result.stderr


KILLED_FILL = textwrap.dedent("""
    import sys, time
    import numpy as np
    from fastinit.model import fill, load, safetensors
    safetensors.stream.CHUNK = 1 << 16             # many chunks: several are on disk when the kill comes
    spec = load("llama-tiny").with_options(seed=5, dtype="bf16")
    count = 0
    def hook(t, view):
        global count
        count += 1
        if count == 30:                      # the 30th tensor is in flight: its piece filled with garbage
            view.view(np.uint16)[: view.size // 2] = 0xFFFF
            time.sleep(1)                    # the writer thread catches up with the chunks before it
            print("ready", flush=True)
            time.sleep(600)
    fill(spec, sys.argv[1], quiet=True, test_hook=hook)
""")


def test_kill_and_resume_is_bit_identical(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert run("fill", "llama-tiny", "--dtype", "bf16", "--seed", "5", "-o", str(ref), "--quiet").returncode == 0
    proc = subprocess.Popen([sys.executable, "-c", KILLED_FILL, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(os.listdir(out)) == [".fastinit.lock", FILENAME + ".partial", FILENAME + ".progress.json"]  # the lock died with its holder
    done = json.loads((out / (FILENAME + ".progress.json")).read_text())["done"]
    assert 0 < len(done) < 30                # on disk before the kill; never the tensor in flight
    bad = run("verify", "llama-tiny", str(out), "--dtype", "bf16", "--seed", "5")
    assert bad.returncode == 1 and "incomplete" in bad.stderr
    resumed = run("fill", "llama-tiny", "--dtype", "bf16", "--seed", "5", "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"filled {39 - len(done)} of 39 tensors" in resumed.stderr    # the recorded ones were kept
    assert (out / FILENAME).read_bytes() == (ref / FILENAME).read_bytes()
    assert os.listdir(out) == [FILENAME]


def test_npy_resume_after_crash(tmp_path):
    from fastinit.model import fill, load

    spec = load("llama-tiny").with_options(seed=5, dtype="bf16")
    seen = []

    def crash(t, view):
        seen.append(t.name)
        if len(seen) == 4:
            view[...] = 7
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill(spec, tmp_path / "out", fmt="npy", quiet=True, test_hook=crash)
    assert main(["verify", "llama-tiny", str(tmp_path / "out"), "--dtype", "bf16", "--seed", "5"]) == 1
    filled = fill(spec, tmp_path / "out", fmt="npy", quiet=True, resume=True)
    assert filled == [t.name for t in spec.tensors[3:]]
    fill(spec, tmp_path / "ref", fmt="npy", quiet=True)
    for t in spec.tensors:
        assert (tmp_path / "out" / f"{t.name}.npy").read_bytes() == (tmp_path / "ref" / f"{t.name}.npy").read_bytes()
    assert main(["verify", "llama-tiny", str(tmp_path / "out"), "--dtype", "bf16", "--seed", "5", "--full"]) == 0


def test_progress_bar_on_a_tty(tmp_path, monkeypatch):
    import io

    from fastinit.model import fill, load

    class TTY(io.StringIO):
        def isatty(self):
            return True

    err = TTY()
    monkeypatch.setattr(sys, "stderr", err)
    spec = load("llama-tiny").with_options(seed=0, dtype="bf16")
    fill(spec, tmp_path / "bar")
    assert "36.8M/36.8M" in err.getvalue() or "100%" in err.getvalue()
    quiet = TTY()
    monkeypatch.setattr(sys, "stderr", quiet)
    fill(spec, tmp_path / "quiet", quiet=True)
    assert quiet.getvalue() == ""


CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 32,
          "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
          "torch_dtype": "float32"}


def listing(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_fill_never_replaces_a_different_config_json(tmp_path, capsys):
    spec = tmp_path / "config.json"
    spec.write_text(json.dumps(CONFIG))
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text('{"mine": 1}\n')
    before = listing(out)
    fill = ["fill", str(spec), "--seed", "0", "-o", str(out), "--quiet"]
    for extra in ([], ["--resume"], ["--max-shard-size", "50kB", "--finalize"]):
        assert main(fill + extra) == 4
        err = capsys.readouterr().err
        assert f"fastinit: error: {out / 'config.json'}: already exists and differs from the config.json this fill" \
               in err and "pass --overwrite to replace it" in err, err
        assert listing(out) == before                    # not a byte written, no lock file either
    assert main(fill + ["--overwrite"]) == 0
    written = (out / "config.json").read_bytes()
    assert json.loads(written)["model_type"] == "llama" and sorted(os.listdir(out)) == ["config.json", FILENAME]


def test_config_json_the_spec_itself_and_one_that_appears_during_the_fill(tmp_path, capsys):
    import argparse

    from fastinit import cli

    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(CONFIG))   # filling a directory from its own config.json
    before = listing(out)
    assert main(["fill", str(out / "config.json"), "--seed", "0", "-o", str(out), "--quiet"]) == 4
    assert "config.json: is the config this fill reads" in capsys.readouterr().err and listing(out) == before

    # written after _check_config passed (another process): refused, never replaced, nothing left behind
    new = tmp_path / "new"
    new.mkdir()
    args = argparse.Namespace(output=str(new), overwrite=False, spec=str(tmp_path / "spec.json"))
    cli._check_config(args, b"{}\n")
    (new / "config.json").write_text('{"theirs": 1}\n')
    with pytest.raises(cli.ConfigExists, match="appeared during the fill .* config.json was not written"):
        cli._write_config(args, b"{}\n")
    assert os.listdir(new) == ["config.json"] and (new / "config.json").read_text() == '{"theirs": 1}\n'
    cli._write_config(args, b'{"theirs": 1}\n')   # the same bytes: kept, no error
    assert os.listdir(new) == ["config.json"]


def test_a_fills_own_config_json_is_kept_on_resume_and_finalize(tmp_path):
    spec = tmp_path / "config.json"
    spec.write_text(json.dumps(CONFIG))
    one, many = tmp_path / "one", tmp_path / "many"
    assert main(["fill", str(spec), "--seed", "0", "-o", str(one), "--quiet"]) == 0
    written = listing(one)
    assert main(["fill", str(spec), "--seed", "0", "-o", str(one), "--quiet", "--resume"]) == 0
    assert listing(one) == written
    shard = ["fill", str(spec), "--seed", "0", "-o", str(many), "--quiet", "--max-shard-size", "50kB"]
    for i in range(2):
        assert main(shard + ["--shard-index", str(i), "--num-shards", "2"]) == 0
    assert main(shard + ["--finalize"]) == 0
    assert (many / "config.json").read_bytes() == written["config.json"]
    assert main(["verify", str(spec), str(many), "--seed", "0"]) == 0
