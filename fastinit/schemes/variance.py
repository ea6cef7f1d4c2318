"""Variance scaling: the one general fan-based path, and its presets.

``variance_scaling_`` computes ``std = sqrt(scale / n)`` from the (global) tensor's fans
and calls the core fill of the distribution with that scale, so a preset costs what
``uniform_``/``normal_``/``trunc_normal_`` cost and keeps the contract (same bits for any
threads, backend or shard).  Every named scheme below is a one-line specialisation:

============================  =========  ===========  ==================  ==================
scheme                        scale      mode         distribution        semantics of
============================  =========  ===========  ==================  ==================
``xavier_uniform_(gain)``     gain^2     fan_avg      uniform             torch
``xavier_normal_(gain)``      gain^2     fan_avg      normal              torch
``kaiming_uniform_(a, ...)``  gain(a)^2  fan_in/out   uniform             torch
``kaiming_normal_(a, ...)``   gain(a)^2  fan_in/out   normal              torch
``glorot_uniform_``           1          fan_avg      uniform             JAX, Keras
``glorot_normal_``            1          fan_avg      truncated_normal    JAX, Keras
``he_uniform_``               2          fan_in       uniform             JAX, Keras
``he_normal_``                2          fan_in       truncated_normal    JAX, Keras
``lecun_uniform_``            1          fan_in       uniform             JAX, Keras
``lecun_normal_``             1          fan_in       truncated_normal    JAX, Keras
``selu_normal_``              1          fan_in       normal              Klambauer 2017
``simple_xavier_uniform_``    1/3        fan_in       uniform             Glorot 2010 eq. 1
``random_walk_normal_``       g^2        fan_in       normal              Sussillo 2014
============================  =========  ===========  ==================  ==================

Every scheme here takes ``layout`` ("torch", the default, or "jax"), ``in_axis``,
``out_axis``, ``batch_axis`` (see ``fans.compute_fans``) and the core keywords ``seed``,
``stream``, ``global_shape``, ``offset``, ``backend``, ``threads``.  With
``global_shape`` the fans are those of the whole tensor, never of the shard.
"""

import math
import numbers

import numpy as np

from .. import _validate
from .._buffers import accepts_tensors
from .._validate import real as _real
from ..fills import normal_, trunc_normal_, uniform_
from ._common import forwards, global_shape_of
from .fans import calculate_gain, compute_fans

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
TORCH_MODES = ("fan_in", "fan_out")
FAN_KEYWORDS = ("layout", "in_axis", "out_axis", "batch_axis")
# the standard deviation of N(0, 1) truncated to [-2, 2] (JAX's .87962566103423978): dividing
# by it makes the truncated normal's std exactly sqrt(scale / n)
TRUNCATED_STD = 0.87962566103423978


@accepts_tensors
def variance_scaling_(out, scale=1.0, mode="fan_in", distribution="truncated_normal", *, layout="torch",
                      in_axis=None, out_axis=None, batch_axis=(), seed, stream=None, global_shape=None,
                      offset=None, backend=None, threads=None):
    """Weights with variance ``scale / n``, in place; returns ``out``.

    ``n`` by ``mode``: ``fan_in``, ``fan_out``, ``fan_avg = (fan_in + fan_out) / 2`` or
    ``fan_geo_avg = sqrt(fan_in * fan_out)``, fans from ``compute_fans(global shape, layout,
    in_axis, out_axis, batch_axis)``.  With ``std = sqrt(scale / n)``:

    - ``"uniform"``: U(-sqrt(3) std, sqrt(3) std), by ``uniform_``;
    - ``"normal"``: N(0, std^2), by ``normal_``;
    - ``"truncated_normal"`` (default): N(0, s^2) truncated to [-2 s, 2 s] with
      ``s = std / 0.87962566103423978``, so that the std after truncation is ``std``,
      by ``trunc_normal_(out, 0, s, -2, 2, bounds="std")``.

    Exactly ``jax.nn.initializers.variance_scaling(scale, mode, distribution, in_axis,
    out_axis, batch_axis)`` (real dtypes; complex: ``schemes.complex``), but in fastinit's
    default ``layout="torch"``; pass ``layout="jax"`` for HWIO weights.  Keras'
    ``VarianceScaling`` agrees for shapes of 2 or more dims with its default axes, except
    that its ``"normal"`` is this ``"truncated_normal"``; ``fastinit.keras`` has Keras'
    semantics whole (its fans for 0-D/1-D shapes and explicit axes, ``max(1, n)``).  A tensor with no
    elements is left as is (after validation); ``scale = 0`` writes +0.0.
    He et al. 2015, Glorot & Bengio 2010, LeCun et al. 1998.

    >>> w = variance_scaling_(np.empty((256, 128), np.float32), 2.0, "fan_in", "normal", seed=0,
    ...                       stream="fc.weight")
    """
    return _variance_scaling(out, scale, mode, distribution, ("scale", scale), layout=layout, in_axis=in_axis,
                             out_axis=out_axis, batch_axis=batch_axis, seed=seed, stream=stream,
                             global_shape=global_shape, offset=offset, backend=backend, threads=threads)


