"""One comparison table, measured in one run: fastinit beside the write limit, NumPy, torch, JAX.

    python -m bench.compare [--size-mib 1024] [--repeat 5] [--row-budget 6]

Every in-place row writes the same pre-touched buffer (float32, or the same bytes viewed
as bfloat16).  Rows are timed round-robin, so that drift of a shared machine is spread over
all rows rather than landing on a few: ratios measured here are more trustworthy than the
absolute GB/s.  A row stops repeating after ``--repeat`` runs or once its runs have taken
``--row-budget`` seconds (at least one run): at 1 GiB torch's trunc_normal_ takes ~30 s a
call, so it gets one.  Figures are medians; "cores busy" is process CPU time / wall time.

Two write limits: ``out.fill(1.0)`` (one thread, as NumPy does it) and the same fill split
over all cores; on some machines one core cannot saturate memory bandwidth, and then only
the second bounds a multi-threaded fill.  Prints machine facts, a Markdown table to paste
into README.md, and the targets check (a report, not a test; the ratios to fill(1.0) use
the single-threaded fill, as the targets were stated).
"""

import argparse
import datetime
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastinit import kernels

from . import common
from .common import BFLOAT16, MiB, ROOT, THREADS

RESULTS_NAME = "bench/results/compare.json"
RESULTS = ROOT / RESULTS_NAME

PORTABLE_WHERE = f"1 thread, {common.PORTABLE_BF16_ISA}: no BF16 instruction"  # its rows' label

JAX_NOTE = ("JAX has no in-place fill: its rows return a new array, so they include allocating "
            "(and page-faulting) the output; XLA-compiled ahead of timing, `block_until_ready()` timed.")


@dataclass
class Row:
    label: str
    dtype: str
    fn: object  # no-argument callable doing one fill
    nbytes: int
    kind: str  # "limit", "fastinit", "numpy", "torch", "jax"
    op: str = ""  # "uniform", "normal", "trunc_normal" for the random rows
    key: str = ""  # how the ratios and targets find this row
    times: list = field(default_factory=list)
    cpu: list = field(default_factory=list)

    def done(self, repeat, budget):
        return len(self.times) >= repeat or (self.times and sum(self.times) >= budget)

    @property
    def median(self):
        return float(np.median(self.times))

    @property
    def rate(self):
        return common.gbps(self.nbytes, self.median)

    @property
    def busy(self):
        return float(np.median(np.array(self.cpu) / np.array(self.times)))


OP_NAMES = {"uniform": "uniform_", "normal": "normal_", "trunc_normal": "trunc_normal_"}
NUMPY_NAMES = {"uniform": "PCG64 `random(out=)`", "normal": "PCG64 `standard_normal(out=)`"}
JAX_NAMES = {"uniform": "uniform", "normal": "normal", "trunc_normal": "truncated_normal"}


