"""The contract: element i depends only on (seed, stream, i, parameters, dtype).

Never on thread count, backend (C at every instruction set, Numba), chunking, or
whether the tensor is filled whole or as a shard; every element is written and no
byte outside ``out`` is touched.
"""

import numpy as np
import pytest

import fastinit
from fastinit._buffers import BFLOAT16

from .. import naive
from ..conftest import BACKENDS, DTYPES, FILLS, POISON, bits, each_c_isa, poisoned

SIZES = [0, 1, 3, 17, 63, 64, 65, 1023, 2**20 + 5]
# FILLS' truncated normal (mass 0.94) takes the inverse CDF; the float32 family's mixture (mass
# >= fastinit.kernels._numba.TRUNC_MIX_MASS, docs/streams.md) gets its own case: mass 0.964,
# 3.6% of the elements drawn again, and b = 2.2 not a float16/bfloat16 value (the clamp)
CASES = {**FILLS, "trunc_normal_mixture": (fastinit.trunc_normal_, dict(mean=0.1, std=1.0, a=-2.0, b=2.2))}


def fill(name, out, **kw):
    fn, params = CASES[name]
    return fn(out, **params, seed=kw.pop("seed", 42), stream=kw.pop("stream", "contract"), **kw)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", SIZES)
def test_threads_backends_and_guards(name, dtype, n):
    reference = None
    for backend in BACKENDS:
        for threads in (1, 2, 3, 4):
            whole, out = poisoned((n,), dtype)
            assert fill(name, out, backend=backend, threads=threads) is out
            guard = bits(whole)
            assert (whole[:64].view(np.uint8) == POISON).all() and (whole[64 + n:].view(np.uint8) == POISON).all(), \
                f"{backend} threads={threads} wrote outside out"
            poison = bits(np.frombuffer(bytes([POISON]) * dtype.itemsize, dtype))[0]
            assert not (guard[64:64 + n] == poison).any(), f"{backend} threads={threads} left elements unwritten"
            if reference is None:
                reference = bits(out).copy()
            else:
                assert np.array_equal(bits(out), reference), f"{backend} threads={threads} changed the bits"


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_c_instruction_set_gives_the_same_bits(name, dtype):
    outs = {isa: bits(fill(name, np.empty(4099, dtype), backend="c", threads=1)).copy() for isa in each_c_isa()}
    first = next(iter(outs.values()))
    for isa, b in outs.items():
        assert np.array_equal(b, first), f"C kernels at {isa} differ"


@pytest.mark.parametrize("side", [-1, 1], ids=["below", "above"])
def test_c_and_numba_take_the_mixture_from_the_same_mass(side):
    # [-z, z] with z 1e-6 (relative) below or above the z whose mass is TRUNC_MIX_MASS: float32
    # masses on the two sides of it, so both backends must make the same float32 comparison;
    # the mixture keeps normal_'s value wherever it lies inside, the inverse CDF almost nowhere
    from scipy.special import ndtri

    from fastinit import fills
    from fastinit.kernels import _numba as nb
    z = float(ndtri((1.0 + float(nb.TRUNC_MIX_MASS)) / 2.0)) * (1.0 + side * 1e-6)
    mass = np.float32(fills.trunc_normal_plan(0.0, 1.0, -z, z, "absolute", lambda: np.dtype(np.float32))[1][6])
    assert (mass >= nb.TRUNC_MIX_MASS) == (side > 0), mass
    for dtype in (np.dtype(np.float32), np.dtype(np.float16), BFLOAT16):
        x = fastinit.normal_(np.empty(4099, dtype), 0.0, 1.0, seed=1, stream="edge", threads=1)
        outs = [bits(fastinit.trunc_normal_(np.empty(4099, dtype), 0.0, 1.0, -z, z, seed=1, stream="edge",
                                            backend=backend, threads=1)) for backend in BACKENDS]
        for other in outs[1:]:
            assert np.array_equal(other, outs[0]), dtype
        inside = (x.astype(np.float64) > -z) & (x.astype(np.float64) < z)
        same = outs[0] == bits(x)
        if side > 0:
            assert same[inside].all() and inside.mean() > 0.9, dtype
        else:
            assert same.mean() < 0.05, dtype


