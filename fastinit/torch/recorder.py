"""Record a module's own init code as a plan, on meta placeholders, writing nothing.

``record(module, init=...)`` gives every parameter and buffer slot of ``module`` a meta
placeholder of the same shape and dtype, runs the module's init code on them (each
module's ``reset_parameters``, then Hugging Face's ``initialize_weights`` or the model's
own ``init_weights`` / ``_init_weights`` loop, or a callable), and writes down what that
code asks for, as ``fastinit.model.plan`` ops:

- ``torch.nn.init.*`` (and ``transformers.initialization``'s wrappers, which call the
  same functions through ``TORCH_INIT_FUNCTIONS``) become the fastinit scheme of the same
  name and parameters (``kaiming_uniform(a=...)``, ``trunc_normal(...)``, ...);
- the in-place tensor methods that initialize (``normal_``, ``uniform_``, ``fill_``,
  ``zero_``, ``copy_`` of a CPU tensor, ``mul_``/``div_`` by a number, ``t[i] = v``) are
  seen by a ``TorchFunctionMode``, also through ``.data`` and row slices ``t[i]``,
  ``t[a:b]`` (a padding row, one gate of an RNN weight);
- any other in-place write to a slot (``clamp_``, ``erfinv_``, a write through a
  transposed view, ...) is a problem the plan reports by name: fastinit never guesses.

The placeholders are put back by the originals afterwards, and transformers'
``_is_hf_initialized`` marks on modules are as they were before.
"""

import ast
import functools
import inspect
import math
import numbers
import os
import re
import sys
import textwrap
import threading
from contextlib import ExitStack, contextmanager

import torch
from torch.overrides import TorchFunctionMode

from ..model import plan as _plan

_INIT_NAMES = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
               "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
# torch modules that bind init functions by name at import (as transformers' own guard patches them)
_TORCH_MODULES = ("torch.nn.init", "torch.nn.modules.activation", "torch.nn.modules.transformer",
                  "torch.nn.modules.linear", "torch.nn.modules.batchnorm", "torch.nn.modules.conv",
                  "torch.nn.modules.normalization", "torch.nn.modules.rnn", "torch.nn.modules.sparse")
_ORIGINAL = {name: getattr(torch.nn.init, name) for name in _INIT_NAMES}
_SIGNATURE = {name: inspect.signature(fn) for name, fn in _ORIGINAL.items()}
# in-place methods that only change metadata, not values
_HARMLESS = {"requires_grad_", "share_memory_", "retain_grad", "__get__"}
_IN_PLACE_DUNDER = re.compile(r"__i(add|sub|mul|truediv|floordiv|mod|pow|and|or|xor|lshift|rshift|matmul)__")


def _num(x):
    return float(x.item()) if isinstance(x, torch.Tensor) and not x.is_meta and x.numel() == 1 else x


def _init_op(name, args, kwargs):
    """The plan op of ``torch.nn.init.<name>(tensor, *args, **kwargs)`` (tensor excluded)."""
    bound = _SIGNATURE[name].bind(None, *args, **kwargs)
    bound.apply_defaults()
    a = {k: _num(v) for k, v in bound.arguments.items() if k not in ("tensor", "generator")}
    if name == "uniform_":
        return _plan.scheme_op("uniform", low=float(a["a"]), high=float(a["b"]))
    if name == "normal_":
        return _plan.scheme_op("normal", mean=float(a["mean"]), std=float(a["std"]))
    if name == "trunc_normal_":
        return _plan.scheme_op("trunc_normal", mean=float(a["mean"]), std=float(a["std"]), a=float(a["a"]),
                               b=float(a["b"]))
    if name == "constant_":
        return _plan.scheme_op("constant", value=float(a["val"]))
    if name in ("ones_", "zeros_", "eye_"):
        return _plan.scheme_op(name[:-1])
    if name == "dirac_":
        return _plan.scheme_op("dirac", groups=int(a["groups"]))
    if name in ("xavier_uniform_", "xavier_normal_"):
        return _plan.scheme_op(name[:-1], gain=float(a["gain"]))
    if name in ("kaiming_uniform_", "kaiming_normal_"):
        return _plan.scheme_op(name[:-1], a=float(a["a"]), mode=a["mode"], nonlinearity=a["nonlinearity"])
    if name == "orthogonal_":
        return _plan.Op("orthogonal", "orthogonal", (("gain", float(a["gain"])),))
    if name == "sparse_":
        return _plan.scheme_op("sparse", sparsity=float(a["sparsity"]), std=float(a["std"]))
    raise AssertionError(name)


