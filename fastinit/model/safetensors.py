"""Write a safetensors file in place: header first, then fill each tensor where it lives.

Layout: the 8-byte little-endian header length, the JSON header padded with spaces so the
data region starts at a multiple of 4096 bytes, then the tensors back to back (the format
forbids holes, so only the data region's start is page-aligned, not every tensor).  Tensors
are laid out by descending itemsize, then by name -- for a single-dtype model that is name
order, and every tensor is aligned to its itemsize (``float64`` after odd-sized ``bfloat16``
would not be).  The header lists tensors by name; ``__metadata__`` holds strings only:
``format = "pt"``, the seed, the fastinit version and a JSON map name -> scheme.

The file is created as ``model.safetensors.partial``, its final size reserved with
``os.posix_fallocate`` (see ``reserve``: a full disk is an OSError up front, never a SIGBUS
or a short write later) and its data region written front to back in chunks of ``CHUNK``
bytes (``_Stream``): the schemes fill a chunk buffer in place -- a tensor that spans chunks
is filled piece by piece through the shard path, so its bits are the whole tensor's -- and a
writer thread sends the previous chunk to disk with ``O_DIRECT`` (no page cache, no page
faults, no second copy) while the cores compute the next.  Resident memory is two chunks,
whatever the model's size.  After each chunk the file is fdatasync'ed (unless
``sync=False``) and the tensors that ended in it are appended to
``model.safetensors.progress.json``.  At the end the file is fsync'ed, renamed to
``model.safetensors`` and the progress file removed: a ``model.safetensors`` is complete by
construction.  ``resume=True`` reopens a ``.partial`` whose header is byte-identical to the
one this spec and seed produce and rewrites from the first tensor not recorded (from the
4 KiB boundary before it: the bytes rewritten are the same bytes).

Sharded (``max_shard_size``): Hugging Face's ``model-0000i-of-0000N.safetensors``, each laid
out and completed like the single file (tensors assigned greedily in the spec's order, never
split), renamed together at the end, then ``model.safetensors.index.json`` written last.
"""

import errno
import hashlib
import json
import math
import mmap
import os
import queue
import re
import struct
import threading

import numpy as np

from .._version import STREAM_LAYOUT, __version__
from .spec import NUMPY_DTYPES, ModelSpec, SpecError

