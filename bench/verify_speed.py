"""``verify`` (default: header checks, every tensor's digest, a fresh recomputed sample) and
``verify --full`` against reading the file once, in one process (interpreter start-up excluded).

    python -m bench.verify_speed [--preset llama-1b] [--dtype bf16] [--repeat 3] [--dir DIR] [--cold]

The file is filled once; then rows run interleaved (read, verify, read, verify, ...):

- ``read``: the file's bytes read once, front to back, in 16 MiB ``readinto`` calls into
  one buffer -- what any check that looks at every byte must at least do.
- ``verify``: ``fastinit.model.verify`` as ``fastinit verify`` runs it by default.
- ``full``: ``verify(full=True)``, every element recomputed (once, last: it is slow).

Warm by default (the file in the page cache, as after a fill on a machine with the memory);
``--cold`` drops the file's pages (``posix_fadvise(DONTNEED)``) before every row.
Minimum over ``--repeat`` runs; the machine may be shared, so the ratio is what counts.
"""

import argparse
import os
import shutil
import tempfile
import time

from fastinit.model import fill, load, verify
from fastinit.model.safetensors import FILENAME


def read_once(path):
    buf = bytearray(16 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(view):
            pass


def drop(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="llama-1b")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", default=None)
    p.add_argument("--cold", action="store_true")
    p.add_argument("--full", action="store_true", help="also time verify(full=True)")
    args = p.parse_args(argv)
    spec = load(args.preset).with_options(seed=0, dtype=args.dtype)
    out = tempfile.mkdtemp(dir=args.dir, prefix="fastinit-verify-")
    try:
        fill(spec, out, quiet=True)
        path = os.path.join(out, FILENAME)
        size = os.path.getsize(path)
        rows = {"read": lambda: read_once(path), "verify": lambda: verify(spec, out)}
        times = {k: [] for k in rows}
        for _ in range(args.repeat):
            for name, run in rows.items():
                if args.cold:
                    drop(path)
                t0 = time.perf_counter()
                result = run()
                times[name].append(time.perf_counter() - t0)
                assert not result, result
        if args.full:
            t0 = time.perf_counter()
            assert verify(spec, out, full=True) == []
            times["full"] = [time.perf_counter() - t0]
        base = min(times["read"])
        print(f"{args.preset} {args.dtype}: {size / 1e9:.2f} GB, {'cold' if args.cold else 'warm'} page cache, "
              f"min of {args.repeat}")
        for name, ts in times.items():
            print(f"  {name:<7} {min(ts):8.3f} s  {size / min(ts) / 1e9:6.2f} GB/s  {min(ts) / base:5.2f}x read")
    finally:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
