"""Whole modules, one engine: a ``Plan`` (per tensor, ``fastinit.model.plan`` ops),
checked before the first write, replayed with each tensor's name as its stream, reported
as an ``InitReport``.  ``plan`` records what a module's own init code writes
(``fastinit.torch.recorder``); ``init_module_`` replays it into a module's tensors,
``materialize`` into new memory for a module built on the meta device (both take
``rules`` and ``pretrained=``, loading from safetensors); the data- and
architecture-dependent schemes (``fastinit.torch.datadep``) build their plan with
``explicit_plan`` and write it with ``write_``."""

import fnmatch
import json
import os

import torch

from .. import schemes as _schemes
from .._extras import require
from .._validate import check_backend, check_threads, u64
from ..model import plan as _plan
from ..model import replay as _replay
from . import arena as _arena
from . import recorder as _recorder
from . import dtensor as _dtensor
from .tensors import _FLOAT, as_numpy, inference_refusal


class InitReport(dict):
    """What ``init_module_``, ``materialize``, ``lsuv_``, ``fixup_`` or ``t_fixup_`` did:
    ``{tensor name: description}`` (parameters and buffers written, e.g. ``"normal(mean=0.0,
    std=0.02); zeros on rows 0:1"``, then why in brackets when not the model's init code),
    plus lists.

    ``loaded`` (copied from the checkpoint), ``initialized`` (parameters written by the plan),
    ``mismatched`` (``{name: reason}``: in the checkpoint but not loadable -- shape or dtype
    -- so initialized instead), ``unexpected`` (checkpoint tensors that are no parameter of the
    module), ``unchanged`` (real parameters no init code writes: kept), ``plan`` (the ``Plan``).
    """

    def __init__(self):
        super().__init__()
        self.loaded, self.initialized, self.unchanged, self.unexpected = [], [], [], []
        self.mismatched = {}

    def summary(self):
        return (f"{len(self.loaded)} loaded, {len(self.initialized)} initialized, {len(self.mismatched)} "
                f"mismatched, {len(self.unchanged)} unchanged, {len(self.unexpected)} unexpected")


def _parse_rules(rules):
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
                try:
                    with open(index) as f:
                        files = sorted(set(json.load(f)["weight_map"].values()))
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise ValueError(f"pretrained: {index}: not a shard index with a weight_map of file names "
                                     f"({type(exc).__name__}: {exc})") from None
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

    def reader(self, name):
        """``read(view, offset)``: copy the block of ``name`` at ``offset`` of ``view``'s shape
        into ``view``, converting the dtype as ``load`` does, reading only that block's bytes
        (``get_slice``: the file is memory-mapped, a slice is not the whole tensor)."""
        stored = self.where[name][1].get_slice(name)

        def read(view, offset):
            view.copy_(stored[tuple(slice(o, o + n) for o, n in zip(offset, view.shape))])
        return read

    def file(self, name):
        return self.where[name][0]


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
            params = [n for n in problems if n not in self.entries or self.entries[n].kind == "parameter"]
            bufs = [n for n in problems if n not in params]
            hints = ([f"rules={{{params[0]!r}: 'normal(std=0.02)'}} (a scheme spec, fastinit.schemes.parse) for "
                      f"parameters"] if params else []) + (
                [f"buffers={{{bufs[0]!r}: tensor}} for buffers"] if bufs else [])
            raise ValueError(
                f"{len(problems)} tensor(s) cannot be initialized from the model's init code ({self.ran}):\n{lines}\n"
                f"give each its value: {'; '.join(hints)}")
        return self


def _rule_op(spec):
    fn, kwargs = _schemes.parse(spec)
    name = spec.split("(")[0].strip()
    return _plan.scheme_op(_schemes.get(name).name, **kwargs)