def _variance_scaling(out, scale, mode, distribution, blame, *, layout="torch", in_axis=None, out_axis=None,
                      batch_axis=(), seed, stream=None, global_shape=None, offset=None, backend=None, threads=None):
    """variance_scaling_, with ``blame``: ``(name, value)`` of the parameter the caller passed that
    gave ``scale`` (``scale`` itself, or a preset's ``gain``), named when std is too large."""
    scale = _real(scale, "scale", lo=0)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {list(DISTRIBUTIONS)}; got {distribution!r}")
    shape = global_shape_of(out, global_shape)
    fan_in, fan_out = compute_fans(shape, layout, in_axis, out_axis, batch_axis)
    kw = dict(seed=seed, stream=stream, global_shape=global_shape, offset=offset, backend=backend,
              threads=threads)
    if scale == 0 or math.prod(shape) == 0:
        # nothing to scale (an empty tensor has zero fans): every distribution is the point
        # mass at 0; normal_ with std 0 writes +0.0 (and validates the rest)
        return normal_(out, 0.0, 0.0, **kw)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    std = math.sqrt(scale / n)
    _reach(out.dtype, distribution, std, blame)
    if distribution == "uniform":
        limit = math.sqrt(3.0) * std
        return uniform_(out, -limit, limit, **kw)
    if distribution == "normal":
        return normal_(out, 0.0, std, **kw)
    return trunc_normal_(out, 0.0, std / TRUNCATED_STD, -2.0, 2.0, bounds="std", **kw)


def _reach(dtype, distribution, std, blame):
    """Refuse a std whose samples would not be finite in ``dtype`` (_validate's policy), naming
    the parameter the caller passed: uniform reaches sqrt(3) std (its width 2 sqrt(3) std is
    computed in the compute dtype), normal Z_MAX std, the truncated normal 2 std / 0.8796."""
    if distribution == "normal":
        _validate.normal_reach(0.0, std, dtype, blame)
        return
    reach = math.sqrt(3.0) * std if distribution == "uniform" else 2.0 * std / TRUNCATED_STD
    top = float(_validate.finfo(dtype).max)
    if distribution == "uniform":
        top = min(top, float(_validate.finfo(_validate.compute_dtype(dtype)).max) / 2)
    if reach > top:
        name, value = blame
        raise ValueError(f"{name}={value} gives std {std:.4g}: {distribution} samples up to |x| = {reach:.4g}, beyond "
                         f"what {dtype} holds (|x| <= {top:.6g}): fastinit never writes inf")


def _gain_scale(gain):
    """gain^2, the variance scale of a gain (torch refuses negative gains: so do we)."""
    gain = _real(gain, "gain", lo=0)
    if not math.isfinite(gain * gain):
        raise ValueError(f"gain={gain} squared (the variance scale) overflows float64")
    return gain * gain


def _kaiming_args(a, mode, nonlinearity):
    """(scale, mode) of torch's kaiming_*: torch's mode check (case-insensitive), then its gain."""
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in TORCH_MODES:
        raise ValueError(f"Mode {mode} not supported, please use one of {list(TORCH_MODES)}")
    if nonlinearity == "leaky_relu" and a is not None and not isinstance(a, (bool, np.bool_)) and \
            isinstance(a, numbers.Real):
        _real(a, "a")  # an int beyond float range: a named ValueError, not OverflowError
    gain = calculate_gain(nonlinearity, a)
    scale = gain * gain
    if gain and not scale:
        raise ValueError(f"a={a} gives gain {gain:.4g}, whose square (the variance scale) underflows float64")
    return scale, mode


