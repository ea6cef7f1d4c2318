"""The safetensors files fastinit writes: names, dtype codes and the header.

Layout: the 8-byte little-endian header length, the JSON header padded with spaces so the
data region starts at a multiple of 4096 bytes, then the tensors back to back (the format
forbids holes, so only the data region's start is page-aligned, not every tensor).  Tensors
are laid out by descending itemsize, then by name -- for a single-dtype model that is name
order, and every tensor is aligned to its itemsize.  The header lists tensors by name;
``__metadata__`` holds strings only: ``format = "pt"``, the fastinit version, the stream
layout's version (``fastinit.STREAM_LAYOUT``), the seed, a
JSON map name -> scheme, the spec's own metadata and ``fastinit.xxh3_64``, a JSON map
name -> the xxh3-64 digest (16 hex digits) of the tensor's bytes, and last
``fastinit.header_xxh3_64``, the digest of the whole header (length and padding included)
with that value set to 16 zeros -- so a damaged header is found without knowing the spec.

Digests are known only at the end, but their length is known at the start: while a fill runs
that field holds ``"pending fill <id>"`` (the fill's identifier, also in its progress record),
and the header is padded to the same length for both values, so the final header is written
over the first without moving a byte of data.
"""

import json
import re
import struct
from typing import NamedTuple

from ..._extras import require
from ..._version import STREAM_LAYOUT, __version__
from ..spec import ModelSpec

FILENAME = "model.safetensors"
INDEX = "model.safetensors.index.json"
SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
ALIGN = 4096                  # the data region starts on a page (and O_DIRECT block) boundary
CODES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "float64": "F64"}
DTYPE_OF_CODE = {code: name for name, code in CODES.items()}
DIGEST_KEY = "fastinit.xxh3_64"
DIGEST_HEX = 16               # xxh3-64: 8 bytes
HEADER_KEY = "fastinit.header_xxh3_64"
PENDING = "pending fill "
FILL_ID_HEX = 32


def xxh3_64(data=b""):
    """A new xxh3-64 hasher, the digests' algorithm (xxhash, of the ``files`` extra)."""
    return require("xxhash", "files", "the safetensors format").xxh3_64(data)


def shard_name(i, n):
    """Hugging Face's shard file name: ``model-00001-of-00003.safetensors`` (i from 1)."""
    return f"model-{i:05d}-of-{n:05d}.safetensors"


class Layout(NamedTuple):
    prefix: bytes             # the header, its 8-byte length included
    data_start: int           # == len(prefix), a multiple of ALIGN
    offsets: dict             # name -> (begin, end), relative to data_start
    size: int                 # bytes of the data region


def order(spec: ModelSpec):
    """The tensors in the order of their bytes in the file."""
    return sorted(spec.tensors, key=lambda t: (-t.np_dtype.itemsize, t.name))


def encode_digests(digests):
    """The ``fastinit.xxh3_64`` value for ``{name: 16 hex digits}``."""
    return json.dumps(dict(sorted(digests.items())), separators=(",", ":"))


def _body(spec, offsets, digest_value, version):
    metadata = {"format": "pt", "fastinit.version": version, "fastinit.stream_layout": str(STREAM_LAYOUT),
                "fastinit.seed": str(spec.seed),
                "fastinit.schemes": json.dumps({t.name: t.scheme for t in sorted(spec.tensors, key=lambda t: t.name)},
                                               separators=(",", ":"))}
    metadata.update(spec.metadata)
    metadata[DIGEST_KEY] = digest_value
    metadata[HEADER_KEY] = "0" * DIGEST_HEX
    header = {"__metadata__": metadata}
    for t in sorted(spec.tensors, key=lambda t: t.name):
        header[t.name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": list(offsets[t.name])}
    return json.dumps(header, separators=(",", ":")).encode("utf-8")


def layout(spec: ModelSpec, *, digests=None, fill_id=None, version=__version__) -> Layout:
    """The header and offsets of ``spec``'s file: final (``digests``, ``{name: hex}``) or
    being filled (``fill_id``, 32 hex digits); the header's length is the same for both."""
    offsets, position = {}, 0
    for t in order(spec):
        offsets[t.name] = (position, position + t.nbytes)
        position += t.nbytes
    zeros = encode_digests({t.name: "0" * DIGEST_HEX for t in spec.tensors})
    longest = max(len(_body(spec, offsets, zeros, version)),
                  len(_body(spec, offsets, PENDING + "0" * FILL_ID_HEX, version)))
    n = -(-(8 + longest) // ALIGN) * ALIGN - 8
    if digests is not None:
        body = _body(spec, offsets, encode_digests(digests), version)
    else:
        body = _body(spec, offsets, PENDING + (fill_id or "0" * FILL_ID_HEX), version)
    prefix = struct.pack("<Q", n) + body + b" " * (n - len(body))
    prefix = prefix.replace(_header_field("0" * DIGEST_HEX), _header_field(header_digest(prefix)))
    return Layout(prefix, len(prefix), offsets, position)


def _header_field(value):
    return f'"{HEADER_KEY}":"{value}"'.encode()


def header_digest(prefix, value=None):
    """The xxh3-64 of a header (``prefix``: length, JSON, padding) whose ``HEADER_KEY`` value,
    ``value``, is replaced by 16 zeros."""
    if value is not None:
        prefix = prefix.replace(_header_field(value), _header_field("0" * DIGEST_HEX), 1)
    return xxh3_64(prefix).hexdigest()


def parse_digests(value):
    """``{name: hex}`` from a ``fastinit.xxh3_64`` value, or None if it is not one (a pending
    fill's placeholder, or damaged)."""
    try:
        digests = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(digests, dict) or not all(
            isinstance(v, str) and len(v) == DIGEST_HEX and all(c in "0123456789abcdef" for c in v)
            for v in digests.values()):
        return None
    return digests


def describe_header(header):
    """``output.describe`` of the spec a safetensors header was written from, as far as it says."""
    metadata = header.get("__metadata__") or {}
    seed = metadata.get("fastinit.seed")
    try:
        schemes = json.loads(metadata.get("fastinit.schemes", "{}"))
    except ValueError:
        schemes = {}
    tensors = {name: [DTYPE_OF_CODE.get(e["dtype"], e["dtype"]), list(e["shape"]),
                      schemes.get(name) if isinstance(schemes, dict) else None]
               for name, e in header.items() if name != "__metadata__"}
    return {"seed": int(seed) if isinstance(seed, str) and seed.isdigit() else seed, "tensors": tensors}

