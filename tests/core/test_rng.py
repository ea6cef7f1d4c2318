"""Philox4x32 against Random123's known answers and an independent implementation."""

from pathlib import Path

import numpy as np
import pytest

from fastinit import rng
from fastinit.rng import key_words, stream_id

from ..conftest import BACKENDS

KAT = Path(__file__).resolve().parents[1] / "philox_kat_vectors.txt"  # Random123's vectors, verbatim (see its header)


def kat_lines():
    for line in KAT.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "philox4x32":
            yield int(parts[1]), [int(x, 16) for x in parts[2:6]], [int(x, 16) for x in parts[6:8]], \
                [int(x, 16) for x in parts[8:12]]


def test_kat_file_has_both_round_counts():
    rounds = sorted({r for r, *_ in kat_lines()})
    assert rounds == [7, 10]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(kat_lines()), ids=lambda c: f"R{c[0]}-{c[1][0]:08x}")
def test_known_answer_vectors(backend, case):
    rounds, ctr, key, expected = case
    got = rng.philox4x32(np.array(ctr, np.uint32), np.array(key, np.uint32), rounds, backend=backend)
    assert got.tolist() == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_randomgen_on_random_keys_and_counters(backend):
    randomgen = pytest.importorskip("randomgen")
    r = np.random.default_rng(12345)
    for _ in range(200):
        key = r.integers(0, 2**32, 2, dtype=np.uint64).astype(np.uint32)
        ctr = r.integers(0, 2**32, 4, dtype=np.uint64).astype(np.uint32)
        # randomgen increments its counter before each block, so start one below
        c = sum(int(w) << (32 * i) for i, w in enumerate(ctr))
        bg = randomgen.Philox(number=4, width=32, key=int(key[0]) | int(key[1]) << 32,
                              counter=(c - 1) % 2**128)
        expected = bg.random_raw(8).astype(np.uint32)
        ctrs = np.array([ctr, ctr], np.uint32)
        c1 = (c + 1) % 2**128
        ctrs[1] = [(c1 >> (32 * i)) & 0xFFFFFFFF for i in range(4)]
        got = rng.philox4x32(ctrs, key, backend=backend)
        assert got.reshape(-1).tolist() == expected.tolist()


def test_batched_keys_and_shapes():
    ctr = np.arange(3 * 5 * 4, dtype=np.uint32).reshape(3, 5, 4)
    key = np.arange(3 * 5 * 2, dtype=np.uint32).reshape(3, 5, 2)
    out = rng.philox4x32(ctr, key)
    assert out.shape == (3, 5, 4) and out.dtype == np.uint32
    assert out[1, 2].tolist() == rng.philox4x32(ctr[1, 2], key[1, 2]).tolist()
    assert rng.philox4x32(np.empty((0, 4), np.uint32), key[0, 0]).shape == (0, 4)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(counters=np.zeros(4, np.int64)), TypeError, "counters must be a uint32 array"),
    (dict(counters=np.zeros(3, np.uint32)), ValueError, r"counters must have shape \(\.\.\., 4\)"),
    (dict(key=np.zeros(3, np.uint32)), ValueError, r"key must have shape \(\.\.\., 2\)"),
    (dict(key=np.zeros((2, 2), np.uint32)), ValueError, "does not match counters"),
    (dict(rounds=17), ValueError, r"rounds must be an int in \[0, 16\]; got 17"),
    (dict(rounds=10.0), TypeError, r"rounds must be an int in \[0, 16\]; got float 10.0"),
])
def test_philox_bad_input(kwargs, exc, match):
    args = dict(counters=np.zeros(4, np.uint32), key=np.zeros(2, np.uint32))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        rng.philox4x32(args["counters"], args["key"], args.get("rounds", 10))


def test_stream_ids_are_stable_and_documented():
    import hashlib
    name = "model.layers.0.self_attn.q_proj.weight"
    expected = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8, person=b"fastinit.stream").digest(),
                              "little")
    assert stream_id(name) == expected
    assert stream_id("") != stream_id(" ")
    assert stream_id(7) == 7 and stream_id(np.uint64(2**64 - 1)) == 2**64 - 1
    # pinned: a change here re-keys every named tensor
    assert stream_id("weight") == 0xDA8CBB3E7EAB3295
    assert key_words(2**64 - 1, 2**32).tolist() == [2**32 - 1, 2**32 - 1, 0, 1]


@pytest.mark.parametrize("stream, exc", [(-1, ValueError), (2**64, ValueError), (1.0, TypeError),
                                         (True, TypeError), (b"name", TypeError), (None, TypeError)])
def test_bad_streams(stream, exc):
    with pytest.raises(exc, match="stream must be|stream= is required"):
        stream_id(stream)


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (2**64, ValueError), (0.5, TypeError),
                                       (None, TypeError), (False, TypeError)])
def test_bad_seeds(seed, exc):
    with pytest.raises(exc, match="seed must be"):
        key_words(seed)
