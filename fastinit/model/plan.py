"""Initialization plans: what a model's own init code writes into each tensor, as data.

A plan is, per tensor, an ordered tuple of :class:`Op` -- a registered scheme on the whole
tensor or on a block of rows (``rows=(lo, hi)``: a padding row, one gate of an RNN
weight), a constant array (computed buffers such as position ids), or a multiplication
of a block by a number.  ``fill(out, ops, seed=..., stream=name, global_shape=...,
offset=...)`` replays the ops into ``out`` (the whole tensor or a shard of it, as every
scheme takes), so a plan is both what ``fastinit.torch.materialize`` writes into a
module and a model spec's tensor for files: the same ops give the same bits.

Streams: an op on the whole tensor draws from stream = the tensor's name; an op on rows
``lo:hi`` draws from ``"{name}[lo:hi]"``, so blocks never share counters and a block's
values do not depend on the rows around it.

The torch front end builds plans by recording a module's init code
(``fastinit.torch.recorder``); nothing here imports torch.
"""

from dataclasses import dataclass, field

import numpy as np

from .. import _rounding, _validate, schemes



@dataclass(frozen=True)
class Op:
    """One write: ``kind`` "scheme" (``name`` is a registered scheme, ``params`` its
    parameters), "orthogonal" (``params``: gain), "values" (``values``: an array of the
    block's shape, or one broadcast to it) or "scale" (``params``: factor)."""

    kind: str
    name: str = ""
    params: tuple = ()                     # sorted (key, value) pairs
    rows: tuple | None = None              # (lo, hi) along dim 0, or None: the whole tensor
    values: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def kwargs(self):
        return dict(self.params)

    @property
    def random(self):
        return self.kind == "orthogonal" or (self.kind == "scheme" and schemes.get(self.name).random)

    def stream(self, name):
        """The stream this op draws from for tensor ``name``."""
        return name if self.rows is None else f"{name}[{self.rows[0]}:{self.rows[1]}]"

    def describe(self):
        if self.kind == "values":
            what = f"values{list(self.values.shape)}"
        elif self.kind == "scale":
            what = f"scale({self.kwargs['factor']!r})"
        else:
            args = ", ".join(f"{k}={v!r}" for k, v in self.params)
            what = f"{self.name}({args})" if args else self.name
        return what if self.rows is None else f"{what} on rows {self.rows[0]}:{self.rows[1]}"


def scheme_op(name, rows=None, **params):
    """An Op for the registered scheme ``name`` (checked against the registry)."""
    scheme = schemes.get(name)
    unknown = set(params) - set(scheme.params)
    if unknown:
        raise ValueError(f"scheme {scheme.name!r} has no parameter(s) {sorted(unknown)}")
    return Op("scheme", scheme.name, tuple(sorted(params.items())), rows)


def _inside(inner, outer):
    if outer is None:
        return True
    return inner is not None and outer[0] <= inner[0] and inner[1] <= outer[1]


def _fold(op, factor):
    """``op`` followed by multiplying its block by ``factor``, as one op, or None."""
    kw = op.kwargs
    if op.kind == "values":
        return Op("values", rows=op.rows, values=np.asarray(op.values) * factor)
    if op.kind == "orthogonal":
        return Op("orthogonal", "orthogonal", (("gain", kw["gain"] * factor),), op.rows)
    if op.kind != "scheme":
        return None
    if op.name in ("zeros",):
        return op
    if op.name == "ones":
        return scheme_op("constant", op.rows, value=float(factor))
    if op.name == "constant":
        return scheme_op("constant", op.rows, value=kw["value"] * factor)
    if op.name == "normal":
        return scheme_op("normal", op.rows, mean=kw.get("mean", 0.0) * factor, std=kw.get("std", 1.0) * abs(factor))
    if op.name == "uniform":
        lo, hi = kw.get("low", 0.0) * factor, kw.get("high", 1.0) * factor
        return scheme_op("uniform", op.rows, low=min(lo, hi), high=max(lo, hi))
    if op.name == "trunc_normal" and factor > 0 and kw.get("bounds", "absolute") == "absolute":
        return scheme_op("trunc_normal", op.rows, mean=kw.get("mean", 0.0) * factor, std=kw.get("std", 1.0) * factor,
                         a=kw.get("a", -2.0) * factor, b=kw.get("b", 2.0) * factor)
    return None


