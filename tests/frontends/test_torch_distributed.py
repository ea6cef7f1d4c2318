"""DTensor parameters filled shard by shard: ``materialize``/``init_module_`` on a small
transformer after FSDP2's ``fully_shard``, tensor parallel's ``parallelize_module`` or both
on a 2x2 mesh, in real gloo process groups on the CPU (world sizes 2 and 4).  Every
parameter's ``full_tensor()`` equals the one-process ``materialize`` bit for bit, and the
first training step gives the one-process loss (to summation-order tolerance)."""

import os
import socket
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
from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,  # noqa: E402
                                               parallelize_module)

import fastinit.torch as ft  # noqa: E402
from fastinit.torch import dtensor  # noqa: E402

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


def run(rank, world, port, layouts):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    # FSDP2 over a TP head whose output is gathered: no in-place op follows, so the warning does not apply
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module \(.*\) returned a view tensor")
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        with torch.device("meta"):
            reference = Tiny()
        reference = ft.materialize(reference, SEED)
        want = {n: p.detach().clone() for n, p in reference.named_parameters()}
        losses = first_step(reference)
        for layout in layouts:
            model = ft.materialize(build(layout, world), SEED)
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
            if layout == "fsdp+tp":                        # FSDP over a TP-sharded dim: rows not contiguous
                assert any(isinstance(x, dtensor._StridedShard) for ps in placements for x in ps), placements
            got = first_step(model)
            assert got == pytest.approx(losses, rel=1e-5, abs=1e-6), (layout, got, losses)
            for p in model.parameters():                   # init_module_: in place, into each local shard
                with torch.no_grad():
                    (p.to_local() if isinstance(p, DTensor) else p).zero_()
            ft.init_module_(model, SEED)
            for name, p in model.named_parameters():
                p = p.full_tensor() if isinstance(p, DTensor) else p.detach()
                assert torch.equal(p.view(torch.int32), want[name].view(torch.int32)), (layout, name)
        if world == 2:                                     # bfloat16: the kernels' rounding, shard by shard
            with torch.device("meta"):
                reference = Tiny()
            reference = ft.materialize(reference, SEED, dtype=torch.bfloat16)
            model = ft.materialize(build("tp", world), SEED, dtype=torch.bfloat16)
            for name, p in model.named_parameters():
                p = p.full_tensor() if isinstance(p, DTensor) else p.detach()
                assert p.dtype == torch.bfloat16 and torch.equal(
                    p.view(torch.int16), reference.get_parameter(name).detach().view(torch.int16)), name
        if "tp" in layouts:                                # Partial is refused, naming the parameter
            mesh = init_device_mesh("cpu", (world,))
            with torch.device("meta"):
                model = nn.Linear(4, 3)
            model.weight = nn.Parameter(DTensor.from_local(torch.empty(3, 4, device="meta"), mesh, [Partial()],
                                                           run_check=False))
            with pytest.raises(ValueError, match=r"weight: placement Partial\(sum\) on mesh dim 0 cannot be filled"):
                ft.materialize(model, SEED)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("world, layouts", [(2, ("fsdp", "tp")), (4, ("fsdp", "tp", "fsdp+tp"))],
                         ids=["world2", "world4"])
def test_every_layout_has_the_one_process_bits_and_loss(world, layouts):
    mp.start_processes(run, args=(world, free_port(), layouts), nprocs=world, join=True, start_method="spawn")


def test_boxes_of_strided_and_uneven_shards():
    # rows 1, 3, 5 and columns 8..11 of a tensor: three boxes of one row each
    assert dtensor.boxes([[1, 3, 5], list(range(8, 12))]) == [
        ((slice(0, 1), slice(0, 4)), (1, 8)), ((slice(1, 2), slice(0, 4)), (3, 8)), ((slice(2, 3), slice(0, 4)), (5, 8))]
    assert dtensor.boxes([[4, 5, 6, 0, 1]]) == [((slice(0, 3),), (4,)), ((slice(3, 5),), (0,))]
    assert dtensor.boxes([[], [0, 1]]) == []             # an empty shard (more ranks than rows)


def test_gpu_staging_path_logic():
    """The accelerator branch (pinned staging, asynchronous copy) on a device that needs no
    GPU: ``meta`` stands in for it -- the copy produces a tensor of the device, shape and dtype."""
    staged = dtensor.staging((3, 5), torch.bfloat16, "cpu")
    assert staged.device.type == "cpu" and not staged.is_pinned()
    assert dtensor.to_device(staged, "cpu") is staged
    moved = dtensor.to_device(staged, "meta")
    assert moved.device.type == "meta" and moved.shape == (3, 5) and moved.dtype == torch.bfloat16