def plan(module, rules=None, *, init="auto", buffers=None):
    """The ``Plan`` of ``module``: its own init code recorded (``fastinit.torch.recorder``),
    then ``rules`` (``{fnmatch pattern: scheme spec}`` for parameters, the first match wins,
    on the whole tensor) and ``buffers`` (``{name: tensor}``, values for buffers) applied.

    A tied parameter is one entry under its first name (``named_parameters()``); its ops are
    that name's (transformers ties after initializing, so the embedding's init wins over
    the head's), or the first alias's when the first name got none.  A parameter or a
    meta-device buffer that no op covers entirely is a problem; so is any write the
    recorder cannot express.  Buffers not on the meta device and not written keep their
    values.  Nothing is written.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if not (isinstance(init, _recorder.Construction) or callable(init)
            or (isinstance(init, str) or init is None) and init in ("auto", "reset_parameters", None)):
        raise ValueError(f"init must be 'auto', 'reset_parameters', None, a callable(module) or a "
                         f"fastinit.torch.recording(); got {init!r}")
    parsed = [(pattern, _rule_op(spec), spec) for pattern, fn, kwargs, spec in _parse_rules(rules)]
    buffers = dict(buffers or {})
    for key, value in buffers.items():
        if not isinstance(value, torch.Tensor) or value.device.type != "cpu":
            got = f"a tensor on {value.device}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise TypeError(f"buffers[{key!r}] must be a CPU torch.Tensor; got {got}")
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
        kind = "parameter" if isinstance(t, torch.nn.Parameter) else "buffer"
        rule = None if kind == "buffer" else next(
            (r for r in parsed if any(fnmatch.fnmatchcase(n, r[0]) for n in names)), None)
        if first in buffers:
            value = buffers[first].detach()
            if tuple(value.shape) != tuple(t.shape):
                raise ValueError(f"buffers[{first!r}]: shape {tuple(value.shape)}, the buffer's {tuple(t.shape)}")
            mine = [_plan.Op("values", values=(value.float() if value.dtype in (torch.bfloat16, torch.float16)
                                               else value).numpy().copy())]
            why, source = [], "buffers="
        elif rule is not None:
            mine, why, source = [rule[1]], [], f"rule {rule[0]!r}"
        if not why and t.is_meta:   # a real tensor nobody writes keeps its values
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


def _empty(shape, dtype, device="cpu"):
    """New memory, untouched: its first write is the fill's (or the checkpoint's)."""
    return torch.empty(shape, dtype=dtype, device=device)


def _dtype_of(entry, dtype):
    """The dtype ``materialize`` gives ``entry``: ``dtype`` for floating parameters, else its own."""
    return dtype if dtype is not None and entry.kind == "parameter" and entry.dtype in _FLOAT else entry.dtype


def _view(tensor, name):
    return as_numpy(tensor, name) if tensor.dtype in _FLOAT else tensor.detach().numpy()


def _filler(entry, seed, backend, threads):
    """``fill(view, offset)``: the block of ``entry``'s whole-tensor fill at ``offset``."""
    def fill(view, offset):
        _plan.fill(_view(view, entry.name), entry.ops, seed=seed, stream=entry.name, global_shape=entry.shape,
                   offset=offset, backend=backend, threads=threads)
    return fill


def _shard(name, e, t, report):
    """The global indices of the DTensor ``t``'s local shard, checked before anything is written:
    a placement that cannot be written locally is a ValueError naming ``name``."""
    if not (e.ops or name in report.loaded):
        return None
    return _dtensor.local_indices(name, e.shape, t.device_mesh, t.placements)