def _rows(index, ndim):
    """``(lo, hi, step)`` of a dim-0 index (int or slice, alone or followed by full slices /
    Ellipsis), or None."""
    if isinstance(index, tuple):
        if not index:
            return None
        rest = index[1:]
        if not all(r is Ellipsis or (isinstance(r, slice) and r == slice(None)) for r in rest):
            return None
        index = index[0]
    if isinstance(index, torch.Tensor) and index.ndim == 0 and not index.is_meta and not index.is_floating_point():
        index = int(index)
    if isinstance(index, numbers.Integral) and not isinstance(index, bool):
        return int(index), int(index) + 1, True
    if isinstance(index, slice) and index.step in (None, 1):
        return index, None, False
    return None


class _Slot:
    """A placeholder's identity: the slot's name and the rows of it a view covers
    (None: all of it; "opaque": a view fastinit cannot express)."""

    __slots__ = ("name", "rows", "length", "dropped")

    def __init__(self, name, rows, length, dropped=False):
        self.name, self.rows, self.length, self.dropped = name, rows, length, dropped


class Recording(TorchFunctionMode):
    """The TorchFunctionMode and the init-function patches that turn writes into ops."""

    def __init__(self, slots, lazy=False):
        super().__init__()
        self.lazy = lazy         # record on any meta tensor (a model under construction)
        self.track = {}          # id(tensor) -> _Slot
        self.keep = []           # the tracked tensors, so their ids are not reused
        self.ops = {name: [] for name in slots}
        self.problems = {}       # slot name -> [what could not be expressed]
        self.pending = {}        # (slot name, rows) -> an inverse-CDF truncated normal in progress
        for name, tensor in slots.items():
            self._track(tensor, _Slot(name, None, tensor.shape[0] if tensor.ndim else 0))

    def _track(self, tensor, slot):
        self.track[id(tensor)] = slot
        self.keep.append(tensor)

    def slot(self, tensor):
        if not isinstance(tensor, torch.Tensor):
            return None
        slot = self.track.get(id(tensor))
        if slot is None and self.lazy and tensor.is_meta and not tensor._is_view():
            name = f"#{len(self.ops)}"   # named when the built model's tensors are matched by identity
            self.ops[name] = []
            slot = _Slot(name, None, tensor.shape[0] if tensor.ndim else 0)
            self._track(tensor, slot)
        return slot

    def of(self, tensor):
        """``(ops, problems)`` recorded on ``tensor`` (lazy mode), by identity."""
        slot = self.track.get(id(tensor))
        if slot is None or slot.rows is not None:
            return [], []
        return self.ops[slot.name], self.problems.get(slot.name, [])

    def put(self, slot, op, what):
        if slot.rows == "opaque":
            self.problems.setdefault(slot.name, []).append(f"{what} through a view fastinit cannot express")
            return
        if slot.rows is not None:
            op = _plan.Op(op.kind, op.name, op.params, slot.rows, op.values)
        _plan.add(self.ops[slot.name], op)

    def problem(self, slot, what):
        self.problems.setdefault(slot.name, []).append(what)

    # -- torch.nn.init.* (patched while recording)
    def init_function(self, name):
        original = _ORIGINAL[name]

        def recorded(tensor, *args, **kwargs):
            slot = self.slot(tensor)
            if slot is None:
                return original(tensor, *args, **kwargs)
            self.put(slot, _init_op(name, args, kwargs), f"torch.nn.init.{name}")
            return tensor

        recorded.__name__ = recorded.__qualname__ = name
        recorded.__wrapped__ = original
        return recorded

    # -- tensor methods
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        slot = self.slot(args[0]) if args else None
        if slot is None:
            out = func(*args, **kwargs)
            target = self.slot(kwargs.get("out"))
            if target is not None:
                self.problem(target, f"{name}(out=...)")
            return out
        if name == "__getitem__":
            return self._view(func, args, kwargs, slot)
        owner = getattr(func, "__self__", None)   # for __get__: the property read
        if name == "detach" or (name == "__get__" and getattr(owner, "__name__", "") == "data"):
            out = func(*args, **kwargs)
            self._track(out, slot)
            return out
        if self._erfinv(slot, name, args, kwargs):
            return args[0]
        if name in ("add_", "sub_", "__iadd__", "__isub__") and self._shift(slot, name, args, kwargs):
            return args[0]
        op = self._method_op(name, args, kwargs)
        if op is not None:
            self.put(slot, op, f"Tensor.{name}")
            return args[0]
        if name == "__setitem__":
            rows = _rows(args[1], args[0].ndim)
            value = _num(args[2])
            sub = self._sub(slot, rows) if rows is not None else None
            same = self.slot(value) if isinstance(value, torch.Tensor) and value.is_meta else None
            if sub is not None and same is not None and same.name == sub.name and same.rows == sub.rows:
                return None   # `t[a:b] *= c` stores the block back into itself
            op = (_plan.scheme_op("constant", value=float(value)) if isinstance(value, numbers.Real)
                  else self._method_op("copy_", (None, value), {}))
            if sub is not None and op is not None:
                self.put(sub, op, "t[...] = value")
            else:
                self.problem(slot, f"t[{args[1]!r}] = ...")
            return None
        if ((name.endswith("_") and not name.startswith("_")) or _IN_PLACE_DUNDER.fullmatch(name)) \
                and name not in _HARMLESS:
            self.problem(slot, f"Tensor.{name}")
            return args[0]
        out = func(*args, **kwargs)
        # any other view of a slot (transpose, reshape, .T, chunk, ...): writes through it are problems
        base = args[0]._base if args[0]._is_view() else args[0]
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor) and t is not args[0] and t._is_view() and t._base is base:
                self._track(t, _Slot(slot.name, "opaque", 0))
        return out

    def _last(self, slot):
        """The last op on exactly ``slot``'s block, or None."""
        ops = self.ops.get(slot.name)
        if slot.rows == "opaque" or not ops or ops[-1].rows != slot.rows:
            return None
        return ops[-1]

    def _shift(self, slot, name, args, kwargs):
        """``t.add_(v)`` right after a fill of the same block: folded into it (True), else False."""
        value = _num(args[1] if len(args) > 1 else kwargs.get("other"))
        alpha = _num(kwargs.get("alpha", 1))
        last = self._last(slot)
        if not (isinstance(value, numbers.Real) and isinstance(alpha, numbers.Real)) or last is None:
            return False
        value = float(value) * float(alpha) * (-1.0 if name in ("sub_", "__isub__") else 1.0)
        folded = _plan.shifted(last, value)
        if folded is None:
            return False
        self.ops[slot.name][-1] = folded
        return True

    def _erfinv(self, slot, name, args, kwargs):
        """The inverse-CDF truncated normal of timm and older torch: ``uniform_(2l-1, 2u-1)``,
        ``erfinv_()``, ``mul_(std * sqrt(2))``, ``add_(mean)``, ``clamp_(a, b)`` -- one
        ``trunc_normal(mean, std, a, b)`` once the clamp arrives; True when consumed."""
        key = (slot.name, slot.rows if slot.rows != "opaque" else None)
        pending = self.pending.get(key)
        if name == "erfinv_" and pending is None:
            last = self._last(slot)
            if last is None or last.name != "uniform":
                return False
            self.ops[slot.name].pop()
            self.pending[key] = {"scale": 1.0, "shift": 0.0}
            return True
        if pending is None:
            return False
        value = _num(args[1] if len(args) > 1 else kwargs.get("other"))
        if name in ("mul_", "__imul__") and isinstance(value, numbers.Real):
            pending["scale"] *= float(value)
            pending["shift"] *= float(value)
            return True
        if name in ("add_", "__iadd__") and isinstance(value, numbers.Real) and "alpha" not in kwargs:
            pending["shift"] += float(value)
            return True
        del self.pending[key]
        lo = _num(args[1] if len(args) > 1 else kwargs.get("min"))
        hi = _num(args[2] if len(args) > 2 else kwargs.get("max"))
        if name == "clamp_" and isinstance(lo, numbers.Real) and isinstance(hi, numbers.Real) and pending["scale"] > 0:
            std = pending["scale"] / math.sqrt(2.0)
            self.put(slot, _plan.scheme_op("trunc_normal", mean=pending["shift"], std=std, a=float(lo), b=float(hi)),
                     "uniform_, erfinv_, ..., clamp_")
            return True
        self.problem(slot, f"uniform_ and erfinv_ followed by Tensor.{name}")
        return True

    def _method_op(self, name, args, kwargs):
        def arg(i, key, default):
            return _num(args[i] if len(args) > i else kwargs.get(key, default))

        name = {"__imul__": "mul_", "__itruediv__": "div_"}.get(name, name)
        if name == "normal_":
            return _plan.scheme_op("normal", mean=float(arg(1, "mean", 0.0)), std=float(arg(2, "std", 1.0)))
        if name == "uniform_":
            return _plan.scheme_op("uniform", low=float(arg(1, "from", 0.0)), high=float(arg(2, "to", 1.0)))
        if name == "zero_":
            return _plan.scheme_op("zeros")
        if name == "fill_":
            value = arg(1, "value", None)
            return _plan.scheme_op("constant", value=float(value)) if isinstance(value, numbers.Real) else None
        if name in ("mul_", "div_"):
            factor = arg(1, "other", None)
            if isinstance(factor, numbers.Real) and "rounding_mode" not in kwargs:
                return _plan.Op("scale", params=(("factor", float(factor) if name == "mul_" else 1.0 / factor),))
            return None
        if name == "copy_":
            src = args[1] if len(args) > 1 else kwargs.get("src")
            if isinstance(src, numbers.Real):
                return _plan.scheme_op("constant", value=float(src))
            if isinstance(src, torch.Tensor) and not src.is_meta and src.device.type == "cpu":
                values = src.detach()
                if values.dtype == torch.bfloat16 or values.dtype == torch.float16:
                    values = values.float()
                return _plan.Op("values", rows=None, values=values.numpy().copy())
            return None
        return None

    def _sub(self, slot, rows):
        """The slot of rows ``rows`` (from ``_rows``) of ``slot``'s view."""
        if slot.rows == "opaque":
            return slot
        base_lo, base_len = (0, slot.length) if slot.rows is None else (slot.rows[0], slot.rows[1] - slot.rows[0])
        lo, hi, single = rows
        if slot.dropped:   # a row of a row: dim 0 is another dim now
            return _Slot(slot.name, "opaque", 0)
        if single:
            i = lo + base_len if lo < 0 else lo
            if not 0 <= i < base_len:
                return _Slot(slot.name, "opaque", 0)
            return _Slot(slot.name, (base_lo + i, base_lo + i + 1), slot.length, dropped=True)
        start, stop, _ = lo.indices(base_len)
        stop = max(start, stop)
        if slot.rows is None and (start, stop) == (0, base_len):
            return slot
        return _Slot(slot.name, (base_lo + start, base_lo + stop), slot.length)

    def _view(self, func, args, kwargs, slot):
        out = func(*args, **kwargs)
        rows = _rows(args[1], args[0].ndim) if args[0].ndim else None
        sub = self._sub(slot, rows) if rows is not None and slot.rows != "opaque" else None
        self._track(out, sub if sub is not None else _Slot(slot.name, "opaque", 0))
        return out


