"""Keras 3 front end: ``keras.initializers`` names and semantics, filled by fastinit's kernels.

``fastinit.keras.<Name>(..., seed=None, stream=None)`` is a ``keras.initializers.Initializer``:
use it as ``kernel_initializer=`` in any Keras 3 layer, or call it, ``init(shape, dtype)``.
The result is a backend tensor holding what fastinit writes into a NumPy array of that shape
and dtype (Keras' layout: ``(*kernel, in, out)``).  Semantics are Keras 3's, not JAX's:

- ``VarianceScaling(scale, mode, distribution, input_axes, output_axes)``: fans by Keras'
  ``compute_fans`` -- a 0-D shape has fans (1, 1), a 1-D shape (n, n), 2-D ``(in, out)``,
  more dims ``(*kernel, in, out)`` with the receptive field; with explicit ``input_axes`` and
  ``output_axes`` the fans are the products of the named axes only (no receptive field).
  ``n`` is ``max(1, fan)`` for the mode (``fan_in``, ``fan_out``, ``fan_avg``),
  ``std = sqrt(scale / n)``; ``"truncated_normal"`` and ``"normal"`` (its Keras alias) are
  N(0, s^2) truncated to +-2 s with ``s = std / 0.87962566103423978``;
  ``"untruncated_normal"`` is N(0, std^2); ``"uniform"`` is U(-sqrt(3) std, sqrt(3) std).
- Presets: ``GlorotUniform``/``GlorotNormal`` (scale 1, fan_avg), ``HeUniform``/``HeNormal``
  (2, fan_in), ``LecunUniform``/``LecunNormal`` (1, fan_in); the normals are truncated.
- ``RandomNormal(mean=0, stddev=0.05)``, ``RandomUniform(minval=-0.05, maxval=0.05)``,
  ``TruncatedNormal(mean=0, stddev=0.05)`` (truncated to mean +- 2 stddev),
  ``Orthogonal(gain=1)`` (``(numel / shape[-1], shape[-1])``, at least 2-D),
  ``Identity(gain=1)`` (2-D), and Keras' own ``Zeros``, ``Ones``, ``Constant``.

Where the numbers come from (no silent repeats, unlike an int ``seed`` in Keras, which gives
every same-shaped layer the same weights): without ``seed``, each call draws a 63-bit key from
Python's ``random`` (seeded by ``keras.utils.set_random_seed``), so every variable gets its own
numbers and a seeded run reproduces; ``seed=`` a ``keras.random.SeedGenerator`` draws the key
from it; ``seed=<int>`` is fastinit's counter-based contract and needs ``stream=`` (the
variable's name), or a ``TypeError`` says so.

>>> import os; os.environ.setdefault("KERAS_BACKEND", "jax")
>>> import keras, fastinit.keras as fk
>>> layer = keras.layers.Dense(256, kernel_initializer=fk.HeNormal())
"""

import math
import random as _random

import numpy as np

from . import _validate, fills
from ._extras import require
from .rng import MISSING_STREAM, key_words
from .schemes.variance import TRUNCATED_STD

keras = require("keras", "keras", "fastinit.keras")

