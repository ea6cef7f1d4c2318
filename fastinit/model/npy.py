"""Write a directory of ``.npy`` files, one per tensor, each filled in place.

``DIR/<name>.npy`` is created with ``numpy.lib.format.open_memmap`` as ``<name>.npy.partial``,
filled where it lives and renamed when complete.  bfloat16 has no NumPy type code, so a
bfloat16 tensor is stored as its raw bits, ``'<u2'``, and ``DIR/index.json`` records the real
dtype (``"dtype": "bfloat16", "stored_as": "<u2"``); read it back with
``np.load(path).view(ml_dtypes.bfloat16)``.  ``index.json`` (seed, and per tensor: file,
shape, dtype, stored_as, scheme) is written last and marks the directory complete; while
filling, ``fastinit-progress.json`` lists the tensors done so ``resume=True`` refills only
the rest (and refuses, with ``ResumeMismatch``, an interrupted fill of another spec).  As for
safetensors, the directory is locked while a fill runs and a complete or interrupted fill is
replaced only with ``overwrite=True``, and so are ``<name>.npy`` files that no fill recorded here
wrote.  Tensor names become file names, so they may not contain ``/`` or ``\\``, start with a
dot, or make a file name (``<name>.npy.partial``) longer than ``NAME_MAX`` bytes.
"""

import json
import os
import sys

import numpy as np
from numpy.lib.format import open_memmap

from .._version import STREAM_LAYOUT, __version__
from .errors import ForeignFiles, Incomplete, OutputExists, ResumeMismatch
from .lock import DirectoryLock
from .output import describe, differences, make_directory, remove_directories, reserve, write_json
from .spec import NUMPY_DTYPES, ModelSpec, SpecError

INDEX = "index.json"
PROGRESS = "fastinit-progress.json"


def stored_dtype(dtype):
    """The dtype a tensor of canonical ``dtype`` is stored as in its .npy file."""
    return np.dtype("<u2") if dtype == "bfloat16" else NUMPY_DTYPES[dtype].newbyteorder("<")


NAME_MAX = 255                # bytes in a file name: ext4, xfs, btrfs and tmpfs alike
PARTIAL = ".partial"          # the longest name a tensor's file has is <name>.npy.partial


def _filename(name):
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise SpecError(f"tensor {name!r}: field 'name': cannot be a .npy file name "
                        f"(no '/', '\\' or leading '.'); write it in the safetensors format")
    try:
        longest = len(os.fsencode(name + ".npy" + PARTIAL))
    except UnicodeEncodeError:              # a lone surrogate: no file system name spells it
        raise SpecError(f"tensor {name!r}: field 'name': cannot be a .npy file name (not encodable as "
                        f"{sys.getfilesystemencoding()}); write it in the safetensors format") from None
    if longest > NAME_MAX:
        raise SpecError(f"tensor {name!r}: field 'name': too long for a .npy file name ({longest} bytes with "
                        f"'.npy{PARTIAL}', at most {NAME_MAX}); write it in the safetensors format")
    return name + ".npy"


