"""Model files: ``fastinit fill`` of a preset vs a plain write of the same bytes, and torch's way.

    python -m bench.model_files [--preset llama-1b] [--dtype bf16] [--repeat 3] [--dir DIR]
                                [--shard-size 5GB] [--no-torch] [--llama-8b]

Three rows, run interleaved (fill, plain, torch, fill, plain, torch, ...) in one session,
each measurement in a fresh subprocess writing to a fresh directory (deleted afterwards):

- ``fill``: ``fastinit.model.fill`` of the preset (safetensors, one file, or shards with
  ``--shard-size``), exactly what ``fastinit fill`` does.
- ``plain``: the same file written the same way with zero bytes and no RNG -- a new file,
  its space reserved with ``posix_fallocate``, the data region sent by the same streaming
  writer (``O_DIRECT`` chunks, fdatasync per chunk), fsync'ed, renamed.  This is the write
  bound of this design on this disk, measured in the same run (files are only compared side
  by side: the disk is noisy).
- ``dd``: the same number of zero bytes by ``dd if=/dev/zero oflag=direct conv=fsync`` (32 MiB
  blocks), an outside reference for writing zeros to this disk.
- ``torch``: torch's way -- every tensor built with ``torch.nn.init`` in bfloat16
  (``normal_(std=0.02)`` for weights, ``ones_`` for norms), then
  ``safetensors.torch.save_file``, then an fsync of the file (the same durability as the
  other two rows; its share of the time is shown).

Time is the wall time of the operation inside the child (imports excluded); peak RSS is
the child's ``VmHWM`` (``/proc/self/status``, read in the child at the end; not
``ru_maxrss``, which after fork + exec still holds the parent's RSS at the fork), next to
the same child's peak before the operation (the interpreter and its imports).
Medians over ``--repeat`` runs.  ``--llama-8b`` (16 GB in bf16) adds that preset's
fill and plain rows (torch's way needs more than 16 GB of memory and is not run for it).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, sys, time
kind, preset, dtype, out, shard = sys.argv[1:6]
def rss():
    # VmHWM, not ru_maxrss: after fork + exec ru_maxrss still holds the parent's RSS at the fork
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
from fastinit.model import fill, load
spec = load(preset).with_options(seed=0, dtype=dtype)
extra = {}
if kind == "fill":
    base = rss()
    t0 = time.perf_counter()
    fill(spec, out, quiet=True, max_shard_size=shard or None)
    elapsed, sync = time.perf_counter() - t0, 0.0
elif kind == "plain":
    # the same file written by the same streaming writer, chunk by chunk, with zero bytes and no RNG
    import numpy as np
    from fastinit.model import safetensors as st
    from fastinit.model.safetensors.stream import Stream
    prefix, data_start, offsets, size = st.layout(spec)
    base = rss()
    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, st.FILENAME)
    fd = os.open(path + ".partial", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, prefix, 0)
    st.reserve(fd, data_start + size, path)
    stream = Stream(path + ".partial", fd, data_start, 0, size, True, lambda end: None)
    for piece, _ in stream.pieces(0, size):
        np.frombuffer(piece, np.uint8)[:] = 0
        piece.release()
    stream.close(True)
    os.fsync(fd)
    os.close(fd)
    os.replace(path + ".partial", path)
    elapsed, sync = time.perf_counter() - t0, 0.0
elif kind == "dd":
    # zero bytes by coreutils: dd if=/dev/zero, direct I/O, fsync at the end (the same size)
    import subprocess
    from fastinit.model import safetensors as st
    size = sum(st.layout(spec)[1:4:2])
    base = rss()
    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    block = 32 << 20
    subprocess.run(["dd", "if=/dev/zero", f"of={os.path.join(out, st.FILENAME)}", f"bs={block}",
                    f"count={-(-size // block)}", "oflag=direct", "conv=fsync", "status=none"], check=True)
    os.truncate(os.path.join(out, st.FILENAME), size)
    elapsed, sync = time.perf_counter() - t0, 0.0
else:
    import torch
    from safetensors.torch import save_file
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    base = rss()
    t0 = time.perf_counter()
    tensors = {}
    for t in spec.tensors:
        x = torch.empty(t.shape, dtype=getattr(torch, t.dtype))
        if t.scheme == "ones":
            torch.nn.init.ones_(x)
        elif t.scheme == "zeros":
            torch.nn.init.zeros_(x)
        else:
            torch.nn.init.normal_(x, std=t.kwargs.get("std", 0.02))
        tensors[t.name] = x
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "model.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    t1 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    elapsed = time.perf_counter() - t0
    sync = time.perf_counter() - t1
print(json.dumps({"seconds": elapsed, "sync": sync, "peak_rss": rss(), "base_rss": base,
                  "bytes": sum(os.path.getsize(os.path.join(out, p)) for p in os.listdir(out))}))
"""


