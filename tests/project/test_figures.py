"""docs/figures/make_stream_layout.py: it runs, and the layout it draws is the kernels' layout.

The figure places every element at the (block, word) the script's ``layout`` returns; here those
pairs are checked against the fills themselves through an independent scalar Philox4x32-10 (plain
Python integers, Salmon et al. 2011, checked on Random123's known answer): the word at that
(block, word) must give the very bits ``uniform_`` writes, whole, as a shard, and beyond the first
2^32 blocks (where the counter's second word is used).
"""

import importlib.util
import pathlib

import numpy as np
import pytest

import fastinit
from fastinit.rng import key_words

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "figures" / "make_stream_layout.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_stream_layout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def philox(counter, key, rounds=10):
    """Philox4x32-R of one counter (4 ints) under one key (2 ints), in plain Python integers."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & 0xFFFFFFFF, p1 & 0xFFFFFFFF, ((p0 >> 32) ^ c3 ^ k1) & 0xFFFFFFFF, \
            p0 & 0xFFFFFFFF
    return c0, c1, c2, c3


def test_scalar_philox_is_random123s():
    assert philox((0, 0, 0, 0), (0, 0)) == (1713891541, 3781805453, 3159862348, 2600524760)
    ones = 0xFFFFFFFF
    assert philox((ones,) * 4, (ones, ones)) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)


def value(seed, stream, block, word, dtype):
    """uniform_(0, 1)'s value from word (pair) ``word`` of ``block`` (docs/streams.md)."""
    kw = [int(k) for k in key_words(seed, stream)]
    w = philox((block & 0xFFFFFFFF, block >> 32, kw[2], kw[3]), (kw[0], kw[1]))
    if dtype == np.float64:
        return float(((w[2 * word + 1] << 32 | w[2 * word]) >> 11) * 2.0**-53)
    return np.float32(w[word] >> 8) * np.float32(2.0**-24)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_drawn_layout_reproduces_the_fills(script, dtype):
    n = 200
    blocks, words = script.layout(np.arange(n), dtype)
    whole = fastinit.uniform_(np.empty(n, dtype), 0.0, 1.0, seed=7, stream="fig")
    expected = np.array([value(7, "fig", int(b), int(j), dtype) for b, j in zip(blocks, words)], dtype)
    assert np.array_equal(whole, expected)
    # far into the tensor: elements 2^40 .. 2^40 + 99 of a 1-D tensor, filled as a shard
    first = 2**40
    out = fastinit.uniform_(np.empty(100, dtype), 0.0, 1.0, seed=7, stream="fig", global_shape=(first + 100,),
                            offset=(first,))
    blocks, words = script.layout(np.arange(first, first + 100, dtype=np.uint64), dtype)
    assert (blocks >> np.uint64(32)).min() > 0  # the counter's second word is in play
    expected = np.array([value(7, "fig", int(b), int(j), dtype) for b, j in zip(blocks, words)], dtype)
    assert np.array_equal(out, expected)


def test_the_drawn_shard_is_the_shard_fill(script):
    idx = script.shard_indices()
    assert idx.shape == script.SHARD_SHAPE
    out = fastinit.uniform_(np.empty(script.SHARD_SHAPE, np.float32), 0.0, 1.0, seed=7, stream="fig",
                            global_shape=script.GLOBAL_SHAPE, offset=script.OFFSET)
    blocks, words = script.layout(idx, np.float32)
    expected = [value(7, "fig", int(b), int(j), np.float32) for b, j in zip(blocks, words)]
    assert np.array_equal(out.ravel(), np.array(expected, np.float32))
    whole = fastinit.uniform_(np.empty(script.GLOBAL_SHAPE, np.float32), 0.0, 1.0, seed=7, stream="fig")
    assert np.array_equal(whole.ravel()[idx], out)


def test_the_script_draws_png_and_svg(script, tmp_path):
    pytest.importorskip("matplotlib")
    script.main([tmp_path / "layout.png", tmp_path / "layout.svg"])
    assert (tmp_path / "layout.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "layout.svg").read_bytes()[:1000]


def test_the_figure_is_in_the_docs():
    assert (ROOT / "docs" / "figures" / "stream_layout.png").exists()
    assert "](figures/stream_layout.png)" in (ROOT / "docs" / "streams.md").read_text()
    assert "](docs/figures/stream_layout.png)" in (ROOT / "README.md").read_text()
