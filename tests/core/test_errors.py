"""Bad input: a TypeError or ValueError naming the argument, raised before a byte is written.

Every case runs on a poisoned buffer (conftest.poisoned: 0xCA bytes with guard elements on
both sides) and checks afterwards that not one byte changed: the fills validate the
buffer, the parameters, seed, stream, shard, backend and threads first, then write
(fastinit/fills.py).  Each ``match`` is the message text of the error as raised in
fills.py, _buffers.py, rng.py, _parallel.py or kernels/__init__.py, so a reworded or
unhelpful message fails here too.
"""

import re

import numpy as np
import pytest

import fastinit
from fastinit._buffers import BFLOAT16

from ..conftest import BACKENDS, DTYPES, FILLS, POISON, bits, poisoned

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)

# every public fill with valid arguments; the random ones also take seed/stream/shard/backend/threads
ALL = {**{name: (fn, params) for name, (fn, params) in FILLS.items()},
       "constant": (fastinit.constant_, dict(value=0.5)),
       "zeros": (fastinit.zeros_, {}),
       "ones": (fastinit.ones_, {})}
RANDOM = list(FILLS)
SHAPE = (3, 4)


def call(name, out, **overrides):
    fn, params = ALL[name]
    kw = dict(params)
    if name in FILLS:
        kw.update(seed=2026, stream="errors")
    kw.update(overrides)
    return fn(out, **kw)


def by_kwargs(cases):
    """pytest params (kwargs, exc, match), each named by its kwargs."""
    return [pytest.param(*case, id=", ".join(f"{k}={v!r}" for k, v in case[0].items())) for case in cases]


def is_poisoned(whole):
    return bool((np.ascontiguousarray(whole).view(np.uint8) == POISON).all())


def assert_refused(name, out, whole, exc, match, **overrides):
    with pytest.raises(exc, match=match):
        call(name, out, **overrides)
    assert is_poisoned(whole), f"{name} wrote into out before raising {exc.__name__}"


# ---- the buffer --------------------------------------------------------------------------

ACCEPTED = re.escape("expected one of float16, bfloat16 (ml_dtypes), float32, float64")
BAD_DTYPES = [np.int8, np.int32, np.int64, np.uint16, np.uint32, np.bool_, np.complex64, np.complex128,
              np.longdouble, ">f4", ">f8"]  # byte-swapped floats: the kernels write native order


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=lambda d: np.dtype(d).str)
def test_non_float_dtypes_are_refused(name, dtype):
    whole, out = poisoned(SHAPE, np.dtype(dtype))
    assert_refused(name, out, whole, TypeError, rf"out has dtype {re.escape(str(out.dtype))}; {ACCEPTED}")


@pytest.mark.parametrize("name", ALL)
def test_object_dtype_is_refused(name):
    sentinel = object()
    whole = np.full(3 * 64 + 12, sentinel, dtype=object)  # no bytes to poison: poison with one object
    out = whole[64:76].reshape(SHAPE)
    with pytest.raises(TypeError, match=rf"out has dtype object; {ACCEPTED}"):
        call(name, out)
    assert all(v is sentinel for v in whole)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", [[0.0] * 12, np.float32(0.0), 0.0], ids=["list", "np.float32", "float"])
def test_non_arrays_are_refused(name, value):
    before = list(value) if isinstance(value, list) else value
    with pytest.raises(TypeError, match=r"out must be a NumPy array \(ndarray, np.memmap, open_memmap\) or a CPU "
                                        r"torch tensor; "
                                        rf"got {type(value).__name__}"):
        call(name, value)
    if isinstance(value, list):
        assert value == before


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_read_only_arrays_are_refused(name, dtype):
    whole, out = poisoned(SHAPE, dtype)
    out.flags.writeable = False
    assert_refused(name, out, whole, ValueError,
                   re.escape("out is read-only (a memmap opened with mode 'r'?); expected a writable array"))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_memmaps_opened_read_only_are_refused(name, dtype, tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, bits(poisoned(SHAPE, dtype)[1]))  # .npy has no bfloat16: store the bits, view them
    mm = np.load(path, mmap_mode="r").view(dtype)
    assert isinstance(mm, np.memmap) and mm.dtype == dtype
    with pytest.raises(ValueError, match=re.escape("out is read-only (a memmap opened with mode 'r'?)")):
        call(name, mm)
    del mm
    assert is_poisoned(np.load(path))