@contextmanager
def _patched(recording):
    """torch.nn.init's functions (where torch's modules bound them) and transformers'
    ``TORCH_INIT_FUNCTIONS`` replaced by recording ones."""
    targets = [sys.modules[m] for m in _TORCH_MODULES if m in sys.modules]
    hf = sys.modules.get("transformers.initialization")
    saved = []
    try:
        for mod in targets:
            for name in _INIT_NAMES:
                if hasattr(mod, name):
                    saved.append((mod, name, getattr(mod, name)))
                    setattr(mod, name, recording.init_function(name))
        if hf is not None and isinstance(getattr(hf, "TORCH_INIT_FUNCTIONS", None), dict):
            table = hf.TORCH_INIT_FUNCTIONS
            old = dict(table)
            table.update({n: recording.init_function(n) for n in _INIT_NAMES if n in table})
        yield
    finally:
        for mod, name, fn in reversed(saved):
            setattr(mod, name, fn)
        if hf is not None and isinstance(getattr(hf, "TORCH_INIT_FUNCTIONS", None), dict):
            hf.TORCH_INIT_FUNCTIONS.update(old)


def _reset_all(module):
    """Every submodule's own ``reset_parameters`` (MultiheadAttention's ``_reset_parameters``),
    children before parents, as construction runs them."""
    for mod in reversed(list(module.modules())):
        fn = getattr(mod, "reset_parameters", None) or getattr(mod, "_reset_parameters", None)
        if callable(fn):
            fn()


