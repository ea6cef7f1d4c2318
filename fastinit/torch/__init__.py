"""PyTorch front end: fastinit's fills on CPU torch tensors, in place, zero copy.

``as_numpy(tensor)`` is a NumPy view of a tensor's memory; the ``torch.nn.init`` drop-ins
(``fastinit.torch.init``) write through it with fastinit's kernels, so a tensor gets exactly
the bits fastinit writes into a NumPy array of the same shape and dtype.
``init_module(module, seed)`` initializes a whole ``nn.Module`` with each parameter's name
as its stream, ``materialize`` does it for a model built on the meta device, and ``lsuv_``,
``fixup_`` and ``t_fixup_`` are the data- and architecture-dependent schemes; ``probe``
measures each layer's activation and gradient scale at initialization (docs/probe.md).
docs/torch.md and docs/torch_datadep.md describe the rules and what is not covered.
"""

from .datadep import LSUVLayer, fixup_, fixup_branches, lsuv_, t_fixup_
from .init import (calculate_gain, constant_, dirac_, eye_, kaiming_normal_, kaiming_uniform_, normal_, ones_,
                   orthogonal_, sparse_, trunc_normal_, uniform_, xavier_normal_, xavier_uniform_, zeros_)
from .module import InitReport, init_module, materialize
from .probe import ProbeResult, probe
from .tensors import as_numpy

__all__ = ["InitReport", "LSUVLayer", "as_numpy", "calculate_gain", "constant_", "dirac_", "eye_", "fixup_",
           "fixup_branches", "init_module", "kaiming_normal_", "kaiming_uniform_", "lsuv_", "materialize", "normal_",
           "ones_", "orthogonal_", "ProbeResult", "probe", "sparse_", "t_fixup_", "trunc_normal_", "uniform_", "xavier_normal_",
           "xavier_uniform_", "zeros_"]
