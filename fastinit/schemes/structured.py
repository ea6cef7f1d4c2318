"""Structured schemes: identities, Dirac deltas, and looks-linear ``[W0, -W0]``.

``eye_``, ``identity_`` and ``dirac_`` are deterministic; they take the common keywords like every
scheme (``seed`` optional) and honour ``global_shape``/``offset``: a shard receives its
block of the global structured tensor.  They zero ``out`` and then set the ones through
strided views of ``out`` itself (the ones lie on lines of the index lattice), so nothing
the size of ``out`` is ever allocated.

``looks_linear_`` fills the first half of the input axis with any scheme's ``W0`` and the
second with ``-W0``, computed by the base scheme's own shard path, so it keeps the
contract of its base.
"""

import inspect
import math

import numpy as np

from .. import _validate
from .._buffers import accepts_tensors
from .._validate import in_range as _in_range, real as _real
from ._common import check_common
from .fans import check_layout, input_axis

_CHUNK = 1 << 20  # elements per temporary piece (4 MiB float32) when a half of looks_linear_ is not
#                   contiguous in out: fewer, larger kernel calls; measured 1.5x faster than 2^18


def _ceil_div(a, b):
    return -(-a // b)


def _set_line(out, off, p0, dp, count, value):
    """Set ``value`` at the global points ``p0 + t * dp`` (``0 <= t < count``, ``dp >= 0``,
    not all zero) that fall inside ``out``, the block at ``off`` of the global tensor."""
    lo, hi = 0, count
    for a, n in enumerate(out.shape):
        start = p0[a] - off[a]  # local coordinate at t = 0
        if dp[a] == 0:
            if not 0 <= start < n:
                return
        else:
            lo, hi = max(lo, _ceil_div(-start, dp[a])), min(hi, _ceil_div(n - start, dp[a]))
    if lo >= hi:
        return
    strides = [math.prod(out.shape[a + 1:]) for a in range(out.ndim)]
    first = sum((p0[a] + lo * dp[a] - off[a]) * strides[a] for a in range(out.ndim))
    step = sum(dp[a] * strides[a] for a in range(out.ndim))
    out.reshape(-1)[first:first + (hi - lo - 1) * step + 1:max(step, 1)] = value


def _set_lattice(out, off, p0, da, na, db, nb, value):
    """Set ``value`` at the global points ``p0 + s * da + t * db`` (s < na, t < nb) inside ``out``:
    one strided assignment per line along the longer direction, so at most min(na, nb) of them."""
    if na < nb:
        da, na, db, nb = db, nb, da, na
    for t in range(nb):
        _set_line(out, off, [p + t * d for p, d in zip(p0, db)], da, na, value)


def _structured(out, common, ndims, lattices, value=1.0, name="value"):
    """Validate (out, the common keywords, out's rank in ``ndims``, ``value`` (called ``name``),
    then ``lattices(gshape)``), zero ``out`` and set ``value`` on the lattices: (p0, da, na, db,
    nb) tuples, see _set_lattice."""
    gshape, off = check_common(out, **common)
    _in_range(value, name, out.dtype)
    if out.ndim not in ndims:
        allowed = ", ".join(map(str, ndims[:-1])) + ", or " + str(ndims[-1]) if len(ndims) > 1 else ndims[0]
        raise ValueError(f"Only tensors with {allowed} dimensions are supported: out has shape {out.shape}")
    points = lattices(gshape)  # may raise: before writing
    out.fill(0)
    if out.size:
        for p0, da, na, db, nb in points:
            _set_lattice(out, off, p0, da, na, db, nb, value)
    return out


@accepts_tensors
def eye_(out, *, seed=None, stream=None, global_shape=None, offset=None, backend=None, threads=None):
    """The identity matrix: 1 at (i, i), 0 elsewhere, for a 2-D ``out`` of any shape; returns ``out``.

    ``torch.nn.init.eye_`` (preserves the identity of the inputs in Linear layers).  A shard
    (``global_shape``/``offset``) gets its block of the global identity.

    >>> w = eye_(np.empty((3, 5), np.float32))
    """
    common = dict(seed=seed, stream=stream, global_shape=global_shape, offset=offset, backend=backend,
                  threads=threads)
    return _structured(out, common, (2,), lambda g: [((0, 0), (1, 1), min(g), (0, 0), 1)])


@accepts_tensors
def identity_(out, gain=1.0, *, seed=None, stream=None, global_shape=None, offset=None, backend=None,
              threads=None):
    """Stacked identities: ``gain`` where ``i % n == j % n``, ``n = min(rows, cols)``; returns ``out``.

    For a 2-D ``out`` of shape ``(k n, n)`` (torch's stacked gates: LSTM ``weight_hh`` is
    ``(4 H, H)``) or ``(n, k n)`` (Keras/JAX ``(H, 4 H)``): ``k`` square ``n x n`` identity
    blocks.  ``k = 1`` is IRNN's recurrent matrix: Le, Jaitly & Hinton 2015, "A Simple Way to
    Initialize Recurrent Networks of Rectified Linear Units" (identity, optionally scaled by
    ``gain``); Keras ``Identity(gain)`` for square matrices.

    >>> w_hh = identity_(np.empty((4 * 128, 128), np.float32))   # [I; I; I; I]
    """
    common = dict(seed=seed, stream=stream, global_shape=global_shape, offset=offset, backend=backend,
                  threads=threads)
    gain = _real(gain, "gain")

    def lattices(g):
        n, m = min(g), max(g)
        if n == 0:
            return []
        if m % n:
            raise ValueError(f"identity_ needs square blocks: the (global) shape {g} must be (k*n, n) or "
                             f"(n, k*n), but {m} is not a multiple of {n}")
        block = (n, 0) if g[0] >= g[1] else (0, n)
        return [((0, 0), (1, 1), n, block, m // n)]

    return _structured(out, common, (2,), lattices, gain, "gain")


@accepts_tensors
def dirac_(out, groups=1, *, seed=None, stream=None, global_shape=None, offset=None, backend=None,
           threads=None):
    """The Dirac delta of a convolution: out channel ``g*O/groups + d`` copies input channel ``d``.

    ``torch.nn.init.dirac_(w, groups)`` for 3-, 4- and 5-D ``(out, in, *kernel)`` weights: 1 at
    ``(g * O//groups + d, d, k1//2, k2//2, ...)`` for each group ``g`` and ``d < min(O//groups,
    in)``, 0 elsewhere (torch's centre ``k//2``; JAX's ``delta_orthogonal`` uses ``(k-1)//2``).
    ``groups`` must divide dim 0.

    >>> w = dirac_(np.empty((24, 8, 3, 3), np.float32), groups=3)
    """
    common = dict(seed=seed, stream=stream, global_shape=global_shape, offset=offset, backend=backend,
                  threads=threads)
    groups = _validate.integer(groups, "groups", lo=1)

    def lattices(g):
        if g[0] % groups:
            raise ValueError(f"dim 0 must be divisible by groups: dim 0 of the (global) shape {g} is {g[0]}, "
                             f"groups={groups}")
        per_group = g[0] // groups
        centre = tuple(k // 2 for k in g[2:])
        zeros = (0,) * (len(g) - 2)
        return [((0, 0) + centre, (1, 1) + zeros, min(per_group, g[1]), (per_group, 0) + zeros, groups)]

    return _structured(out, common, (3, 4, 5), lattices)


def _base_scheme(base, layout):
    """(callable, kwargs) of looks_linear_'s base: a registry spec or a callable.  The base gets
    ``layout`` too when it takes one and the spec does not set it."""
    if isinstance(base, str):
        from . import parse  # the registry lists looks_linear_ itself
        fn, kwargs = parse(base)
    elif callable(base):
        fn, kwargs = base, {}
    else:
        raise TypeError(f"base must be a scheme spec (a str such as 'kaiming_uniform(a=2.236)') or a "
                        f"callable; got {type(base).__name__} {base!r}")
    try:
        takes_layout = "layout" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a callable without a signature: pass it nothing extra
        takes_layout = False
    if takes_layout and "layout" not in kwargs:
        kwargs = {**kwargs, "layout": layout}
    return fn, kwargs


def _pieces(part, axis, off, rows):
    """(view, global offset) pieces of ``part`` (a block of ``out`` at ``off``, not contiguous):
    one per index of the axes before ``axis - 1`` and per ``rows`` indices of axis ``axis - 1``."""
    for lead in np.ndindex(*part.shape[:axis - 1]):
        for r0 in range(0, part.shape[axis - 1], rows):
            r1 = min(part.shape[axis - 1], r0 + rows)
            piece_offset = tuple(o + i for o, i in zip(off, lead)) + (off[axis - 1] + r0,) + off[axis:]
            yield part[tuple(slice(i, i + 1) for i in lead) + (slice(r0, r1),)], piece_offset


def _fill_part(fill, out, axis, lo, hi, off, negate):
    """Fill ``out[..., lo:hi, ...]`` (``lo:hi`` along ``axis``) by ``fill(piece, piece_offset)``,
    negated if asked; ``off`` is the part's offset in the global tensor of the fill.

    A part contiguous in ``out`` is filled in place.  Otherwise (``axis >= 1``) it goes piece
    by piece over the leading axes, each piece a block of the global tensor: in place when one
    row of the axis before ``axis`` holds ``_CHUNK`` elements or more (such a row is contiguous
    in ``out``), else through one temporary of about ``_CHUNK`` elements, then copied.
    """
    part = out[(slice(None),) * axis + (slice(lo, hi),)]
    if part.size == 0:
        return
    tmp = None
    if part.flags.c_contiguous:
        pieces = [(part, off)]
    else:
        tail = part.shape[axis:]
        rows = _CHUNK // math.prod(tail)
        if rows > 1:
            tmp = np.empty((rows,) + tail, out.dtype)
        pieces = _pieces(part, axis, off, max(rows, 1))
    for dest, piece_offset in pieces:
        src = dest if tmp is None else tmp[:dest.shape[axis - 1]].reshape(dest.shape)
        fill(src, piece_offset)
        if negate:
            np.negative(src, out=dest)
        elif src is not dest:
            np.copyto(dest, src)


@accepts_tensors
def looks_linear_(out, base="lecun_normal", *, layout="torch", seed, stream=None, global_shape=None, offset=None,
                  backend=None, threads=None):
    """Looks-linear init: ``W = [W0, -W0]`` along the input axis, ``W0`` from any scheme; returns ``out``.

    With the input ``[relu(x), relu(-x)]`` (concatenated ReLU), ``W relu(x) - W relu(-x) = W0 x``:
    the network is linear at initialization.  Balduzzi et al. 2017, "The Shattered Gradients
    Problem: If resnets are the answer, then what is the question?".  The input axis is dim 1
    for ``layout="torch"`` (``(out, in, *kernel)``) and dim -2 for ``"jax"``; its global size
    must be even.  ``W0`` is the scheme ``base`` (a registry spec like
    ``"kaiming_uniform(a=2.236)"`` or a callable taking the common keywords) applied to the
    half-width tensor with the same seed and stream, fans included; the global element at input
    index ``c >= in/2`` is minus the element at ``c - in/2``.  Shards fill only their block.

    >>> w = looks_linear_(np.empty((256, 512), np.float32), base="kaiming_normal", seed=0, stream="fc.weight")
    """
    gshape, off = check_common(out, seed, stream, global_shape, offset, backend, threads)
    check_layout(layout)
    if out.ndim < 2:
        raise ValueError(f"looks_linear_ needs at least 2 dims (it concatenates along the input axis); "
                         f"out has shape {out.shape}")
    axis = input_axis(layout, out.ndim)
    if gshape[axis] % 2:
        raise ValueError(f"looks_linear_ needs an even size along the input axis (dim {axis} for "
                         f"layout={layout!r}); the (global) shape is {gshape}")
    fn, kwargs = _base_scheme(base, layout)
    half = gshape[axis] // 2
    g0 = gshape[:axis] + (half,) + gshape[axis + 1:]

    def fill(piece, piece_offset):
        fn(piece, **kwargs, seed=seed, stream=stream, global_shape=g0, offset=piece_offset, backend=backend,
           threads=threads)

    fill(np.empty((0,) + g0[1:], out.dtype), (0,) * out.ndim)  # validates base and its parameters
    # along the axis: out's local [0, n1) is W0[o, o + n1); local [n1, n) is -W0[w2, w2 + n - n1)
    o, n = off[axis], out.shape[axis]
    n1 = min(max(half - o, 0), n)
    w2 = o + n1 - half

    def at(w):  # the global offset (in W0) of out's part that starts at W0 index w along the axis
        return off[:axis] + (w,) + off[axis + 1:]

    _fill_part(fill, out, axis, 0, n1, at(o), negate=False)
    # where the second half mirrors W0 columns already in out, negate them; fill the rest afresh
    c_lo, c_hi = max(o, w2), min(o + n1, w2 + n - n1)
    if c_lo < c_hi:
        index = (slice(None),) * axis
        np.negative(out[index + (slice(c_lo - o, c_hi - o),)],
                    out=out[index + (slice(n1 + c_lo - w2, n1 + c_hi - w2),)])
    else:
        c_lo = c_hi = w2 + n - n1
    _fill_part(fill, out, axis, n1, n1 + c_lo - w2, at(w2), negate=True)
    _fill_part(fill, out, axis, n1 + c_hi - w2, n, at(c_hi), negate=True)
    return out
