"""Hugging Face configs as model specs: the plan of the model transformers builds from a
``config.json``, so ``fastinit fill config.json`` writes what ``materialize`` gives.

``spec_from_config(config)`` builds the model on the meta device (no memory, no hub
access), records its init code (``fastinit.torch.plan``) and returns a
``fastinit.model.ModelSpec`` whose tensors are the model's state dict as
``save_pretrained`` writes it: parameters under their first name (tied copies left out,
as transformers leaves them out) and persistent floating buffers.  Each tensor is
filled by its plan ops with its name as the stream, the same call ``materialize`` makes,
so a file and a materialized model with the same seed and dtype hold the same bits.
Needs the ``hf`` extra (transformers).
"""

import json
import os

import torch

from .._extras import install_hint
from ..model import plan as _plan
from ..model.spec import ModelSpec, SpecError, TensorSpec, canonical_dtype
from .module import plan as _module_plan

_TORCH_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32",
                torch.float64: "float64"}
# the model class for a config without ``architectures``: the first auto class that knows it
_AUTO = ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForMaskedLM", "AutoModel")


def _transformers():
    try:
        import transformers
    except ImportError:
        raise SpecError(f"config.json: this model type needs transformers ({install_hint('hf')})") from None
    return transformers


def read_config(config):
    """The config dict of a path to a ``config.json`` (or a dict, returned as is)."""
    if isinstance(config, (str, os.PathLike)):
        with open(config) as f:
            try:
                config = json.load(f)
            except json.JSONDecodeError as exc:
                raise SpecError(f"config.json {os.fspath(config)!r}: not JSON: {exc}") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise SpecError("config.json: expected an object with a 'model_type' field")
    return config


def config_dtype(config):
    """The canonical dtype a config asks for (``dtype``, transformers 5, or ``torch_dtype``), or None."""
    value = config.get("dtype") or config.get("torch_dtype")
    if value in (None, "auto"):
        return None
    return canonical_dtype(str(value).removeprefix("torch."), "config.json: dtype")


def build_meta(config):
    """The transformers model of a config dict, on the meta device."""
    transformers = _transformers()
    data = {k: v for k, v in config.items() if k not in ("dtype", "torch_dtype", "transformers_version")}
    try:
        cfg = transformers.AutoConfig.for_model(**data)
    except (ValueError, KeyError) as exc:
        raise SpecError(f"config.json: transformers cannot read it: {exc}") from None
    classes = []
    for arch in config.get("architectures") or ():
        cls = getattr(transformers, str(arch), None)
        if cls is not None:
            classes.append(cls)
    classes += [getattr(transformers, name) for name in _AUTO]
    errors = []
    for cls in classes:
        try:
            with torch.device("meta"):
                if hasattr(cls, "from_config"):
                    return cls.from_config(cfg)
                return cls._from_config(cfg)
        except (ValueError, KeyError, TypeError) as exc:
            errors.append(f"{getattr(cls, '__name__', cls)}: {exc}")
    raise SpecError(f"config.json: model_type {config['model_type']!r}: no transformers model class builds it "
                    f"({'; '.join(e.splitlines()[0] for e in errors)})")


def spec_from_config(config, dtype=None) -> ModelSpec:
    """The ``ModelSpec`` of an HF config (a dict or a path to ``config.json``).

    ``dtype``: every floating tensor's dtype (default: the config's ``dtype`` /
    ``torch_dtype``, else float32).  A tensor the model's init code leaves unwritten is a
    SpecError naming it (as ``materialize`` refuses it).
    """
    config = read_config(config)
    dtype = canonical_dtype(dtype, "dtype") if dtype is not None else config_dtype(config) or "float32"
    model = build_meta(config)
    p = _module_plan(model)
    try:
        p.check()
    except ValueError as exc:
        raise SpecError(f"config.json: {exc}") from None
    tensors = []
    for e in p.entries.values():
        if e.kind == "buffer" and (not e.persistent or e.dtype not in _TORCH_NAMES):
            continue
        tensors.append(TensorSpec(e.name, e.shape, dtype, e.describe(), _plan.fill, {"ops": e.ops}))
    return ModelSpec(tuple(tensors), None, {"fastinit.config": config["model_type"]})


__all__ = ["build_meta", "config_dtype", "read_config", "spec_from_config"]