@pytest.mark.parametrize("std, mean, denormals", [
    (2.0**-20, 0.0, False), (2.0**-20, 2.0**-100, False), (1.0, -3.0, False),  # no test per vector
    (2.0**-20 * (1 - 2.0**-24), 0.0, False), (2.0**-21, 1e-38, False),  # just outside: tested
    (1e-36, 0.0, True), (1e-37, 1e-38, True),  # float32 denormals the instruction would flush
    (2.0**124, 0.0, False), (2.0**124 * (1 + 2.0**-23), 1e30, False), (5.8e37, 0.0, False)])  # no NaN to 2^124
def test_bfloat16_normal_equals_the_numba_twin_at_the_edges_of_its_plan(std, mean, denormals):
    # the C kernels convert a bfloat16 normal with VCVTNE2PS2BF16 (which flushes denormals)
    # without a per-vector test where csrc/transforms.h's normal32_plan proves that no value
    # is a denormal, and without the portable rounding's NaN test where it proves that none is
    # a NaN (|std| <= 2^124); at and beyond the proof's bounds (5.8e37: near the largest std
    # that validation admits, |mean| + 5.77 std <= FLT_MAX) the bits are still the portable rounding's
    n = 1 << 16
    f32 = fastinit.normal_(np.empty(n, np.float32), mean, std, seed=5, stream="edge", backend="numba")
    tiny = (np.abs(f32) < np.float32(2.0**-126)) & (f32 != 0)
    assert tiny.any() == denormals
    want = bits(fastinit.normal_(np.empty(n, BFLOAT16), mean, std, seed=5, stream="edge", backend="numba"))
    for isa in each_c_isa():
        got = bits(fastinit.normal_(np.empty(n, BFLOAT16), mean, std, seed=5, stream="edge", backend="c", threads=1))
        assert np.array_equal(got, want), f"C kernels at {isa}"


SHAPES = [(1000,), (37, 53), (6, 7, 35), (3, 4, 5, 67)]


def shard_cases(shape, rng):
    """(offset, block shape) pairs at odd places: rows, columns, interior boxes, single elements."""
    nd = len(shape)
    cases = [((0,) * nd, shape), ((shape[0] - 1,) + (0,) * (nd - 1), (1,) + shape[1:])]
    for _ in range(6):
        lo = [int(rng.integers(0, s)) for s in shape]
        hi = [int(rng.integers(l + 1, s + 1)) for l, s in zip(lo, shape)]
        cases.append((tuple(lo), tuple(h - l for l, h in zip(lo, hi))))
    return cases


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shards_equal_the_block_of_the_whole(name, dtype, shape):
    whole = fill(name, np.empty(shape, dtype))
    rng = np.random.default_rng(hash((name, str(dtype), shape)) % 2**32)
    for backend in BACKENDS:
        for offset, block in shard_cases(shape, rng):
            guarded, out = poisoned(block, dtype)
            fill(name, out, global_shape=shape, offset=offset, backend=backend, threads=2)
            sl = tuple(slice(o, o + b) for o, b in zip(offset, block))
            assert np.array_equal(bits(out), bits(whole[sl])), f"shard at {offset} of {block} ({backend})"
            assert (guarded[:64].view(np.uint8) == POISON).all()
            assert (guarded[-64:].view(np.uint8) == POISON).all()


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_column_shard_of_many_rows(name, dtype):
    # a tensor-parallel column shard: about 300 rows of 37, 101, 64 or 33 elements in one kernel
    # call; the C kernels' mixture collects its rejected elements across rows and draws them
    # again every 2048 outputs, mid-row as well as at a row's end.  A step computes its second
    # group only if the row reaches it: rows of 33 end at its first element or just before
    shape = (300, 203)
    whole = fill(name, np.empty(shape, dtype))
    for offset, cols in (((3, 64), 37), ((0, 5), 101), ((1, 128), 64), ((2, 17), 33)):
        sl = (slice(offset[0], None), slice(offset[1], offset[1] + cols))
        want = bits(whole[sl])
        for backend in BACKENDS:
            for isa in each_c_isa() if backend == "c" else [backend]:
                for threads in (1, 2):
                    out = fill(name, np.empty((shape[0] - offset[0], cols), dtype), global_shape=shape,
                               offset=offset, backend=backend, threads=threads)
                    assert np.array_equal(bits(out), want), f"{cols} columns at {offset}, {isa}, threads={threads}"


