"""Where a spec comes from: a TOML/JSON spec file, a Hugging Face config.json, a preset name.

Above both ``spec`` (the format) and ``presets`` (configs turned into specs), so neither
imports the other's caller.
"""

import json
import os
import tomllib

from . import presets
from .spec import ModelSpec, SpecError, from_dict


def load(path) -> ModelSpec:
    """A spec from a TOML or JSON file, or a preset: an HF config.json or a preset's name."""
    if not os.path.exists(path):
        if path in presets.NAMED:
            return presets.from_config(presets.NAMED[path])
        raise SpecError(f"spec {path!r}: no such file, and not a preset name "
                        f"(presets: {', '.join(presets.NAMED)})")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if path.endswith(".toml"):
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"spec {path!r}: cannot parse as TOML or JSON: {exc}") from None
    if presets.is_config(data):
        return presets.from_config(data)
    return from_dict(data, source=f"spec {path!r}")
