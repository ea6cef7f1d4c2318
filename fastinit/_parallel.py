"""Run kernel calls over threads.

Each task is a kernel call on its own slice of ``out`` and its own range of global
element indices, so no state is shared and the bits cannot depend on the split.
Kernels release the GIL (cffi calls and ``nogil`` Numba), so a thread pool scales.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor


_POOL = None  # (pid, workers, executor): one pool for the process, as large as the most asked for
_POOL_LOCK = threading.Lock()
MIN_PER_THREAD = 1 << 16  # below this many elements a thread costs more than it saves
TASKS_PER_THREAD = 8      # threads pull tasks: a core slowed by another process does less of them


def default_threads() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def split(calls, threads, align):
    """Split kernel calls ``(at, n_runs, run_len, first, run_stride)`` into about
    ``TASKS_PER_THREAD * threads`` tasks of at least ``MIN_PER_THREAD`` elements; a run is cut
    only where its global index is a multiple of ``align`` (a group)."""
    total = sum(c[1] * c[2] for c in calls)
    if threads <= 1 or total < 2 * MIN_PER_THREAD:
        return list(calls)
    share = max(total // (TASKS_PER_THREAD * threads), MIN_PER_THREAD)
    tasks = []
    for at, n_runs, run_len, first, stride in calls:
        if n_runs > 1 and run_len < share:
            per = max(1, share // run_len)
            for r0 in range(0, n_runs, per):
                r1 = min(n_runs, r0 + per)
                tasks.append((at + r0 * run_len, r1 - r0, run_len, first + r0 * stride, stride))
            continue
        for r in range(n_runs):
            lo, g0 = 0, first + r * stride
            while lo < run_len:
                hi = min(run_len, lo + share)
                if hi < run_len:  # end the piece on a group boundary
                    hi = min(run_len, ((g0 + hi + align - 1) // align) * align - g0)
                tasks.append((at + r * run_len + lo, 1, hi - lo, g0 + lo, 0))
                lo = hi
    return tasks


def _pool(workers):
    """The process's one pool, with at least ``workers`` threads.  A call for more threads than
    it has replaces it by a larger one (the old one's threads finish their tasks and exit), so
    fastinit keeps at most ``max(threads) - 1`` pool threads, whatever ``threads=`` values come;
    a call uses only ``threads - 1`` of them."""
    global _POOL
    with _POOL_LOCK:
        # keyed by process: a forked child inherits the pool object but not its threads
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
            old = _POOL
            _POOL = (os.getpid(), workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastinit"))
            if old is not None and old[0] == os.getpid():
                old[2].shutdown(wait=False)
        return _POOL[2]


def each(fn, items, threads):
    """fn(item) for every item, on up to ``threads`` threads (the caller's among them), each
    pulling the next item when it finishes one.  Which thread runs an item never changes
    what the item computes, so the bits cannot depend on it."""
    items = list(items)
    n = min(threads, len(items))
    if n <= 1 or getattr(_LOCAL, "in_pool", False):  # nested in a pool thread: inline, never wait on the pool
        for item in items:
            fn(item)
        return
    pool = _pool(n - 1)
    pending = iter(items)
    lock = threading.Lock()
    caller = threading.current_thread()

    def pull():
        _LOCAL.in_pool = threading.current_thread() is not caller
        while True:
            with lock:
                item = next(pending, _DONE)
            if item is _DONE:
                return
            fn(item)

    futures = [pool.submit(pull) for _ in range(n - 1)]
    try:
        pull()
    finally:
        for f in futures:
            f.result()


_DONE = object()
_LOCAL = threading.local()


def run(kernel, out, tasks, threads):
    """kernel(out_slice, n_runs, run_len, first, run_stride) for each task, on up to ``threads`` threads."""
    def one(task):
        at, n_runs, run_len, first, stride = task
        kernel(out[at:at + n_runs * run_len], n_runs, run_len, first, stride)

    each(one, tasks, threads)
