"""Real transformers models built from small configs: materialize on the meta device, and
``fastinit fill config.json``, against transformers' own ``from_config`` on the CPU."""

import json
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

import fastinit.torch as ft  # noqa: E402
from fastinit.cli import main as cli  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers.logging.set_verbosity_error()

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=1024,
             max_position_embeddings=128)
GQA = dict(SMALL, num_key_value_heads=2)
IDS = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)
CONFIGS = {
    "llama": lambda: transformers.LlamaConfig(**GQA, **IDS),
    "mistral": lambda: transformers.MistralConfig(**GQA, **IDS),
    "qwen2": lambda: transformers.Qwen2Config(**GQA, **IDS),
    "qwen3": lambda: transformers.Qwen3Config(**GQA, head_dim=16, **IDS),
    "gemma": lambda: transformers.GemmaConfig(**GQA, head_dim=16, **IDS),
    "phi": lambda: transformers.PhiConfig(**SMALL, **IDS),
    "phi3": lambda: transformers.Phi3Config(**GQA, **IDS),
    "mixtral": lambda: transformers.MixtralConfig(**GQA, num_local_experts=4, num_experts_per_tok=2, **IDS),
    "gpt2": lambda: transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=128, vocab_size=1024,
                                            bos_token_id=1, eos_token_id=2),
    "gpt_neox": lambda: transformers.GPTNeoXConfig(**SMALL, **IDS),
    "opt": lambda: transformers.OPTConfig(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                                          vocab_size=1024, word_embed_proj_dim=64, max_position_embeddings=128,
                                          **IDS),
    "bert": lambda: transformers.BertConfig(**SMALL, pad_token_id=0),
    "t5": lambda: transformers.T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4, vocab_size=1024,
                                        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0),
}
AUTO = {"bert": "AutoModelForMaskedLM", "t5": "AutoModelForSeq2SeqLM"}
BIG_ENOUGH = 16384   # std of N(0, s^2) from n draws: relative s.e. 1/sqrt(2n) = 0.55%; two models: 0.78%, 3% = 3.8 s.e.


def auto(arch):
    return getattr(transformers, AUTO.get(arch, "AutoModelForCausalLM"))


def hf_model(arch, seed):
    torch.manual_seed(seed)
    return auto(arch).from_config(CONFIGS[arch]()).eval()


def meta_model(arch):
    with torch.device("meta"):
        return auto(arch).from_config(CONFIGS[arch]())


def kind(t):
    t = t.detach().float()
    if t.numel() and bool((t == t.flatten()[0]).all()):
        v = float(t.flatten()[0])
        return "zeros" if v == 0 else "ones" if v == 1 else "constant"
    return "random"


def tied_pairs(model):
    seen, pairs = {}, set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            pairs.add((seen[id(p)], name))
        seen.setdefault(id(p), name)
    return pairs


def loss(model, arch, seed=123):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 1024, (2, 24), generator=g)
    with torch.no_grad():
        if arch == "t5":
            out = model(input_ids=ids, labels=ids)
        else:
            out = model(input_ids=ids, labels=ids)
    return float(out.loss), out.logits