_REAL = {dt.name: dt for dt in _validate.FLOAT_DTYPES}  # keras names them as NumPy does


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` exactly as ``keras.src.initializers.random_initializers.compute_fans``."""
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class _Fastinit(keras.initializers.Initializer):
    """The shared machinery: the key, the dtype, the host fill and the backend tensor."""

    def __init__(self, seed=None, stream=None):
        if seed is not None and not isinstance(seed, keras.random.SeedGenerator):
            if stream is None:
                raise TypeError(MISSING_STREAM)
            key_words(seed, stream)
        if stream is not None and seed is None:
            key_words(0, stream)  # checks the stream itself
        self.seed, self.stream = seed, stream

    def _key(self):
        if self.seed is None:
            return _random.getrandbits(63), 0 if self.stream is None else self.stream
        if isinstance(self.seed, keras.random.SeedGenerator):
            hi, lo = (int(v) for v in np.asarray(keras.random.randint((2,), 0, 2**31 - 1, seed=self.seed)))
            return (hi << 31) | lo, 0 if self.stream is None else self.stream
        return self.seed, self.stream

    def __call__(self, shape, dtype=None):
        name = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        if name not in _REAL:
            raise TypeError(f"{type(self).__name__} needs a float dtype ({_validate.DTYPE_NAMES}); "
                            f"got {name}")
        shape = tuple(int(d) for d in shape)
        out = np.empty(shape, _REAL[name])
        self._validate(out)  # every argument checked before the key is drawn
        seed, stream = self._key()
        self._fill(out, seed=seed, stream=stream)
        return keras.ops.convert_to_tensor(out, dtype=name)

    def _validate(self, out):
        shape = out.shape
        self._fill(np.empty((0,) * len(shape), out.dtype), seed=0, stream=0, global_shape=shape,
                   offset=(0,) * len(shape))

    def get_config(self):
        return {"seed": self.seed if not isinstance(self.seed, keras.random.SeedGenerator) else None,
                "stream": self.stream, **self._params()}


class _MeanStddev(_Fastinit):
    """The (mean, stddev) initializers' shared constructor and config."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None, *, stream=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed, stream)

    def _params(self):
        return {"mean": self.mean, "stddev": self.stddev}


class RandomNormal(_MeanStddev):
    """``keras.initializers.RandomNormal``: N(mean, stddev^2) (``fastinit.normal_``)."""

    def _fill(self, out, **kw):
        return fills.normal_(out, self.mean, self.stddev, **kw)


class RandomUniform(_Fastinit):
    """``keras.initializers.RandomUniform``: U(minval, maxval) (``fastinit.uniform_``)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None, *, stream=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed, stream)

    def _params(self):
        return {"minval": self.minval, "maxval": self.maxval}

    def _fill(self, out, **kw):
        return fills.uniform_(out, self.minval, self.maxval, **kw)


class TruncatedNormal(_MeanStddev):
    """``keras.initializers.TruncatedNormal``: N(mean, stddev^2) truncated to mean +- 2 stddev."""

    def _fill(self, out, **kw):
        return fills.trunc_normal_(out, self.mean, self.stddev, -2.0, 2.0, bounds="std", **kw)


class VarianceScaling(_Fastinit):
    """``keras.initializers.VarianceScaling`` with Keras 3's fans and distributions (module doc)."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None, *, stream=None):
        if not _validate.real(scale, "scale") > 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in self.MODES:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {set(self.MODES)}")
        distribution = distribution.lower() if isinstance(distribution, str) else distribution
        if distribution == "normal":  # Keras' alias: truncated
            distribution = "truncated_normal"
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. Please use one of "
                             f"{set(self.DISTRIBUTIONS)}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed, stream)

    def _params(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": self.input_axes, "output_axes": self.output_axes}

    def _fill(self, out, global_shape=None, **kw):
        shape = out.shape if global_shape is None else global_shape
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        std = math.sqrt(self.scale / max(1.0, n))
        kw["global_shape"] = global_shape
        if self.distribution == "uniform":
            return fills.uniform_(out, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, **kw)
        if self.distribution == "untruncated_normal":
            return fills.normal_(out, 0.0, std, **kw)
        return fills.trunc_normal_(out, 0.0, std / TRUNCATED_STD, -2.0, 2.0, bounds="std", **kw)


def _preset(name, scale, mode, distribution):
    def __init__(self, seed=None, *, stream=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, stream=stream)

    def _params(self):
        return {}

    doc = (f"``keras.initializers.{name}``: ``VarianceScaling({scale}, {mode!r}, {distribution!r})`` "
           f"with Keras' fans.")
    return type(name, (VarianceScaling,), {"__init__": __init__, "_params": _params, "__doc__": doc})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Fastinit):
    """``keras.initializers.Orthogonal``: a Haar (semi-)orthogonal ``(numel / shape[-1], shape[-1])``
    matrix times ``gain``, by ``fastinit.orthogonal_(layout="jax")``; at least 2-D."""

    def __init__(self, gain=1.0, seed=None, *, stream=None):
        self.gain = gain
        super().__init__(seed, stream)

    def _params(self):
        return {"gain": self.gain}

    def _validate(self, out):
        if out.ndim < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. Received: "
                             f"shape={out.shape} of rank {out.ndim}.")
        _validate.real(self.gain, "gain")

    def _fill(self, out, **kw):
        from .orthogonal import orthogonal_  # SciPy's LAPACK: loaded on first use

        return orthogonal_(out, self.gain, layout="jax", **kw)


class Identity(keras.initializers.Initializer):
    """``keras.initializers.Identity``: ``gain`` on the diagonal of a 2-D tensor, 0 elsewhere."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. Received: "
                             f"shape={shape} of rank {len(shape)}.")
        return keras.ops.eye(*shape, dtype=dtype) * self.gain

    def get_config(self):
        return {"gain": self.gain}


Zeros, Ones, Constant = keras.initializers.Zeros, keras.initializers.Ones, keras.initializers.Constant

__all__ = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity", "LecunNormal",
           "LecunUniform", "Ones", "Orthogonal", "RandomNormal", "RandomUniform", "TruncatedNormal",
           "VarianceScaling", "Zeros", "compute_fans"]
