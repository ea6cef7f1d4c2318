"""fastinit's fills beside NumPy, torch and the plain write limit, as one pytest-benchmark grid.

    make bench    # .venv/bin/python -m pytest bench --benchmark-only --benchmark-group-by=group -q

Groups are operations ("uniform", "normal", "trunc_normal", "constant", plus "first_fill");
each case is size x dtype x implementation, where the implementation is a fastinit backend
("c", "numba"; all cores; "c_1thread": the C kernels on one thread, float32 and bfloat16:
their element rates side by side; "c_1thread_portable", bfloat16 on a CPU with AVX512-BF16:
the same with the "avx512" kernels, which round as CPUs without that instruction do;
"c_shard128" and "c_shard64", float32: the same on one thread, the buffer filled as a
tensor-parallel column shard, 128 or 64 columns of a (rows, 4096) tensor, each row a run of
its own; 64 columns take one group of each step) or a reference: "numpy" (Generator(PCG64) ``random(out=)`` /
``standard_normal(out=)``), "torch" (``uniform_``/``normal_``/``nn.init.trunc_normal_`` on a
tensor sharing the buffer, all cores) and the write limits "fill" (``out.fill(1.0)``; for
bfloat16 the same bytes written through a uint16 view, as ml_dtypes' own fill is about 2x
slower than memory) and "fill_all_cores" (the same fill split over all cores: on some
machines a single core cannot saturate memory bandwidth).
Every buffer is pre-touched with 1.0 and every JIT warmed up before timing.

Sizes are in bytes: 1 MiB and 64 MiB for float32, 64 MiB also for bfloat16 and float64;
FASTINIT_BENCH_LARGE=1 adds 1 GiB float32 (several minutes: torch's trunc_normal_ alone
needs about 30 s per call there).  1 MiB fits in L2 (and per-call overhead such as waking
threads shows there); 64 MiB and 1 GiB write to memory unless the L3 is very large.

``extra_info`` of each case: GB/s (bytes written / median time), elements per second and
the ratio to ``out.fill(1.0)`` on a buffer of the same size and dtype in this session.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastinit

from . import common
from .common import BFLOAT16, MiB
from .conftest import LARGE, LIMITS, RESULTS, write_limit

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
SIZES = [1 * MiB, 64 * MiB] + ([1024 * MiB] if LARGE else [])
ALL_DTYPES_AT = 64 * MiB  # the size at which bfloat16 and float64 are measured too
OPS = (*common.FILLS, "constant")
NO_TORCH = pytest.mark.skipif(common.torch is None, reason="torch is not installed")


def _size_label(nbytes):
    return f"{nbytes // 1024 // MiB}GiB" if nbytes >= 1024 * MiB else f"{nbytes // MiB}MiB"


def _impls(op, dtype):
    """(implementation, marks) for one operation and dtype; the write limits first, so that
    those of each (size, dtype) are measured just before the fills they scale."""
    limits = [("fill", ()), ("fill_all_cores", ())]
    if op == "constant":
        return limits + [("fastinit", ()), ("torch", (NO_TORCH,))]
    impls = limits + [(name, ()) for name in common.BACKENDS]
    if "c" in common.BACKENDS and dtype in (F32, BFLOAT16):
        impls.append(("c_1thread", ()))  # the kernels' own rate: bfloat16's element rate beside float32's
    if dtype == BFLOAT16 and common.PORTABLE_BF16_ISA:
        impls.append(("c_1thread_portable", ()))  # the rounding of CPUs without AVX512-BF16
    if "c" in common.BACKENDS and dtype == F32 and op != "constant":
        impls += [("c_shard128", ()), ("c_shard64", ())]
    if dtype in (F32, F64) and op in ("uniform", "normal"):
        impls.append(("numpy", ()))
    impls.append(("torch", (NO_TORCH,)))
    return impls


def _cases():
    for op in OPS:
        for nbytes in SIZES:
            for dtype in (F32, BFLOAT16, F64) if nbytes == ALL_DTYPES_AT else (F32,):
                for impl, marks in _impls(op, dtype):
                    yield pytest.param(op, nbytes, dtype, impl, marks=marks,
                                       id=f"{op}-{_size_label(nbytes)}-{dtype.name}-{impl}")


def _callable(op, impl, out):
    """A no-argument function doing one fill of ``out`` with ``impl``."""
    if impl == "fill":
        return common.fill_one_core(out)
    if impl == "fill_all_cores":
        return common.fill_all_cores(out)
    if impl == "fastinit":  # constant_
        return lambda: fastinit.constant_(out, 1.0)
    if impl == "torch":
        t = common.torch_view(out)
        if op == "constant":
            return lambda: t.fill_(1.0)
        fill = common.torch_fill(op)
        return lambda: fill(t)
    if impl == "numpy":
        fill = common.numpy_fill(op, np.random.Generator(np.random.PCG64(0)))
        return lambda: fill(out)
    fill, kwargs = common.FILLS[op]  # a fastinit backend
    if impl == "c_1thread":
        return lambda: fill(out, seed=0, stream="bench", backend="c", threads=1, **kwargs)
    if impl == "c_1thread_portable":
        return common.at_isa(common.PORTABLE_BF16_ISA, _callable(op, "c_1thread", out))
    if impl.startswith("c_shard"):
        cols = int(impl[len("c_shard"):])
        shard = out.reshape(-1, cols)
        return lambda: fill(shard, seed=0, stream="bench", backend="c", threads=1, global_shape=(len(shard), 4096),
                            offset=(0, 3 * cols), **kwargs)
    return lambda: fill(out, seed=0, stream="bench", backend=impl, **kwargs)


@pytest.mark.parametrize("op, nbytes, dtype, impl", list(_cases()))
def test_fill(benchmark, op, nbytes, dtype, impl):
    benchmark.group = op
    out = common.touched(nbytes // dtype.itemsize, dtype)
    fn = _callable(op, impl, out)
    if nbytes >= 1024 * MiB:  # bounded: a single call can take many seconds
        benchmark.pedantic(fn, rounds=3, iterations=1)
    else:
        benchmark(fn)
    if op != "constant" and not impl.startswith("fill"):
        assert not np.all(out[-256:] == 1.0), f"{impl} did not write the end of the buffer"
    if benchmark.stats is None:  # --benchmark-disable: nothing was timed
        return
    median = benchmark.stats.stats.median
    rate = common.gbps(nbytes, median)
    if impl.startswith("fill"):
        LIMITS[(nbytes, dtype, impl)] = rate
    ratio = rate / write_limit(nbytes, dtype)
    ratio_all = rate / write_limit(nbytes, dtype, "fill_all_cores")
    benchmark.extra_info.update(
        GBps=round(rate, 3), Gelem_per_s=round(out.size / median / 1e9, 3),
        x_fill=round(ratio, 3), x_fill_all_cores=round(ratio_all, 3), bytes=nbytes, dtype=dtype.name,
        impl=impl, threads=common.THREADS if impl in ("c", "numba", "torch", "fill_all_cores") else 1)
    RESULTS.append((op, f"{_size_label(nbytes)} {dtype.name} {impl}", median, rate, ratio, ratio_all))


FIRST_FILL = [
    pytest.param(None, False, id="default-backend"),
    pytest.param("numba", False, id="numba-cached"),
    pytest.param("numba", True, id="numba-cold-cache"),
]


@pytest.mark.parametrize("backend, cold", FIRST_FILL)
def test_first_fill_after_import(benchmark, tmp_path, backend, cold):
    """Seconds from ``import fastinit`` to the end of the first normal_ on 4 MiB, in a fresh
    interpreter (interpreter start-up excluded).  "numba-cold-cache" points NUMBA_CACHE_DIR
    at an empty directory each round: the compile time a first-ever user pays."""
    benchmark.group = "first_fill"
    command = [sys.executable, "-c", common.first_fill_command(backend)]
    seconds = []

    def run():
        env = dict(os.environ)
        if cold:
            env["NUMBA_CACHE_DIR"] = str(tmp_path / f"numba-cache-{len(seconds)}")
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        seconds.append(float(done.stdout.split()[-1]))

    # the warm-up round fills the OS file cache (and Numba's cache, unless cold)
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    measured = float(np.median(seconds[1:]))
    benchmark.extra_info.update(seconds_in_process=round(measured, 4), backend=backend or "default")
    RESULTS.append(("first_fill", f"{backend or 'default'}{' (cold Numba cache)' if cold else ''}",
                    measured, None, None, None))
