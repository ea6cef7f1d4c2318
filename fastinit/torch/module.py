"""Whole modules: ``init_module`` by rules or a convention's module defaults."""

import fnmatch

import torch

from .. import schemes as _schemes
from .tensors import as_numpy

CONVENTIONS = ("torch", "hf", None)
_NORMS = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.modules.batchnorm._NormBase) + (
    (torch.nn.RMSNorm,) if hasattr(torch.nn, "RMSNorm") else ())
_EMBEDDINGS = (torch.nn.Embedding, torch.nn.EmbeddingBag)
_CONVS = torch.nn.modules.conv._ConvNd


def _fan_in(weight):
    return _schemes.compute_fans(tuple(weight.shape))[0]


def _defaults(module, mod_name, convention, initializer_range):
    """{param name: (fn, kwargs, description, padding_idx)} of torch's (or HF's) module defaults."""
    plan = {}

    def put(attr, fn, kwargs, desc, padding_idx=None):
        if getattr(module, attr, None) is not None and attr in module._parameters:
            plan[f"{mod_name}.{attr}" if mod_name else attr] = (fn, kwargs, desc, padding_idx)

    zeros = (_schemes.zeros_, {}, "zeros")
    ones = (_schemes.ones_, {}, "ones")
    if isinstance(module, _NORMS):  # _NormBase: BatchNorm, InstanceNorm, SyncBatchNorm
        put("weight", *ones)
        put("bias", *zeros)
    elif convention == "torch":
        if isinstance(module, (torch.nn.Linear, _CONVS)):
            put("weight", _schemes.linear_default_, {}, "linear_default (kaiming_uniform(a=sqrt(5)))")
            if isinstance(module.weight, torch.nn.Parameter):
                fan_in = _fan_in(module.weight)
                put("bias", _schemes.bias_uniform_, {"fan_in": fan_in}, f"bias_uniform(fan_in={fan_in})")
        elif isinstance(module, _EMBEDDINGS):
            put("weight", _schemes.embedding_default_, {}, "embedding_default (normal(0, 1))",
                module.padding_idx)
        elif isinstance(module, torch.nn.RNNBase):
            h = module.hidden_size
            for attr in module._parameters:
                put(attr, _schemes.rnn_default_, {"hidden_size": h}, f"rnn_default(hidden_size={h})")
        elif isinstance(module, torch.nn.MultiheadAttention):
            for attr in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
                put(attr, _schemes.xavier_uniform_, {}, "xavier_uniform")
            put("in_proj_bias", *zeros)
            for attr in ("bias_k", "bias_v"):
                put(attr, _schemes.xavier_normal_, {}, "xavier_normal")
            # MHA's _reset_parameters zeroes out_proj.bias (out_proj.weight keeps Linear's default)
            if module.out_proj.bias is not None:
                plan[f"{mod_name}.out_proj.bias" if mod_name else "out_proj.bias"] = (*zeros, None)
    elif convention == "hf":
        std = initializer_range
        if isinstance(module, torch.nn.Linear):
            put("weight", _schemes.hf_normal_, {"initializer_range": std}, f"hf_normal(initializer_range={std})")
            put("bias", *zeros)
        elif isinstance(module, _EMBEDDINGS):
            put("weight", _schemes.hf_normal_, {"initializer_range": std}, f"hf_normal(initializer_range={std})",
                module.padding_idx)
    return plan


def init_module(module, seed, rules=None, convention="torch", *, initializer_range=0.02, backend=None,
                threads=None):
    """Initialize every parameter of ``module`` in place, stream = the parameter's name; returns a report.

    Each parameter (as ``module.named_parameters()`` names it; a shared parameter once, under
    its first name) gets the first ``rules`` entry whose fnmatch pattern matches its name
    (a scheme spec for ``fastinit.schemes.parse``, e.g. ``{"*.bias": "zeros", "head.weight":
    "normal(std=0.01)"}``), else the ``convention``'s module default:

    - ``"torch"``: the modules' ``reset_parameters`` -- Linear/ConvNd weight
      ``linear_default_``, bias ``bias_uniform_(fan_in of the weight)``; Embedding(Bag)
      N(0, 1) with the ``padding_idx`` row 0; LayerNorm/GroupNorm/BatchNorm/InstanceNorm/
      RMSNorm weight 1, bias 0; RNN/LSTM/GRU ``rnn_default_``; MultiheadAttention's
      ``_reset_parameters``.
    - ``"hf"``: Linear and Embedding weights N(0, initializer_range^2) (padding row 0),
      Linear biases 0, norm weights 1 and biases 0.
    - ``None``: rules only.

    Any other parameter is left unchanged.  The report maps every parameter name to the
    scheme written, or to ``"unchanged (<Module> has no default rule)"``.  Every parameter
    is checked (``as_numpy``) and every rule parsed before the first write; buffers
    (BatchNorm running stats, ...) are not touched.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CONVENTIONS)}; got {convention!r}")
    rules = dict(rules or {})
    parsed = []
    for pattern, spec in rules.items():
        if not isinstance(pattern, str):
            raise TypeError(f"rules keys must be fnmatch patterns (str); got {pattern!r}")
        fn, kwargs = _schemes.parse(spec)
        parsed.append((pattern, fn, kwargs, spec))
    defaults, owner = {}, {}
    # children first, so that a parent's rule wins (MultiheadAttention zeroes out_proj.bias
    # after its Linear's reset_parameters, as torch does)
    for mod_name, mod in reversed(list(module.named_modules())):
        defaults.update(_defaults(mod, mod_name, convention, initializer_range))
        for attr in mod._parameters:
            owner[f"{mod_name}.{attr}" if mod_name else attr] = type(mod).__name__
    jobs, report = [], {}
    with torch.no_grad():
        for name, param in module.named_parameters():
            view = as_numpy(param, name)
            rule = next((r for r in parsed if fnmatch.fnmatchcase(name, r[0])), None)
            if rule is not None:
                jobs.append((name, param, view, rule[1], rule[2], None))
                report[name] = rule[3]
            elif name in defaults:
                fn, kwargs, desc, padding_idx = defaults[name]
                jobs.append((name, param, view, fn, kwargs, padding_idx))
                report[name] = desc
            else:
                report[name] = f"unchanged ({owner.get(name, 'the module')} has no default rule)"
        for name, param, view, fn, kwargs, padding_idx in jobs:
            fn(view, **kwargs, seed=seed, stream=name, backend=backend, threads=threads)
            if padding_idx is not None:
                view[padding_idx] = 0
            torch.autograd.graph.increment_version(param)
    return report
