"""Signal propagation at initialization, predicted from the init alone (pure NumPy/SciPy).

The mean-field variance recursions of a chain of linear (or convolution) layers with
elementwise activations (Poole et al. 2016, "Exponential expressivity in deep neural networks
through transient chaos"; Schoenholz et al. 2017, "Deep Information Propagation")::

    h_1 = W_1 x + b_1,   h_{l+1} = W_{l+1} phi(h_l) + b_{l+1}   (or h_l + alpha (W phi(h_l) + b))

    q_{l+1} = sigma_w^2 E[phi(z)^2] + sigma_b^2,       z ~ N(0, q_l)       forward
    g_l     = g_{l+1} * sigma_w'^2 E[phi'(z)^2]                             backward

``q_l = E[h_l^2]`` is the second moment of the pre-activations, ``g_l = E[(dL/dh_l)^2]`` that
of the gradient flowing into them; ``sigma_w^2 = fan_in E[w^2]`` (forward) and ``sigma_w'^2 =
fan_out E[w^2]`` (backward) come from the scheme and the shape
(``fastinit.schemes.moments``), ``E[phi^2]``, ``E[phi'^2]`` from quadrature
(``fastinit.schemes.activations``).  A residual layer of scale ``alpha`` adds its branch:
``q_{l+1} = q_l + alpha^2 (...)``, ``g_l = g_{l+1} (1 + alpha^2 sigma_w'^2 E[phi'^2])``.  These
are the infinite-width values; a network of width ``n`` fluctuates around them by about
``sqrt(sum_l c / n_l)`` in log-variance, ``c`` of order 2-5.

>>> pred = propagate(mlp("relu", "kaiming_normal(nonlinearity='relu')", depth=50, width=1024))
>>> round(pred.forward_growth, 6), round(pred.backward_growth, 6)
(1.0, 1.0)
"""

import math
from dataclasses import dataclass, field

import numpy as np

from . import _validate
from .schemes.activations import ACTIVATIONS, check_activation, moments
from .schemes.fans import calculate_gain, compute_fans
from .schemes.moments import weight_second_moment


@dataclass(frozen=True)
class Layer:
    """One linear/conv layer of a chain: ``h' = W phi(h) + b`` (or ``h + residual * (W phi(h) + b)``).

    ``forward_gain = fan_in E[w^2]``, ``backward_gain = fan_out E[w^2]``, ``bias = E[b^2]``;
    ``activation`` (with ``param``, leaky ReLU's slope) is applied to the layer's *input*, so a
    first layer on raw data has ``"linear"``.
    """

    forward_gain: float
    backward_gain: float
    activation: str = "linear"
    param: float = None
    bias: float = 0.0
    residual: float = None
    name: str = ""

    def __post_init__(self):
        check_activation(self.activation, self.param)
        for attr in ("forward_gain", "backward_gain", "bias"):
            value = getattr(self, attr)
            _validate.real(value, f"Layer {attr}", lo=0)
        if self.residual is not None:
            _validate.real(self.residual, "Layer residual")

    @classmethod
    def from_scheme(cls, scheme, shape, activation="linear", param=None, bias=None, residual=None, name="",
                    base_width=None):
        """The layer whose weight of (torch-layout) ``shape`` is filled by the scheme spec ``scheme``
        and whose bias (if any) by the spec ``bias``; conv weights ``(out, in, *kernel)`` count
        the receptive field in both fans, as the schemes do."""
        fan_in, fan_out = compute_fans(tuple(shape))
        second = weight_second_moment(scheme, shape, base_width)
        b = 0.0 if bias is None else weight_second_moment(bias, (shape[0], fan_in), base_width)
        if residual is not None and fan_in != fan_out:
            raise ValueError(f"a residual layer needs fan_in == fan_out; shape {tuple(shape)} has {fan_in} and "
                             f"{fan_out}")
        return cls(fan_in * second, fan_out * second, activation, param, b, residual, name)


@dataclass(frozen=True)
class Propagation:
    """Predicted second moments, layer by layer: ``forward[l] = E[h_l^2]``, ``backward[l] =
    E[(dL/dh_l)^2]`` (l = 0 is the first layer's output), from input ``q0`` and output gradient ``g_out``."""

    names: tuple
    forward: np.ndarray = field(repr=False)
    backward: np.ndarray = field(repr=False)

    @property
    def depth(self):
        return len(self.forward)

    @property
    def forward_growth(self):
        """The mean per-layer growth factor of the forward variance, ``(q_L / q_1)^(1 / (L - 1))``."""
        return _growth(self.forward)

    @property
    def backward_growth(self):
        """The mean per-layer growth factor of the gradient variance towards the input,
        ``(g_1 / g_L)^(1 / (L - 1))``."""
        return _growth(self.backward[::-1])


def _growth(values):
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return 1.0
    return float(np.exp((np.log(values[-1]) - np.log(values[0])) / (len(values) - 1)))


