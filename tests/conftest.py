import numpy as np
import pytest

import fastinit
from fastinit._buffers import BFLOAT16
from fastinit.kernels import available

BACKENDS = [name for name, be in available().items() if not isinstance(be, Exception)]
DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BFLOAT16]
POISON = 0xCA  # Random123's harness poisons outputs the same way


def bits(a):
    """An array's raw bit patterns, for exact comparisons (NaN-safe, -0.0-aware)."""
    return np.ascontiguousarray(a).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def each_c_isa():
    """Yield each C instruction set this CPU runs, with the C kernels set to it (the dispatch is
    restored when the loop ends or fails)."""
    from fastinit.kernels import _c
    saved = _c.isa()
    try:
        for isa in _c.ISAS:
            try:
                _c.set_isa(isa)
            except ValueError:
                continue  # not on this CPU
            yield isa
    finally:
        _c.set_isa(saved)


def poisoned(shape, dtype, guard=64):
    """(whole, out): out is a poisoned view with `guard` poisoned elements on both sides."""
    n = int(np.prod(shape))
    whole = np.empty(n + 2 * guard, dtype)
    whole.view(np.uint8)[:] = POISON
    return whole, whole[guard:guard + n].reshape(shape)


# the fills and a typical parameter set for each, used by the contract and error tests
FILLS = {
    "uniform": (fastinit.uniform_, dict(low=-0.5, high=1.5)),
    "normal": (fastinit.normal_, dict(mean=0.25, std=2.0)),
    "trunc_normal": (fastinit.trunc_normal_, dict(mean=0.1, std=1.0, a=-1.5, b=2.5)),
}


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


# hypothesis: the "ci" profile (default) draws the same bounded examples on every run, so the
# suite is reproducible and takes seconds; HYPOTHESIS_PROFILE=explore searches afresh
def _hypothesis_profiles():
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow], print_blob=True)
    settings.register_profile("explore", max_examples=1000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_hypothesis_profiles()


def smaps(address):
    """``{field: value}`` (``"Rss": "76 kB"``, ``"VmFlags": "rd wr ..."``) of this process's
    mapping holding ``address``, from /proc/self/smaps."""
    with open("/proc/self/smaps") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        head = line.split()[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            if lo <= address < hi:
                fields = {}
                for entry in lines[i + 1:]:
                    key, _, value = entry.partition(":")
                    if " " in key or not value:   # the next mapping's header
                        break
                    fields[key] = value.strip()
                return fields
    raise AssertionError(f"no mapping holds {address:#x}")
