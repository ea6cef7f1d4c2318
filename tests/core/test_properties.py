"""Property-based tests (hypothesis) of the public fills, the schemes and the shard path.

Every example writes into a poisoned buffer with guard elements on both sides (conftest.poisoned)
and checks the contract: a shard equals its block of the whole tensor, bit for bit, whatever the
backend and thread count; nothing outside ``out`` is written; a call that raises raises a
TypeError/ValueError and leaves the buffer and its guards untouched; a call that succeeds writes
only finite values, inside the distribution's bounds.  Parameters are drawn with NaN, inf, huge
floats and ints beyond the float range among them.

The "ci" profile (conftest.py, the default) is derandomized and bounded: the same examples on
every run, a few seconds per test.  ``HYPOTHESIS_PROFILE=explore`` draws new ones.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, event, given, strategies as st

import fastinit
from fastinit import schemes

from ..conftest import BACKENDS, DTYPES, POISON, bits, poisoned

GUARD = 37  # elements on each side: an odd count, so guards straddle the kernels' groups

dtypes = st.sampled_from(DTYPES)
backends = st.sampled_from(BACKENDS)
thread_counts = st.integers(1, 3)
seeds = st.integers(0, 2**64 - 1)
streams = st.one_of(st.integers(0, 2**64 - 1), st.text(max_size=12))


@st.composite
def blocks(draw, min_dims=1, max_dims=3, max_side=23):
    """(global shape, offset, block shape): a block anywhere inside a global tensor, empty ones too."""
    ndim = draw(st.integers(min_dims, max_dims))
    gshape = tuple(draw(st.lists(st.integers(0, max_side), min_size=ndim, max_size=ndim)))
    offset, shape = [], []
    for g in gshape:
        lo = draw(st.integers(0, g))
        offset.append(lo)
        shape.append(draw(st.integers(0, g - lo)))
    return gshape, tuple(offset), tuple(shape)


# parameters users pass, and the ones fuzzing found: NaN, inf, huge floats, ints beyond float range
wild_reals = st.one_of(
    st.floats(-4.0, 4.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 65504.0, 65520.0, 3.4e38, 1.7e308, 10**400, -(10**400), 2**64]),
    st.integers(-10, 10),
)


def untouched(whole):
    return bool((np.ascontiguousarray(whole).view(np.uint8) == POISON).all())


def guards_untouched(whole, n):
    raw = np.ascontiguousarray(whole).view(np.uint8).reshape(len(whole), -1)
    return bool((raw[:GUARD] == POISON).all() and (raw[GUARD + n:] == POISON).all())


def call_poisoned(fn, shape, dtype, *args, **kwargs):
    """fn(out, ...) on a poisoned out with guards: (whole, out, the exception or None)."""
    whole, out = poisoned(shape, dtype, GUARD)
    try:
        fn(out, *args, **kwargs)
    except (TypeError, ValueError) as exc:
        assert untouched(whole), f"{fn.__name__} wrote before raising {exc!r}"
        return whole, out, exc
    assert guards_untouched(whole, out.size), f"{fn.__name__} wrote outside out"
    return whole, out, None


FILLS = {
    "uniform": (fastinit.uniform_, ("low", "high")),
    "normal": (fastinit.normal_, ("mean", "std")),
    "trunc_normal": (fastinit.trunc_normal_, ("mean", "std", "a", "b")),
    "constant": (fastinit.constant_, ("value",)),
}


@given(name=st.sampled_from(sorted(FILLS)), dtype=dtypes, block=blocks(), seed=seeds, stream=streams,
       backend=backends, threads=thread_counts, data=st.data())
def test_a_fill_shard_is_its_block_of_the_whole(name, dtype, block, seed, stream, backend, threads, data):
    fn, names = FILLS[name]
    params = {"uniform": dict(low=-0.5, high=1.5), "normal": dict(mean=0.25, std=2.0),
              "trunc_normal": dict(mean=0.1, std=1.0, a=-1.5, b=2.5), "constant": dict(value=0.75)}[name]
    gshape, offset, shape = block
    kw = dict(seed=seed, stream=stream) if name != "constant" else {}
    whole = fn(np.empty(gshape, dtype), **params, **kw, backend="c", threads=1)
    _, out, exc = call_poisoned(fn, shape, dtype, **params, **kw, global_shape=gshape, offset=offset,
                                backend=backend, threads=threads)
    assert exc is None
    index = tuple(slice(o, o + s) for o, s in zip(offset, shape))
    assert np.array_equal(bits(out), bits(whole[index]))


@given(name=st.sampled_from(sorted(FILLS)), dtype=dtypes, shape=st.lists(st.integers(0, 40), min_size=1, max_size=2),
       values=st.lists(wild_reals, min_size=4, max_size=4), backend=backends, threads=thread_counts)
def test_any_parameters_either_refused_untouched_or_finite_in_bounds(name, dtype, shape, values, backend, threads):
    fn, names = FILLS[name]
    params = dict(zip(names, values))
    kw = dict(seed=5, stream="p") if name != "constant" else {}
    _, out, exc = call_poisoned(fn, tuple(shape), dtype, **params, **kw, backend=backend, threads=threads)
    if exc is not None:
        named = [n for n in names if n in str(exc)] + [w for w in ("high - low", "[a, b]", "no ", "interval")
                                                        if w in str(exc)]
        assert named, f"the error names no parameter: {exc}"
        return
    x = out.astype(np.float64)
    assert np.isfinite(x).all(), f"{name}{params} wrote a non-finite value into {dtype}"
    if name == "uniform" and out.size and params["low"] == params["high"]:  # a constant, rounded to nearest
        assert np.array_equal(bits(out), bits(fastinit.constant_(np.empty_like(out), params["low"])))
    elif name == "uniform" and out.size:
        assert (x >= float(params["low"])).all() and (x <= float(params["high"])).all()
    if name == "trunc_normal" and out.size:
        assert (x >= float(params["a"])).all() and (x <= float(params["b"])).all()


# every registered scheme with parameters it accepts (REQUIRED ones set)
SCHEME_PARAMS = {"constant": dict(value=0.5), "sparse": dict(sparsity=0.5)}


@given(name=st.sampled_from(sorted(schemes.REGISTRY)), dtype=dtypes, block=blocks(1, 4, 12), backend=backends,
       threads=thread_counts, seed=seeds)
def test_a_scheme_shard_is_its_block_of_the_whole_or_both_are_refused(name, dtype, block, backend, threads, seed):
    scheme = schemes.REGISTRY[name]
    params = SCHEME_PARAMS.get(name, {})
    gshape, offset, shape = block
    whole_out = np.empty(gshape, dtype)
    try:
        whole = scheme(whole_out, **params, seed=seed, stream=name, backend="c", threads=1)
    except (TypeError, ValueError) as exc:  # a shape the scheme does not take: the shard is refused too
        _, _, shard_exc = call_poisoned(scheme.fn, shape, dtype, **params, seed=seed, stream=name,
                                        global_shape=gshape, offset=offset, backend=backend, threads=threads)
        assert shard_exc is not None, f"{name}: the whole was refused ({exc}) but its shard was not"
        event("refused")
        return
    event("filled")
    _, out, exc = call_poisoned(scheme.fn, shape, dtype, **params, seed=seed, stream=name, global_shape=gshape,
                                offset=offset, backend=backend, threads=threads)
    assert exc is None, f"{name}: the whole was filled but its shard was refused: {exc}"
    index = tuple(slice(o, o + s) for o, s in zip(offset, shape))
    assert np.array_equal(bits(out), bits(whole[index]))
    assert np.isfinite(whole.astype(np.float64)).all()


BAD_KEYWORDS = st.sampled_from([
    dict(threads=0), dict(threads=1.5), dict(threads=True), dict(backend="fortran"), dict(backend=3),
    dict(seed=-1), dict(seed=2**64), dict(seed=1.0), dict(seed=None), dict(stream="\ud800"), dict(stream=-1),
    dict(stream=2**64), dict(stream=b"w"), dict(offset=(0,)), dict(global_shape=(1,)),
    dict(global_shape=(10**10, 10**10)), dict(global_shape="x"),
])


@given(name=st.sampled_from(sorted(schemes.REGISTRY)), dtype=dtypes, bad=BAD_KEYWORDS)
def test_bad_keywords_are_refused_before_a_byte_is_written(name, dtype, bad):
    scheme = schemes.REGISTRY[name]
    if not scheme.random and bad.get("seed", 0) is None:
        return  # seed=None is what a deterministic scheme expects
    shape = (8,) if name in ("lstm_forget_bias", "relu_bias", "constant", "zeros", "ones", "bias_uniform") \
        else (4, 4, 3) if name == "dirac" else (8, 4)
    kw = dict(seed=3, stream=name)
    kw.update(bad)
    _, _, exc = call_poisoned(scheme.fn, shape, dtype, **SCHEME_PARAMS.get(name, {}), **kw)
    if name in ("constant", "zeros", "ones", "eye", "identity", "dirac", "lstm_forget_bias", "relu_bias") and \
            set(bad) <= {"seed"} and bad["seed"] is None:
        return
    assert exc is not None, f"{name} accepted {bad}"


@given(dtype=dtypes, step=st.integers(2, 3), fill=st.sampled_from(sorted(FILLS)))
def test_strided_and_read_only_buffers_are_refused_untouched(dtype, step, fill):
    fn, _ = FILLS[fill]
    params = {"constant": dict(value=1.0)}.get(fill, {})
    kw = dict(seed=1, stream="s") if fill != "constant" else {}
    whole, out = poisoned((12, 6), dtype, GUARD)
    with pytest.raises((TypeError, ValueError), match=r"out is not C-contiguous"):
        fn(out[:, ::step], **params, **kw)
    ro = out.view()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out is read-only"):
        fn(ro, **params, **kw)
    assert untouched(whole)


@given(dtype=dtypes, shape=st.tuples(st.integers(1, 40), st.integers(1, 40)), sparsity=st.floats(0.0, 1.0),
       block=st.data(), backend=backends, threads=thread_counts)
def test_sparse_shards_and_backends_agree(dtype, shape, sparsity, block, backend, threads):
    """Both of sparse_'s paths (masked and dense-then-zero) and any shard give the whole's bits."""
    whole = schemes.sparse_(np.empty(shape, dtype), sparsity, seed=9, stream="sp", backend="c", threads=1)
    r0 = block.draw(st.integers(0, shape[0] - 1))
    c0 = block.draw(st.integers(0, shape[1] - 1))
    r1 = block.draw(st.integers(r0 + 1, shape[0]))
    c1 = block.draw(st.integers(c0 + 1, shape[1]))
    _, out, exc = call_poisoned(schemes.sparse_, (r1 - r0, c1 - c0), dtype, sparsity, seed=9, stream="sp",
                                global_shape=shape, offset=(r0, c0), backend=backend, threads=threads)
    assert exc is None
    assert np.array_equal(bits(out), bits(whole[r0:r1, c0:c1]))
    zeros_per_column = (whole.astype(np.float64) == 0).sum(axis=0)
    assume(sparsity > 0)
    assert (zeros_per_column >= math.ceil(sparsity * shape[0])).all()


@given(dtype=dtypes, shape=st.tuples(st.integers(0, 70), st.integers(0, 70)), gain=wild_reals,
       threads=st.integers(2, 3), layout=st.sampled_from(["torch", "jax"]))
def test_orthogonal_threads_agree_and_any_gain_is_refused_untouched_or_finite(dtype, shape, gain, threads, layout):
    from fastinit.orthogonal import orthogonal_

    whole, out, exc = call_poisoned(orthogonal_, shape, dtype, gain, seed=4, stream="o", threads=threads,
                                    layout=layout)
    if exc is not None:
        assert "gain" in str(exc), f"the error names no parameter: {exc}"
        return
    assert np.isfinite(out.astype(np.float64)).all()
    one = orthogonal_(np.empty(shape, dtype), gain, seed=4, stream="o", threads=1, layout=layout)
    assert np.array_equal(bits(out), bits(one))
