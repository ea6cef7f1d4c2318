"""transformers' ``from_config`` on the CPU beside meta + ``fastinit.torch.materialize``, as
one pytest-benchmark group (``python -m bench.hf_models`` is the full comparison on the
1.24B Llama shape, one process per run with its peak RSS).  Here on a 45M-parameter
Llama so the group runs in seconds; both build the model from nothing each round."""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import fastinit.torch as ft  # noqa: E402

from .hf_models import MODELS  # noqa: E402

CONFIG = transformers.LlamaConfig(**MODELS["llama-small"])


def hf_way():
    return transformers.AutoModelForCausalLM.from_config(CONFIG, dtype=torch.bfloat16)


def fastinit_way():
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(CONFIG, dtype=torch.bfloat16)
    return ft.materialize(model, seed=0, dtype=torch.bfloat16)


@pytest.mark.parametrize("way", ["transformers", "fastinit"])
def test_llama_small_from_nothing(benchmark, way):
    fn = hf_way if way == "transformers" else fastinit_way
    fn()   # warm-up: lazy imports, kernels
    benchmark.group = "llama-small (45M params, bf16) from nothing to initialized"
    model = benchmark.pedantic(fn, rounds=3, iterations=1)
    assert not any(p.is_meta for p in model.parameters())
