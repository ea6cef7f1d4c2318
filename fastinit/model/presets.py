"""Specs generated from Hugging Face-style ``config.json`` files (no ``transformers`` needed).

Supported families, recognised by ``model_type`` or ``architectures``:

- Llama-family decoders (``llama``, ``mistral``): ``model.embed_tokens``, per layer
  ``self_attn.{q,k,v,o}_proj``, ``mlp.{gate,up,down}_proj``, ``input_layernorm``,
  ``post_attention_layernorm``; ``model.norm``; ``lm_head`` unless ``tie_word_embeddings``.
  Biases if ``attention_bias`` / ``mlp_bias``.
- GPT-2 (``gpt2``): the ``GPT2LMHeadModel`` state dict without the tied ``lm_head``; Conv1D
  weights are (in, out).

Initialization follows transformers' ``_init_weights``: Linear/Embedding weights
``normal(std=initializer_range)`` (default 0.02), norm weights ones, biases zeros; GPT-2 also
scales ``c_proj.weight`` to ``initializer_range / sqrt(2 n_layer)`` as GPT2PreTrainedModel does.
The dtype is the config's ``dtype`` (transformers 5) or ``torch_dtype`` if given, else float32
(``--dtype`` overrides).  With transformers installed, the CLI reads a config.json through
``fastinit.torch.hf`` instead (every architecture, the model's own init recorded); these
presets are the path without it.
"""

import math

from .. import _validate
from .._extras import install_hint
from .spec import ModelSpec, SpecError, canonical_dtype, tensor

LLAMA_TYPES = {"llama", "mistral"}
GPT2_TYPES = {"gpt2"}

