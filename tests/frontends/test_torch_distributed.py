"""DTensor parameters filled shard by shard: ``materialize``/``init_module_`` on a small
transformer after FSDP2's ``fully_shard``, tensor parallel's ``parallelize_module`` or both
on a 2x2 mesh, in real gloo process groups on the CPU (world sizes 2 and 4).  Every
parameter's ``full_tensor()`` equals the one-process ``materialize`` bit for bit -- filled,
or read slice by slice from a safetensors checkpoint (``pretrained=``) -- each rank
materializes while the others wait (no communication), and the first training step gives
the one-process loss (to summation-order tolerance).

Each world size is one process group that runs every scenario in turn (a failure names its
scenario and rank).  The ranks are forked from a forkserver that has imported torch, this module
and what the ranks import lazily, once per test session: a rank costs its work, not an
interpreter start and a torch import."""

import contextlib
import copy
import datetime
import json
import multiprocessing
import os
import time
import warnings

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402
from torch.distributed.device_mesh import init_device_mesh  # noqa: E402
from torch.distributed.fsdp import fully_shard  # noqa: E402
from torch.distributed.tensor import DTensor, Partial, Replicate, Shard  # noqa: E402
from torch.distributed.tensor.placement_types import _StridedShard  # noqa: E402
from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,  # noqa: E402
                                               parallelize_module)

import fastinit  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from fastinit.torch import dtensor  # noqa: E402

safetensors_torch = pytest.importorskip("safetensors.torch")

VOCAB, DIM, HEADS, LAYERS, SEED = 37, 16, 4, 2, 11      # 37 rows: uneven shards at 2 and 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.q, self.k, self.v, self.o = (nn.Linear(DIM, DIM) for _ in range(4))
        self.up, self.down = nn.Linear(DIM, 3 * DIM), nn.Linear(3 * DIM, DIM)

    def forward(self, x):
        b, t, _ = x.shape
        y = self.norm1(x)
        q, k, v = (m(y).view(b, t, -1, DIM // HEADS).transpose(1, 2) for m in (self.q, self.k, self.v))
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)   # heads: local under TP
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        return x + self.down(nn.functional.gelu(self.up(self.norm2(x))))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


TOKENS = torch.arange(2 * 9).reshape(2, 9) * 7 % VOCAB


def first_step(model):
    """Loss before and after one SGD step on fixed tokens."""
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(2):
        logits = model(TOKENS[:, :-1])
        if isinstance(logits, DTensor):
            logits = logits.full_tensor()
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), TOKENS[:, 1:].reshape(-1))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def tensor_parallel(model, mesh):
    plan = {"embed": RowwiseParallel(input_layouts=Replicate()), "head": ColwiseParallel(output_layouts=Replicate())}
    for i in range(LAYERS):
        plan.update({f"blocks.{i}.{m}": ColwiseParallel() for m in ("q", "k", "v", "up")})
        plan.update({f"blocks.{i}.{m}": RowwiseParallel() for m in ("o", "down")})
    return parallelize_module(model, mesh, plan)