def _views(base):
    return {"columns[:, ::2]": base[:, ::2], "transpose": base.T, "reversed[::-1]": base[::-1],
            "column[:, 1:2]": base[:, 1:2]}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("view", list(_views(np.empty(SHAPE))))
def test_non_contiguous_views_are_refused(name, dtype, view):
    whole, base = poisoned(SHAPE, dtype)
    out = _views(base)[view]
    assert not out.flags.c_contiguous
    assert_refused(name, out, whole, ValueError,
                   re.escape(f"out is not C-contiguous (strides {out.strides} for shape {out.shape}); "
                             f"fastinit writes in place, so pass a C-contiguous array"))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_misaligned_arrays_are_refused(name, dtype):
    raw = np.full(12 * dtype.itemsize + 1, POISON, np.uint8)
    out = raw[1:].view(dtype).reshape(SHAPE)  # one byte past an aligned start
    assert not out.flags.aligned
    assert_refused(name, out, raw, ValueError,
                   re.escape("out is not aligned to its dtype's size; expected an aligned array"))


# ---- the shard: global_shape and offset must contain out ----------------------------------

SHARD_CASES = [
    (dict(global_shape=(3, 5), offset=(0, 2)), ValueError,
     re.escape("out of shape (3, 4) at offset (0, 2) does not fit in global_shape (3, 5) (dim 1: 2 + 4 > 5)")),
    (dict(global_shape=(2, 4)), ValueError,
     re.escape("out of shape (3, 4) at offset (0, 0) does not fit in global_shape (2, 4) (dim 0: 0 + 3 > 2)")),
    (dict(global_shape=(12,)), ValueError,
     re.escape("global_shape has 1 dims but out has 2: expected a tuple of 2 ints")),
    (dict(global_shape=(3, 4, 1)), ValueError, "global_shape has 3 dims but out has 2"),
    (dict(global_shape=(10, 10), offset=(1,)), ValueError, "offset has 1 dims but out has 2"),
    (dict(global_shape=(10, 10), offset=(-1, 0)), ValueError, re.escape("offset must be a tuple of non-negative ints; got (-1, 0)")),
    (dict(global_shape=(3, -4)), ValueError, re.escape("global_shape must be a tuple of non-negative ints; got (3, -4)")),
    (dict(offset=(0, 0)), ValueError,
     re.escape("offset needs global_shape: pass global_shape= (the whole tensor's shape) too")),
    (dict(global_shape=(3.0, 4)), TypeError, re.escape("global_shape must be an int or a tuple of ints; got (3.0, 4)")),
    (dict(global_shape=(10, 10), offset=(0, True)), TypeError,
     re.escape("offset must be an int or a tuple of ints; got (0, True)")),
    (dict(global_shape=(10, 10), offset=(0, "1")), TypeError, "offset must be an int or a tuple of ints"),
    (dict(global_shape=12.5), TypeError, "global_shape must be an int or a tuple of ints; got float"),
    (dict(global_shape="34"), TypeError, "global_shape must be an int or a tuple of ints; got '34'"),
    (dict(global_shape=(2**32, 2**31)), ValueError,
     re.escape("global_shape (4294967296, 2147483648) has 2**63 or more elements")),
]


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("kwargs, exc, match", by_kwargs(SHARD_CASES))
def test_bad_shards_are_refused(name, kwargs, exc, match):
    whole, out = poisoned(SHAPE, F32)
    assert_refused(name, out, whole, exc, match, **kwargs)


# ---- seed, stream, backend, threads -------------------------------------------------------