# the configs of the shared workloads (names and shapes checked against them in the tests)
NAMED = {
    "llama-tiny": {"model_type": "llama", "vocab_size": 32000, "hidden_size": 256, "intermediate_size": 688,
                   "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 4,
                   "tie_word_embeddings": False},
    "llama-1b": {"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
                 "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                 "tie_word_embeddings": True},
    "llama-8b": {"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
                 "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                 "tie_word_embeddings": False},
    "gpt2": {"model_type": "gpt2", "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12,
             "n_head": 12},
}


def family(config):
    """``"llama"``, ``"gpt2"`` or None for a config dict."""
    if not isinstance(config, dict):
        return None
    model_type = config.get("model_type")
    archs = config.get("architectures") or []
    if model_type in LLAMA_TYPES or any(str(a).startswith(("Llama", "Mistral")) for a in archs):
        return "llama"
    if model_type in GPT2_TYPES or any(str(a).startswith("GPT2") for a in archs):
        return "gpt2"
    return None


def is_config(data) -> bool:
    """Whether ``data`` looks like an HF config.json (not a fastinit spec)."""
    return isinstance(data, dict) and "tensors" not in data and ("model_type" in data or "architectures" in data)


def _int(config, key, default=None):
    value = config.get(key, default)
    try:
        return _validate.integer(value, key, lo=1)
    except (TypeError, ValueError):
        raise SpecError(f"config.json: field {key!r}: expected an int > 0; got {value!r}") from None


def from_config(config, dtype=None) -> ModelSpec:
    """The spec of an HF config dict (see the module docstring for the supported families)."""
    fam = family(config)
    if fam is None:
        raise SpecError(f"config.json: unsupported model_type {config.get('model_type')!r} / architectures "
                        f"{config.get('architectures')!r}; supported without transformers: "
                        f"{', '.join(sorted(LLAMA_TYPES | GPT2_TYPES))}; every model transformers builds with "
                        f"transformers installed ({install_hint('hf')})")
    # transformers 5 writes "dtype", 4.x "torch_dtype"
    dtype = canonical_dtype(dtype or config.get("dtype") or config.get("torch_dtype") or "float32",
                            "config.json: dtype")
    std = config.get("initializer_range", 0.02)
    if std == 0:   # transformers' _init_weights: `initializer_range or 0.02`
        std = 0.02
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not std >= 0:
        raise SpecError(f"config.json: field 'initializer_range': expected a number >= 0; got {std!r}")
    entries = _llama(config) if fam == "llama" else _gpt2(config)
    schemes = {"normal": f"normal(std={std!r})", "ones": "ones", "zeros": "zeros"}
    tensors = []
    for name, shape, kind in entries:
        scheme = kind if kind.startswith("normal(") else schemes[kind]
        tensors.append(tensor(name, shape, scheme, dtype))
    return ModelSpec(tuple(tensors), None, {"fastinit.preset": fam})


def _llama(c):
    hidden = _int(c, "hidden_size")
    heads = _int(c, "num_attention_heads")
    kv_heads = _int(c, "num_key_value_heads", heads)
    head_dim = c.get("head_dim") or hidden // heads
    inter, vocab, layers = _int(c, "intermediate_size"), _int(c, "vocab_size"), _int(c, "num_hidden_layers")
    attn_bias, mlp_bias = bool(c.get("attention_bias", False)), bool(c.get("mlp_bias", False))
    out = [("model.embed_tokens.weight", (vocab, hidden), "normal")]
    for i in range(layers):
        p = f"model.layers.{i}."
        for proj, rows, cols in (("q", heads * head_dim, hidden), ("k", kv_heads * head_dim, hidden),
                                 ("v", kv_heads * head_dim, hidden), ("o", hidden, heads * head_dim)):
            out.append((f"{p}self_attn.{proj}_proj.weight", (rows, cols), "normal"))
            if attn_bias:
                out.append((f"{p}self_attn.{proj}_proj.bias", (rows,), "zeros"))
        for proj, rows, cols in (("gate", inter, hidden), ("up", inter, hidden), ("down", hidden, inter)):
            out.append((f"{p}mlp.{proj}_proj.weight", (rows, cols), "normal"))
            if mlp_bias:
                out.append((f"{p}mlp.{proj}_proj.bias", (rows,), "zeros"))
        out.append((f"{p}input_layernorm.weight", (hidden,), "ones"))
        out.append((f"{p}post_attention_layernorm.weight", (hidden,), "ones"))
    out.append(("model.norm.weight", (hidden,), "ones"))
    if not c.get("tie_word_embeddings", False):   # LlamaConfig's default is False
        out.append(("lm_head.weight", (vocab, hidden), "normal"))
    return out


def _gpt2(c):
    n, layers, vocab = _int(c, "n_embd", 768), _int(c, "n_layer", 12), _int(c, "vocab_size", 50257)
    positions, inner = _int(c, "n_positions", 1024), c.get("n_inner") or 4 * n
    std = c.get("initializer_range", 0.02)
    proj = f"normal(std={std / math.sqrt(2 * layers)!r})"
    out = [("transformer.wte.weight", (vocab, n), "normal"), ("transformer.wpe.weight", (positions, n), "normal")]
    for i in range(layers):
        p = f"transformer.h.{i}."
        out += [(f"{p}ln_1.weight", (n,), "ones"), (f"{p}ln_1.bias", (n,), "zeros"),
                (f"{p}attn.c_attn.weight", (n, 3 * n), "normal"), (f"{p}attn.c_attn.bias", (3 * n,), "zeros"),
                (f"{p}attn.c_proj.weight", (n, n), proj), (f"{p}attn.c_proj.bias", (n,), "zeros"),
                (f"{p}ln_2.weight", (n,), "ones"), (f"{p}ln_2.bias", (n,), "zeros"),
                (f"{p}mlp.c_fc.weight", (n, inner), "normal"), (f"{p}mlp.c_fc.bias", (inner,), "zeros"),
                (f"{p}mlp.c_proj.weight", (inner, n), proj), (f"{p}mlp.c_proj.bias", (n,), "zeros")]
    out += [("transformer.ln_f.weight", (n,), "ones"), ("transformer.ln_f.bias", (n,), "zeros")]
    return out
