"""Fans and gains: the pure maths behind every fan-based scheme.

``compute_fans`` gives a weight's ``(fan_in, fan_out)`` for a layout: ``"torch"``
(``(out, in, *kernel)``, OIHW, fastinit's default), ``"jax"`` (``(*kernel, in, out)``,
HWIO, also Keras' layout) or explicit ``in_axis``/``out_axis``/``batch_axis`` as in
``jax.nn.initializers.variance_scaling``.  ``calculate_gain`` is torch's table, extended to GELU and SiLU by quadrature.

Nothing here touches a buffer; the schemes pass the **global** shape (``global_shape``
when filling a shard), so a shard's fans are those of the whole tensor.
"""

import math
import numbers

from .. import _validate

# layout -> (in_axis, out_axis); the axes in neither (nor in batch_axis) are the receptive field
LAYOUTS = {"torch": (1, 0), "jax": (-2, -1)}

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d")
TORCH_NONLINEARITIES = _LINEAR_FNS + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")
QUADRATURE_NONLINEARITIES = ("gelu", "silu")  # no torch entry: 1 / sqrt(E[phi(z)^2]), z ~ N(0, 1)
NONLINEARITIES = TORCH_NONLINEARITIES + QUADRATURE_NONLINEARITIES


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity``: ``torch.nn.init.calculate_gain``, plus GELU and SiLU.

    ============================================  ==================================
    nonlinearity                                  gain
    ============================================  ==================================
    linear, conv{1,2,3}d, conv_transpose{1,2,3}d  1
    sigmoid                                       1
    tanh                                          5/3
    relu                                          sqrt(2)
    leaky_relu                                    sqrt(2 / (1 + negative_slope^2)),
                                                  ``param`` = negative_slope (default 0.01)
    selu                                          3/4 (torch's empirical choice; the
                                                  self-normalizing setting is LeCun
                                                  normal, see ``selu_normal_``)
    gelu (exact, erf), silu                       1 / sqrt(E[phi(z)^2]), z ~ N(0, 1), by
                                                  quadrature: 1.5335, 1.6765 (not in
                                                  torch; He et al.'s rule, which gives
                                                  relu's sqrt(2))
    ============================================  ==================================

    For torch's nonlinearities: the same values (an int 1 for the linear ones), the same
    acceptance of ``param`` (an int or a float; ignored unless ``leaky_relu``) and the same
    errors as torch 2.13:
    ``Unsupported nonlinearity {nonlinearity}``, ``negative_slope {param} not a valid number``.
    Gains from He et al. 2015 ("Delving deep into rectifiers") and LeCun et al. 1998.

    >>> calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        try:
            return math.sqrt(2.0 / (1 + negative_slope**2))
        except OverflowError:  # |slope| > 1e154: the square overflows, not the gain sqrt(2) / |slope|
            return math.sqrt(2.0) / abs(_validate.real(negative_slope, "negative_slope"))
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity in QUADRATURE_NONLINEARITIES:
        from .activations import second_moment_gain  # SciPy's special functions: on first use

        return second_moment_gain(nonlinearity)
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def check_layout(layout):
    """``layout`` itself, once checked to be one of LAYOUTS."""
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)} ('torch': (out, in, *kernel), "
                         f"'jax': (*kernel, in, out)); got {layout!r}")
    return layout


def input_axis(layout, ndim):
    """The (non-negative) input axis of a ``ndim``-D weight in ``layout``."""
    return LAYOUTS[check_layout(layout)][0] % ndim


def _axes(value, name, ndim):
    """A tuple of non-negative axes from an int or a sequence of ints, each in [-ndim, ndim)."""
    items = (value,) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints; got {type(value).__name__} "
                        f"{value!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in items):
        raise TypeError(f"{name} must be an int or a sequence of ints; got {value!r}")
    if any(not -ndim <= v < ndim for v in items):
        raise ValueError(f"{name}={value!r} is out of range for a {ndim}-D weight (axes {-ndim}..{ndim - 1})")
    return tuple(int(v) % ndim for v in items)


def compute_fans(shape, layout="torch", in_axis=None, out_axis=None, batch_axis=()):
    """``(fan_in, fan_out)`` of a weight of shape ``shape``, as Python ints.

    ``fan_in = prod(shape[in_axis]) * rf``, ``fan_out = prod(shape[out_axis]) * rf``, with
    ``rf`` the product of the axes in none of ``in_axis``, ``out_axis``, ``batch_axis``
    (the receptive field).  ``layout`` gives the default axes: ``"torch"`` (in 1, out 0:
    ``torch.nn.init._calculate_fan_in_and_fan_out``) or ``"jax"`` (in -2, out -1:
    ``jax.nn.initializers`` and Keras); ``in_axis``/``out_axis`` (an int or a sequence of
    ints) override them and ``batch_axis`` axes are ignored, as in JAX's ``_compute_fans``.
    Fewer than 2 dims need an explicit ``in_axis`` (and an ``out_axis`` that exists, e.g.
    ``[]``: an empty sequence of axes has size 1), as in JAX; otherwise torch's error
    (JAX's for ``layout="jax"``).

    >>> compute_fans((64, 3, 7, 7))                 # a torch Conv2d(3, 64, 7) weight
    (147, 3136)
    >>> compute_fans((7, 7, 3, 64), layout="jax")   # the same layer in HWIO
    (147, 3136)
    """
    check_layout(layout)
    shape = _validate.shape(shape)
    ndim = len(shape)
    default_axis = in_axis is None or (type(in_axis) is int and in_axis == LAYOUTS[layout][0])
    if ndim < 2 and default_axis:  # JAX allows fewer dims with explicit axes; torch never
        if layout == "jax":
            raise ValueError(f"Can't compute input and output sizes of a {ndim}-dimensional weights tensor with "
                             f"default in_axis. Must be at least 2D or specify in_axis explicitly.")
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    default_in, default_out = LAYOUTS[layout]
    ins = _axes(default_in if in_axis is None else in_axis, "in_axis", ndim)
    outs = _axes(default_out if out_axis is None else out_axis, "out_axis", ndim)
    batch = _axes(batch_axis, "batch_axis", ndim)
    named = ins + outs + batch
    if len(set(named)) != len(named):
        raise ValueError(f"in_axis, out_axis and batch_axis must name different axes; got "
                         f"{ins}, {outs} and {batch} of a {ndim}-D weight (layout={layout!r})")
    receptive = math.prod(shape[d] for d in range(ndim) if d not in named)
    fan_in = math.prod(shape[d] for d in ins) * receptive
    fan_out = math.prod(shape[d] for d in outs) * receptive
    return int(fan_in), int(fan_out)
