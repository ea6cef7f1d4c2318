"""The scheme catalogue: every initialization scheme, in place, and one registry of them.

Every scheme writes into ``out`` and returns it, and takes the core fills' keywords
``seed``, ``stream``, ``global_shape``, ``offset``, ``backend``, ``threads`` (``seed`` is
optional for the deterministic ones), so every scheme keeps fastinit's contract: the same
bits for any thread count, backend or shard.  ``REGISTRY`` maps each scheme's name to a
:class:`Scheme` (the callable and its parameters); ``parse`` reads specs such as
``"kaiming_uniform(a=2.236, mode='fan_out')"``.  docs/schemes.md lists them all with their
formulas, defaults, reference libraries and papers.

>>> fn, kwargs = parse("kaiming_uniform(a=2.236)")
>>> w = fn(np.empty((256, 128), np.float32), **kwargs, seed=0, stream="fc.weight")
"""

import ast
import inspect
import re
import types
from dataclasses import dataclass
from typing import Any, Callable

from ..fills import normal_, trunc_normal_, uniform_
from ._common import COMMON
from .defaults import (bias_uniform_, constant_, conv_default_, embedding_default_, hf_normal_,
                       linear_default_, lstm_forget_bias_, ones_, relu_bias_, rnn_default_, zeros_)
from .fans import LAYOUTS, calculate_gain, compute_fans
from .mup import mup_normal_
from .sparse import sparse_
from .structured import dirac_, eye_, identity_, looks_linear_
from .variance import (glorot_normal_, glorot_uniform_, he_normal_, he_uniform_, kaiming_normal_,
                       kaiming_uniform_, lecun_normal_, lecun_uniform_, random_walk_gain, random_walk_normal_,
                       selu_normal_, simple_xavier_uniform_, variance_scaling_, xavier_normal_,
                       xavier_uniform_)

REQUIRED = inspect.Parameter.empty  # the default of a parameter a spec must set


@dataclass(frozen=True)
class Scheme:
    """A registered scheme: ``fn(out, **params, seed=..., stream=..., ...)`` writes ``out``.

    ``params`` maps each scheme parameter (the common keywords excluded) to its default, or
    to ``REQUIRED``; ``random`` says whether it draws random numbers (``seed`` required).
    """

    name: str
    fn: Callable
    params: types.MappingProxyType
    random: bool

    @classmethod
    def of(cls, name, fn):
        sig = inspect.signature(fn).parameters
        params = {p: v.default for p, v in sig.items() if p != "out" and p not in COMMON}
        return cls(name, fn, types.MappingProxyType(params), sig["seed"].default is REQUIRED)

    def __call__(self, out, **kwargs):
        return self.fn(out, **kwargs)

    @property
    def summary(self) -> str:
        """The first line of the scheme's docstring."""
        return inspect.getdoc(self.fn).splitlines()[0]


_SCHEMES = [
    # the core fills
    ("uniform", uniform_), ("normal", normal_), ("trunc_normal", trunc_normal_),
    ("constant", constant_), ("zeros", zeros_), ("ones", ones_),
    # variance scaling and its presets
    ("variance_scaling", variance_scaling_),
    ("xavier_uniform", xavier_uniform_), ("xavier_normal", xavier_normal_),
    ("kaiming_uniform", kaiming_uniform_), ("kaiming_normal", kaiming_normal_),
    ("glorot_uniform", glorot_uniform_), ("glorot_normal", glorot_normal_),
    ("he_uniform", he_uniform_), ("he_normal", he_normal_),
    ("lecun_uniform", lecun_uniform_), ("lecun_normal", lecun_normal_),
    ("selu_normal", selu_normal_), ("simple_xavier_uniform", simple_xavier_uniform_),
    ("random_walk_normal", random_walk_normal_),
    # structured
    ("eye", eye_), ("identity", identity_), ("dirac", dirac_), ("looks_linear", looks_linear_),
    # biases and module defaults
    ("bias_uniform", bias_uniform_), ("lstm_forget_bias", lstm_forget_bias_), ("relu_bias", relu_bias_),
    ("linear_default", linear_default_), ("conv_default", conv_default_), ("rnn_default", rnn_default_),
    ("embedding_default", embedding_default_), ("hf_normal", hf_normal_),
    # sparse
    ("sparse", sparse_),
    # width-dependent (muP, Tensor Programs V)
    ("mup_normal", mup_normal_),
]

