"""The progress record of a fill (``<file>.progress.json``) and what a resumed fill trusts.

A record names the fill it belongs to -- a random identifier also written into the
``.partial``'s header (``format.PENDING``) -- the spec it fills and the digest of every
tensor already on disk.  A new attempt removes the old record before it truncates the
``.partial`` and writes a new identifier into both, so a record is trusted only beside the
exact ``.partial`` it describes, whatever sequence of kills came before.
"""

import json
import secrets

from ..output import describe, write_json
from .format import DIGEST_KEY, FILL_ID_HEX, PENDING, parse_digests


def new_fill_id():
    return secrets.token_hex(FILL_ID_HEX // 2)


def write_record(path, fill_id, spec, done):
    write_json(path, {"fill": fill_id, "spec": describe(spec), "done": dict(sorted(done.items()))})


def read_record(path):
    """The record at ``path`` as a dict, or None if there is none or it is unreadable."""
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or not isinstance(record.get("fill"), str)
            or not isinstance(record.get("done"), dict) or not isinstance(record.get("spec"), dict)):
        return None
    return record


def fill_id_of(header):
    """The identifier of the fill a ``.partial``'s header belongs to, or None (a final header)."""
    value = (header.get("__metadata__") or {}).get(DIGEST_KEY, "")
    return value[len(PENDING):] if value.startswith(PENDING) else None


def digests_of(header):
    return parse_digests((header.get("__metadata__") or {}).get(DIGEST_KEY))
