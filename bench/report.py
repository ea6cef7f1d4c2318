"""README's Performance section and its plot, from what ``python -m bench.compare`` measured.

    python -m bench.report [--json bench/results/compare.json] [--readme README.md] [--plot docs/img/throughput.png]

Reads the JSON that ``bench.compare`` writes (every row's runs, the date, the machine), draws
throughput against NumPy, torch, JAX and the write limits (matplotlib: the ``plot`` extra),
and replaces README's text between ``<!-- compare:begin -->`` and ``<!-- compare:end -->``
with the dated table.  ``make compare`` runs both.
"""

import argparse
import json
import re
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
OPS = {"uniform": "uniform_", "normal": "normal_", "trunc_normal": "trunc_normal_"}
# (row key suffix, plot label, colour); fastinit first, then the references
SERIES = [("c", "fastinit (C)", "#1f77b4"), ("numba", "fastinit (Numba)", "#6baed6"),
          ("numpy", "NumPy PCG64", "#ff7f0e"), ("torch", "torch", "#d62728"), ("jax", "JAX (CPU)", "#2ca02c")]


def gbps(row):
    return row["nbytes"] / median(row["seconds"]) / 1e9


def load(path):
    data = json.loads(Path(path).read_text())
    data["by_key"] = {r["key"]: r for r in data["fills"]}
    data["scheme_by_key"] = {r["key"]: r for r in data["schemes"]}
    return data


def plot(data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, width = data["by_key"], 0.8 / len(SERIES)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for s, (suffix, label, colour) in enumerate(SERIES):
        xs, ys = [], []
        for i, op in enumerate(OPS):
            row = rows.get(f"{op}/{suffix}")
            if row is not None:
                xs.append(i - 0.4 + (s + 0.5) * width)
                ys.append(gbps(row))
        ax.bar(xs, ys, width, label=label, color=colour)
    for key, style, label in (("fill", ":", "write limit, 1 thread: fill(1.0)"),
                              ("fill/all", "--", f"write limit, {data['threads']} threads")):
        if key in rows:
            ax.axhline(gbps(rows[key]), color="k", linestyle=style, linewidth=1, label=label)
    ax.set_xticks(range(len(OPS)), [f"{name} (float32)" for name in OPS.values()])
    ax.set_yscale("log")                     # the rows span two orders of magnitude
    ax.set_ylabel("GB/s written, log scale (higher is better)")
    ax.set_title(f"{data['size_mib']} MiB float32, {data['threads']} threads, {data['cpu']}, {data['date'][:10]}",
                 fontsize=9)
    ax.legend(fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def ratio(a, b):
    return "-" if a is None or b is None else f"{gbps(a) / gbps(b):.2f}x"


def table(data):
    rows = data["by_key"]
    fill, fill_all = rows.get("fill"), rows.get("fill/all")
    lines = ["| fill (float32) | GB/s | x write limit, all cores | x NumPy | x torch | x JAX |",
             "|---|---:|---:|---:|---:|---:|"]
    for op, name in OPS.items():
        for backend in ("c", "numba"):
            row = rows.get(f"{op}/{backend}")
            if row is not None:
                lines.append(f"| fastinit `{name}` ({backend}, {data['threads']} threads) | {gbps(row):.2f} "
                             f"| {ratio(row, fill_all)} | {ratio(row, rows.get(f'{op}/numpy'))} "
                             f"| {ratio(row, rows.get(f'{op}/torch'))} | {ratio(row, rows.get(f'{op}/jax'))} |")
    for key, row in rows.items():
        if row["kind"] in ("numpy", "torch", "jax") and row["dtype"] == "float32":
            lines.append(f"| {row['label']} | {gbps(row):.2f} | {ratio(row, fill_all)} | | | |")
    for row in (fill, fill_all):
        if row is not None:
            lines.append(f"| {row['label']} | {gbps(row):.2f} | {ratio(row, fill_all)} | | | |")
    return lines


def section(data, plot_path):
    runs = max(len(r["seconds"]) for r in data["fills"])
    machine = "; ".join(line for line in data["machine"] if line.startswith(("CPU:", "Libraries:")))
    shared = re.match(r"other processes kept ([0-9.]+)", data["contention"])
    caveat = (" The machine was shared, so the multi-threaded rows got less than all cores: trust the ratios "
              "more than the GB/s." if shared and float(shared[1]) > 0.25 else "")
    return "\n".join([
        f"Measured {data['date'][:10]} with `{data['command']}` (the first step of `make compare`, which "
        f"uses a 1 GiB buffer and up to 5 runs; this run: a {data['size_mib']} MiB buffer, rows timed in "
        f"rotation, medians of up to {runs} runs) on {machine}. While it ran, {data['contention']}.{caveat}",
        "",
        f"![throughput]({plot_path})",
        "",
        *table(data),
        "",
        "JAX has no in-place fill: its rows include allocating the output. `python -m bench.compare` prints "
        "the full table (bfloat16, one thread, every scheme) and `bench/results/compare.json` holds every run.",
    ])


def update_readme(readme, text):
    old = Path(readme).read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(old):
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} section to replace")
    Path(readme).write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", old))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(ROOT / "bench/results/compare.json"))
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    parser.add_argument("--plot", default=str(ROOT / "docs/img/throughput.png"))
    args = parser.parse_args(argv)
    data = load(args.json)
    plot(data, args.plot)
    rel = Path(args.plot).resolve().relative_to(Path(args.readme).resolve().parent)
    update_readme(args.readme, section(data, rel.as_posix()))
    print(f"wrote {args.plot} and the Performance section of {args.readme}")


if __name__ == "__main__":
    main()