@pytest.fixture(scope="module")
def hf_refs():
    cache = {}

    def get(arch):
        if arch not in cache:
            models = [hf_model(arch, s) for s in range(5)]
            cache[arch] = (models[0], [loss(m, arch)[0] for m in models])
        return cache[arch]

    return get


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_materialize_matches_transformers_init(arch, hf_refs):
    ref, ref_losses = hf_refs(arch)
    model = meta_model(arch)
    out = ft.materialize(model, seed=0)
    assert out is model and model.fastinit_report.initialized
    state = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers())
    assert [n for n, t in state if t.is_meta] == []
    assert tied_pairs(model) == tied_pairs(ref)
    ref_params = dict(ref.named_parameters(remove_duplicate=False))
    for name, p in model.named_parameters(remove_duplicate=False):
        r = ref_params[name]
        assert kind(p) == kind(r), (name, kind(p), kind(r))
        if kind(r) == "constant":
            assert torch.equal(p, r), name
        if kind(r) == "random" and r.numel() >= BIG_ENOUGH:
            s, s_ref = float(p.detach().float().std()), float(r.detach().float().std())
            assert abs(s - s_ref) <= 0.03 * s_ref, (name, s, s_ref)
    ref_buffers = dict(ref.named_buffers())
    for name, b in model.named_buffers():
        assert torch.equal(b, ref_buffers[name]), name   # computed buffers: the module's own values
    value, logits = loss(model, arch)
    assert torch.isfinite(logits).all()
    # a model's loss varies with its seed as much for fastinit as for torch's RNG: the mean of
    # three seeds against the mean of transformers' five, within their spread (or 0.05)
    ours = [value] + [loss(ft.materialize(meta_model(arch), seed=s), arch)[0] for s in (1, 2)]
    mean, ref_mean = sum(ours) / 3, sum(ref_losses) / 5
    assert abs(mean - ref_mean) <= max(max(ref_losses) - min(ref_losses), 0.05), (ours, ref_losses)


def test_padding_row_and_initializer_range_from_the_config():
    cfg = transformers.LlamaConfig(**GQA, **IDS, initializer_range=0.05)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    ft.materialize(model, seed=1)
    emb = model.model.embed_tokens.weight.detach()
    assert (emb[0] == 0).all() and (emb[1:] != 0).all()
    assert abs(float(emb[1:].std()) - 0.05) < 0.0015        # 65472 draws: s.e. 0.00014
    assert "zeros on rows 0:1" in model.fastinit_report["model.embed_tokens.weight"]


def test_same_seed_same_bits_and_names_are_streams():
    a = ft.materialize(meta_model("llama"), seed=7)
    b = ft.materialize(meta_model("llama"), seed=7)
    c = ft.materialize(meta_model("llama"), seed=8)
    for (n, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), n
        if kind(p) == "random":
            assert not torch.equal(p, r), n
    w = a.model.layers[0].self_attn.q_proj.weight
    ref = torch.empty_like(w)
    ft.normal_(ref, 0.0, 0.02, seed=7, stream="model.layers.0.self_attn.q_proj.weight")
    assert torch.equal(w, ref)


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_file_path_gives_the_same_bits(arch, tmp_path):
    """``fastinit fill config.json`` = materialize: same bits, config.json written, from_pretrained
    with no missing or unexpected keys, verify passes; untied heads written; dtype from the config."""
    cfg = CONFIGS[arch]()
    if arch in ("gpt2", "llama"):
        cfg.tie_word_embeddings = arch == "llama"   # gpt2 untied, llama tied: both ways
    cfg.dtype = "bfloat16"
    src = tmp_path / "src"
    cfg.save_pretrained(src)
    data = json.loads((src / "config.json").read_text())
    assert data.get("dtype") == "bfloat16" and "torch_dtype" not in data
    out = tmp_path / "out"
    assert cli(["fill", str(src / "config.json"), "-o", str(out), "--seed", "11", "--quiet"]) == 0
    assert (out / "config.json").exists()
    assert cli(["verify", str(src / "config.json"), str(out), "--seed", "11", "--full"]) == 0
    # the config's dtype (transformers 5 loads it by default; 4.x loads float32 unless asked)
    loaded, info = auto(arch).from_pretrained(out, output_loading_info=True, dtype="auto")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    with torch.device("meta"):
        model = auto(arch).from_config(cfg)
    ft.materialize(model, seed=11, dtype=torch.bfloat16)
    theirs = dict(loaded.named_parameters(remove_duplicate=False))
    for name, p in model.named_parameters(remove_duplicate=False):
        assert theirs[name].dtype == torch.bfloat16 and torch.equal(theirs[name], p), name
    assert tied_pairs(loaded) == tied_pairs(model)
    if arch == "gpt2":   # untied: the head is its own tensor, its own stream
        assert not torch.equal(loaded.lm_head.weight, loaded.transformer.wte.weight)


