"""show_config(): what this fastinit install runs with."""

import platform
import sys

from . import _parallel, kernels


def show_config(file=None):
    """Print fastinit's version, its backends, the C kernels' instruction set and the thread count."""
    from ._version import STREAM_LAYOUT, __version__

    file = file or sys.stdout
    print(f"fastinit {__version__} (Python {platform.python_version()}, {platform.machine()})", file=file)
    print(f"  stream layout: version {STREAM_LAYOUT} (docs/streams.md)", file=file)
    for name, be in kernels.available().items():
        if isinstance(be, Exception):
            print(f"  backend {name:6s} unavailable: {be}", file=file)
        else:
            print(f"  backend {name:6s} available ({be.detail})", file=file)
    try:
        from .kernels import _c
        print(f"  C kernels instruction set: {_c.isa()} (override: FASTINIT_ISA=baseline|avx2|avx512|avx512bf16)", file=file)
    except ImportError:
        pass
    print(f"  default backend: {kernels.get().name}", file=file)
    print(f"  threads: {_parallel.default_threads()} (threads=None uses all)", file=file)
