"""Many tensors' plans written as one parallel job.

``fill_all(jobs, seed=...)`` writes every ``(out, ops, stream)`` exactly as
``plan.fill(out, ops, seed=seed, stream=stream)`` would, but with every thread busy across
tensors, not only within one: each large tensor is cut into blocks of rows of about
``BLOCK`` elements, each block written by the shard path (``global_shape``/``offset``), whose
bits are the whole tensor's by fastinit's contract; small tensors are one task each; the
threads pull tasks largest first (so the last ones to finish are short), and each block's
first write -- its page faults, on fresh memory -- happens on the thread that fills it.
Filling tensor by tensor instead leaves a thread idle at the end of every tensor and pays a
thread hand-off per tensor; the many small tensors of a model (norms, biases) are tasks
like any other, their ~40 us of Python each overlapping the other threads' fills.

A tensor whose ops cannot be cut by rows at no extra cost (``orthogonal``: a block costs
the whole QR; ``sparse``: a block computes whole columns' patterns) is written first,
alone, with all threads.  Arrays whose memory overlaps (views of one another) are all
written one after another in the order given, so the last write wins as it would alone.
"""

from .. import _memory, _parallel, _validate
from . import plan as _plan

BLOCK = 1 << 22          # elements per task: ~4 ms of normal_ per thread, ~70 us of Python per task
_WHOLE_SCHEMES = ("sparse",)   # schemes whose blocks cost more than their share of the whole


def _splittable(ops):
    return all(op.kind in ("values", "scale") or (op.kind == "scheme" and op.name not in _WHOLE_SCHEMES)
               for op in ops)


def _span(out):
    """``(lo, hi)``: the bytes from the first to past the last that the array ``out`` can touch
    (a strided integer buffer's too: its elements lie between, not only in its first nbytes)."""
    lo = hi = out.ctypes.data
    for n, stride in zip(out.shape, out.strides):
        if stride < 0:
            lo += (n - 1) * stride
        else:
            hi += (n - 1) * stride
    return lo, hi + out.itemsize


def _overlap(jobs):
    """Whether the memory spans of any two jobs' arrays overlap."""
    spans = sorted(_span(out) for out, _, _ in jobs if out.nbytes)
    return any(lo < hi_before for (_, hi_before), (lo, _) in zip(spans, spans[1:]))


def tasks(jobs, block=None):
    """``(alone, pooled)``: the jobs to write one by one with all threads, and the tasks
    ``(elements, out view, ops, stream, global_shape, offset)`` to share out, largest first;
    ``block`` elements per task (None: ``BLOCK``)."""
    block = BLOCK if block is None else block
    alone, pooled = [], []
    for out, ops, stream in jobs:
        if out.size == 0 or not ops:
            continue
        if out.size <= block or out.ndim == 0:
            pooled.append((out.size, out, ops, stream, None, None))
        elif not _splittable(ops):
            alone.append((out, ops, stream))
        else:
            row = out.size // out.shape[0]
            step = max(1, block // row)
            for lo in range(0, out.shape[0], step):
                view = out[lo:lo + step]
                pooled.append((view.size, view, ops, stream, out.shape, (lo,) + (0,) * (out.ndim - 1)))
    pooled.sort(key=lambda t: -t[0])
    return alone, pooled


def fill_all(jobs, *, seed, backend=None, threads=None, block=None, fresh=False):
    """Write every job ``(out, ops, stream)`` (``out`` a NumPy array, ``ops`` a plan's ops for
    it, ``stream`` its name) as ``plan.fill`` would: the same bits, for any ``threads``.

    ``fresh=True`` says every ``out`` is new private anonymous memory, never touched, that
    the ops write in full: each block's pages are then mapped by one system call on the
    thread about to fill it (``fastinit._memory.populate``) instead of a fault per page."""
    threads = _validate.check_threads(threads)
    _validate.u64(seed, "seed")   # before the first job: a bad seed would fail only at a random op
    jobs = list(jobs)
    if _overlap(jobs):   # the later write must win, as when written one by one: keep the order
        for out, ops, stream in jobs:
            _plan.fill(out, ops, seed=seed, stream=stream, backend=backend, threads=threads)
        return
    alone, pooled = tasks(jobs, block)
    for out, ops, stream in alone:
        if fresh:
            _memory.populate(out)
        _plan.fill(out, ops, seed=seed, stream=stream, backend=backend, threads=threads)

    def one(task):
        _, view, ops, stream, global_shape, offset = task
        if fresh:
            _memory.populate(view)
        _plan.fill(view, ops, seed=seed, stream=stream, global_shape=global_shape, offset=offset, backend=backend,
                   threads=1)

    _parallel.each(one, pooled, threads)


__all__ = ["BLOCK", "fill_all", "tasks"]
