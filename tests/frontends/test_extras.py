"""A missing optional dependency is a one-line message naming the extra that installs it.

Each case runs in a fresh interpreter whose ``sys.modules`` holds None for the library, so
importing it raises ModuleNotFoundError exactly as on a machine without it.
"""

import os
import pty
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fastinit._extras import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[2]


def run(code, blocked, **kw):
    prelude = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", prelude + code], env=env, timeout=120, **kw)


def test_distribution_name_is_the_one_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION != "fastinit"       # "fastinit" on PyPI is another project
    assert {"torch", "jax", "dask", "files"} <= set(project["optional-dependencies"])


@pytest.mark.parametrize("front_end,library,extra", [("torch", "torch", "torch"), ("jax", "jax", "jax"),
                                                     ("dask", "dask", "dask"), ("keras", "keras", "keras")])
def test_front_end_without_its_library(front_end, library, extra):
    r = run(f"import fastinit.{front_end}", [library], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (f"ModuleNotFoundError: fastinit.{front_end} needs {library}, which is "
                                         f'not installed: pip install "{DISTRIBUTION}[{extra}]"')
    core = run("import fastinit, numpy as np; print(fastinit.normal_(np.empty(3), seed=0, stream=0)[0])",
               [library], capture_output=True, text=True)
    assert core.returncode == 0, core.stderr                  # the core never needs an extra


def test_a_dependency_missing_inside_the_library_keeps_its_own_error():
    r = run("import fastinit.dask", ["toolz"], capture_output=True, text=True)   # dask itself needs toolz
    assert r.returncode == 1
    last = r.stderr.splitlines()[-1]
    assert last.startswith("ModuleNotFoundError") and "toolz" in last and "pip install" not in r.stderr


def test_fill_in_a_terminal_without_tqdm(tmp_path):
    """The progress bar is what needs tqdm: one line names the extra, and the file is written."""
    spec = tmp_path / "m.toml"
    spec.write_text('seed = 0\ndtype = "f32"\n[[tensors]]\nname = "w"\nshape = [64, 32]\nscheme = "normal(std=0.02)"\n')
    main, terminal = pty.openpty()                         # stderr is a TTY, as in a terminal
    try:
        r = run(f"from fastinit.cli import main; sys.exit(main(['fill', {str(spec)!r}, '-o', {str(tmp_path / 'out')!r}]))",
                ["tqdm"], stderr=terminal, stdout=subprocess.PIPE)
        os.close(terminal)
        terminal = None
        err = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:                                  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(main)
        if terminal is not None:
            os.close(terminal)
    lines = err.decode().splitlines()
    assert r.returncode == 0, err
    assert lines[0] == (f'fastinit: the progress bar needs tqdm, which is not installed: pip install '
                        f'"{DISTRIBUTION}[files]" (or --quiet)')
    assert lines[1].startswith("filled 1 of 1 tensors") and len(lines) == 2
    assert (tmp_path / "out" / "model.safetensors").exists()


def test_a_plot_without_matplotlib():
    r = run("import fastinit.plot as p; p.variance_vs_depth({}, 'x.png')", ["matplotlib"], capture_output=True,
            text=True)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == ('ModuleNotFoundError: fastinit.plot needs matplotlib, which is not '
                                         f'installed: pip install "{DISTRIBUTION}[plot]"')


def test_fill_without_xxhash_says_which_extra_and_writes_nothing(tmp_path):
    spec = tmp_path / "m.toml"
    spec.write_text('seed = 0\n[[tensors]]\nname = "w"\nshape = [64, 32]\nscheme = "normal(std=0.02)"\n')
    out = tmp_path / "out"
    r = run(f"import sys; from fastinit.cli import main; sys.exit(main(['fill', {str(spec)!r}, '-o', {str(out)!r}]))",
            ["xxhash", "tqdm"], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (2, 'fastinit: error: the safetensors format needs xxhash, which is not '
                                           f'installed: pip install "{DISTRIBUTION}[files]"\n')
    assert not out.exists()


def test_every_install_hint_names_this_distribution():
    # `pip install fastinit[...]` installs the other project: code, docs and benches name ours
    import re
    wrong = re.compile(r"(?<![\w-])fastinit\[")
    found = {str(p.relative_to(ROOT)) for pattern in ("fastinit/**/*.py", "docs/**/*.md", "docs/**/*.py",
                                                      "bench/**/*.py", "examples/**/*.py", "README.md")
             for p in ROOT.glob(pattern) if wrong.search(p.read_text())}
    assert found == set()