def test_shard_of_a_large_tensor_at_a_far_offset():
    # a 70B-parameter-style index: element 2^36 + 7 onwards, as a 1-D slice of a 2-D tensor
    g = (2**20, 2**16 + 3)
    out = np.empty((2, 2**16 + 3), np.float32)
    fastinit.normal_(out, seed=7, stream="big", global_shape=g, offset=(2**20 - 2, 0))
    idx = np.arange((2**20 - 2) * g[1], 2**20 * g[1], dtype=np.uint64)
    ref = naive.normal(7, "big", idx, 0.0, 1.0, np.float32)
    np.testing.assert_allclose(out.reshape(-1), ref, rtol=0, atol=2e-5)


def test_multi_dim_shape_is_the_flat_tensor():
    a = fill("normal", np.empty((4, 5, 6, 7), np.float32))
    b = fill("normal", np.empty(4 * 5 * 6 * 7, np.float32))
    assert np.array_equal(bits(a).reshape(-1), bits(b))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_matches_the_naive_reference_exactly(backend, dtype):
    idx = np.arange(5000, dtype=np.uint64) + np.uint64(2**33 + 11)
    out = np.empty(5000, dtype)
    fastinit.uniform_(out, -0.5, 1.5, seed=3, stream=9, global_shape=(2**34,), offset=(2**33 + 11,),
                      backend=backend)
    assert np.array_equal(out, naive.uniform(3, 9, idx, -0.5, 1.5, np.dtype(dtype)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, atol", [(np.float32, 1e-5), (np.float64, 1e-13)])
def test_normal_and_trunc_normal_match_the_naive_reference(backend, dtype, atol):
    n = 20000
    idx = np.arange(n, dtype=np.uint64)
    out = fastinit.normal_(np.empty(n, dtype), 0.5, 2.0, seed=11, stream="x", backend=backend)
    np.testing.assert_allclose(out, naive.normal(11, "x", idx, 0.5, 2.0, np.dtype(dtype)), rtol=0, atol=2 * atol)
    # mass 0.73 (the inverse CDF) and 0.976 (float32: the mixture, which redraws 2.4% of the
    # elements from blocks 2^63 + b), at a far offset too (the counter's high words)
    far = 2**40 + 5
    for a, b in [(-1.0, 4.0), (-4.0, 5.0)]:
        for start in (0, far):
            out = fastinit.trunc_normal_(np.empty(n, dtype), 0.5, 2.0, a, b, seed=11, stream="x", backend=backend,
                                         global_shape=(2**41,), offset=(start,))
            expected = naive.trunc_normal(11, "x", idx + np.uint64(start), 0.5, 2.0, a, b, np.dtype(dtype))
            np.testing.assert_allclose(out, expected, rtol=0, atol=2 * atol)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_precision_is_float32_rounded_once(name, half):
    from fastinit._buffers import BFLOAT16
    dtype = BFLOAT16 if half == "bfloat16" else np.dtype(np.float16)
    f32 = fill(name, np.empty(100003, np.float32))
    h = fill(name, np.empty(100003, dtype))
    expected = f32.astype(dtype)
    fn, params = CASES[name]
    if "a" in params or name == "uniform":  # bounds clamp inward in the narrow dtype too
        lo, hi = (params["a"], params["b"]) if "a" in params else (params["low"], params["high"])
        assert float(h.min()) >= lo and float(h.max()) <= hi
        inside = (expected.astype(np.float64) >= lo) & (expected.astype(np.float64) <= hi)
        assert np.array_equal(bits(h)[inside], bits(expected)[inside])
    else:
        assert np.array_equal(bits(h), bits(expected))


def test_memmap_and_open_memmap_fill_in_place(tmp_path):
    from numpy.lib.format import open_memmap
    ref = fill("normal", np.empty((300, 70), np.float32))
    mm = open_memmap(tmp_path / "w.npy", mode="w+", dtype=np.float32, shape=(300, 70))
    fill("normal", mm)
    mm.flush()
    assert np.array_equal(bits(np.load(tmp_path / "w.npy")), bits(ref))
    raw = np.memmap(tmp_path / "w.bin", mode="w+", dtype=np.float32, shape=(300, 70))
    fill("normal", raw)
    assert np.array_equal(bits(np.asarray(raw)), bits(ref))


def test_seeds_and_streams_select_different_values():
    base = fill("uniform", np.empty(1000, np.float32))
    assert not np.array_equal(base, fill("uniform", np.empty(1000, np.float32), seed=43, stream=0))
    assert not np.array_equal(base, fill("uniform", np.empty(1000, np.float32), stream="other"))
    assert np.array_equal(fill("uniform", np.empty(1000, np.float32), stream=12),
                          fill("uniform", np.empty(1000, np.float32), stream=12))


# Run in a fresh interpreter: forking this pytest process is unsafe once another test has started
# threads fastinit does not own (JAX's and XLA's, through the Keras and JAX tests), whose locks a
# child inherits held.  The fresh interpreter imports only fastinit, starts fastinit's pool with a
# threaded fill, then forks: exactly the situation under test, whatever ran before in this process.
FORK_AFTER_POOL = """
import hashlib, multiprocessing, sys, threading, warnings
import numpy as np
import fastinit

warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)  # Python >= 3.12


def fill(threads):
    out = fastinit.normal_(np.empty(1 << 20, np.float32), 0.25, 2.0, seed=42, stream="contract", threads=threads)
    return hashlib.sha256(out.view(np.uint32).tobytes()).hexdigest()


def child():
    return fill(2)


if __name__ == "__main__":
    parent = fill(2)
    pool_threads = [t.name for t in threading.enumerate() if t.name.startswith("fastinit")]
    assert pool_threads, "the parent's fill started no pool thread"
    with multiprocessing.get_context("fork").Pool(1) as pool:
        forked = pool.apply_async(child).get(timeout=60)
    print(parent, forked, len(pool_threads))
"""


def test_fills_work_in_a_forked_child_after_the_pool_started(tmp_path):
    import hashlib
    import os
    import subprocess
    import sys

    script = tmp_path / "fork_after_pool.py"
    script.write_text(FORK_AFTER_POOL)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastinit.__file__)))  # this fastinit, not another
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    parent, forked, pool_threads = run.stdout.split()
    assert int(pool_threads) >= 1
    expected = hashlib.sha256(bits(fill("normal", np.empty(1 << 20, np.float32), threads=1)).tobytes()).hexdigest()
    assert parent == forked == expected


