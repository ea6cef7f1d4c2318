"""pytest-benchmark setup: JIT warm-up, the write-limit cache and a GB/s summary.

pytest-benchmark's own table shows times only; GB/s are in each benchmark's
``extra_info`` (``--benchmark-json``) and in the summary printed at the end.
"""

import os
import time

import numpy as np
import pytest

from . import common

LARGE = os.environ.get("FASTINIT_BENCH_LARGE") == "1"

# (group, case id, median seconds, GB/s, x fill(1.0), x fill on all cores) per finished
# benchmark, for the summary
RESULTS = []
# GB/s of the write limits per (bytes, dtype, "fill" | "fill_all_cores"), measured in this session
LIMITS = {}
# what else ran on the machine between session start and the summary
CONTENTION = common.Contention()


def pytest_sessionstart(session):
    CONTENTION.__enter__()


@pytest.fixture(scope="session", autouse=True)
def _warm_up():
    common.warm_up()
    if common.torch is not None:
        common.torch.set_num_threads(common.THREADS)


def write_limit(nbytes, dtype, impl="fill"):
    """GB/s of ``out.fill(1.0)`` (``impl="fill"``) or of the same fill split over all cores
    (``"fill_all_cores"``) on a buffer of this size and dtype: set by that group's case of
    the same name (which runs first), else measured here (median of 5)."""
    key = (nbytes, np.dtype(dtype), impl)
    if key not in LIMITS:
        a = common.touched(nbytes // key[1].itemsize, dtype)
        fill = common.fill_all_cores(a) if impl == "fill_all_cores" else common.fill_one_core(a)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fill()
            times.append(time.perf_counter() - t0)
        LIMITS[key] = common.gbps(nbytes, float(np.median(times)))
    return LIMITS[key]


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    CONTENTION.__exit__(None, None, None)
    tr.section("fastinit throughput (GB/s = bytes written / median time)")
    for line in common.machine_facts():
        tr.write_line(line)
    tr.write_line(f"During the session: {CONTENTION.summary()}.")
    for group in dict.fromkeys(r[0] for r in RESULTS):
        tr.write_line("")
        tr.write_line(f"{group}:")
        tr.write_line(f"  {'case':40s} {'median':>11s} {'GB/s':>8s} {'x fill(1.0)':>12s} {'x fill all cores':>17s}")
        for _, case, median, rate, ratio, ratio_all in (r for r in RESULTS if r[0] == group):
            if rate is None:  # a latency, not a throughput
                tr.write_line(f"  {case:40s} {median:>10.3f}s")
                continue
            tr.write_line(f"  {case:40s} {median * 1e3:>9.2f}ms {rate:>8.2f} {ratio:>11.2f}x {ratio_all:>16.2f}x")
