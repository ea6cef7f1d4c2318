"""What the pytest-benchmark suite and ``python -m bench.compare`` share.

Rules both follow:
- every buffer is pre-touched with ``fill(1.0)`` before timing: no page faults are
  timed, and never an all-zero buffer (the hardware special-cases zero cache lines);
- JIT compilers and lazy initialisation are warmed up on small arrays first;
- throughput is bytes written / wall time, in GB/s (10^9 bytes per second).
"""

import importlib
import io
import os
import platform
import subprocess
import time
from pathlib import Path

import ml_dtypes
import numpy as np

import fastinit
from fastinit import _parallel
from fastinit.kernels import available

MiB = 1 << 20
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
ROOT = Path(__file__).resolve().parent.parent

BACKENDS = [name for name, be in available().items() if not isinstance(be, Exception)]
THREADS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

# the fills with the parameters every implementation is timed with: the defaults of
# torch.nn.init (U(0, 1), N(0, 1), N(0, 1) truncated to [-2, 2])
FILLS = {
    "uniform": (fastinit.uniform_, {}),
    "normal": (fastinit.normal_, {}),
    "trunc_normal": (fastinit.trunc_normal_, {}),
}


def _portable_bf16_isa():
    """"avx512" where the C kernels run "avx512bf16": CPUs without AVX512-BF16 (Intel Xeon
    before Cooper Lake) round bfloat16 with integer instructions, as the "avx512" kernels do
    (the same bits), so this CPU can time that path too; else None."""
    if "c" not in BACKENDS:
        return None
    from fastinit.kernels import _c
    return "avx512" if _c.isa() == "avx512bf16" else None


PORTABLE_BF16_ISA = _portable_bf16_isa()


def at_isa(isa, fn):
    """fn, a no-argument fill, run with the C kernels at instruction set isa, then at the
    previous one again."""
    from fastinit.kernels import _c

    def run():
        prev = _c.isa()
        _c.set_isa(isa)
        try:
            fn()
        finally:
            _c.set_isa(prev)
    return run