REGISTRY = types.MappingProxyType({name: Scheme.of(name, fn) for name, fn in _SCHEMES})


def get(name) -> Scheme:
    """The registered scheme called ``name`` (a trailing underscore is accepted: ``"eye_"``)."""
    if not isinstance(name, str):
        raise TypeError(f"a scheme name must be a str; got {type(name).__name__} {name!r}")
    scheme = REGISTRY.get(name) or REGISTRY.get(name[:-1] if name.endswith("_") else None)
    if scheme is None:
        import difflib  # only for the error message

        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown scheme {name!r}; {hint}known schemes: {', '.join(REGISTRY)}")
    return scheme


_SPEC = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*", re.DOTALL)


def parse(spec) -> tuple[Callable, dict[str, Any]]:
    """``(fn, kwargs)`` for a scheme spec ``"name"`` or ``"name(key=literal, ...)"``.

    Values are Python literals read by ``ast.literal_eval`` (numbers, strings, tuples, None,
    True/False); nothing is evaluated.  Unknown schemes or parameters, positional values,
    repeated keys, the common keywords (``seed``, ``stream``, ... belong to the call, not the
    spec) and missing required parameters raise a ValueError that names them.

    >>> parse("kaiming_uniform(a=2.236, mode='fan_out')")[1]
    {'a': 2.236, 'mode': 'fan_out'}
    """
    if not isinstance(spec, str):
        raise TypeError(f"a scheme spec must be a str such as 'kaiming_uniform(a=2.236)'; "
                        f"got {type(spec).__name__} {spec!r}")
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise ValueError(f"cannot parse scheme spec {spec!r}: expected 'name' or 'name(key=value, ...)', "
                         f"e.g. 'kaiming_uniform(a=2.236)'")
    scheme = get(match[1])
    kwargs = {}
    if match[2] is not None and match[2].strip():
        try:
            call = ast.parse(f"_({match[2]})", mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"cannot parse the parameters of scheme spec {spec!r}: {exc.msg}") from None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_"):
            raise ValueError(f"cannot parse scheme spec {spec!r}: expected 'name(key=value, ...)'")
        if call.args:
            raise ValueError(f"scheme spec {spec!r}: give every parameter by name, e.g. "
                             f"'{scheme.name}(key=value)'; positional values are not accepted")
        for keyword in call.keywords:
            key = keyword.arg
            if key is None:
                raise ValueError(f"scheme spec {spec!r}: '**' is not accepted; give every parameter by name")
            if key in COMMON:
                raise ValueError(f"scheme spec {spec!r}: {key} is not a scheme parameter; pass it to the "
                                 f"call, not in the spec")
            if key not in scheme.params:
                raise ValueError(f"scheme {scheme.name!r} has no parameter {key!r}; its parameters are: "
                                 f"{', '.join(scheme.params) or '(none)'}")
            if key in kwargs:
                raise ValueError(f"scheme spec {spec!r}: parameter {key!r} is given twice")
            try:
                kwargs[key] = ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ValueError(f"scheme spec {spec!r}: the value of {key} must be a Python literal "
                                 f"(number, string, tuple, None, True/False); got "
                                 f"{ast.unparse(keyword.value)!r}") from None
    missing = [p for p, default in scheme.params.items() if default is REQUIRED and p not in kwargs]
    if missing:
        raise ValueError(f"scheme {scheme.name!r} needs {', '.join(missing)}: e.g. "
                         f"'{scheme.name}({missing[0]}=...)'")
    return scheme.fn, kwargs


__all__ = ["LAYOUTS", "REGISTRY", "REQUIRED", "Scheme", "calculate_gain", "compute_fans", "get", "parse",
           "random_walk_gain"] + [name + "_" for name in REGISTRY]  # each scheme is bound as name_
