"""Model specs: which tensors a model file holds, their shapes, dtypes and schemes.

A spec is a TOML (``tomllib``) or JSON file, or the same structure as a dict::

    seed = 0                      # optional here; ``fastinit fill --seed`` overrides it
    dtype = "bf16"                # default dtype of every tensor (default "f32")

    [defaults]                    # name pattern (fnmatch) -> scheme; the FIRST match wins
    "*norm.weight" = "ones"
    "*.bias" = "zeros"
    "*.weight" = "normal(std=0.02)"

    [[tensors]]
    name = "model.embed_tokens.weight"
    shape = [32000, 256]
    # dtype = "f32"               # optional, overrides the default dtype
    # scheme = "normal(std=0.01)" # optional, overrides the defaults

    [metadata]                    # optional, str -> str, copied into the file's metadata
    note = "..."

and, before the tables, ``base_width = 256``: muP's base width (optional), given to every
``mup_normal`` scheme that names none and recorded as the metadata ``fastinit.mup_base_width``.

Every tensor is filled with stream = its name, so its bytes depend only on (seed, name,
shape, dtype, scheme) -- never on which other tensors the spec lists or in which order.
Errors are ``SpecError`` (a ValueError) naming the tensor and the field.
"""

import fnmatch
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .. import _validate, schemes

DTYPES = {
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "f16": "float16", "float16": "float16", "fp16": "float16", "half": "float16",
    "f32": "float32", "float32": "float32", "fp32": "float32", "float": "float32",
    "f64": "float64", "float64": "float64", "fp64": "float64", "double": "float64",
}
NUMPY_DTYPES = {dt.name: dt for dt in _validate.FLOAT_DTYPES}  # "bfloat16", "float16", ...
_TOP_KEYS = {"seed", "dtype", "defaults", "tensors", "metadata", "base_width"}
BASE_WIDTH_KEY = "fastinit.mup_base_width"  # the file metadata that records a spec's muP base width
_TENSOR_KEYS = {"name", "shape", "dtype", "scheme"}
# The most bytes of tensors one file can hold.  A file's size is an off_t, at most 2**63 - 1
# bytes: what posix_fallocate, ftruncate and lseek take, and numpy's intp (open_memmap) too;
# safetensors' u64 offsets allow more, but no file can be that large.  The file also holds
# its header (a safetensors header is at most 100 MB, the format's limit; .npy's a few KiB),
# hence the 1 GiB of room.  The whole model is held to it too: the safetensors single file
# holds every tensor.
MAX_BYTES = (1 << 63) - (1 << 30)
_LIMIT = f"a file holds at most {MAX_BYTES:,} (2**63 bytes less 1 GiB for its header)"


class SpecError(ValueError):
    """A spec that cannot be used; the message names the tensor and the field."""


def canonical_dtype(value, where="dtype") -> str:
    """``"bfloat16"``, ``"float16"``, ``"float32"`` or ``"float64"`` for any accepted spelling."""
    if not isinstance(value, str) or value.lower() not in DTYPES:
        raise SpecError(f"{where}: unknown dtype {value!r}; accepted: {', '.join(DTYPES)}")
    return DTYPES[value.lower()]


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: ``fn(out, **kwargs, seed=seed, stream=name)`` fills it."""

    name: str
    shape: tuple
    dtype: str                      # canonical name, see DTYPES
    scheme: str                     # the scheme spec as written, e.g. "normal(std=0.02)"
    fn: Callable = field(compare=False, repr=False)
    kwargs: dict = field(compare=False, repr=False)

    @property
    def np_dtype(self) -> np.dtype:
        return NUMPY_DTYPES[self.dtype]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.np_dtype.itemsize

    def fill(self, out, seed, **kw):
        """Fill ``out`` (this tensor, or a shard of it with global_shape/offset in ``kw``)."""
        try:
            return self.fn(out, **self.kwargs, seed=seed, stream=self.name, **kw)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"tensor {self.name!r}: scheme {self.scheme!r}: {exc}") from exc


@dataclass(frozen=True)
class ModelSpec:
    """An ordered list of tensors, a seed (may be None until the CLI sets one) and metadata."""

    tensors: tuple
    seed: Any = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        seen = set()
        for t in self.tensors:
            if t.name in seen:
                raise SpecError(f"tensor {t.name!r}: duplicate name")
            seen.add(t.name)
        check_size(self.tensors)
        if self.seed is not None:
            check_seed(self.seed)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    def with_options(self, seed=None, dtype=None):
        """A copy with the seed and/or every tensor's dtype replaced."""
        tensors = self.tensors
        if dtype is not None:
            dtype = canonical_dtype(dtype, "dtype")
            tensors = tuple(replace(t, dtype=dtype) for t in tensors)
        return ModelSpec(tensors, self.seed if seed is None else seed, dict(self.metadata))

    def subset(self, names):
        """A spec holding only the tensors named in ``names`` (in this spec's order)."""
        names = set(names)
        return ModelSpec(tuple(t for t in self.tensors if t.name in names), self.seed, dict(self.metadata))

    def __getitem__(self, name):
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)


