"""fastinit.model.replay: many tensors written as one parallel job give, byte for byte, what
``plan.fill`` gives each tensor alone, whatever the block size and thread count."""

import ml_dtypes
import numpy as np
import pytest

from fastinit.model import plan, replay

GUARD = 0xCA  # poisoned bytes around and inside each tensor: an unwritten byte shows up


def _jobs(dtype):
    """Tensors of many shapes and ops: blocks of rows, scaling, values, an orthogonal and a
    sparse (written whole), an integer buffer, 0-d, 1-d and empty tensors."""
    vals = np.arange(2 * 7, dtype=np.float64).reshape(2, 7)
    return [
        ("embed", (37, 7), dtype, [plan.scheme_op("normal", std=0.02), plan.scheme_op("zeros", rows=(3, 4))]),
        ("gates", (40, 6), dtype, [plan.scheme_op("uniform", rows=(0, 20), low=-1.0, high=1.0),
                                   plan.scheme_op("trunc_normal", rows=(20, 40), std=0.5),
                                   plan.Op("scale", params=(("factor", 0.5),), rows=(10, 30))]),
        ("conv", (9, 4, 3, 3), dtype, [plan.scheme_op("kaiming_uniform", a=5 ** 0.5)]),
        ("table", (22, 7), dtype, [plan.scheme_op("ones"), plan.Op("values", rows=(20, 22), values=vals)]),
        ("q", (12, 12), dtype, [plan.Op("orthogonal", "orthogonal", (("gain", 1.0),))]),
        ("sparse", (30, 8), dtype, [plan.scheme_op("sparse", sparsity=0.5, std=0.01)]),
        ("norm", (5,), dtype, [plan.scheme_op("ones")]),
        ("bias", (50,), dtype, [plan.scheme_op("normal", mean=1.0, std=2.0)]),
        ("scalar", (), dtype, [plan.scheme_op("constant", value=0.25)]),
        ("ids", (64,), np.int64, [plan.Op("values", values=np.arange(64))]),
        ("empty", (0, 3), dtype, [plan.scheme_op("normal")]),
    ]


def _poisoned(shape, dtype):
    raw = np.full(int(np.prod(shape)) * np.dtype(dtype).itemsize + 128, GUARD, np.uint8)
    return raw, raw[64:-64].view(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
@pytest.mark.parametrize("block,threads", [(1, 1), (7, 2), (50, 3), (10 ** 6, 2)])
def test_fill_all_equals_plan_fill_of_each(dtype, block, threads):
    jobs = _jobs(dtype)
    refs = [plan.fill(np.empty(shape, dt), ops, seed=3, stream=name) for name, shape, dt, ops in jobs]
    bufs = [_poisoned(shape, dt) for _, shape, dt, _ in jobs]
    replay.fill_all([(out, ops, name) for (name, _, _, ops), (_, out) in zip(jobs, bufs)], seed=3,
                    threads=threads, block=block, fresh=block == 7)   # fresh: pages mapped first, same bits
    for (name, *_), ref, (raw, out) in zip(jobs, refs, bufs):
        assert np.array_equal(out.reshape(-1).view(np.uint8), ref.reshape(-1).view(np.uint8)), name
        assert (raw[:64] == GUARD).all() and (raw[-64:] == GUARD).all(), name


def test_large_tensors_are_cut_into_blocks_of_rows_and_whole_only_ops_run_alone():
    a, b = np.empty((10, 4), np.float32), np.empty((3, 5), np.float32)
    q = np.empty((8, 8), np.float32)
    alone, pooled = replay.tasks([(a, [plan.scheme_op("normal")], "a"), (b, [plan.scheme_op("ones")], "b"),
                                  (q, [plan.Op("orthogonal", "orthogonal", (("gain", 1.0),))], "q")], block=16)
    assert [job[2] for job in alone] == ["q"]
    blocks = [(t[3], t[5]) for t in pooled]
    assert sorted(blocks) == [("a", (0, 0)), ("a", (4, 0)), ("a", (8, 0)), ("b", None)]
    assert [t[0] for t in pooled] == sorted((t[0] for t in pooled), reverse=True)   # largest first


def test_fill_all_refuses_a_bad_thread_count_or_seed_before_writing():
    out = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        replay.fill_all([(out, [plan.scheme_op("ones")], "x")], seed=0, threads=0)
    assert (out == 0).all()
    jobs = [(out, [plan.scheme_op("ones")], "x"), (np.zeros(4, np.float32), [plan.scheme_op("normal")], "y")]
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
        replay.fill_all(jobs, seed=-1, threads=1)
    assert (out == 0).all()


def test_overlapping_arrays_are_written_in_order():
    base = np.empty(64, np.float32)
    first, second = base[:40], base[24:]          # rows 24:40 written by both: the second wins
    jobs = [(first, [plan.scheme_op("normal")], "a"), (second, [plan.scheme_op("uniform")], "b")]
    replay.fill_all(jobs, seed=1, threads=2, block=4)
    ref = np.empty(64, np.float32)
    plan.fill(ref[:40], [plan.scheme_op("normal")], seed=1, stream="a")
    plan.fill(ref[24:], [plan.scheme_op("uniform")], seed=1, stream="b")
    assert np.array_equal(base.view(np.uint32), ref.view(np.uint32))


def test_a_strided_array_overlaps_where_its_elements_lie():
    # base[::4] holds elements 0, 4, 8, 12: the later job's base[8:16] overwrites two of them
    base = np.zeros(16, np.int64)
    jobs = [(base[::4], [plan.scheme_op("ones")], "a"), (base[8:], [plan.scheme_op("constant", value=7.0)], "b")]
    replay.fill_all(jobs, seed=1, threads=1)
    assert base.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7]
