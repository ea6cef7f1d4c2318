"""A transformers model from nothing to initialized: transformers' ``from_config`` on the
CPU against ``fastinit.torch.materialize`` of the same model built on the meta device.

    python -m bench.hf_models [--model llama-1b|llama-small] [--repeat 3]

Each run is a fresh process (imports and a tiny model's build done first, then timed; the model is the only big
allocation), so its peak RSS (``VmHWM``) is the run's own; rows alternate and the
minimum of the runs is reported (the machine may be shared: the minimum is the run
least disturbed; CPU seconds, user + system, are shown beside it, since a busy machine
stretches wall time).  Both ways include allocating and page-faulting every byte.
``llama-1b`` is a 1.24B-parameter Llama shape in bfloat16 with tied embeddings.
"""

import argparse
import json
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
    return r.ru_utime + r.ru_stime


def build(way, model, threads=None):
    """Build ``model`` the ``way`` ("hf" or "fastinit") in this process; returns the facts."""
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
    _, before = _rss()
    cpu0 = _cpu()
    start = time.perf_counter()
    if way == "hf":
        m = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    else:
        with torch.device("meta"):
            m = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        ft.materialize(m, seed=0, dtype=torch.bfloat16)
    seconds = time.perf_counter() - start
    cpu = _cpu() - cpu0
    peak, _ = _rss()
    nbytes = sum(p.numel() * p.element_size() for p in m.parameters()) + sum(
        b.numel() * b.element_size() for b in m.buffers())
    assert not any(p.is_meta for p in m.parameters())
    return {"way": way, "seconds": seconds, "cpu": cpu, "peak": peak, "before": before, "model_bytes": nbytes,
            "params": sum(p.numel() for p in m.parameters())}


def run_child(way, model):
    out = subprocess.run([sys.executable, "-m", "bench.hf_models", "--child", way, "--model", model],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.hf_models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="llama-1b", choices=sorted(MODELS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("hf", "fastinit"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(build(args.child, args.model)))
        return 0
    runs = {"hf": [], "fastinit": []}
    for _ in range(args.repeat):
        for way in runs:
            runs[way].append(run_child(way, args.model))
    best = {way: min(r, key=lambda x: x["seconds"]) for way, r in runs.items()}
    hf, fi = best["hf"], best["fastinit"]
    gb = fi["model_bytes"] / 1e9
    print(f"## {args.model}: {fi['params'] / 1e9:.3f}B parameters, {gb:.3f} GB in bfloat16; "
          f"min of {args.repeat} runs each, alternating, one process per run")
    print()
    print("| way | seconds (runs) | CPU seconds (user + sys) | peak RSS | peak RSS - RSS before building |")
    print("|---|---|---|---|---|")
    for way, label in (("hf", "transformers `from_config` (CPU)"), ("fastinit", "meta + `fastinit.torch.materialize`")):
        b = best[way]
        secs = ", ".join(f"{r['seconds']:.2f}" for r in runs[way])
        cpu = min(r["cpu"] for r in runs[way])
        grown = b["peak"] - b["before"]
        print(f"| {label} | {b['seconds']:.2f} ({secs}) | {cpu:.2f} | {b['peak'] / 1e9:.2f} GB | "
              f"{grown / 1e9:.2f} GB ({grown / b['model_bytes']:.3f}x the model) |")
    print()
    cpu = {way: min(r["cpu"] for r in runs[way]) for way in runs}
    print(f"speed-up: {hf['seconds'] / fi['seconds']:.1f}x in wall time (target >= 20x), "
          f"{cpu['hf'] / cpu['fastinit']:.1f}x in CPU time; fastinit's peak RSS growth "
          f"{(fi['peak'] - fi['before']) / fi['model_bytes']:.3f}x the model's bytes (target <= 1.15x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