def check_size(tensors):
    """Refuse tensors that no file can hold: a dimension past 2**63 - 1 (numpy's intp), a
    tensor or all of them together over ``MAX_BYTES``.  Checked on every ``ModelSpec``, so
    ``--dtype`` and ``with_options`` are held to it too, before any file is created."""
    total = 0
    for t in tensors:
        if any(d >= 1 << 63 for d in t.shape):
            raise SpecError(f"tensor {t.name!r}: field 'shape': {list(t.shape)} has a dimension of 2**63 or "
                            f"more; a file holds dimensions below 2**63")
        if t.nbytes > MAX_BYTES:
            raise SpecError(f"tensor {t.name!r}: field 'shape': {list(t.shape)} of {t.dtype} is {t.nbytes:,} "
                            f"bytes; {_LIMIT}")
        total += t.nbytes
    if total > MAX_BYTES:
        raise SpecError(f"tensors: {total:,} bytes in all; {_LIMIT}")


def check_seed(seed):
    try:
        return _validate.u64(seed, "seed")
    except (TypeError, ValueError):
        raise SpecError(f"seed: must be an int in [0, 2**64); got {seed!r}") from None


def _shape(value, name):
    try:
        if isinstance(value, (list, tuple)):
            return _validate.shape(value)
    except (TypeError, ValueError):
        pass
    raise SpecError(f"tensor {name!r}: field 'shape': expected a list of ints >= 0; got {value!r}")


def tensor(name, shape, scheme, dtype="float32", base_width=None) -> TensorSpec:
    """A validated TensorSpec (the scheme spec is parsed against the registry); ``base_width``
    is given to a ``mup_normal`` scheme that does not set its own."""
    if not isinstance(name, str) or not name:
        raise SpecError(f"tensor name: expected a non-empty str; got {name!r}")
    shape = _shape(shape, name)
    dtype = canonical_dtype(dtype, f"tensor {name!r}: field 'dtype'")
    try:
        fn, kwargs = schemes.parse(scheme)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"tensor {name!r}: field 'scheme': {exc}") from None
    if fn is schemes.mup_normal_ and kwargs.get("base_width") is None:
        if base_width is None:
            raise SpecError(f"tensor {name!r}: scheme {scheme!r} needs base_width: set it in the scheme or "
                            f"'base_width' at the top of the spec")
        kwargs["base_width"] = base_width
    return TensorSpec(name, shape, dtype, scheme, fn, kwargs)


def from_dict(data, source="spec") -> ModelSpec:
    """Validate a spec given as a dict (the parsed TOML/JSON)."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a table/object at the top level")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise SpecError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(_TOP_KEYS))}")
    seed = data.get("seed")
    if seed is not None:
        check_seed(seed)
    default_dtype = canonical_dtype(data.get("dtype", "float32"), "field 'dtype'")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or not all(isinstance(v, str) for v in defaults.values()):
        raise SpecError("field 'defaults': expected a table of pattern = \"scheme\"")
    for pattern, scheme in defaults.items():   # report a bad default even if nothing matches it
        try:
            schemes.parse(scheme)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"defaults[{pattern!r}]: {exc}") from None
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise SpecError("field 'metadata': expected a table of str = \"str\"")
    base_width = data.get("base_width")
    if base_width is not None:
        if isinstance(base_width, bool) or not isinstance(base_width, int) or base_width < 1:
            raise SpecError(f"field 'base_width': expected an int >= 1 (muP's base width); got {base_width!r}")
        if metadata.get(BASE_WIDTH_KEY, str(base_width)) != str(base_width):
            raise SpecError(f"field 'metadata': {BASE_WIDTH_KEY} = {metadata[BASE_WIDTH_KEY]!r} contradicts "
                            f"base_width = {base_width}")
        metadata = {**metadata, BASE_WIDTH_KEY: str(base_width)}
    entries = data.get("tensors")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"{source}: field 'tensors': expected a non-empty list of tensors")
    tensors = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SpecError(f"tensors[{k}]: expected a table with name, shape[, dtype, scheme]")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"tensors[{k}]: field 'name': expected a non-empty str; got {name!r}")
        unknown = set(entry) - _TENSOR_KEYS
        if unknown:
            raise SpecError(f"tensor {name!r}: unknown field(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(_TENSOR_KEYS))}")
        if "shape" not in entry:
            raise SpecError(f"tensor {name!r}: field 'shape' is missing")
        scheme = entry.get("scheme") or match_default(name, defaults)
        if scheme is None:
            raise SpecError(f"tensor {name!r}: field 'scheme' is missing and no pattern in 'defaults' "
                            f"matches the name")
        tensors.append(tensor(name, entry["shape"], scheme, entry.get("dtype", default_dtype), base_width))
    return ModelSpec(tuple(tensors), seed, dict(metadata))


def match_default(name, defaults):
    """The scheme of the first pattern in ``defaults`` (in order) that matches ``name``."""
    for pattern, scheme in defaults.items():
        if fnmatch.fnmatchcase(name, pattern):
            return scheme
    return None
