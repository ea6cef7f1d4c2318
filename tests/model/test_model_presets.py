"""Presets (fastinit.model.presets): names, shapes and parameter counts of HF-style models."""

import json

import pytest

from fastinit.model import presets
from fastinit.model import load
from fastinit.model.spec import SpecError

# Published parameter counts: Llama 3.2 1B (tied embeddings) and Llama 3.1 8B.
PARAMETERS = {"llama-1b": 1_235_814_400, "llama-8b": 8_030_261_248}


@pytest.mark.parametrize("name", ["llama-tiny", "llama-1b", "llama-8b"])
def test_llama_presets_match_transformers(name):
    """Names and shapes of the real ``LlamaForCausalLM`` built from the preset's config (meta device)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = {k: v for k, v in presets.NAMED[name].items() if k != "model_type"}
    with torch.device("meta"):
        hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    expected = {n: tuple(p.shape) for n, p in hf.named_parameters()}     # a tied lm_head is dropped
    spec = presets.from_config(presets.NAMED[name])
    assert {t.name: t.shape for t in spec.tensors} == expected
    assert spec.numel == sum(p.numel() for p in hf.parameters()) == PARAMETERS.get(name, spec.numel)
    assert all(t.scheme == ("ones" if t.name.endswith("norm.weight") else "normal(std=0.02)")
               for t in spec.tensors)
    assert ("lm_head.weight" in expected) == (not config["tie_word_embeddings"])


def test_gpt2():
    spec = presets.from_config({"architectures": ["GPT2LMHeadModel"], "n_layer": 12})
    assert spec.numel == 124_439_808          # GPT-2 small without the tied lm_head
    assert spec["transformer.h.0.attn.c_attn.weight"].shape == (768, 2304)     # Conv1D: (in, out)
    assert spec["transformer.h.11.mlp.c_proj.weight"].scheme == f"normal(std={0.02 / 24 ** 0.5!r})"
    assert spec["transformer.ln_f.bias"].scheme == "zeros"


def test_llama_options():
    c = {"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
         "num_hidden_layers": 1, "num_attention_heads": 2, "attention_bias": True, "mlp_bias": True,
         "initializer_range": 0.01, "torch_dtype": "bfloat16"}
    spec = presets.from_config(c)
    assert spec["model.layers.0.self_attn.k_proj.weight"].shape == (8, 8)     # kv heads default to heads
    assert spec["model.layers.0.self_attn.q_proj.bias"].scheme == "zeros"
    assert spec["model.layers.0.mlp.down_proj.bias"].shape == (8,)
    assert spec["lm_head.weight"].scheme == "normal(std=0.01)"
    assert {t.dtype for t in spec.tensors} == {"bfloat16"}


def test_config_file_recognised_by_content(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(presets.NAMED["llama-tiny"]))
    assert load(str(path)) == presets.from_config(presets.NAMED["llama-tiny"])
    assert load("llama-tiny") == load(str(path))


def test_config_errors():
    with pytest.raises(SpecError, match="unsupported model_type 'bert'"):
        presets.from_config({"model_type": "bert"})
    with pytest.raises(SpecError, match="field 'hidden_size'"):
        presets.from_config({"model_type": "llama", "hidden_size": 0})
