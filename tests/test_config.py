"""show_config, the instruction-set override, and a default path without JIT."""

import io
import os
import subprocess
import sys

import pytest

import fastinit


def test_show_config_names_version_backends_isa_and_threads():
    buf = io.StringIO()
    fastinit.show_config(file=buf)
    text = buf.getvalue()
    assert f"fastinit {fastinit.__version__}" in text
    assert f"stream layout: version {fastinit.STREAM_LAYOUT}" in text
    assert "backend c" in text and "backend numba" in text
    assert "C kernels instruction set:" in text and "threads:" in text


def run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_fastinit_isa_overrides_the_dispatch():
    r = run("from fastinit.kernels import _c; print(_c.isa())", FASTINIT_ISA="baseline")
    assert r.returncode == 0 and r.stdout.strip() == "baseline"


def test_unknown_fastinit_isa_is_a_clear_error():
    r = run("import numpy as np, fastinit; fastinit.normal_(np.empty(4, np.float32), seed=0, stream=0)", FASTINIT_ISA="sse9")
    assert r.returncode != 0
    assert "isa must be one of ('baseline', 'avx2', 'avx512', 'avx512bf16') and supported by this CPU; got 'sse9'" in r.stderr


def test_the_default_path_never_loads_numba():
    # no JIT stall on the first fill: the default (C) backend does not even import Numba
    r = run("import sys, numpy as np, fastinit; fastinit.normal_(np.empty(1 << 20, np.float32), seed=0, stream=0); "
            "print('numba' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
