"""Draw docs/figures/stream_layout.png: how element i finds its Philox block and word, and how a
shard finds its place (docs/streams.md, "Element index -> block and word").

    python docs/figures/make_stream_layout.py [OUT.png|OUT.svg ...]

Nothing here is placed by hand: every cell sits where ``block_of`` -- the kernels' own
element -> (block, word) function, fastinit/kernels/_numba.py, the twin of csrc's -- puts it,
and the shard panel's elements are the global indices a shard fill uses.  Before drawing, the
script checks the layout against the fills: each element's value is recomputed from its block's
Philox words (``fastinit.rng.philox4x32``) by docs/streams.md's uniform formula and compared bit
for bit with ``fastinit.uniform_``, whole and as the shard.  tests/project/test_figures.py runs
it.  Needs matplotlib (``pip install "fastinit-weights[plot]"``).
"""

import pathlib
import sys

import numpy as np

import fastinit
from fastinit.kernels import GROUP32, GROUP64
from fastinit.kernels._numba import block_of
from fastinit.rng import key_words, philox4x32

HERE = pathlib.Path(__file__).parent
SEED, STREAM = 0, "layout"
GLOBAL_SHAPE, OFFSET, SHARD_SHAPE = (6, 32), (2, 8), (3, 16)  # the shard panel: out = rows 2..4, columns 8..23
WORD_COLOURS = ["#9ecae1", "#a1d99b", "#fdd0a2", "#dadaeb"]   # word (pair) 0..3


def layout(indices, dtype):
    """(block, word) of each global element index: ``word`` is the word (float32 family) or the
    word pair (float64) of the block that element uses, as the kernels compute it."""
    shift = (GROUP64 if np.dtype(dtype) == np.float64 else GROUP32).bit_length() - 1  # log2 of the group
    pairs = [block_of(int(i), shift) for i in np.asarray(indices).ravel()]
    return np.array([int(b) for b, _ in pairs], np.uint64), np.array([int(j) for _, j in pairs], np.int64)


def uniform_from_layout(indices, dtype, seed=SEED, stream=STREAM):
    """U[0, 1) of each element from its block's Philox words (docs/streams.md, "Bits to floats")."""
    blocks, words = layout(indices, dtype)
    kw = key_words(seed, stream)
    ctr = np.stack([(blocks & 0xFFFFFFFF).astype(np.uint32), (blocks >> np.uint64(32)).astype(np.uint32),
                    np.full(len(blocks), kw[2], np.uint32), np.full(len(blocks), kw[3], np.uint32)], axis=-1)
    w = philox4x32(ctr, kw[:2]).astype(np.uint64)
    rows = np.arange(len(blocks))
    if np.dtype(dtype) == np.float64:
        x = (w[rows, 2 * words + 1] << np.uint64(32)) | w[rows, 2 * words]
        return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (w[rows, words] >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)


def shard_indices():
    """The global row-major index of each element of the shard ``out`` (shape SHARD_SHAPE)."""
    rows = np.arange(OFFSET[0], OFFSET[0] + SHARD_SHAPE[0])[:, None]
    cols = np.arange(OFFSET[1], OFFSET[1] + SHARD_SHAPE[1])[None, :]
    return rows * GLOBAL_SHAPE[1] + cols