@accepts_tensors
@forwards(variance_scaling_)
def xavier_uniform_(out, gain=1.0, **kw):
    """Xavier/Glorot uniform: U(-b, b), ``b = gain * sqrt(6 / (fan_in + fan_out))``; returns ``out``.

    ``torch.nn.init.xavier_uniform_(w, gain)``: ``variance_scaling_(gain^2, "fan_avg",
    "uniform")``.  Glorot & Bengio 2010, "Understanding the difficulty of training deep
    feedforward neural networks".

    >>> w = xavier_uniform_(np.empty((256, 128), np.float32), gain=calculate_gain("tanh"), seed=0,
    ...                     stream="fc.weight")
    """
    return _variance_scaling(out, _gain_scale(gain), "fan_avg", "uniform", ("gain", gain), **kw)


@accepts_tensors
@forwards(variance_scaling_)
def xavier_normal_(out, gain=1.0, **kw):
    """Xavier/Glorot normal, untruncated as in torch: N(0, std^2), ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    ``torch.nn.init.xavier_normal_(w, gain)``: ``variance_scaling_(gain^2, "fan_avg",
    "normal")`` (JAX's ``glorot_normal`` is truncated: ``glorot_normal_``).
    Glorot & Bengio 2010.

    >>> w = xavier_normal_(np.empty((256, 128), np.float32), seed=0, stream="fc.weight")
    """
    return _variance_scaling(out, _gain_scale(gain), "fan_avg", "normal", ("gain", gain), **kw)


@accepts_tensors
@forwards(variance_scaling_)
def kaiming_uniform_(out, a=0, mode="fan_in", nonlinearity="leaky_relu", **kw):
    """Kaiming/He uniform: U(-b, b), ``b = gain * sqrt(3 / fan_mode)``; returns ``out``.

    ``torch.nn.init.kaiming_uniform_(w, a, mode, nonlinearity)``: ``gain =
    calculate_gain(nonlinearity, a)`` (``a`` is leaky_relu's negative slope), ``mode``
    "fan_in" (default) or "fan_out" (case-insensitive), torch's errors.  nn.Linear and
    ConvNd use ``a = sqrt(5)``: ``linear_default_``.  He et al. 2015, "Delving deep into
    rectifiers".

    >>> w = kaiming_uniform_(np.empty((256, 128), np.float32), nonlinearity="relu", seed=0, stream="fc.weight")
    """
    scale, mode = _kaiming_args(a, mode, nonlinearity)
    return variance_scaling_(out, scale, mode, "uniform", **kw)


@accepts_tensors
@forwards(variance_scaling_)
def kaiming_normal_(out, a=0, mode="fan_in", nonlinearity="leaky_relu", **kw):
    """Kaiming/He normal, untruncated as in torch: N(0, std^2), ``std = gain / sqrt(fan_mode)``.

    ``torch.nn.init.kaiming_normal_(w, a, mode, nonlinearity)`` (JAX's ``he_normal`` is
    truncated: ``he_normal_``).  He et al. 2015.

    >>> w = kaiming_normal_(np.empty((64, 3, 7, 7), np.float32), mode="fan_out", nonlinearity="relu",
    ...                     seed=0, stream="conv1.weight")
    """
    scale, mode = _kaiming_args(a, mode, nonlinearity)
    return variance_scaling_(out, scale, mode, "normal", **kw)


def _preset(name, scale, mode, distribution, doc):
    """A named ``variance_scaling_(out, scale, mode, distribution)`` with its own docstring."""

    def scheme(out, **kw):
        return variance_scaling_(out, scale, mode, distribution, **kw)

    scheme.__name__ = scheme.__qualname__ = name
    scheme.__doc__ = doc
    scheme = accepts_tensors(forwards(variance_scaling_)(scheme))
    scheme.variance_scaling = (scale, mode, distribution)  # for schemes.moments: one home for the numbers
    return scheme


glorot_uniform_ = _preset("glorot_uniform_", 1.0, "fan_avg", "uniform", """\
    Glorot uniform: U(-b, b), ``b = sqrt(6 / (fan_in + fan_out))``; returns ``out``.

    ``jax.nn.initializers.glorot_uniform()``, Keras ``GlorotUniform``; equal to torch's
    ``xavier_uniform_`` with gain 1.  Glorot & Bengio 2010.
    """)
glorot_normal_ = _preset("glorot_normal_", 1.0, "fan_avg", "truncated_normal", """\
    Glorot normal, truncated as in JAX: std ``sqrt(2 / (fan_in + fan_out))`` after truncation at 2 sigma.

    ``jax.nn.initializers.glorot_normal()``, Keras ``GlorotNormal``.  Glorot & Bengio 2010.
    """)
