"""Biases and the reference libraries' module defaults, as named schemes.

The constants (``constant_``, ``zeros_``, ``ones_``) are the core's, which take the common
keywords every scheme takes (``seed`` optional, the shard checked); ``relu_bias_`` and
``lstm_forget_bias_`` build on them.
"""

import math

from .. import _validate, fills
from .._buffers import accepts_tensors
import numpy as np

from .._validate import FLOAT_DTYPES, in_range, normal_reach, real as _real
from ..fills import constant_, normal_, ones_, uniform_, zeros_  # noqa: F401 (registry names)
from ._common import check_common, forwards
from .variance import kaiming_uniform_

_SLOPE_SQRT5 = math.sqrt(5.0)  # torch's nn.Linear/ConvNd a = sqrt(5): gain sqrt(1/3), bound 1/sqrt(fan_in)


@accepts_tensors
@forwards(constant_)
def relu_bias_(out, value=0.1, **kw):
    """A small positive bias for ReLU units (default 0.1), so that they start active; returns ``out``.

    The "dead ReLU" remedy of the early deep-learning practice (e.g. the CS231n notes;
    Krizhevsky et al. 2012 used 1 in some layers).  ``value`` must be >= 0.
    """
    if _real(value, "value") < 0:
        raise ValueError(f"value must be >= 0 for a ReLU bias; got {value}")
    return constant_(out, value, **kw)


@accepts_tensors
def lstm_forget_bias_(out, value=1.0, *, gates="ifgo", seed=None, stream=None, global_shape=None, offset=None,
                      backend=None, threads=None):
    """An LSTM bias: ``value`` (default 1) on the forget gate's slice, 0 elsewhere; returns ``out``.

    ``out`` is the 1-D stacked bias of ``len(gates)`` gates of ``H`` units each, in the order
    ``gates`` names them (torch's ``nn.LSTM``: ``"ifgo"``, input/forget/cell/output; Keras:
    ``"ifco"``), so the forget slice is ``[f H, (f + 1) H)``, ``f = gates.index("f")``.
    Gers, Schmidhuber & Cummins 2000; Jozefowicz, Zaremba & Sutskever 2015 (forget bias 1);
    Keras' ``unit_forget_bias=True``.  torch adds ``bias_ih`` and ``bias_hh``: set one of them.

    >>> b_ih = lstm_forget_bias_(np.empty(4 * 256, np.float32))   # [0]*256 + [1]*256 + [0]*512
    """
    gshape, off = check_common(out, seed, stream, global_shape, offset, backend, threads)
    if out.ndim != 1:
        raise ValueError(f"lstm_forget_bias_ needs a 1-D bias (the gates stacked); out has shape {out.shape}")
    if not isinstance(gates, str) or gates.count("f") != 1 or len(set(gates)) != len(gates):
        raise ValueError(f"gates must name each gate once by a letter, the forget gate 'f' among them "
                         f"(torch: 'ifgo'); got {gates!r}")
    value = _real(value, "value")
    in_range(value, "value", out.dtype)
    if gshape[0] % len(gates):
        raise ValueError(f"the bias length {gshape[0]} is not a multiple of the {len(gates)} gates {gates!r}")
    hidden = gshape[0] // len(gates)
    f = gates.index("f")
    fills.constant_(out, 0.0)
    lo, hi = max(f * hidden - off[0], 0), min((f + 1) * hidden - off[0], out.shape[0])
    if lo < hi:
        fills.constant_(out[lo:hi], value)
    return out


def _inverse_sqrt_bound(n, name):
    """1/sqrt(n) for an int n >= 0, and 0 for n = 0 (torch: ``1 / math.sqrt(fan_in) if fan_in > 0 else 0``)."""
    n = _validate.integer(n, name, lo=0)
    return 1.0 / math.sqrt(n) if n > 0 else 0.0


@accepts_tensors
@forwards(uniform_)
def bias_uniform_(out, fan_in, **kw):
    """nn.Linear's and ConvNd's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); returns ``out``.

    ``torch.nn.Linear.reset_parameters``: ``bound = 1 / sqrt(fan_in) if fan_in > 0 else 0``, with
    ``fan_in`` the layer's (``compute_fans(weight.shape)[0]``; a bias has no fans of its own).

    >>> b = bias_uniform_(np.empty(256, np.float32), fan_in=128, seed=0, stream="fc.bias")
    """
    bound = _inverse_sqrt_bound(fan_in, "fan_in")
    return uniform_(out, 0.0 - bound, bound, **kw)  # 0.0 - 0.0 is +0.0 (-bound would give -0.0)


@accepts_tensors
@forwards(uniform_)
def rnn_default_(out, hidden_size, **kw):
    """torch's RNN/LSTM/GRU default for every weight and bias: U(-1/sqrt(H), 1/sqrt(H)), H = hidden_size.

    ``torch.nn.RNNBase.reset_parameters`` (``stdv = 1 / sqrt(hidden_size) if hidden_size > 0 else 0``).

    >>> w_ih = rnn_default_(np.empty((4 * 256, 128), np.float32), hidden_size=256, seed=0, stream="lstm.weight_ih_l0")
    """
    bound = _inverse_sqrt_bound(hidden_size, "hidden_size")
    return uniform_(out, 0.0 - bound, bound, **kw)


@accepts_tensors
@forwards(kaiming_uniform_)
def linear_default_(out, **kw):
    """torch's nn.Linear and ConvNd default weight: ``kaiming_uniform_(a=sqrt(5))`` = U(+-1/sqrt(fan_in)).

    ``torch.nn.Linear.reset_parameters`` (and ``_ConvNd``): gain ``sqrt(2 / (1 + 5))``, so the
    bound ``gain * sqrt(3 / fan_in)`` is ``1 / sqrt(fan_in)``.  Its bias: ``bias_uniform_``.

    >>> w = linear_default_(np.empty((256, 128), np.float32), seed=0, stream="fc.weight")
    """
    return kaiming_uniform_(out, a=_SLOPE_SQRT5, **kw)


conv_default_ = linear_default_  # torch's _ConvNd.reset_parameters is the same call


@accepts_tensors
@forwards(normal_)
def embedding_default_(out, **kw):
    """torch's nn.Embedding default weight: N(0, 1) (``nn.Embedding.reset_parameters``); returns ``out``."""
    return normal_(out, 0.0, 1.0, **kw)


@accepts_tensors
@forwards(normal_)
def hf_normal_(out, initializer_range=0.02, **kw):
    """The Hugging Face convention: N(0, initializer_range^2), default 0.02; returns ``out``.

    ``transformers``' ``_init_weights``: ``module.weight.data.normal_(mean=0.0,
    std=config.initializer_range)`` for Linear and Embedding weights (biases 0, LayerNorm 1/0).

    >>> w = hf_normal_(np.empty((768, 3072), np.float32), seed=0, stream="h.0.mlp.c_fc.weight")
    """
    std = _real(initializer_range, "initializer_range", lo=0)
    if isinstance(out, np.ndarray) and out.dtype in FLOAT_DTYPES:  # else normal_ names what is wrong with out
        normal_reach(0.0, std, out.dtype, ("initializer_range", initializer_range))
    return normal_(out, 0.0, std, **kw)
