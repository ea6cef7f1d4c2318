"""Small torch networks initialized by fastinit scheme specs, for probes and coordinate checks.

``mlp(activation, scheme, depth, width)`` is the network ``fastinit.signal.mlp`` describes;
``mup_mlp(width, base_width)`` an MLP with muP roles (or the standard parametrization's fixed
std) for the coordinate check.  Every parameter is filled with its name as the stream.
"""

import torch

from .module import InitReport
from .tensors import as_numpy

# activation name (fastinit.schemes.activations) -> torch module
MODULES = {
    "linear": lambda a: torch.nn.Identity(), "relu": lambda a: torch.nn.ReLU(),
    "leaky_relu": lambda a: torch.nn.LeakyReLU(0.01 if a is None else a), "tanh": lambda a: torch.nn.Tanh(),
    "sigmoid": lambda a: torch.nn.Sigmoid(), "gelu": lambda a: torch.nn.GELU(), "silu": lambda a: torch.nn.SiLU(),
    "selu": lambda a: torch.nn.SELU(),
}


def init_weight_(weight, scheme, *, seed, stream, base_width=None):
    """Fill ``weight`` by the scheme spec ``scheme`` (``"orthogonal(gain=g)"`` included) with
    fastinit's kernels; returns ``weight``."""
    from ..schemes import parse
    from ..schemes.moments import _split

    name, kwargs = _split(scheme)
    with torch.no_grad():
        if name == "orthogonal":
            from ..orthogonal import orthogonal_

            orthogonal_(as_numpy(weight), **kwargs, seed=seed, stream=stream)
        else:
            fn, kwargs = parse(scheme)
            if name == "mup_normal" and "base_width" not in kwargs:
                kwargs["base_width"] = base_width
            fn(as_numpy(weight), **kwargs, seed=seed, stream=stream)
    return weight


def _sequential(activation, param, sizes, schemes, bias, seed, dtype, base_width):
    """Linear(sizes[0], sizes[1]), act, Linear(sizes[1], sizes[2]), ...; weight i from schemes[i]."""
    from ..schemes.activations import check_activation

    activation, param = check_activation(activation, param)
    layers = []
    for i in range(len(sizes) - 1):
        if i:
            layers.append(MODULES[activation](param))
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1], bias=bias is not None, dtype=dtype, device="meta"))
    model = torch.nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    for name, p in list(model.named_parameters()):
        mod_name, attr = name.rsplit(".", 1)
        mod = model.get_submodule(mod_name)
        mod._parameters[attr] = torch.nn.Parameter(torch.empty(p.shape, dtype=dtype))
        spec = schemes[linears.index(mod)] if attr == "weight" else bias
        init_weight_(mod._parameters[attr], spec, seed=seed, stream=name, base_width=base_width)
    return model


def mlp(activation, scheme, depth, width, d_in=None, *, seed, param=None, bias=None, dtype=torch.float32,
        base_width=None):
    """``nn.Sequential(Linear(d_in, width), act, Linear(width, width), ..., Linear)``: ``depth``
    Linear layers, every weight from ``scheme``, biases from ``bias`` (None: no bias), each with
    its name as stream -- the network ``fastinit.signal.mlp`` describes."""
    d_in = width if d_in is None else d_in
    return _sequential(activation, param, [d_in] + [width] * depth, [scheme] * depth, bias, seed, dtype,
                       base_width)


