"""Measure signal propagation: one forward and one backward pass through a model as initialized.

``probe(module, inputs)`` records, for every leaf module call in the order the forward pass
makes them, the second moment of its output ``E[h^2]`` and of the gradient flowing into
that output ``E[(dL/dh)^2]``.  The loss is ``sum(output * c)`` with ``c ~ N(0, 1)`` drawn by
fastinit (``seed``, ``stream``), so the output gradient has second moment 1 as in
``fastinit.signal.propagate``; nothing of the model changes (gradients are taken with
``torch.autograd.grad`` with respect to the recorded outputs, parameters' ``.grad`` untouched).
The predictions live in ``fastinit.signal`` (no torch); this module only measures.

>>> result = fastinit.torch.probe(model, torch.randn(256, 1024))
>>> result.select(torch.nn.Linear).forward        # E[h^2] of each Linear's output, in depth order
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import fills
from .tensors import as_numpy


@dataclass(frozen=True)
class Record:
    """One module call: ``forward = E[h^2]`` and ``mean = E[h]`` of its output ``h`` (over every
    element), ``backward = E[(dL/dh)^2]``; ``name`` as ``named_modules`` gives it (``#k`` added
    for the k-th repeated call of one module)."""

    name: str
    kind: type
    shape: tuple
    forward: float
    mean: float
    backward: float


class ProbeResult(tuple):
    """The records of ``probe``, in depth order, with their columns as NumPy arrays."""

    @property
    def names(self):
        return [r.name for r in self]

    @property
    def forward(self):
        return np.array([r.forward for r in self])

    @property
    def backward(self):
        return np.array([r.backward for r in self])

    def select(self, *kinds):
        """The records of modules that are instances of ``kinds`` (e.g. ``torch.nn.Linear``)."""
        return ProbeResult(r for r in self if issubclass(r.kind, kinds))

    def table(self):
        """A text table: name, kind, shape, E[h^2], E[(dL/dh)^2]."""
        width = max([len(r.name) for r in self] + [4])
        lines = [f"{'name':<{width}}  {'module':<12} {'E[h^2]':>12} {'E[g^2]':>12}"]
        lines += [f"{r.name:<{width}}  {r.kind.__name__:<12} {r.forward:>12.5g} {r.backward:>12.5g}" for r in self]
        return "\n".join(lines)


def _mean_square(t):
    t = t.detach()
    n = t.numel()
    return float(torch.linalg.vector_norm(t, dtype=torch.float64) ** 2 / n) if n else math.nan


def probe(module, inputs, *, seed=0, stream="fastinit.probe", loss=None, modules=None):
    """Run ``module(inputs)`` forward and backward once; return a ``ProbeResult`` of every leaf module call.

    ``inputs``: a tensor, a tuple of positional arguments or a dict of keyword arguments.
    ``loss``: a function of the output giving a scalar; by default ``sum(output * c)``, ``c``
    N(0, 1) from ``fastinit.normal_(seed=seed, stream=stream)`` (the output must then be one
    float tensor).  ``modules``: the modules to record (default every leaf module; a module
    whose output is not a floating tensor is skipped).  The model's mode (train/eval) is kept;
    frozen parameters are fine (the float inputs are given ``requires_grad`` on a detached alias).
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be None or a function of the model's output; got {type(loss).__name__}")
    if modules is None:
        modules = [(n, m) for n, m in module.named_modules() if not any(True for _ in m.children())]
    else:
        names = {id(m): n for n, m in module.named_modules()}
        modules = [(names.get(id(m), type(m).__name__), m) for m in modules]
    calls, outputs, handles = [], [], []
    seen = {}

    def hook(name):
        def record(module, args, output):
            if isinstance(output, torch.Tensor) and output.is_floating_point() and output.requires_grad:
                k = seen.get(name, 0)
                seen[name] = k + 1
                mean = float(output.detach().mean(dtype=torch.float64)) if output.numel() else math.nan
                calls.append((name if k == 0 else f"{name}#{k}", type(module), tuple(output.shape),
                              _mean_square(output), mean))
                outputs.append(output)
        return record

    try:
        for name, mod in modules:
            handles.append(mod.register_forward_hook(hook(name)))
        # float inputs get requires_grad (on a detached alias), so that a frozen model is probed too
        grad = lambda t: t.detach().requires_grad_(True) if isinstance(t, torch.Tensor) and t.is_floating_point() else t  # noqa: E731
        if isinstance(inputs, dict):
            inputs = {k: grad(v) for k, v in inputs.items()}
        elif isinstance(inputs, tuple):
            inputs = tuple(grad(v) for v in inputs)
        else:
            inputs = grad(inputs)
        with torch.enable_grad():
            if isinstance(inputs, dict):
                out = module(**inputs)
            elif isinstance(inputs, tuple):
                out = module(*inputs)
            else:
                out = module(inputs)
            if loss is None:
                if not (isinstance(out, torch.Tensor) and out.is_floating_point()):
                    raise TypeError(f"the model's output is a {type(out).__name__}, not a float tensor: pass loss=")
                cot = torch.empty(out.shape, dtype=out.dtype)
                fills.normal_(as_numpy(cot), 0.0, 1.0, seed=seed, stream=stream)
                value = (out * cot).sum()
            else:
                value = loss(out)
            if not outputs:
                return ProbeResult()
            grads = torch.autograd.grad(value, outputs, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    return ProbeResult(Record(name, kind, shape, fwd, mean, _mean_square(g) if g is not None else 0.0)
                       for (name, kind, shape, fwd, mean), g in zip(calls, grads))


def coord_check(build, widths, inputs, *, seed=0, kinds=(torch.nn.Linear,)):
    """The coordinate check at initialization (Yang et al. 2022, section 7 and the ``mup`` package's
    ``get_coord_data`` at step 0): ``{width: ProbeResult of the kinds' modules}``, ``build(width)``
    giving the initialized model and ``inputs`` the (width-independent) inputs.  A layer whose
    root-mean-square stays flat across widths is width-stable."""
    return {w: probe(build(w), inputs, seed=seed).select(*kinds) for w in widths}
