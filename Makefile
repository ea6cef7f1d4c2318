# fastinit: `make demo` and `make test` work on a fresh machine with Python 3.11 and gcc.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fastinit-installed

.PHONY: demo test bench compare clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# (re)install when the build inputs change: the C kernels are compiled by pip via cffi.
# torch==2.13.0 (CPU wheel on this machine kind), JAX (with flax, a test extra) and Dask let the
# tests check every front end against its library; matplotlib draws the signal-propagation figures.
$(STAMP): $(BIN)/python pyproject.toml setup.py $(wildcard csrc/*) fastinit/kernels/_ffi_build.py
	$(BIN)/python -m pip install -q -e ".[test,bench,torch,jax,dask,plot]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-group-by=group -q

compare: $(STAMP)
	$(BIN)/python -m bench.compare
	$(BIN)/python -m bench.torch_init

clean:
	rm -rf $(VENV) build *.egg-info demo-out fastinit/kernels/_cfill*.so
