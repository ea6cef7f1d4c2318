"""Model files benchmark (``python -m bench.model_files`` is the full comparison): the fill of
a preset vs a plain write of the same bytes and torch's way, interleaved, one subprocess per
measurement.  Here on llama-tiny, so it runs in seconds; the numbers go to the summary as
extra_info-like prints, and the checks are about the measurement, not about speed."""

import pytest

from . import model_files


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    kinds = ("fill", "plain") + (("torch",) if model_files_has_torch() else ())
    return model_files.summary(model_files.run("llama-tiny", "bf16", tmp_path_factory.mktemp("files"),
                                               repeat=3, kinds=kinds))


def model_files_has_torch():
    from . import common

    return common.torch is not None


def test_same_bytes_written(tiny_runs):
    # the plain write produces a file of exactly the fill's size
    assert tiny_runs["fill"]["bytes"] == tiny_runs["plain"]["bytes"] > 36 << 20


def test_report(tiny_runs, capsys):
    text = model_files.report("llama-tiny", "bf16", tiny_runs)
    with capsys.disabled():
        print("\n" + text)
    assert "fill within 1.1x of the plain write" in text and "fill peak RSS under 1 GiB" in text
    # a tiny model's fill keeps the interpreter's footprint: well under the 1 GiB target
    assert tiny_runs["fill"]["peak_rss"] < 1 << 30
