"""The reused buffer a reader fills with ``os.readv``: page-aligned, private to the process.

A ``bytearray`` of this size is allocated by ``malloc`` and starts 16 bytes into a page.
On some x86 CPUs the kernel's copy into user memory is several times slower at that
offset than at a page boundary (``bench/README.md``, "Before and after the redesign"),
so a reader takes its buffer from an anonymous private mapping instead: page-aligned,
zero-filled on first touch, not shared with a forked child.
"""

from __future__ import annotations

import mmap

__all__ = ["read_buffer"]


def read_buffer(size: int) -> mmap.mmap:
    """A writable, page-aligned buffer of ``size`` bytes for ``os.readv``."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
