"""A transformers model from nothing to initialized: transformers' ``from_config`` on the
CPU against ``fastinit.torch.materialize`` of the same model built on the meta device.

    python -m bench.hf_models [--model llama-1b|llama-small] [--repeat 3]

Each run is a fresh process (imports and a tiny model's build done first, then timed; the model is the only big
allocation), so its peak RSS (``VmHWM``) is the run's own; rows alternate and the
minimum of the runs is reported (the machine may be shared: the minimum is the run
least disturbed; CPU seconds, user and system, are shown beside it, since a busy machine
stretches wall time).  Both ways include allocating and page-faulting every byte.
``llama-1b`` is a 1.24B-parameter Llama shape in bfloat16 with tied embeddings.

A third row is the limit for fresh memory: the same ``materialize`` with every parameter
``ones`` (no random numbers), i.e. allocation, page faults and writing the model's bytes.
System CPU seconds are mostly page faults; under a hypervisor that gives freed memory back
to the host (virtio-balloon free page reporting), memory new to the process is also new to
the host and its first touch costs the host's faults too -- the ``ones`` row shows it.
The fourth row measures that: the same ``materialize`` in huge pages, timed after two
untimed builds in the same process were freed, so the memory is the guest's and the host's
already (not a cold start, and huge pages forced where ``huge_pages_help()`` would refuse
them) -- what the fill costs where page faults are cheap.
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

MODELS = {
    "llama-1b": dict(hidden_size=2048, num_hidden_layers=16, intermediate_size=8192, num_attention_heads=32,
                     num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "llama-small": dict(hidden_size=512, num_hidden_layers=4, intermediate_size=1536, num_attention_heads=8,
                        num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False),
}


def _rss():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmHWM"].split()[0]) * 1024, int(fields["VmRSS"].split()[0]) * 1024


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def _huge_pages():
    """Bytes of this process's memory in transparent huge pages (0 where not reported)."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            return sum(int(line.split()[1]) * 1024 for line in f if line.startswith("AnonHugePages:"))
    except OSError:
        return 0


WAYS = {"hf": "transformers `from_config` (CPU)", "fastinit": "meta + `fastinit.torch.materialize`",
        "ones": "meta + `materialize`, all parameters `ones` (fresh-memory limit)",
        "warm": "meta + `materialize` into memory just freed, in huge pages (not a cold start)"}
WARM_BUILDS = 2   # untimed builds freed before the "warm" row's timed one


def build(way, model, threads=None):
    """Build ``model`` the ``way`` (a key of ``WAYS``) in this process; returns the facts."""
    import torch
    import transformers

    import fastinit.torch as ft

    transformers.logging.set_verbosity_error()
    if threads:
        torch.set_num_threads(threads)
    config = transformers.LlamaConfig(**MODELS[model])
    tiny = transformers.LlamaConfig(hidden_size=64, num_hidden_layers=1, intermediate_size=128, num_attention_heads=4,
                                    vocab_size=256)
    transformers.AutoModelForCausalLM.from_config(tiny)   # warm-up: lazy imports, kernels
    with torch.device("meta"):
        warm = transformers.AutoModelForCausalLM.from_config(tiny)
    ft.materialize(warm, seed=0)
    del warm
    if way == "warm":
        from unittest import mock

        from fastinit.torch import arena
        mock.patch.object(arena, "huge_pages_help", lambda: True).start()   # this process only
        for _ in range(WARM_BUILDS):
            with torch.device("meta"):
                m = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
            ft.materialize(m, seed=0, dtype=torch.bfloat16)
            del m
            gc.collect()   # the model's mapping is unmapped with its last tensor
    _, before = _rss()
    cpu0 = _cpu()
    start = time.perf_counter()
    if way == "hf":
        m = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    else:
        with torch.device("meta"):
            m = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        ft.materialize(m, seed=0, dtype=torch.bfloat16, rules={"*": "ones"} if way == "ones" else None)
    seconds = time.perf_counter() - start
    user, system = (b - a for a, b in zip(cpu0, _cpu()))
    peak, _ = _rss()
    nbytes = sum(p.numel() * p.element_size() for p in m.parameters()) + sum(
        b.numel() * b.element_size() for b in m.buffers())
    assert not any(p.is_meta for p in m.parameters())
    return {"way": way, "seconds": seconds, "user": user, "sys": system, "cpu": user + system, "peak": peak,
            "before": before, "model_bytes": nbytes, "params": sum(p.numel() for p in m.parameters()),
            "huge": _huge_pages()}


def run_child(way, model):
    out = subprocess.run([sys.executable, "-m", "bench.hf_models", "--child", way, "--model", model],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.hf_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="llama-1b", choices=sorted(MODELS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=sorted(WAYS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(build(args.child, args.model)))
        return 0
    runs = {way: [] for way in WAYS}
    busy0, children0, t0 = _machine_busy(), _children_cpu(), time.perf_counter()
    for _ in range(args.repeat):
        for way in runs:
            runs[way].append(run_child(way, args.model))
    busy1, wall = _machine_busy(), time.perf_counter() - t0
    best = {way: min(r, key=lambda x: x["seconds"]) for way, r in runs.items()}
    hf, fi, ones = best["hf"], best["fastinit"], best["ones"]
    gb = fi["model_bytes"] / 1e9
    print(f"## {args.model}: {fi['params'] / 1e9:.3f}B parameters, {gb:.3f} GB in bfloat16; "
          f"min of {args.repeat} runs each, alternating, one process per run")
    print()
    print("| way | seconds (runs) | CPU seconds: user + sys | peak RSS | peak RSS - RSS before building | "
          "in huge pages |")
    print("|---|---|---|---|---|---|")
    for way, label in WAYS.items():
        b = best[way]
        secs = ", ".join(f"{r['seconds']:.2f}" for r in runs[way])
        grown = b["peak"] - b["before"]
        print(f"| {label} | {b['seconds']:.2f} ({secs}) | {b['user']:.2f} + {b['sys']:.2f} | "
              f"{b['peak'] / 1e9:.2f} GB | {grown / 1e9:.2f} GB ({grown / b['model_bytes']:.3f}x the model) | "
              f"{b['huge'] / 1e9:.2f} GB |")
    print()
    cpu = {way: min(r["cpu"] for r in runs[way]) for way in runs}
    print(f"speed-up: {hf['seconds'] / fi['seconds']:.1f}x in wall time (target >= 20x), "
          f"{cpu['hf'] / cpu['fastinit']:.1f}x in CPU time; fastinit's peak RSS growth "
          f"{(fi['peak'] - fi['before']) / fi['model_bytes']:.3f}x the model's bytes (target <= 1.15x); "
          f"the fresh-memory limit (all ones) takes {ones['seconds'] / fi['seconds']:.2f}x fastinit's time; "
          f"into memory just freed, in huge pages: {hf['seconds'] / best['warm']['seconds']:.1f}x")
    if busy0 is not None and busy1 is not None:
        others = max(0.0, busy1 - busy0 - (_children_cpu() - children0)) / wall
        print(f"other processes kept {others:.2f} of {os.cpu_count()} cores busy on average during the runs; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


def _machine_busy():
    """Busy CPU seconds of the whole machine since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (fields + [0] * 7)[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    sys.exit(main())
