"""The code blocks of the docs that show materialize on real models run as written."""

import re
import runpy
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def blocks():
    for doc in ("README.md", "docs/torch.md", "docs/model_files.md"):
        for i, code in enumerate(BLOCK.findall((ROOT / doc).read_text())):
            if "fastinit_report" in code or "spec_from_config" in code:
                yield pytest.param(code, id=f"{doc}:{i}")


@pytest.mark.parametrize("code", list(blocks()))
def test_block_runs(code, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    script = tmp_path / "doc_block.py"      # a file, as a user runs it: inspect can read its classes' source
    script.write_text(code)
    runpy.run_path(str(script), run_name="__doc__")
    assert capsys.readouterr().out
