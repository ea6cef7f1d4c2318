"""Whole modules: ``init_module`` by rules or a convention's module defaults, ``materialize``
for modules built on the meta device, and ``pretrained=`` loading from safetensors."""

import fnmatch
import json
import os

import torch

from .. import schemes as _schemes
from ..model import plan as _plan
from . import recorder as _recorder
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
        from safetensors import SafetensorError, safe_open  # the files extra: pip install fastinit[files]

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


class Entry:
    """One tensor of a plan: its canonical name, shape, dtype, ops, and whether it is a
    parameter or a (persistent) buffer."""

    __slots__ = ("name", "shape", "dtype", "ops", "kind", "persistent", "source")

    def __init__(self, name, shape, dtype, ops, kind, persistent, source):
        self.name, self.shape, self.dtype, self.ops = name, tuple(shape), dtype, tuple(ops)
        self.kind, self.persistent, self.source = kind, persistent, source

    def describe(self):
        return _plan.describe(self.ops)

    def __repr__(self):
        return f"Entry({self.name!r}, {list(self.shape)}, {self.dtype}, {self.describe()!r}, {self.source})"


class Plan:
    """What a module's init code writes, per tensor: ``entries`` (``{canonical name: Entry}``,
    parameters in ``named_parameters()`` order, then buffers), ``aliases`` (``{tied name:
    canonical name}``), ``problems`` (``{name: [why it cannot be written]}``) and ``ran``
    (the init code that was recorded).  ``check()`` raises the problems as one ValueError."""

    def __init__(self, entries, aliases, problems, ran):
        self.entries, self.aliases, self.problems, self.ran = entries, aliases, problems, ran

    def check(self, skip=()):
        problems = {n: why for n, why in self.problems.items() if n not in skip}
        if problems:
            lines = "\n".join(f"  {n}: {'; '.join(dict.fromkeys(why))}" for n, why in problems.items())
            first = next(iter(problems))
            raise ValueError(
                f"{len(problems)} tensor(s) cannot be initialized from the model's init code ({self.ran}):\n{lines}\n"
                f"give each a rule, e.g. rules={{{first!r}: 'normal(std=0.02)'}} (a scheme spec, "
                f"fastinit.schemes.parse), or for a computed buffer buffers={{{first!r}: tensor}}")
        return self


def _rule_op(spec):
    fn, kwargs = _schemes.parse(spec)
    name = spec.split("(")[0].strip()
    return _plan.scheme_op(_schemes.get(name).name, **kwargs)


