"""Read safetensors files that may come from anyone: validate first, then memory-map.

``read_header`` checks a file the way the official ``safetensors`` reader does, and refuses
with a ``CorruptFile`` that names the file: a header length beyond the file or over 100 MB
(the official limit), a header that is not UTF-8 JSON, not an object, with a duplicate key
or a non-string metadata value; a tensor with an unknown dtype, a bad shape or offsets, a
byte span that is not dtype x shape, overlapping tensors, holes, a first tensor not at 0,
trailing bytes or a file shorter than the data.  It reads only the 8-byte length and the
header (after checking the length against the file's size) and never allocates what the
header claims.  Where it is stricter than the official reader -- duplicate keys (the
official reader keeps the last), dtypes without a NumPy type (``F8_E8M0``, ``F4``, ``F6_*``,
``C64``) -- it says so; it accepts nothing the official reader rejects.
"""

import json
import os
import struct

import ml_dtypes
import numpy as np

from ..errors import CorruptFile, Incomplete
from ..lock import file_lock_name, holder
from .format import FILENAME, INDEX, SHARD

MAX_HEADER = 100_000_000      # the official reader's limit
ADVICE = "the file is damaged or not a safetensors file; download or write it again"
NUMPY = {"BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
         "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"),
         "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4"),
         "F64": np.dtype("<f8"), "BF16": np.dtype(ml_dtypes.bfloat16),
         "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn), "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2)}
UNSUPPORTED = {"F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"}     # valid safetensors, no NumPy type
U64 = 2 ** 64


class _Duplicate(Exception):
    pass


def _pairs(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _Duplicate(k)
        seen[k] = v
    return seen


def _constant(name):
    raise ValueError(f"{name} is not JSON")


def _is_u64(x):
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < U64


def _utf8(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:            # a lone surrogate from a \\ud800 escape
        return False


def parse_header(f, size, path):
    """``(header, data_start)`` from the open binary file ``f`` of ``size`` bytes at ``path``;
    ``CorruptFile`` if it is not a valid safetensors file (see the module's docstring)."""
    def bad(message):
        return CorruptFile(path, f"{message}: {ADVICE}")

    head = f.read(8)
    if len(head) < 8:
        raise bad(f"{size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", head)
    if n > MAX_HEADER:
        raise bad(f"header length {n:,} bytes is over the {MAX_HEADER:,}-byte limit")
    if 8 + n > size:
        raise bad(f"header length {n:,} bytes runs past the end of the {size:,}-byte file")
    raw = f.read(n)
    if len(raw) != n:
        raise bad("file shorter than it was a moment ago")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"header is not UTF-8 (byte {exc.start + 8})") from None
    try:
        header = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _Duplicate as exc:
        raise bad(f"key {exc.args[0]!r} appears twice in the header") from None
    except (ValueError, RecursionError) as exc:
        raise bad(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.get("__metadata__")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(v, str) and _utf8(k) and _utf8(v) for k, v in metadata.items())):
        raise bad("__metadata__ is not a map of strings to strings")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not _utf8(name):
            raise bad(f"tensor name {name!r} is not valid UTF-8")
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
            raise bad(f"tensor {name!r}: expected an object with dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
            raise bad(f"tensor {name!r}: shape {shape!r} is not a list of integers >= 0")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_u64(o) for o in offsets):
            raise bad(f"tensor {name!r}: data_offsets {offsets!r} is not two integers >= 0")
        if dtype in UNSUPPORTED:
            raise CorruptFile(path, f"tensor {name!r}: dtype {dtype} has no NumPy type; fastinit reads "
                                    f"{', '.join(NUMPY)}; read this file with the safetensors package")
        if dtype not in NUMPY:
            raise bad(f"tensor {name!r}: unknown dtype {dtype!r}")
        spans.append((offsets[0], offsets[1], name, shape, NUMPY[dtype].itemsize))
    spans.sort(key=lambda s: (s[0], s[1]))
    position = 0
    for begin, end, name, shape, itemsize in spans:
        if begin != position or end < begin:
            if begin > position:
                what = f"a hole of {begin - position:,} bytes before it" if position \
                    else f"the first tensor starts at byte {begin:,}, not 0"
                raise bad(f"tensor {name!r}: data_offsets {[begin, end]}: {what}")
            raise bad(f"tensor {name!r}: data_offsets {[begin, end]} overlap the tensor before it or run backwards")
        nbytes = itemsize
        for d in shape:
            nbytes *= d
            if nbytes >= U64:
                raise bad(f"tensor {name!r}: shape {shape} overflows 64 bits")
        if end - begin != nbytes:
            raise bad(f"tensor {name!r}: data_offsets {[begin, end]} span {end - begin:,} bytes, but "
                      f"{entry_dtype(header, name)} x {shape} is {nbytes:,}")
        position = end
    data = size - 8 - n
    if position != data:
        if position < data:
            raise bad(f"{data - position:,} trailing bytes after the last tensor")
        raise bad(f"the tensors need {position:,} data bytes but the file holds {data:,}: truncated")
    return header, 8 + n


def entry_dtype(header, name):
    return header[name]["dtype"]


