"""The second moment of the weights a scheme writes, from its spec and the tensor's shape alone.

``weight_second_moment("kaiming_normal(nonlinearity='relu')", (512, 256))`` is ``E[w^2]``
of one element of that tensor, ``2 / 256``: what the mean-field variance recursions need
(``fastinit.signal``).  Exact for every scheme it accepts -- variance scaling and its
presets, the muP roles, the core fills (uniform, normal, truncated normal), the module
defaults, sparse, orthogonal (``gain^2 / max(rows, cols)``: a semi-orthogonal matrix has
Frobenius norm^2 ``min(rows, cols)``) and the constants; a structured scheme (eye, dirac,
...) is refused, its weights are not random.
"""

import ast
import math

from scipy import special

from .._validate import real
from . import REGISTRY, get, parse
from .defaults import _SLOPE_SQRT5
from .fans import calculate_gain, compute_fans
from .mup import mup_variance
from .variance import _gain_scale, _kaiming_args, random_walk_gain

_FAN_KEYS = ("layout", "in_axis", "out_axis", "batch_axis")


def _split(spec):
    """``(name, kwargs)`` of a registered scheme spec, or of ``orthogonal(gain=...)`` (not in the
    registry: fastinit.orthogonal_ takes no fan keywords)."""
    if isinstance(spec, str) and spec.strip().split("(")[0].strip() in ("orthogonal", "orthogonal_"):
        inner = spec.strip()[len(spec.strip().split("(")[0]):].strip()
        kwargs = {}
        if inner:
            call = ast.parse(f"_{inner}", mode="eval").body
            if call.args or not all(k.arg in ("gain", "layout") for k in call.keywords):
                raise ValueError(f"scheme spec {spec!r}: orthogonal takes gain= and layout= only")
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        return "orthogonal", kwargs
    fn, kwargs = parse(spec)
    return next(n for n, s in REGISTRY.items() if s.fn is fn), kwargs


def _variance_scaling(scale, mode, fans):
    fan_in, fan_out = fans
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    return scale / n if n else 0.0


def weight_second_moment(spec, shape, base_width=None):
    """``E[w^2]`` of one element of a tensor of (global) ``shape`` filled by the scheme ``spec``.

    ``spec`` is a scheme spec string (``fastinit.schemes.parse``) or ``"orthogonal(gain=g)"``;
    ``base_width`` fills in a ``mup_normal`` spec that does not give one (a model spec's).
    Raises a ValueError for a scheme whose weights are not random (eye, identity, dirac,
    looks_linear's structure aside, lstm_forget_bias).
    """
    name, kw = _split(spec)
    shape = tuple(shape)
    fan = lambda: compute_fans(shape, **{k: kw[k] for k in _FAN_KEYS if k in kw})  # noqa: E731
    if name == "orthogonal":
        gain = real(kw.get("gain", 1.0), "gain", lo=0)
        rows = shape[0] if kw.get("layout", "torch") == "torch" else math.prod(shape[:-1])
        cols = math.prod(shape) // rows if rows else 0
        return gain * gain / max(rows, cols) if rows and cols else 0.0
    preset = getattr(get(name).fn, "variance_scaling", None)
    if preset is not None:
        return _variance_scaling(preset[0], preset[1], fan())
    if name == "variance_scaling":
        return _variance_scaling(kw.get("scale", 1.0), kw.get("mode", "fan_in"), fan())
    if name in ("xavier_uniform", "xavier_normal"):
        return _variance_scaling(_gain_scale(kw.get("gain", 1.0)), "fan_avg", fan())
    if name in ("kaiming_uniform", "kaiming_normal"):
        scale, mode = _kaiming_args(kw.get("a", 0), kw.get("mode", "fan_in"), kw.get("nonlinearity", "leaky_relu"))
        return _variance_scaling(scale, mode, fan())
    if name in ("linear_default", "conv_default"):
        return _variance_scaling(calculate_gain("leaky_relu", _SLOPE_SQRT5) ** 2, "fan_in", fan())
    if name == "random_walk_normal":
        fan_in = fan()[0]
        return random_walk_gain(kw.get("nonlinearity", "linear"), fan_in) ** 2 / fan_in if fan_in else 0.0
    if name == "mup_normal":
        width = kw.get("base_width", base_width)
        if width is None:
            raise ValueError(f"scheme spec {spec!r}: mup_normal needs base_width")
        return mup_variance(kw.get("role", "hidden"), fan()[0], width, kw.get("std"), kw.get("zero", False))
    if name == "uniform":
        lo, hi = kw.get("low", 0.0), kw.get("high", 1.0)
        return (hi - lo) ** 2 / 12 + ((hi + lo) / 2) ** 2
    if name in ("normal", "hf_normal", "embedding_default"):
        mean = kw.get("mean", 0.0)
        std = {"normal": kw.get("std", 1.0), "hf_normal": kw.get("initializer_range", 0.02),
               "embedding_default": 1.0}[name]
        return std * std + mean * mean
    if name == "trunc_normal":
        return _trunc_second_moment(kw)
    if name in ("bias_uniform", "rnn_default"):
        n = kw["fan_in"] if name == "bias_uniform" else kw["hidden_size"]
        return 1.0 / (3.0 * n) if n else 0.0
    if name == "sparse":
        std = kw.get("std", 0.01)
        rows, cols = shape[0], math.prod(shape[1:])
        if kw.get("sparsity") is not None:
            return std * std * (1.0 - math.ceil(kw["sparsity"] * rows) / rows) if rows else 0.0
        return std * std * kw["nonzeros_per_unit"] / cols if cols else 0.0
    if name in ("constant", "zeros", "ones", "relu_bias"):
        value = {"zeros": 0.0, "ones": 1.0}.get(name, kw.get("value", 0.1 if name == "relu_bias" else None))
        return float(value) ** 2
    raise ValueError(f"scheme {name!r}: its weights are not random (or not a fixed distribution); no "
                     f"second moment to propagate")


def _trunc_second_moment(kw):
    """E[X^2] of N(mean, std^2) truncated to [a, b]: with Y the standard normal truncated to
    [alpha, beta], Z = Phi(beta) - Phi(alpha), E[Y] = (phi(alpha) - phi(beta)) / Z and
    E[Y^2] = 1 + (alpha phi(alpha) - beta phi(beta)) / Z."""
    mean, std = kw.get("mean", 0.0), kw.get("std", 1.0)
    a, b = kw.get("a", -2.0), kw.get("b", 2.0)
    if kw.get("bounds", "absolute") == "absolute":  # torch's: a, b are values, not std units
        a, b = (a - mean) / std, (b - mean) / std
    pdf = lambda t: math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi) if math.isfinite(t) else 0.0  # noqa: E731
    z = float(special.ndtr(b) - special.ndtr(a))
    ey = (pdf(a) - pdf(b)) / z
    ey2 = 1.0 + ((a * pdf(a) if math.isfinite(a) else 0.0) - (b * pdf(b) if math.isfinite(b) else 0.0)) / z
    return mean * mean + 2.0 * mean * std * ey + std * std * ey2
