"""Lazy Dask arrays filled by fastinit, chunk by chunk, with the bits of the whole-tensor fill.

``fastinit.dask.<scheme>(shape, chunks, dtype, seed=, stream=, **params)`` exists for every
scheme of ``fastinit.schemes.REGISTRY`` (``uniform``, ``normal``, ``trunc_normal``,
``kaiming_uniform``, ``sparse``, ...) and ``from_scheme`` takes a registry name, a spec such
as ``"kaiming_uniform(a=2.236)"`` or any callable with the schemes' keywords.  Each returns a
``dask.array.Array`` with one task per chunk: the task allocates its chunk and fills it by the
scheme's shard path, ``fn(chunk, **params, seed=seed, stream=stream, global_shape=shape,
offset=chunk start)``.  By fastinit's contract (docs/streams.md) the computed array has the
bits of ``fn(np.empty(shape, dtype), **params, seed=seed, stream=stream)`` for any chunking,
scheduler (threads, processes, a ``distributed`` cluster) or order of computation, and
nothing larger than a chunk is ever allocated: a 1 TB array can be written to Zarr by a
cluster, or one chunk of it recomputed to check a file.

Everything is validated when the array is created, not when it is computed: shape, chunks,
dtype, seed, stream, backend, threads and the scheme's parameters (the scheme itself checks
them on an empty shard of the array, which writes nothing).  Graph keys are
``"fastinit-<scheme>-v<STREAM_LAYOUT>-<tokenize(all arguments)>"``, so the same call gives the
same keys and arrays of different stream layouts never share one.

Threads: each task calls fastinit with ``threads=1`` by default.  Dask already runs one
chunk per worker thread (threaded scheduler: one per core; ``distributed``: one per worker
thread), so fastinit's own pool inside every task would oversubscribe the cores; the bits do
not depend on it either way.  Pass ``threads=None`` (all cores) when there are fewer chunks
than cores, e.g. one large chunk.  docs/distributed.md is the guide.

>>> import fastinit.dask
>>> w = fastinit.dask.normal((65536, 16384), chunks=(8192, 16384), std=0.02, seed=0, stream="embed")
>>> w.to_zarr("embed.zarr")   # 4 GiB written chunk by chunk, never held in memory whole
"""

import inspect
import math
import re

from ._extras import require

require("dask.array", "dask", "fastinit.dask")

import dask.array as da  # noqa: E402 (after the check: its message names the extra)
import numpy as np
from dask._task_spec import Task  # what dask.array's own graphs are made of since dask 2024.12
from dask.array.core import normalize_chunks
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import _validate, schemes
from ._version import STREAM_LAYOUT, __version__
from .schemes import REQUIRED


def _fill_chunk(fn, params, chunk_shape, dtype, common, shard):
    """One task: a new chunk of ``chunk_shape``, filled by ``fn`` (``shard``: its
    ``global_shape``/``offset`` keywords, empty for a whole-tensor scheme)."""
    out = np.empty(chunk_shape, dtype)
    fn(out, **params, **common, **shard)
    return out


def _shape(shape):
    items = _validate.shape(shape, allow_int=True)
    if math.prod(items) >= 2**63:
        raise ValueError(f"shape {items} has 2**63 or more elements")
    return tuple(int(v) for v in items)


def _dtype(dtype):
    return _validate.float_dtype(dtype)


def _chunks(chunks, shape, dtype):
    """Dask's normalized chunks ``((c, ...), ...)``, checked to tile ``shape`` exactly."""
    try:
        normal = normalize_chunks(chunks, shape, dtype=dtype)
    except (TypeError, ValueError, ZeroDivisionError, NotImplementedError) as exc:
        raise ValueError(f"chunks={chunks!r} cannot chunk shape {shape}: {exc}") from None
    for d, (sizes, n) in enumerate(zip(normal, shape)):
        if any(isinstance(c, float) or c < 0 for c in sizes) or sum(sizes) != n:
            raise ValueError(f"chunks={chunks!r} cannot chunk shape {shape}: along dim {d} they give "
                             f"{tuple(sizes)}, which does not add up to {n} with non-negative ints")
    return tuple(tuple(int(c) for c in sizes) for sizes in normal)


