"""PyTorch front end: fastinit's fills on CPU torch tensors, in place, zero copy.

``as_numpy(tensor)`` is a NumPy view of a tensor's memory; the drop-in names below have
``torch.nn.init``'s signatures plus keyword-only ``seed`` (required for random schemes) and
``stream``, and write through that view with fastinit's kernels, so a tensor gets exactly
the bits fastinit writes into a NumPy array of the same shape and dtype.
``init_module(module, seed)`` initializes a whole ``nn.Module`` with each parameter's name
as its stream.  docs/torch.md describes the rules and what is not covered.

``generator``: accepted for signature compatibility only.  fastinit draws from
``(seed, stream)``, never from a ``torch.Generator``; passing one raises a ValueError (a
silently ignored generator, or a seed read from ``generator.initial_seed()``, would make
two calls with the same generator give the same numbers, unlike torch).

>>> w = torch.empty(256, 128)
>>> fastinit.torch.kaiming_uniform_(w, a=5 ** 0.5, seed=0, stream="fc.weight")
"""

import fnmatch

import ml_dtypes
import torch

from . import fills as _fills
from . import schemes as _schemes
from .schemes import calculate_gain  # noqa: F401 (torch.nn.init.calculate_gain, same semantics)

_FLOAT = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_numpy(tensor, name="tensor"):
    """A zero-copy NumPy view of a CPU torch tensor of dtype float16/bfloat16/float32/float64.

    Writes to the view are writes to the tensor (bfloat16 is viewed as ``ml_dtypes.bfloat16``).
    Refuses, with a TypeError/ValueError and before anything is written: non-tensors,
    non-CPU or non-strided (sparse, ...) tensors, other dtypes, non-contiguous tensors,
    tensors with the negative bit set, and tensors that require grad while grad mode is
    enabled (torch.nn.init writes under ``torch.no_grad()``: do the same).
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(f"{name} is on device {tensor.device}; fastinit.torch writes CPU tensors only "
                         f"(fill on CPU, then .to({str(tensor.device)!r}))")
    if tensor.layout != torch.strided:
        raise ValueError(f"{name} has layout {tensor.layout}; expected a dense (torch.strided) tensor")
    if tensor.dtype not in _FLOAT:
        raise TypeError(f"{name} has dtype {tensor.dtype}; expected torch.float16, torch.bfloat16, "
                        f"torch.float32 or torch.float64")
    if not tensor.is_contiguous():
        raise ValueError(f"{name} is not contiguous (stride {tuple(tensor.stride())} for shape "
                         f"{tuple(tensor.shape)}); fastinit writes in place, so pass a contiguous tensor")
    if tensor.is_neg():
        raise ValueError(f"{name} has its negative bit set; call .resolve_neg() first")
    if tensor.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"{name} requires grad and grad mode is enabled: writing it in place would bypass "
                         f"autograd; use torch.no_grad() (as torch.nn.init does)")
    t = tensor.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def _no_generator(generator):
    if generator is not None:
        raise ValueError("fastinit.torch does not draw from a torch.Generator: its numbers depend only on "
                         "(seed, stream, element index); pass seed= (and stream=) instead of generator=")


def _apply(tensor, fn, *args, **kwargs):
    """Run the NumPy scheme ``fn`` on the tensor's view under no_grad; bump autograd's version."""
    with torch.no_grad():
        fn(as_numpy(tensor), *args, **kwargs)
    torch.autograd.graph.increment_version(tensor)  # as an in-place torch op would
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.uniform_``: U(a, b) in place; returns ``tensor``."""
    _no_generator(generator)
    return _apply(tensor, _fills.uniform_, a, b, seed=seed, stream=stream, backend=backend, threads=threads)


