"""Fill a model file from a spec, and verify a file against the contract.

``fill`` dispatches to the safetensors or .npy writer with a tqdm progress bar (bytes,
throughput, ETA) on a TTY.  ``verify`` checks a safetensors file's header against the spec
and every tensor's bytes against the digest recorded for it (at disk speed), then recomputes
elements of every tensor from (seed, name, index, scheme, dtype) alone -- row blocks at
fresh random offsets on every call, filled with ``global_shape``/``offset`` (or every
element with ``full=True``) -- and compares bits.
"""

import os
import sys

import numpy as np

from .._extras import require
from . import npy, safetensors
from .errors import OtherFormat
from .spec import ModelSpec, SpecError

FORMATS = {"safetensors": safetensors, "npy": npy}
_MODEL = {"safetensors": "a safetensors model", "npy": "an .npy model"}
SAMPLE_ELEMENTS = 4096        # elements per verified shard (rounded to whole rows)
FULL_ELEMENTS = 1 << 22       # elements per chunk when verifying every element


def shard_files(spec: ModelSpec, max_shard_size, shard_index=None, num_shards=None):
    """The file names of ``spec`` sharded at ``max_shard_size`` (bytes or ``"5GB"``): all of
    them, or those process ``shard_index`` of ``num_shards`` fills (file ``j`` goes to process
    ``j % num_shards``).  A pure function of the spec and the size: every process computes the
    same plan."""
    names = [name for name, _ in safetensors.shards(spec, safetensors.parse_size(max_shard_size))]
    if shard_index is None and num_shards is None:
        return names
    if shard_index is None or num_shards is None:
        raise SpecError("shard_index, num_shards: give both or neither")
    return safetensors.assign(names, shard_index, num_shards)


def finalize(spec: ModelSpec, directory, max_shard_size):
    """Write ``model.safetensors.index.json`` of a model whose shards were filled by several
    processes (``fill(..., only=...)``), from the digests in the shards' headers; the bytes of
    the one-process fill's index.  ``Incomplete`` if a shard is missing or unfinished."""
    safetensors.finalize(spec, directory, safetensors.parse_size(max_shard_size))


def fill(spec: ModelSpec, directory, *, fmt="safetensors", threads=None, resume=False, overwrite=False,
         quiet=False, test_hook=None, on_step=None, max_shard_size=None, only=None):
    """Write ``spec`` into ``directory`` in format ``fmt``; returns the names filled by this call.

    ``resume``: continue an interrupted fill of the same spec (``ResumeMismatch`` if it was of
    another).  An existing model or interrupted fill is replaced only with ``overwrite``
    (else ``OutputExists``); a second process filling the same directory gets ``Locked``.
    ``max_shard_size`` (bytes, or a string like ``"5GB"``): safetensors shards and an index.
    ``only`` (file names, see ``shard_files``): fill just those shards, as one of several
    processes; the index is written by whichever finds all shards complete (``finalize``)."""
    if fmt not in FORMATS:
        raise SpecError(f"format: unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    extra = {}
    if on_step is not None:
        extra["on_step"] = on_step
    if max_shard_size is not None:
        if fmt != "safetensors":
            raise SpecError(f"max_shard_size: only for the safetensors format, not {fmt!r}")
        extra["max_shard_size"] = safetensors.parse_size(max_shard_size)
    if only is not None:
        if max_shard_size is None:
            raise SpecError("only: filling some files of a model needs max_shard_size (a sharded model)")
        extra["only"] = only
    for name, path in _models(directory).items():
        if name != fmt:
            raise OtherFormat(path, f"{_MODEL[name]} (or an interrupted fill of one) is here; this fill writes "
                                    f"{fmt} files, and a fill never removes another format's files")
    total = spec.nbytes
    if only is not None:
        total = sum(sub.nbytes for name, sub in safetensors.shards(spec, extra["max_shard_size"])
                    if name in {os.path.basename(os.fspath(n)) for n in only})
    bar = tqdm = None
    if not quiet and sys.stderr.isatty():
        try:
            tqdm = require("tqdm", "files", "the progress bar").tqdm
        except ModuleNotFoundError as exc:  # a fill without a bar beats no fill
            print(f"fastinit: {exc}; filling without it", file=sys.stderr)
    if tqdm is not None:
        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="fill",
                   file=sys.stderr, smoothing=0.1)
    try:
        return FORMATS[fmt].write(spec, directory, threads=threads, resume=resume, overwrite=overwrite,
                                  on_tensor=(lambda t: bar.update(t.nbytes)) if bar else None,
                                  test_hook=test_hook, **extra)
    finally:
        if bar:
            bar.close()


