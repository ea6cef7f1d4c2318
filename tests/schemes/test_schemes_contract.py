"""The contract, for every scheme in the registry: element i depends only on (seed, stream, i,
parameters, dtype).  Never on threads, backend or sharding; nothing outside ``out`` is
touched; bad input raises before a byte is written.

Every registered scheme must have a case below (test_every_registered_scheme_has_a_case), so
a scheme added to the registry is covered here automatically or fails loudly.
"""

import numpy as np
import pytest

from fastinit import schemes
from fastinit._buffers import BFLOAT16

from ..conftest import BACKENDS, POISON, bits, poisoned
from ..core.test_contract import shard_cases

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FAN = [(37, 54), (6, 8, 5, 7)]  # 2-D and 4-D: odd sizes, an even input axis for looks_linear
BIG = {2: (400, 660), 4: (40, 66, 10, 10), 1: (264_001,), 3: (66, 64, 63)}  # > 2 x 65536: threads split


# (case id, scheme, parameters, shapes)
CASES = [
    ("uniform", "uniform", dict(low=-0.5, high=1.5), FAN),
    ("normal", "normal", dict(mean=0.25, std=2.0), FAN),
    ("trunc_normal", "trunc_normal", dict(std=1.0, a=-1.5, b=2.5), FAN),
    ("constant", "constant", dict(value=0.25), FAN),
    ("zeros", "zeros", {}, FAN),
    ("ones", "ones", {}, FAN),
    ("variance_scaling", "variance_scaling", dict(scale=2.0, mode="fan_geo_avg"), FAN),
    ("variance_scaling[jax]", "variance_scaling", dict(distribution="uniform", layout="jax"), FAN),
    ("variance_scaling[axes]", "variance_scaling", dict(mode="fan_avg", distribution="normal", in_axis=(1, 3),
                                                         out_axis=0, batch_axis=2), [(6, 8, 5, 7)]),
    ("xavier_uniform", "xavier_uniform", dict(gain=1.5), FAN),
    ("xavier_normal", "xavier_normal", {}, FAN),
    ("kaiming_uniform", "kaiming_uniform", dict(a=0.2, mode="fan_out"), FAN),
    ("kaiming_normal", "kaiming_normal", dict(nonlinearity="relu"), FAN),
    ("glorot_uniform", "glorot_uniform", dict(layout="jax"), FAN),
    ("glorot_normal", "glorot_normal", {}, FAN),
    ("he_uniform", "he_uniform", {}, FAN),
    ("he_normal", "he_normal", dict(layout="jax"), FAN),
    ("lecun_uniform", "lecun_uniform", {}, FAN),
    ("lecun_normal", "lecun_normal", {}, FAN),
    ("selu_normal", "selu_normal", {}, FAN),
    ("simple_xavier_uniform", "simple_xavier_uniform", {}, FAN),
    ("random_walk_normal", "random_walk_normal", dict(nonlinearity="relu"), FAN),
    ("eye", "eye", {}, [(37, 54), (54, 37)]),
    ("identity", "identity", dict(gain=0.5), [(48, 12), (12, 48)]),
    ("dirac", "dirac", dict(groups=2), [(6, 8, 5, 7), (6, 4, 3)]),
    ("looks_linear", "looks_linear", dict(base="kaiming_uniform(a=0.1)"), FAN),
    ("looks_linear[jax]", "looks_linear", dict(base="he_normal", layout="jax"), [(54, 37), (5, 7, 8, 6)]),
    ("bias_uniform", "bias_uniform", dict(fan_in=300), [(1001,), (37, 54)]),
    ("lstm_forget_bias", "lstm_forget_bias", dict(value=1.5), [(4 * 37,)]),
    ("relu_bias", "relu_bias", {}, [(1001,)]),
    ("linear_default", "linear_default", {}, FAN),
    ("conv_default", "conv_default", {}, FAN),
    ("rnn_default", "rnn_default", dict(hidden_size=64), FAN),
    ("embedding_default", "embedding_default", {}, FAN),
    ("hf_normal", "hf_normal", dict(initializer_range=0.05), FAN),
    ("sparse", "sparse", dict(sparsity=0.5), [(37, 54)]),
    ("mup_normal", "mup_normal", dict(role="hidden", base_width=16), FAN),
    ("mup_normal[readout]", "mup_normal", dict(role="readout", base_width=16, std=0.02, distribution="uniform"), FAN),
]
CASES = [c for c in CASES if c[1] in schemes.REGISTRY]  # sparse only where its module imports
IDS = [c[0] for c in CASES]


def big(shape):
    """A shape of the same rank, large enough for the threads to split the work; an (n, k n)
    or (k n, n) shape stays one (identity_); a 1-D one stays a multiple of 4 (lstm gates)."""
    if len(shape) == 2 and max(shape) % min(shape) == 0:
        return (shape[0] * 40, shape[1] * 40)
    return (264_000,) if len(shape) == 1 else BIG[len(shape)]


def fill(name, params, out, **kw):
    kw.setdefault("seed", 2026)
    kw.setdefault("stream", "schemes.contract")
    return schemes.REGISTRY[name](out, **params, **kw)


