"""Golden values: these pin docs/streams.md version 5.

The first 8 values and 4 values at a far offset (global element 2**40 + 3, filled as a
shard of a (2**41,) tensor) of every (distribution, dtype), for seed=2026,
stream="golden" and default parameters (uniform on [0, 1), normal N(0, 1), truncated
normal N(0, 1) on [-2, 2], and on [-1, 1]: the float32 family's two ways, the mixture and the
inverse CDF), stored as raw bit patterns (uint16 for float16/bfloat16,
uint32 for float32, uint64 for float64); and a BLAKE2b digest of the first 100003 values
of each, which catches a change in any of them (a last-bit change in an approximation can
miss twelve samples: version 2's FMA left the normal's twelve unchanged).

They were generated once with the C backend (fastinit 0.1.0) and pasted here; the truncated
normal's were regenerated before version 1 was first released, when its central region
moved to q = p - 1/2 for resolution near the mean, and the float32 truncated normal's for
version 2 (fused multiply-adds in the float32 approximations, CHANGELOG.md) and version 3
(the float32 inverse normal CDF by Giles' w = -log(4 p (1 - p)) and a table-driven log
instead of AS241), and the float32 normal's for version 4 (Box-Muller through the same table
log, cos fully in Horner form, r std computed once per pair; bfloat16's first 100003 values
came out unchanged), and the float32 family's truncated normal on [-2, 2] for version 5 (the
mixture: the normal's value where it lies inside [a, b]; its first 8 values are the normal's).
A change
here is a deliberate, announced stream change: bump the version in docs/streams.md, say so
in the changelog and regenerate these; never "fix" a failing golden by pasting new numbers
in silently.
"""

import functools
import hashlib

import numpy as np
import pytest

import fastinit
from fastinit import _rounding
from fastinit._buffers import BFLOAT16

from .. import naive
from ..conftest import BACKENDS, bits

SEED, STREAM = 2026, "golden"
FAR = 2**40 + 3  # past 2^32 groups: exercises the high counter word and the index arithmetic
GLOBAL = (2**41,)
FILL = {"uniform": fastinit.uniform_, "normal": fastinit.normal_, "trunc_normal": fastinit.trunc_normal_,
        "trunc_normal_narrow": functools.partial(fastinit.trunc_normal_, a=-1.0, b=1.0)}
DTYPE = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64), "float16": np.dtype(np.float16),
         "bfloat16": BFLOAT16}