def _models(directory):
    """``{format: one of its files}`` for each format whose model (or interrupted fill) is in ``directory``."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return {}
    found = {}
    names = safetensors.model_files(directory)
    if names:
        found["safetensors"] = os.path.join(directory, names[0])
    path = npy.model_file(directory)
    if path:
        found["npy"] = path
    return found


def detect_format(directory):
    """``"safetensors"`` or ``"npy"`` for a (possibly incomplete) output directory; a ValueError
    if it holds both (a fill refuses to make such a directory: one of them is stale)."""
    if not os.path.isdir(directory):
        raise ValueError(f"{directory}: no such directory: nothing to verify")
    found = _models(directory)
    if len(found) > 1:
        raise ValueError(f"{directory}: holds both a safetensors model ({os.path.basename(found['safetensors'])}) "
                         f"and an .npy one ({os.path.basename(found['npy'])}): cannot tell which to check; "
                         f"remove the stale one")
    if found:
        return next(iter(found))
    if npy.INDEX in os.listdir(directory):   # an index.json that is not (or no longer) an npy fill's: verify says why
        return "npy"
    raise ValueError(f"{directory}: no {safetensors.FILENAME}, {safetensors.INDEX} or {npy.INDEX}: "
                     f"nothing to verify")


def _blocks(shape, rows_per_block, rng, samples):
    """Row offsets along axis 0: all blocks (samples=None) or first, last and random ones."""
    rows = shape[0]
    if samples is None:
        return range(0, rows, rows_per_block)
    last = max(rows - rows_per_block, 0)
    picks = {0, last} | {int(x) for x in rng.integers(0, last + 1, size=samples)}
    return sorted(picks)


def check_tensor(t, stored, seed, *, samples=8, rng=None, threads=None):
    """None if ``stored`` matches tensor ``t`` where checked, else a message naming it."""
    if stored.dtype != t.np_dtype or tuple(stored.shape) != t.shape:
        return f"tensor {t.name!r}: file holds {stored.dtype}{list(stored.shape)}, spec says {t.dtype}{list(t.shape)}"
    if t.numel == 0:
        return None
    if not t.shape:                           # a scalar: fill it whole
        expected = t.fill(np.empty((), t.np_dtype), seed, threads=threads)
        same = expected.tobytes() == np.asarray(stored).tobytes()
        return None if same else f"tensor {t.name!r}: value differs"
    row = int(np.prod(t.shape[1:]))
    per_block = max(1, (FULL_ELEMENTS if samples is None else SAMPLE_ELEMENTS) // max(row, 1))
    per_block = min(per_block, t.shape[0])
    for start in _blocks(t.shape, per_block, rng, samples):
        stop = min(start + per_block, t.shape[0])
        buf = np.empty((stop - start,) + t.shape[1:], t.np_dtype)
        t.fill(buf, seed, global_shape=t.shape, offset=(start,) + (0,) * (len(t.shape) - 1), threads=threads)
        got = np.asarray(stored[start:stop]).view(np.uint8).reshape(-1)
        want = buf.view(np.uint8).reshape(-1)
        if not np.array_equal(got, want):
            first = int(np.flatnonzero(got != want)[0]) // t.np_dtype.itemsize + start * row
            return f"tensor {t.name!r}: element {first} (flat index) differs from the contract"
    return None


def verify(spec: ModelSpec, directory, *, fmt=None, full=False, samples=8, sample_seed=None, threads=None,
           only=None, max_shard_size=None):
    """A list of problems (empty when ``directory`` matches ``spec``).

    Checks that the files are complete, well-formed and untruncated, that they hold exactly
    the spec's tensors with their dtypes and shapes; for safetensors, that each header is
    intact (its own digest) and the one the spec produces, and that every tensor's bytes
    match the digest recorded for it; then recomputes every element (``full``) or the
    first, last and ``samples`` random row blocks of each tensor, drawn afresh on every call
    (``sample_seed`` fixes them, for tests).  ``only`` (shard file names): check just those
    files of a sharded model and their tensors, as the process that filled them can (with
    ``max_shard_size``, the tensors the plan puts in them, so a file short of one is caught).
    """
    if spec.seed is None:
        raise SpecError("seed: not set; set it in the spec or with ModelSpec.with_options(seed=...)")
    problems = []
    try:
        fmt = fmt or detect_format(directory)
        if only is not None and fmt != "safetensors":
            raise SpecError(f"only: for sharded safetensors models, not {fmt!r}")
        if fmt == "safetensors":
            problems, arrays = safetensors.check(spec, directory, only=only)
            if arrays is None:
                return problems
        else:
            arrays = FORMATS[fmt].open_tensors(directory)
    except (ValueError, KeyError, OSError) as exc:
        return [str(exc)]
    problems += [f"tensor {name!r}: in the file but not in the spec"
                 for name in arrays if name not in {t.name for t in spec.tensors}]
    if only is not None and max_shard_size is not None:
        names = {os.path.basename(os.fspath(n)) for n in only}
        spec = spec.subset([t.name for name, sub in safetensors.shards(spec, safetensors.parse_size(max_shard_size))
                            if name in names for t in sub.tensors])
    elif only is not None:
        spec = spec.subset([t.name for t in spec.tensors if t.name in arrays])
    rng = np.random.default_rng(sample_seed)
    for t in spec.tensors:
        if t.name not in arrays:
            problems.append(f"tensor {t.name!r}: missing from the file")
            continue
        problem = check_tensor(t, arrays[t.name], spec.seed, samples=None if full else samples, rng=rng,
                               threads=threads)
        if problem:
            problems.append(problem)
    return problems
