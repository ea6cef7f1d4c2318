"""Fill safetensors files in place: header first, then each tensor where it lives.

Each file is created as ``<name>.partial`` under an exclusive lock on the output directory
(``..lock``), its header written with a fresh fill identifier, its final size reserved with
``posix_fallocate`` (a full disk is an OSError up front, never a SIGBUS or a short write
later) and its data region written front to back (``stream.Stream``); after each chunk is
on disk, the tensors that ended in it are added to ``<name>.progress.json`` with their
xxh3-64 digests (``resume``).  At the end the digests are written into the header, the file
fsync'ed, renamed to ``<name>`` and the record removed: a ``model.safetensors`` is complete
by construction.  ``resume=True`` continues a ``.partial`` whose header and record belong
to the same attempt of the same spec, from the 4 KiB boundary before the first tensor not
recorded (the bytes rewritten are the same bytes); a ``.partial`` of another spec is refused
(``ResumeMismatch``), an existing model or ``.partial`` is never replaced unless
``overwrite=True`` (``OutputExists``).

Sharded (``max_shard_size``): Hugging Face's ``model-0000i-of-0000N.safetensors``, each laid
out and completed like the single file (``sharding.shards``), renamed together at the end,
then ``model.safetensors.index.json`` written last, with every tensor's digest.

Many processes (``only``): the shard layout is a pure function of the spec and
``max_shard_size``, so each process computes the same plan and fills only the files it is
given, each under its own lock (``.fastinit.<file>.lock``; a whole fill holds every file's
lock too), resumable and checkable file by file.  The index needs every shard's digests,
which a process that did not fill a shard does not know -- but every complete shard carries
them in its own header.  So the index is assembled from the shards' headers (``finalize``):
each process tries it after its files are complete (the last to finish writes it), and any
process can run it later; it checks every shard's header against the spec first, and its
bytes are those of the one-process fill.
"""

import os
import time

import numpy as np

from ..errors import CorruptFile, Incomplete, Locked, OutputExists, ResumeMismatch
from ..lock import DirectoryLock, file_lock_name
from ..output import describe, differences, make_directory, remove_directories, reserve, write_json
from ..spec import ModelSpec, SpecError
from . import resume as record
from .format import ALIGN, DIGEST_KEY, FILENAME, INDEX, SHARD, describe_header, layout, parse_digests, xxh3_64
from .geometry import fill_range
from .reader import read_header
from .integrity import check_header
from .sharding import shards
from .stream import Stream

STEPS = ("progress-removed", "partial-created", "header-written", "reserved", "recorded", "header-final",
         "renamed", "record-removed", "index-written")


def _no_step(step, path):
    pass


