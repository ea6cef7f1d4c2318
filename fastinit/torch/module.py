"""Whole modules: ``init_module`` by rules or a convention's module defaults, ``materialize``
for modules built on the meta device, and ``pretrained=`` loading from safetensors."""

import fnmatch
import json
import os

import torch

from .. import schemes as _schemes
from .._extras import require
from .tensors import _FLOAT, as_numpy

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


class InitReport(dict):
    """What ``init_module``/``materialize`` did: ``{parameter name: description}``, plus lists.

    ``loaded`` (copied from the checkpoint), ``initialized`` (written by a scheme),
    ``mismatched`` (``{name: reason}``: in the checkpoint but not loadable -- shape or dtype
    -- so initialized instead), ``unexpected`` (checkpoint tensors that are no parameter of the
    module), ``unchanged`` (no rule, no default, not in the checkpoint).
    """

    def __init__(self):
        super().__init__()
        self.loaded, self.initialized, self.unchanged, self.unexpected = [], [], [], []
        self.mismatched = {}

    def summary(self):
        return (f"{len(self.loaded)} loaded, {len(self.initialized)} initialized, {len(self.mismatched)} "
                f"mismatched, {len(self.unchanged)} unchanged, {len(self.unexpected)} unexpected")


def _parse_rules(rules, convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CONVENTIONS)}; got {convention!r}")
    parsed = []
    for pattern, spec in dict(rules or {}).items():
        if not isinstance(pattern, str):
            raise TypeError(f"rules keys must be fnmatch patterns (str); got {pattern!r}")
        fn, kwargs = _schemes.parse(spec)
        parsed.append((pattern, fn, kwargs, spec))
    return parsed


class _Checkpoint:
    """The tensors of a safetensors file, or of a directory holding ``model.safetensors`` or
    Hugging Face shards with ``model.safetensors.index.json``; headers are read up front."""

    def __init__(self, path):
        safetensors = require("safetensors", "torch", "pretrained=")
        SafetensorError, safe_open = safetensors.SafetensorError, safetensors.safe_open

        path = os.fspath(path)
        if os.path.isdir(path):
            index = os.path.join(path, "model.safetensors.index.json")
            if os.path.exists(index):
                with open(index) as f:
                    files = sorted(set(json.load(f)["weight_map"].values()))
                files = [os.path.join(path, name) for name in files]
            elif os.path.exists(os.path.join(path, "model.safetensors")):
                files = [os.path.join(path, "model.safetensors")]
            else:
                raise ValueError(f"pretrained: {path} holds neither model.safetensors nor "
                                 f"model.safetensors.index.json")
        elif os.path.isfile(path):
            files = [path]
        else:
            raise ValueError(f"pretrained: no such file or directory: {path!r}")
        self.where = {}
        for file in files:
            try:
                handle = safe_open(file, framework="pt", device="cpu")
            except (SafetensorError, OSError) as exc:
                raise ValueError(f"pretrained: {file}: not a readable safetensors file ({exc})") from None
            for name in handle.keys():
                self.where[name] = (file, handle)

    def __contains__(self, name):
        return name in self.where

    def mismatch(self, name, param):
        """Why the checkpoint's ``name`` cannot be loaded into ``param``, or None."""
        sl = self.where[name][1].get_slice(name)
        shape, dtype = tuple(sl.get_shape()), sl.get_dtype()
        if shape != tuple(param.shape):
            return f"checkpoint shape {shape}, parameter shape {tuple(param.shape)}"
        if dtype not in ("F16", "BF16", "F32", "F64"):
            return f"checkpoint dtype {dtype} is not a float type"
        return None

    def load(self, name, param):
        param.copy_(self.where[name][1].get_tensor(name))  # converts the dtype if they differ

    def file(self, name):
        return self.where[name][0]


