"""Sphinx configuration of fastinit's API reference (``make docs``; built with -W in make test).

Every page is generated from the docstrings by autodoc; the guides are the Markdown files in
docs/, linked from the index.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "jax")  # fastinit.keras: the backend the tests use

from fastinit._version import __version__  # noqa: E402

project = "fastinit"
author = "the fastinit developers"
copyright = "2026, the fastinit developers"
version = release = __version__

extensions = ["sphinx.ext.autodoc"]
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"          # the signatures show the defaults; the docstrings the types
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
