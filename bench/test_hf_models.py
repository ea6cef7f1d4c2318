"""transformers' ``from_config`` on the CPU beside meta + ``fastinit.torch.materialize``, as
one pytest-benchmark group (``python -m bench.hf_models`` is the full comparison on the
1.24B Llama shape, one process per run with its peak RSS).  Here on a 45M-parameter
Llama so the group runs in seconds, or on the 1.24B one with ``FASTINIT_BENCH_LARGE=1``;
every way builds the model from nothing each round.  The ``ones`` way is the same
``materialize`` with every parameter ``ones``: allocation, page faults and the model's
bytes written, no random numbers -- the limit for fresh memory.  Rounds after the first
may get memory the process just freed (already faulted in by the hypervisor's host), so
these figures can be lower than the one-process-per-run ones."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import fastinit.torch as ft  # noqa: E402

from .conftest import LARGE  # noqa: E402
from .hf_models import MODELS  # noqa: E402

MODEL = "llama-1b" if LARGE else "llama-small"
CONFIG = transformers.LlamaConfig(**MODELS[MODEL])


def hf_way():
    return transformers.AutoModelForCausalLM.from_config(CONFIG, dtype=torch.bfloat16)


def fastinit_way(rules=None):
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(CONFIG, dtype=torch.bfloat16)
    return ft.materialize(model, seed=0, dtype=torch.bfloat16, rules=rules)


WAYS = {"transformers": hf_way, "fastinit": fastinit_way, "ones": lambda: fastinit_way({"*": "ones"})}
TINY = transformers.LlamaConfig(hidden_size=64, num_hidden_layers=1, intermediate_size=128, num_attention_heads=4,
                                vocab_size=256)


def warm_up():
    """Lazy imports and kernels, on a tiny model both ways."""
    transformers.logging.set_verbosity_error()
    transformers.AutoModelForCausalLM.from_config(TINY)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(TINY)
    ft.materialize(model, seed=0)


@pytest.mark.parametrize("way", list(WAYS))
def test_llama_from_nothing(benchmark, way):
    warm_up()
    benchmark.group = f"{MODEL} (bf16) from nothing to initialized"
    model = benchmark.pedantic(WAYS[way], rounds=3, iterations=1)
    assert not any(p.is_meta for p in model.parameters())
