"""What the file writers share: atomic JSON records, disk reservation, output directories,
and the description of a spec that a resumed fill is checked against."""

import json
import os
import secrets

from .spec import ModelSpec


def write_json(path, obj, what="the progress record", unique=False):
    """Write ``obj`` to ``path`` atomically (a temporary file, then rename); an OSError names
    ``path`` and says it could not write ``what``.  ``unique``: a temporary file of this
    process's own, for a file several processes may write at once."""
    tmp = path + (f".{os.getpid()}.{secrets.token_hex(4)}.tmp" if unique else ".tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise OSError(exc.errno, f"{path}: cannot write {what} ({exc.strerror or exc}); "
                                 f"free disk space and resume the fill") from None


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


def make_directory(directory):
    """Create ``directory`` and its missing parents; returns those created, deepest first,
    so a fill that fails before writing can remove them again (``remove_directories``)."""
    directory = os.path.abspath(os.fspath(directory))
    missing, d = [], directory
    while not os.path.exists(d):
        missing.append(d)
        d = os.path.dirname(d)
    os.makedirs(directory, exist_ok=True)
    return missing


def remove_directories(created):
    """Remove the directories ``make_directory`` created, if they are empty."""
    for d in created:
        try:
            os.rmdir(d)
        except OSError:
            return


def describe(spec: ModelSpec):
    """What a fill's bytes depend on: the seed and each tensor's dtype, shape and scheme."""
    return {"seed": spec.seed,
            "tensors": {t.name: [t.dtype, list(t.shape), t.scheme] for t in spec.tensors}}


def differences(old, new, limit=4):
    """Human-readable differences between two ``describe`` records, ``old`` the interrupted fill's."""
    out = []
    if old.get("seed") != new.get("seed"):
        out.append(f"seed {old.get('seed')} in the interrupted fill, {new.get('seed')} now")
    a, b = old.get("tensors", {}), new.get("tensors", {})
    for label, k in (("dtype", 0), ("shape", 1), ("scheme", 2)):
        changed = sorted(n for n in b if n in a and a[n][k] != b[n][k])
        if len(changed) > 1 and len(changed) == len(b) and len({(str(a[n][k]), str(b[n][k])) for n in changed}) == 1:
            n = changed[0]
            out.append(f"{label} of every tensor: {a[n][k]} in the interrupted fill, {b[n][k]} now")
        elif changed:
            n = changed[0]
            more = f" (and {len(changed) - 1} more tensors)" if len(changed) > 1 else ""
            out.append(f"{label} of {n!r}: {a[n][k]} in the interrupted fill, {b[n][k]} now{more}")
    for label, names in (("only in the interrupted fill", [n for n in a if n not in b]),
                         ("not in the interrupted fill", [n for n in b if n not in a])):
        if names:
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            out.append(f"tensor {names[0]!r}{more} {label}")
    return out[:limit] or ["its header or layout differs"]
