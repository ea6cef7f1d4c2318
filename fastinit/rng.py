"""The counter-based RNG: Philox4x32-10 and how (seed, stream) become its key and counter.

Stream layout (docs/streams.md): block ``b`` of a stream is Philox4x32-10 of
counter ``(b mod 2^32, b div 2^32, stream mod 2^32, stream div 2^32)`` under key
``(seed mod 2^32, seed div 2^32)``.  A string stream (a tensor name) becomes an
integer by :func:`stream_id`.
"""

import hashlib

import numpy as np

from . import _validate, kernels


def stream_id(stream) -> int:
    """The 64-bit stream number of ``stream``: an int in [0, 2**64) as is, a str hashed.

    A name hashes as ``int.from_bytes(blake2b(name.encode("utf-8"), digest_size=8,
    person=b"fastinit.stream").digest(), "little")``: stable across platforms,
    Python versions and runs (unlike ``hash()``).
    """
    value = _validate.check_stream(stream)
    if isinstance(value, bytes):
        return int.from_bytes(hashlib.blake2b(value, digest_size=8, person=b"fastinit.stream").digest(), "little")
    return value


MISSING_STREAM = _validate.MISSING_STREAM


def key_words(seed, stream=None) -> np.ndarray:
    """uint32[4] = (key0, key1, stream0, stream1) for ``seed`` and ``stream``.

    ``stream`` has no default: with one seed, the stream is what keeps two tensors apart,
    so a missing stream is a TypeError (:data:`MISSING_STREAM`), never a silent 0.
    """
    s = _validate.u64(seed, "seed")
    t = stream_id(stream)
    return np.array([s & 0xFFFFFFFF, s >> 32, t & 0xFFFFFFFF, t >> 32], dtype=np.uint32)


def philox4x32(counters, key, rounds=10, *, backend=None):
    """Philox4x32-``rounds`` (Salmon et al. 2011), exactly as Random123's ``philox4x32_R``.

    ``counters``: uint32 array of shape (..., 4); ``key``: uint32 of shape (2,) or
    (..., 2) matching the counters' leading shape.  Returns uint32 of shape (..., 4).

    >>> philox4x32(np.zeros(4, np.uint32), np.zeros(2, np.uint32)).tolist()  # Random123 KAT
    [1713891541, 3781805453, 3159862348, 2600524760]
    """
    be = kernels.get(backend)
    ctr = np.asarray(counters)
    k = np.asarray(key)
    for name, arr, width in (("counters", ctr, 4), ("key", k, 2)):
        if arr.dtype != np.uint32:
            raise TypeError(f"{name} must be a uint32 array; got dtype {arr.dtype}")
        if arr.ndim < 1 or arr.shape[-1] != width:
            raise ValueError(f"{name} must have shape (..., {width}); got {arr.shape}")
    if k.ndim > 1 and k.shape[:-1] != ctr.shape[:-1]:
        raise ValueError(f"key of shape {k.shape} does not match counters of shape {ctr.shape}: "
                         f"expected (2,) or {ctr.shape[:-1] + (2,)}")
    rounds = _validate.integer(rounds, "rounds", lo=0, hi=16)
    c2 = np.ascontiguousarray(ctr.reshape(-1, 4))
    k2 = np.ascontiguousarray(k.reshape(-1, 2))
    out = np.empty_like(c2)
    if c2.shape[0]:
        be.philox4x32(c2, k2, 1 if k.ndim > 1 else 0, out, int(rounds))
    return out.reshape(ctr.shape)


class Streams:
    """Hands out ``(seed, stream)`` keyword pairs under one seed, never the same stream twice.

    ``streams(name)`` returns ``{"seed": seed, "stream": name}`` and refuses (ValueError) a
    name it has already handed out, so two tensors can never silently share numbers;
    ``streams()`` without a name hands out 0, 1, 2, ... (integer streams; a name is hashed to
    64 bits, so names and small integers do not meet in practice).

    >>> streams = Streams(seed=0)
    >>> w1 = fastinit.normal_(np.empty((64, 32), np.float32), std=0.02, **streams("fc1.weight"))
    >>> w2 = fastinit.normal_(np.empty((64, 32), np.float32), std=0.02, **streams("fc2.weight"))
    """

    def __init__(self, seed):
        _validate.u64(seed, "seed")
        self.seed = int(seed)
        self._given = set()
        self._next = 0

    def __call__(self, name=None) -> dict:
        if name is None:
            while self._next in self._given:
                self._next += 1
            name = self._next
        key = stream_id(name)
        if key in self._given:
            raise ValueError(f"stream {name!r} was already handed out under seed {self.seed}: two tensors "
                             f"would get the same numbers; give each tensor its own name")
        self._given.add(key)
        return {"seed": self.seed, "stream": name}