# (distribution, dtype): ([first 8 elements], [elements FAR .. FAR + 3])
GOLDEN = {
    ("uniform", "float32"): (
        [0x3F182207, 0x3F7A8F95, 0x3EA003D8, 0x3F4D7718, 0x3EBF7B00, 0x3F54EB0A, 0x3E0967F4, 0x3F47D613],
        [0x3EDF916A, 0x3F024B14, 0x3F41B678, 0x3EA5AC90]),
    ("uniform", "float64"): (
        [0x3FEE888FF8930440, 0x3FEFCCE23D3F51F2, 0x3F6871738A003D00, 0x3FE51009A779AEE3,
         0x3FE1FCE57E4BF7B0, 0x3FABF94365A9D610, 0x3FE752C0B8444B3F, 0x3FE9CD0866D8FAC2],
        [0x3FEF016221EC54A5, 0x3FE6B364BB8BC6AD, 0x3FA56FBB3053E6B0, 0x3FEF49C8B68E75D8]),
    ("uniform", "float16"): (
        [0x38C1, 0x3BD4, 0x3500, 0x3A6C, 0x35FC, 0x3AA7, 0x304B, 0x3A3F],
        [0x36FD, 0x3812, 0x3A0E, 0x352D]),
    ("uniform", "bfloat16"): (
        [0x3F18, 0x3F7B, 0x3EA0, 0x3F4D, 0x3EBF, 0x3F55, 0x3E09, 0x3F48],
        [0x3EE0, 0x3F02, 0x3F42, 0x3EA6]),
    ("normal", "float32"): (
        [0x3F7A6C17, 0x3E540E9D, 0x3FC32FAB, 0xBEB92790, 0xBFA6055C, 0x3F1257E1, 0xBE87F510, 0x3E7991FC],
        [0x3F0F9057, 0x3F31076E, 0x3EC34F44, 0xBF594AA6]),
    ("normal", "float64"): (
        [0x3FCA931CDE86822B, 0xBFA1C6ACE7909FDE, 0xBFEB084248837A69, 0x3FED0C1B20372101,
         0xBFD558D3AD2DE14F, 0x3FB7220CA579A6A3, 0xBFD8D853CE9823BA, 0xBFBEF62806D8719F],
        [0xBFCF2E15AF541492, 0x3FD9768E4CF4B09B, 0xC0039285B4A44E65, 0x3FC58B179374E567]),
    ("normal", "float16"): (
        [0x3BD3, 0x32A0, 0x3E19, 0xB5C9, 0xBD30, 0x3893, 0xB440, 0x33CD],
        [0x387D, 0x3988, 0x361A, 0xBACA]),
    ("normal", "bfloat16"): (
        [0x3F7A, 0x3E54, 0x3FC3, 0xBEB9, 0xBFA6, 0x3F12, 0xBE88, 0x3E7A],
        [0x3F10, 0x3F31, 0x3EC3, 0xBF59]),
    ("trunc_normal", "float32"): (
        [0x3F7A6C17, 0x3E540E9D, 0x3FC32FAB, 0xBEB92790, 0xBFA6055C, 0x3F1257E1, 0xBE87F510, 0x3E7991FC],
        [0x3F0F9057, 0x3F31076E, 0x3EC34F44, 0xBF594AA6]),
    ("trunc_normal", "float64"): (
        [0x3FF809E70054F457, 0x3FFE670F37F5B36F, 0xBFFF32819C926EC8, 0x3FD8D5C18322B379,
         0x3FC3185D811F241C, 0xBFF70B3538FBFFB9, 0x3FE280B26946BC7D, 0x3FEA110322F0CBFE],
        [0x3FF9F31F828CD813, 0x3FE0C4D923127B2E, 0xBFF884AAB58A5F73, 0x3FFB4CC7B92EE013]),
    ("trunc_normal", "float16"): (
        [0x3BD3, 0x32A0, 0x3E19, 0xB5C9, 0xBD30, 0x3893, 0xB440, 0x33CD],
        [0x387D, 0x3988, 0x361A, 0xBACA]),
    ("trunc_normal", "bfloat16"): (
        [0x3F7A, 0x3E54, 0x3FC3, 0xBEB9, 0xBFA6, 0x3F12, 0xBE88, 0x3E7A],
        [0x3F10, 0x3F31, 0x3EC3, 0xBF59]),
    ("trunc_normal_narrow", "float32"): (
        [0x3E25E9AC, 0x3F711695, 0xBEA72D85, 0x3F0B1DCC, 0xBE5E8EC2, 0x3F1A2523, 0xBF2C7544, 0x3F0013F5],
        [0xBDDE6EE9, 0x3C7B2BB3, 0x3EE8AAEA, 0xBE9CFEF8]),
    ("trunc_normal_narrow", "float64"): (
        [0x3FEC19744FA33DC6, 0x3FEF710790973C6F, 0xBFEFBB5317864503, 0x3FD18B4EE1979344,
         0x3FBB43F618844513, 0xBFEB65A8DC2ABF29, 0x3FD9BDC7C9B9C199, 0x3FE19FA37E10A104],
        [0x3FED4E9ACF2480D2, 0x3FD7728CF7CA8139, 0xBFEC6B7A521C07B4, 0x3FEE0D1588DBD294]),
    ("trunc_normal_narrow", "float16"): (
        [0x312F, 0x3B89, 0xB539, 0x3859, 0xB2F4, 0x38D1, 0xB964, 0x3801],
        [0xAEF3, 0x23D9, 0x3745, 0xB4E8]),
    ("trunc_normal_narrow", "bfloat16"): (
        [0x3E26, 0x3F71, 0xBEA7, 0x3F0B, 0xBE5F, 0x3F1A, 0xBF2C, 0x3F00],
        [0xBDDE, 0x3C7B, 0x3EE9, 0xBE9D]),
}


# (distribution, dtype): BLAKE2b-128 of the bytes of the first DIGEST_N values
DIGEST_N = 100_003
DIGESTS = {
    ("uniform", "float32"): "57e6d565151fcff7e4bf1f7957f1b73d",
    ("uniform", "float64"): "c17f236197139e8bed66f91a20521b68",
    ("uniform", "float16"): "0c56a8f2e50f842b7fdcc7dff8596377",
    ("uniform", "bfloat16"): "5ca93a8b1196942786857cb173a6d272",
    ("normal", "float32"): "7bee3ccb0c4d31d9ec380cabe5e56b82",
    ("normal", "float64"): "8ac72303ab10c17642a17e88c1d7d74a",
    ("normal", "float16"): "4149b841204807a94ff074fa3b91651c",
    ("normal", "bfloat16"): "79f528d0910601139511db1d80eaef61",
    ("trunc_normal", "float32"): "2dd6e193afe6cf3dd2bedacec4d85a26",
    ("trunc_normal", "float64"): "d6f2faac9bab9931a322f151f4f8dac3",
    ("trunc_normal", "float16"): "168f5070ab3e9ce63dc07adef05448f7",
    ("trunc_normal", "bfloat16"): "e326f682c49f121ecc7195990ddff656",
    ("trunc_normal_narrow", "float32"): "5e1d28a1f1f4b03e973785c28f73ee93",
    ("trunc_normal_narrow", "float64"): "7ad9b1d9357dd97fd97cd148cf29632c",
    ("trunc_normal_narrow", "float16"): "47b564457832cc7c51212da31178069d",
    ("trunc_normal_narrow", "bfloat16"): "28e8fb77ba5d2667de366b17c5bec5e1",
}


