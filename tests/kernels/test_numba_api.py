"""fastinit.numba: the stream drawn element by element from user @njit code equals the fills, bit for bit."""

import math

import numpy as np
import pytest
from numba import njit, prange

import fastinit
import fastinit.numba as fnb
from fastinit import rng

from ..conftest import BFLOAT16, POISON, bits
from ..core.test_rng import kat_lines

DTYPES = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64), "f16": np.dtype(np.float16), "bf16": BFLOAT16}
SIZES = (1, 3, 17, 1023, 4099)

# parameter sets for each distribution: plain, ones where the inward clamp rounds differently
# per dtype, constants (low == high, std == 0), far tails (the AS241 tail rationals) and bounds="std"
UNIFORM = [(-0.5, 1.5), (0.1, 0.30000001), (1e-3, 7.77), (0.1, 0.1), (-2.0**-20, 2.0**-20),
           # rounding through float32 rounds twice here: NumPy's float16 does not, ml_dtypes' bfloat16 does
           (1 + 2**-11 + 2**-40, 1 + 2**-11 + 2**-40), (1 + 2**-8 + 2**-40, 1 + 2**-8 + 2**-40),
           (1 + 2**-11 + 2**-40, 2.0), (-2.0, -1 - 2**-8 - 2**-40)]
NORMAL = [(0.25, 2.0), (0.0, 0.02), (-3.5, 0.0), (1e-3, 1e3)]
TRUNC = [{"mean": 0.1, "std": 1.0, "a": -1.5, "b": 2.5}, {"mean": 0.0, "std": 0.02, "a": -0.04, "b": 0.04},
         {"mean": 0.0, "std": 1.0, "a": 3.0, "b": 8.0}, {"mean": 1.0, "std": 2.0, "a": -15.0, "b": -5.0},
         {"mean": 0.3, "std": 0.0, "a": -1.0, "b": 0.2},
         {"mean": 0.0, "std": 0.5, "a": -2.0, "b": 2.0, "bounds": "std"}, {"mean": 2.0, "std": 0.0, "a": -2.0, "b": 2.0, "bounds": "std"},
         # the float32 family's mixture (mass 0.964 >= TRUNC_MIX_MASS): 3.6% drawn again from blocks
         # 2^63 + b, and b = 2.2 no float16/bfloat16 value (a kept normal value is clamped)
         {"mean": 0.1, "std": 1.0, "a": -2.0, "b": 2.2}]


def sampler(dist, t):
    return getattr(fnb, f"{dist}_{t}")


# ---- user kernels: one source each, specialised per sampler (a dispatcher argument) ----

@njit
def draw2(f, key, idx, x, y, out):
    """out[t] <- f(key, idx[t], x, y): uniform (low, high) and normal (mean, std)."""
    for t in range(idx.size):
        out[t] = f(key, idx[t], x, y)


@njit
def draw_p(f, key, idx, p, out):
    for t in range(idx.size):
        out[t] = f(key, idx[t], p)


def drawn(dist, t, key, idx, params):
    """The sampler's values for global indices idx, as an array of the output dtype."""
    dt = DTYPES[t]
    out = np.empty(idx.size, dt)
    target = out.view(np.uint16) if dt.itemsize == 2 else out
    if dist == "trunc_normal":
        draw_p(sampler(dist, t), key, idx, fnb.trunc_normal_params(**params, dtype=dt), target)
    else:
        draw2(sampler(dist, t), key, idx, *params, target)
    return out


def fill(dist, out, params, **kw):
    if dist == "uniform":
        return fastinit.uniform_(out, *params, **kw)
    if dist == "normal":
        return fastinit.normal_(out, *params, **kw)
    return fastinit.trunc_normal_(out, **params, **kw)


CASES = [(d, p) for d, ps in (("uniform", UNIFORM), ("normal", NORMAL), ("trunc_normal", TRUNC)) for p in ps]


def case_id(case):
    dist, p = case
    return f"{dist}-" + "-".join(str(v) for v in (p.values() if isinstance(p, dict) else p))


@pytest.mark.parametrize("t", list(DTYPES))
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_sampler_equals_fill_for_every_element(case, t):
    dist, params = case
    key = fnb.key(11, "layers.3.mlp.weight")
    for n in SIZES:
        expected = fill(dist, np.empty(n, DTYPES[t]), params, seed=11, stream="layers.3.mlp.weight")
        got = drawn(dist, t, key, np.arange(n, dtype=np.uint64), params)
        assert np.array_equal(bits(got), bits(expected)), (n, np.flatnonzero(bits(got) != bits(expected))[:5])


def shard_indices(shape, global_shape, offset):
    """Global row-major indices (uint64) of the block [offset, offset + shape) of global_shape."""
    gstride = [math.prod(global_shape[d + 1:]) for d in range(len(global_shape))]
    idx = np.zeros(shape, np.uint64)
    for d, (o, s) in enumerate(zip(offset, gstride)):
        ax = (np.arange(shape[d], dtype=np.uint64) + np.uint64(o)) * np.uint64(s)
        idx += ax.reshape([-1 if e == d else 1 for e in range(len(shape))])
    return idx.reshape(-1)