def build_rows(buf, jax):
    """The rows, in table order; keys name the rows the ratios refer to."""
    bf16 = buf.view(BFLOAT16)  # the same bytes: GB/s of bfloat16 rows count bytes written
    nbytes = buf.nbytes
    # the all-cores limit first: it starts every round, after the last round's last row (torch's
    # sparse_, whose threads spin) or nothing, so it gets measure's untimed runs, and a
    # one-thread fill would wake only one of the idle cores
    rows = [Row(f"write limit, all cores: `fill(1.0)` on {THREADS} threads", "float32",
                common.fill_all_cores(buf), nbytes, "limit", key="fill/all"),
            Row("write limit: `out.fill(1.0)`", "float32", lambda: buf.fill(1.0), nbytes, "limit",
                key="fill")]
    rng = np.random.Generator(np.random.PCG64(0))
    tbuf = tbf16 = None
    if common.torch is not None:
        tbuf, tbf16 = common.torch_view(buf), common.torch_view(bf16)
    many = f"{THREADS} threads"
    for op, (fill, kwargs) in common.FILLS.items():
        name = OP_NAMES[op]

        def fast(out, backend, threads, fill=fill, kwargs=kwargs):
            return lambda: fill(out, seed=0, stream="bench", backend=backend, threads=threads, **kwargs)

        for backend in common.BACKENDS:
            rows.append(Row(f"fastinit `{name}` ({backend}, {many})", "float32", fast(buf, backend, None),
                            nbytes, "fastinit", op, key=f"{op}/{backend}"))
        if "c" in common.BACKENDS:
            rows.append(Row(f"fastinit `{name}` (c, 1 thread)", "float32", fast(buf, "c", 1), nbytes,
                            "fastinit", op, key=f"{op}/c/1"))
            rows.append(Row(f"fastinit `{name}` (c, {many})", "bfloat16", fast(bf16, "c", None), nbytes,
                            "fastinit", op, key=f"{op}/c/bf16"))
            # one thread: the kernels' own rate, least disturbed by other processes on a shared machine
            rows.append(Row(f"fastinit `{name}` (c, 1 thread)", "bfloat16", fast(bf16, "c", 1), nbytes,
                            "fastinit", op, key=f"{op}/c/1/bf16"))
            if common.PORTABLE_BF16_ISA:
                rows.append(Row(f"fastinit `{name}` (c, {PORTABLE_WHERE})",
                                "bfloat16", common.at_isa(common.PORTABLE_BF16_ISA, fast(bf16, "c", 1)), nbytes,
                                "fastinit", op, key=f"{op}/c/1/bf16/portable"))
        numpy_fill = common.numpy_fill(op, rng)
        if numpy_fill is not None:
            rows.append(Row(f"NumPy {NUMPY_NAMES[op]}", "float32", lambda f=numpy_fill: f(buf), nbytes,
                            "numpy", op, key=f"{op}/numpy"))
        if tbuf is not None:
            tfill = common.torch_fill(op)
            rows.append(Row(f"torch {common.torch.__version__.split('+')[0]} `{name}` ({many})", "float32",
                            lambda f=tfill: f(tbuf), nbytes, "torch", op, key=f"{op}/torch"))
            if op != "trunc_normal":  # bfloat16 trunc_normal_: ~70 s per GiB (rejection loop)
                rows.append(Row(f"torch {common.torch.__version__.split('+')[0]} `{name}` ({many})",
                                "bfloat16", lambda f=tfill: f(tbf16), nbytes, "torch", op,
                                key=f"{op}/torch/bf16"))
        if jax is not None:
            rows.append(Row(f"JAX {jax.__version__} `jax.random.{JAX_NAMES[op]}` (CPU)", "float32",
                            jax_fill(jax, op, buf.size), nbytes, "jax", op, key=f"{op}/jax"))
    return rows


def jax_fill(jax, op, n):
    """jax.random's ``op`` compiled ahead of time for shape (n,); calls block until done."""
    sample = {
        "uniform": lambda k: jax.random.uniform(k, (n,)),
        "normal": lambda k: jax.random.normal(k, (n,)),
        "trunc_normal": lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (n,)),
    }[op]
    key = jax.random.key(0)
    compiled = jax.jit(sample).lower(key).compile()
    return lambda: compiled(key).block_until_ready()


def scheme_rows(w):
    """Schemes on one 2-D float32 buffer: each fan-based preset beside the core fill it calls
    (the same kernel with a computed scale), and sparse_ beside torch's."""
    import math

    from fastinit import schemes

    fan_in = w.shape[1]
    bound = 1 / math.sqrt(fan_in)
    std = math.sqrt(2 / sum(w.shape))
    pairs = [("`uniform_(-1/sqrt(fan_in), 1/sqrt(fan_in))`", lambda: schemes.uniform_(w, -bound, bound, seed=0, stream=0),
              "core/uniform"),
             ("`kaiming_uniform_(a=sqrt(5))`", lambda: schemes.kaiming_uniform_(w, a=math.sqrt(5), seed=0, stream=0),
              "scheme/uniform"),
             ("`normal_(0, sqrt(2/(fan_in+fan_out)))`", lambda: schemes.normal_(w, 0.0, std, seed=0, stream=0), "core/normal"),
             ("`xavier_normal_`", lambda: schemes.xavier_normal_(w, seed=0, stream=0), "scheme/normal"),
             ("`trunc_normal_(bounds='std')`", lambda: schemes.trunc_normal_(w, 0.0, 0.1, -2, 2, bounds="std",
                                                                            seed=0, stream=0), "core/trunc"),
             ("`lecun_normal_` (JAX: truncated)", lambda: schemes.lecun_normal_(w, seed=0, stream=0), "scheme/trunc"),
             # torch's absolute bounds at std 0.02 (timm, ViT): [a, b] holds the normal's whole reach
             ("`trunc_normal_(std=0.02)` (timm, ViT), beside `normal_`",
              lambda: schemes.trunc_normal_(w, 0.0, 0.02, -2, 2, seed=0, stream=0), "like/normal")]
    rows = [Row(label, "float32", fn, w.nbytes, "fastinit", key=key) for label, fn, key in pairs]
    for backend in common.BACKENDS:
        rows.append(Row(f"fastinit `sparse_(sparsity=0.9)` ({backend})", "float32",
                        lambda b=backend: schemes.sparse_(w, 0.9, seed=0, stream=0, backend=b), w.nbytes, "fastinit",
                        key=f"sparse/{backend}"))
    if common.torch is not None:
        tw = common.torch_view(w)
        rows.append(Row(f"torch {common.torch.__version__.split('+')[0]} `nn.init.sparse_(0.9)`", "float32",
                        lambda: common.torch.nn.init.sparse_(tw, 0.9), w.nbytes, "torch", key="sparse/torch"))
    return rows