U64 = re.escape("[0, 2**64)")
KEY_CASES = [
    (dict(seed=-1), ValueError, rf"seed must be in {U64}; got -1"),
    (dict(seed=2**64), ValueError, rf"seed must be in {U64}; got 18446744073709551616"),
    (dict(seed=np.int64(-5)), ValueError, rf"seed must be in {U64}; got -5"),
    (dict(seed=1.0), TypeError, rf"seed must be an int in {U64}; got float 1.0"),
    (dict(seed=None), TypeError, rf"seed must be an int in {U64}; got NoneType None"),
    (dict(seed=True), TypeError, rf"seed must be an int in {U64}; got bool True"),
    (dict(seed="1"), TypeError, rf"seed must be an int in {U64}; got str '1'"),
    (dict(stream=-1), ValueError, rf"stream must be in {U64}; got -1"),
    (dict(stream=2**64), ValueError, rf"stream must be in {U64}; got 18446744073709551616"),
    (dict(stream=1.5), TypeError, rf"stream must be an int in {U64} or a str \(a tensor name\); got float 1.5"),
    (dict(stream=None), TypeError, r"stream= is required with seed=: name the tensor"),
    (dict(stream=True), TypeError, rf"stream must be an int in {U64} or a str \(a tensor name\); got bool"),
    (dict(stream=b"w"), TypeError, rf"stream must be an int in {U64} or a str \(a tensor name\); got bytes"),
    (dict(backend="cuda"), ValueError, re.escape("backend must be one of ('c', 'numba') or None; got 'cuda'")),
    (dict(backend="C"), ValueError, re.escape("backend must be one of ('c', 'numba') or None; got 'C'")),
    (dict(backend=0), TypeError, re.escape("backend must be one of ('c', 'numba') or None; got int 0")),
    # a wrong type is a TypeError, a wrong value a ValueError, as for seed and stream
    (dict(threads=0), ValueError, re.escape("threads must be an int >= 1 or None (all cores); got 0")),
    (dict(threads=-2), ValueError, re.escape("threads must be an int >= 1 or None (all cores); got -2")),
    (dict(threads=1.5), TypeError, re.escape("threads must be an int >= 1 or None (all cores); got float 1.5")),
    (dict(threads=True), TypeError, re.escape("threads must be an int >= 1 or None (all cores); got bool True")),
    (dict(threads="2"), TypeError, re.escape("threads must be an int >= 1 or None (all cores); got str '2'")),
]


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("kwargs, exc, match", by_kwargs(KEY_CASES))
def test_bad_seeds_streams_backends_and_threads_are_refused(name, kwargs, exc, match):
    whole, out = poisoned(SHAPE, F32)
    assert_refused(name, out, whole, exc, match, **kwargs)


@pytest.mark.parametrize("name", RANDOM)
def test_there_is_no_default_seed(name):
    whole, out = poisoned(SHAPE, F32)
    fn, params = FILLS[name]
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'seed'"):
        fn(out, **params)
    assert is_poisoned(whole)


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("kwargs", [dict(seed=0), dict(seed=2**64 - 1), dict(seed=np.uint64(2**64 - 1)),
                                    dict(stream=0), dict(stream=2**64 - 1), dict(stream=""), dict(stream="é.weight"),
                                    dict(threads=1), dict(threads=np.int64(3)), dict(threads=None),
                                    dict(backend=None), *[dict(backend=b) for b in BACKENDS]], ids=repr)
def test_the_edges_of_the_accepted_ranges_are_accepted(name, kwargs):
    whole, out = poisoned(SHAPE, F32)
    assert call(name, out, **kwargs) is out
    assert not (bits(out) == bits(np.frombuffer(bytes([POISON]) * 4, F32))).any()
    assert is_poisoned(whole[:64]) and is_poisoned(whole[-64:])


# ---- scheme parameters -------------------------------------------------------------------

def _outside(name, value, dtype):
    top = {F16: "65504.0", BFLOAT16: "3.3895313892515355e+38", F32: "3.4028234663852886e+38"}[dtype]
    return re.escape(f"{name}={value} is outside the range of {dtype} (|x| <= {top})")