def test_torch_dtype_key_of_older_configs(tmp_path):
    data = CONFIGS["qwen2"]().to_dict()
    data.pop("dtype", None)
    data["torch_dtype"] = "float16"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    from fastinit.torch.hf import spec_from_config

    spec = spec_from_config(str(path))
    assert {t.dtype for t in spec.tensors} == {"float16"}
    assert spec["model.layers.0.self_attn.q_proj.bias"].scheme == "zeros"


# ------------------------------------------------------------------ torch modules with their own init


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.conv2 = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(c)


class ResNetish(torch.nn.Module):
    def __init__(self, c=64, blocks=2):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, c, 7, stride=2, padding=3, bias=False)
        self.blocks = torch.nn.ModuleList(Block(c) for _ in range(blocks))
        self.fc = torch.nn.Linear(c, 1000)
        self.init_weights()

    def init_weights(self):
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.constant_(m.weight, 1)
                torch.nn.init.constant_(m.bias, 0)
        for b in self.blocks:
            torch.nn.init.constant_(b.bn2.weight, 0)   # zero-init the last norm of each block


def test_resnet_style_init_loop():
    with torch.device("meta"):
        model = ResNetish()
    ft.materialize(model, seed=0)
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
            expected = math.sqrt(2.0 / fan_out)
            assert abs(float(m.weight.detach().std()) - expected) < 0.03 * expected, name
    for b in model.blocks:
        assert (b.bn1.weight == 1).all() and (b.bn2.weight == 0).all() and (b.bn2.bias == 0).all()
        assert (b.bn1.running_var == 1).all() and (b.bn1.running_mean == 0).all()
    bound = 1 / math.sqrt(64)    # Linear's own reset_parameters: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = model.fc.weight.detach()
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.99 * bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.03 * bound / math.sqrt(3)
    assert "kaiming_normal(a=0.0, mode='fan_out', nonlinearity='relu')" in model.fastinit_report["stem.weight"]


class GatedLSTM(torch.nn.Module):
    """An LSTM with per-gate init: orthogonal recurrent blocks, xavier input blocks, forget bias 1."""

    def __init__(self, n=32, h=64):
        super().__init__()
        self.h = h
        self.lstm = torch.nn.LSTM(n, h)
        self.init_weights()

    def init_weights(self):
        h = self.h
        for g in range(4):
            torch.nn.init.orthogonal_(self.lstm.weight_hh_l0[g * h:(g + 1) * h])
            torch.nn.init.xavier_uniform_(self.lstm.weight_ih_l0[g * h:(g + 1) * h])
        torch.nn.init.zeros_(self.lstm.bias_ih_l0)
        torch.nn.init.zeros_(self.lstm.bias_hh_l0)
        self.lstm.bias_ih_l0.data[h:2 * h].fill_(1.0)


def test_lstm_per_gate_init():
    with torch.device("meta"):
        model = GatedLSTM()
    ft.materialize(model, seed=0)
    h = model.h
    whh, wih, b = (t.detach() for t in (model.lstm.weight_hh_l0, model.lstm.weight_ih_l0, model.lstm.bias_ih_l0))
    blocks = [whh[g * h:(g + 1) * h] for g in range(4)]
    for blk in blocks:
        assert torch.allclose(blk @ blk.T, torch.eye(h), atol=1e-5)
    assert not torch.equal(blocks[0], blocks[1])     # each gate its own stream
    bound = math.sqrt(6.0 / (h + 32))
    assert float(wih.abs().max()) <= bound and float(wih.abs().max()) > 0.95 * bound
    assert (b[h:2 * h] == 1).all() and (b[:h] == 0).all() and (b[2 * h:] == 0).all()
    report = model.fastinit_report["lstm.weight_hh_l0"]
    assert report.count("orthogonal") == 4 and "rows 64:128" in report