def paired(row, base):
    """The median over rounds of row's time / base's time: the two rows run back to back in
    each round, so a slow spell of the machine moves both (steadier than a ratio of medians)."""
    n = min(len(row.times), len(base.times))
    return float(np.median(np.array(row.times[:n]) / np.array(base.times[:n])))


def scheme_table(rows, by_key):
    lines = ["| Scheme | ms | x its core fill | x torch |", "|---|---:|---:|---:|"]
    for row in rows:
        kind, _, what = row.key.partition("/")
        core = by_key.get(f"core/{what}") if kind in ("scheme", "like") else None
        torch_row = by_key.get("sparse/torch") if kind == "sparse" and what != "torch" else None
        x_core = f"{paired(row, core):.2f}x the time" if core else "-"
        lines.append(f"| {row.label} | {row.median * 1e3:.1f} | {x_core} | {fmt(ratio(row, torch_row)) if torch_row else '-'} |")
    return lines


# XLA's worker threads spin for a while after a JAX row returns (one core for about 80 ms,
# measured), and torch's after its parallel loops, taking a core from whichever row runs next:
# a fastinit or write-limit row after one of theirs first waits until this process is idle
# (common.settle), then runs WAKE_RUNS times untimed.  The wait is needed: at 256 MiB a
# 2-thread normal_ took 30 ms on Zen 4, and was timed with one core while XLA still spun
# (5.3 GB/s instead of 9).  The pause leaves this VM's cores idle, and the host gives an idle
# core back slowly: after it, the first 2-thread normal_ often ran on about 1.4 cores (17-19 ms,
# not 13), and sometimes the second as well (Zen 5 VM, 2026-12-06).  With one untimed run, 5 of
# 9 timed runs of that row were slow; with two, none of 5.
SPINNING = ("jax", "torch")
WAKE_RUNS = 2
SCHEME_RUNS = 3


def measure(rows, repeat, budget):
    """Round-robin: one run of every unfinished row per round (first, and after a row of a
    library whose threads spin, a wait until they stop and WAKE_RUNS untimed runs)."""
    previous = None
    for _ in range(repeat):
        for row in rows:
            if not row.done(repeat, budget):
                if (previous is None or previous in SPINNING) and row.kind in ("fastinit", "limit"):
                    common.settle()
                    for _ in range(WAKE_RUNS):
                        row.fn()
                previous = row.kind
                wall, cpu = common.timed(row.fn)
                row.times.append(wall)
                row.cpu.append(cpu)


def ratio(a, b):
    return a.rate / b.rate if a is not None and b is not None else None


def fmt(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}x"


