"""Elementwise activations and Gaussian expectations of them: the maths behind gains.

``ACTIVATIONS`` maps a name to ``phi`` and its derivative (NumPy ufunc-like functions of a
float64 array) and the points where either is not smooth.  ``expect(f, q)`` is
``E[f(z)]`` for ``z ~ N(0, q)`` by composite Gauss-Legendre quadrature, cut at the kinks.

``second_moment_gain(name)`` is the gain that keeps a unit-variance pre-activation at unit
variance through ``phi`` and a fan-in-scaled layer: ``1 / sqrt(E[phi(z)^2])``, ``z ~ N(0, 1)``
(He et al. 2015's argument; ``sqrt(2)`` for ReLU).  ``calculate_gain`` uses it where torch has
no entry (GELU, SiLU).
"""

import functools
import math

import numpy as np
from scipy import special

# Klambauer et al. 2017, eq. (14): the SELU constants (torch.nn.SELU's, to all the digits given)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's and calculate_gain's default negative slope


def _relu(z, a=0.0):
    return np.where(z > 0, z, a * z)


def _relu_d(z, a=0.0):
    return np.where(z > 0, 1.0, a)


def _selu(z):
    return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))


def _selu_d(z):
    return SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0)))


def _gelu(z):  # the exact (erf) GELU, torch.nn.GELU(approximate="none"): z Phi(z)
    return z * special.ndtr(z)


def _gelu_d(z):
    return special.ndtr(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _silu(z):  # SiLU / swish-1: z sigmoid(z)
    return z * special.expit(z)


def _silu_d(z):
    s = special.expit(z)
    return s * (1.0 + z * (1.0 - s))


def _tanh_d(z):
    return 1.0 - np.tanh(z) ** 2  # sech^2 without cosh's overflow


def _sigmoid_d(z):
    s = special.expit(z)
    return s * (1.0 - s)


# name -> (phi(z, param), phi'(z, param), kinks, takes a param)
_TABLE = {
    "linear": (lambda z, a: z, lambda z, a: np.ones_like(z), (), False),
    "relu": (lambda z, a: _relu(z), lambda z, a: _relu_d(z), (0.0,), False),
    "leaky_relu": (_relu, _relu_d, (0.0,), True),
    "tanh": (lambda z, a: np.tanh(z), lambda z, a: _tanh_d(z), (), False),
    "sigmoid": (lambda z, a: special.expit(z), lambda z, a: _sigmoid_d(z), (), False),
    "gelu": (lambda z, a: _gelu(z), lambda z, a: _gelu_d(z), (), False),
    "silu": (lambda z, a: _silu(z), lambda z, a: _silu_d(z), (), False),
    "selu": (lambda z, a: _selu(z), lambda z, a: _selu_d(z), (0.0,), False),
}
ACTIVATIONS = tuple(_TABLE)


def check_activation(name, param=None):
    """``(name, param)`` checked: a known activation, and leaky_relu's slope (default 0.01)."""
    if not isinstance(name, str) or name not in _TABLE:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}; got {name!r}")
    if not _TABLE[name][3]:
        return name, None
    if param is None:
        return name, LEAKY_SLOPE
    if isinstance(param, bool) or not isinstance(param, (int, float)) or not math.isfinite(param):
        raise ValueError(f"negative_slope {param} not a valid number")
    return name, float(param)


def phi(name, z, param=None):
    """The activation ``name`` at ``z`` (float64)."""
    name, param = check_activation(name, param)
    return _TABLE[name][0](np.asarray(z, np.float64), param)


def dphi(name, z, param=None):
    """The derivative of the activation ``name`` at ``z`` (float64; the right derivative at a kink)."""
    name, param = check_activation(name, param)
    return _TABLE[name][1](np.asarray(z, np.float64), param)


_NODES = 24      # Gauss-Legendre nodes per piece
_REACH = 12.0    # standard deviations covered: the normal tails beyond weigh < 1e-32


@functools.cache
def _legendre():
    return np.polynomial.legendre.leggauss(_NODES)


def _cuts(sd, kinks):
    """The pieces' ends: +-12 sd, the kinks, and +-2^k (k >= -6) inside, so that every piece is
    short on both scales that matter -- the Gaussian's (sd) and the activation's (about 1)."""
    reach = _REACH * sd
    grid = {0.0, -reach, reach}
    grid.update(k for k in kinks if -reach < k < reach)
    step = 2.0 ** -6
    while step < reach:
        grid.update((-step, step))
        step *= 2
    cuts = sorted(grid)
    # the outermost pieces can be up to half the range: split them to a tenth of it at most
    out = [cuts[0]]
    for hi in cuts[1:]:
        lo = out[-1]
        parts = max(1, math.ceil((hi - lo) / (0.1 * reach)))
        out.extend(lo + (hi - lo) * (i + 1) / parts for i in range(parts))
    return np.array(out)


def expect(f, q, kinks=()):
    """``E[f(z)]`` for ``z ~ N(0, q)``, ``q >= 0``, by quadrature; ``f`` maps a float64 array.

    Composite Gauss-Legendre (24 nodes a piece) over ``[-12 sd, 12 sd]``, cut at ``kinks``
    (points where ``f`` is not smooth) and on a grid graded geometrically from 2^-6: plain
    Gauss-Hermite converges only algebraically at a kink (ReLU) and misses features narrower
    than about ``sd / sqrt(nodes)`` (tanh' at large q), while this is accurate to ~1e-13 for
    every activation here at any q in [1e-8, 1e4].  ``q = 0`` gives ``f(0)``.
    """
    q = float(q)
    if not q >= 0 or not math.isfinite(q):
        raise ValueError(f"q (a variance) must be finite and >= 0; got {q}")
    if q == 0:
        return float(f(np.zeros(1))[0])
    sd = math.sqrt(q)
    cuts = _cuts(sd, kinks)
    x, w = _legendre()
    half = 0.5 * np.diff(cuts)[:, None]
    z = (cuts[:-1, None] + half * (x + 1.0)).ravel()
    weights = (half * w).ravel() * np.exp(-0.5 * z * z / q) / math.sqrt(2.0 * math.pi * q)
    return float(np.dot(weights, f(z)))


def moments(name, q, param=None):
    """``(E[phi(z)^2], E[phi'(z)^2])`` for ``z ~ N(0, q)``: what the forward and backward variance
    recursions need (Poole et al. 2016; Schoenholz et al. 2017)."""
    name, param = check_activation(name, param)
    f, d, kinks, _ = _TABLE[name]
    return (expect(lambda z: f(z, param) ** 2, q, kinks), expect(lambda z: d(z, param) ** 2, q, kinks))


def second_moment_gain(name, param=None):
    """``1 / sqrt(E[phi(z)^2])``, ``z ~ N(0, 1)``: the gain that makes ``q = 1`` a fixed point of a
    fan-in-scaled layer, ``q' = gain^2 E[phi(z)^2]``.

    Closed forms: linear 1, ReLU ``sqrt(2)``, leaky ReLU ``sqrt(2 / (1 + a^2))`` (He et al. 2015),
    SELU 1 (its fixed point, Klambauer et al. 2017); by quadrature for tanh (1.5937), sigmoid
    (1.8467), GELU (1.5335) and SiLU (1.6768).
    """
    return 1.0 / math.sqrt(moments(name, 1.0, param)[0])