def shifted(op, value):
    """``op`` followed by adding ``value`` to its block, as one op, or None."""
    kw = op.kwargs
    if op.kind != "scheme":
        return None
    if op.name in ("zeros", "ones", "constant"):
        base = {"zeros": 0.0, "ones": 1.0}.get(op.name, kw.get("value"))
        return scheme_op("constant", op.rows, value=base + value)
    if op.name == "normal":
        return scheme_op("normal", op.rows, mean=kw.get("mean", 0.0) + value, std=kw.get("std", 1.0))
    if op.name == "uniform":
        return scheme_op("uniform", op.rows, low=kw.get("low", 0.0) + value, high=kw.get("high", 1.0) + value)
    if op.name == "trunc_normal" and kw.get("bounds", "absolute") == "absolute":
        return scheme_op("trunc_normal", op.rows, mean=kw.get("mean", 0.0) + value, std=kw.get("std", 1.0),
                         a=kw.get("a", -2.0) + value, b=kw.get("b", 2.0) + value)
    return None


def add(ops, op):
    """``ops`` (a list, changed in place) followed by ``op``, simplified: a fill drops the
    earlier ops it overwrites; a scale right after a fill of the same block is folded into
    the fill's parameters (``normal`` std, ``uniform`` bounds, constants) when it can be."""
    if op.kind == "scale":
        if ops and ops[-1].kind != "scale" and ops[-1].rows == op.rows:
            folded = _fold(ops[-1], op.kwargs["factor"])
            if folded is not None:
                ops[-1] = folded
                return ops
        ops.append(op)
        return ops
    ops[:] = [o for o in ops if not _inside(o.rows, op.rows)]
    ops.append(op)
    return ops


def uncovered(ops, rows):
    """The row ranges ``[(lo, hi), ...]`` of a tensor with ``rows`` rows that no fill writes."""
    spans = sorted((0, rows) if o.rows is None else o.rows for o in ops if o.kind != "scale")
    gaps, at = [], 0
    for lo, hi in spans:
        if lo > at:
            gaps.append((at, lo))
        at = max(at, hi)
    if at < rows:
        gaps.append((at, rows))
    return gaps


def _block(out, rows, global_shape, offset):
    """``(view of out, block shape, offset in the block)`` for the part of ``out`` inside
    ``rows`` of the whole tensor, or None when out holds none of it."""
    shape = tuple(global_shape)
    if rows is None:
        return out, shape, tuple(offset)
    lo, hi = rows
    r0, r1 = offset[0], offset[0] + out.shape[0]
    a, b = max(lo, r0), min(hi, r1)
    if a >= b:
        return None
    return out[a - r0:b - r0], (hi - lo,) + shape[1:], (a - lo,) + tuple(offset[1:])


def _rounded(x, dtype):
    """float64 ``x`` in ``dtype``: rounded once by fastinit (fastinit._rounding), never by a
    conversion whose bits depend on the installed NumPy or ml_dtypes."""
    return _rounding.round_array(x, dtype) if dtype.kind == "f" else x.astype(dtype)


def _on_integer(stream, op):
    """The error for a fill other than a constant into an integer or bool tensor."""
    return ValueError(f"tensor {stream!r}: {op.describe()} on an integer tensor")


