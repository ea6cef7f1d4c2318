"""No silent repeats: with seed= a stream is required everywhere, and Streams hands out one per tensor."""

import numpy as np
import pytest

import fastinit
from fastinit import orthogonal, schemes
from fastinit.rng import MISSING_STREAM

from ..conftest import POISON, poisoned
from ..schemes.test_schemes_contract import CASES

MISSING = r"stream= is required with seed=: name the tensor"


@pytest.mark.parametrize("case, name, params, shapes", CASES, ids=[c[0] for c in CASES])
def test_every_scheme_refuses_a_seed_without_stream_before_writing(case, name, params, shapes):
    whole, out = poisoned(shapes[0], np.float32)
    with pytest.raises(TypeError, match=MISSING):
        schemes.REGISTRY[name].fn(out, **params, seed=0)
    assert (whole.view(np.uint8) == POISON).all()


@pytest.mark.parametrize("fn, dtype", [(orthogonal.orthogonal_, np.float32), (orthogonal.unitary_, np.complex64),
                                       (orthogonal.delta_orthogonal_, np.float32)])
def test_structured_random_schemes_refuse_a_seed_without_stream(fn, dtype):
    out = np.full((8, 8, 3, 3), 7, dtype)
    with pytest.raises(TypeError, match=MISSING):
        fn(out, seed=0)
    assert (out == 7).all()


def test_other_entry_points_refuse_a_seed_without_stream():
    import fastinit.numba as fnb

    with pytest.raises(TypeError, match=MISSING):
        fnb.key(0)
    with pytest.raises(TypeError, match=MISSING):
        fastinit.rng.key_words(5)
    dask = pytest.importorskip("fastinit.dask")
    with pytest.raises(TypeError, match=MISSING):
        dask.normal((64, 64), seed=0)


def test_the_message_says_what_to_do():
    assert "stream='fc1.weight'" in MISSING_STREAM and "fastinit.Streams(seed)" in MISSING_STREAM


def test_deterministic_schemes_need_neither():
    assert (fastinit.zeros_(np.ones(5, np.float32)) == 0).all()
    assert (schemes.eye_(np.ones((3, 3), np.float32)) == np.eye(3)).all()


def test_one_seed_two_streams_are_independent():
    a = fastinit.normal_(np.empty(4096, np.float32), seed=0, stream="a.weight")
    b = fastinit.normal_(np.empty(4096, np.float32), seed=0, stream="b.weight")
    assert (a == b).mean() < 1e-3 and abs(np.corrcoef(a, b)[0, 1]) < 6 / 64


def test_streams_hands_out_each_stream_once():
    streams = fastinit.Streams(seed=3)
    assert streams("fc1.weight") == {"seed": 3, "stream": "fc1.weight"}
    w2 = fastinit.normal_(np.empty(100, np.float32), **streams("fc2.weight"))
    assert np.array_equal(w2, fastinit.normal_(np.empty(100, np.float32), seed=3, stream="fc2.weight"))
    with pytest.raises(ValueError, match="'fc1.weight' was already handed out under seed 3"):
        streams("fc1.weight")
    assert [streams()["stream"] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="already handed out"):
        streams(1)
    assert streams(7)["stream"] == 7 and streams()["stream"] == 3
    with pytest.raises(ValueError, match="seed must be in"):
        fastinit.Streams(-1)
    with pytest.raises(TypeError, match="stream must be an int"):
        streams(1.5)