def _is_hf(module):
    return any(c.__module__.startswith("transformers.") and c.__name__ == "PreTrainedModel"
               for c in type(module).__mro__)


def _model_init(module):
    """The model's own whole-model init: transformers' ``initialize_weights`` (4.x: ``apply(
    _init_weights)``); else that of every outermost transformers model inside it, then an
    ``init_weights()`` method or ``apply(_init_weights)``; a description, or None when the
    model has none."""
    if _is_hf(module):
        if hasattr(module, "initialize_weights"):
            module.initialize_weights()
            return "transformers initialize_weights"
        module.apply(module._init_weights)
        return "transformers _init_weights"
    done = []
    for name, sub in module.named_modules():   # transformers models inside a user's module
        if sub is not module and _is_hf(sub) and not any(name.startswith(d + ".") for d in done):
            _model_init(sub)
            done.append(name)
    fn = getattr(module, "init_weights", None)
    if callable(fn) and not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                for p in inspect.signature(fn).parameters.values()):
        fn()
        return ", ".join(["transformers initialize_weights"] * bool(done) + ["init_weights()"])
    fn = getattr(module, "_init_weights", None)
    if callable(fn):
        module.apply(fn)
        return ", ".join(["transformers initialize_weights"] * bool(done) + ["apply(_init_weights)"])
    return "transformers initialize_weights" if done else None


