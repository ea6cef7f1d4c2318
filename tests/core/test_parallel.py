"""The thread driver: every item runs once, any nesting finishes, the split respects groups."""

import threading
import time

import numpy as np

from fastinit import _parallel


def test_each_runs_every_item_once_with_more_items_than_threads():
    seen, lock = [], threading.Lock()

    def fn(i):
        with lock:
            seen.append(i)

    _parallel.each(fn, range(100), 2)
    assert sorted(seen) == list(range(100))


def test_nested_each_finishes():
    # a pool worker that calls each() again must not wait on its own (busy) pool
    out = np.zeros(16, int)

    def inner(i):
        out[i] += 1

    def outer(chunk):
        _parallel.each(inner, chunk, 2)

    done = threading.Event()

    def run():
        _parallel.each(outer, [range(0, 8), range(8, 16), []], 2)
        done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert done.wait(30), "nested each() deadlocked"
    assert (out == 1).all()


def test_split_cuts_runs_on_group_boundaries_and_covers_them():
    calls = [(0, 1, 1_000_003, 77, 0)]
    tasks = _parallel.split(calls, 3, 64)
    assert sum(t[2] for t in tasks) == 1_000_003
    covered = 77
    for at, n_runs, run_len, first, _ in tasks:
        assert n_runs == 1 and first == covered and at == first - 77
        covered += run_len
    assert all((t[3] + t[2]) % 64 == 0 for t in tasks[:-1])


def test_pool_threads_are_bounded_by_the_largest_thread_count():
    """Every threads= value used to keep its own pool for the life of the process (64 values:
    about 300 live threads); one pool now, as large as the largest request."""
    def live():
        return [t for t in threading.enumerate() if t.name.startswith("fastinit")]

    for threads in range(2, 34):
        _parallel.each(lambda i: time.sleep(0.0005), range(2 * threads), threads)
    deadline = time.monotonic() + 5
    while len(live()) > 32 and time.monotonic() < deadline:  # replaced pools' threads are exiting
        time.sleep(0.01)
    assert len(live()) <= 32
    for threads in (2, 5, 9):  # smaller requests reuse the pool: no new threads
        _parallel.each(lambda i: None, range(50), threads)
    assert len(live()) <= 32
