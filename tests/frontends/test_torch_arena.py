"""fastinit.torch.arena: a materialized model's tensors share one huge-page mapping yet behave
as torch.empty tensors do in users' code -- save_pretrained/from_pretrained, safetensors,
torch.save, optimizers, .to(), share_memory(), deepcopy, ties -- and the blocks of
``fastinit.model.replay`` give materialize the same bits as whole-tensor fills."""

import copy
import gc
import io
import os
import weakref

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

import fastinit.torch as ft  # noqa: E402
from fastinit.model import replay  # noqa: E402
from fastinit.torch import arena  # noqa: E402

from ..conftest import smaps  # noqa: E402

SPECS = [((3, 5), torch.bfloat16), ((7,), torch.float32), ((0, 4), torch.float32), ((), torch.float64),
         ((2, 3, 4), torch.int64), ((9,), torch.bool), ((33,), torch.float16)]


def _config(tied):
    return transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, vocab_size=1024, max_position_embeddings=128,
                                    pad_token_id=0, tie_word_embeddings=tied)


def _materialized(tied=True, **kwargs):
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(_config(tied))
    return ft.materialize(model, seed=4, **kwargs)


def test_tensors_are_separate_exact_storages_in_one_aligned_mapping():
    ts = arena.empty_many(SPECS)
    assert [(tuple(t.shape), t.dtype) for t in ts] == [(s, d) for s, d in SPECS]
    real = [t for t in ts if t.numel()]
    for t in ts:
        assert t.is_contiguous() and t.device.type == "cpu" and not t.requires_grad
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()
    spans = sorted((t.data_ptr(), t.data_ptr() + t.untyped_storage().nbytes()) for t in real)
    assert all(a % arena.ALIGN == 0 for a, _ in spans)
    assert all(b <= c for (_, b), (c, _) in zip(spans, spans[1:]))     # disjoint
    if arena._mappable():
        assert spans[0][0] % arena.HUGE_PAGE == 0
    raw = [t.view(-1).view(torch.uint8) for t in real]
    for i, r in enumerate(raw):
        r.fill_(i + 1)
    assert all(bool((r == i + 1).all()) for i, r in enumerate(raw))   # no tensor writes another's bytes


@pytest.mark.skipif(not arena._mappable(), reason="torch.empty fallback: no mapping of ours")
def test_the_mapping_is_freed_with_its_last_tensor():
    memory = arena._mapping(1 << 16)
    ref = weakref.ref(memory.obj)
    a = torch.frombuffer(memory[:4096], dtype=torch.float32)
    b = torch.frombuffer(memory[4096:8192], dtype=torch.float32)
    del memory
    gc.collect()
    assert ref() is not None
    del a
    gc.collect()
    assert ref() is not None
    del b
    gc.collect()
    assert ref() is None


@pytest.mark.skipif(not (arena._mappable() and hasattr(arena.mmap, "MADV_HUGEPAGE")
                         and os.path.exists("/proc/self/smaps")), reason="needs Linux's madvise and smaps")
@pytest.mark.parametrize("huge", [True, False])
def test_huge_pages_are_advised_on_an_aligned_range_when_asked(huge):
    memory = arena._mapping(3 * arena.HUGE_PAGE + 4096, huge=huge)
    t = torch.frombuffer(memory, dtype=torch.uint8)
    assert t.data_ptr() % arena.HUGE_PAGE == 0
    assert ("hg" in smaps(t.data_ptr())["VmFlags"].split()) == huge


def test_free_page_reporting_is_read_from_the_virtio_devices(tmp_path):
    def device(name, kind, features):
        (tmp_path / name).mkdir()
        (tmp_path / name / "device").write_text(f"0x{kind:04x}\n")
        (tmp_path / name / "features").write_text(features + "\n")

    device("virtio0", 2, "0" * 5 + "1" + "0" * 58)        # a block device with bit 5 set
    device("virtio1", 5, "01100001" + "0" * 56)            # a balloon without reporting (bit 5 clear)
    assert not arena._free_page_reporting(str(tmp_path))
    device("virtio2", 5, "01100101" + "0" * 56)            # with reporting
    assert arena._free_page_reporting(str(tmp_path))
    assert not arena._free_page_reporting(str(tmp_path / "missing"))


def test_a_materialized_model_in_users_code(tmp_path):
    model = _materialized(tied=True)
    embed = model.model.embed_tokens.weight
    assert model.lm_head.weight is embed
    state = {k: v.clone() for k, v in model.state_dict().items()}

    model.save_pretrained(tmp_path / "hf")                       # safetensors, ties handled by transformers
    loaded, info = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())

    untied = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    safetensors_torch.save_file(untied, tmp_path / "w.safetensors")   # refuses shared storages
    back = safetensors_torch.load_file(tmp_path / "w.safetensors")
    assert all(torch.equal(back[k], v) for k, v in untied.items())

    norm = model.model.norm.weight
    buf = io.BytesIO()
    torch.save(norm, buf)                                        # only its own bytes, not the mapping's
    assert buf.tell() < norm.numel() * norm.element_size() + 4096
    buf.seek(0)
    assert torch.equal(torch.load(buf), norm)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    assert all(torch.equal(v, state[k]) for k, v in torch.load(buf).items())

    twin = copy.deepcopy(model)
    assert all(torch.equal(twin.state_dict()[k], v) for k, v in state.items())
    assert twin.lm_head.weight is twin.model.embed_tokens.weight

    model.share_memory()
    assert embed.is_shared() and torch.equal(embed, state["model.embed_tokens.weight"])

    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(1, 1024, (2, 16), generator=torch.Generator().manual_seed(0))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    assert not torch.equal(embed, state["model.embed_tokens.weight"]) and model.lm_head.weight is embed

    wide = model.to(torch.float32)
    assert wide.model.norm.weight.dtype == torch.float32 and torch.isfinite(wide.model.norm.weight).all()


@pytest.mark.parametrize("threads", [1, 3])
def test_blocks_of_rows_give_materialize_the_whole_tensor_bits(monkeypatch, threads):
    whole = _materialized(tied=False, dtype=torch.bfloat16)
    monkeypatch.setattr(replay, "BLOCK", 100)     # every tensor above 100 elements cut into blocks of rows
    blocks = _materialized(tied=False, dtype=torch.bfloat16, threads=threads)
    pairs = list(zip(whole.state_dict().items(), blocks.state_dict().values()))
    assert any(v.numel() > 100 for (_, v), _ in pairs)
    for (name, a), b in pairs:
        assert torch.equal(a.view(-1).view(torch.uint8) if a.is_floating_point() else a,
                           b.view(-1).view(torch.uint8) if b.is_floating_point() else b), name
