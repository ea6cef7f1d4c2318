"""Failures of `fastinit fill`: disk full / file size limit, unwritable output, bad specs.
Each gives a clear error naming the file, tensor or field, a non-zero exit, and leaves
nothing that `fastinit verify` accepts."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from fastinit.cli import main

pytest.importorskip("safetensors")

# RLIMIT_FSIZE stands in for a full disk.  SIGXFSZ is ignored so that going past the limit
# makes write/ftruncate/fallocate fail with EFBIG instead of killing the process; a page of
# a sparse memory-mapped file past the limit would still get SIGBUS -- which the writers
# avoid by reserving the space with posix_fallocate before mapping.
LIMITED = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))
    from fastinit.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def run_limited(*args):
    return subprocess.run([sys.executable, "-c", LIMITED, *args], capture_output=True, text=True, timeout=120)


def verify_exit(out, *args):
    return main(["verify", "llama-tiny", str(out), "--dtype", "bf16", "--seed", "1", *args])


@pytest.mark.parametrize("extra, culprit", [
    ([], "model.safetensors.partial: cannot reserve 38,584,832 bytes on disk (File too large)"),
    (["--max-shard-size", "10MB"], "model-00001-of-00003.safetensors.partial: cannot reserve"),
    (["--format", "npy"], "model.embed_tokens.weight.npy.partial: cannot create a 16,384,000-byte file"),
])
def test_disk_full_is_a_clear_error(tmp_path, extra, culprit):
    out = tmp_path / "out"
    result = run_limited("fill", "llama-tiny", "--dtype", "bf16", "--seed", "1", "-o", str(out), "--quiet", *extra)
    assert result.returncode == 3, (result.returncode, -signal.SIGBUS, result.stderr)
    assert result.stderr.startswith("fastinit: error: ") and culprit in result.stderr
    assert "Traceback" not in result.stderr
    if "--format" not in extra:               # nothing was filled: nothing is left, not even the directory
        assert not out.exists()
    assert verify_exit(out) == 1


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["fill", "llama-tiny", "--seed", "1", "-o", str(blocker / "out"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert f"fastinit: error: {blocker / 'out'}: Not a directory" in err
    if os.geteuid() != 0:                     # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert main(["fill", "llama-tiny", "--seed", "1", "-o", str(locked), "--quiet"]) == 3
        assert "Permission denied" in capsys.readouterr().err
        assert os.listdir(locked) == []


@pytest.mark.parametrize("fmt", ["safetensors", "npy"])
def test_scheme_that_cannot_fill_its_shape(tmp_path, capsys, fmt):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"seed": 1, "tensors": [
        {"name": "a", "shape": [4, 4], "scheme": "ones"},
        {"name": "b.weight", "shape": [4], "scheme": "kaiming_uniform"}]}))
    out = tmp_path / "out"
    assert main(["fill", str(spec), "-o", str(out), "--format", fmt]) == 2
    assert "tensor 'b.weight': scheme 'kaiming_uniform'" in capsys.readouterr().err
    assert main(["verify", str(spec), str(out)]) == 1
    assert not out.exists()                   # no rerun could finish it: nothing is left


def test_bad_spec_creates_nothing(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"seed": 1, "tensors": [{"name": "w", "shape": [2, -3], "scheme": "ones"}]}))
    assert main(["fill", str(spec), "-o", str(tmp_path / "out")]) == 2
    assert "tensor 'w': field 'shape'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["verify", "llama-tiny", str(tmp_path / "out"), "--seed", "1"]) == 1
    assert "no such directory" in capsys.readouterr().err


def test_failed_refill_does_not_leave_the_old_file_looking_valid(tmp_path):
    out = tmp_path / "out"
    assert main(["fill", "llama-tiny", "--dtype", "bf16", "--seed", "1", "-o", str(out), "--quiet"]) == 0
    assert verify_exit(out) == 0
    from fastinit.model import fill, load

    def crash(t, view):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill(load("llama-tiny").with_options(seed=1, dtype="bf16"), out, quiet=True, test_hook=crash, overwrite=True)
    assert verify_exit(out) == 1              # the old model.safetensors beside a .partial


def tree(directory):
    """Every file under ``directory`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("shape, dtype, nbytes", [
    ([1099511627776, 1099511627776], "f32", "4,835,703,278,458,516,698,824,704"),
    ([2 ** 32, 2 ** 30], "f16", "9,223,372,036,854,775,808"),          # 2**63 bytes: one past an off_t
])
@pytest.mark.parametrize("fmt", ["safetensors", "npy"])
def test_a_tensor_no_file_can_hold_is_a_bad_spec(tmp_path, capsys, shape, dtype, nbytes, fmt):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"seed": 0, "dtype": dtype, "tensors": [
        {"name": "a", "shape": [8, 8], "scheme": "normal"}, {"name": "b", "shape": shape, "scheme": "normal"}]}))
    assert main(["plan", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"fastinit: error: tensor 'b': field 'shape': {shape} of " in err and f"is {nbytes} bytes" in err
    out = tmp_path / "out"
    out.mkdir()
    assert main(["fill", str(spec), "-o", str(out), "--format", fmt]) == 2
    assert f"tensor 'b': field 'shape': {shape}" in capsys.readouterr().err
    assert os.listdir(out) == []                          # no a.npy, no .partial, no progress record


def test_a_model_no_file_can_hold_is_a_bad_spec(tmp_path, capsys):
    spec = tmp_path / "spec.json"                         # each tensor fits; together they do not
    spec.write_text(json.dumps({"seed": 0, "dtype": "f16", "tensors": [
        {"name": n, "shape": [2 ** 31, 2 ** 30], "scheme": "normal"} for n in "ab"]}))
    assert main(["plan", str(spec)]) == 2
    assert "fastinit: error: tensors: 9,223,372,036,854,775,808 bytes in all; a file holds at most" \
        in capsys.readouterr().err


def test_npy_name_too_long_for_a_file_is_refused_before_anything_is_written(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    name = "x" * 244                                      # x * 244 + ".npy.partial": 256 bytes
    spec.write_text(json.dumps({"seed": 0, "tensors": [
        {"name": "a", "shape": [4, 4], "scheme": "normal"}, {"name": name, "shape": [4], "scheme": "ones"}]}))
    out = tmp_path / "out"
    assert main(["fill", str(spec), "-o", str(out), "--format", "npy"]) == 2
    err = capsys.readouterr().err
    assert f"tensor '{name}': field 'name': too long for a .npy file name (256 bytes with '.npy.partial', " \
           "at most 255); use --format safetensors" in err
    assert not out.exists()
    short = json.loads(spec.read_text())
    short["tensors"][1]["name"] = "x" * 243               # the longest that fits
    spec.write_text(json.dumps(short))
    assert main(["fill", str(spec), "-o", str(out), "--format", "npy", "--quiet"]) == 0
    assert main(["verify", str(spec), str(out)]) == 0


def test_npy_never_replaces_files_no_fill_of_it_wrote(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.norm.weight.npy").write_bytes(b"someone's array")
    (out / "model.layers.0.mlp.up_proj.weight.npy.partial").write_bytes(b"and another")
    before = tree(out)
    fill = ["fill", "llama-tiny", "--dtype", "bf16", "--seed", "1", "-o", str(out), "--format", "npy", "--quiet"]
    for extra in ([], ["--resume"]):
        assert main(fill + extra) == 4
        err = capsys.readouterr().err
        assert f"fastinit: error: {out / 'model.layers.0.mlp.up_proj.weight.npy.partial'}: already exists (and 1 " \
               "more of this spec's files), and no fill recorded here wrote it" in err
        assert "pass --overwrite to replace them" in err and "--resume" not in err   # resuming cannot help
        assert tree(out) == before
    assert main(fill + ["--overwrite"]) == 0
    assert verify_exit(out) == 0


def test_npy_resume_of_its_own_fill_still_replaces_its_files(tmp_path):
    from fastinit.model import fill, load

    spec = load("llama-tiny").with_options(seed=1, dtype="bf16")

    def crash(t, view):
        if t.name == spec.tensors[2].name:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fill(spec, tmp_path / "out", fmt="npy", quiet=True, test_hook=crash)
    assert main(["fill", "llama-tiny", "--dtype", "bf16", "--seed", "1", "-o", str(tmp_path / "out"),
                 "--format", "npy", "--quiet", "--resume"]) == 0
    assert verify_exit(tmp_path / "out", "--full") == 0


@pytest.mark.parametrize("first, second", [("safetensors", "npy"), ("npy", "safetensors")])
def test_a_fill_never_mixes_formats_in_one_directory(tmp_path, capsys, first, second):
    out = tmp_path / "out"
    assert main(["fill", "llama-tiny", "--dtype", "bf16", "--seed", "1", "-o", str(out), "--format", first,
                 "--quiet"]) == 0
    before = tree(out)
    for extra in ([], ["--overwrite"], ["--resume"]):
        assert main(["fill", "llama-tiny", "--dtype", "bf16", "--seed", "5", "-o", str(out), "--format", second,
                     "--quiet", *extra]) == 4
        err = capsys.readouterr().err
        kind = "a safetensors model" if first == "safetensors" else "an .npy model"
        assert f"{kind} (or an interrupted fill of one) is here; this fill writes {second} files" in err, err
        assert "choose another output directory (-o), or remove those files first" in err
        assert tree(out) == before
    assert verify_exit(out) == 0


def test_verify_refuses_a_directory_holding_both_formats(tmp_path, capsys):
    from fastinit.model import load, npy

    out = tmp_path / "out"
    assert main(["fill", "llama-tiny", "--dtype", "bf16", "--seed", "1", "-o", str(out), "--quiet"]) == 0
    npy.write(load("llama-tiny").with_options(seed=5, dtype="bf16"), out)   # the writer alone does not look
    assert verify_exit(out) == 1                          # not OK against the stale model.safetensors
    assert "holds both a safetensors model (model.safetensors) and an .npy one (index.json): cannot tell " \
           "which to check; remove the stale one" in capsys.readouterr().err
