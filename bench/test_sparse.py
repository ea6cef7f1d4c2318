"""sparse_ beside torch's ``nn.init.sparse_``, as a pytest-benchmark group ("sparse").

    make bench    # .venv/bin/python -m pytest bench --benchmark-only --benchmark-group-by=group -q

Cases: a 4096 x 4096 float32 weight at torch's sparsity 0.9 (the issue's target: >= 20x torch)
and 0.5 (fastinit's dense path: the normal fill, then the zeros), and Martens' 15 non-zeros per
unit (only the kept values computed), on each fastinit backend (all cores) and, for the
sparsity modes, torch.  ``python -m bench.compare`` reports the 0.9 ratio in its scheme table.
"""

import numpy as np
import pytest

from fastinit.schemes import sparse_

from . import common

SHAPE = (4096, 4096)
MODES = {"sparsity0.9": dict(sparsity=0.9), "sparsity0.5": dict(sparsity=0.5),
         "martens15": dict(nonzeros_per_unit=15)}
NO_TORCH = pytest.mark.skipif(common.torch is None, reason="torch is not installed")


def _cases():
    for mode in MODES:
        for impl in common.BACKENDS:
            yield pytest.param(mode, impl, id=f"{mode}-{impl}")
        if "sparsity" in MODES[mode]:
            yield pytest.param(mode, "torch", id=f"{mode}-torch", marks=NO_TORCH)


@pytest.mark.parametrize("mode, impl", list(_cases()))
def test_sparse(benchmark, mode, impl):
    benchmark.group = "sparse"
    out = common.touched(SHAPE[0] * SHAPE[1], np.dtype(np.float32)).reshape(SHAPE)
    if impl == "torch":
        t, sparsity = common.torch_view(out), MODES[mode]["sparsity"]
        benchmark.pedantic(lambda: common.torch.nn.init.sparse_(t, sparsity), rounds=5, iterations=1)
    else:
        benchmark(lambda: sparse_(out, **MODES[mode], seed=0, stream="bench", backend=impl))
    # the pattern's zeros, plus the rare kept value that is itself 0.0 (a Box-Muller radius or
    # sine/cosine factor of exactly 0: about 2^-23 per value, in torch's normal_ as in fastinit's)
    if "sparsity" in MODES[mode]:
        zeros, want = (out == 0).sum(axis=0), int(np.ceil(MODES[mode]["sparsity"] * SHAPE[0]))
    else:
        zeros, want = (out == 0).sum(axis=1), SHAPE[1] - MODES[mode]["nonzeros_per_unit"]
    assert zeros.min() >= want and zeros.sum() - want * zeros.size <= 8, f"{impl}: zeros per unit"
    if benchmark.stats is not None:
        benchmark.extra_info.update(ms=round(benchmark.stats.stats.median * 1e3, 3), impl=impl, mode=mode)
