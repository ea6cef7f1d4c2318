"""Regenerate the figures of docs/probe.md: ``python docs/figures/make_figures.py`` (needs torch and
matplotlib: ``pip install "fastinit-weights[torch,plot]"``).  Each figure is measured (one forward and
backward pass of a real torch MLP, ``fastinit.torch.probe``) and predicted
(``fastinit.signal.propagate``) from the same scheme specs; a fixed seed makes them reproducible.
"""

import math
import pathlib
import sys

import torch

import fastinit
from fastinit import signal
from fastinit.plot import coord_check as draw_coord_check
from fastinit.plot import variance_vs_depth
from fastinit.torch.nets import mlp, mup_mlp
from fastinit.torch.probe import coord_check, probe

HERE = pathlib.Path(__file__).parent
WIDTH, BATCH, SEED = 1024, 128, 0


def curves(activation, specs, depth, width=WIDTH):
    x = torch.empty(BATCH, width)
    fastinit.normal_(x.numpy(), seed=SEED, stream="figures.inputs")
    out = []
    for label, spec in specs.items():
        pred = signal.propagate(signal.mlp(activation, spec, depth, width))
        measured = probe(mlp(activation, spec, depth, width, seed=SEED), x, seed=SEED).select(torch.nn.Linear)
        out.append(dict(label=label, predicted=(pred.forward, pred.backward),
                        measured=(measured.forward, measured.backward)))
    return out


FIGURES = {
    "relu_depth50.png": ("relu", {
        "xavier_normal (gain 1)": "xavier_normal",
        "kaiming_normal(relu)": "kaiming_normal(nonlinearity='relu')",
        "orthogonal(gain=sqrt 2)": f"orthogonal(gain={math.sqrt(2)!r})",
        "torch nn.Linear default": "linear_default",
    }, 50, "ReLU, depth 50: xavier halves the variance every layer, kaiming holds it"),
    "selu_depth50.png": ("selu", {
        "lecun_normal": "lecun_normal",
        "kaiming_normal(selu): torch's 3/4": "kaiming_normal(nonlinearity='selu')",
        "xavier_uniform(gain 5/3)": f"xavier_uniform(gain={5 / 3!r})",
    }, 50, "SELU, depth 50: lecun_normal stays at the fixed point 1 (its gradient grows 7% a layer)"),
    "tanh_depth50.png": ("tanh", {
        "xavier_normal (gain 1)": "xavier_normal",
        "kaiming_normal(tanh): 5/3": "kaiming_normal(nonlinearity='tanh')",
        "orthogonal(gain 5/3)": f"orthogonal(gain={5 / 3!r})",
    }, 50, "tanh, depth 50: gain 1 decays slowly, torch's 5/3 settles above 1 and grows the gradient"),
    "gelu_depth30.png": ("gelu", {
        "xavier_normal (gain 1)": "xavier_normal",
        "kaiming_normal(gelu): 1.5335": "kaiming_normal(nonlinearity='gelu')",
        "hf_normal(0.02)": "hf_normal",
    }, 30, "GELU, depth 30: no gain keeps both passes flat"),
}


def coord_figure(path):
    x = torch.empty(32, 64)
    fastinit.normal_(x.numpy(), seed=SEED, stream="figures.coord_check")
    widths = [256, 512, 1024, 2048, 4096]
    panels = {}
    for par, title in (("sp", "standard parametrization (std fixed at base width)"), ("mup", "muP, base width 256")):
        results = coord_check(lambda w: mup_mlp(w, 256, depth=4, parametrization=par, seed=SEED), widths, x)
        panels[title] = {w: [math.sqrt(v) for v in r.forward] for w, r in results.items()}
    draw_coord_check(panels, path, "coordinate check at init: flat under muP, drifting under SP")


def main(names=None):
    torch.set_num_threads(1)  # a shared machine: see docs/probe.md
    for name, (act, specs, depth, title) in FIGURES.items():
        if names and name not in names:
            continue
        variance_vs_depth(curves(act, specs, depth), HERE / name, title)
        print("wrote", HERE / name)
    if not names or "coord_check.png" in names:
        coord_figure(HERE / "coord_check.png")
        print("wrote", HERE / "coord_check.png")


if __name__ == "__main__":
    main(sys.argv[1:])
