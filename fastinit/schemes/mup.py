"""muP: the Maximal Update Parametrization's width-dependent initialization, relative to a base width.

Yang, Hu et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
Hyperparameter Transfer", Table 3 (muP for SGD and Adam, initialization column) in its
base-shape form (Table 8): a model tuned at ``base_width`` keeps its initial activation
scales when widened, because each weight's variance follows its role.  With ``n`` the fan-in
of the (global) tensor, ``m = n / base_width`` the width multiplier and ``std`` the standard
deviation the tensor has at the base width (default ``1 / sqrt(fan_in at base width)``):

==========  ==============================  =========================================
role        variance                        which weights
==========  ==============================  =========================================
input       ``std^2`` (no width in fan-in)  input layer, embeddings, biases
hidden      ``std^2 / m``   (1 / fan_in)    width -> width matrices
readout     ``std^2 / m^2`` (1 / fan_in^2)  width -> output (logits): ``zero=True``: 0
query       ``std^2 / m^2`` (1 / fan_in^2)  attention queries: ``zero=True``: 0 (TP V)
==========  ==============================  =========================================

At ``n = base_width`` every role equals the standard (fan-in) initialization with ``std``;
away from it, hidden pre-activations keep their scale and the readout's output shrinks as
``1 / sqrt(m)`` (it becomes order one only through training, as muP intends).  An
``input`` tensor's default std is ``1 / sqrt(fan_in)`` (its fan-in is not a width); for an
embedding (torch's fan-in is its width) give ``std``.  Only the initialization is here:
muP's output multiplier and per-layer learning rates belong to the model and optimizer
(the ``mup`` package's ``MuReadout`` and ``MuAdam``).
"""


from .._buffers import accepts_tensors
from .._validate import integer as _integer, real as _real
from ._common import forwards, global_shape_of
from .fans import compute_fans
from .variance import DISTRIBUTIONS, variance_scaling_

ROLES = ("input", "hidden", "readout", "query")


def check_base_width(base_width):
    """``base_width`` as an int >= 1, or a ValueError/TypeError naming it."""
    return _integer(base_width, "base_width", lo=1, what="an int >= 1 (the width the model was tuned at)")


def mup_variance(role, fan_in, base_width, std=None, zero=False):
    """The element variance ``mup_normal_`` gives a tensor of fan-in ``fan_in`` (see the table above)."""
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(f"role must be one of {list(ROLES)}; got {role!r}")
    base_width = check_base_width(base_width)
    if not isinstance(zero, bool):
        raise TypeError(f"zero must be True or False; got {zero!r}")
    if zero and role not in ("readout", "query"):
        raise ValueError(f"zero=True is for the readout and query roles (muP zero-initializes them); "
                         f"got role={role!r}")
    if std is not None:
        std = _real(std, "std", lo=0)
    if zero or fan_in == 0:
        return 0.0
    if role == "input":
        return 1.0 / fan_in if std is None else std * std
    base_var = 1.0 / base_width if std is None else std * std
    m = fan_in / base_width
    return base_var / m if role == "hidden" else base_var / (m * m)


@accepts_tensors
@forwards(variance_scaling_)
def mup_normal_(out, role="hidden", base_width=None, std=None, zero=False, distribution="normal", **kw):
    """muP initialization (Tensor Programs V): variance by ``role`` relative to ``base_width``; returns ``out``.

    ``role`` is "input", "hidden", "readout" or "query" (module docstring's table), ``std`` the
    standard deviation at ``base_width`` (default: the fan-in one there), ``zero=True`` zeros a
    readout or query, ``distribution`` "normal" (default), "uniform" or "truncated_normal" (std
    after truncation), written by ``variance_scaling_`` with the tensor's global fan-in.

    >>> w = mup_normal_(np.empty((1024, 1024), np.float32), "hidden", base_width=256, seed=0, stream="h.0")
    """
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {list(DISTRIBUTIONS)}; got {distribution!r}")
    shape = global_shape_of(out, kw.get("global_shape"))  # the buffer, shape and layout first, as every scheme
    fan_in = compute_fans(shape, **{k: kw[k] for k in ("layout", "in_axis", "out_axis", "batch_axis") if k in kw})[0]
    if base_width is None:
        raise ValueError("mup_normal needs base_width (the width the hyperparameters were tuned at), e.g. "
                         "'mup_normal(role=\"hidden\", base_width=256)', or 'base_width' in a model spec")
    var = mup_variance(role, fan_in, base_width, std, zero)
    return variance_scaling_(out, var * fan_in, "fan_in", distribution, **kw)


def width_multiplier(fan_in, base_width):
    """``fan_in / base_width``, muP's ``m``."""
    return fan_in / check_base_width(base_width)


__all__ = ["ROLES", "check_base_width", "mup_normal_", "mup_variance", "width_multiplier"]