PARAM_CASES = [
    # uniform
    ("uniform", F32, dict(low=2.0, high=1.0), ValueError, re.escape("low must be <= high; got low=2.0, high=1.0")),
    ("uniform", F32, dict(low="0"), TypeError, "low must be a real number; got str '0'"),
    ("uniform", F32, dict(high=True), TypeError, "high must be a real number; got bool True"),
    ("uniform", F32, dict(low=1j), TypeError, "low must be a real number; got complex 1j"),
    ("uniform", F32, dict(high=None), TypeError, "high must be a real number; got NoneType None"),
    ("uniform", F16, dict(low=-1e6), ValueError, _outside("low", -1e6, F16)),
    ("uniform", F16, dict(high=65520.0), ValueError, _outside("high", 65520.0, F16)),
    ("uniform", BFLOAT16, dict(high=1e39), ValueError, _outside("high", 1e39, BFLOAT16)),
    ("uniform", F16, dict(low=1.0001, high=1.0002), ValueError,
     re.escape("no float16 value lies in [1.0001, 1.0002]: widen the interval")),
    # normal
    ("normal", F32, dict(std=-1.0), ValueError, "std must be >= 0; got -1.0"),
    ("normal", F32, dict(mean="0"), TypeError, "mean must be a real number; got str '0'"),
    ("normal", F32, dict(std=None), TypeError, "std must be a real number; got NoneType None"),
    ("normal", F16, dict(std=1e5), ValueError, _outside("std", 1e5, F16)),
    ("normal", F16, dict(mean=-7e4), ValueError, _outside("mean", -7e4, F16)),
    ("normal", BFLOAT16, dict(mean=-1e39), ValueError, _outside("mean", -1e39, BFLOAT16)),
    # truncated normal
    ("trunc_normal", F32, dict(std=-1.0), ValueError, "std must be >= 0; got -1.0"),
    ("trunc_normal", F32, dict(a=1.0, b=1.0), ValueError, re.escape("a must be < b; got a=1.0, b=1.0")),
    ("trunc_normal", F32, dict(a=2.0, b=-2.0), ValueError, re.escape("a must be < b; got a=2.0, b=-2.0")),
    ("trunc_normal", F32, dict(a=2.0, b=-2.0, bounds="std"), ValueError, re.escape("a must be < b; got a=2.0, b=-2.0")),
    ("trunc_normal", F32, dict(a=None), TypeError, "a must be a real number; got NoneType None"),
    ("trunc_normal", F32, dict(bounds="sigma"), ValueError, "bounds must be 'absolute' or 'std'; got 'sigma'"),
    ("trunc_normal", F32, dict(bounds=None), ValueError, "bounds must be 'absolute' or 'std'; got None"),
    ("trunc_normal", F16, dict(a=-1e6), ValueError, _outside("a", -1e6, F16)),
    # trunc_normal's mean and std only need the compute type: [a, b] bounds the output
    ("trunc_normal", BFLOAT16, dict(std=1e39), ValueError, _outside("std", 1e39, np.dtype(np.float32))),
    ("trunc_normal", F32, dict(mean=0.0, std=1.0, a=40.0, b=41.0), ValueError,
     re.escape("[a, b] = [40.0, 41.0] holds probability 0 under N(0.0, 1.0^2); fastinit needs at least 1e-30 "
               "for float32 (the interval lies too far into one tail)")),
    ("trunc_normal", F64, dict(mean=0.0, std=1.0, a=40.0, b=41.0), ValueError,
     re.escape("holds probability 0 under N(0.0, 1.0^2); fastinit needs at least 1e-290 for float64")),
    ("trunc_normal", BFLOAT16, dict(mean=0.0, std=1.0, a=-41.0, b=-40.0), ValueError,
     re.escape("fastinit needs at least 1e-30 for bfloat16")),
    # 1.8e-33: enough for float64 (test_stats checks that it is accepted there), not for float32
    ("trunc_normal", F32, dict(mean=0.0, std=1.0, a=-13.0, b=-12.0), ValueError,
     re.escape("[a, b] = [-13.0, -12.0] holds probability 1.78e-33 under N(0.0, 1.0^2)")),
    # constant
    ("constant", F32, dict(value="1"), TypeError, "value must be a real number; got str '1'"),
    ("constant", F32, dict(value=False), TypeError, "value must be a real number; got bool False"),
    ("constant", F16, dict(value=1e6), ValueError, _outside("value", 1e6, F16)),
    ("constant", BFLOAT16, dict(value=-1e39), ValueError, _outside("value", -1e39, BFLOAT16)),
]


@pytest.mark.parametrize("name, dtype, kwargs, exc, match",
                         [pytest.param(*case, id=f"{case[0]}-{case[1]}-{case[2]}") for case in PARAM_CASES])
def test_bad_parameters_are_refused(name, dtype, kwargs, exc, match):
    whole, out = poisoned(SHAPE, dtype)
    assert_refused(name, out, whole, exc, match, **kwargs)


FLOAT_PARAMS = [(name, param) for name, (_, params) in ALL.items() for param in params]