he_uniform_ = _preset("he_uniform_", 2.0, "fan_in", "uniform", """\
    He uniform: U(-b, b), ``b = sqrt(6 / fan_in)``; returns ``out``.

    ``jax.nn.initializers.he_uniform()``, Keras ``HeUniform``; equal to torch's
    ``kaiming_uniform_(nonlinearity="relu")``.  He et al. 2015.
    """)
he_normal_ = _preset("he_normal_", 2.0, "fan_in", "truncated_normal", """\
    He normal, truncated as in JAX: std ``sqrt(2 / fan_in)`` after truncation at 2 sigma.

    ``jax.nn.initializers.he_normal()``, Keras ``HeNormal``.  He et al. 2015.
    """)
lecun_uniform_ = _preset("lecun_uniform_", 1.0, "fan_in", "uniform", """\
    LeCun uniform: U(-b, b), ``b = sqrt(3 / fan_in)``; returns ``out``.

    ``jax.nn.initializers.lecun_uniform()``, Keras ``LecunUniform``.  LeCun, Bottou, Orr &
    Mueller 1998, "Efficient BackProp".
    """)
lecun_normal_ = _preset("lecun_normal_", 1.0, "fan_in", "truncated_normal", """\
    LeCun normal, truncated as in JAX: std ``sqrt(1 / fan_in)`` after truncation at 2 sigma.

    ``jax.nn.initializers.lecun_normal()``, Keras ``LecunNormal`` (Keras' choice for SELU
    networks).  LeCun et al. 1998.
    """)
selu_normal_ = _preset("selu_normal_", 1.0, "fan_in", "normal", """\
    SELU's self-normalizing init: N(0, 1 / fan_in), untruncated; returns ``out``.

    Klambauer, Unterthiner, Mayr & Hochreiter 2017, "Self-Normalizing Neural Networks";
    torch's recommendation ``kaiming_normal_(w, nonlinearity="linear")`` (not
    ``calculate_gain("selu")``).  ``lecun_normal_`` is the truncated (JAX/Keras) variant.
    """)
simple_xavier_uniform_ = _preset("simple_xavier_uniform_", 1.0 / 3.0, "fan_in", "uniform", """\
    The "commonly used heuristic" before Xavier: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Glorot & Bengio 2010, eq. (1) (seed 001's "simple Xavier"; their normalized
    initialization is ``xavier_uniform_``); numerically torch's ``nn.Linear`` default
    (``linear_default_``): ``variance_scaling_(1/3, "fan_in", "uniform")``.
    """)


RANDOM_WALK_NONLINEARITIES = ("linear", "relu")


def random_walk_gain(nonlinearity, n):
    """Sussillo & Abbott's gain ``g`` for a layer of width ``n``: linear ``exp(1 / (2n))``,
    ReLU ``sqrt(2) * exp(1.2 / (max(n, 6) - 2.4))``."""
    if not isinstance(nonlinearity, str) or nonlinearity not in RANDOM_WALK_NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {list(RANDOM_WALK_NONLINEARITIES)} for the "
                         f"random-walk gain; got {nonlinearity!r}")
    if nonlinearity == "linear":
        return math.exp(1.0 / (2.0 * n))
    return math.sqrt(2.0) * math.exp(1.2 / (max(n, 6) - 2.4))


@accepts_tensors
@forwards(variance_scaling_)
def random_walk_normal_(out, nonlinearity="linear", **kw):
    """Random-walk init: N(0, g^2 / N), N = fan_in, g = ``random_walk_gain(nonlinearity, N)``.

    Sussillo & Abbott 2014, "Random Walk Initialization for Training Very Deep Feedforward
    Networks": with this g the log of the back-propagated gradient norm performs an
    unbiased random walk.  Linear ``g = exp(1/(2N))``, ReLU ``g = sqrt(2) exp(1.2 /
    (max(N, 6) - 2.4))``.  No framework ships it; ``variance_scaling_(g^2, "fan_in", "normal")``.

    >>> w = random_walk_normal_(np.empty((512, 512), np.float32), nonlinearity="relu", seed=0, stream="fc.weight")
    """
    random_walk_gain(nonlinearity, 1)  # the nonlinearity is checked before the shape
    shape = global_shape_of(out, kw.get("global_shape"))
    fan_in = compute_fans(shape, **{k: kw[k] for k in FAN_KEYWORDS if k in kw})[0]
    scale = random_walk_gain(nonlinearity, fan_in) ** 2 if fan_in else 1.0  # no fan: an empty tensor
    return variance_scaling_(out, scale, "fan_in", "normal", **kw)