class _File:
    """One safetensors file being filled: ``<name>.partial`` plus ``<name>.progress.json``."""

    def __init__(self, directory, name, spec, on_step):
        self.spec, self.final, self.step = spec, os.path.join(directory, name), on_step
        self.partial, self.progress = self.final + ".partial", self.final + ".progress.json"
        self.layout = layout(spec)
        self.offsets, self.data_start, self.size = self.layout.offsets, self.layout.data_start, self.layout.size
        self.done = {}              # name -> digest of the tensors on disk
        self.fd, self.created, self.fill_id = None, False, None

    def _header(self, path):
        """The header of ``path`` if it is a valid safetensors file, else None."""
        try:
            return read_header(path)[0]
        except (CorruptFile, OSError):
            return None

    def _sized(self, path):
        return os.path.getsize(path) == self.data_start + self.size

    def _refuse_other_spec(self, path, header):
        found, wanted = describe_header(header), describe(self.spec)
        if found != wanted:
            raise ResumeMismatch(path, differences(found, wanted))

    def _prefix(self, path):
        with open(path, "rb") as f:
            return f.read(self.data_start)

    def open(self, resume):
        """Reopen the ``.partial`` of an interrupted attempt at this spec (``resume``), or
        create it, write its header and reserve its disk space."""
        if resume and not os.path.exists(self.partial) and os.path.exists(self.final):
            header = self._header(self.final)       # renamed by a run stopped during the renames
            if header is None:
                raise ResumeMismatch(self.final, ["it is not a valid safetensors file"])
            self._refuse_other_spec(self.final, header)
            digests = record.digests_of(header)
            if digests is None or not self._sized(self.final) or \
                    self._prefix(self.final) != layout(self.spec, digests=digests).prefix:
                raise ResumeMismatch(self.final, ["its header differs from the one this spec produces "
                                                  "(another fastinit version or other metadata)"])
            self.done = digests
            return
        if resume and os.path.exists(self.partial):
            header = self._header(self.partial)
            if header is not None:                  # a header that says nothing is not worth keeping
                self._refuse_other_spec(self.partial, header)
            if header is not None and self._sized(self.partial):
                state = record.read_record(self.progress)
                fill_id, prefix = record.fill_id_of(header), self._prefix(self.partial)
                if state is not None and state["spec"] == describe(self.spec):
                    done = {k: v for k, v in state["done"].items() if k in self.offsets}
                    if fill_id is not None and fill_id == state["fill"] and \
                            prefix == layout(self.spec, fill_id=fill_id).prefix:
                        self.fill_id, self.done = fill_id, done
                        self.fd = os.open(self.partial, os.O_RDWR)
                        return
                    if len(done) == len(self.offsets) and prefix == layout(self.spec, digests=done).prefix:
                        self.done = done            # complete; stopped before the rename
                        self.fd = os.open(self.partial, os.O_RDWR)
                        return
                elif fill_id is not None and prefix != layout(self.spec, fill_id=fill_id).prefix:
                    raise ResumeMismatch(self.partial, ["its header differs from the one this spec produces "
                                                        "(another fastinit version or other metadata)"])
                # the same spec, but no record of this attempt: nothing in it can be trusted
        self._create()

    def _create(self):
        if os.path.exists(self.progress):           # invalidate the old record before the data it describes
            os.remove(self.progress)
        self.step("progress-removed", self.progress)
        self.fd = os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.created = True
        self.step("partial-created", self.partial)
        self.fill_id, self.done = record.new_fill_id(), {}
        os.pwrite(self.fd, layout(self.spec, fill_id=self.fill_id).prefix, 0)
        self.step("header-written", self.partial)
        reserve(self.fd, self.data_start + self.size, self.partial)
        self.step("reserved", self.partial)
        record.write_record(self.progress, self.fill_id, self.spec, self.done)
        self.step("recorded", self.progress)

    def stream(self, sync):
        """A ``Stream`` from the 4 KiB boundary before the first tensor not done (None: all done);
        it hashes the tensors it writes and records them, digests included, once their last
        byte is on disk."""
        spans = sorted((b, e, name) for name, (b, e) in self.offsets.items() if name not in self.done)
        if not spans:
            return None
        start = spans[0][0] // ALIGN * ALIGN
        hashers = {name: xxh3_64() for _, _, name in spans}
        self.hashers = hashers

        def before_write(view, begin):             # on the writer thread, in data order
            end = begin + len(view)
            for b, e, name in spans:
                if b < end and e > begin:
                    hashers[name].update(view[max(b, begin) - begin:min(e, end) - begin])

        def done(end):                              # on the writer thread
            new = [name for b, e, name in spans if e <= end and name not in self.done]
            for name in new:
                self.done[name] = hashers[name].hexdigest()
            if new:
                record.write_record(self.progress, self.fill_id, self.spec, self.done)
                self.step("recorded", self.progress)

        return Stream(self.partial, self.fd, self.data_start, start, self.size, sync, done, before_write)

    def complete(self, sync):
        """Every byte is written: the digests into the header, then fsync."""
        for name, hasher in getattr(self, "hashers", {}).items():
            self.done.setdefault(name, hasher.hexdigest())   # zero-size tensors end in no chunk
        os.pwrite(self.fd, layout(self.spec, digests=self.done).prefix, 0)
        self.step("header-final", self.partial)
        self.close(sync)

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
            self.step("renamed", self.final)
        if os.path.exists(self.progress):
            os.remove(self.progress)
            self.step("record-removed", self.progress)


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
        fill_range(t, seed, e0, e0 + out.size, out, threads)
        del out
        piece.release()


def _ours(name):
    """Whether ``name`` is a file this writer makes (complete or not)."""
    base = name.removesuffix(".progress.json").removesuffix(".partial")
    return name == INDEX or base == FILENAME or bool(SHARD.fullmatch(base))


