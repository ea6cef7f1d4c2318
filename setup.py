# The C kernels are built by cffi (out-of-line API mode); everything else is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["fastinit/kernels/_ffi_build.py:ffi"])
