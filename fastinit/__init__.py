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
from . import schemes  # noqa: E402
from .schemes import (bias_uniform_, calculate_gain, compute_fans, conv_default_, dirac_,  # noqa: E402
                      embedding_default_, eye_, glorot_normal_, glorot_uniform_, he_normal_, he_uniform_,
                      hf_normal_, identity_, kaiming_normal_, kaiming_uniform_, lecun_normal_, lecun_uniform_,
                      linear_default_, looks_linear_, lstm_forget_bias_, mup_normal_, random_walk_normal_,
                      relu_bias_, rnn_default_, selu_normal_, simple_xavier_uniform_, sparse_, variance_scaling_,
                      xavier_normal_, xavier_uniform_)

_LAZY = {"orthogonal_": "orthogonal", "unitary_": "orthogonal", "delta_orthogonal_": "orthogonal"}


def __getattr__(name):
    """The orthogonal kernels load SciPy's LAPACK and threadpoolctl: imported on first use."""
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'fastinit' has no attribute {name!r}")


__all__ = ["constant_", "normal_", "ones_", "rng", "show_config", "trunc_normal_", "uniform_", "zeros_",
           # the scheme catalogue (fastinit.schemes; its REGISTRY lists every scheme)
           "schemes", "bias_uniform_", "calculate_gain", "compute_fans", "conv_default_", "dirac_",
           "embedding_default_", "eye_", "glorot_normal_", "glorot_uniform_", "he_normal_", "he_uniform_",
           "hf_normal_", "identity_", "kaiming_normal_", "kaiming_uniform_", "lecun_normal_", "lecun_uniform_",
           "linear_default_", "looks_linear_", "lstm_forget_bias_", "mup_normal_", "random_walk_normal_", "relu_bias_",
           "rnn_default_", "selu_normal_", "simple_xavier_uniform_", "sparse_", "variance_scaling_",
           "xavier_normal_", "xavier_uniform_",
           # blocked Householder (fastinit.orthogonal)
           "delta_orthogonal_", "orthogonal_", "unitary_"]