def init_module(module, seed, rules=None, convention="torch", *, pretrained=None, initializer_range=0.02,
                backend=None, threads=None):
    """Initialize every parameter of ``module`` in place, stream = the parameter's name; returns an
    ``InitReport``.

    With ``pretrained`` (a ``.safetensors`` file, or a directory with ``model.safetensors`` or
    Hugging Face shards and their index), a parameter whose name is in the checkpoint with
    the same shape (and a float dtype) is loaded from it, converted to the parameter's dtype;
    the rest are initialized as below, and the report lists loaded / initialized /
    mismatched / unexpected names.

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
    parsed = _parse_rules(rules, convention)
    checkpoint = _Checkpoint(pretrained) if pretrained is not None else None
    defaults, owner = {}, {}
    # children first, so that a parent's rule wins (MultiheadAttention zeroes out_proj.bias
    # after its Linear's reset_parameters, as torch does)
    for mod_name, mod in reversed(list(module.named_modules())):
        defaults.update(_defaults(mod, mod_name, convention, initializer_range))
        for attr in mod._parameters:
            owner[f"{mod_name}.{attr}" if mod_name else attr] = type(mod).__name__
    jobs, loads, report = [], [], InitReport()
    with torch.no_grad():
        for name, param in module.named_parameters():
            view = as_numpy(param, name)
            if checkpoint is not None and name in checkpoint:
                why = checkpoint.mismatch(name, param)
                if why is None:
                    loads.append((name, param))
                    report[name] = f"loaded from {checkpoint.file(name)}"
                    report.loaded.append(name)
                    continue
                report.mismatched[name] = why
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
                report.unchanged.append(name)
                continue
            report.initialized.append(name)
        if checkpoint is not None:
            report.unexpected = sorted(set(checkpoint.where) - set(report))
        for name, param in loads:
            checkpoint.load(name, param)
            torch.autograd.graph.increment_version(param)
        for name, param, view, fn, kwargs, padding_idx in jobs:
            fn(view, **kwargs, seed=seed, stream=name, backend=backend, threads=threads)
            if padding_idx is not None:
                view[padding_idx] = 0
            torch.autograd.graph.increment_version(param)
    return report


def materialize(module, seed, rules=None, convention="torch", *, dtype=None, pretrained=None,
                initializer_range=0.02, backend=None, threads=None):
    """Give a module built on the meta device real CPU storage, initialized by fastinit; returns
    ``init_module``'s ``InitReport``.

    The ``init_empty_weights`` / ``to_empty`` workflow without torch's own init ever running:
    every parameter on the meta device is replaced by a new ``nn.Parameter`` of
    uninitialized CPU memory (``dtype`` if given, for float parameters; tied parameters stay
    tied), then ``init_module(module, seed, rules, convention, pretrained=...)`` writes every
    parameter, each once.  Meta buffers of BatchNorm/InstanceNorm get their running statistics
    reset (``reset_running_stats``); any other meta buffer (a value computed at construction,
    such as rotary frequencies) cannot be recovered and is refused -- build the model with
    buffers on the CPU (``accelerate.init_empty_weights(include_buffers=False)``, its default).
    Rules, ``convention``, ``dtype``, ``pretrained`` and the buffers are checked before anything
    is allocated.

    >>> with torch.device("meta"):
    ...     model = MyModel()
    >>> report = fastinit.torch.materialize(model, seed=0, dtype=torch.bfloat16)
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if dtype is not None and dtype not in _FLOAT:
        raise TypeError(f"dtype must be torch.float16, torch.bfloat16, torch.float32, torch.float64 or None; "
                        f"got {dtype!r}")
    _parse_rules(rules, convention)
    if pretrained is not None:
        _Checkpoint(pretrained)
    stats = []
    for mod_name, mod in module.named_modules():
        for attr, buf in mod._buffers.items():
            if buf is None or not buf.is_meta:
                continue
            if not isinstance(mod, torch.nn.modules.batchnorm._NormBase):
                name = f"{mod_name}.{attr}" if mod_name else attr
                raise ValueError(f"buffer {name!r} ({type(mod).__name__}) is on the meta device and its value "
                                 f"cannot be recovered; create buffers on the CPU (e.g. "
                                 f"accelerate.init_empty_weights(include_buffers=False))")
            stats.append(mod)
    new = {}
    for mod in module.modules():
        for attr, param in mod._parameters.items():
            if param is None or not param.is_meta:
                continue
            if id(param) not in new:  # a tied parameter gets one tensor
                dt = dtype if dtype is not None and param.is_floating_point() else param.dtype
                new[id(param)] = torch.nn.Parameter(torch.empty(param.shape, dtype=dt),
                                                    requires_grad=param.requires_grad)
            mod._parameters[attr] = new[id(param)]
    for mod in dict.fromkeys(stats):
        for attr, buf in mod._buffers.items():
            if buf is not None and buf.is_meta:
                mod._buffers[attr] = torch.empty(buf.shape, dtype=buf.dtype)
        mod.reset_running_stats()
    return init_module(module, seed, rules, convention, pretrained=pretrained, initializer_range=initializer_range,
                       backend=backend, threads=threads)