@pytest.mark.parametrize("bounds, a, b", [("std", -2.0, 2.0), ("absolute", -1.0, 1.0), ("absolute", 1.0, 3.0)])
def test_trunc_normal_at_zero_std_is_the_mean_clamped_into_the_bounds(bounds, a, b):
    out = fastinit.trunc_normal_(np.empty(1000, np.float32), 0.5, 0.0, a, b, bounds=bounds, seed=0, stream=0)
    assert (out == np.float32(min(max(0.5, a), b))).all()


def test_the_codes_have_one_meaning_in_c_numba_and_python():
    # distribution and format codes: csrc/fastinit.h's FI_* (read through cffi), the Numba
    # kernels' and the Python layer's (fastinit.kernels) must agree
    from fastinit import kernels
    from fastinit.kernels import _c
    from fastinit.kernels import _numba as nb
    for name in ("UNIFORM", "NORMAL", "TRUNCNORMAL", "F32", "F16", "BF16"):
        assert getattr(_c.lib, f"FI_{name}") == getattr(nb, name) == getattr(kernels, name), name
    assert (kernels.GROUP32, kernels.GROUP64) == (nb.G32, nb.G64)


def test_the_kernel_tables_are_the_same_numbers_in_c_and_numba():
    # csrc/fitables.h and csrc/philox.h are the C side of every constant the Numba twins copy
    # (fastinit/kernels/_numba.py): parse the C definitions and compare value for value
    import re
    from pathlib import Path

    from fastinit.kernels import _numba as nb
    csrc = Path(__file__).resolve().parents[2] / "csrc"
    tables = re.findall(r"static const (double|float) (\w+)\[(\d+)\] = \{([^}]*)\};", (csrc / "fitables.h").read_text())
    assert {name for _, name, _, _ in tables} == {"AS241_A", "AS241_B", "AS241_C_MID", "AS241_C_FAR", "AS241_D_MID",
                                                 "AS241_D_FAR", "NDTRI32_CENTRAL", "NDTRI32_TAIL_MID",
                                                 "NDTRI32_TAIL_FAR", "LOGT_INVC", "LOGT_LOGC", "LOGT_A"}
    for ctype, name, n, body in tables:
        c = np.array([float(v.strip().rstrip("f")) for v in body.split(",") if v.strip()])
        assert c.size == int(n), name
        # C parses "1.5f" straight to float; the kernels use every double table through F(),
        # decimal -> double -> float, as NumPy's float32(python float) does
        assert np.array_equal(np.float32(c), np.float32(getattr(nb, name))), name
        if ctype == "double" and not name.startswith(("NDTRI32", "LOGT")):  # float64 kernels use them as is
            assert np.array_equal(c, getattr(nb, name)), name
    philox = dict(re.findall(r"#define (PHILOX_[MW][01]) (0x[0-9A-F]+)u", (csrc / "philox.h").read_text()))
    assert {k: int(v, 16) for k, v in philox.items()} == {"PHILOX_M0": int(nb.M0), "PHILOX_M1": int(nb.M1),
                                                         "PHILOX_W0": int(nb.W0), "PHILOX_W1": int(nb.W1)}