SHARDS = [  # (global_shape, offset, shape): across 2^32, deep into the 64-bit range, 2-D blocks
    ((2**40,), (2**32 - 71,), (150,)),
    ((2**40,), (2**36 + 5,), (97,)),
    ((2**63 - 1,), (2**63 - 1 - 133,), (133,)),
    ((3000, 2**31 + 77), (1500, 2**31 - 20), (3, 50)),
    ((5, 7, 2**33 + 3), (2, 3, 2**33 - 40), (3, 2, 43)),
]


@pytest.mark.parametrize("t", list(DTYPES))
@pytest.mark.parametrize("case", [("uniform", UNIFORM[0]), ("normal", NORMAL[0]), ("trunc_normal", TRUNC[0]),
                                  ("trunc_normal", TRUNC[2]), ("trunc_normal", TRUNC[-1])], ids=case_id)
@pytest.mark.parametrize("shard", SHARDS, ids=lambda s: f"{s[0]}@{s[1]}")
def test_sampler_equals_sharded_fill_at_large_indices(shard, case, t):
    dist, params = case
    global_shape, offset, shape = shard
    expected = fill(dist, np.empty(shape, DTYPES[t]), params, seed=2**64 - 1, stream=2**63 + 9,
                    global_shape=global_shape, offset=offset)
    got = drawn(dist, t, fnb.key(2**64 - 1, 2**63 + 9), shard_indices(shape, global_shape, offset), params)
    assert np.array_equal(bits(got), bits(expected.reshape(-1)))


def test_key_is_rng_key_words_as_uint32_scalars():
    for seed, stream in ((0, 0), (2**64 - 1, "embed"), (2**32 + 7, 2**63 + 1)):
        k = fnb.key(seed, stream)
        assert isinstance(k, tuple) and all(type(w) is np.uint32 for w in k)
        assert list(k) == rng.key_words(seed, stream).tolist()
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
        fnb.key(-1)
    with pytest.raises(TypeError, match="stream must be an int"):
        fnb.key(0, 1.5)


def test_key_may_be_the_key_words_array():
    kw = rng.key_words(5, "w")
    idx = np.arange(70, dtype=np.uint64)
    assert np.array_equal(bits(drawn("normal", "f32", kw, idx, (0.0, 1.0))),
                          bits(drawn("normal", "f32", fnb.key(5, "w"), idx, (0.0, 1.0))))


@njit
def user_philox(c, k):
    return fnb.philox4x32(c[0], c[1], c[2], c[3], k[0], k[1])


def test_philox4x32_known_answers():
    cases = [(ctr, key, out) for rounds, ctr, key, out in kat_lines() if rounds == 10]
    assert len(cases) == 3
    for ctr, key, expected in cases:
        got = user_philox(np.array(ctr, np.uint32), np.array(key, np.uint32))
        assert [int(w) for w in got] == expected
        assert [int(w) for w in fnb.philox4x32(*ctr, *key)] == expected  # also callable from Python
    assert all(str(sig.return_type) == "UniTuple(uint32 x 4)" for sig in fnb.philox4x32.nopython_signatures)


@njit
def user_blocks(key, first, n, out):
    for b in range(n):
        out[b] = fnb.block(key, first + np.uint64(b))


def test_philox4x32_and_block_match_rng():
    r = np.random.default_rng(7)
    ctr = r.integers(0, 2**32, (300, 4), dtype=np.uint64).astype(np.uint32)
    key = r.integers(0, 2**32, (300, 2), dtype=np.uint64).astype(np.uint32)
    expected = rng.philox4x32(ctr, key)
    for c, k, e in zip(ctr, key, expected):
        assert list(user_philox(c, k)) == e.tolist()
    kw = rng.key_words(2**40 + 3, "blocks")
    out = np.empty((64, 4), np.uint32)
    first = 2**32 - 30
    user_blocks(fnb.key(2**40 + 3, "blocks"), np.uint64(first), 64, out)
    b = np.arange(first, first + 64, dtype=np.uint64)
    ctrs = np.stack([b & 0xFFFFFFFF, b >> 32, np.full(64, kw[2]), np.full(64, kw[3])], axis=1).astype(np.uint32)
    assert np.array_equal(out, rng.philox4x32(ctrs, kw[:2]))