FILENAME = "model.safetensors"
INDEX = "model.safetensors.index.json"
ALIGN = 4096                  # the data region starts on a page (and O_DIRECT block) boundary
CHUNK = 32 << 20              # bytes per write; two chunk buffers are in flight
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
    metadata = {"format": "pt", "fastinit.version": __version__,
                "fastinit.stream_layout": str(STREAM_LAYOUT), "fastinit.seed": str(spec.seed),
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


def parse_size(value) -> int:
    """Bytes for ``"5GB"``, ``"500MB"``, ``"2GiB"``, ``"1e9"`` or ``"123"`` (decimal units are
    powers of 1000, binary ones of 1024, as in transformers' ``max_shard_size``)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([kmgt]i?b|b)?\s*", str(value), re.IGNORECASE)
    if not match:
        raise SpecError(f"--max-shard-size: cannot read {value!r}; expected bytes or e.g. 500MB, 5GB, 2GiB")
    number, unit = float(match.group(1)), (match.group(2) or "b").lower()
    n = int(number * _UNITS[unit])
    if n < 1:
        raise SpecError(f"--max-shard-size: must be at least 1 byte; got {value!r}")
    return n


_UNITS = {"b": 1, **{p + "b": 1000 ** (i + 1) for i, p in enumerate("kmgt")},
          **{p + "ib": 1024 ** (i + 1) for i, p in enumerate("kmgt")}}


def shard_name(i, n):
    """Hugging Face's shard file name: ``model-00001-of-00003.safetensors`` (i from 1)."""
    return f"model-{i:05d}-of-{n:05d}.safetensors"


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


def flat_boxes(shape, e0, e1):
    """The boxes ``(offset, block_shape)`` that cover the flat elements ``[e0, e1)`` of a C-ordered
    tensor of ``shape``, in order: a partial first row, whole rows, a partial last row, each
    partial row split the same way one dimension down."""
    if e0 >= e1:
        return []
    if not shape:
        return [((), ())]
    inner = math.prod(shape[1:])
    r0, r1 = e0 // inner, e1 // inner
    if r0 == r1 or (r1 == r0 + 1 and e1 % inner == 0 and e0 % inner):
        if e0 % inner == 0 and e1 - e0 == inner:
            return [((r0,) + (0,) * (len(shape) - 1), (1,) + tuple(shape[1:]))]
        return [((r0,) + off, (1,) + blk) for off, blk in flat_boxes(shape[1:], e0 - r0 * inner, e1 - r0 * inner)]
    boxes = []
    if e0 % inner:
        boxes += flat_boxes(shape, e0, (r0 + 1) * inner)
        r0 += 1
    if r1 > r0:
        boxes.append(((r0,) + (0,) * (len(shape) - 1), (r1 - r0,) + tuple(shape[1:])))
    if e1 % inner:
        boxes += flat_boxes(shape, r1 * inner, e1)
    return boxes


def _fill_range(t, seed, e0, e1, out, threads):
    """Elements ``[e0, e1)`` of tensor ``t`` (flat) into the 1-D array ``out``, by the shard path."""
    if e0 == 0 and e1 == t.numel:
        t.fill(out.reshape(t.shape), seed, threads=threads)
        return
    at = 0
    for offset, block in flat_boxes(t.shape, e0, e1):
        n = math.prod(block)
        t.fill(out[at:at + n].reshape(block), seed, global_shape=t.shape, offset=offset, threads=threads)
        at += n


def _buffer(nbytes):
    """Page-aligned anonymous memory (O_DIRECT needs aligned buffers)."""
    return mmap.mmap(-1, max(nbytes, mmap.PAGESIZE))


class _Stream:
    """The data region of one file, written front to back: ``put`` fills the current chunk
    buffer, a full chunk goes to a writer thread (``os.pwrite``, ``O_DIRECT`` where the file
    system allows it) while the next one is filled.  ``done(end)`` is called on the writer
    thread once the bytes before data offset ``end`` are on disk (fdatasync'ed if ``sync``);
    a writer error is raised by the next ``put`` or by ``close``."""

    def __init__(self, path, fd, data_start, start, size, sync, done):
        self.fd, self.data_start, self.size, self.sync, self.done = fd, data_start, size, sync, done
        try:
            self.direct = os.open(path, os.O_WRONLY | getattr(os, "O_DIRECT", 0))
        except OSError:                # a file system without O_DIRECT (tmpfs): through the page cache
            self.direct = os.open(path, os.O_WRONLY)
        self.buffers = [_buffer(CHUNK), _buffer(CHUNK)]
        self.free = queue.Queue()
        for b in self.buffers:
            self.free.put(b)
        self.jobs = queue.Queue()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="fastinit-write", daemon=True)
        self.thread.start()
        self.begin = start             # data offset of the current buffer's first byte
        self.used = 0                  # bytes of the current buffer filled
        self.buf = self.free.get()

    def _write(self, buf, begin, n):
        offset, view = self.data_start + begin, memoryview(buf)[:n]
        head = n - n % ALIGN           # O_DIRECT writes whole blocks; the file's last bytes go plainly
        try:
            if head:
                self._pwrite(self.direct, view[:head], offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            os.close(self.direct)      # the file system refused O_DIRECT after all
            self.direct = os.open(os.path.join("/proc/self/fd", str(self.fd)), os.O_WRONLY)
            self._pwrite(self.direct, view[:head], offset)
        if n > head:
            self._pwrite(self.fd, view[head:n], offset + head)
        view.release()

    @staticmethod
    def _pwrite(fd, view, offset):
        while len(view):
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    def _run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            buf, begin, n = job
            try:
                if self.error is None:
                    self._write(buf, begin, n)
                    if self.sync:
                        os.fdatasync(self.fd)
                    self.done(begin + n)
            except BaseException as exc:  # noqa: BLE001 (raised on the caller's thread)
                self.error = exc
            finally:
                self.free.put(buf)

    def _check(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _submit(self):
        self.jobs.put((self.buf, self.begin, self.used))
        self.begin += self.used
        self.used = 0
        self.buf = self.free.get()
        self._check()

    def pieces(self, begin, end):
        """``(chunk memoryview, data offset)`` pieces covering ``[begin, end)``, which must start
        where the last one ended; a piece counts as filled when the caller asks for the next
        (or the generator ends), so bytes of an interrupted fill are never written."""
        assert begin == self.begin + self.used, "pieces must be requested in order"
        while begin < end:
            if self.used == CHUNK:
                self._submit()
            n = min(end - begin, CHUNK - self.used)
            yield memoryview(self.buf)[self.used:self.used + n], begin
            self.used += n
            begin += n

    def close(self, complete):
        """Write what is buffered (if ``complete``: an interrupted fill writes nothing more),
        wait for the writer; raise its error, if any."""
        try:
            if complete and self.used and self.error is None:
                self._submit()
        finally:
            self.jobs.put(None)
            self.thread.join()
            os.close(self.direct)
            for b in self.buffers:
                try:
                    b.close()
                except BufferError:    # a view is still held by an interrupted fill's traceback:
                    pass               # the memory goes with it
        self._check()


class _File:
    """One safetensors file being filled: ``<name>.partial`` plus ``<name>.progress.json``."""

    def __init__(self, directory, name, spec):
        self.spec, self.final = spec, os.path.join(directory, name)
        self.partial, self.progress = self.final + ".partial", self.final + ".progress.json"
        self.prefix, self.data_start, self.offsets, self.size = layout(spec)
        self.key = hashlib.sha256(self.prefix).hexdigest()
        self.done, self.fd, self.created = set(), None, False

    def _matches(self, fd):
        return os.fstat(fd).st_size == self.data_start + self.size and os.pread(fd, len(self.prefix), 0) == self.prefix

    def open(self, resume):
        """Reopen a matching ``.partial`` (``resume``), or create it and reserve its disk space."""
        if resume and not os.path.exists(self.partial) and os.path.exists(self.final):
            fd = os.open(self.final, os.O_RDONLY)      # renamed by a run stopped during the renames
            try:
                if self._matches(fd):
                    self.done = set(self.offsets)
                    return
            finally:
                os.close(fd)
        if resume and os.path.exists(self.partial) and os.path.exists(self.progress):
            with open(self.progress) as f:
                state = json.load(f)
            self.fd = os.open(self.partial, os.O_RDWR)
            if state.get("key") == self.key and self._matches(self.fd):
                self.done = set(state.get("done", ())) & set(self.offsets)
                return
            os.close(self.fd)                          # another spec or seed: start over
        self.fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.created = True
        os.pwrite(self.fd, self.prefix, 0)
        reserve(self.fd, self.data_start + self.size, self.partial)
        _write_json(self.progress, {"key": self.key, "done": []})

    def stream(self, sync):
        """A ``_Stream`` from the 4 KiB boundary before the first tensor not done (None: all done);
        it records tensors as done once their last byte is on disk."""
        order = sorted(self.spec.tensors, key=lambda t: self.offsets[t.name])
        first = next((t for t in order if t.name not in self.done), None)
        if first is None:
            return None
        start = self.offsets[first.name][0] // ALIGN * ALIGN
        ends = [(self.offsets[t.name][1], t.name) for t in order]
        lock = threading.Lock()

        def done(end):             # on the writer thread
            with lock:
                self.done.update(name for e, name in ends if e <= end)
                _write_json(self.progress, {"key": self.key, "done": sorted(self.done)})

        return _Stream(self.partial, self.fd, self.data_start, start, self.size, sync, done)

    def close(self, sync):
        if self.fd is not None:
            try:
                if sync:
                    os.fsync(self.fd)
            finally:
                os.close(self.fd)
                self.fd = None

    def discard(self, always=False):
        """Remove the files ``open`` created (or ``always``, both files): when reserving space
        failed, nothing is filled yet; when a tensor cannot be filled, no rerun can finish them."""
        self.close(False)
        if self.created or always:
            for path in (self.partial, self.progress):
                if os.path.exists(path):
                    os.remove(path)

    def finish(self):
        if os.path.exists(self.partial):
            os.replace(self.partial, self.final)
        if os.path.exists(self.progress):
            os.remove(self.progress)


def reserve(fd, size, path):
    """Allocate ``size`` bytes for ``fd`` now, with ``posix_fallocate``.

    A sparse file filled through a memory map has no way to report a full disk (or a file
    size limit): the page fault that needs a block gets SIGBUS and the process dies.
    Reserving every block before mapping turns that into an OSError here, before any work.
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        raise OSError(exc.errno, f"{path}: cannot reserve {size:,} bytes on disk ({os.strerror(exc.errno)}); "
                                 f"free disk space (or raise the file size limit) and rerun") from None


def _fill_tensor(stream, t, seed, first, begin, end, threads, test_hook):
    """Tensor ``t`` (data bytes ``[begin, end)``) into the stream from byte ``first``, piece by
    piece (``first > begin``: a resumed file whose stream starts inside ``t``)."""
    size = t.np_dtype.itemsize
    hooked = False
    for piece, at in stream.pieces(first, end):
        out = np.frombuffer(piece, dtype=t.np_dtype)
        if test_hook and not hooked:
            test_hook(t, out)
            hooked = True
        e0 = (at - begin) // size
        _fill_range(t, seed, e0, e0 + out.size, out, threads)
        del out
        piece.release()


def write(spec: ModelSpec, directory, *, threads=None, resume=False, on_tensor=None, test_hook=None,
          sync=True, max_shard_size=None):
    """Fill ``directory/model.safetensors`` -- or, with ``max_shard_size`` (bytes), the shards
    ``model-0000i-of-0000N.safetensors`` and ``model.safetensors.index.json`` (written last).
    ``on_tensor(t)`` is called after each tensor.

    Every file's space is reserved before any tensor is filled; the ``.partial`` files are
    renamed only when all are filled and fsync'ed.  Returns the names of the tensors filled
    by this call (fewer than all when resuming).
    """
    if spec.seed is None:
        raise SpecError("seed: not set; give it in the spec or with --seed")
    os.makedirs(directory, exist_ok=True)
    index = os.path.join(directory, INDEX)
    if max_shard_size is None:
        files = [_File(directory, FILENAME, spec)]
    else:
        files = [_File(directory, name, sub) for name, sub in shards(spec, max_shard_size)]
        if os.path.exists(index):          # an index marks a complete fill: not until this one is
            os.remove(index)
    try:
        for f in files:
            f.open(resume)
    except BaseException:
        for f in files:
            f.discard()
        raise
    filled = []
    try:
        for f in files:
            stream, complete = f.stream(sync), False
            try:
                start = stream.begin if stream is not None else f.size
                for t in sorted(f.spec.tensors, key=lambda t: f.offsets[t.name]):
                    begin, end = f.offsets[t.name]
                    if end > start:
                        if t.name not in f.done:
                            filled.append(t.name)
                        _fill_tensor(stream, t, f.spec.seed, max(begin, start), begin, end, threads, test_hook)
                    if on_tensor:
                        on_tensor(t)
                complete = True
            finally:
                if stream is not None:
                    stream.close(complete)
        for f in files:
            f.close(sync)
    except SpecError:                      # e.g. a scheme that cannot fill this shape: not resumable
        for f in files:
            f.discard(always=True)
        raise
    finally:
        for f in files:
            f.close(False)
    for f in files:
        f.finish()
    if max_shard_size is not None:
        _write_json(index, {"metadata": {"total_size": spec.nbytes},
                            "weight_map": dict(sorted((t.name, os.path.basename(f.final))
                                                      for f in files for t in f.spec.tensors))})
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


SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")


def _incomplete(directory):
    """The ``.partial`` safetensors files in ``directory`` (an interrupted or failed fill)."""
    return sorted(p for p in os.listdir(directory)
                  if p.endswith(".partial") and (p == FILENAME + ".partial" or SHARD.fullmatch(p[:-8])))


def is_safetensors_dir(directory):
    names = os.listdir(directory)
    return any(p in (FILENAME, INDEX) or SHARD.fullmatch(p.removesuffix(".partial")) for p in names) \
        or FILENAME + ".partial" in names


def _arrays(path, arrays):
    header, data_start = read_header(path)
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if name in arrays:
            raise ValueError(f"{path}: tensor {name!r} is also in another shard")
        dtype = NUMPY_DTYPES[DTYPE_OF_CODE[entry["dtype"]]]
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if end - begin == 0:
            arrays[name] = np.empty(shape, dtype)
        else:
            arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=data_start + begin, shape=shape)
    return header


def open_tensors(directory):
    """``{name: read-only array}`` of a complete ``directory/model.safetensors``, or of the
    shards listed by a complete ``directory/model.safetensors.index.json``.

    ValueError for a ``.partial`` file (interrupted or failed fill), a missing shard, an index
    whose ``weight_map`` or ``total_size`` disagrees with the shards' headers, or both layouts."""
    final, index = os.path.join(directory, FILENAME), os.path.join(directory, INDEX)
    partial = _incomplete(directory)
    if partial:
        raise ValueError(f"{os.path.join(directory, partial[0])}: incomplete (.partial present: the fill was "
                         f"interrupted or failed; rerun 'fastinit fill ... --resume')")
    if os.path.exists(final) and os.path.exists(index):
        raise ValueError(f"{directory}: holds both {FILENAME} and {INDEX}: which one is the model is ambiguous")
    if os.path.exists(final):
        arrays = {}
        _arrays(final, arrays)
        return arrays
    if not os.path.exists(index):
        shard = next((p for p in sorted(os.listdir(directory)) if SHARD.fullmatch(p)), None)
        if shard:
            raise ValueError(f"{index}: no such file, but shard {shard} is present: incomplete sharded fill")
        raise ValueError(f"{final}: no such file")
    try:
        with open(index) as f:
            data = json.load(f)
        weight_map, total = data["weight_map"], data["metadata"]["total_size"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{index}: corrupt index ({type(exc).__name__}: {exc})") from None
    arrays = {}
    for shard in sorted(set(weight_map.values())):
        path = os.path.join(directory, shard)
        if not os.path.exists(path):
            raise ValueError(f"{path}: no such file (listed in {INDEX})")
        for name in _arrays(path, arrays):
            if name != "__metadata__" and weight_map.get(name) != shard:
                raise ValueError(f"{INDEX}: tensor {name!r} is in {shard} but the weight_map says "
                                 f"{weight_map.get(name)!r}")
    missing = sorted(set(weight_map) - set(arrays))
    if missing:
        raise ValueError(f"{INDEX}: tensor {missing[0]!r} is in the weight_map but not in {weight_map[missing[0]]}")
    nbytes = sum(a.nbytes for a in arrays.values())
    if total != nbytes:
        raise ValueError(f"{INDEX}: metadata.total_size is {total}, but the shards hold {nbytes} bytes of tensors")
    return arrays