def test_never_garbage_unexpressible_init_is_an_error():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.empty(8, 8))
            self.v = torch.nn.Parameter(torch.empty(8))
            self.lin = torch.nn.Linear(8, 8)

        def init_weights(self):
            torch.nn.init.normal_(self.w)
            self.w.data.clamp_(-1, 1)
            # v: nobody writes it

    with torch.device("meta"):
        m = Odd()
    with pytest.raises(ValueError, match=r"(?s)2 tensor\(s\).*w: Tensor.clamp_.*v: not written.*rules="):
        ft.materialize(m, seed=0)
    assert all(p.is_meta for p in m.parameters())   # nothing allocated
    ft.materialize(m, seed=0, rules={"w": "normal(std=0.5)", "v": "zeros"})
    assert (m.v == 0).all() and abs(float(m.w.detach().std()) - 0.5) < 0.2


def test_meta_buffer_nobody_computes_is_an_error_and_buffers_rule():
    class Rope(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.register_buffer("inv_freq", torch.arange(4.0), persistent=False)

    with torch.device("meta"):
        m = Rope()
    with pytest.raises(ValueError, match="inv_freq: not written"):
        ft.materialize(m, seed=0)
    ft.materialize(m, seed=0, buffers={"inv_freq": torch.arange(4.0)})
    assert torch.equal(m.inv_freq, torch.arange(4.0))


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_accelerate_init_empty_weights_path(arch):
    """accelerate's empty weights (buffers on the CPU, transformers' init already run on meta
    tensors, modules marked initialized): the same bits as the torch.device("meta") path."""
    accelerate = pytest.importorskip("accelerate")
    cfg = CONFIGS[arch]()
    cfg.tie_word_embeddings = True
    with accelerate.init_empty_weights():
        model = auto(arch).from_config(cfg)
    ft.materialize(model, seed=4)
    with torch.device("meta"):
        ref = auto(arch).from_config(cfg)
    ft.materialize(ref, seed=4)
    assert tied_pairs(model) == tied_pairs(ref) != set()
    theirs = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert torch.equal(p, theirs[name]), name
    assert math.isfinite(loss(model, arch)[0])


def test_transformers_model_inside_a_user_module():
    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = transformers.AutoModel.from_config(CONFIGS["gpt2"]())
            self.head = torch.nn.Linear(64, 3)

    with torch.device("meta"):
        model = Classifier()
    ft.materialize(model, seed=0)
    report = model.fastinit_report
    assert report["backbone.h.0.attn.c_attn.weight"] == "normal(mean=0.0, std=0.02)"   # transformers' Conv1D init
    assert report["head.weight"].startswith("kaiming_uniform(a=2.236")               # torch's Linear default


class ResNetLoopInInit(ResNetish):
    """torchvision's way: the init loop at the end of __init__, no method to call again."""

    def init_weights(self):
        pass

    def __init__(self):
        super().__init__(c=32)
        for m in self.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.constant_(m.weight, 1)
                torch.nn.init.constant_(m.bias, 0)
        for b in self.blocks:
            torch.nn.init.constant_(b.bn2.weight, 0)
        self.fc.weight.data.normal_(0, 0.01)


def test_recording_a_constructor_init_loop():
    with ft.recording() as rec:
        model = ResNetLoopInInit()
    assert all(p.is_meta for p in model.parameters())
    ft.materialize(model, seed=0, init=rec)
    report = model.fastinit_report
    assert report["stem.weight"] == "kaiming_normal(a=0.0, mode='fan_out', nonlinearity='relu')"
    assert report["fc.weight"] == "normal(mean=0.0, std=0.01)"
    assert report["fc.bias"].startswith("uniform(")      # Linear's own reset_parameters, in construction
    for b in model.blocks:
        assert (b.bn2.weight == 0).all() and (b.bn1.weight == 1).all() and (b.bn1.running_var == 1).all()



def test_constructor_init_without_recording_is_an_error():
    """Without recording(), init code that ran in a constructor is lost: an error naming the
    class, the line and the calls, changing nothing -- never other numbers in silence."""
    with torch.device("meta"):
        plain = ResNetLoopInInit()
    match = (r"(?s)init code in a constructor cannot be re-run.*"
             r"ResNetLoopInInit.__init__ \(test_torch_models.py:\d+\): kaiming_normal_, constant_, normal_.*"
             r"recording\(\) as rec.*init=rec.*init='reset_parameters'")
    with pytest.raises(ValueError, match=match):
        ft.materialize(plain, seed=0)
    assert all(p.is_meta for p in plain.parameters())
    with pytest.raises(ValueError, match=match):          # the same for a model built on the CPU
        ft.init_module_(ResNetLoopInInit(), seed=0)
    ft.materialize(plain, seed=0, init="reset_parameters")  # asked for: the modules' own only
    assert plain.fastinit_report["stem.weight"].startswith("kaiming_uniform(a=2.236")

    class Helper(torch.nn.Module):       # a self method the constructor calls counts too
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self._init()

        def _init(self):
            self.lin.weight.data.zero_()

    class Fine(torch.nn.Module):         # init_weights() on the root: init="auto" runs it
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.init_weights()

        def init_weights(self):
            torch.nn.init.zeros_(self.lin.weight)

    with pytest.raises(ValueError, match=r"Helper.__init__ \(test_torch_models.py:\d+\): zero_"):
        ft.plan(Helper())
    assert ft.plan(Fine()).entries["lin.weight"].describe() == "zeros"
    wrapped = torch.nn.Sequential(Fine())  # not the root: its init_weights() is not run by auto
    with pytest.raises(ValueError, match=r"Fine.__init__ .*: zeros_"):
        ft.plan(wrapped)


def test_recorder_sees_the_tensor_methods_transformers_4_used():
    class Old(torch.nn.Module):   # transformers 4.x style: writes through .data
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(100, 16, padding_idx=3)
            self.proj = torch.nn.Linear(16, 16)
            self.gates = torch.nn.Parameter(torch.empty(8, 4))
            self.scale = torch.nn.Parameter(torch.empty(4))

        def _init_weights(self, module):
            if module is self:
                self.gates.data[:4].uniform_(-0.5, 0.5)
                self.gates.data[4:].fill_(2.0)
                self.gates.data[4:] *= 0.5          # folded: constant 1.0
                self.scale[:] = 0.25
            if isinstance(module, torch.nn.Linear):
                module.weight.data.normal_(mean=0.0, std=0.02)
                module.weight.data.mul_(0.5)       # folded into the std
                module.bias.data.zero_()
            elif isinstance(module, torch.nn.Embedding):
                module.weight.data.normal_(mean=0.0, std=0.02)
                module.weight.data[module.padding_idx].zero_()

    with torch.device("meta"):
        m = Old()
    ops = {n: e.describe() for n, e in ft.plan(m).entries.items()}
    assert ops == {"emb.weight": "normal(mean=0.0, std=0.02); zeros on rows 3:4",
                   "proj.weight": "normal(mean=0.0, std=0.01)", "proj.bias": "zeros",
                   "gates": "uniform(high=0.5, low=-0.5) on rows 0:4; constant(value=1.0) on rows 4:8",
                   "scale": "constant(value=0.25)"}
    ft.materialize(m, seed=0)
    g = m.gates.detach()
    assert (g[4:] == 1).all() and g[:4].abs().max() <= 0.5 and (m.emb.weight[3] == 0).all()
    ref = torch.empty(4, 4)
    ft.uniform_(ref, -0.5, 0.5, seed=0, stream="gates[0:4]")   # a row block's own stream
    assert torch.equal(g[:4], ref)


def test_recorder_refuses_what_it_cannot_express():
    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.empty(4, 6))
            self.b = torch.nn.Parameter(torch.empty(4, 6))
            self.c = torch.nn.Parameter(torch.empty(4, 6))

        def init_weights(self):
            torch.nn.init.normal_(self.a)
            self.a.data.t().zero_()                 # through a transpose
            torch.nn.init.normal_(self.b[:, :3])    # a column block
            torch.nn.init.normal_(self.b[:, 3:])
            torch.nn.init.normal_(self.c[:3])       # row 3 never written
            self.c.data[:3] += 1.0                  # a shift of the block: folded into its mean
            self.b.data.exp_()                      # no scheme of fastinit's

    with torch.device("meta"):
        m = Bad()
    p = ft.plan(m)
    assert set(p.problems) == {"a", "b", "c"}
    assert "view fastinit cannot express" in p.problems["a"][0] and "rows 3:4 not written" in p.problems["c"][0]
    assert "Tensor.exp_" in p.problems["b"]
    with pytest.raises(ValueError, match="3 tensor"):
        ft.materialize(m, seed=0)


