"""The API reference (docs/api, Sphinx autodoc) builds from the docstrings without a warning."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_sphinx_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                        str(ROOT / "docs" / "api"), str(tmp_path / "html")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-5000:]
    index = (tmp_path / "html" / "core.html").read_text()
    assert "trunc_normal_" in index and "fastinit.rng" in index          # the docstrings are in


# modules a user does not call: the command line, and the model-file layer's own machinery
# (documented through fastinit.model, fastinit.model.safetensors and the guides)
INTERNAL = {"fastinit.__main__", "fastinit.cli", "fastinit.cli_signal", "fastinit.config", "fastinit.kernels",
            "fastinit.model.lock", "fastinit.model.npy", "fastinit.model.output", "fastinit.model.plan",
            "fastinit.model.sources", "fastinit.model.writer", "fastinit.model.replay", "fastinit.torch.recorder",
            "fastinit.torch.arena",  # materialize's machinery, described in docs/torch.md
            "fastinit.torch.install", "fastinit.torch.probe",  # documented as fastinit.torch's functions
            "fastinit.fills"}  # documented as the package root's uniform_, normal_, ...


def test_every_public_module_is_in_the_reference():
    import re
    pages = "".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.rst"))
    listed = set(re.findall(r"\.\. automodule:: ([\w.]+)", pages))
    public = set()
    for path in (ROOT / "fastinit").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if not any(p.startswith("_") for p in parts):
            public.add(".".join(parts))
    missing = {m for m in public - listed - INTERNAL - {"fastinit"} if not m.startswith("fastinit.model.safetensors.")}
    assert missing == set()