def test_return_types_are_the_output_types():
    """float32 stays float32 (never promoted); float16/bfloat16 come back as their uint16 bits."""
    k = fnb.key(0, 0)
    idx = np.arange(3, dtype=np.uint64)
    for t, rtype in (("f32", "float32"), ("f64", "float64"), ("f16", "uint16"), ("bf16", "uint16")):
        for dist, params in (("uniform", UNIFORM[0]), ("normal", NORMAL[0]), ("trunc_normal", TRUNC[0])):
            drawn(dist, t, k, idx, params)
            assert {str(sig.return_type) for sig in sampler(dist, t).nopython_signatures} == {rtype}
    # the float32 family's 10 kernel constants (the mixture's [a, b] in float32 last), float64's 8
    for dtype in (np.float32, np.float16, BFLOAT16):
        p = fnb.trunc_normal_params(dtype=dtype)
        assert len(p) == 10 and all(type(v) is np.float32 for v in p)
    # a rounded up and b down to float32 (not to bfloat16): the nearest float32 values inside [a, b]
    a32, b32 = fnb.trunc_normal_params(-1.0, 1.0, -1e-3, 2.1, dtype=BFLOAT16)[8:]
    inf = np.float32(np.inf)
    assert float(np.nextafter(a32, -inf)) < -1e-3 <= float(a32) and float(b32) <= 2.1 < float(np.nextafter(b32, inf))
    p = fnb.trunc_normal_params(dtype=np.float64)
    assert len(p) == 8 and all(type(v) is float for v in p)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"dtype": np.int32}, TypeError, r"dtype must be one of float16, bfloat16 \(ml_dtypes\), float32, float64"),
    ({"dtype": "nope"}, TypeError, r"dtype must be one of float16, bfloat16 \(ml_dtypes\), float32, float64; got 'nope'"),
    ({"std": -1.0}, ValueError, "std must be >= 0"),
    ({"bounds": "sigma"}, ValueError, "bounds must be 'absolute' or 'std'"),
    ({"a": 1.0, "b": 1.0}, ValueError, "a must be < b"),
    ({"a": float("nan")}, ValueError, "a must be finite"),
    ({"mean": True}, TypeError, "mean must be a real number"),
    ({"a": 70000.0, "b": 80000.0, "dtype": np.float16}, ValueError, "a=70000.0 is outside the range of float16"),
    ({"a": 20.0, "b": 21.0}, ValueError, "holds probability"),
])
def test_trunc_normal_params_refuses_what_trunc_normal_refuses(kwargs, exc, match):
    args = {"dtype": np.float32} | kwargs
    with pytest.raises(exc, match=match):
        fnb.trunc_normal_params(**args)
    if args["dtype"] in (np.float32, np.float16):  # the fill refuses the same arguments, with the same message
        fill_args = {k: v for k, v in args.items() if k != "dtype"}
        with pytest.raises(exc, match=match):
            fastinit.trunc_normal_(np.empty(4, args["dtype"]), **fill_args, seed=0, stream=0)


# ---- the docs/numba.md examples -------------------------------------------------------------

@njit(parallel=True)
def strided_uniform(out, key, low, high):
    """docs/numba.md: fill a non-contiguous 2-D view with the values uniform_ gives its parent."""
    rows, cols = out.shape
    for r in prange(rows):
        for c in range(cols):
            out[r, c] = fnb.uniform_f32(key, r * cols + c, low, high)


@njit
def dropout_mask(key, n, p):
    """docs/numba.md: keep element i iff fastinit's U(0, 1) value for i is >= p."""
    keep = np.empty(n, np.bool_)
    for i in range(n):
        keep[i] = fnb.uniform_f32(key, i, 0.0, 1.0) >= np.float32(p)
    return keep


def test_docs_examples():
    parent = np.empty((40, 2 * 33), np.float32)
    parent.view(np.uint8)[:] = POISON
    view = parent[:, ::2]  # a strided view: fastinit.uniform_ itself refuses it
    strided_uniform(view, fnb.key(0, "fc.weight"), -0.1, 0.1)
    expected = fastinit.uniform_(np.empty((40, 33), np.float32), -0.1, 0.1, seed=0, stream="fc.weight")
    assert np.array_equal(bits(view), bits(expected))
    assert (parent[:, 1::2].view(np.uint32) == np.uint32(0xCACACACA)).all()  # untouched
    u = fastinit.uniform_(np.empty(1000, np.float32), seed=3, stream="drop")
    assert np.array_equal(dropout_mask(fnb.key(3, "drop"), 1000, 0.1), u >= np.float32(0.1))


def test_a_cached_sampler_is_recompiled_when_the_kernels_it_inlines_change(tmp_path):
    # Numba invalidates a cached function when its own file changes, not when a function it
    # compiles in from another file does: fastinit.numba stamps its caches with the kernels'
    # sources, so an edited (or upgraded) fastinit/kernels/_numba.py never leaves a sampler
    # computing the old arithmetic.  A copy of the package, a sampler cached, the kernel edited.
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    src = Path(fastinit.__file__).parent
    shutil.copytree(src, tmp_path / "fastinit", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import fastinit.numba as f; assert f.__file__.startswith(%r); "
            "print(repr(float(f.normal_f32(f.key(3, 'w'), 5, 0.0, 1.0))))" % str(tmp_path))
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def draw():
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                             check=True)
        return float(out.stdout)

    before = draw()
    assert draw() == before and list((tmp_path / "cache").rglob("*.nbi"))  # cached, and read back
    kernels = tmp_path / "fastinit" / "kernels" / "_numba.py"
    text = kernels.read_text()
    assert text.count("    rs = r * sd\n") == 1
    kernels.write_text(text.replace("    rs = r * sd\n", "    rs = r * sd * f32(2.0)\n"))
    assert draw() == 2 * before
