"""Which tensors go into which shard file (Hugging Face's ``max_shard_size`` convention)."""

import re

from ..spec import ModelSpec, SpecError
from .format import shard_name

_UNITS = {"b": 1, **{p + "b": 1000 ** (i + 1) for i, p in enumerate("kmgt")},
          **{p + "ib": 1024 ** (i + 1) for i, p in enumerate("kmgt")}}


def parse_size(value) -> int:
    """Bytes for ``"5GB"``, ``"500MB"``, ``"2GiB"``, ``"1e9"`` or ``"123"`` (decimal units are
    powers of 1000, binary ones of 1024, as in transformers' ``max_shard_size``)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([kmgt]i?b|b)?\s*", str(value), re.IGNORECASE)
    if not match:
        raise SpecError(f"max_shard_size: cannot read {value!r}; expected bytes or e.g. 500MB, 5GB, 2GiB")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    n = int(number * _UNITS[unit])
    if n < 1:
        raise SpecError(f"max_shard_size: must be at least 1 byte; got {value!r}")
    return n


def shards(spec: ModelSpec, max_bytes):
    """``[(file name, sub-spec)]``: tensors assigned greedily in the spec's order, a new shard
    begun when the next tensor would push the current one past ``max_bytes``; a tensor is
    never split, so one larger than ``max_bytes`` gets a shard of its own (as transformers does)."""
    groups, current, size = [], [], 0
    for t in spec.tensors:
        if current and size + t.nbytes > max_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(t.name)
        size += t.nbytes
    if current or not groups:
        groups.append(current)
    return [(shard_name(i + 1, len(groups)), spec.subset(names)) for i, names in enumerate(groups)]


def assign(names, shard_index, num_shards):
    """The files of ``names`` (the shard files, in order) that process ``shard_index`` of
    ``num_shards`` writes: file ``j`` (from 0) goes to process ``j % num_shards``, so neighbours
    -- often the larger embedding and head shards at both ends -- go to different processes.
    A process with no file gets ``[]`` (more processes than files)."""
    for arg, value in (("num_shards", num_shards), ("shard_index", shard_index)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{arg}: expected an integer; got {value!r}")
    if num_shards < 1:
        raise SpecError(f"num_shards: must be at least 1; got {num_shards}")
    if not 0 <= shard_index < num_shards:
        raise SpecError(f"shard_index: must be in [0, {num_shards}) for num_shards={num_shards}; got {shard_index}")
    return [name for j, name in enumerate(names) if j % num_shards == shard_index]
