"""fastinit.torch beside torch's own init, measured side by side in one run.

    python -m bench.torch_init [--size-mib 1024] [--model llama-1b] [--repeat 3]

1. ``kaiming_uniform_(a=sqrt(5))`` on one pre-touched float32 tensor: torch.nn.init (torch
   using every core) against fastinit.torch, both in place on the same memory.
2. A whole Llama-shaped model in bfloat16, from nothing to initialized parameters:
   torch's way constructs it on the CPU (allocation, then each module's reset_parameters);
   fastinit's constructs it on the meta device and calls ``fastinit.torch.materialize``
   (allocation, then the modules' recorded ``reset_parameters`` replayed by fastinit).  Both include allocating and
   page-faulting the 2.5 GB; the model is freed between runs.  Rows alternate, medians.
3. The same model built unmodified on the CPU (torch's way) inside ``fastinit.torch.installed()``:
   torch's own ``reset_parameters`` calls, seedless, routed through fastinit.
"""

import argparse
import gc
import math
import time

import torch

import fastinit.torch as ft
from fastinit.model import presets

from .common import MiB, THREADS, gbps, machine_facts


class RMSNorm(torch.nn.Module):
    def __init__(self, d, dtype):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(d, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):   # what materialize records (a value set in __init__ is not re-runnable)
        torch.nn.init.ones_(self.weight)


class Layer(torch.nn.Module):
    """The parameters of a Llama decoder layer, named as Hugging Face names them."""

    def __init__(self, c, dtype):
        super().__init__()
        d, kv = c["hidden_size"], c["hidden_size"] // c["num_attention_heads"] * c["num_key_value_heads"]
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False, dtype=dtype)  # noqa: E731
        self.self_attn = torch.nn.Module()
        for name, (i, o) in {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d)}.items():
            setattr(self.self_attn, name, lin(i, o))
        self.mlp = torch.nn.Module()
        f = c["intermediate_size"]
        for name, (i, o) in {"gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d)}.items():
            setattr(self.mlp, name, lin(i, o))
        self.input_layernorm = RMSNorm(d, dtype)
        self.post_attention_layernorm = RMSNorm(d, dtype)


class LlamaLike(torch.nn.Module):
    """The parameters (names and shapes) of a Llama config, as Hugging Face names them; no forward."""

    def __init__(self, config, dtype=torch.bfloat16):
        super().__init__()
        self.model = torch.nn.Module()
        self.model.embed_tokens = torch.nn.Embedding(config["vocab_size"], config["hidden_size"], dtype=dtype)
        self.model.layers = torch.nn.ModuleList(Layer(config, dtype) for _ in range(config["num_hidden_layers"]))
        self.model.norm = RMSNorm(config["hidden_size"], dtype)
        self.lm_head = torch.nn.Linear(config["hidden_size"], config["vocab_size"], bias=False, dtype=dtype)
        if config.get("tie_word_embeddings"):
            self.lm_head.weight = self.model.embed_tokens.weight


def timed(fn):
    gc.collect()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def torch_way(config):
    LlamaLike(config)


def fastinit_way(config):
    with torch.device("meta"):
        model = LlamaLike(config)
    ft.materialize(model, seed=0)


def installed_way(config):
    with ft.installed():
        LlamaLike(config)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.torch_init", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--model", default="llama-1b", help="a Llama preset of fastinit.model.presets (default llama-1b)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    print("## Machine")
    for line in machine_facts():
        print(f"    {line}")
    print(f"    torch {torch.__version__}, {torch.get_num_threads()} threads")

    n = args.size_mib * MiB // 4
    t = torch.ones(n // 4096, 4096)  # pre-touched
    a = math.sqrt(5)
    runs = {"torch": [], "fastinit": []}
    torch.nn.init.kaiming_uniform_(t[:64], a=a)
    ft.kaiming_uniform_(t[:64], a=a, seed=0, stream=0)
    for _ in range(args.repeat):
        runs["torch"].append(timed(lambda: torch.nn.init.kaiming_uniform_(t, a=a)))
        runs["fastinit"].append(timed(lambda: ft.kaiming_uniform_(t, a=a, seed=0, stream=0)))
    del t
    kt, kf = median(runs["torch"]), median(runs["fastinit"])
    nbytes = n * 4

    config = presets.NAMED[args.model]
    with torch.device("meta"):
        probe = LlamaLike(config)
    names = {n: tuple(p.shape) for n, p in probe.named_parameters()}
    expected = {t.name: t.shape for t in presets.from_config(config).tensors}
    assert names == expected, "LlamaLike disagrees with the preset"  # the preset is checked against transformers
    params = sum(p.numel() for p in probe.parameters())
    del probe
    fastinit_way({**config, "num_hidden_layers": 1})  # warm up
    mruns = {"torch": [], "fastinit": [], "installed": []}
    for _ in range(args.repeat):
        mruns["torch"].append(timed(lambda: torch_way(config)))
        mruns["fastinit"].append(timed(lambda: fastinit_way(config)))
        mruns["installed"].append(timed(lambda: installed_way(config)))
    mt, mf, mi = median(mruns["torch"]), median(mruns["fastinit"]), median(mruns["installed"])

    print()
    print(f"## torch front end, median of {args.repeat} alternating runs")
    print()
    print("| operation | torch | fastinit.torch | fastinit / torch speed |")
    print("|---|---|---|---|")
    print(f"| `kaiming_uniform_(a=sqrt(5))`, {args.size_mib} MiB float32 | {kt:.3f} s ({gbps(nbytes, kt):.2f} GB/s) | "
          f"{kf:.3f} s ({gbps(nbytes, kf):.2f} GB/s) | {kt / kf:.1f}x |")
    print(f"| {args.model} ({params / 1e9:.2f}B params) bf16: build + init (torch: on CPU; fastinit: meta + "
          f"`materialize`) | {mt:.2f} s | {mf:.2f} s | {mt / mf:.1f}x |")
    print(f"| {args.model} bf16: the same CPU construction, unmodified, in `fastinit.torch.installed()` | "
          f"{mt:.2f} s | {mi:.2f} s | {mt / mi:.1f}x |")
    print()
    print("## Targets (a report, not a test)")
    for label, x in (("kaiming_uniform_ 1 GiB float32 >= 5x torch", kt / kf),
                     (f"{args.model} bf16 init >= 5x torch's own init", mt / mf)):
        print(f"- {label}: {'PASS' if x >= 5 else 'MISS'} ({x:.2f}x)")
    print(f"runs (s): kaiming torch {runs['torch']}, fastinit {runs['fastinit']}; model torch {mruns['torch']}, "
          f"fastinit {mruns['fastinit']}, installed {mruns['installed']}")


if __name__ == "__main__":
    main()