def propagate(layers, q0=1.0, g_out=1.0) -> Propagation:
    """The forward and backward mean-field recursions through ``layers`` (a sequence of ``Layer``),
    from an input of second moment ``q0`` and an output gradient of second moment ``g_out``."""
    layers = list(layers)
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError("layers must be a non-empty sequence of fastinit.signal.Layer")
    for value, what in ((q0, "q0"), (g_out, "g_out")):
        _validate.real(value, what, lo=0)
    forward = np.empty(len(layers))
    q = float(q0)
    for i, layer in enumerate(layers):
        # E[z^2] = q whatever the law of z: the raw input need not be Gaussian
        m = q if layer.activation == "linear" else moments(layer.activation, q, layer.param)[0]
        branch = layer.forward_gain * m + layer.bias
        q = q + layer.residual ** 2 * branch if layer.residual is not None else branch
        forward[i] = q
    backward = np.empty(len(layers))
    g = float(g_out)
    backward[-1] = g
    for i in range(len(layers) - 2, -1, -1):
        nxt = layers[i + 1]
        chi = nxt.backward_gain * moments(nxt.activation, forward[i], nxt.param)[1]
        g = g * (1.0 + nxt.residual ** 2 * chi) if nxt.residual is not None else g * chi
        backward[i] = g
    return Propagation(tuple(layer.name for layer in layers), forward, backward)


def mlp(activation, scheme, depth, width, d_in=None, param=None, bias=None, residual=None, base_width=None):
    """The layers of an MLP ``Linear(d_in, width), (act, Linear(width, width)) x (depth - 1)``, every
    weight from the scheme spec ``scheme`` (the same spec for all layers), biases from ``bias``.
    With ``residual=alpha`` every hidden layer adds its branch, scaled by alpha, to its input."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an int >= 1; got {depth!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an int >= 1; got {width!r}")
    d_in = width if d_in is None else d_in
    layers = [Layer.from_scheme(scheme, (width, d_in), "linear", None, bias, None, "0", base_width)]
    for i in range(1, depth):
        layers.append(Layer.from_scheme(scheme, (width, width), activation, param, bias, residual, str(2 * i),
                                        base_width))
    return layers


def candidate_schemes(activation, param=None):
    """The schemes ``advise`` compares for ``activation``: {label: scheme spec}."""
    name, param = check_activation(activation, param)
    gain = calculate_gain(name, param) if name != "linear" else 1.0
    slope = "" if param is None else f", a={param!r}"
    nl = f"nonlinearity='{name}'{slope}" if name != "linear" else "nonlinearity='linear'"
    return {
        "xavier_normal": "xavier_normal",
        "xavier_normal(gain)": f"xavier_normal(gain={gain!r})",
        "kaiming_normal(fan_in)": f"kaiming_normal({nl})",
        "kaiming_normal(fan_out)": f"kaiming_normal(mode='fan_out', {nl})",
        "lecun_normal": "lecun_normal",
        "orthogonal(gain)": f"orthogonal(gain={gain!r})",
        "linear_default (torch nn.Linear)": "linear_default",
        "hf_normal(0.02)": "hf_normal",
    }


@dataclass(frozen=True)
class Advice:
    """One scheme's verdict: the predicted forward and backward spread (max / min over the
    depth of the variance, relative to the first layer resp. the output gradient)."""

    label: str
    scheme: str
    forward_spread: float
    backward_spread: float
    forward_growth: float
    backward_growth: float
    ok: bool


def advise(activation, depth, width=1024, d_in=None, param=None, factor=2.0, schemes=None):
    """Which schemes keep the forward and the backward variance within ``factor`` across ``depth``
    layers of an MLP of ``width`` (predicted, no network is built): a list of ``Advice``, best
    first.  ``schemes`` ({label: spec}) defaults to ``candidate_schemes(activation)``."""
    if not _validate.real(factor, "factor") > 1:
        raise ValueError(f"factor must be a number > 1; got {factor!r}")
    out = []
    for label, spec in (schemes or candidate_schemes(activation, param)).items():
        pred = propagate(mlp(activation, spec, depth, width, d_in, param))
        fwd = _spread(pred.forward)
        bwd = _spread(pred.backward)
        out.append(Advice(label, spec, fwd, bwd, pred.forward_growth, pred.backward_growth,
                          fwd <= factor and bwd <= factor))
    return sorted(out, key=lambda a: (not a.ok, max(math.log(a.forward_spread), math.log(a.backward_spread))))


def _spread(values):
    values = np.asarray(values, np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        ratio = values / values[0]
        return float(max(ratio.max(), 1.0 / ratio.min())) if ratio.min() > 0 else math.inf


def gain_table():
    """{activation: (calculate_gain, 1 / sqrt(E[phi(z)^2]), torch's entry or None)}: fastinit's gain,
    He et al.'s second-moment rule by quadrature, and whether torch's table has the activation."""
    from .schemes.activations import second_moment_gain
    from .schemes.fans import TORCH_NONLINEARITIES

    return {name: (float(calculate_gain(name)), second_moment_gain(name), name in TORCH_NONLINEARITIES)
            for name in ACTIVATIONS}


__all__ = ["Advice", "Layer", "Propagation", "advise", "candidate_schemes", "gain_table", "mlp", "propagate"]
