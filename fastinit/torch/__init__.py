"""PyTorch front end: fastinit's fills on CPU torch tensors, in place, zero copy.

``as_numpy(tensor)`` is a NumPy view of a tensor's memory; the ``torch.nn.init`` drop-ins
(``fastinit.torch.init``) write through it with fastinit's kernels, so a tensor gets exactly
the bits fastinit writes into a NumPy array of the same shape and dtype.
``plan(module)`` records what the module's own init code writes (its modules'
``reset_parameters``, transformers' ``_init_weights``, its ``init_weights()`` loop, or its
constructor under ``recording()``); ``materialize(model, seed)`` replays that plan into new
memory for a model built on the meta device (and returns it), ``init_module(module, seed)``
into a module's own tensors, each tensor's name as its stream; ``fastinit.torch.hf`` turns a
transformers config into the same plan as a model-file spec.  ``lsuv_``, ``fixup_`` and
``t_fixup_`` are the data- and architecture-dependent schemes.
docs/torch.md and docs/torch_datadep.md describe the rules and what is not covered.
"""

from .datadep import LSUVLayer, fixup_, fixup_branches, lsuv_, t_fixup_
from .init import (calculate_gain, constant_, dirac_, eye_, kaiming_normal_, kaiming_uniform_, normal_, ones_,
                   orthogonal_, sparse_, trunc_normal_, uniform_, xavier_normal_, xavier_uniform_, zeros_)
from .module import InitReport, Plan, init_module, materialize, plan
from .recorder import recording
from .tensors import as_numpy

__all__ = ["InitReport", "LSUVLayer", "Plan", "plan", "as_numpy", "calculate_gain", "constant_", "dirac_", "eye_", "fixup_",
           "fixup_branches", "init_module", "kaiming_normal_", "kaiming_uniform_", "lsuv_", "materialize", "normal_",
           "ones_", "orthogonal_", "recording", "sparse_", "t_fixup_", "trunc_normal_", "uniform_", "xavier_normal_",
           "xavier_uniform_", "zeros_"]
