"""fastinit: neural-network weight initialization at memory speed.

Counter-based (Philox4x32-10) fills that write in place into NumPy arrays and
memory-mapped files, with one contract: element i of a tensor depends only on
(seed, stream, i, scheme parameters, dtype), never on threads, chunking, backend
or sharding.  See docs/streams.md.
"""

__version__ = "0.1.0"

from . import rng  # noqa: E402
from .config import show_config  # noqa: E402
from .fills import constant_, normal_, ones_, trunc_normal_, uniform_, zeros_  # noqa: E402

__all__ = ["constant_", "normal_", "ones_", "rng", "show_config", "trunc_normal_", "uniform_", "zeros_"]