def test_the_kernel_sizes_and_scalings_are_the_same_in_c_and_numba():
    # the C defines (wherever in csrc/ they live) against the Numba twins' and the Python layer's
    # constants: group sizes, the sparse pattern's batch shape, Box-Muller's angle scalings and
    # the uniforms' 2^-24 / 2^-53
    import re
    from pathlib import Path

    from fastinit import kernels
    from fastinit.kernels import _numba as nb
    text = "\n".join(p.read_text() for p in sorted((Path(__file__).resolve().parents[2] / "csrc").glob("*.[ch]")))
    defines = {}
    for name, value in re.findall(r"#define (G32|G64|UNITS|TILES) (\d+)\b", text):
        defines.setdefault(name, set()).add(int(value))
    assert defines == {"G32": {kernels.GROUP32}, "G64": {kernels.GROUP64}, "UNITS": {nb.UNITS}, "TILES": {nb.TILES}}
    angles = {float.fromhex(v) for v in re.findall(r"(0x1\.921f[0-9a-f]*p-\d+)", text)}
    assert angles == {float(nb.PI2_22), nb.PI2_51}
    scalings = {float.fromhex(v) for v in re.findall(r"\* (0x1p-\d+)f?\b", text)}
    assert {float(nb.TWO_M24), nb.TWO_M53} <= scalings
    # the truncated normal's mixture: from the same float32 mass, under the same internal code
    mix = dict(re.findall(r"#define (FI_TRUNC_MIX_MASS|FI_TRUNCMIX) ([0-9.]+)f?\b", text))
    assert np.float32(mix["FI_TRUNC_MIX_MASS"]) == nb.TRUNC_MIX_MASS and int(mix["FI_TRUNCMIX"]) == nb.TRUNCMIX


def test_the_c_and_numba_twins_carry_the_same_names():
    # grep finds a kernel's twin: every per-lane transform and driver of csrc/ (NAME(x) in the
    # templates) is a function of that name in fastinit/kernels/_numba.py
    import re
    from pathlib import Path

    from fastinit.kernels import _numba as nb
    text = "\n".join(p.read_text() for p in sorted((Path(__file__).resolve().parents[2] / "csrc").glob("*.[ch]")))
    c_names = set(re.findall(r"\bNAME\((\w+)\)", text))
    twins = {"uniform32", "uniform64", "boxmuller32", "boxmuller64", "truncnormal32", "truncnormal64", "join53",
             "group32", "group64", "fill32", "fill64", "pick32", "pick64", "logtf", "log", "cospf", "cosp",
             "sinpf", "sinp", "ndtrif", "ndtri_central", "ndtri_tail", "philox_lanes", "run32",
             "mix_values", "mix_store"}
    assert twins <= c_names, twins - c_names
    assert [n for n in sorted(twins) if not callable(getattr(nb, n, None))] == []