def fill(out, ops, *, seed, stream, global_shape=None, offset=None, backend=None, threads=None):
    """Write ``ops`` into ``out``: the whole tensor named ``stream``, or the shard of it at
    ``offset`` in ``global_shape`` (as every scheme takes them); returns ``out``."""
    whole = global_shape is None
    global_shape = tuple(out.shape) if whole else tuple(global_shape)
    offset = (0,) * out.ndim if offset is None else tuple(offset)
    for op in ops:
        part = _block(out, op.rows, global_shape, offset)
        if part is None:
            continue
        view, shape, at = part
        if view.size == 0:
            continue
        exact = view.shape == shape   # the shard holds the whole block
        if op.kind == "scale":  # in float64 (exact for every stored value), rounded once by fastinit
            view[...] = _rounded(view.astype(np.float64) * float(op.kwargs["factor"]), view.dtype)
        elif op.kind == "values":
            src = np.broadcast_to(np.asarray(op.values), shape)
            idx = tuple(slice(o, o + n) for o, n in zip(at, view.shape))
            part = src[idx]
            view[...] = _rounded(part.astype(np.float64), view.dtype) if part.dtype.kind == "f" else part
        elif view.dtype.kind in "biu":   # integer or bool buffers: only constants
            if op.name not in ("zeros", "ones", "constant"):
                raise _on_integer(stream, op)
            view[...] = {"zeros": 0, "ones": 1}.get(op.name, op.kwargs.get("value"))
        elif op.kind == "orthogonal":
            from ..orthogonal import orthogonal_  # SciPy's LAPACK: loaded on first use

            target = view if exact else np.empty(shape, view.dtype)
            orthogonal_(target, op.kwargs["gain"], seed=seed, stream=op.stream(stream), backend=backend,
                        threads=threads)
            if not exact:
                view[...] = target[tuple(slice(o, o + n) for o, n in zip(at, view.shape))]
        else:
            kw = {} if exact else {"global_shape": shape, "offset": at}
            fn = schemes.get(op.name).fn
            fn(view, **op.kwargs, seed=seed if op.random else None, stream=op.stream(stream), backend=backend,
               threads=threads, **kw)
    return out


def check(ops, shape, dtype, *, seed, stream):
    """Raise the error replaying ``ops`` into a tensor of ``shape`` and ``dtype`` would
    raise (a scheme whose fans or shape rules do not fit, a constant on an integer tensor,
    values of another shape), before anything is written: each scheme runs on a one-row
    scratch shard of its block (``global_shape``/``offset``, as a shard write), values are
    broadcast, orthogonal needs two dimensions, a float dtype and a gain that dtype can hold
    (``fastinit.orthogonal``'s own checks, on an empty stand-in of the block's dims)."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    for op in ops:
        block = shape if op.rows is None else (op.rows[1] - op.rows[0],) + shape[1:]
        if op.kind == "values":
            try:
                np.broadcast_to(np.asarray(op.values), block)
            except ValueError:
                raise ValueError(f"tensor {stream!r}: values of shape {list(np.shape(op.values))} for a block of "
                                 f"shape {list(block)}") from None
        elif op.kind == "orthogonal" and len(shape) < 2:
            raise ValueError(f"tensor {stream!r}: orthogonal needs at least 2 dimensions; got shape {list(shape)}")
        elif op.kind == "orthogonal":
            if dtype.kind in "biu":   # as fill refuses it
                raise _on_integer(stream, op)
            try:
                _validate.check_orthogonal(np.empty((0,) + block[1:], dtype), "real", op.kwargs["gain"], seed,
                                           op.stream(stream), backend=None, threads=None, layout="torch",
                                           batch_dims=0, min_ndim=2, name="orthogonal_")
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"tensor {stream!r} of shape {list(shape)}: {op.describe()}: {exc}") from None
        elif op.kind == "scheme":
            try:
                if shape and shape[0]:
                    lo = 0 if op.rows is None else op.rows[0]
                    fill(np.empty((1,) + shape[1:], dtype), (op,), seed=seed, stream=stream, global_shape=shape,
                         offset=(lo,) + (0,) * (len(shape) - 1))
                else:   # 0-d or empty: nothing to spare
                    fill(np.empty(shape, dtype), (op,), seed=seed, stream=stream)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"tensor {stream!r} of shape {list(shape)}: {op.describe()}: {exc}") from None


def describe(ops):
    """A one-line description of a tensor's ops, e.g. ``"normal(std=0.02); zeros on rows 0:1"``."""
    return "; ".join(op.describe() for op in ops)


__all__ = ["Op", "add", "check", "describe", "fill", "scheme_op", "shifted", "uncovered"]
