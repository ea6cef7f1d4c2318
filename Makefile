# fastinit: `make demo` and `make test` work on a fresh machine with Python 3.11 and gcc.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fastinit-installed

.PHONY: demo test test-lowest sanitize bench compare docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# (re)install when the build inputs change: the C kernels are compiled by pip via cffi.
# torch==2.13.0 (CPU wheel on this machine kind), JAX (with flax, a test extra) and Dask let the
# tests check every front end against its library; matplotlib draws the signal-propagation figures.
$(STAMP): $(BIN)/python pyproject.toml setup.py $(wildcard csrc/*) fastinit/kernels/_ffi_build.py
	$(BIN)/python -m pip install -q -e ".[test,bench,torch,jax,dask,docs,plot,keras,hf]"
	touch $(STAMP)

# the same suite on the oldest versions pyproject.toml admits (constraints/lowest.txt): the bits
# must not depend on which versions pip resolves
LOWEST := .venv-lowest
$(LOWEST)/.fastinit-installed: pyproject.toml setup.py constraints/lowest.txt $(wildcard csrc/*) fastinit/kernels/_ffi_build.py
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q --upgrade pip
	$(LOWEST)/bin/python -m pip install -q -c constraints/lowest.txt -e ".[test,bench,torch,jax,dask,docs,plot,keras,hf]"
	touch $@

test-lowest: $(LOWEST)/.fastinit-installed
	$(LOWEST)/bin/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) sanitize

# The C kernels built with AddressSanitizer and UBSan in a copy of the tree (build/sanitize; the
# normal build is untouched), and the tests that drive them run there: C backend, every ISA,
# shards, guards, random shapes and offsets.  Python is not built with ASan, so the runtime is
# preloaded, with libstdc++ (else ASan aborts in jaxlib/libtorch on their first C++ exception);
# CPython's own allocations are not leaks we can fix: detect_leaks=0.  About 2.5 CPU-minutes (build
# included; 14 minutes of wall time on a 2-core machine shared by other jobs at load 10).
SAN_DIR   := build/sanitize
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_TESTS := tests/core/test_rng.py tests/core/test_contract.py tests/kernels/test_masked.py tests/schemes/test_sparse.py \
             tests/core/test_golden.py tests/core/test_properties.py
SAN_PRELOAD = $(shell gcc -print-file-name=libasan.so) $(shell gcc -print-file-name=libubsan.so) \
              $(shell gcc -print-file-name=libstdc++.so)

sanitize: $(STAMP)
	rm -rf $(SAN_DIR) && mkdir -p $(SAN_DIR)
	cp -r csrc fastinit tests docs setup.py pyproject.toml README.md $(SAN_DIR)/
	find $(SAN_DIR) \( -name __pycache__ -o -name '*.so' \) -prune -exec rm -rf {} +
	cd $(SAN_DIR) && FASTINIT_CFLAGS="$(SAN_FLAGS)" FASTINIT_LDFLAGS="$(SAN_FLAGS)" \
		$(abspath $(BIN))/python setup.py build_ext --inplace > build.log 2>&1 || (cat build.log; exit 1)
	cd $(SAN_DIR) && LD_PRELOAD="$(SAN_PRELOAD)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(abspath $(BIN))/python -m pytest -q -p no:cacheprovider -k "not numba" $(SAN_TESTS)

bench: $(STAMP)
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-group-by=group -q

# bench.compare writes bench/results/compare.json; bench.report turns it into README's
# Performance table and docs/img/throughput.png
compare: $(STAMP)
	$(BIN)/python -m bench.compare
	$(BIN)/python -m bench.report
	$(BIN)/python -m bench.test_orthogonal
	$(BIN)/python -m bench.torch_init
	$(BIN)/python -m bench.hf_models

# the API reference from the docstrings (make test builds it too, tests/project/test_api_reference.py)
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs/api build/docs/html

clean:
	rm -rf $(VENV) $(LOWEST) build *.egg-info demo-out fastinit/kernels/_cfill*.so