def read_header(path):
    """``(header, data_start)`` of a safetensors file; ``CorruptFile`` if it is malformed."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        return parse_header(f, os.fstat(f.fileno()).st_size, path)


def tensors(header):
    """``[(name, entry)]`` of a header, ``__metadata__`` left out."""
    return [(k, v) for k, v in header.items() if k != "__metadata__"]


def arrays(path, header, data_start):
    """``{name: read-only array}`` of a validated file: memory maps, nothing read yet."""
    out = {}
    for name, entry in tensors(header):
        dtype, shape = NUMPY[entry["dtype"]], tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        if end == begin:
            out[name] = np.zeros(shape, dtype)
        else:
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=data_start + begin, shape=shape)
    return out


def incomplete(directory):
    """The ``.partial`` safetensors files in ``directory`` (an interrupted or failed fill)."""
    return sorted(p for p in os.listdir(directory)
                  if p.endswith(".partial") and (p == FILENAME + ".partial" or SHARD.fullmatch(p[:-8])))


def model_files(directory):
    """The names of the files of a safetensors model (or an interrupted fill) in ``directory``, sorted."""
    return sorted(p for p in os.listdir(directory)
                  if p in (FILENAME, INDEX, FILENAME + ".partial") or SHARD.fullmatch(p.removesuffix(".partial")))


def read_index(path):
    """``(weight_map, metadata)`` of a ``model.safetensors.index.json``; ``CorruptFile`` if malformed."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(MAX_HEADER + 1).decode("utf-8"), object_pairs_hook=_pairs)
        weight_map, metadata = data["weight_map"], data["metadata"]
        total = metadata["total_size"]
    except (_Duplicate, ValueError, KeyError, TypeError) as exc:
        raise CorruptFile(path, f"not a model index ({type(exc).__name__}: {exc}): {ADVICE}") from None
    if (not isinstance(weight_map, dict) or not _is_u64(total)
            or not all(isinstance(v, str) and SHARD.fullmatch(v) for v in weight_map.values())):
        raise CorruptFile(path, f"weight_map must map names to shard files, total_size must be an integer: {ADVICE}")
    return weight_map, metadata


def files(directory):
    """``[(path, header, data_start)]`` of a complete model in ``directory`` -- ``model.safetensors``
    or the shards of ``model.safetensors.index.json`` -- and the index's ``(weight_map, metadata)``
    (None for a single file), after checking that the index and the shards agree."""
    directory = os.fspath(directory)
    final, index = os.path.join(directory, FILENAME), os.path.join(directory, INDEX)
    partial = incomplete(directory)
    if partial:
        pid = holder(directory)
        if pid is None:                             # a process filling only some shards
            own = partial[0].removesuffix(".progress.json").removesuffix(".partial")
            pid = holder(directory, file_lock_name(own))
        if pid is not None:
            raise Incomplete(os.path.join(directory, partial[0]), f"incomplete: process {pid or '(starting)'} is "
                                                                  f"filling it now; wait for it to finish")
        raise Incomplete(os.path.join(directory, partial[0]), "incomplete: the fill was interrupted or failed; "
                                                              "resume the fill to finish it")
    if os.path.exists(final) and os.path.exists(index):
        raise CorruptFile(directory, f"holds both {FILENAME} and {INDEX}: which one is the model is ambiguous; "
                                     f"remove the one that is not")
    if os.path.exists(final):
        return [(final, *read_header(final))], None
    if not os.path.exists(index):
        shard = next((p for p in sorted(os.listdir(directory)) if SHARD.fullmatch(p)), None)
        if shard:
            raise Incomplete(index, f"no such file, but shard {shard} is present: incomplete sharded fill; "
                                    f"resume the fill to finish it")
        raise CorruptFile(final, "no such file")
    weight_map, metadata = read_index(index)
    out, where = [], {}
    for shard in sorted(set(weight_map.values())):
        path = os.path.join(directory, shard)
        if not os.path.exists(path):
            raise CorruptFile(path, f"no such file (listed in {INDEX})")
        header, data_start = read_header(path)
        for name, _ in tensors(header):
            if name in where:
                raise CorruptFile(path, f"tensor {name!r} is also in {where[name]}")
            where[name] = shard
            if weight_map.get(name) != shard:
                raise CorruptFile(index, f"tensor {name!r} is in {shard} but the weight_map says "
                                         f"{weight_map.get(name)!r}")
        out.append((path, header, data_start))
    missing = sorted(set(weight_map) - set(where))
    if missing:
        raise CorruptFile(index, f"tensor {missing[0]!r} is in the weight_map but not in {weight_map[missing[0]]}")
    nbytes = sum(e["data_offsets"][1] - e["data_offsets"][0] for _, h, _ in out for _, e in tensors(h))
    if metadata["total_size"] != nbytes:
        raise CorruptFile(index, f"metadata.total_size is {metadata['total_size']}, but the shards hold "
                                 f"{nbytes} bytes of tensors")
    return out, (weight_map, metadata)


def open_tensors(directory):
    """``{name: read-only array}`` of a complete ``directory/model.safetensors``, or of the
    shards listed by a complete ``directory/model.safetensors.index.json``.

    ``Incomplete`` for a ``.partial`` file (interrupted or failed fill) or shards without an
    index; ``CorruptFile`` for a malformed file, a missing shard, an index whose
    ``weight_map`` or ``total_size`` disagrees with the shards' headers, or both layouts."""
    out = {}
    for path, header, data_start in files(directory)[0]:
        out.update(arrays(path, header, data_start))
    return out