def table(rows, by_key):
    fill, fill_all = by_key["fill"], by_key["fill/all"]
    lines = ["| Fill | dtype | GB/s | min-max GB/s | x fill(1.0) | x fill, all cores | x NumPy | x torch "
             "| cores busy | runs |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        x_numpy = x_torch = "-"
        if row.kind == "fastinit":
            bf16 = row.dtype == "bfloat16"
            x_numpy = "n/a" if bf16 else fmt(ratio(row, by_key.get(f"{row.op}/numpy")))
            x_torch = fmt(ratio(row, by_key.get(f"{row.op}/torch" + ("/bf16" if bf16 else ""))))
        rates = [common.gbps(row.nbytes, t) for t in row.times]
        lines.append(f"| {row.label} | {row.dtype} | {row.rate:.2f} | {min(rates):.2f}-{max(rates):.2f} "
                     f"| {fmt(ratio(row, fill))} | {fmt(ratio(row, fill_all))} | {x_numpy} | {x_torch} "
                     f"| {row.busy:.2f} | {len(row.times)} |")
    return lines


def targets(by_key):
    """The design targets (fastinit's default backend, all cores, float32) with measured ratios."""
    fill, fill_all = by_key["fill"], by_key["fill/all"]

    def check(text, value, goal, note=""):
        if value is None:
            return f"- {text}: n/a (not measured)"
        return f"- {text}: {'PASS' if value >= goal else 'MISS'} ({value:.2f}x{note})"

    default = kernels.get().name
    lines = []
    for op, x_fill, x_numpy in (("uniform", 0.8, 8), ("normal", 0.45, 20)):
        row = by_key.get(f"{op}/{default}")
        numpy_row = by_key.get(f"{op}/numpy")
        all_cores = ratio(row, fill_all)
        note = "" if all_cores is None else f"; {all_cores:.2f}x the all-cores fill"
        lines.append(check(f"{OP_NAMES[op]} ({default}) >= {x_fill}x fill(1.0)", ratio(row, fill), x_fill, note))
        lines.append(check(f"{OP_NAMES[op]} ({default}) >= {x_numpy}x NumPy {NUMPY_NAMES[op]}",
                           ratio(row, numpy_row), x_numpy))
    rates = []  # (bfloat16 row, float32 row, where) of the element-rate targets
    for suffix, where in (("", f"{THREADS} threads"), ("/1", "1 thread")):
        value = ratio(by_key.get(f"trunc_normal/c{suffix}"), by_key.get(f"normal/c{suffix}"))
        lines.append(check(f"trunc_normal_ float32 >= 0.8x normal_ (c, {where})", value, 0.8))
        rates.append((f"c{suffix}/bf16", f"c{suffix}", where))
    if common.PORTABLE_BF16_ISA:  # the rounding of CPUs without AVX512-BF16, beside this CPU's float32
        rates.append(("c/1/bf16/portable", "c/1", PORTABLE_WHERE))
    for bf16, f32, where in rates:
        for op in common.FILLS:  # elements per second: a bfloat16 row's bytes hold twice the elements
            value = ratio(by_key.get(f"{op}/{bf16}"), by_key.get(f"{op}/{f32}"))
            lines.append(check(f"{OP_NAMES[op]} bfloat16 >= 1.0x float32's element rate (c, {where})",
                               None if value is None else 2 * value, 1.0))
    for op in common.FILLS:
        c, nb = by_key.get(f"{op}/c"), by_key.get(f"{op}/numba")
        # within 1.5x of C: Numba's GB/s >= C's / 1.5, i.e. C/Numba <= 1.5; shown as Numba/C
        value = ratio(nb, c)
        lines.append(check(f"Numba {OP_NAMES[op]} within 1.5x of C (Numba/C >= 0.67)", value, 1 / 1.5))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="buffer size in MiB (default 1024)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per row; medians are reported (default 5)")
    parser.add_argument("--row-budget", type=float, default=6.0,
                        help="stop repeating a row once its runs took this many seconds (default 6)")
    parser.add_argument("--no-jax", action="store_true", help="skip JAX even if installed")
    parser.add_argument("--json", default=str(RESULTS), metavar="PATH",
                        help=f"write every row's runs here, for python -m bench.report (default {RESULTS_NAME})")
    args = parser.parse_args(argv)
    if args.size_mib < 1 or args.repeat < 1:
        parser.error(f"--size-mib and --repeat must be >= 1; got {args.size_mib} and {args.repeat}")

    start = time.perf_counter()
    when = datetime.datetime.now(datetime.timezone.utc)
    print("## Machine")
    for line in common.machine_facts():
        print(f"    {line}")
    sys.stdout.flush()

    if common.torch is not None:
        common.torch.set_num_threads(THREADS)
    jax = None if args.no_jax else common.optional("jax")
    common.warm_up()
    n = args.size_mib * MiB // 4
    buf = common.touched(n, np.float32)  # pre-touched: no page fault is timed, and never zeros
    rows = build_rows(buf, jax)  # JAX compiles here, before any timing
    w = common.touched(4096 * 4096, np.float32).reshape(4096, 4096)
    srows = scheme_rows(w)
    with common.Contention() as contention:
        measure(rows + srows, args.repeat, args.row_budget)
        # a 64 MiB scheme run takes about 10 ms, where one slow run moves a median of 5 by
        # several percent: the scheme rows get SCHEME_RUNS times the runs, still in rotation
        measure(srows, SCHEME_RUNS * args.repeat, args.row_budget)
    by_key = {row.key: row for row in rows}
    s_by_key = {row.key: row for row in srows}

    print()
    print(f"## Fill throughput: {args.size_mib} MiB buffer, median of up to {args.repeat} runs "
          f"(GB/s = bytes written / s)")
    print()
    print("\n".join(table(rows, by_key)))
    print()
    if jax is not None:
        print(f"{JAX_NOTE}")
    else:
        print("JAX: not installed (pip install jax jaxlib), rows skipped.")
    if common.torch is None:
        print("torch: not installed (pip install torch==2.13.0), rows skipped.")
    print("NumPy has no truncated normal or bfloat16 generator (n/a); torch bfloat16 trunc_normal_ "
          "is not run (about 70 s per GiB).")
    print()
    if contention.others is not None and contention.others > 0.25:
        print(f"WARNING: while measuring, {contention.summary()}: the machine was shared, so "
              f"multi-threaded rows got less than {THREADS} cores; trust ratios more than GB/s, or rerun.")
        print()
    print(f"## Schemes: 4096 x 4096 float32 (64 MiB), same run, median of up to {SCHEME_RUNS * args.repeat} runs")
    print()
    print("\n".join(scheme_table(srows, s_by_key)))
    print()
    print("x its core fill: the median over rounds of the scheme's time over its core fill's (the two run "
          "back to back in each round).")
    print()
    print("## Targets (a report, not a test)")
    print("\n".join(targets(by_key)))
    sparse_c, sparse_torch = s_by_key.get("sparse/c"), s_by_key.get("sparse/torch")
    if sparse_c is not None and sparse_torch is not None:
        x = sparse_torch.median / sparse_c.median
        print(f"- sparse_ (c) 4096x4096 >= 20x torch sparse_: {'PASS' if x >= 20 else 'MISS'} ({x:.2f}x)")
    print()
    fills = np.array([common.gbps(buf.nbytes, t) for t in by_key["fill"].times])
    print(f"fill(1.0) runs, in order: {', '.join(f'{x:.1f}' for x in fills)} GB/s")
    both = np.array([common.gbps(buf.nbytes, t) for t in by_key["fill/all"].times])
    print(f"fill(1.0) on all cores, in order: {', '.join(f'{x:.1f}' for x in both)} GB/s")
    print(f"While measuring: {contention.summary()}; total time {time.perf_counter() - start:.0f} s")
    write_json(args, when, rows, srows, contention)


def write_json(args, when, rows, srows, contention):
    """Every row's runs, with where and when they were measured: bench/report.py's input."""
    def row_dict(row):
        return {"label": row.label, "dtype": row.dtype, "kind": row.kind, "op": row.op, "key": row.key,
                "nbytes": row.nbytes, "seconds": row.times, "cpu_seconds": row.cpu}

    result = {"date": when.isoformat(timespec="seconds"), "command": "python -m bench.compare " + " ".join(
                  sys.argv[1:]) if sys.argv[1:] else "python -m bench.compare",
              "size_mib": args.size_mib, "repeat": args.repeat, "threads": THREADS,
              "cpu": common.cpu_model(), "machine": common.machine_facts(), "contention": contention.summary(),
              "fills": [row_dict(r) for r in rows], "schemes": [row_dict(r) for r in srows]}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