def measure(kind, preset, dtype, root, shard=""):
    """One measurement in a fresh subprocess and a fresh directory (removed afterwards)."""
    out = tempfile.mkdtemp(prefix=f"{kind}-", dir=root)
    try:
        result = subprocess.run([sys.executable, "-c", CHILD, kind, preset, dtype, out, shard],
                                capture_output=True, text=True, timeout=3600)
        if result.returncode != 0:
            raise RuntimeError(f"{kind} {preset} {dtype} failed ({result.returncode}): {result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run(preset, dtype, root, repeat=3, kinds=("fill", "plain", "torch"), shard=""):
    """``{kind: [result per run]}``, the kinds interleaved run by run."""
    runs = {k: [] for k in kinds}
    for _ in range(repeat):
        for k in kinds:
            runs[k].append(measure(k, preset, dtype, root, shard))
    return runs


def summary(runs):
    """``{kind: {"seconds", "sync", "peak_rss", "base_rss", "bytes", "times"}}`` with medians."""
    out = {}
    for kind, rs in runs.items():
        out[kind] = {key: statistics.median(r[key] for r in rs) for key in ("seconds", "sync", "peak_rss", "base_rss")}
        out[kind]["bytes"] = rs[0]["bytes"]
        out[kind]["times"] = [r["seconds"] for r in rs]
    return out


def report(preset, dtype, s):
    gib = 1 << 30
    lines = [f"### {preset} {dtype}: {s['fill']['bytes'] / 1e9:.2f} GB file, median of {len(s['fill']['times'])} "
             f"interleaved runs", "",
             "| way | wall s | GB/s | x plain | peak RSS | RSS before | runs (s, in order) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    plain = s.get("plain", {}).get("seconds")
    for kind, r in s.items():
        label = {"fill": "fastinit fill", "plain": "plain write of zeros (same writer, no RNG)",
                 "dd": "`dd if=/dev/zero oflag=direct conv=fsync`",
                 "torch": f"torch.nn.init + save_file + fsync (fsync {r['sync']:.2f} s)"}[kind]
        x = f"{r['seconds'] / plain:.2f}" if plain else "-"
        lines.append(f"| {label} | {r['seconds']:.2f} | {r['bytes'] / r['seconds'] / 1e9:.2f} | {x} | "
                     f"{r['peak_rss'] / gib:.2f} GiB | {r['base_rss'] / gib:.2f} GiB | "
                     f"{', '.join(f'{t:.2f}' for t in r['times'])} |")
    lines.append("")
    if plain:
        x, rss = s["fill"]["seconds"] / plain, s["fill"]["peak_rss"]
        lines.append(f"- fill within 1.1x of the plain write: {'PASS' if x <= 1.1 else 'MISS'} ({x:.2f}x)")
        if "dd" in s:
            x = s["fill"]["seconds"] / s["dd"]["seconds"]
            lines.append(f"- fill within 1.1x of dd writing zeros: {'PASS' if x <= 1.1 else 'MISS'} ({x:.2f}x)")
        lines.append(f"- fill peak RSS under 1 GiB: {'PASS' if rss < gib else 'MISS'} ({rss / gib:.2f} GiB)")
    if "torch" in s:
        lines.append(f"- torch's way / fill: {s['torch']['seconds'] / s['fill']['seconds']:.2f}x time, "
                     f"{s['torch']['peak_rss'] / s['fill']['peak_rss']:.2f}x peak RSS")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.model_files", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="llama-1b")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", default=None, help="where the files are written (default: a temporary directory "
                                               "under the current one, on the same disk as the project)")
    p.add_argument("--shard-size", default="", help="fill shards of this size (e.g. 5GB) instead of one file")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--llama-8b", action="store_true", help="also llama-8b (16 GB bf16; fill and plain only)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat must be >= 1; got {args.repeat}")
    from . import common
    print("## Machine")
    for line in common.machine_facts():
        print(f"    {line}")
    root = tempfile.mkdtemp(prefix="bench-model-files-", dir=args.dir or os.getcwd())
    start = time.perf_counter()
    try:
        kinds = ("fill", "plain", "dd") if args.no_torch or common.torch is None else ("fill", "plain", "dd", "torch")
        print()
        print(report(args.preset, args.dtype, summary(run(args.preset, args.dtype, root, args.repeat, kinds,
                                                          args.shard_size))))
        if args.llama_8b:
            print()
            print(report("llama-8b", args.dtype, summary(run("llama-8b", args.dtype, root, args.repeat,
                                                             ("fill", "plain", "dd"), args.shard_size))))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\ntotal time {time.perf_counter() - start:.0f} s; files written to {root} (removed)")


if __name__ == "__main__":
    main()