def build(layout, world):
    with torch.device("meta"):
        model = Tiny()
    if layout == "fsdp":
        mesh = init_device_mesh("cpu", (world,))
        for block in model.blocks:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
    elif layout == "tp":
        tensor_parallel(model, init_device_mesh("cpu", (world,)))
    else:                                                  # 2-D: FSDP over "dp", TP over "tp"
        mesh = init_device_mesh("cpu", (2, world // 2), mesh_dim_names=("dp", "tp"))
        tensor_parallel(model, mesh["tp"])
        for block in model.blocks:
            fully_shard(block, mesh=mesh["dp"])
        fully_shard(model, mesh=mesh["dp"])
    return model


def checkpoint(where):
    """``where/ckpt``: a Hugging Face sharded checkpoint (two files and an index) for ``Tiny``: most parameters
    in float16, bfloat16, float32 or float64 (converted on loading), ``blocks.1.k.weight``
    with the wrong shape and ``blocks.1.up.*`` absent (both initialized instead), and a
    tensor the model does not have."""
    g = torch.Generator().manual_seed(5)
    with torch.device("meta"):
        shapes = {n: tuple(p.shape) for n, p in Tiny().named_parameters()}
    shapes.pop("blocks.1.up.weight"), shapes.pop("blocks.1.up.bias")
    shapes.update({"blocks.1.k.weight": (DIM, DIM // 2), "extra.scale": (3,)})
    dtypes = (torch.float32, torch.bfloat16, torch.float64, torch.float16)
    tensors = {n: (torch.randn(shape, generator=g) * 0.3).to(dtypes[i % 4])
               for i, (n, shape) in enumerate(shapes.items())}
    names, ckpt = sorted(tensors), os.path.join(where, "ckpt")
    os.makedirs(ckpt)
    files = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in files.items():
        safetensors_torch.save_file({k: tensors[k] for k in keys}, os.path.join(ckpt, file))
    with open(os.path.join(ckpt, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": {k: file for file, keys in files.items() for k in keys}}, f)
    safetensors_torch.save_file({"weight": torch.ones(3, 4), "bias": torch.ones(3)},
                                os.path.join(where, "linear.safetensors"))    # for an nn.Linear(4, 3)
    return ckpt


def same(model, want, layout):
    """Every parameter of ``model`` (its ``full_tensor()`` if a DTensor) has the bits of ``want``'s."""
    for name, p in model.named_parameters():
        p = p.full_tensor() if isinstance(p, DTensor) else p.detach()
        w = want[name] if isinstance(want, dict) else want.get_parameter(name).detach()
        assert p.dtype == w.dtype and torch.equal(p.view(torch.uint8), w.view(torch.uint8)), (layout, name)


def in_turn(rank, world, key, fn):
    """``fn()`` on one rank at a time while the others wait outside torch.distributed (for a
    file), so a collective inside ``fn`` would find no partner and fail by the group's timeout."""
    for turn in range(world):
        done = os.path.join(os.environ["FASTINIT_TEST_DIR"], f"{key}-{turn}")
        if rank == turn:
            fn()
            open(done, "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(done):
            assert time.monotonic() < deadline, f"rank {turn} did not finish {key}"
            time.sleep(0.01)


@contextlib.contextmanager
def scenario(name):
    """A failure inside names the scenario: one process group runs several."""
    try:
        yield
    except BaseException as e:
        e.add_note(f"in scenario {name!r}")
        raise


def run(rank, world, layouts, ckpt):
    os.environ["FASTINIT_TEST_DIR"] = os.path.dirname(ckpt)
    # FSDP2 over a TP head whose output is gathered: no in-place op follows, so the warning does not apply
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module \(.*\) returned a view tensor")
    with scenario("one process"):
        with torch.device("meta"):
            reference = Tiny()
        reference = ft.materialize(reference, SEED)
        want = {n: p.detach().clone() for n, p in reference.named_parameters()}
        losses = first_step(reference)
        with torch.device("meta"):
            loaded = Tiny()
        loaded = ft.materialize(loaded, SEED, pretrained=ckpt)       # one process, loaded and initialized
        expect = loaded.fastinit_report
        assert "blocks.1.k.weight" in expect.mismatched and expect.unexpected == ["extra.scale"]
        assert len(expect.loaded) == len(want) - 3
        assert {"blocks.1.up.weight", "blocks.1.up.bias", "blocks.1.k.weight"} == set(expect.initialized)
        assert not torch.equal(loaded.embed.weight, reference.embed.weight)
        loaded_losses = first_step(copy.deepcopy(loaded))
    for layout in layouts:
        with scenario(layout):
            model = build(layout, world)
            in_turn(rank, world, layout, lambda: ft.materialize(model, SEED))   # no collective inside
            placements = set()
            for name, p in model.named_parameters():
                if not isinstance(p, DTensor):                 # a plain tensor (TP leaves the norms alone)
                    assert layout == "tp" and "norm" in name, (layout, name)
                    assert torch.equal(p.detach().view(torch.int32), want[name].view(torch.int32)), (layout, name)
                    continue
                placements.add(tuple(p.placements))
                if any(isinstance(x, Shard) for x in p.placements):   # only the local shard was allocated
                    assert p.to_local().untyped_storage().nbytes() < p.numel() * 4, (layout, name)
                got = p.full_tensor()
                assert torch.equal(got.view(torch.int32), want[name].view(torch.int32)), (layout, name)
            assert any(isinstance(x, Shard) for ps in placements for x in ps)
            if layout == "tp":                             # RowwiseParallel's biases: every rank the whole
                assert (Replicate(),) in placements, placements
            if layout == "fsdp+tp":                        # FSDP over a TP-sharded dim: rows not contiguous
                assert any(isinstance(x, _StridedShard) for ps in placements for x in ps), placements
            got = first_step(model)
            assert got == pytest.approx(losses, rel=1e-5, abs=1e-6), (layout, got, losses)
            for p in model.parameters():                   # init_module_: in place, into each local shard
                with torch.no_grad():
                    (p.to_local() if isinstance(p, DTensor) else p).zero_()
            ft.init_module_(model, SEED)
            same(model, want, layout)
            # pretrained=: each rank reads only its block of each stored tensor, the rest is filled
            model = ft.materialize(build(layout, world), SEED, pretrained=ckpt)
            report = model.fastinit_report
            assert (sorted(report.loaded), report.mismatched.keys(), report.unexpected) == (
                sorted(expect.loaded), expect.mismatched.keys(), expect.unexpected), layout
            same(model, loaded, layout)
            assert first_step(model) == pytest.approx(loaded_losses, rel=1e-5, abs=1e-6), layout
            for p in model.parameters():
                with torch.no_grad():
                    (p.to_local() if isinstance(p, DTensor) else p).zero_()
            report = ft.init_module_(model, SEED, pretrained=ckpt)
            assert sorted(report.loaded) == sorted(expect.loaded) and "local shard" in report["embed.weight"]
            same(model, loaded, layout)
    if world == 2:                                     # bfloat16: the kernels' rounding, shard by shard
        with scenario("bfloat16"):
            for kw in ({}, {"pretrained": ckpt}):      # and torch's conversion of the stored dtypes
                with torch.device("meta"):
                    reference = Tiny()
                reference = ft.materialize(reference, SEED, dtype=torch.bfloat16, **kw)
                model = ft.materialize(build("tp", world), SEED, dtype=torch.bfloat16, **kw)
                same(model, reference, ("bf16", kw))
    if "tp" in layouts:                                # Partial is refused, naming the parameter
        with scenario("Partial"):
            mesh = init_device_mesh("cpu", (world,))
            with torch.device("meta"):
                model = nn.Linear(4, 3)
            model.weight = nn.Parameter(DTensor.from_local(torch.empty(3, 4, device="meta"), mesh, [Partial()],
                                                           run_check=False))
            with pytest.raises(ValueError, match=r"weight: placement Partial\(sum\) on mesh dim 0 cannot be filled"):
                ft.materialize(model, SEED)
            linear = os.path.join(os.path.dirname(ckpt), "linear.safetensors")
            with pytest.raises(ValueError, match=r"weight: placement Partial\(sum\) on mesh dim 0 cannot be filled"):
                ft.materialize(model, SEED, pretrained=linear)
            assert model.weight.is_meta and model.bias.is_meta      # nothing allocated
            model = nn.Linear(4, 3)                        # in place: refused before the first write
            with torch.no_grad():
                model.bias.zero_()
            model.weight = nn.Parameter(DTensor.from_local(torch.zeros(3, 4), mesh, [Partial()], run_check=False))
            with pytest.raises(ValueError, match=r"weight: placement Partial\(sum\) on mesh dim 0 cannot be filled"):
                ft.init_module_(model, SEED, pretrained=linear)
            assert not model.weight.to_local().any() and not model.bias.any()


COLLECTIVE_TIMEOUT = 60     # s: a collective that finds no partner fails instead of hanging
GROUP_TIMEOUT = 180         # s: a whole process group on a loaded machine; then the test fails, naming it
# what the ranks import: torch, this module, and what torch imports lazily on the first meta
# init or the first fill -- imported once, in the forkserver, instead of once per rank
PRELOAD = [__name__, "torch._dynamo", "fastinit.kernels._c"]


def rank_main(rank, world, port, fn, args):
    """One rank: join the gloo group through the test's store, run ``fn(rank, world, *args)``."""
    torch.set_num_threads(1)
    timeout = datetime.timedelta(seconds=COLLECTIVE_TIMEOUT)
    store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=timeout)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=timeout)
    try:
        fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


def launch(fn, world, *args):
    """``fn(rank, world, *args)`` on each rank of a real gloo group of ``world`` processes.

    The ranks are forked from a forkserver that imported ``PRELOAD`` once per session and
    does nothing else: it has one thread (no intra-op pool started, no lock held by another
    thread at the fork), unlike this process, where other tests may have started torch's,
    fastinit's or XLA's threads.  The rendezvous store is served here, on a port the kernel
    chose that stays bound until the group is done, so no other process can take it.  A rank's
    exception fails the test with its traceback (the others are stopped); a group still
    running after ``GROUP_TIMEOUT`` is stopped and fails the test."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    if method == "forkserver":
        multiprocessing.set_forkserver_preload(PRELOAD)    # once the server runs, this changes nothing
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT))
    group = mp.start_processes(rank_main, args=(world, store.port, fn, args), nprocs=world, join=False,
                               start_method=method)
    deadline = time.monotonic() + GROUP_TIMEOUT
    try:
        while not group.join(timeout=max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                running = [rank for rank, p in enumerate(group.processes) if p.is_alive()]
                pytest.fail(f"{fn.__name__} at world size {world}: ranks {running} still running "
                            f"after {GROUP_TIMEOUT} s")
    finally:
        for p in group.processes:
            if p.is_alive():
                p.kill()
            p.join()
        del store


@pytest.mark.parametrize("world, layouts", [(2, ("fsdp", "tp")), (4, ("fsdp", "tp", "fsdp+tp"))],
                         ids=["world2", "world4"])
def test_every_layout_has_the_one_process_bits_and_loss(world, layouts, tmp_path):
    launch(run, world, layouts, checkpoint(tmp_path))


def test_boxes_of_strided_and_uneven_shards():
    # rows 1, 3, 5 and columns 8..11 of a tensor: three boxes of one row each
    assert dtensor.boxes([[1, 3, 5], list(range(8, 12))]) == [
        ((slice(0, 1), slice(0, 4)), (1, 8)), ((slice(1, 2), slice(0, 4)), (3, 8)), ((slice(2, 3), slice(0, 4)), (5, 8))]
    assert dtensor.boxes([[4, 5, 6, 0, 1]]) == [((slice(0, 3),), (4,)), ((slice(3, 5),), (0,))]
    assert dtensor.boxes([[], [0, 1]]) == []             # an empty shard (more ranks than rows)


WHOLE = (6, 9)


def block_fill(calls):
    """``fill(view, offset)`` writing the block at ``offset`` of a whole-tensor normal fill,
    recording each view it was given."""
    def fill(view, offset):
        calls.append(view)
        fastinit.normal_(ft.as_numpy(view), std=0.02, seed=3, stream="w", global_shape=WHOLE, offset=offset)
    return fill


def whole_fill(dtype=torch.float32):
    whole = torch.empty(WHOLE, dtype=dtype)
    fastinit.normal_(ft.as_numpy(whole), std=0.02, seed=3, stream="w")
    return whole


# rows 4, 0, 1 and columns 1, 3, 4, 5, 8 (a _StridedShard on each dim): 2 x 3 boxes, the column
# runs not contiguous in the local tensor
INDEX = [[4, 0, 1], [1, 3, 4, 5, 8]]


def at(whole, index):
    return whole[index[0]][:, index[1]]


def test_fill_local_writes_each_box_at_its_place_contiguous_or_not():
    calls = []
    local = torch.full((3, 5), float("nan"))
    dtensor.fill_local(local, INDEX, block_fill(calls))
    assert torch.equal(local, at(whole_fill(), INDEX))
    assert len(calls) == 6 and all(v.is_contiguous() and v.device.type == "cpu" for v in calls)
    inside = [v for v in calls if v.untyped_storage().data_ptr() == local.untyped_storage().data_ptr()]
    assert [tuple(v.shape) for v in inside] == [(1, 1), (1, 3), (1, 1)]   # row 4 in place, rows 0..1 not


def test_write_local_in_place_or_through_one_staging_buffer():
    want = at(whole_fill(torch.bfloat16), INDEX)
    calls = []                                           # a contiguous CPU shard: written in place
    local = torch.empty(3, 5, dtype=torch.bfloat16)
    assert dtensor.write_local(local, INDEX, block_fill(calls)) is local and torch.equal(local, want)
    assert {v.untyped_storage().data_ptr() for v in calls if v.shape[0] == 1} == {local.untyped_storage().data_ptr()}
    calls = []                                           # a strided shard: staged whole, then one copy
    local = torch.full((5, 3), float("nan"), dtype=torch.bfloat16).t()
    assert dtensor.write_local(local, INDEX, block_fill(calls)) is local and torch.equal(local, want)
    staged = {v.untyped_storage().data_ptr() for v in calls if v.shape[0] == 1}   # row 4: in the buffer
    assert len(staged) == 1 and local.untyped_storage().data_ptr() not in staged


def test_a_write_of_some_rows_keeps_the_others_through_staging_and_boxes():
    # init_module_'s plan may write some rows only (here a padding row): the other elements keep
    # their values when the shard goes through a staging buffer (strided) or a temporary box
    from fastinit.model import plan
    from fastinit.torch.module import Entry, _filler

    e = Entry("w", WHOLE, torch.float32, (plan.scheme_op("zeros", rows=(0, 1)),), "parameter", True, None)
    old = torch.arange(54.0).reshape(WHOLE) + 1
    want = old.clone()
    want[0] = 0
    for local in (at(old, INDEX), at(old, INDEX).t().contiguous().t()):
        assert dtensor.write_local(local, INDEX, _filler(e, 0, None, 1), keep=True) is local
        assert torch.equal(local, at(want, INDEX))


def test_write_local_for_a_device_shard_stages_the_local_shape_and_dtype():
    """The accelerator branch without a GPU: a ``meta`` shard stands in for the device one.
    The shard is filled in one CPU staging buffer of its shape and dtype, box by box, and only
    then copied in (the copy to ``meta`` moves nothing; the values are checked through the
    strided CPU shard above, which takes the same branch)."""
    calls = []
    local = torch.empty(3, 5, dtype=torch.float16, device="meta")
    assert dtensor.write_local(local, INDEX, block_fill(calls)) is local
    staged = {v.untyped_storage().data_ptr() for v in calls if v.shape[0] == 1}
    assert len(calls) == 6 and all(v.device.type == "cpu" and v.dtype == torch.float16 for v in calls)
    assert len(staged) == 1 and calls[0].untyped_storage().nbytes() == 3 * 5 * 2   # the local shape, once
    for device in ("cpu", "meta"):                       # pinned memory serves only an accelerator
        buffer = dtensor.staging((3, 5), torch.bfloat16, device)
        assert buffer.device.type == "cpu" and buffer.is_contiguous() and buffer.shape == (3, 5)
        assert buffer.dtype == torch.bfloat16 and not dtensor.pinned(device)
    if torch.accelerator.is_available():
        assert dtensor.pinned(torch.accelerator.current_accelerator())


def test_checkpoint_reader_reads_each_box_converted(tmp_path):
    from fastinit.torch.module import _Checkpoint

    stored = torch.randn(WHOLE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    safetensors_torch.save_file({"w": stored}, str(tmp_path / "w.safetensors"))
    read = _Checkpoint(tmp_path / "w.safetensors").reader("w")
    for dtype in (torch.float64, torch.bfloat16):       # torch's conversion, as the whole-tensor load
        local = torch.full((5, 3), float("nan"), dtype=dtype).t()
        dtensor.write_local(local, INDEX, read)
        assert torch.equal(local, at(stored.to(dtype), INDEX))
    local = torch.empty(0, 5)                            # an empty shard reads nothing
    assert dtensor.write_local(local, [[], INDEX[1]], read).shape == (0, 5)


def test_importing_fastinit_torch_leaves_torch_distributed_tensor_unimported():
    # the DTensor module (it loads sympy: about half a second and 40 MB) is imported only where a
    # DTensor is met, and one can only be met once its maker imported the module
    import subprocess
    import sys
    code = ("import sys, torch; before = 'torch.distributed.tensor' in sys.modules; import fastinit.torch; "
            "print(before, 'torch.distributed.tensor' in sys.modules)")
    before, after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout.split()
    assert after == before
