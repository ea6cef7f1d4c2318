"""DTensor parameters (FSDP2's ``fully_shard``, tensor parallel's ``parallelize_module``, or both
on a 2-D mesh): which elements of the whole tensor a rank holds, and filling only those.

By fastinit's contract element *i* of a tensor depends only on (seed, stream, i, scheme,
dtype), so a rank fills its local shard by the shard path (``global_shape``/``offset`` of
every fill) and gets exactly the bits that block has in the one-process fill, with no
communication: fans come from the global shape, indices are global.  ``Shard(d)`` (even or
uneven, ``torch.chunk`` sizes), ``Replicate`` (every rank fills the whole tensor, the same
bits) and ``_StridedShard`` (FSDP2 over a tensor-parallel dim: a rank's rows are not
contiguous) are filled locally; a placement whose local values are not a block of the
whole tensor (``Partial``: a sum still to be reduced) is refused, naming the parameter.

GPU meshes: fastinit fills CPU memory, so the local shard is filled in a pinned CPU staging
buffer of the local shape and copied to the device with ``non_blocking=True`` (``write_local``).
A checkpoint is read the same way: each box of the local shard is one slice of the stored
tensor (``safe_open(...).get_slice(name)[box]``), so a rank reads only its own bytes.
"""

import itertools
import sys

import torch


def is_dtensor(t):
    # a DTensor exists only once torch.distributed.tensor is imported (by whoever made it), so
    # this module imports it only where one is met: the import costs a process that has none
    # about half a second and 40 MB (it loads sympy)
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def _indices(size, placement, num_chunks, coordinate):
    """The positions (into the current local index list of one dim) this coordinate keeps."""
    from torch.distributed.tensor import Shard
    from torch.distributed.tensor.placement_types import _StridedShard, _StridedShardOffsetMode
    if isinstance(placement, _StridedShard):
        n, offsets = placement.local_shard_size_and_offset(size, num_chunks, coordinate, _StridedShardOffsetMode.ALL)
        return list(offsets) if n else []
    n, start = Shard.local_shard_size_and_offset(size, num_chunks, coordinate)
    return list(range(start, start + n))


def local_indices(name, shape, mesh, placements):
    """``[global indices along dim d]`` of the local shard of the DTensor ``name`` (its
    ``shape``, ``mesh`` and ``placements``), sharding left to right over the mesh dims as
    DTensor does.  ``ValueError`` naming ``name`` for a placement that cannot be filled locally."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard
    coordinate = mesh.get_coordinate()
    if coordinate is None:
        raise ValueError(f"{name}: this rank is not part of the parameter's device mesh")
    index = [list(range(n)) for n in shape]
    for mesh_dim, placement in enumerate(placements):
        if isinstance(placement, Replicate):
            continue
        if not isinstance(placement, (Shard, _StridedShard)):
            raise ValueError(f"{name}: placement {placement!r} on mesh dim {mesh_dim} cannot be filled locally "
                             f"(only Shard(dim), _StridedShard and Replicate: the local values of {placement!r} are "
                             f"not a block of the whole tensor); initialize it as Replicate and redistribute")
        d = placement.dim
        keep = _indices(len(index[d]), placement, mesh.size(mesh_dim), coordinate[mesh_dim])
        index[d] = [index[d][k] for k in keep]
    return index


def _runs(index):
    """``[(local start, global start, length)]``: the index list cut into consecutive runs."""
    runs = []
    for local, g in enumerate(index):
        if runs and runs[-1][1] + runs[-1][2] == g:
            runs[-1][2] += 1
        else:
            runs.append([local, g, 1])
    return [tuple(r) for r in runs]


def boxes(index):
    """``[(local slices, global offset)]``: the local shard as boxes of the whole tensor, one
    per combination of consecutive runs (one box unless a dim is ``_StridedShard``)."""
    per_dim = [_runs(ix) for ix in index]
    if any(not r for r in per_dim):
        return []
    return [(tuple(slice(lo, lo + n) for lo, _, n in combo), tuple(g for _, g, _ in combo))
            for combo in itertools.product(*per_dim)]


def fill_local(local, index, fill, keep=False):
    """Write the CPU tensor ``local`` (the shard whose global indices are ``index``) by calling
    ``fill(view, offset)`` for each box: ``view`` a contiguous CPU tensor of the box's shape,
    ``offset`` its place in the whole tensor.  A box that is not contiguous in ``local`` (the
    columns of a ``_StridedShard`` on dim 1, or a strided ``local``) is written into a
    temporary of the box's shape and copied in; ``keep``: ``fill`` leaves some elements as
    they are, so the temporary starts as a copy of the box."""
    for slices, offset in boxes(index):
        view = local[slices]
        if view.is_contiguous():
            fill(view, offset)
        else:
            box = torch.empty(view.shape, dtype=view.dtype)
            if keep:
                box.copy_(view)
            fill(box, offset)
            view.copy_(box)
    return local


def pinned(device):
    """Whether a staging buffer for ``device`` is pinned: for the machine's accelerator (the
    only device pinned memory serves; ``torch.accelerator``), not for the CPU or ``meta``."""
    device = torch.device(device)
    accelerator = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    return accelerator is not None and device.type == accelerator.type


def staging(shape, dtype, device):
    """A contiguous CPU tensor of ``shape`` and ``dtype`` to fill for a shard on ``device``:
    pinned for an accelerator (so the copy to it is asynchronous), plain memory otherwise."""
    return torch.empty(shape, dtype=dtype, pin_memory=pinned(device))


def write_local(local, index, fill, keep=False):
    """Write the local shard ``local`` (any device, any strides; its global indices ``index``)
    by ``fill(view, offset)`` on CPU boxes (``fill_local``); returns ``local``.  ``keep``:
    ``fill`` leaves some elements as they are (a write of some rows only), so a staging
    buffer starts as a copy of ``local`` and the elements not written keep their values.

    A contiguous CPU ``local`` is written in place.  Otherwise the shard is written whole into
    one staging buffer of its shape and dtype (``staging``) and copied in by one ``copy_``,
    ``non_blocking`` off the CPU: the copy is queued on the device's current stream after every
    byte is written, so any later use on that stream sees the values, and the buffer is only
    released to PyTorch's pinned-memory cache, which reuses it after that copy has run (it
    records the stream's event), never by fastinit before.  Use on another stream needs that
    stream to wait for the current one, as for any asynchronous copy."""
    if local.device.type == "cpu" and local.is_contiguous():
        return fill_local(local, index, fill, keep)
    staged = staging(local.shape, local.dtype, local.device)
    if keep:
        staged.copy_(local)
    fill_local(staged, index, fill, keep)
    local.copy_(staged, non_blocking=local.device.type != "cpu")
    return local


def from_local(local, like):
    """A DTensor with ``like``'s mesh, placements, shape and stride holding ``local``."""
    from torch.distributed.tensor import DTensor
    return DTensor.from_local(local, like.device_mesh, like.placements, run_check=False, shape=like.shape,
                              stride=like.stride())