def _check_output(directory, files, resume, overwrite, plan=None):
    """Refuse to replace a model or an interrupted fill unless ``overwrite`` (then remove them);
    with ``resume``, refuse files of a fill laid out in other files.  ``plan`` (all the shard
    names, when ``files`` are some of them): the other planned shards belong to other
    processes and are left alone; files of another layout are still refused."""
    found = sorted(n for n in os.listdir(directory) if _ours(n))
    if plan is not None:
        mine = {os.path.basename(f.final) for f in files}
        found = [n for n in found if n != INDEX and
                 n.removesuffix(".progress.json").removesuffix(".partial") not in set(plan) - mine]
    if overwrite:
        for name in found:
            try:
                os.remove(os.path.join(directory, name))
            except FileNotFoundError:       # another process of the same fill removed it
                pass
        return
    if not found:
        return
    complete = [n for n in found if not n.endswith((".partial", ".progress.json"))]
    if not resume:
        first = os.path.join(directory, complete[0] if complete else found[0])
        raise OutputExists(first, "already exists (a complete model); choose another output directory or "
                                  "allow overwriting it" if complete else
                                  "an interrupted fill is here; resume it or allow overwriting it")
    planned = {os.path.basename(f.final) for f in files}
    other = [n for n in found if n != INDEX and n.removesuffix(".progress.json").removesuffix(".partial")
             not in planned]
    if other:
        raise ResumeMismatch(os.path.join(directory, other[0]),
                             [f"the interrupted fill wrote {other[0]}, this one writes "
                              f"{', '.join(sorted(planned)[:2])}{'...' if len(planned) > 2 else ''} "
                              f"(another shard size)"])


def _plan(spec, max_shard_size, only):
    """``[(file name, sub-spec)]`` this call fills and the names of every file of the fill
    (None unless ``only``)."""
    if max_shard_size is None:
        if only is not None:
            raise SpecError("only: filling some files of a model needs max_shard_size (a sharded model)")
        return [(FILENAME, spec)], None
    planned = shards(spec, max_shard_size)
    if only is None:
        return planned, None
    if isinstance(only, (str, bytes)) or not hasattr(only, "__iter__"):
        raise SpecError(f"only: expected a list of shard file names; got {only!r}")
    wanted = list(dict.fromkeys(os.path.basename(os.fspath(n)) for n in only))
    names = [name for name, _ in planned]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise SpecError(f"only: {unknown[0]!r} is not a file of this model at this max_shard_size; its files are "
                        f"{names[0]} ... {names[-1]}")
    return [(name, sub) for name, sub in planned if name in wanted], names


def write(spec: ModelSpec, directory, *, threads=None, resume=False, overwrite=False, on_tensor=None,
          test_hook=None, on_step=None, sync=True, max_shard_size=None, only=None):
    """Fill ``directory/model.safetensors`` -- or, with ``max_shard_size`` (bytes), the shards
    ``model-0000i-of-0000N.safetensors`` and ``model.safetensors.index.json`` (written last).

    ``only`` (shard file names, with ``max_shard_size``): fill just those files of the sharded
    model, for one of many processes (``sharding.assign``); the index is written when this
    call finds every shard complete (``finalize``).  ``on_tensor(t)`` is called after each
    tensor; ``on_step(step, path)`` at each step of the
    file protocol (``STEPS``: tests stop the writer there).  Every file's space is reserved
    before any tensor is filled; the ``.partial`` files are renamed only when all are filled
    and fsync'ed.  Returns the names of the tensors filled by this call (fewer than all when
    resuming).  Raises ``Locked`` if another process is filling ``directory`` (or one of the
    files), ``OutputExists`` or ``ResumeMismatch`` (see the module's docstring) before writing anything.
    """
    if spec.seed is None:
        raise SpecError("seed: not set; set it in the spec or with ModelSpec.with_options(seed=...)")
    xxh3_64()  # the digests' library, before any file is touched
    planned, plan = _plan(spec, max_shard_size, only)
    if plan is not None and not planned:           # more processes than files: nothing is this one's
        return []
    step = on_step or _no_step
    directory = os.fspath(directory)
    created = make_directory(directory)
    locks = []
    try:
        if plan is None:
            locks.append(DirectoryLock(directory).acquire())
        if max_shard_size is not None:
            for name, _ in planned:
                locks.append(DirectoryLock(directory, file_lock_name(name)).acquire())
    except BaseException:
        for lock in reversed(locks):
            lock.release()
        remove_directories(created)
        raise
    try:
        filled = _write_locked(spec, directory, planned, plan, threads, resume, overwrite, on_tensor, test_hook,
                               step, sync, max_shard_size)
    finally:
        for lock in reversed(locks):
            lock.release()
        remove_directories(created)                # only if the fill left nothing in them
    if plan is not None:
        try:                                       # waits for a concurrent finisher: one of us sees all files
            finalize(spec, directory, max_shard_size, on_step=on_step)
        except (Incomplete, CorruptFile):          # other shards missing (or bad: finalize says which)
            pass
    return filled