def _read_json(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def _start(spec, directory, files, resume, overwrite):
    """The tensors already done: refuse to replace a complete or interrupted fill unless
    ``overwrite``; with ``resume``, refuse an interrupted fill of another spec."""
    index, progress = os.path.join(directory, INDEX), os.path.join(directory, PROGRESS)
    wanted = describe(spec)
    ours = model_file(directory) is not None
    if not (ours or overwrite):             # no fill of ours is here: the tensors' files are someone else's
        taken = [os.path.join(directory, n) for name in files.values() for n in (name, name + PARTIAL)
                 if os.path.lexists(os.path.join(directory, n))]
        if taken:
            more = f" (and {len(taken) - 1} more of this spec's files)" if len(taken) > 1 else ""
            raise ForeignFiles(taken[0], f"already exists{more}, and no fill recorded here wrote it; "
                                         f"choose another output directory or allow overwriting it")
    if overwrite or not ours:
        return set()
    if not resume:
        if os.path.exists(index):
            raise OutputExists(index, "already exists (a complete model); choose another output directory or "
                                      "allow overwriting it")
        raise OutputExists(progress, "an interrupted fill is here; resume it or allow overwriting it")
    state = _read_json(progress) if os.path.exists(progress) else None
    if state is None:                       # complete: its index says what it holds
        entries = (_read_json(index) or {})
        found = {"seed": entries.get("seed"),
                 "tensors": {n: [e.get("dtype"), e.get("shape"), e.get("scheme")]
                             for n, e in (entries.get("tensors") or {}).items() if isinstance(e, dict)}}
        if found != wanted:
            raise ResumeMismatch(index, differences(found, wanted))
        return set(files)
    if not isinstance(state, dict) or state.get("spec") != wanted:
        raise ResumeMismatch(progress, differences(state.get("spec", {}) if isinstance(state, dict) else {}, wanted))
    return set(state.get("done", ())) & set(files)


def model_file(directory):
    """The path of this writer's ``index.json`` or progress record in ``directory`` (a model or
    an interrupted fill of this format), else None; an ``index.json`` of another tool is not one."""
    index, progress = os.path.join(directory, INDEX), os.path.join(directory, PROGRESS)
    if os.path.exists(progress):
        return progress
    entries = _read_json(index) if os.path.isfile(index) else None
    return index if isinstance(entries, dict) and entries.get("format") == "fastinit-npy" else None


def write(spec: ModelSpec, directory, *, threads=None, resume=False, overwrite=False, on_tensor=None,
          test_hook=None):
    """Fill ``directory/<name>.npy`` for every tensor and write ``index.json`` last."""
    if spec.seed is None:
        raise SpecError("seed: not set; set it in the spec or with ModelSpec.with_options(seed=...)")
    files = {t.name: _filename(t.name) for t in spec.tensors}
    directory = os.fspath(directory)
    created = make_directory(directory)
    try:
        with DirectoryLock(directory):
            return _write_locked(spec, directory, files, threads, resume, overwrite, on_tensor, test_hook)
    finally:
        remove_directories(created)         # only if nothing was left in them


def _write_locked(spec, directory, files, threads, resume, overwrite, on_tensor, test_hook):
    index, progress = os.path.join(directory, INDEX), os.path.join(directory, PROGRESS)
    done = _start(spec, directory, files, resume, overwrite)
    wanted = describe(spec)
    write_json(progress, {"spec": wanted, "done": sorted(done)})   # first: a crash leaves a record of ours
    if os.path.exists(index):
        os.remove(index)                    # the directory is incomplete from here on
    filled = []
    try:
        _fill_all(spec, directory, files, threads, on_tensor, test_hook, progress, wanted, done, filled)
    except SpecError:                       # a scheme that cannot fill its tensor: no rerun can finish
        for name in filled:                 # this fill, so what this call wrote goes
            os.remove(os.path.join(directory, files[name]))
        for path in [progress] + [os.path.join(directory, files[t.name]) + PARTIAL for t in spec.tensors]:
            if os.path.exists(path):
                os.remove(path)
        raise
    write_json(index, {"format": "fastinit-npy", "fastinit.version": __version__,
                       "fastinit.stream_layout": STREAM_LAYOUT, "seed": spec.seed,
                       "tensors": {t.name: {"file": files[t.name], "shape": list(t.shape), "dtype": t.dtype,
                                            "stored_as": stored_dtype(t.dtype).str, "scheme": t.scheme}
                                   for t in spec.tensors}}, what="the index")
    os.remove(progress)
    return filled


def _fill_all(spec, directory, files, threads, on_tensor, test_hook, progress, wanted, done, filled):
    for t in spec.tensors:
        path = os.path.join(directory, files[t.name])
        if t.name in done and os.path.exists(path):
            if on_tensor:
                on_tensor(t)
            continue
        partial = path + PARTIAL
        try:
            stored = open_memmap(partial, mode="w+", dtype=stored_dtype(t.dtype), shape=t.shape)
        except OSError as exc:              # open_memmap extends the file by writing its last byte
            raise OSError(exc.errno, f"{partial}: cannot create a {t.nbytes:,}-byte file ({exc.strerror})") from None
        fd = os.open(partial, os.O_RDWR)     # reserve the blocks before the first page fault (SIGBUS
        try:                                # on a full disk): see safetensors.reserve
            reserve(fd, os.fstat(fd).st_size, partial)
        finally:
            os.close(fd)
        view = stored.view(NUMPY_DTYPES[t.dtype]) if t.dtype == "bfloat16" else stored
        if test_hook:
            test_hook(t, view)
        if t.numel:
            t.fill(view, spec.seed, threads=threads)
        stored.flush()
        del view, stored
        os.replace(partial, path)
        done.add(t.name)
        filled.append(t.name)
        write_json(progress, {"spec": wanted, "done": sorted(done)})
        if on_tensor:
            on_tensor(t)


def open_tensors(directory):
    """``{name: read-only array}`` (bfloat16 viewed back from its bits) of a complete directory."""
    index = os.path.join(directory, INDEX)
    if not os.path.exists(index):
        if os.path.exists(os.path.join(directory, PROGRESS)):
            raise Incomplete(directory, f"incomplete ({PROGRESS} present, no {INDEX}): the fill was "
                                        f"interrupted; resume the fill to finish it")
        raise ValueError(f"{directory}: no {INDEX}")
    with open(index) as f:
        entries = json.load(f)["tensors"]
    arrays = {}
    for name, entry in entries.items():
        path = os.path.join(directory, entry["file"])
        if not os.path.exists(path):
            raise ValueError(f"tensor {name!r}: {path} is missing")
        a = np.load(path, mmap_mode="r") if np.prod(entry["shape"]) else np.load(path)
        if a.dtype != np.dtype(entry["stored_as"]) or list(a.shape) != entry["shape"]:
            raise ValueError(f"tensor {name!r}: {path} holds {a.dtype}{list(a.shape)}, the index says "
                             f"{entry['stored_as']}{entry['shape']}")
        arrays[name] = a.view(NUMPY_DTYPES[entry["dtype"]]) if entry["dtype"] == "bfloat16" else a
    return arrays