@pytest.mark.parametrize("name, param", [pytest.param(*case, id="-".join(case)) for case in FLOAT_PARAMS])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float32("nan"), np.float64("-inf")],
                         ids=lambda v: f"{type(v).__name__}({v})")
def test_nan_and_inf_in_any_float_parameter_are_refused(name, param, dtype, value):
    whole, out = poisoned(SHAPE, dtype)
    assert_refused(name, out, whole, ValueError, rf"{param} must be finite; got {float(value)}", **{param: value})


def test_every_float_parameter_is_covered():
    assert {param for _, param in FLOAT_PARAMS} == {"low", "high", "mean", "std", "a", "b", "value"}


# high - low must be finite in the compute type (float32 for float16/bfloat16/float32)
OVERFLOW = [
    pytest.param(F32, "float32", id="float32"),
    pytest.param(BFLOAT16, "float32", id="bfloat16"),
    pytest.param(F64, "float64", id="float64"),
]


@pytest.mark.parametrize("dtype, compute", OVERFLOW)
def test_uniform_range_overflowing_the_compute_type_is_refused(dtype, compute):
    whole, out = poisoned(SHAPE, dtype)
    if compute == "float32":
        low, high = -3e38, 3e38
        match = re.escape(f"high - low = 6e+38 overflows float32, fastinit's compute type for {dtype}")
    else:
        low, high = -1.5e308, 1.5e308
        match = re.escape("high - low = inf overflows float64, fastinit's compute type for float64")
    with pytest.raises(ValueError, match=match):
        fastinit.uniform_(out, low, high, seed=1, stream=0)
    assert is_poisoned(whole)


def test_uniform_range_overflow_raises_only_the_value_error():
    whole, out = poisoned(SHAPE, F32)
    with pytest.raises(ValueError, match="overflows float32"):
        fastinit.uniform_(out, -3e38, 3e38, seed=1, stream=0)
    assert is_poisoned(whole)


# ---- 0-d and empty arrays ----------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_a_0d_array_is_filled(name, dtype):
    whole, out = poisoned((), dtype)
    assert call(name, out) is out
    assert not is_poisoned(out)
    assert is_poisoned(whole[:64]) and is_poisoned(whole[65:])
    one = call(name, np.empty(1, dtype))  # a 0-d tensor is element 0, like a 1-element one
    assert bits(out.reshape(1)).tolist() == bits(one).tolist()
    shard = np.empty((), dtype)
    call(name, shard, **(dict(global_shape=(), offset=()) if name in FILLS else {}))
    assert bits(shard.reshape(1)).tolist() == bits(one).tolist()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5, 2)], ids=str)
def test_an_empty_array_is_accepted_and_nothing_is_written(name, dtype, shape):
    whole, out = poisoned(shape, dtype)
    assert call(name, out) is out
    assert is_poisoned(whole)


EMPTY_CASES = [
    (dict(seed=-1), ValueError, "seed must be in"),
    (dict(seed=None), TypeError, "seed must be an int"),
    (dict(stream=2**64), ValueError, "stream must be in"),
    (dict(threads=0), ValueError, "threads must be an int >= 1"),
    (dict(backend="cuda"), ValueError, "backend must be one of"),
    (dict(global_shape=(0,), offset=(1,)), ValueError, "does not fit in global_shape"),
    (dict(global_shape=(1, 1)), ValueError, "global_shape has 2 dims but out has 1"),
    (dict(offset=(0,)), ValueError, "offset needs global_shape"),
]


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("kwargs, exc, match", by_kwargs(EMPTY_CASES))
def test_an_empty_array_is_still_validated(name, kwargs, exc, match):
    whole, out = poisoned((0,), F32)
    assert_refused(name, out, whole, exc, match, **kwargs)


@pytest.mark.parametrize("name", ALL)
def test_an_empty_array_still_needs_a_valid_buffer(name):
    with pytest.raises(TypeError, match=rf"out has dtype int32; {ACCEPTED}"):
        call(name, np.empty(0, np.int32))
    ro = np.empty(0, F32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=re.escape("out is read-only")):
        call(name, ro)


@pytest.mark.parametrize("kwargs, match", [(dict(low=1.0, high=0.0), "low must be <= high"),
                                           (dict(low=float("nan")), "low must be finite")])
def test_an_empty_array_still_needs_valid_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastinit.uniform_(np.empty(0, F32), **kwargs, seed=1, stream=0)