def first(name, dtype, backend):
    return FILL[name](np.empty(8, DTYPE[dtype]), seed=SEED, stream=STREAM, backend=backend, threads=1)


def far(name, dtype, backend):
    return FILL[name](np.empty(4, DTYPE[dtype]), seed=SEED, stream=STREAM, global_shape=GLOBAL, offset=(FAR,),
                      backend=backend, threads=1)


def test_every_distribution_and_dtype_is_pinned():
    assert set(GOLDEN) == set(DIGESTS) == {(name, dtype) for name in FILL for dtype in DTYPE}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, dtype", list(DIGESTS))
def test_golden_digests(name, dtype, backend):
    a = FILL[name](np.empty(DIGEST_N, DTYPE[dtype]), seed=SEED, stream=STREAM, backend=backend)
    assert hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest() == DIGESTS[name, dtype], \
        f"{name} {dtype} ({backend}): the first {DIGEST_N} values changed: a stream change (docs/streams.md)"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, dtype", list(GOLDEN))
def test_golden_values(name, dtype, backend):
    head, tail = GOLDEN[name, dtype]
    assert [int(v) for v in bits(first(name, dtype, backend))] == head, \
        f"{name} {dtype} ({backend}): the first 8 values changed: a stream change (docs/streams.md)"
    assert [int(v) for v in bits(far(name, dtype, backend))] == tail, \
        f"{name} {dtype} ({backend}): values at index 2**40 + 3 changed: a stream change (docs/streams.md)"


def as_floats(pattern, dtype):
    width = {2: np.uint16, 4: np.uint32, 8: np.uint64}[DTYPE[dtype].itemsize]
    return np.array(pattern, width).view(DTYPE[dtype]).astype(np.float64)


IDX = np.concatenate([np.arange(8), FAR + np.arange(4)]).astype(np.uint64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_goldens_follow_the_documented_formula_exactly(dtype):
    # the pasted numbers are the layout of docs/streams.md, not just whatever the code did
    expected = naive.uniform(SEED, STREAM, IDX, 0.0, 1.0, DTYPE[dtype])
    np.testing.assert_array_equal(as_floats(sum(GOLDEN["uniform", dtype], []), dtype), expected)


@pytest.mark.parametrize("name, args", [("normal", (0.0, 1.0)), ("trunc_normal", (0.0, 1.0, -2.0, 2.0)),
                                        ("trunc_normal_narrow", (0.0, 1.0, -1.0, 1.0))])
@pytest.mark.parametrize("dtype, atol", [("float32", 1e-5), ("float64", 1e-13)])
def test_normal_goldens_follow_the_documented_formula(name, args, dtype, atol):
    # to within the approximations' accuracy (tests/kernels/test_math.py): naive uses libm and SciPy
    expected = getattr(naive, name.removesuffix("_narrow"))(SEED, STREAM, IDX, *args, DTYPE[dtype])
    np.testing.assert_allclose(as_floats(sum(GOLDEN[name, dtype], []), dtype), expected, rtol=0, atol=atol)


@pytest.mark.parametrize("name", FILL)
@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_goldens_are_the_float32_goldens_rounded(name, half):
    f32 = np.array(sum(GOLDEN[name, "float32"], []), np.uint32).view(np.float32)
    assert [int(v) for v in _rounding.f32_to_16(f32, DTYPE[half])] == sum(GOLDEN[name, half], [])


def test_the_promise_and_the_code_name_one_layout_version():
    # docs/streams.md's title, this module's docstring and fastinit.STREAM_LAYOUT (written into
    # every file's metadata) are the same number
    from pathlib import Path
    title = (Path(__file__).resolve().parents[2] / "docs" / "streams.md").read_text().splitlines()[0]
    assert title == f"# fastinit's stream layout (version {fastinit.STREAM_LAYOUT})"
    assert __doc__.startswith(f"Golden values: these pin docs/streams.md version {fastinit.STREAM_LAYOUT}.")
