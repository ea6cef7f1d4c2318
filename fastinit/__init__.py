"""fastinit: neural-network weight initialization at memory speed.

Counter-based (Philox4x32-10) fills that write in place into NumPy arrays and
memory-mapped files, with one contract: element i of a tensor depends only on
(seed, stream, i, scheme parameters, dtype), never on threads, chunking, backend
or sharding.  See docs/streams.md.

The public names are derived, not listed: every scheme of ``fastinit.schemes.REGISTRY``
is bound here as ``<name>_`` (the core fills ``uniform_``, ``normal_``, ... among them),
beside ``STREAM_LAYOUT``, ``rng``, ``schemes``, ``show_config``, ``calculate_gain``,
``compute_fans`` and the orthogonal family (loaded on first use).
"""

import importlib as _importlib

from . import _buffers, rng, schemes
from ._version import STREAM_LAYOUT, __version__
from .config import show_config
from .rng import Streams
from .schemes import calculate_gain, compute_fans

# The top of the package wires the front ends into the layers below, which never import them:
# every fill and scheme takes a CPU torch tensor, filled by fastinit.torch through its view.
_buffers.register_tensor_type("torch", "Tensor",
                              lambda: _importlib.import_module(".torch.tensors", __name__)._apply)

globals().update({name + "_": scheme.fn for name, scheme in schemes.REGISTRY.items()})

# The orthogonal kernels load SciPy's LAPACK and threadpoolctl: imported on first use.
_LAZY = {"orthogonal_": "orthogonal", "unitary_": "orthogonal", "delta_orthogonal_": "orthogonal"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'fastinit' has no attribute {name!r}")


__all__ = (["STREAM_LAYOUT", "Streams", "__version__", "calculate_gain", "compute_fans", "rng", "schemes", "show_config"]
           + [name + "_" for name in schemes.REGISTRY] + list(_LAZY))