def optional(name):
    """The module ``name`` if it imports here, else None (benchmarks of it are skipped)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


torch = optional("torch")


def dtype_name(dtype):
    return np.dtype(dtype).name


def gbps(nbytes, seconds):
    return nbytes / seconds / 1e9


def touched(n, dtype):
    """A new array of ``n`` elements, every page written (with 1.0, never zeros)."""
    out = np.empty(n, dtype)
    out.fill(1.0)
    return out


BF16_ONE = 0x3F80  # bfloat16 1.0: sign 0, exponent 127, mantissa 0


def _ones(out):
    """(flat view, value) such that ``view.fill(value)`` writes 1.0 into every element of
    ``out`` at memory speed: ml_dtypes' own bfloat16 fill converts element by element and
    runs at about half the write bandwidth, so bfloat16 goes through its uint16 bits."""
    flat = out.reshape(-1)
    if flat.dtype == BFLOAT16:
        return flat.view(np.uint16), BF16_ONE
    return flat, 1.0


def fill_one_core(out):
    """A no-argument function doing ``out.fill(1.0)`` (bfloat16: through its bits)."""
    flat, value = _ones(out)
    return lambda: flat.fill(value)


def fill_all_cores(out):
    """A no-argument function doing ``out.fill(1.0)`` on THREADS threads (NumPy releases the
    GIL while filling): the write limit for multi-threaded fills where a single core cannot
    saturate memory.  It splits and schedules the work with fastinit's own ``_parallel``
    (``split``'s slices, pulled by ``each``'s threads, the caller's among them), so the limit
    and the fills meet the same scheduling: with one slice per thread, a thread that the host
    started late left its slice to the other, and the row ran on one core in 4 of 9 runs
    (Zen 5 VM, 2026-12-06)."""
    flat, value = _ones(out)
    tasks = _parallel.split([(0, 1, flat.size, 0, 0)], THREADS, 1)
    slices = [flat[at:at + n] for at, _, n, _, _ in tasks]
    return lambda: _parallel.each(lambda s: s.fill(value), slices, THREADS)


def torch_view(arr):
    """A torch tensor sharing ``arr``'s memory (bfloat16 goes through its int16 bits)."""
    if arr.dtype == BFLOAT16:
        return torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(arr)


def torch_fill(op):
    """The torch.nn.init equivalent of fastinit's ``op``, at the same default parameters."""
    return {
        "uniform": lambda t: t.uniform_(),
        "normal": lambda t: t.normal_(),
        "trunc_normal": lambda t: torch.nn.init.trunc_normal_(t),
    }[op]


def numpy_fill(op, rng):
    """NumPy Generator's in-place equivalent of ``op`` (float32/float64 only), or None."""
    if op == "uniform":
        return lambda a: rng.random(out=a, dtype=a.dtype)
    if op == "normal":
        return lambda a: rng.standard_normal(out=a, dtype=a.dtype)
    return None  # NumPy has no truncated normal


def warm_up():
    """Compile and initialise everything lazily built on first use: Numba specialises its
    kernels per output type (float32, uint16 for bfloat16/float16, float64), the C backend
    creates its thread pool on the first multi-threaded fill, torch loads its kernels."""
    small = 1 << 17  # above fastinit's 2 x 65536-element threshold for using threads
    for backend in BACKENDS:
        for dtype in (np.float32, BFLOAT16, np.float64):
            for fill, kwargs in FILLS.values():
                fill(touched(small, dtype), seed=0, stream="bench", backend=backend, **kwargs)
    if torch is not None:
        for dtype in (np.float32, BFLOAT16, np.float64):
            t = torch_view(touched(small, dtype))
            for op in FILLS:
                torch_fill(op)(t)


def first_fill_command(backend=None):
    """The "first fill after import" probe: prints seconds from before ``import fastinit``
    to the end of the first normal_ on 1 Mi float32 elements."""
    arg = "" if backend is None else f", backend={backend!r}"
    return ("import time; t=time.perf_counter(); import fastinit, numpy as np; "
            f"a=np.empty(1<<20,np.float32); fastinit.normal_(a, seed=0, stream=0{arg}); "
            "print(time.perf_counter()-t)")


def cpu_model():
    """The CPU's model name, with its family, model and stepping numbers where /proc/cpuinfo
    gives them: a hypervisor may show only "AMD EPYC" for Zen 4 (family 25) and Zen 5 (family
    26) alike, and fastinit's rates per core differ between them by up to 1.8x (measured)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():  # the first CPU's block is enough
                break
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown"
    names = (("family", "cpu family"), ("model", "model"), ("stepping", "stepping"))
    numbers = [f"{label} {fields[key]}" for label, key in names if fields.get(key)]
    return f"{name} ({', '.join(numbers)})" if numbers else name


def mem_total_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return float("nan")


def git_state():
    """HEAD and whether the kernels, the package or the benches differ from it (someone may be
    editing them; the benches' own results do not count)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "csrc", "fastinit", "bench",
                                ":(exclude)bench/results"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head}" + (" + uncommitted changes in csrc/, fastinit/ or bench/" if dirty else " (clean)")


def machine_facts():
    """Lines describing where and with what the numbers were measured."""
    cfg = io.StringIO()
    fastinit.show_config(file=cfg)
    versions = [f"numpy {np.__version__}"]
    for name in ("numba", "torch", "jax"):
        mod = optional(name) if name != "torch" else torch
        versions.append(f"{name} {mod.__version__}" if mod is not None else f"{name} not installed")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores ({THREADS} usable), "
        f"{mem_total_gib():.0f} GiB RAM",
        f"OS: {platform.system()} {platform.release()}; load average (1, 5, 15 min): {load}",
        "Libraries: " + ", ".join(versions),
        f"fastinit commit: {git_state()}",
    ]
    lines += cfg.getvalue().rstrip().splitlines()
    return lines


def machine_cpu_seconds():
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat; None
    elsewhere.  With this process's own CPU time, tells how much else ran meanwhile."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


class Contention:
    """Cores kept busy by other processes (and stolen by the hypervisor) during a ``with`` block."""

    def __enter__(self):
        self.start = machine_cpu_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        machine0, own0, t0 = self.start
        machine1 = machine_cpu_seconds()
        wall = time.perf_counter() - t0
        own = time.process_time() - own0
        if machine0 is None or machine1 is None or wall <= 0:
            self.others = self.steal = None
        else:
            self.others = max(0.0, (machine1[0] - machine0[0] - own) / wall)
            self.steal = (machine1[1] - machine0[1]) / wall
        return False

    def summary(self):
        if self.others is None:
            return "other processes' CPU use: unknown (no /proc/stat)"
        return (f"other processes kept {self.others:.2f} of {THREADS} cores busy on average"
                f" (hypervisor steal {self.steal:.2f} cores)")


def settle(idle=0.1, slice_s=0.01, limit=2.0):
    """Wait until this process's other threads stop spinning: until a ``slice_s`` sleep costs
    the process less than ``idle`` of a core (at most ``limit`` seconds).  XLA's and OpenMP's
    worker threads keep a core busy for about 80 ms after a JAX or torch call returns
    (measured): a fill timed in that window runs on one core fewer.  Returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(slice_s)
        if time.process_time() - c0 < idle * (time.perf_counter() - w0):
            break
    return time.perf_counter() - t0


def timed(fn):
    """(wall seconds, CPU seconds of this process) of one call; the result is dropped after timing."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn()
    t1, c1 = time.perf_counter(), time.process_time()
    del result
    return t1 - t0, c1 - c0
