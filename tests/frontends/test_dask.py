"""fastinit.dask: lazy Dask arrays whose chunks are filled by the shard path.

The contract under test: for any chunking (regular, irregular, one chunk), scheduler (threads,
a distributed cluster of worker processes) and any part computed alone, the bits are those of
the single-machine NumPy fill; nothing but the requested chunks is filled; bad arguments raise
when the array is created.
"""

import itertools
import logging
import resource
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastinit
import fastinit.dask as fdask
from fastinit import schemes

from ..conftest import DTYPES, bits

# shape and parameters of each registry scheme under test, where the default ((40, 36), {}) does not fit
CASES = {
    "constant": ((40, 36), {"value": 0.375}),
    "dirac": ((12, 6, 3, 5), {"groups": 2}),
    "identity": ((48, 12), {"gain": 0.5}),
    "bias_uniform": ((70,), {"fan_in": 9}),
    "lstm_forget_bias": ((64,), {"value": 2.0}),
    "relu_bias": ((70,), {}),
    "rnn_default": ((40, 36), {"hidden_size": 10}),
    "sparse": ((40, 36), {"sparsity": 0.3}),
    "looks_linear": ((40, 36), {"base": "kaiming_uniform(a=2.236)"}),
    "kaiming_normal": ((40, 36, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
    "trunc_normal": ((40, 36), {"std": 0.5, "a": -0.3, "b": 0.9}),
    "mup_normal": ((40, 36), {"role": "readout", "base_width": 12}),
}
SEED, STREAM = 2**64 - 5, "model.layers.0.mlp.up_proj.weight"


def irregular(shape, seed=0):
    """Explicit, uneven chunks: each dim cut at random places (pieces of 1 element included)."""
    rng = np.random.default_rng(seed)
    out = []
    for n in shape:
        cuts = sorted(set(rng.integers(1, n, size=min(n - 1, 4)).tolist())) if n > 1 else []
        edges = [0] + cuts + [n]
        out.append(tuple(b - a for a, b in itertools.pairwise(edges)))
    return tuple(out)


def chunkings(shape):
    """Regular chunks that cut inside the 64-element groups, irregular ones, and one chunk."""
    return [tuple(max(1, n // 3 - 1) for n in shape), irregular(shape), -1]


def reference(fn, shape, dtype, **kw):
    return fn(np.empty(shape, dtype), **kw)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(schemes.REGISTRY))
def test_registry_scheme_bits_equal_numpy_fill(name, dtype):
    scheme = schemes.REGISTRY[name]
    shape, params = CASES.get(name, ((40, 36), {}))
    expected = reference(scheme.fn, shape, dtype, **params, seed=SEED, stream=STREAM)
    front_end = getattr(fdask, name)
    for chunks in chunkings(shape):
        x = front_end(shape, chunks, dtype, **params, seed=SEED, stream=STREAM)
        assert x.dtype == dtype and x.shape == shape
        got = x.compute(scheduler="threads")
        assert got.dtype == dtype
        np.testing.assert_array_equal(bits(got), bits(expected), err_msg=f"{name} chunks={chunks}")


def test_every_registry_scheme_has_a_front_end():
    assert set(fdask.__all__) == {"from_scheme"} | set(schemes.REGISTRY)
    for name, scheme in schemes.REGISTRY.items():
        fn = getattr(fdask, name)
        assert fn.__name__ == name and f"fastinit.schemes.{name}_" in fn.__doc__
        assert scheme.summary in fn.__doc__
        assert list(fn.__signature__.parameters)[:3] == ["shape", "chunks", "dtype"]
        assert set(scheme.params) < set(fn.__signature__.parameters)


CORE = [
    (fdask.uniform, fastinit.uniform_, {"low": -0.5, "high": 1.5}),
    (fdask.normal, fastinit.normal_, {"mean": 0.25, "std": 2.0}),
    (fdask.trunc_normal, fastinit.trunc_normal_, {"mean": 0.1, "std": 1.0, "a": -1.5, "b": 2.5}),
    (fdask.trunc_normal, fastinit.trunc_normal_, {"std": 0.02, "a": -2, "b": 2, "bounds": "std"}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("front_end, fill, params", CORE, ids=["uniform", "normal", "trunc_normal", "trunc_std"])
@pytest.mark.parametrize("shape, chunk_list", [
    ((10_000,), [37, 4096, ((1, 63, 64, 5000, 4872),), "auto"]),
    ((5, 33, 70), [(2, 10, 64), (5, 33, 1), ((1, 4), (32, 1), (3, 64, 3)), -1]),
    ((), [(), -1]),
    ((0, 7), [(1, 3)]),
])
def test_core_fill_bits_for_any_chunking(front_end, fill, params, shape, chunk_list, dtype):
    expected = reference(fill, shape, dtype, **params, seed=SEED, stream=STREAM)
    for chunks in chunk_list:
        got = front_end(shape, chunks, dtype, **params, seed=SEED, stream=STREAM).compute(scheduler="threads")
        np.testing.assert_array_equal(bits(got), bits(expected), err_msg=f"chunks={chunks}")


def test_threads_backend_and_scheduler_do_not_change_bits():
    shape = (257, 300)
    expected = bits(reference(fastinit.normal_, shape, np.float32, std=0.02, seed=0, stream="w"))
    for threads in (1, 2, None):
        x = fdask.normal(shape, (64, 100), std=0.02, seed=0, stream="w", threads=threads)
        for scheduler in ("threads", "sync"):
            np.testing.assert_array_equal(bits(x.compute(scheduler=scheduler)), expected)
    x = fdask.normal(shape, (64, 100), std=0.02, seed=0, stream="w", backend="c")
    np.testing.assert_array_equal(bits(x.compute(scheduler="threads")), expected)


def test_from_scheme_takes_names_specs_schemes_and_callables():
    shape, chunks = (64, 48), (30, 20)
    expected = bits(reference(fastinit.kaiming_uniform_, shape, np.float32, a=2.236, mode="fan_out",
                              seed=1, stream="fc.weight"))
    for scheme, params in [("kaiming_uniform", {"a": 2.236, "mode": "fan_out"}),
                           ("kaiming_uniform_(a=2.236)", {"mode": "fan_out"}),
                           ("kaiming_uniform(a=2.236, mode='fan_out')", {}),
                           (schemes.REGISTRY["kaiming_uniform"], {"a": 2.236, "mode": "fan_out"}),
                           (fastinit.kaiming_uniform_, {"a": 2.236, "mode": "fan_out"})]:
        x = fdask.from_scheme(scheme, shape, chunks, seed=1, stream="fc.weight", **params)
        np.testing.assert_array_equal(bits(x.compute(scheduler="threads")), expected, err_msg=repr(scheme))
    # a spec and its keywords give the same graph as the named front end
    a = fdask.from_scheme("kaiming_uniform(a=2.236)", shape, chunks, seed=1, stream="s", mode="fan_out")
    b = fdask.kaiming_uniform(shape, chunks, a=2.236, mode="fan_out", seed=1, stream="s")
    assert a.name == b.name


def test_names_are_deterministic_and_cover_every_argument():
    def make(**kw):
        args = {"shape": (100, 80), "chunks": (50, 40), "dtype": "float32", "std": 0.5, "seed": 0, "stream": "w"}
        args.update(kw)
        return fdask.normal(**args)

    x = make()
    assert x.name == make().name and x.name.startswith(f"fastinit-normal-v{fastinit.STREAM_LAYOUT}-")
    assert list(x.__dask_graph__()) == list(make().__dask_graph__())
    assert len(x.__dask_graph__()) == 4  # one task per chunk, nothing else
    others = [make(shape=(100, 81)), make(chunks=(25, 40)), make(dtype="float64"), make(std=0.25), make(seed=1),
              make(stream="v"), make(threads=None)]
    assert len({x.name} | {o.name for o in others}) == 1 + len(others)


def test_whole_tensor_scheme_needs_one_chunk():
    pytest.importorskip("scipy.linalg")
    with pytest.raises(ValueError, match=r"orthogonal_ cannot be filled chunk by chunk.*chunks=-1"):
        fdask.from_scheme(fastinit.orthogonal_, (64, 32), chunks=(32, 32), seed=0, stream=0)
    x = fdask.from_scheme(fastinit.orthogonal_, (64, 32), chunks=-1, gain=2.0, seed=0, stream="q")
    expected = fastinit.orthogonal_(np.empty((64, 32), np.float32), gain=2.0, seed=0, stream="q", threads=1)
    np.testing.assert_array_equal(bits(x.compute(scheduler="threads")), bits(expected))
    with pytest.raises(ValueError, match="layout must be 'torch' or 'jax'"):
        fdask.from_scheme(fastinit.orthogonal_, (64, 32), chunks=-1, layout="hwio", seed=0, stream=0)


# --------------------------------------------------------------------------------------------
# large arrays: nothing but the requested chunks is ever filled

BIG = (1 << 15, 1 << 15)     # 2^30 float32 elements: 4 GiB
BIG_CHUNKS = (4096, 8192)    # 128 MiB chunks, 8 x 4 of them


def test_multi_gb_array_computes_only_the_chunk_asked_for():
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    x = fdask.normal(BIG, BIG_CHUNKS, std=0.02, seed=7, stream="model.embed_tokens.weight")
    assert x.nbytes == 4 << 30 and x.numblocks == (8, 4)
    last = x.blocks[-1, -1].compute(scheduler="threads")
    offset = (BIG[0] - BIG_CHUNKS[0], BIG[1] - BIG_CHUNKS[1])
    expected = fastinit.normal_(np.empty(BIG_CHUNKS, np.float32), std=0.02, seed=7, stream="model.embed_tokens.weight",
                                global_shape=BIG, offset=offset)
    assert np.array_equal(bits(last), bits(expected))  # (assert_array_equal takes 0.8 s on 2^25 elements)
    corner = x[-3:, -5:].compute(scheduler="threads")  # a slice: only the chunk holding it is filled
    np.testing.assert_array_equal(bits(corner), bits(expected[-3:, -5:]))
    del last, expected
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert grown < (1 << 30), f"peak RSS grew by {grown / 2**30:.2f} GiB for a 128 MiB chunk"


def test_culling_fills_only_the_needed_chunks():
    filled = []

    def counting_normal(out, **kw):  # a callable scheme that records which blocks it fills
        filled.append((out.shape, kw["offset"]))
        return fastinit.normal_(out, **kw)

    x = fdask.from_scheme(counting_normal, BIG, BIG_CHUNKS, seed=7, stream="big")
    assert filled == [((0, 0), (0, 0))]  # creating it only validates, on an empty block
    assert len(x.__dask_graph__()) == 32  # one task per chunk
    filled.clear()
    x.blocks[-1, -1].compute(scheduler="threads")
    assert filled == [(BIG_CHUNKS, (BIG[0] - BIG_CHUNKS[0], BIG[1] - BIG_CHUNKS[1]))]
    filled.clear()
    x[5000:5001, 9000:9002].compute(scheduler="threads")
    assert filled == [(BIG_CHUNKS, (4096, 8192))]


def test_to_zarr_writes_the_bits_chunk_by_chunk(tmp_path):
    zarr = pytest.importorskip("zarr")
    shape, chunks = (4096, 3072), (1024, 1024)  # 48 MiB of float32 in 12 chunks
    x = fdask.kaiming_normal(shape, chunks, seed=3, stream="layers.0.weight")
    path = str(tmp_path / "w.zarr")
    x.to_zarr(path)
    z = zarr.open_array(path, mode="r")
    assert z.shape == shape and z.chunks == chunks and z.dtype == np.float32
    expected = reference(fastinit.kaiming_normal_, shape, np.float32, seed=3, stream="layers.0.weight")
    np.testing.assert_array_equal(bits(z[...]), bits(expected))
    # bfloat16 has no Zarr data type: its raw bits go in as uint16 (docs/distributed.md)
    y = fdask.normal((300, 200), (128, 128), "bfloat16", std=0.02, seed=3, stream="b")
    y.view(np.uint16).to_zarr(str(tmp_path / "b.zarr"))
    expected = reference(fastinit.normal_, (300, 200), DTYPES[3], std=0.02, seed=3, stream="b")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "b.zarr"), mode="r")[...], bits(expected))


# --------------------------------------------------------------------------------------------
# a distributed cluster of worker processes


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    # Warnings are errors here, so the cluster is set up not to warn rather than filtered: distributed
    # warns when the dashboard's default port 8787 is taken (so: any free port, ":0") and when it cannot
    # find this host's IP address (so: host="127.0.0.1").  silence_logs keeps the workers' INFO lines out.
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_distributed_cluster_gives_the_bits_of_one_machine(client):
    import distributed
    assert len(client.scheduler_info()["workers"]) == 2
    arrays = [
        (fdask.normal((300, 257), ((100, 1, 199), (64, 64, 129)), "bfloat16", std=2.0, seed=SEED, stream=STREAM),
         reference(fastinit.normal_, (300, 257), DTYPES[3], std=2.0, seed=SEED, stream=STREAM)),
        (fdask.trunc_normal((1000, 96), (37, 50), "float64", std=0.02, a=-0.04, b=0.04, seed=1, stream="t"),
         reference(fastinit.trunc_normal_, (1000, 96), np.float64, std=0.02, a=-0.04, b=0.04, seed=1, stream="t")),
        (fdask.sparse((128, 96), (32, 40), "float16", sparsity=0.5, seed=2, stream="s"),
         reference(schemes.sparse_, (128, 96), np.float16, sparsity=0.5, seed=2, stream="s")),
        (fdask.dirac((12, 6, 3, 5), (5, 4, 2, 5), groups=2),
         reference(schemes.dirac_, (12, 6, 3, 5), np.float32, groups=2)),
    ]
    for x, expected in arrays:
        persisted = client.persist(x)
        distributed.wait(persisted)
        holders = {w for ws in client.who_has(persisted).values() for w in ws}
        on_cluster = client.compute(persisted).result()
        with warnings.catch_warnings():  # dask < 2025 warns of the threads beside the client; intended here
            warnings.filterwarnings("ignore", "Running on a single-machine scheduler", UserWarning)
            on_threads = x.compute(scheduler="threads")
        np.testing.assert_array_equal(bits(on_cluster), bits(expected), err_msg=x.name)
        np.testing.assert_array_equal(bits(on_threads), bits(expected), err_msg=x.name)
        if x.npartitions >= 8:
            assert len(holders) == 2, f"{x.name}: all {x.npartitions} chunks on one worker"
        del persisted


def test_distributed_cluster_computes_one_chunk_of_a_big_array(client):
    x = fdask.normal(BIG, BIG_CHUNKS, "bfloat16", std=0.02, seed=7, stream="big")
    corner = client.compute(x[-2:, -3:]).result()
    expected = fastinit.normal_(np.empty((2, 3), DTYPES[3]), std=0.02, seed=7, stream="big", global_shape=BIG,
                                offset=(BIG[0] - 2, BIG[1] - 3))
    np.testing.assert_array_equal(bits(corner), bits(expected))


# --------------------------------------------------------------------------------------------
# bad input raises when the array is created, naming the argument


@pytest.mark.parametrize("call, error, match", [
    (lambda: fdask.normal((4, 4), dtype="int32", seed=0, stream=0), TypeError, r"dtype must be one of float16, bfloat16"),
    (lambda: fdask.normal((4, 4), dtype="no such type", seed=0, stream=0), TypeError, r"dtype must be one of .*'no such"),
    (lambda: fdask.normal((5, 4), chunks=((2, 2), (4,)), seed=0, stream=0), ValueError, r"chunks=.*cannot chunk shape \(5, 4\)"),
    (lambda: fdask.normal((5, 4), chunks=(2, 2, 2), seed=0, stream=0), ValueError, r"chunks=\(2, 2, 2\) cannot chunk shape"),
    (lambda: fdask.normal((5,), chunks=((2.5, 2.5),), seed=0, stream=0), ValueError, r"along dim 0 .* does not add up to 5"),
    (lambda: fdask.normal((5,), chunks=(0,), seed=0, stream=0), ValueError, r"chunks=\(0,\) cannot chunk shape \(5,\)"),
    (lambda: fdask.normal((5, 4), chunks=(-3, 2), seed=0, stream=0), ValueError, r"chunks=\(-3, 2\) cannot chunk"),
    (lambda: fdask.normal((4, -1), seed=0, stream=0), ValueError, r"shape must be a tuple of non-negative ints"),
    (lambda: fdask.normal((4.0, 2), seed=0, stream=0), TypeError, r"shape must be an int or a tuple of ints"),
    (lambda: fdask.normal("4x4", seed=0, stream=0), TypeError, r"shape must be an int or a tuple of ints"),
    (lambda: fdask.normal((2**32, 2**31), seed=0, stream=0), ValueError, r"2\*\*63 or more elements"),
    (lambda: fdask.normal((4, 4)), TypeError, r"scheme 'normal' draws random numbers: pass seed="),
    (lambda: fdask.normal((4, 4), seed=-1, stream=0), ValueError, r"seed must be in \[0, 2\*\*64\)"),
    (lambda: fdask.normal((4, 4), seed=0, stream=1.5), TypeError, r"stream must be an int"),
    (lambda: fdask.normal((4, 4), seed=0, stream=0, threads=0), ValueError, r"threads must be an int >= 1"),
    (lambda: fdask.normal((4, 4), seed=0, stream=0, backend="gpu"), ValueError, r"backend"),
    (lambda: fdask.normal((4, 4), std=-1.0, seed=0, stream=0), ValueError, r"normal, shape \(4, 4\).*std must be >= 0"),
    (lambda: fdask.uniform((4, 4), low=1, high=0, seed=0, stream=0), ValueError, r"low must be <= high"),
    (lambda: fdask.uniform((4, 4), lo=1, seed=0, stream=0), TypeError, r"'uniform' has no parameter 'lo'; .*low, high"),
    (lambda: fdask.trunc_normal((4, 4), a=1, b=1, seed=0, stream=0), ValueError, r"a must be < b"),
    (lambda: fdask.constant((3,)), TypeError, r"'constant' needs the parameter 'value'"),
    (lambda: fdask.kaiming_uniform((8,), seed=0, stream=0), ValueError, r"fewer than 2 dimensions"),
    (lambda: fdask.kaiming_uniform((8, 8), mode="fan_avg", seed=0, stream=0), ValueError, r"Mode fan_avg not supported"),
    (lambda: fdask.dirac((4, 4)), ValueError, r"3, 4, or 5 dimensions.*out: an empty block of the array"),
    (lambda: fdask.identity((6, 4), chunks=2), ValueError, r"square blocks"),
    (lambda: fdask.sparse((8, 8), seed=0, stream=0), ValueError, r"exactly one of sparsity= .* nonzeros_per_unit="),
    (lambda: fdask.from_scheme("kaiming_unifrom", (8, 8), seed=0, stream=0), ValueError, r"did you mean 'kaiming_uniform'"),
    (lambda: fdask.from_scheme("normal(std=2)", (8, 8), std=3, seed=0, stream=0), ValueError, r"'std' is given twice"),
    (lambda: fdask.from_scheme(42, (8, 8), seed=0, stream=0), TypeError, r"scheme must be a registry name or spec"),
    (lambda: fdask.from_scheme(fastinit.normal_, (8, 8), seed=0, stream=0, sd=1), TypeError, r"normal_, shape .*'sd'"),
])
def test_bad_input_raises_at_creation(call, error, match):
    with pytest.raises(error, match=match):
        call()

