"""Check safetensors files without recomputing them: the header's own digest, the header
against the spec, and every tensor's bytes against the digest recorded for it.

The data are hashed in place through a read-only memory map (xxh3 runs at ~10 GB/s), so
checking costs less than one ``read`` of the file, which also copies every byte.
"""

import json
import mmap
import os

from ..errors import CorruptFile
from ..output import describe, differences
from ..spec import ModelSpec
from . import reader
from .format import DIGEST_KEY, HEADER_KEY, describe_header, header_digest, layout, parse_digests, xxh3_64



def check_digests(path, header, data_start, digests):
    """Problems: the tensors whose bytes differ from their recorded digest.  The file is
    memory-mapped and each tensor hashed where it lies (one pass over the page cache, no copy)."""
    problems = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return problems
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
            m.madvise(mmap.MADV_SEQUENTIAL)
            with memoryview(m) as view:
                spans = sorted((e["data_offsets"][0], e["data_offsets"][1], name) for name, e in reader.tensors(header))
                for begin, end, name in spans:
                    if data_start + end > size:         # validated before; the file shrank since
                        raise CorruptFile(path, f"shorter than its header says ({size:,} bytes); fill it again")
                    with view[data_start + begin:data_start + end] as piece:
                        digest = xxh3_64(piece).hexdigest()
                    if digests.get(name) != digest:
                        problems.append(f"tensor {name!r}: its bytes differ from the digest recorded in {path}: "
                                        f"the file is damaged; fill it again")
    return sorted(problems)


def check_header(path, header, data_start, spec: ModelSpec):
    """Problems with a header: its own digest, and its tensors and metadata against ``spec``
    (the header must be byte for byte the one this spec produces)."""
    with open(path, "rb") as f:
        prefix = f.read(data_start)
    metadata = header.get("__metadata__") or {}
    value = metadata.get(HEADER_KEY)
    names = [name for name, _ in reader.tensors(header)]
    sub = spec.subset(names)
    if len(sub.tensors) != len(names):              # tensors not in the spec: reported by the caller
        return []
    if "fastinit.seed" not in metadata:             # not written by fastinit: only the data can be
        return []                                   # checked (by recomputing), not the header
    found, wanted = describe_header(header), describe(sub)
    if found != wanted:
        return [f"{path}: written for another spec: " + "; ".join(differences(found, wanted, limit=8))
                .replace("the interrupted fill", "the file")]
    if value is None and DIGEST_KEY not in metadata:  # written by an older fastinit: no digests
        return []
    if not isinstance(value, str) or header_digest(prefix, value) != value:
        return [f"{path}: the header's digest does not match the header: the file is damaged; fill it again"]
    digests = parse_digests(metadata.get(DIGEST_KEY))
    if digests is None or set(digests) != {n for n, _ in reader.tensors(header)}:
        return [f"{path}: no tensor digests ({DIGEST_KEY}): the file was never completed; fill it again"]
    expected = layout(sub, digests=digests, version=metadata.get("fastinit.version", "")).prefix
    if expected != prefix:
        keys = sorted(k for k in set(metadata) | set(json.loads(expected[8:]).get("__metadata__", {}))
                      if metadata.get(k) != json.loads(expected[8:])["__metadata__"].get(k))
        what = f"metadata {keys[0]!r} is {metadata.get(keys[0])!r}" if keys else "its layout differs"
        return [f"{path}: header differs from the one this spec produces ({what})"]
    return []


def check(spec: ModelSpec, directory, *, digests=True, only=None):
    """``(problems, arrays)`` for a safetensors model in ``directory``: structure (``reader``),
    each header against ``spec``, the index's digests against the shards', and (``digests``)
    every tensor's bytes against its digest.  ``arrays`` (``{name: array}``) is None if the
    files could not be opened.  ``only`` (file names): check just those shard files, as the
    process that filled them can, before the index exists."""
    try:
        if only is None:
            files, index = reader.files(directory)
        else:
            files, index = [], None
            for name in only:
                path = os.path.join(os.fspath(directory), name)
                if not os.path.exists(path) and os.path.exists(path + ".partial"):
                    raise CorruptFile(path, "incomplete: the fill was interrupted, failed or is running; "
                                            "resume the fill to finish it")
                files.append((path, *reader.read_header(path)))
    except (ValueError, OSError) as exc:
        return [str(exc)], None
    problems, arrays = [], {}
    for path, header, data_start in files:
        arrays.update(reader.arrays(path, header, data_start))
        header_problems = check_header(path, header, data_start, spec)
        problems += header_problems
        recorded = parse_digests((header.get("__metadata__") or {}).get(DIGEST_KEY))
        if digests and recorded is not None and not header_problems:
            problems += check_digests(path, header, data_start, recorded)
        if index is not None and recorded is not None:
            listed = index[1].get("fastinit.xxh3_64")
            if isinstance(listed, dict):
                wrong = sorted(n for n in recorded if listed.get(n) != recorded[n])
                if wrong:
                    problems.append(f"{os.path.join(os.fspath(directory), reader.INDEX)}: the digest of tensor "
                                    f"{wrong[0]!r} differs from the one in {path}: the index or the shard is "
                                    f"damaged; fill them again")
    return problems, arrays