def mup_mlp(width, base_width, *, depth=3, d_in=64, d_out=16, activation="relu", parametrization="mup", seed,
            dtype=torch.float32):
    """An MLP ``d_in -> width -> ... -> width -> d_out`` (``depth`` Linear layers) for the coordinate
    check.  ``parametrization="mup"``: input ``mup_normal(role='input')``, hidden ``role='hidden'``,
    readout ``role='readout'`` at ``base_width``; ``"sp"``: the standard parametrization as large
    models use it -- every weight ``normal(std)`` with the std the muP layer has at the base width,
    kept fixed as the width grows (GPT-2's ``initializer_range`` is such a constant)."""
    if parametrization not in ("mup", "sp"):
        raise ValueError(f"parametrization must be 'mup' or 'sp'; got {parametrization!r}")
    roles = ["input"] + ["hidden"] * (depth - 2) + ["readout"]
    if parametrization == "mup":
        specs = [f"mup_normal(role='{r}')" for r in roles]
    else:
        fan_ins = [d_in] + [base_width] * (depth - 1)
        specs = [f"normal(std={(1.0 / f) ** 0.5!r})" for f in fan_ins]
    return _sequential(activation, None, [d_in] + [width] * (depth - 1) + [d_out], specs, None, seed, dtype,
                       base_width)


_ACTIVATION_OF = {torch.nn.ReLU: "relu", torch.nn.LeakyReLU: "leaky_relu", torch.nn.Tanh: "tanh",
                  torch.nn.Sigmoid: "sigmoid", torch.nn.GELU: "gelu", torch.nn.SiLU: "silu", torch.nn.SELU: "selu"}
_LINEAR_DEFAULT = "linear_default"  # what torch's reset_parameters writes into Linear/ConvNd weights


def chain(module, schemes, *, base_width=None):
    """``fastinit.signal`` layers for a ``torch.nn.Sequential`` of Linear/Conv layers and elementwise
    activations, read from the model's structure and the scheme each weight got.

    ``schemes``: ``{parameter name: scheme spec}`` -- ``init_module_``'s rules (fnmatch patterns) or
    its ``InitReport`` (each tensor's ops as its plan has them, without the report's
    ``[why]``); a weight no spec names counts as ``linear_default``, a bias as
    ``bias_uniform`` (torch's defaults).  Then
    ``fastinit.signal.propagate(chain(module, rules))`` predicts what ``fastinit.torch.probe``
    measures on the Linear/Conv outputs.
    """
    import fnmatch

    from ..schemes import compute_fans
    from ..signal import Layer

    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"module must be a torch.nn.Sequential of Linear/Conv layers and activations; got "
                        f"{type(module).__name__}")

    if isinstance(schemes, InitReport):   # its plan's ops: the descriptions end in "[why]"
        entries, aliases = schemes.plan.entries, schemes.plan.aliases
        schemes = {n: e.describe() for n, e in entries.items() if e.ops}
        schemes.update({a: schemes[c] for a, c in aliases.items() if c in schemes})

    def spec_of(name, default):
        for pattern, spec in dict(schemes).items():
            if fnmatch.fnmatchcase(name, pattern):
                return _LINEAR_DEFAULT if spec.startswith("linear_default") else spec
        return default

    layers, activation, param = [], "linear", None
    for name, child in module.named_children():
        if isinstance(child, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
            shape = tuple(child.weight.shape)
            weight = spec_of(f"{name}.weight", _LINEAR_DEFAULT)
            bias = None if child.bias is None else spec_of(f"{name}.bias",
                                                           f"bias_uniform(fan_in={compute_fans(shape)[0]})")
            try:
                layers.append(Layer.from_scheme(weight, shape, activation, param, bias, None, name, base_width))
            except ValueError as exc:
                raise ValueError(f"layer {name!r} (weight {weight!r}, bias {bias!r}): {exc}") from None
            activation, param = "linear", None
        elif isinstance(child, torch.nn.Identity):
            continue
        elif type(child) in _ACTIVATION_OF:
            if activation != "linear":
                raise ValueError(f"module {name!r}: two activations in a row are not a chain fastinit.signal predicts")
            activation = _ACTIVATION_OF[type(child)]
            param = child.negative_slope if isinstance(child, torch.nn.LeakyReLU) else None
        else:
            raise ValueError(f"module {name!r} ({type(child).__name__}) is neither Linear/Conv nor an elementwise "
                             f"activation: no prediction (fastinit.torch.probe still measures it)")
    if not layers:
        raise ValueError("the model has no Linear or Conv layer")
    return layers