def test_a_module_reachable_by_two_paths():
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(50, 8)
            self.encoder = torch.nn.Module()
            self.encoder.embed = self.emb           # the same module object twice
            self.head = torch.nn.Linear(8, 50)

    with torch.device("meta"):
        m = Shared()
    ft.materialize(m, seed=0)
    assert m.encoder.embed is m.emb and not m.emb.weight.is_meta
    assert set(m.fastinit_report) == {"emb.weight", "head.weight", "head.bias"}
    assert m.fastinit_report.plan.aliases == {"encoder.embed.weight": "emb.weight"}


def test_init_code_that_reads_values_is_a_clear_error():
    class Reads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def init_weights(self):
            if self.lin.weight.abs().max().item() > 1:   # needs values: meta tensors have none
                torch.nn.init.zeros_(self.lin.weight)

    with torch.device("meta"):
        m = Reads()
    with pytest.raises(ValueError, match="failed on meta placeholders.*init=None"):
        ft.materialize(m, seed=0)
    assert m.lin.weight.is_meta and isinstance(m.lin.weight, torch.nn.Parameter)
    ft.materialize(m, seed=0, init="reset_parameters")
    assert not m.lin.weight.is_meta


def timm_trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """The inverse-CDF truncated normal of timm (and torch before 2.13), written out."""
    def norm_cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    with torch.no_grad():
        lo, hi = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
        tensor.uniform_(2 * lo - 1, 2 * hi - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(min=a, max=b)
    return tensor


def test_inverse_cdf_truncated_normal_is_recognised():
    class Vit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = torch.nn.Parameter(torch.empty(1, 197, 64))
            self.cls = torch.nn.Parameter(torch.empty(1, 1, 64))
            self.head = torch.nn.Linear(64, 10)

        def init_weights(self):
            timm_trunc_normal_(self.pos, std=0.02, a=-0.04, b=0.04)
            timm_trunc_normal_(self.cls, std=1.0)          # then scaled and shifted, as trunc_normal_tf_ does
            with torch.no_grad():
                self.cls.mul_(0.5).add_(0.1)
            timm_trunc_normal_(self.head.weight, std=0.02)

    with torch.device("meta"):
        m = Vit()
    p = ft.plan(m)
    assert not p.problems
    pos = dict(p.entries["pos"].ops[0].params)
    assert pos["mean"] == 0.0 and pos["std"] == pytest.approx(0.02) and (pos["a"], pos["b"]) == (-0.04, 0.04)
    cls = dict(p.entries["cls"].ops[0].params)
    assert cls["mean"] == pytest.approx(0.1) and cls["std"] == pytest.approx(0.5)
    assert (cls["a"], cls["b"]) == pytest.approx((-0.9, 1.1))
    ft.materialize(m, seed=0)
    w = m.pos.detach()
    assert w.abs().max() <= 0.04 and abs(float(w.std()) - 0.0174) < 0.001   # truncated at 2 std: 0.8796 std


def test_without_transformers_the_presets_read_config_json(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers"
                        else find_spec(name, *a))
    for arch in ("llama", "qwen2"):
        data = CONFIGS[arch]().to_dict()
        data["initializer_range"] = 0
        (tmp_path / f"{arch}.json").write_text(json.dumps(data))
    assert cli(["fill", str(tmp_path / "llama.json"), "-o", str(tmp_path / "out"), "--seed", "0", "--quiet"]) == 0
    assert (tmp_path / "out" / "config.json").exists()         # beside the weights on this path too
    assert cli(["fill", str(tmp_path / "qwen2.json"), "-o", str(tmp_path / "q"), "--seed", "0", "--quiet"]) == 2
    from fastinit.model import presets

    spec = presets.from_config(json.loads((tmp_path / "llama.json").read_text()))
    assert spec["model.layers.0.mlp.up_proj.weight"].scheme == "normal(std=0.02)"   # 0 means 0.02, as in transformers


def test_initializer_range_zero_as_transformers_reads_it():
    """``initializer_range=0``: transformers 5 uses its default 0.02, 4.x a std of 0 -- the
    plan is what the installed transformers' own init does."""
    cfg = transformers.LlamaConfig(**GQA, **IDS, initializer_range=0.0)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    torch.manual_seed(0)
    theirs = float(transformers.LlamaForCausalLM(cfg).model.layers[0].mlp.up_proj.weight.detach().std())
    std = 0.02 if theirs > 0 else 0.0
    assert theirs == 0 or abs(theirs - 0.02) < 0.002
    assert ft.plan(model).entries["model.layers.0.mlp.up_proj.weight"].describe() == f"normal(mean=0.0, std={std})"


def test_buffers_only_a_constructor_computes_are_computed_by_it():
    """transformers 4.x computes RoPE frequencies, position ids and masks only in constructors
    (5.x also in its init): a meta buffer no init code writes is computed by its module's own
    constructor on the CPU, the parameters on meta; one that needs more than a config stays a
    problem saying why."""
    from fastinit.torch import recorder

    cfg = CONFIGS["bert"]()
    with torch.device("meta"):
        model = transformers.BertForMaskedLM(cfg)
    p = ft.plan(model, init="reset_parameters")          # no transformers init: only constructors compute them
    assert p.ran.endswith("transformers constructors for buffers")
    (op,) = p.entries["bert.embeddings.position_ids"].ops
    assert np.array_equal(op.values, np.arange(cfg.max_position_embeddings)[None])
    assert not p.entries["bert.embeddings.token_type_ids"].ops[0].values.any()
    layer = model.bert.encoder.layer[0]
    layer.register_buffer("scratch", torch.empty(3, device="meta"))   # BertLayer(config, layer_idx=None)...
    values, why = recorder._recompute(layer, cfg, ["scratch"])
    assert values is None and "gives no buffer of the same shape for ['scratch']" in why
    with torch.device("meta"):
        decoder = transformers.LlamaForCausalLM(CONFIGS["llama"]()).model.layers[0]
    values, why = recorder._recompute(decoder, CONFIGS["llama"](), [])
    assert values is None and "LlamaDecoderLayer's constructor needs ['config', 'layer_idx']" in why
    with torch.device("meta"):
        rope = transformers.LlamaForCausalLM(CONFIGS["llama"]()).model.rotary_emb
    values, why = recorder._recompute(rope, CONFIGS["llama"](), ["inv_freq"])
    cpu = type(rope)(config=CONFIGS["llama"]())
    assert why is None and torch.equal(values["inv_freq"], cpu.inv_freq)


def test_parameters_move_to_meta_only_in_the_thread_that_asked():
    import threading

    from fastinit.torch import recorder

    register = torch.nn.Module.register_parameter
    other = {}
    with recorder._parameters_on_meta():
        mine = torch.nn.Linear(3, 2)
        t = threading.Thread(target=lambda: other.setdefault("m", torch.nn.Linear(3, 2)))
        t.start()
        t.join()
    assert mine.weight.is_meta and mine.bias.is_meta
    assert other["m"].weight.device.type == "cpu" and not other["m"].bias.is_meta
    assert torch.nn.Module.register_parameter is register   # restored