def plan(module, rules=None, *, init="auto", buffers=None):
    """The ``Plan`` of ``module``: its own init code recorded (``fastinit.torch.recorder``),
    then ``rules`` (``{fnmatch pattern: scheme spec}``, the first match wins, on the whole
    tensor) and ``buffers`` (``{name: tensor}``, values for computed buffers) applied.

    A tied parameter is one entry under its first name (``named_parameters()``); its ops are
    that name's (transformers ties after initializing, so the embedding's init wins over
    the head's), or the first alias's when the first name got none.  A parameter or a
    meta-device buffer that no op covers entirely is a problem; so is any write the
    recorder cannot express.  Buffers not on the meta device and not written keep their
    values.  Nothing is written.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if not (init in ("auto", "reset_parameters", None) or callable(init)):
        raise ValueError(f"init must be 'auto', 'reset_parameters', None or a callable(module); got {init!r}")
    parsed = [(pattern, _rule_op(spec), spec) for pattern, fn, kwargs, spec in _parse_rules(rules, None)]
    buffers = dict(buffers or {})
    for key, value in buffers.items():
        if not isinstance(value, torch.Tensor) or value.is_meta:
            raise TypeError(f"buffers[{key!r}] must be a CPU torch.Tensor; got {type(value).__name__}")
    ops, problems, ran = _recorder.record(module, init)
    problems = {n: list(w) for n, w in problems.items()}
    groups = {}   # id(tensor) -> [slot names], first = canonical
    persistent = {}
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for attr in mod._buffers:
            persistent[f"{mod_name}.{attr}" if mod_name else attr] = attr not in mod._non_persistent_buffers_set
    canonical = [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]
    slots = _recorder._slots(module)
    for name in canonical:
        groups.setdefault(id(slots[name][3]), []).append(name)
    for name, (_, _, _, t) in slots.items():
        if name not in groups.get(id(t), ()):
            groups[id(t)].append(name)
    known = set(slots)
    for key in buffers:
        if key not in known:
            raise ValueError(f"buffers: {key!r} is not a buffer of the module")
    entries, aliases = {}, {}
    for names in groups.values():
        first = names[0]
        t = slots[first][3]
        for alias in names[1:]:
            aliases[alias] = first
        chosen = next((n for n in names if ops.get(n)), first)
        mine = list(ops.get(chosen, ()))
        why = [w for n in names for w in problems.pop(n, ())]
        source = ran if mine else None
        rule = next((r for r in parsed if any(fnmatch.fnmatchcase(n, r[0]) for n in names)), None)
        if first in buffers:
            value = buffers[first].detach()
            if tuple(value.shape) != tuple(t.shape):
                raise ValueError(f"buffers[{first!r}]: shape {tuple(value.shape)}, the buffer's {tuple(t.shape)}")
            mine = [_plan.Op("values", values=(value.float() if value.dtype in (torch.bfloat16, torch.float16)
                                               else value).numpy().copy())]
            why, source = [], "buffers="
        elif rule is not None:
            mine, why, source = [rule[1]], [], f"rule {rule[0]!r}"
        kind = "parameter" if isinstance(t, torch.nn.Parameter) else "buffer"
        if not why and (kind == "parameter" or t.is_meta):
            if not mine:
                why = [f"not written by the init code ({ran})"]
            elif t.ndim == 0 and any(o.rows is not None for o in mine):
                why = ["row writes on a 0-d tensor"]
            else:
                gaps = _plan.uncovered(mine, t.shape[0] if t.ndim else 1)
                if gaps:
                    why = [f"rows {', '.join(f'{a}:{b}' for a, b in gaps)} not written by the init code ({ran})"]
        if why:
            problems[first] = why
        entries[first] = Entry(first, t.shape, t.dtype, mine, kind, persistent.get(first, True), source)
    return Plan(entries, aliases, problems, ran)


def _write(tensor, entry, seed, backend, threads):
    if tensor.dtype in _FLOAT:
        view = as_numpy(tensor, entry.name)
    else:
        view = tensor.detach().numpy()
    _plan.fill(view, entry.ops, seed=seed, stream=entry.name, backend=backend, threads=threads)
    torch.autograd.graph.increment_version(tensor)


def materialize(module, seed, rules=None, *, init="auto", dtype=None, buffers=None, pretrained=None, backend=None,
                threads=None):
    """Give a module built on the meta device real CPU memory, initialized as its own init
    code would, by fastinit; returns the module (as ``Module.to_empty`` does), with the
    ``InitReport`` as ``module.fastinit_report``.

    The module's init code -- every submodule's ``reset_parameters``, then transformers'
    ``initialize_weights`` (or the model's ``init_weights()`` / ``apply(_init_weights)``),
    or ``init(module)`` -- is recorded on meta placeholders (``plan``), never run on memory;
    the plan is replayed with fastinit's fills, each tensor's name as its stream, rows
    blocks as ``"name[lo:hi]"``.  Buffers the init code computes (rotary frequencies,
    position ids) get its values; ties stay ties; ``rules`` and ``buffers`` override.
    With ``pretrained`` (safetensors file or directory), matching parameters are loaded.

    Never garbage: every meta parameter and buffer is written by the plan, a rule, a buffer
    value or the checkpoint, or nothing is allocated and a ValueError lists what is missing
    and how to give a rule.  ``dtype`` converts floating parameters (buffers keep theirs).

    >>> with torch.device("meta"):
    ...     model = MyModel()
    >>> model = fastinit.torch.materialize(model, seed=0, dtype=torch.bfloat16)
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if dtype is not None and dtype not in _FLOAT:
        raise TypeError(f"dtype must be torch.float16, torch.bfloat16, torch.float32, torch.float64 or None; "
                        f"got {dtype!r}")
    from ..rng import key_words

    key_words(seed)
    p = plan(module, rules, init=init, buffers=buffers)
    checkpoint = _Checkpoint(pretrained) if pretrained is not None else None
    report = InitReport()
    report.plan = p
    loads, mismatched = set(), {}
    if checkpoint is not None:
        for name, e in p.entries.items():
            if e.kind == "parameter" and name in checkpoint:
                fake = torch.empty(e.shape, dtype=dtype if dtype is not None and e.dtype in _FLOAT else e.dtype,
                                   device="meta")
                why = checkpoint.mismatch(name, fake)
                if why is None:
                    loads.add(name)
                else:
                    mismatched[name] = why
    slots = _recorder._slots(module)
    todo = [e for e in p.entries.values() if slots[e.name][3].is_meta]
    p.check(skip=loads | {e.name for e in p.entries.values() if not slots[e.name][3].is_meta})
    new = {}
    for e in todo:
        dt = dtype if dtype is not None and e.kind == "parameter" and e.dtype in _FLOAT else e.dtype
        t = torch.empty(e.shape, dtype=dt)
        old = slots[e.name][3]
        new[id(old)] = torch.nn.Parameter(t, requires_grad=old.requires_grad) if e.kind == "parameter" else t
    for name, (mod, table, attr, t) in slots.items():
        if id(t) in new:
            table[attr] = new[id(t)]
    with torch.no_grad():
        for e in todo:
            t = new[id(slots[e.name][3])]
            if e.name in loads:
                checkpoint.load(e.name, t)
                report[e.name] = f"loaded from {checkpoint.file(e.name)}"
                report.loaded.append(e.name)
                continue
            _write(t, e, seed, backend, threads)
            report[e.name] = e.describe() + (f" ({e.source})" if e.source and not e.source.startswith(p.ran) else "")
            if e.kind == "parameter":
                report.initialized.append(e.name)
    report.mismatched = mismatched
    if checkpoint is not None:
        report.unexpected = sorted(set(checkpoint.where) - set(p.entries) - set(p.aliases))
    module.fastinit_report = report
    return module
