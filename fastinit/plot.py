"""Pictures of signal propagation: variance against depth, and the muP coordinate check.

matplotlib is an optional dependency (``pip install "fastinit-weights[plot]"``); nothing else in fastinit
imports this module.  The functions take plain arrays -- from ``fastinit.signal.propagate``
(predicted) and ``fastinit.torch.probe`` (measured) -- and write a PNG or SVG (by the path's
suffix), returning the path.
"""

import os

import numpy as np

from ._extras import require


def _pyplot():
    matplotlib = require("matplotlib", "plot", "fastinit.plot")
    matplotlib.use("Agg", force=False)  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _check_path(path):
    path = os.fspath(path)
    if not path.lower().endswith((".png", ".svg")):
        raise ValueError(f"path must end in .png or .svg; got {path!r}")
    return path


def variance_vs_depth(curves, path, title=None):
    """Two panels, forward ``E[h_l^2]`` and backward ``E[(dL/dh_l)^2]`` against the layer, log scale.

    ``curves``: a list of dicts with ``label``, ``predicted`` (``(forward, backward)``) and,
    optionally, ``measured`` (``(forward, backward)``), each an array over the layers; measured
    values are drawn as dots, predictions as lines of the same colour.
    """
    path = _check_path(path)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False, constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, curve in enumerate(curves):
        color = colors[k % len(colors)]
        for ax, which in zip(axes, (0, 1)):
            pred = np.asarray(curve["predicted"][which], np.float64)
            layers = np.arange(1, len(pred) + 1)
            ax.plot(layers, pred, color=color, lw=1.6, label=f"{curve['label']}" if which == 0 else None)
            if curve.get("measured") is not None:
                meas = np.asarray(curve["measured"][which], np.float64)
                ax.plot(layers, meas, "o", color=color, ms=3.2, alpha=0.8)
    for ax, name in zip(axes, ("forward: $E[h_l^2]$", "backward: $E[(\\partial L/\\partial h_l)^2]$")):
        ax.set_yscale("log")
        ax.set_xlabel("layer $l$")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].plot([], [], "o", color="0.4", ms=3.2, label="measured (dots)")
    axes[0].plot([], [], "-", color="0.4", label="predicted (lines)")
    axes[0].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def coord_check(panels, path, title=None):
    """The coordinate check: root-mean-square of each layer's output against the width (log-log),
    one line per layer, one panel per parametrization.

    ``panels``: ``{panel title: {width: [rms of layer 1, layer 2, ...]}}``.
    """
    path = _check_path(path)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), sharey=True, constrained_layout=True)
    axes = np.atleast_1d(axes)
    for ax, (name, by_width) in zip(axes, panels.items()):
        widths = sorted(by_width)
        rms = np.array([by_width[w] for w in widths], np.float64)
        for layer in range(rms.shape[1]):
            last = layer == rms.shape[1] - 1
            ax.plot(widths, rms[:, layer], "o-" if not last else "s--", ms=4,
                    label=f"layer {layer + 1}" + (" (readout)" if last else ""))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("RMS of the layer's output at init")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
