"""fastinit.model.plan: ops replayed into whole tensors and into shards give the same bits."""

import ml_dtypes
import numpy as np
import pytest

import fastinit
from fastinit.model import plan
from fastinit.model.safetensors import flat_boxes

OPS = [plan.scheme_op("normal", std=0.02),
       plan.scheme_op("zeros", rows=(3, 4)),
       plan.scheme_op("uniform", rows=(8, 12), low=-1.0, high=1.0),
       plan.Op("scale", params=(("factor", 0.5),), rows=(8, 10)),
       plan.Op("values", rows=(20, 22), values=np.arange(2 * 7, dtype=np.float64).reshape(2, 7))]


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
def test_shards_equal_the_whole(dtype):
    shape = (30, 7)
    whole = plan.fill(np.empty(shape, dtype), OPS, seed=5, stream="w")
    assert (whole[3] == 0).all() and np.array_equal(whole[20:22].astype(np.float64), OPS[4].values)
    ref = fastinit.uniform_(np.empty((4, 7), dtype), -1.0, 1.0, seed=5, stream="w[8:12]")
    assert np.array_equal(whole[10:12], ref[2:]) and np.array_equal(whole[8:10], (ref[:2] * 0.5).astype(dtype))
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, whole.size), 12, replace=False))
    flat = np.empty(whole.size, dtype)
    for e0, e1 in zip([0, *cuts], [*cuts, whole.size]):
        at = e0
        for offset, block in flat_boxes(shape, e0, e1):
            n = int(np.prod(block))
            plan.fill(flat[at:at + n].reshape(block), OPS, seed=5, stream="w", global_shape=shape, offset=offset)
            at += n
    assert np.array_equal(flat.reshape(shape).view(np.uint8), whole.view(np.uint8))


def test_add_folds_and_replaces():
    ops = []
    plan.add(ops, plan.scheme_op("uniform", low=0.0, high=1.0))
    plan.add(ops, plan.Op("scale", params=(("factor", -2.0),)))
    assert ops == [plan.scheme_op("uniform", low=-2.0, high=0.0)]
    plan.add(ops, plan.scheme_op("zeros", rows=(0, 1)))
    plan.add(ops, plan.scheme_op("normal", std=1.0))      # covers everything before it
    assert ops == [plan.scheme_op("normal", std=1.0)]
    assert plan.uncovered([plan.scheme_op("zeros", rows=(0, 2)), plan.scheme_op("ones", rows=(3, 5))], 6) == [
        (2, 3), (5, 6)]
    with pytest.raises(ValueError, match="no parameter"):
        plan.scheme_op("normal", sd=1.0)


def test_check_raises_what_a_replay_would_and_writes_nothing():
    shape = (30, 7)
    plan.check(OPS, shape, np.float32, seed=5, stream="w")          # fits: nothing raised
    with pytest.raises(ValueError, match=r"tensor 'b' of shape \[7\]: kaiming_normal: Fan in and fan out"):
        plan.check([plan.scheme_op("kaiming_normal")], (7,), np.float32, seed=0, stream="b")
    with pytest.raises(ValueError, match=r"tensor 'w': values of shape \[3\] for a block of shape \[2, 7\]"):
        plan.check([plan.Op("values", rows=(0, 2), values=np.zeros(3))], shape, np.float32, seed=0, stream="w")
    with pytest.raises(ValueError, match="orthogonal needs at least 2 dimensions"):
        plan.check([plan.Op("orthogonal", "orthogonal", (("gain", 1.0),))], (7,), np.float32, seed=0, stream="v")
    with pytest.raises(ValueError, match=r"tensor 'ids' of shape \[4\]: normal\(std=1.0\): .*integer"):
        plan.check([plan.scheme_op("normal", std=1.0)], (4,), np.int64, seed=0, stream="ids")
    plan.check([plan.scheme_op("zeros")], (), np.float32, seed=0, stream="scalar")
    orth = plan.Op("orthogonal", "orthogonal", (("gain", 1e6),), (0, 2))   # on rows 0:2
    plan.check([orth], shape, np.float32, seed=0, stream="o")        # float32 holds the gain
    with pytest.raises(ValueError, match=r"tensor 'o' of shape \[30, 7\]: orthogonal\(gain=1000000.0\) on rows "
                                         r"0:2: gain=1000000.0 is outside the range of float16"):
        plan.check([orth], shape, np.float16, seed=0, stream="o")
    with pytest.raises(ValueError, match=r"tensor 'o': orthogonal\(gain=1000000.0\) on rows 0:2 on an integer tensor"):
        plan.check([orth], shape, np.int32, seed=0, stream="o")
