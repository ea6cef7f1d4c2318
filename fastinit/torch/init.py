"""Drop-in ``torch.nn.init`` names: torch's signatures plus keyword-only ``seed`` and ``stream``.

Each writes through ``as_numpy`` with fastinit's kernels, so a tensor gets exactly the bits
fastinit writes into a NumPy array of the same shape and dtype.

``generator``: accepted for signature compatibility only.  fastinit draws from
``(seed, stream)``, never from a ``torch.Generator``; passing one raises a ValueError (a
silently ignored generator, or a seed read from ``generator.initial_seed()``, would make
two calls with the same generator give the same numbers, unlike torch).

>>> w = torch.empty(256, 128)
>>> fastinit.torch.kaiming_uniform_(w, a=5 ** 0.5, seed=0, stream="fc.weight")
"""

from .. import fills as _fills
from .. import schemes as _schemes
from ..schemes import calculate_gain  # noqa: F401 (torch.nn.init.calculate_gain, same semantics)
from .tensors import _apply, _no_generator


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
    from ..orthogonal import orthogonal_ as fill  # SciPy's LAPACK: loaded on first use

    return _apply(tensor, fill, gain, seed=seed, stream=stream, backend=backend, threads=threads)


def sparse_(tensor, sparsity, std=0.01, generator=None, *, seed, stream=0, backend=None, threads=None):
    """``torch.nn.init.sparse_``: N(0, std^2) with ``ceil(sparsity * rows)`` zeros in every column."""
    _no_generator(generator)
    return _apply(tensor, _schemes.sparse_, sparsity, std, seed=seed, stream=stream, backend=backend,
                  threads=threads)
