"""PyTorch front end: fastinit's fills on CPU torch tensors, in place, zero copy.

``as_numpy(tensor)`` is a NumPy view of a tensor's memory.  ``import fastinit.torch as init``
replaces ``torch.nn.init`` (``fastinit.torch.init``: torch's names, signatures, errors and
seedless semantics, or fastinit's contract with ``seed=``/``stream=``), and ``install()``
routes torch's own ``torch.nn.init`` and CPU ``Tensor.normal_``/``uniform_`` through it.
``plan(module)`` records what the module's own init code writes (its modules'
``reset_parameters``, transformers' ``_init_weights``, its ``init_weights()`` loop, or its
constructor under ``recording()``); ``materialize(module, seed)`` replays that plan into new
memory for a model built on the meta device (and returns it), ``init_module_(module, seed)``
into a module's own tensors, each tensor's name as its stream; ``fastinit.torch.hf`` turns a
transformers config into the same plan as a model-file spec.  ``lsuv_``, ``fixup_`` and
``t_fixup_`` are the data- and architecture-dependent schemes, plans written by the same
engine.  Naming: a function that writes in place ends in ``_`` (on a tensor it returns the
tensor, as torch.nn.init; on a module -- ``init_module_``, ``lsuv_``, ``fixup_``,
``t_fixup_`` -- the ``InitReport``); ``materialize`` gives a module new tensors and returns
it; the first argument of a function on a module is ``module``.  ``probe`` measures each
layer's activation and gradient scale at initialization (docs/probe.md).
docs/torch.md and docs/torch_datadep.md describe the rules and what is not covered.
"""

from .._extras import require

require("torch", "torch", "fastinit.torch")

from . import init as _init
from .datadep import LSUVLayer, fixup_, fixup_branches, lsuv_, t_fixup_
from .init import (InitArgumentError, _calculate_correct_fan, _calculate_fan_in_and_fan_out,  # noqa: F401
                   _no_grad_fill_, _no_grad_normal_, _no_grad_trunc_normal_, _no_grad_uniform_, _no_grad_zero_,
                   calculate_gain, constant, constant_, dirac, dirac_, eye, eye_, kaiming_normal, kaiming_normal_,
                   kaiming_uniform, kaiming_uniform_, normal, normal_, ones_, orthogonal, orthogonal_, sparse, sparse_,
                   trunc_normal_, uniform, uniform_, xavier_normal, xavier_normal_, xavier_uniform, xavier_uniform_,
                   zeros_)
from .install import install, installed, is_installed, uninstall
from .module import InitReport, Plan, init_module_, materialize, plan
from .probe import ProbeResult, probe
from .recorder import recording
from .tensors import as_numpy

__all__ = (["InitArgumentError", "InitReport", "LSUVLayer", "as_numpy", "fixup_", "fixup_branches", "init_module_",
            "install", "installed", "is_installed", "lsuv_", "materialize", "Plan", "plan", "ProbeResult", "probe",
            "recording", "t_fixup_", "uninstall"]
           + list(_init.PUBLIC) + list(_init.DEPRECATED))