def _write_index(spec, directory, files, step):
    """The index, from each file's digests: the same bytes whichever process writes it."""
    index = os.path.join(directory, INDEX)
    write_json(index, {"metadata": {"total_size": spec.nbytes,
                                    "fastinit.xxh3_64": dict(sorted((n, d) for _, sub, digests in files
                                                                    for n, d in digests.items()))},
                       "weight_map": dict(sorted((t.name, name) for name, sub, _ in files for t in sub.tensors))},
               what="the index", unique=True)
    step("index-written", index)


def finalize(spec: ModelSpec, directory, max_shard_size, *, on_step=None, wait=True):
    """Write ``model.safetensors.index.json`` of a sharded model whose shards were filled by
    other processes (``write(..., only=...)``), from the digests in each shard's header.

    Every shard of the plan must be complete (else ``Incomplete`` naming the first missing or
    unfinished one) and its header exactly the one this spec writes (else ``CorruptFile``).
    The index is byte for byte the one-process fill's; finalizing twice, or from two
    processes at once, writes the same bytes.  ``wait``: wait for another process
    finalizing now (else ``Locked``)."""
    if spec.seed is None:
        raise SpecError("seed: not set; set it in the spec or with ModelSpec.with_options(seed=...)")
    planned = shards(spec, max_shard_size)
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise Incomplete(os.path.join(directory, planned[0][0]), "no such file: fill the shards first")
    lock, tries = DirectoryLock(directory, file_lock_name(INDEX)), 0
    while True:
        try:
            lock.acquire()
            break
        except Locked:
            tries += 1
            if not wait or tries > 3000:         # ~60 s: finalizing reads headers only
                raise
            time.sleep(0.02)
    try:
        files = []
        for name, sub in planned:
            path = os.path.join(directory, name)
            if not os.path.exists(path):
                busy = os.path.exists(path + ".partial")
                raise Incomplete(path, "not complete yet: its fill is running or was interrupted; resume it"
                                       if busy else "no such file: its process has not filled it yet")
            header, data_start = read_header(path)
            problems = check_header(path, header, data_start, sub)
            names = sorted(n for n in header if n != "__metadata__")
            if not problems and names != sorted(t.name for t in sub.tensors):
                problems = [f"{path}: holds other tensors than this spec puts in it (another spec or shard size)"]
            digests = parse_digests((header.get("__metadata__") or {}).get(DIGEST_KEY))
            if not problems and digests is None:
                problems = [f"{path}: no tensor digests: not written by this fastinit"]
            if problems:
                raise CorruptFile(path, problems[0].removeprefix(f"{path}: "))
            files.append((name, sub, digests))
        _write_index(spec, directory, files, on_step or _no_step)
    finally:
        lock.release()


def _write_locked(spec, directory, planned, plan, threads, resume, overwrite, on_tensor, test_hook, step, sync,
                  max_shard_size):
    index = os.path.join(directory, INDEX)
    files = [_File(directory, name, sub, step) for name, sub in planned]
    _check_output(directory, files, resume, overwrite, plan)
    untouched = resume and all(os.path.exists(f.final) and not os.path.exists(f.partial) for f in files)
    if os.path.exists(index) and not untouched:    # an index marks a complete fill: not until this one is
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
                    if t.name not in f.done:
                        filled.append(t.name)
                    if end > start:
                        _fill_tensor(stream, t, f.spec.seed, max(begin, start), begin, end, threads, test_hook)
                    if on_tensor:
                        on_tensor(t)
                complete = True
            finally:
                if stream is not None:
                    stream.close(complete)
            if f.fd is not None:
                f.complete(sync)
    except SpecError:                              # e.g. a scheme that cannot fill this shape: not resumable
        for f in files:
            f.discard(always=True)
        raise
    finally:
        for f in files:
            f.close(False)
    for f in files:
        f.finish()
    if max_shard_size is not None and plan is None:
        _write_index(spec, directory, [(os.path.basename(f.final), f.spec, f.done) for f in files], step)
    return filled
