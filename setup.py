"""Build hook: compiles the C NDJSON framer with cffi. Metadata lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["csrc/framer_build.py:ffibuilder"])
