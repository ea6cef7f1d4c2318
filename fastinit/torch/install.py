"""One line to speed up existing code: route ``torch.nn.init`` and CPU ``Tensor.normal_``/``uniform_``
through fastinit.

>>> fastinit.torch.install()          # from here on, nn.Linear(...), a model's __init__,
>>> model = MyModel()                 # HF from_config ... initialize with fastinit's kernels
>>> fastinit.torch.uninstall()        # torch exactly as it was
>>> with fastinit.torch.installed():  # or for one block
...     model = MyModel()

While installed, ``torch.nn.init.<name>`` is ``fastinit.torch.<name>`` (seedless: each call
draws its key from torch's generator, so ``torch.manual_seed`` reproduces a run and every
tensor gets its own numbers), and ``Tensor.normal_(mean, std, *, generator)`` /
``Tensor.uniform_(from, to, *, generator)`` on a CPU float tensor fill through fastinit the
same way.  Everything else goes to torch's own method unchanged: other devices, meta and
integer tensors, tensor subclasses and wrapped tensors (functorch, fake tensors), calls
recorded by autograd (a tensor that requires grad while grad mode is on), tracing and
compiling.  The numbers are fastinit's (Philox, docs/streams.md), not torch's: the
distributions are torch's.

``uninstall()`` puts back exactly the objects that were there (patches stack: the last
installed is the first removed).
"""

import contextlib
import threading

import torch

from . import init as _init

_LOCK = threading.Lock()
_SAVED = []  # one {(owner, name): previous value or _ABSENT} per install(), innermost last
_ABSENT = object()
# fastinit's versions of these take any dtype; the random ones leave complex/int tensors to torch
_DETERMINISTIC = ("constant_", "ones_", "zeros_", "eye_", "dirac_")


def _plain_cpu_float(tensor):
    """A tensor fastinit fills for torch's own in-place method (else torch does)."""
    return (type(tensor) in (torch.Tensor, torch.nn.Parameter) and tensor.device.type == "cpu"
            and tensor.layout == torch.strided and tensor.dtype in _init._FLOAT
            and not (tensor.requires_grad and torch.is_grad_enabled())
            and not torch._C._functorch.is_functorch_wrapped_tensor(tensor)
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling())


def _methods(previous):
    """``Tensor.normal_``/``uniform_`` replacements falling back to ``previous`` methods."""
    prev_normal, prev_uniform = previous

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        if not _plain_cpu_float(self):
            return prev_normal(self, mean, std, generator=generator)
        return _init.normal_(self, mean, std, generator)

    def uniform_(self, from_=0.0, to=1.0, *, generator=None, **kwargs):
        if "from" in kwargs:  # torch spells it `from`, a keyword in Python
            from_ = kwargs.pop("from")
        if kwargs:
            raise TypeError(f"uniform_() got unexpected keyword arguments {sorted(kwargs)}")
        if not _plain_cpu_float(self):
            return prev_uniform(self, from_, to, generator=generator)
        return _init._uniform(self, from_, to, ("from", "to"), generator)

    normal_.__doc__ = "fastinit-routed ``Tensor.normal_`` (fastinit.torch.install)."
    uniform_.__doc__ = "fastinit-routed ``Tensor.uniform_`` (fastinit.torch.install)."
    return normal_, uniform_


def _init_function(name, previous):
    """``torch.nn.init.<name>`` replacement: fastinit's, except for tensors it leaves to torch."""
    ours = getattr(_init, name)
    any_dtype = name in _DETERMINISTIC

    def routed(tensor, *args, **kwargs):
        if isinstance(tensor, torch.Tensor) and tensor.device.type in ("cpu", "meta") \
                and (any_dtype or tensor.dtype in _init._FLOAT) \
                and type(tensor) in (torch.Tensor, torch.nn.Parameter) \
                and not torch._C._functorch.is_functorch_wrapped_tensor(tensor) \
                and not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            return ours(tensor, *args, **kwargs)
        return previous(tensor, *args, **kwargs)

    routed.__name__ = routed.__qualname__ = name
    routed.__doc__ = ours.__doc__
    routed.__wrapped__ = ours
    return routed


# calculate_gain and the private helpers are the same maths either way: left to torch
_ROUTED = tuple(n for n in _init.PUBLIC if n != "calculate_gain")


def install():
    """Route ``torch.nn.init`` and CPU ``Tensor.normal_``/``uniform_`` through fastinit (see the module doc).

    Idempotent in effect (a second install stacks a second, equivalent layer); undo with
    :func:`uninstall`.
    """
    with _LOCK:
        saved = {}
        for name in _ROUTED:
            prev = getattr(torch.nn.init, name)
            saved[(torch.nn.init, name)] = prev
            setattr(torch.nn.init, name, _init_function(name, prev))
        prev_methods = (torch.Tensor.normal_, torch.Tensor.uniform_)
        for name in ("normal_", "uniform_"):
            saved[(torch.Tensor, name)] = torch.Tensor.__dict__.get(name, _ABSENT)
        torch.Tensor.normal_, torch.Tensor.uniform_ = _methods(prev_methods)
        _SAVED.append(saved)


def uninstall():
    """Undo the last :func:`install`: the exact objects it replaced are put back.

    Raises RuntimeError if fastinit is not installed.
    """
    with _LOCK:
        if not _SAVED:
            raise RuntimeError("fastinit.torch is not installed: nothing to uninstall")
        for (owner, name), prev in _SAVED.pop().items():
            if prev is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, prev)


def is_installed():
    """Whether :func:`install` is in effect."""
    return bool(_SAVED)


@contextlib.contextmanager
def installed():
    """``with fastinit.torch.installed():`` -- :func:`install` for the block, :func:`uninstall` after it."""
    install()
    try:
        yield
    finally:
        uninstall()