def _slots(module):
    """``{name: (owner module, attr, tensor)}`` of every parameter and buffer slot, aliases included."""
    out = {}
    for mod_name, mod in module.named_modules(remove_duplicate=False):
        for table in (mod._parameters, mod._buffers):
            for attr, t in table.items():
                if t is not None:
                    out[f"{mod_name}.{attr}" if mod_name else attr] = (mod, table, attr, t)
    return out


# what a constructor calls to initialize tensors itself: torch.nn.init's functions and the
# tensor methods that fill (copy_, mul_, ... also compute buffers: not counted)
_WRITES = frozenset(_INIT_NAMES) | {"zero_", "fill_"}
# methods init="auto" runs itself: every module's, and the root's
_RUN_ANYWAY = ("reset_parameters", "_reset_parameters")
_RUN_ON_ROOT = ("init_weights", "_init_weights")
_THIRD_PARTY = ("torch.", "transformers.", "fastinit.")


def _called(node):
    """The name a call calls: ``f`` for ``f(...)``, ``x.f(...)``, ``x.y.f(...)``."""
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _self_method(node):
    func = node.func
    return (func.attr if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "self" else None)


@functools.lru_cache(maxsize=None)
def _function_writes(fn):
    """``([(what, line), ...], [self.method names called])`` of a function's source: its
    calls of ``torch.nn.init`` functions and filling tensor methods, and ``self.<m>(...)`` /
    ``self.apply(self.<m>)`` calls; empty when the source cannot be read."""
    try:
        lines, start = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError):
        return (), ()
    top = tree.body[0] if tree.body else None
    if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) or top.name != fn.__name__:
        return (), ()   # the file changed since it was imported: its source is not this function's
    writes, methods = [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called(node)
        if name in _WRITES:
            writes.append((name, start + node.lineno - 1))
        method = _self_method(node)
        if method == "apply" and node.args:
            arg = node.args[0]
            target = (arg.attr if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
                      and arg.value.id == "self" else None)
            if target is None:
                writes.append((f"self.apply({ast.unparse(arg)})", start + node.lineno - 1))
            else:
                methods.append(target)
        elif method is not None:
            methods.append(method)
    return tuple(writes), tuple(methods)


def constructor_writes(module):
    """Where the constructors of ``module``'s own classes (not torch's, transformers' or
    fastinit's) initialize tensors themselves -- ``torch.nn.init`` calls and fills in
    ``__init__`` or in a ``self`` method it calls, other than the ones ``init="auto"`` runs
    -- as ``["ConvNet.__init__ (net.py:12): kaiming_normal_, zero_", ...]``.  Such code ran
    when the model was built (on the meta device: writing nothing) and cannot be re-run."""
    found, seen = [], set()
    for mod in module.modules():
        for cls in type(mod).__mro__:
            if "__init__" not in vars(cls) or cls.__module__.startswith(_THIRD_PARTY) or cls.__module__ == "builtins":
                continue
            if (cls, mod is module) in seen:
                continue
            seen.add((cls, mod is module))
            skip = _RUN_ANYWAY + (_RUN_ON_ROOT if mod is module else ())
            writes, methods = _function_writes(vars(cls)["__init__"])
            writes = list(writes)
            for m in dict.fromkeys(methods):
                fn = getattr(cls, m, None)
                if m not in skip and inspect.isfunction(fn) and not fn.__module__.startswith(_THIRD_PARTY):
                    writes += _function_writes(fn)[0]
            if writes:
                file = inspect.getsourcefile(cls) or "?"
                line = min(n for _, n in writes)
                names = ", ".join(dict.fromkeys(w for w, _ in sorted(writes, key=lambda x: x[1])))
                entry = f"{cls.__qualname__}.__init__ ({os.path.basename(file)}:{line}): {names}"
                if entry not in found:
                    found.append(entry)
    return found


def _hf_configs(module):
    """``{id(submodule): the config of the innermost transformers model holding it}``."""
    out = {}

    def walk(mod, config):
        if _is_hf(mod):
            config = getattr(mod, "config", config)
        out[id(mod)] = config
        for child in mod.children():
            walk(child, config)

    walk(module, None)
    return out


_ON_META = threading.Lock()   # one patch of Module.register_parameter at a time


@contextmanager
def _parameters_on_meta():
    """Every parameter this thread registers while active moves to the meta device (as
    accelerate's ``init_empty_weights`` does): a constructor computes its buffers on the CPU,
    and its parameters' init runs on meta tensors, writing nothing.  Other threads building
    modules meanwhile keep their parameters where they made them."""
    me = threading.get_ident()
    with _ON_META:
        register = torch.nn.Module.register_parameter

        def on_meta(self, name, param):
            register(self, name, param)
            if threading.get_ident() == me and param is not None and not param.is_meta:
                self._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

        torch.nn.Module.register_parameter = on_meta
        try:
            yield
        finally:
            torch.nn.Module.register_parameter = register


def _recompute(owner, config, attrs):
    """The buffers ``attrs`` of the transformers module ``owner`` as its own constructor
    computes them, ``type(owner)(config=config)`` on the CPU: ``({attr: tensor}, None)`` or
    ``(None, why not)``.  transformers 4.x computes RoPE frequencies, position ids and
    causal masks only in constructors, which on the meta device computed nothing."""
    cls = type(owner)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    required = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                                 p.KEYWORD_ONLY)]
    if config is None or required != ["config"]:
        return None, f"{cls.__name__}'s constructor needs {required}, not only a config"
    try:
        with torch.device("cpu"), torch.no_grad(), _parameters_on_meta():
            fresh = cls(config=config)
    except Exception as exc:  # noqa: BLE001 - any failure of foreign code: say it, keep the problem
        return None, f"{cls.__name__}(config) failed: {type(exc).__name__}: {exc}"
    values = {a: fresh._buffers.get(a) for a in attrs}
    bad = [a for a, v in values.items() if v is None or v.is_meta or v.shape != owner._buffers[a].shape]
    if bad:
        return None, f"{cls.__name__}(config) gives no buffer of the same shape for {bad}"
    return values, None