def test_every_registered_scheme_has_a_case():
    assert {c[1] for c in CASES} == set(schemes.REGISTRY)


def is_poisoned(whole):
    return bool((np.ascontiguousarray(whole).view(np.uint8) == POISON).all())


@pytest.mark.parametrize("dtype", [F32, F64, F16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_threads_backends_and_guards(case, dtype):
    _, name, params, shapes = case
    shape = big(shapes[0])
    reference = None
    for backend in BACKENDS:
        for threads in (1, 2, 3):
            whole, out = poisoned(shape, dtype)
            assert fill(name, params, out, backend=backend, threads=threads) is out
            assert is_poisoned(whole[:64]) and is_poisoned(whole[-64:]), f"{backend} threads={threads} wrote outside"
            if reference is None:
                poison = bits(np.frombuffer(bytes([POISON]) * dtype.itemsize, dtype))[0]
                assert not (bits(out) == poison).any(), "elements left unwritten"
                reference = bits(out).copy()
            else:
                assert np.array_equal(bits(out), reference), f"{backend} threads={threads} changed the bits"


def _shards(case, dtype):
    _, name, params, shapes = case
    for shape in shapes:
        whole = fill(name, params, np.empty(shape, dtype))
        rng = np.random.default_rng(abs(hash((case[0], shape))) % 2**32)
        cases = shard_cases(shape, rng)
        if len(shape) >= 2:  # a column block inside each half, and one across the middle of the input axis
            cases += [((1, shape[1] // 2 + 1) + (0,) * (len(shape) - 2), (shape[0] - 2, 1) + shape[2:]),
                      ((0, shape[1] // 2 - 2) + (1,) * (len(shape) - 2),
                       (shape[0], 3) + tuple(s - 1 for s in shape[2:]))]
        yield name, params, shape, whole, cases


@pytest.mark.parametrize("dtype", [F32, F64, BFLOAT16], ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shards_equal_the_block_of_the_whole(case, dtype):
    for name, params, shape, whole, cases in _shards(case, dtype):
        for backend in BACKENDS:
            for offset, block in cases:
                guarded, out = poisoned(block, dtype)
                fill(name, params, out, global_shape=shape, offset=offset, backend=backend, threads=2)
                sl = tuple(slice(o, o + b) for o, b in zip(offset, block))
                assert np.array_equal(bits(out), bits(whole[sl])), f"{shape}: shard at {offset} of {block} ({backend})"
                assert is_poisoned(guarded[:64]) and is_poisoned(guarded[-64:])


SEED = r"seed must be in \[0, 2\*\*64\); got -1"
BAD_COMMON = [  # (keywords, exception, match): the core's own messages
    (dict(seed=-1), ValueError, SEED),
    (dict(seed=1.5), TypeError, r"seed must be an int in \[0, 2\*\*64\); got float 1.5"),
    (dict(stream=[1]), TypeError, r"stream must be an int in \[0, 2\*\*64\) or a str"),
    (dict(backend="cuda"), ValueError, r"backend must be one of \('c', 'numba'\) or None; got 'cuda'"),
    (dict(threads=0), ValueError, r"threads must be an int >= 1 or None \(all cores\); got 0"),
    (dict(offset=(0, 0)), ValueError, r"offset needs global_shape"),
    ("too small", ValueError, r"does not fit in global_shape"),
    ("wrong rank", ValueError, r"global_shape has \d+ dims but out has \d+"),
]


@pytest.mark.parametrize("bad, exc, match", BAD_COMMON, ids=[str(b[0]) for b in BAD_COMMON])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_common_keywords_leave_out_untouched(case, bad, exc, match):
    _, name, params, shapes = case
    shape = shapes[0]
    whole, out = poisoned(shape, F32)
    if bad == "too small":
        bad = dict(global_shape=tuple(s - 1 for s in shape), offset=(1,) * len(shape))
    elif bad == "wrong rank":
        bad = dict(global_shape=shape + (1,))
    elif "offset" in bad:
        bad = dict(offset=(0,) * len(shape))
    with pytest.raises(exc, match=match):
        fill(name, params, out, **bad)
    assert is_poisoned(whole)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_buffers_are_refused(case):
    _, name, params, shapes = case
    with pytest.raises(TypeError, match=r"out has dtype int32; expected one of float16, bfloat16"):
        fill(name, params, np.zeros(shapes[0], np.int32))
    ro = np.zeros(shapes[0], F32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        fill(name, params, ro)
    fortran = np.zeros(shapes[0], F32, order="F")
    if not fortran.flags.c_contiguous:
        with pytest.raises(ValueError, match="out is not C-contiguous"):
            fill(name, params, fortran)
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        fill(name, params, [[0.0] * 4] * 4)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_seed_and_stream_select_the_values(case):
    _, name, params, shapes = case
    a = bits(fill(name, params, np.empty(shapes[0], F32))).copy()
    for change in (dict(seed=2027), dict(stream="other")):
        b = bits(fill(name, params, np.empty(shapes[0], F32), **change))
        assert np.array_equal(a, b) != schemes.REGISTRY[name].random, change
    assert np.array_equal(a, bits(fill(name, params, np.empty(shapes[0], F32))))
