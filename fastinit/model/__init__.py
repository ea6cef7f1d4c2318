"""Model files: specs (TOML/JSON or HF config.json presets) filled in place into
safetensors or .npy files, and verified against fastinit's contract.  See docs/model_files.md.

>>> from fastinit import model
>>> spec = model.load("llama-tiny").with_options(seed=0, dtype="bf16")
>>> model.fill(spec, "out/")                       # out/model.safetensors
>>> assert model.verify(spec, "out/") == []
"""

from .errors import CorruptFile, FileError, Incomplete, Locked, OutputExists, ResumeMismatch
from .presets import NAMED as PRESETS, from_config
from .sources import load
from .spec import ModelSpec, SpecError, TensorSpec, from_dict, tensor
from .writer import fill, finalize, shard_files, verify

__all__ = ["PRESETS", "CorruptFile", "FileError", "Incomplete", "Locked", "ModelSpec", "OutputExists",
           "ResumeMismatch", "SpecError", "TensorSpec", "fill", "finalize", "from_config", "from_dict", "load", "shard_files",
           "tensor", "verify"]