def _recompute_buffers(module, slots, ops, problems):
    """Fill ``ops`` for the meta buffers of transformers modules that no init code wrote, with
    the values their constructors compute on the CPU (``_recompute``); True if any was."""
    missing = {}   # id(owner) -> (owner, {attr: slot name})
    for name, (mod, table, attr, t) in slots.items():
        if table is mod._buffers and t.is_meta and name in ops and not ops[name] and name not in problems \
                and type(mod).__module__.startswith("transformers."):
            missing.setdefault(id(mod), (mod, {}))[1].setdefault(attr, name)
    if not missing:
        return False
    configs = _hf_configs(module)
    done = False
    for owner, names in missing.values():
        values, why = _recompute(owner, configs.get(id(owner)), list(names))
        for attr, name in names.items():
            if values is None:
                problems.setdefault(name, []).append(f"not written by the init code; {why}")
                continue
            v = values[attr].detach()
            v = v.float() if v.dtype in (torch.bfloat16, torch.float16) else v
            ops[name] = [_plan.Op("values", values=v.contiguous().numpy().copy())]
            done = True
    return done


class Construction:
    """What a model's constructor wrote into its meta tensors: ``with recording() as rec:
    model = Model()`` then ``materialize(model, seed, init=rec)``.  For init code that only
    runs in ``__init__`` (a ``for m in self.modules()`` loop at the end of the constructor)."""

    def __init__(self):
        self.mode = Recording({}, lazy=True)


