"""A sharded model's files filled by a Dask cluster: one task per shard file.

Each task runs ``fill(spec, directory, max_shard_size=..., only=[its file])`` on whichever
worker Dask gives it, and returns the names it filled; the client then writes the index from
the shards' headers (``finalize``).  The directory must be storage every worker can write
(a shared file system).  The bytes are those of the one-process fill: the shard layout is a
pure function of the spec and ``max_shard_size``, and each file's bytes depend only on its
tensors.  A failed or lost task leaves a ``.partial`` that a rerun with ``resume=True``
finishes (with ``resume=True``, Dask's own retries of a task resume its file too).
"""

import os
import uuid

from .._extras import require
from . import safetensors
from .spec import ModelSpec, SpecError


def _fill_file(spec, directory, max_shard_size, name, threads, resume, overwrite):
    from .writer import fill                     # on the worker
    return fill(spec, directory, max_shard_size=max_shard_size, only=[name], threads=threads, resume=resume,
                overwrite=overwrite, quiet=True)


def fill(spec: ModelSpec, directory, max_shard_size, *, client=None, threads=None, resume=False, overwrite=False):
    """Fill ``directory`` with ``spec``'s shards (``max_shard_size``: bytes or ``"5GB"``) as one
    Dask task per file on ``client`` (a ``distributed.Client``, or a scheduler address such as
    ``"tcp://host:8786"``; None: the current client), then write the index.  Returns the
    names of the tensors filled.  ``threads``: fastinit threads per task (None: all the
    worker's cores -- one task per worker process is the natural layout)."""
    distributed = require("distributed", "dask", "fastinit.model.cluster")
    if spec.seed is None:
        raise SpecError("seed: not set; set it in the spec or with ModelSpec.with_options(seed=...)")
    size = safetensors.parse_size(max_shard_size)
    names = [name for name, _ in safetensors.shards(spec, size)]
    directory = os.path.abspath(os.fspath(directory))
    own = None
    if client is None:
        client = distributed.get_client()
    elif isinstance(client, str):
        client = own = distributed.Client(client)
    elif not isinstance(client, distributed.Client):
        raise TypeError(f"client: expected a distributed.Client, a scheduler address or None; got {client!r}")
    try:
        run = uuid.uuid4().hex                   # a task per file and call: never a cached result
        futures = [client.submit(_fill_file, spec, directory, size, name, threads, resume, overwrite,
                                 key=f"fastinit-fill-{name}-{run}") for name in names]
        filled = [n for part in client.gather(futures) for n in part]
    finally:
        if own is not None:
            own.close()
    safetensors.finalize(spec, directory, size)
    return filled
