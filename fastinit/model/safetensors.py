"""Write a safetensors file in place: header first, then fill each tensor where it lives.

Layout: the 8-byte little-endian header length, the JSON header padded with spaces so the
data region starts at a multiple of 4096 bytes, then the tensors back to back (the format
forbids holes, so only the data region's start is page-aligned, not every tensor).  Tensors
are laid out by descending itemsize, then by name -- for a single-dtype model that is name
order, and every tensor is aligned to its itemsize (``float64`` after odd-sized ``bfloat16``
would not be).  The header lists tensors by name; ``__metadata__`` holds strings only:
``format = "pt"``, the seed, the fastinit version and a JSON map name -> scheme.

The file is created as ``model.safetensors.partial``, extended to its final size with
``os.ftruncate`` (sparse: it takes no disk until written) and filled tensor by tensor, each
through a memory map of just its own pages (so the resident set stays one tensor); after
each tensor the map is flushed (msync, unless ``sync=False``) and its name appended to
``model.safetensors.progress.json``.  At the end the file is fsync'ed, renamed to
``model.safetensors`` and the progress file removed: a ``model.safetensors`` is complete by
construction.  ``resume=True`` reopens a ``.partial`` whose header is byte-identical to the
one this spec and seed produce and refills only the tensors not yet recorded -- at most the
one that was in flight.  No tensor is ever copied: the scheme writes into the mapped file.
"""

import hashlib
import json
import mmap
import os
import struct

import numpy as np

from .. import __version__
from .spec import NUMPY_DTYPES, ModelSpec, SpecError

FILENAME = "model.safetensors"
ALIGN = 4096
CODES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "float64": "F64"}
DTYPE_OF_CODE = {v: k for k, v in CODES.items()}


def layout(spec: ModelSpec):
    """``(prefix, data_start, offsets, data_size)``: the header bytes (length included),
    where the data region starts, ``{name: (begin, end)}`` relative to it, and its size."""
    order = sorted(spec.tensors, key=lambda t: (-t.np_dtype.itemsize, t.name))
    offsets, position = {}, 0
    for t in order:
        offsets[t.name] = (position, position + t.nbytes)
        position += t.nbytes
    metadata = {"format": "pt", "fastinit.version": __version__, "fastinit.seed": str(spec.seed),
                "fastinit.schemes": json.dumps({t.name: t.scheme for t in sorted(spec.tensors, key=lambda t: t.name)},
                                               separators=(",", ":"))}
    metadata.update(spec.metadata)
    header = {"__metadata__": metadata}
    for t in sorted(spec.tensors, key=lambda t: t.name):
        header[t.name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": list(offsets[t.name])}
    body = json.dumps(header, separators=(",", ":")).encode("utf-8")
    body += b" " * (-(8 + len(body)) % ALIGN)
    prefix = struct.pack("<Q", len(body)) + body
    return prefix, len(prefix), offsets, position


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _fill_one(fd, t, seed, start, threads, sync, test_hook):
    """Map just this tensor's pages (so resident memory stays one tensor), fill, unmap."""
    if t.nbytes == 0:
        return
    page = start // mmap.PAGESIZE * mmap.PAGESIZE
    mm = mmap.mmap(fd, start - page + t.nbytes, offset=page)
    try:
        view = np.frombuffer(mm, dtype=NUMPY_DTYPES[t.dtype], count=t.numel, offset=start - page).reshape(t.shape)
        if test_hook:
            test_hook(t, view)
        t.fill(view, seed, threads=threads)
        del view                           # the mapping cannot close while a view exports it
        if sync:
            mm.flush()                     # msync: the progress record never runs ahead of the disk
    finally:
        mm.close()


def write(spec: ModelSpec, directory, *, threads=None, resume=False, on_tensor=None, test_hook=None,
          sync=True):
    """Fill ``directory/model.safetensors``; ``on_tensor(t)`` is called after each tensor.

    Returns the names of the tensors filled by this call (fewer than all when resuming).
    """
    if spec.seed is None:
        raise SpecError("seed: not set; give it in the spec or with --seed")
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, FILENAME)
    partial, progress = final + ".partial", final + ".progress.json"
    prefix, data_start, offsets, size = layout(spec)
    key = hashlib.sha256(prefix).hexdigest()
    done = set()
    fd = None
    if resume and os.path.exists(partial) and os.path.exists(progress):
        with open(progress) as f:
            state = json.load(f)
        fd = os.open(partial, os.O_RDWR)
        if (state.get("key") == key and os.fstat(fd).st_size == data_start + size
                and os.pread(fd, len(prefix), 0) == prefix):
            done = set(state.get("done", ())) & set(offsets)
        else:                              # another spec or seed: start over
            os.close(fd)
            fd = None
    if fd is None:
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.pwrite(fd, prefix, 0)
        os.ftruncate(fd, data_start + size)
        _write_json(progress, {"key": key, "done": []})
    filled = []
    try:
        for t in sorted(spec.tensors, key=lambda t: offsets[t.name]):
            if t.name not in done:
                _fill_one(fd, t, spec.seed, data_start + offsets[t.name][0], threads, sync, test_hook)
                done.add(t.name)
                filled.append(t.name)
                _write_json(progress, {"key": key, "done": sorted(done)})
            if on_tensor:
                on_tensor(t)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, final)
    os.remove(progress)
    return filled


def read_header(path):
    """``(header, data_start)`` of a safetensors file; ValueError if it is malformed or truncated."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: truncated (shorter than the 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000 or 8 + n > size:
            raise ValueError(f"{path}: truncated or corrupt header (header length {n}, file size {size})")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: corrupt header: {exc}") from None
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if size != 8 + n + end:
        raise ValueError(f"{path}: size {size} bytes, but the header needs {8 + n + end}: truncated or extended")
    return header, 8 + n


def open_tensors(directory):
    """``{name: read-only array}`` of a complete ``directory/model.safetensors``."""
    final = os.path.join(directory, FILENAME)
    if not os.path.exists(final):
        if os.path.exists(final + ".partial"):
            raise ValueError(f"{final}: incomplete ({FILENAME}.partial present: the fill was interrupted; "
                             f"rerun 'fastinit fill ... --resume')")
        raise ValueError(f"{final}: no such file")
    header, data_start = read_header(final)
    arrays = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = NUMPY_DTYPES[DTYPE_OF_CODE[entry["dtype"]]]
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if end - begin == 0:
            arrays[name] = np.empty(shape, dtype)
        else:
            arrays[name] = np.memmap(final, dtype=dtype, mode="r", offset=data_start + begin, shape=shape)
    return arrays