def _takes_shard(fn):
    """Whether ``fn`` fills a block of a larger tensor (takes ``global_shape`` and ``offset``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no signature to read: assume the schemes' keywords
        return True
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return True
    return "global_shape" in params and "offset" in params


def _resolve(scheme, params):
    """``(label, fn, params, registered)`` for a registry name or spec, a Scheme or a callable."""
    if isinstance(scheme, str):
        if "(" in scheme:
            _, spec_params = schemes.parse(scheme)
            registered = schemes.get(scheme.split("(", 1)[0].strip())
            twice = sorted(set(spec_params) & set(params))
            if twice:
                raise ValueError(f"scheme spec {scheme!r}: parameter {twice[0]!r} is given twice, in the spec "
                                 f"and as a keyword")
            params = {**spec_params, **params}
        else:
            registered = schemes.get(scheme)
        return registered.name, registered.fn, params, registered
    if isinstance(scheme, schemes.Scheme):
        return scheme.name, scheme.fn, params, scheme
    if callable(scheme):
        return getattr(scheme, "__name__", type(scheme).__name__), scheme, params, None
    raise TypeError(f"scheme must be a registry name or spec (a str such as 'kaiming_uniform(a=2.236)'), "
                    f"a fastinit.schemes.Scheme or a callable; got {type(scheme).__name__} {scheme!r}")


def _check_params(registered, params, seed):
    name = registered.name
    unknown = [p for p in params if p not in registered.params]
    if unknown:
        raise TypeError(f"scheme {name!r} has no parameter {unknown[0]!r}; its parameters are: "
                        f"{', '.join(registered.params) or '(none)'}")
    missing = [p for p, default in registered.params.items() if default is REQUIRED and p not in params]
    if missing:
        raise TypeError(f"scheme {name!r} needs the parameter {missing[0]!r}: pass {missing[0]}=...")
    if registered.random and seed is None:
        raise TypeError(f"scheme {name!r} draws random numbers: pass seed= (an int in [0, 2**64))")


def from_scheme(scheme, shape, chunks="auto", dtype="float32", *, seed=None, stream=None, backend=None,
                threads=1, **params):
    """A lazy Dask array of ``shape`` filled by ``scheme``, chunk by chunk, with the whole fill's bits.

    - ``scheme``: a registry name (``"kaiming_uniform"``), a spec with literal parameters
      (``"kaiming_uniform(a=2.236)"``, as ``fastinit.schemes.parse`` reads; it must not repeat
      a keyword of ``params``), a ``fastinit.schemes.Scheme``, or any callable
      ``fn(out, **params, seed=, stream=, global_shape=, offset=, backend=, threads=)``.
    - ``shape``: an int or a tuple of ints; ``chunks``: anything ``dask.array`` accepts
      (``"auto"``, ``-1`` = one chunk, ``(1024, 1024)``, explicit irregular
      ``((100, 28), (64, 64))``, a dict); ``dtype``: float16, bfloat16
      (``ml_dtypes.bfloat16`` or ``"bfloat16"``), float32 (default) or float64.
    - ``seed`` (required by schemes that draw), ``stream`` (an int or the tensor's name),
      ``backend``: as for every fastinit fill.  ``threads``: fastinit's threads *inside each
      task*; 1 by default, since Dask runs the chunks in parallel itself.
    - ``params``: the scheme's parameters (``std=0.02``, ``mode="fan_out"``, ...).

    Every chunk is ``fn(chunk, **params, seed=seed, stream=stream, global_shape=shape,
    offset=<chunk start>)``, so computing the array (any chunking, scheduler or cluster)
    gives exactly ``fn(np.empty(shape, dtype), **params, seed=seed, stream=stream)``.  A
    callable without ``global_shape``/``offset`` (e.g. ``fastinit.orthogonal_``: a Haar
    matrix depends on the whole tensor) is accepted only with one chunk (``chunks=-1``).
    Bad arguments raise a TypeError/ValueError naming them here, not at compute time.

    >>> w = from_scheme("kaiming_uniform(a=2.236)", (4096, 1024), chunks=(1024, 1024), seed=0, stream="fc.weight")
    >>> b = from_scheme(fastinit.schemes.bias_uniform_, 4096, fan_in=1024, seed=0, stream="fc.bias")
    """
    label, fn, params, registered = _resolve(scheme, params)
    shape = _shape(shape)
    dtype = _dtype(dtype)
    chunks = _chunks(chunks, shape, dtype)
    if registered is not None:
        _check_params(registered, params, seed)
    common = {"seed": seed, "stream": stream, "backend": backend, "threads": threads}
    shardable = _takes_shard(fn)
    if not shardable and any(len(sizes) > 1 for sizes in chunks):
        raise ValueError(f"{label} cannot be filled chunk by chunk: it takes no global_shape/offset (its values "
                         f"depend on the whole tensor); pass chunks=-1 (one chunk), then .rechunk() the array "
                         f"if needed; got chunks {chunks}")
    # validate everything now: the scheme checks its parameters, seed, stream, backend, threads
    # and the global shape on an empty shard (nothing to write), or on the only element of a 0-d array
    probe = (0,) * len(shape) if shape else ()
    shard = {"global_shape": shape, "offset": (0,) * len(shape)} if shardable else {}
    try:
        _fill_chunk(fn, params, probe, dtype, common, shard)
    except (TypeError, ValueError) as exc:
        if type(exc) not in (TypeError, ValueError):  # a subclass may take other arguments: keep it as is
            raise
        shown = f"fastinit.dask.{label}" if registered is not None else label
        where = (" (out: an empty block of the array, on which the arguments are checked)"
                 if re.search(r"\bout (has|is|of|must)\b", str(exc)) else "")
        raise type(exc)(f"{shown}, shape {shape}, dtype {dtype}: {exc}{where}") from exc
    token = tokenize(label if registered is not None else fn, sorted(params.items()), shape, chunks, dtype.name,
                     seed, stream, backend, threads, __version__, STREAM_LAYOUT)
    name = f"fastinit-{label}-v{STREAM_LAYOUT}-{token}"
    starts = [np.cumsum((0,) + sizes[:-1]).tolist() for sizes in chunks]
    dsk = {}
    for index in np.ndindex(*(len(sizes) for sizes in chunks)):
        key = (name,) + index
        chunk_shape = tuple(chunks[d][i] for d, i in enumerate(index))
        if shardable:
            shard = {"global_shape": shape, "offset": tuple(starts[d][i] for d, i in enumerate(index))}
        dsk[key] = Task(key, _fill_chunk, fn, params, chunk_shape, dtype, common, shard)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, chunks, dtype=dtype, meta=np.empty((0,) * len(shape), dtype))


def _signature(scheme):
    """``(shape, chunks, dtype, *, <scheme parameters>, seed, stream, backend, threads)``."""
    P = inspect.Parameter
    own = inspect.signature(from_scheme).parameters
    head = [own["shape"], own["chunks"], own["dtype"]]
    middle = [P(p, P.KEYWORD_ONLY, default=default) for p, default in scheme.params.items()]
    tail = [own[p] for p in ("seed", "stream", "backend", "threads")]
    return inspect.Signature(head + middle + tail)


def _docstring(scheme):
    params = ", ".join(p if d is REQUIRED else f"{p}={d!r}" for p, d in scheme.params.items()) or "(none)"
    seed = "seed (required: it draws random numbers)" if scheme.random else "seed (optional: it draws nothing)"
    return f"""A lazy Dask array filled by ``fastinit.schemes.{scheme.name}_``: {scheme.summary}

    ``fastinit.dask.{scheme.name}(shape, chunks, dtype, **params, seed=, stream=)`` computes, for any
    chunking, scheduler or cluster, the bits of
    ``fastinit.schemes.{scheme.name}_(np.empty(shape, dtype), **params, seed=, stream=)``: every chunk is
    filled by the scheme's shard path (``global_shape=shape``, ``offset=`` the chunk's start), so fans
    and structure are the whole tensor's.

    Scheme parameters (keyword-only; formulas in ``fastinit.schemes.{scheme.name}_`` and
    docs/schemes.md): {params}.
    Common: shape, chunks (default "auto"), dtype (float16, bfloat16, float32 = default, float64),
    {seed}, stream, backend, threads (fastinit's threads per task, default 1); see
    ``fastinit.dask.from_scheme``.  Bad arguments raise a TypeError/ValueError when the array is
    created.
    """


def _front_end(scheme):
    """``fastinit.dask.<name>``: ``from_scheme`` bound to one registered scheme."""

    def front_end(shape, chunks="auto", dtype="float32", *, seed=None, stream=None, backend=None, threads=1,
                  **params):
        return from_scheme(scheme, shape, chunks, dtype, seed=seed, stream=stream, backend=backend,
                           threads=threads, **params)

    front_end.__name__ = front_end.__qualname__ = scheme.name
    front_end.__module__ = __name__
    front_end.__doc__ = _docstring(scheme)
    front_end.__signature__ = _signature(scheme)
    return front_end


globals().update({name: _front_end(scheme) for name, scheme in schemes.REGISTRY.items()})

__all__ = ["from_scheme"] + list(schemes.REGISTRY)