def _apply(p, seed, targets, checkpoint, report, backend, threads, fresh=False):
    """Load or write every entry named in ``targets`` (``{name: (tensor, shard)}``; ``shard``
    the global indices of a DTensor's local shard, else None), recording it in ``report``.
    A DTensor's local shard is written alone: its block of the checkpoint or of the fill.  The
    other tensors' fills are written together (``fastinit.model.replay``: every thread busy
    across them); ``fresh``: they are new untouched memory (``materialize``), each written in full."""
    jobs, written = [], []
    with torch.no_grad():
        for name, (t, shard) in targets.items():
            e = p.entries[name]
            loaded = name in report.loaded
            if not (loaded or e.ops):
                report[name] = f"unchanged ({e.source or 'no init code writes it'})"
                if e.kind == "parameter":
                    report.unchanged.append(name)
                continue
            if shard is not None:
                write = checkpoint.reader(name) if loaded else _filler(e, seed, backend, threads)
                # rows no op writes keep their values, also through a staging buffer
                keep = not loaded and bool(_plan.uncovered(e.ops, e.shape[0] if e.shape else 1))
                _dtensor.write_local(t.to_local(), shard, write, keep)
                torch.autograd.graph.increment_version(t)
            elif loaded:
                checkpoint.load(name, t)
                torch.autograd.graph.increment_version(t)
            else:
                jobs.append((_view(t, name), e.ops, name))
                written.append(t)
            if loaded:
                report[name] = f"loaded from {checkpoint.file(name)}"
            else:
                report[name] = e.describe() + (f" [{e.source}]" if e.source and e.source != p.ran else "")
                if e.kind == "parameter":
                    report.initialized.append(name)
            if shard is not None:
                report[name] += f" (local shard {list(t.to_local().shape)} of {list(e.shape)})"
        _replay.fill_all(jobs, seed=seed, backend=backend, threads=threads, fresh=fresh)
    for t in written:
        torch.autograd.graph.increment_version(t)
    if checkpoint is not None:
        report.unexpected = sorted(set(checkpoint.where) - set(p.entries) - set(p.aliases))
    return report


def _check_ops(p, seed, dtype=None, skip=()):
    """Every entry's ops checked against its shape and dtype (``fastinit.model.plan.check``)
    before the first write: a rule whose scheme does not fit a tensor changes nothing."""
    for name, e in p.entries.items():
        if e.ops and name not in skip:
            _plan.check(e.ops, e.shape, _view(torch.empty(0, dtype=_dtype_of(e, dtype)), name).dtype, seed=seed,
                        stream=name)


def check_keywords(seed, backend, threads):
    """The keywords every writer here takes (the streams are the tensors' names: no ``stream``)."""
    u64(seed, "seed")
    check_backend(backend)
    check_threads(threads)


