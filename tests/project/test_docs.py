"""Every code block of README.md and docs/*.md runs as written.

Blocks are fenced with their language: ``python`` blocks run, each in a fresh interpreter (so
each is complete on its own); ``sh`` blocks whose every command is ``fastinit ...`` run too;
``text``, ``toml``, ``json`` ... are shown, not run.  Each block runs on its own in a new
temporary directory (a block's commands run in order: ``fastinit fill`` then ``fastinit
verify`` of what it wrote).  An HTML comment on the line before a block changes how it runs:

- ``<!-- docs-test: file NAME -->``: the block is written to NAME in the directory of every
  block of its document (a spec that a command fills from);
- ``<!-- docs-test: torchrun N -->``: the block runs under ``torchrun --standalone
  --nproc-per-node N``, a local stand-in for a cluster (gloo process groups on the CPU); each
  rank leaves with ``os._exit(0)`` once the block has run (see ``RANK``);
- ``<!-- docs-test: skip REASON -->``: not run; the reason is required (shown in the report).

The repository root is on ``PYTHONPATH``; the ``fastinit`` command is ``python -m fastinit``.
A block whose library is missing fails (with that library's name): install the test extras.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<kind>\w+)\s*(?P<arg>.*?)\s*-->\s*$")
RUN = {"python", "sh"}
SHOWN = {"text", "toml", "json", "console", "c"}          # shown, never run (console: output)
TIMEOUT = 300


def blocks(path):
    """``(line, lang, body, marker kind, marker argument)`` of every fenced block of a document."""
    text = path.read_text()
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[:m.start()].rstrip("\n").rpartition("\n")[2]
        marker = MARKER.search(before)
        body = "\n".join(x[len(m["indent"]):] for x in m["body"].splitlines()) + "\n"
        yield line, m["lang"], body, *(marker.group("kind", "arg") if marker else (None, None))


def documents():
    return {str(p.relative_to(ROOT)): list(blocks(p)) for p in DOCUMENTS}


def test_every_block_is_tagged_and_every_marker_known():
    problems = []
    for doc, found in documents().items():
        for line, lang, body, kind, arg in found:
            where = f"{doc}:{line}"
            if lang not in RUN | SHOWN:
                problems.append(f"{where}: fence language {lang!r}; use one of {sorted(RUN | SHOWN)}")
            if kind not in (None, "file", "torchrun", "skip"):
                problems.append(f"{where}: unknown marker docs-test: {kind}")
            if kind == "skip" and len(arg) < 10:
                problems.append(f"{where}: docs-test: skip needs a reason")
            if kind == "torchrun" and (lang != "python" or not arg.isdigit()):
                problems.append(f"{where}: docs-test: torchrun N marks a python block")
            if lang == "sh" and kind != "skip" and not all(c.startswith("fastinit ") for c in commands(body)):
                problems.append(f"{where}: sh blocks run only `fastinit ...` commands (else mark it skip: why)")
    assert problems == []


def commands(body):
    return [c for c in (line.partition(" #")[0].strip() for line in body.splitlines()) if c]


# A torchrun rank runs its block, then leaves without finalizing the interpreter, as a process
# forked by multiprocessing does.  torch 2.13's caches keep a gloo group alive past
# destroy_process_group, and a gloo worker thread that drops the last collective's tensors
# during finalization takes the GIL and aborts the rank ("terminate called without an active
# exception", pytorch/pytorch#179291): seen in 2 of 29 runs of a block on a loaded machine.
RANK = """\
import os, runpy, sys
runpy.run_path(sys.argv[1], run_name="__main__")
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""


def run_python(body, cwd, env, torchrun=None):
    script = cwd / ".block.py"
    script.write_text(body)
    argv = [sys.executable, str(script)]
    if torchrun:
        rank = cwd / ".rank.py"
        rank.write_text(RANK)
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={torchrun}",
                str(rank), str(script)]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def runnable():
    for doc, found in documents().items():
        for line, lang, body, kind, arg in found:
            if lang in RUN and kind not in ("skip", "file"):
                yield pytest.param(doc, line, id=f"{doc}:{line}")


@pytest.mark.parametrize("doc,line", list(runnable()))
def test_block_runs(doc, line, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONWARNINGS": "error"}        # as the test suite: a block must not warn
    found = documents()[doc]
    for _, _, body, kind, arg in found:
        if kind == "file":
            (tmp_path / arg).write_text(body)
    (lang, body, kind, arg), = [(lang, body, kind, arg) for at, lang, body, kind, arg in found if at == line]
    where = f"{doc}:{line}"
    if lang == "python":
        r = run_python(body, tmp_path, env, torchrun=arg if kind == "torchrun" else None)
        assert r.returncode == 0, f"{where} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    else:
        for command in commands(body):
            argv = [sys.executable, "-m"] + shlex.split(command)
            r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)
            assert r.returncode == 0, f"{where}: {command} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
