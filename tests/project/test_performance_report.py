"""README's Performance section is what bench.report makes of bench.compare's committed results."""

import re
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "compare.json"


def test_readme_section_is_generated_from_the_results():
    data = report.load(RESULTS)
    readme = (ROOT / "README.md").read_text()
    found = re.search(re.escape(report.BEGIN) + r"\n(.*?)\n" + re.escape(report.END), readme, re.DOTALL)
    assert found is not None
    assert found[1] == report.section(data, "docs/img/throughput.png")   # rerun: python -m bench.report
    assert (ROOT / "docs" / "img" / "throughput.png").exists()


def test_plot_and_section_from_the_results(tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra: pip install -e '.[plot]'")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.BEGIN}\nstale section\n{report.END}\nafter\n")
    report.main(["--json", str(RESULTS), "--readme", str(readme), "--plot", str(tmp_path / "img" / "t.png")])
    text = readme.read_text()
    assert "stale section" not in text and text.endswith(f"{report.END}\nafter\n") and "![throughput](img/t.png)" in text
    assert (tmp_path / "img" / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
