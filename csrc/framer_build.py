"""cffi build script for the C NDJSON framer (out-of-line API mode).

``setup.py`` names ``csrc/framer_build.py:ffibuilder`` in ``cffi_modules``;
running this file directly compiles ``sidecar_sync/_framer*.so`` in place.
The declarations come from ``ndjson_framer.h`` itself, so C stays the single
source of truth for the API, its result structs and its constants (status codes,
result kinds, the batching limit); the framer struct itself is opaque.

Environment:
    SIDECAR_SYNC_CFLAGS  extra flags for the compiler and the linker, split on spaces
                         (e.g. ``-fsanitize=address,undefined``; see csrc/tests/).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
HEADER = HERE / "ndjson_framer.h"
SOURCE = HERE / "ndjson_framer.c"

_DEFINE = re.compile(r"^#define\s+(NDJSON_[A-Z_]+)\s+\S")


def cdef_from_header(text: str) -> str:
    """Turn the header into a cdef: NDJSON_* constants become ``...`` (filled in by
    the compiler), other preprocessor lines are dropped, C declarations are kept."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            match = _DEFINE.match(stripped)
            if match:
                lines.append(f"#define {match.group(1)} ...")
            continue
        lines.append(line)
    return "\n".join(lines)


def extra_flags() -> list[str]:
    return os.environ.get("SIDECAR_SYNC_CFLAGS", "").split()


def compile_flags() -> list[str]:
    flags = ["-O3", "-std=c99", "-Wall", "-Wextra", "-Wshadow", "-Wconversion", "-Wno-sign-conversion"]
    return flags + extra_flags()


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(HEADER.read_text()))
ffibuilder.set_source(
    "sidecar_sync._framer",
    '#include "ndjson_framer.h"',
    sources=[str(SOURCE.relative_to(HERE.parent))],
    include_dirs=[str(HERE.relative_to(HERE.parent))],
    extra_compile_args=compile_flags(),
    extra_link_args=extra_flags(),
)

if __name__ == "__main__":
    os.chdir(HERE.parent)
    ffibuilder.compile(verbose=True)