def normal_(tensor, mean=0.0, std=1.0, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.normal_``: N(mean, std^2) in place; returns ``tensor``."""
    _no_generator(generator)
    return _apply(tensor, _fills.normal_, mean, std, seed=seed, stream=stream, backend=backend, threads=threads)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None, *, seed, stream=0, backend=None,
                  threads=None):
    """``torch.nn.init.trunc_normal_``: N(mean, std^2) truncated to the absolute bounds [a, b]."""
    _no_generator(generator)
    return _apply(tensor, _fills.trunc_normal_, mean, std, a, b, bounds="absolute", seed=seed, stream=stream,
                  backend=backend, threads=threads)


def constant_(tensor, val):
    """``torch.nn.init.constant_``: every element ``val``; returns ``tensor``."""
    return _apply(tensor, _fills.constant_, val)


def ones_(tensor):
    """``torch.nn.init.ones_``; returns ``tensor``."""
    return _apply(tensor, _fills.ones_)


def zeros_(tensor):
    """``torch.nn.init.zeros_``; returns ``tensor``."""
    return _apply(tensor, _fills.zeros_)


def eye_(tensor):
    """``torch.nn.init.eye_``: the identity of a 2-D tensor; returns ``tensor``."""
    return _apply(tensor, _schemes.eye_)


def dirac_(tensor, groups=1):
    """``torch.nn.init.dirac_``: the Dirac delta of a 3/4/5-D convolution weight; returns ``tensor``."""
    return _apply(tensor, _schemes.dirac_, groups)


def xavier_uniform_(tensor, gain=1.0, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.xavier_uniform_``: U(-b, b), ``b = gain * sqrt(6 / (fan_in + fan_out))``."""
    _no_generator(generator)
    return _apply(tensor, _schemes.xavier_uniform_, gain, seed=seed, stream=stream, backend=backend,
                  threads=threads)


def xavier_normal_(tensor, gain=1.0, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.xavier_normal_``: N(0, std^2), ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    _no_generator(generator)
    return _apply(tensor, _schemes.xavier_normal_, gain, seed=seed, stream=stream, backend=backend,
                  threads=threads)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed, stream=0,
                     backend=None, threads=None):
    """``torch.nn.init.kaiming_uniform_``: U(-b, b), ``b = calculate_gain(nonlinearity, a) * sqrt(3 / fan_mode)``."""
    _no_generator(generator)
    return _apply(tensor, _schemes.kaiming_uniform_, a, mode, nonlinearity, seed=seed, stream=stream,
                  backend=backend, threads=threads)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed, stream=0,
                    backend=None, threads=None):
    """``torch.nn.init.kaiming_normal_``: N(0, std^2), ``std = calculate_gain(nonlinearity, a) / sqrt(fan_mode)``."""
    _no_generator(generator)
    return _apply(tensor, _schemes.kaiming_normal_, a, mode, nonlinearity, seed=seed, stream=stream,
                  backend=backend, threads=threads)


def orthogonal_(tensor, gain=1, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.orthogonal_``: a (semi-)orthogonal ``(shape[0], numel / shape[0])`` matrix times ``gain``."""
    _no_generator(generator)
    from .orthogonal import orthogonal_ as fill  # SciPy's LAPACK: loaded on first use

    return _apply(tensor, fill, gain, seed=seed, stream=stream, backend=backend, threads=threads)


def sparse_(tensor, sparsity, std=0.01, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.sparse_``: N(0, std^2) with ``ceil(sparsity * rows)`` zeros in every column."""
    _no_generator(generator)
    return _apply(tensor, _schemes.sparse_, sparsity, std, seed=seed, stream=stream, backend=backend,
                  threads=threads)


# ---------------------------------------------------------------- whole modules

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


__all__ = ["as_numpy", "calculate_gain", "constant_", "dirac_", "eye_", "init_module", "kaiming_normal_",
           "kaiming_uniform_", "normal_", "ones_", "orthogonal_", "sparse_", "trunc_normal_", "uniform_",
           "xavier_normal_", "xavier_uniform_", "zeros_"]