def check():
    """The layout drawn is the one the fills use: raise AssertionError otherwise."""
    for dtype in (np.float32, np.float64):
        n = 3 * GROUP32 + 5
        whole = fastinit.uniform_(np.empty(n, dtype), 0.0, 1.0, seed=SEED, stream=STREAM)
        assert np.array_equal(whole, uniform_from_layout(np.arange(n), dtype)), dtype
        out = fastinit.uniform_(np.empty(SHARD_SHAPE, dtype), 0.0, 1.0, seed=SEED, stream=STREAM,
                                global_shape=GLOBAL_SHAPE, offset=OFFSET)
        assert np.array_equal(out.ravel(), uniform_from_layout(shard_indices(), dtype)), dtype


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _group_panel(ax, dtype, groups, title):
    """Elements 0 .. groups * group - 1, each in the cell (column = its block, row = its word)."""
    group = GROUP64 if dtype == np.float64 else GROUP32
    rows = group // 16
    blocks, words = layout(np.arange(groups * group), dtype)
    for i, (b, j) in enumerate(zip(blocks, words)):
        ax.add_patch(_rect(int(b), rows - 1 - j, WORD_COLOURS[j if rows == 4 else 2 * j]))
        ax.text(int(b) + 0.5, rows - 1 - j + 0.5, str(i), ha="center", va="center", fontsize=6.5)
    for g in range(1, groups):
        ax.axvline(16 * g, color="k", lw=1.6)
    label = (lambda j: f"word {j}") if rows == 4 else (lambda j: f"words {2 * j}, {2 * j + 1}")
    ax.set_yticks([rows - 1 - j + 0.5 for j in range(rows)], [label(j) for j in range(rows)], fontsize=8)
    ticks = list(range(0, 16 * groups, 4)) + [16 * groups - 1]
    ax.set_xticks([t + 0.5 for t in ticks], [str(t) for t in ticks], fontsize=7)
    ax.set_xlabel("Philox block b (one column: its 4 words)", fontsize=8)
    ax.set_xlim(0, 16 * groups)
    ax.set_ylim(0, rows)
    ax.set_title(title, fontsize=9.5, loc="left")
    ax.tick_params(length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _rect(x, y, colour, **kw):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white", lw=0.6, **kw)


def _shard_panel(ax):
    """The global tensor, each cell labelled with its block and coloured by its word; the shard outlined."""
    rows, cols = GLOBAL_SHAPE
    blocks, words = layout(np.arange(rows * cols), np.float32)
    for i, (b, j) in enumerate(zip(blocks, words)):
        r, c = divmod(i, cols)
        ax.add_patch(_rect(c, rows - 1 - r, WORD_COLOURS[j]))
        ax.text(c + 0.5, rows - 1 - r + 0.5, str(int(b)), ha="center", va="center", fontsize=6)
    from matplotlib.patches import Rectangle

    r0, c0 = OFFSET
    ax.add_patch(Rectangle((c0, rows - r0 - SHARD_SHAPE[0]), SHARD_SHAPE[1], SHARD_SHAPE[0], fill=False,
                           edgecolor="k", lw=2.2))
    idx = shard_indices()
    notes = []
    for (r, c), colour in (((0, 0), "#d62728"), ((SHARD_SHAPE[0] - 1, SHARD_SHAPE[1] - 1), "#7b2d8b")):
        gr, gc = r0 + r, c0 + c
        (b,), (j,) = layout([idx[r, c]], np.float32)
        ax.add_patch(Rectangle((gc, rows - 1 - gr), 1, 1, fill=False, edgecolor=colour, lw=2.2))
        notes.append((colour, f"out[{r}, {c}] = element ({gr}, {gc}): i = {gr} x {cols} + {gc} = {idx[r, c]}, "
                              f"word {j} of block {b}"))
    for k, (colour, note) in enumerate(notes):
        ax.text(0, -1.35 - 0.55 * k, note, color=colour, fontsize=8, va="top")
    ax.set_xticks([c + 0.5 for c in range(0, cols, 4)], [str(c) for c in range(0, cols, 4)], fontsize=7)
    ax.set_yticks([rows - 1 - r + 0.5 for r in range(rows)], [f"row {r}" for r in range(rows)], fontsize=7)
    ax.set_xlim(0, cols)
    ax.set_ylim(0, rows)
    ax.set_xlabel("column  (a cell shows its Philox block, its colour the word)", fontsize=8)
    ax.set_title(f"a shard: out = rows {r0}..{r0 + SHARD_SHAPE[0] - 1}, columns {c0}..{c0 + SHARD_SHAPE[1] - 1} "
                 f"(global_shape={GLOBAL_SHAPE}, offset={OFFSET}) uses the global indices i = row x {cols} + column: "
                 f"the whole tensor's bits", fontsize=9.5, loc="left")
    ax.tick_params(length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw(path):
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(11, 8.8), gridspec_kw=dict(height_ratios=[4, 2, 6]))
    _group_panel(axes[0], np.float32, 2, f"float32, float16, bfloat16: {GROUP32} elements per group of 16 blocks; "
                                         "element i uses word (i mod 64) div 16 of block 16 (i div 64) + i mod 16")
    _group_panel(axes[1], np.float64, 2, f"float64: {GROUP64} elements per group; element i uses words 2h, 2h + 1, "
                                         "h = (i mod 32) div 16, of block 16 (i div 32) + i mod 16")
    _shard_panel(axes[2])
    fig.text(0.01, 0.008, "block b = Philox4x32-10(counter (b mod 2^32, b div 2^32, stream mod 2^32, stream div 2^32), "
                          "key (seed mod 2^32, seed div 2^32)) -> words w0 w1 w2 w3\n"
                          "i = the element's row-major index in the global tensor; the word (pair) becomes a float by "
                          "the distribution's transform (docs/streams.md)", fontsize=8, color="0.25")
    fig.tight_layout(rect=(0, 0.04, 1, 1), h_pad=2.2)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(paths=None):
    check()
    for path in paths or [HERE / "stream_layout.png"]:
        print("wrote", draw(path))


if __name__ == "__main__":
    main(sys.argv[1:])