@contextmanager
def recording():
    """Build a model on the meta device while recording its constructor's init writes.

    >>> with fastinit.torch.recording() as rec:
    ...     model = torchvision.models.resnet18()
    >>> model = fastinit.torch.materialize(model, seed=0, init=rec)
    """
    rec = Construction()
    with ExitStack() as stack:
        stack.enter_context(torch.device("meta"))
        stack.enter_context(_patched(rec.mode))
        stack.enter_context(rec.mode)
        yield rec


def record(module, init="auto"):
    """``(ops, problems, ran)``: ``{slot name: [Op, ...]}`` the init code wrote, ``{slot name:
    [what fastinit could not express]}``, and a description of the code run.

    ``init``: ``"auto"`` (every module's ``reset_parameters``, then the model's own init:
    transformers' ``initialize_weights``, an ``init_weights()`` method or ``apply(
    _init_weights)``), ``"reset_parameters"`` (the modules' own only), a callable (the
    modules' own, then ``init(module)``), a ``Construction`` from ``recording()`` (what the
    constructor wrote, then transformers' own init for transformers models), or None
    (nothing: rules only).
    """
    if isinstance(init, str) and init == "auto":
        found = constructor_writes(module)
        if found:
            lines = "\n".join(f"  {f}" for f in found)
            raise ValueError(
                f"init code in a constructor cannot be re-run on the built model:\n{lines}\n"
                f"it ran when the model was built (on the meta device it wrote nothing). Build the model under "
                f"`with fastinit.torch.recording() as rec:` and pass init=rec; or move that code into an "
                f"init_weights() method (init='auto' runs it); or pass init='reset_parameters' (the modules' "
                f"own reset_parameters) with rules={{pattern: scheme}} for the tensors that code initializes "
                f"(docs/torch.md, 'Init code in a constructor')")
    constructed = {}
    if isinstance(init, Construction):
        for name, (_, _, _, t) in _slots(module).items():
            constructed[name] = init.mode.of(t)
    slots = _slots(module)
    placeholders, originals, seen = {}, [], set()
    for name, (mod, table, attr, t) in slots.items():
        if (id(table), attr) in seen:   # a module reachable by two paths: one slot, its first name
            continue
        seen.add((id(table), attr))
        ph = torch.empty(t.shape, dtype=t.dtype, device="meta")
        if isinstance(t, torch.nn.Parameter):
            ph = torch.nn.Parameter(ph, requires_grad=t.requires_grad)
        placeholders[name] = ph
        originals.append((table, attr, t))
        table[attr] = ph
    # transformers skips modules marked initialized (accelerate's init_empty_weights path
    # ran its init on meta tensors already): unmark them while recording, mark them again after
    marked = [m for m in module.modules() if "_is_hf_initialized" in m.__dict__]
    flags = [m.__dict__.pop("_is_hf_initialized") for m in marked]
    recording = Recording(placeholders)
    ran = []
    try:
        if init is not None:
            with ExitStack() as stack:
                stack.enter_context(torch.no_grad())
                stack.enter_context(torch.device("cpu"))   # constants the init code computes: real values
                stack.enter_context(_patched(recording))
                stack.enter_context(recording)
                if constructed:
                    ran.append("the constructor")
                    for name, (ops, why) in constructed.items():
                        recording.ops[name] = list(ops)
                        if why:
                            recording.problems[name] = list(why)
                    if _is_hf(module) or any(_is_hf(m) for m in module.modules()):
                        ran.append(_model_init(module))
                else:
                    _reset_all(module)
                    ran.append("reset_parameters")
                if init == "auto":
                    what = _model_init(module)
                    if what:
                        ran.append(what)
                elif callable(init):
                    init(module)
                    ran.append(getattr(init, "__name__", "init"))
                elif init != "reset_parameters" and not constructed:
                    raise AssertionError(init)
    except (RuntimeError, NotImplementedError, TypeError, ValueError, AttributeError) as exc:
        # e.g. init code that reads values (``.item()``) of what it initializes
        raise ValueError(f"the model's init code ({', '.join(ran + ['...'])}) failed on meta placeholders: "
                         f"{type(exc).__name__}: {exc}; pass init=None with rules={{pattern: scheme}}, or "
                         f"init=a callable that only writes") from exc
    finally:
        for table, attr, t in originals:
            table[attr] = t
        for m in module.modules():
            m.__dict__.pop("_is_hf_initialized", None)
        for m, flag in zip(marked, flags):
            m.__dict__["_is_hf_initialized"] = flag
    for name, _rows in recording.pending:
        recording.problems.setdefault(name, []).append("uniform_ and erfinv_ not completed by clamp_")
    if init is not None and _recompute_buffers(module, slots, recording.ops, recording.problems):
        ran.append("transformers constructors for buffers")
    return recording.ops, recording.problems, ", ".join(ran) if ran else "no init code"


__all__ = ["Construction", "Recording", "record", "recording"]