def _prepare(module, seed, rules, init, buffers, pretrained, dtype, backend, threads):
    """Validate everything, record the plan, match the checkpoint: ``(plan, checkpoint, report)``."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    check_keywords(seed, backend, threads)
    checkpoint = _Checkpoint(pretrained) if pretrained is not None else None
    p = plan(module, rules, init=init, buffers=buffers)
    report = InitReport()
    report.plan = p
    if checkpoint is not None:
        for name, e in p.entries.items():
            if e.kind == "parameter" and name in checkpoint:
                why = checkpoint.mismatch(name, torch.empty(e.shape, dtype=_dtype_of(e, dtype), device="meta"))
                if why is None:
                    report.loaded.append(name)
                else:
                    report.mismatched[name] = why
        for name, why in p.problems.items():     # why the checkpoint does not supply it either
            if name in report.mismatched:
                why.insert(0, f"in the checkpoint but not loadable ({report.mismatched[name]})")
            elif name in p.entries and p.entries[name].kind == "parameter":
                why.insert(0, "not in the checkpoint")
    p.check(skip=set(report.loaded))
    _check_ops(p, seed, dtype, skip=set(report.loaded))
    return p, checkpoint, report


def _targets(module, p, report):
    """``{name: (tensor, shard)}`` of every entry of ``p`` in ``module`` (``shard``: a DTensor's
    local indices, else None), each tensor to be written checked (torch's refusal of an
    inference tensor for any dtype, ``as_numpy``, DTensor placements) before the first write."""
    slots = _recorder._slots(module)
    targets = {}
    for name, e in p.entries.items():
        t = slots[name][3]
        if t.is_meta:
            raise ValueError(f"{name} is on the meta device: use fastinit.torch.materialize(module, seed)")
        refusal = inference_refusal(t, name) if e.ops or name in report.loaded else None
        if refusal:   # an int buffer too: its NumPy view is written where torch never checks
            raise ValueError(refusal)
        shard = None
        if _dtensor.is_dtensor(t):       # refuse a placement before the first write
            shard = _shard(name, e, t, report)
            local = t.to_local()
            if shard is not None and t.dtype in _FLOAT and local.device.type == "cpu" and local.is_contiguous():
                as_numpy(local.detach(), name)   # written in place (else through a staging buffer)
        elif (e.ops or name in report.loaded) and t.dtype in _FLOAT:
            as_numpy(t.detach(), name)   # refuse before the first write
        targets[name] = (t, shard)
    return targets


def init_module_(module, seed, rules=None, *, init="auto", buffers=None, pretrained=None, backend=None,
                 threads=None):
    """Initialize ``module``'s parameters and buffers in place as its own init code would,
    by fastinit; returns an ``InitReport``.

    The same engine as ``materialize`` (``plan``, then each tensor filled with its name as
    the stream), on a module whose tensors already have memory: a tensor no init code or
    rule writes keeps its values (reported "unchanged").  ``init``, ``rules``, ``buffers``
    and ``pretrained`` as for ``materialize``.  Every tensor to write is checked
    (``as_numpy``) before the first write.
    """
    p, checkpoint, report = _prepare(module, seed, rules, init, buffers, pretrained, None, backend, threads)
    return _apply(p, seed, _targets(module, p, report), checkpoint, report, backend, threads)


def explicit_plan(module, ops, sources, ran, unchanged):
    """The ``Plan`` that writes ``ops`` (``{parameter name: (Op, ...)}``, first names as
    ``named_parameters()`` gives them) and nothing else: ``sources`` (``{name: why}``) label
    the written entries in the report, ``unchanged(name)`` says why a parameter is not
    written, ``ran`` names the code that made the plan."""
    entries, aliases, first = {}, {}, {}
    for name, t in module.named_parameters(remove_duplicate=False):
        if id(t) in first:
            aliases[name] = first[id(t)]
            continue
        first[id(t)] = name
        mine = tuple(ops.get(name, ()))
        entries[name] = Entry(name, t.shape, t.dtype, mine, "parameter", True,
                              sources.get(name, ran) if mine else unchanged(name))
    unknown = set(ops) - set(entries)
    if unknown:
        raise AssertionError(f"ops for tensors that are no first-named parameter: {sorted(unknown)}")
    return Plan(entries, aliases, {}, ran)


def write_(module, p, seed, *, backend=None, threads=None):
    """Write the plan ``p`` into ``module``'s own tensors (each tensor's name its stream),
    every tensor and keyword checked before the first write; returns the ``InitReport``."""
    check_keywords(seed, backend, threads)
    p.check()
    _check_ops(p, seed)
    report = InitReport()
    report.plan = p
    return _apply(p, seed, _targets(module, p, report), None, report, backend, threads)


def _repoint(module, new):
    """Plain attributes that held a replaced meta tensor (transformers 4.x's ``self.original_inv_freq
    = self.inv_freq``) hold its replacement, so no meta tensor is left reachable."""
    for mod in module.modules():
        for key, value in list(vars(mod).items()):
            if isinstance(value, torch.Tensor) and id(value) in new:
                object.__setattr__(mod, key, new[id(value)])


def materialize(module, seed, rules=None, *, init="auto", dtype=None, buffers=None, pretrained=None, backend=None,
                threads=None):
    """Give a module built on the meta device real CPU memory, initialized as its own init
    code would, by fastinit; returns the module (as ``Module.to_empty`` does), with the
    ``InitReport`` as ``module.fastinit_report``.

    The module's init code -- every submodule's ``reset_parameters``, then transformers'
    ``initialize_weights`` (or the model's ``init_weights()`` / ``apply(_init_weights)``),
    or ``init(module)`` -- is recorded on meta placeholders (``plan``), never run on memory;
    the plan is replayed with fastinit's fills, each tensor's name as its stream, row
    blocks as ``"name[lo:hi]"``.  Buffers the init code computes (rotary frequencies,
    position ids) get its values; ties stay ties; ``rules`` (``{fnmatch pattern: scheme
    spec}``) and ``buffers`` (``{name: tensor}``) override.  With ``pretrained``
    (a safetensors file or a directory of shards), matching parameters are loaded.

    Never garbage: every meta parameter and buffer is written by the plan, a rule, a buffer
    value or the checkpoint -- or nothing is allocated and a ValueError lists what is
    missing and how to give a rule.  ``dtype`` converts floating parameters (buffers keep
    theirs).  Tensors not on the meta device are left as they are.

    DTensor parameters (FSDP2's ``fully_shard``, ``parallelize_module``, both on a 2-D mesh):
    each rank allocates only its local shard and fills it with that block's bits of the
    one-process fill (``fastinit.torch.dtensor``; global fans and indices, no communication)
    or, with ``pretrained``, reads only that block of the stored tensor (``get_slice``);
    on a mesh not on the CPU, through a pinned staging buffer copied asynchronously.

    >>> with torch.device("meta"):
    ...     model = MyModel()
    >>> model = fastinit.torch.materialize(model, seed=0, dtype=torch.bfloat16)
    """
    if dtype is not None and dtype not in _FLOAT:
        raise TypeError(f"dtype must be torch.float16, torch.bfloat16, torch.float32, torch.float64 or None; "
                        f"got {dtype!r}")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    check_keywords(seed, backend, threads)   # before tie_weights touches the module
    if _recorder._is_hf(module) and callable(getattr(module, "tie_weights", None)):
        module.tie_weights()   # the ties the config declares (accelerate's empty weights can lose them)
    p, checkpoint, report = _prepare(module, seed, rules, init, buffers, pretrained, dtype, backend, threads)
    slots = _recorder._slots(module)
    olds = {name: slots[name][3] for name in p.entries if slots[name][3].is_meta}
    shards = {name: _dtensor.local_indices(name, p.entries[name].shape, old.device_mesh, old.placements)
              for name, old in olds.items() if _dtensor.is_dtensor(old)}   # refused before any allocation
    news = []
    plain = [(name, old, _dtype_of(p.entries[name], dtype)) for name, old in olds.items() if name not in shards]
    # one mapping for the unsharded ones (huge pages where they help), untouched until each block's fill
    news.extend(zip(plain, _arena.empty_many([(p.entries[name].shape, dt) for name, _, dt in plain])))
    for name in shards:                  # only this rank's shard, on the mesh's device
        old = olds[name]
        dt = _dtype_of(p.entries[name], dtype)
        local = _empty(tuple(len(ix) for ix in shards[name]), dt, old.device_mesh.device_type)
        news.append(((name, old, dt), _dtensor.from_local(local, old)))
    new, targets = {}, {}
    for (name, old, _), t in news:
        e = p.entries[name]
        new[id(old)] = torch.nn.Parameter(t, requires_grad=old.requires_grad) if e.kind == "parameter" else t
        targets[name] = (new[id(old)], shards.get(name))
    _apply(p, seed, targets, checkpoint, report, backend, threads, fresh=True)
    # into the module only once written: an interrupted fill leaves it on meta, not half-written
    for mod, table, attr, t in slots.values():
        if id(t) in new:
            table[attr] = new[id(t)]
    module.fastinit_report = report
    _repoint(module, new)
    return module
