"""The readers' reused buffer: page-aligned, writable by ``os.readv``, private to the process."""

from __future__ import annotations

import ctypes
import mmap
import os

from sidecar_sync._readbuf import read_buffer


def address(buffer: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def test_the_buffer_starts_on_a_page_boundary() -> None:
    for size in (4096, 256 << 10, 1 << 20, 100_000):
        buffer = read_buffer(size)
        assert len(buffer) == size
        assert address(buffer) % mmap.PAGESIZE == 0


def test_readv_fills_it_and_a_view_sees_the_bytes() -> None:
    buffer = read_buffer(1 << 16)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b'{"type":"ready"}\n')
        size = os.readv(read_end, (buffer,))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert bytes(memoryview(buffer)[:size]) == b'{"type":"ready"}\n'


def test_a_forked_child_writing_into_it_does_not_change_the_parents_bytes() -> None:
    buffer = read_buffer(4096)
    buffer[:5] = b"mine!"
    pid = os.fork()
    if pid == 0:  # the child: overwrite, then leave without running any Python cleanup
        buffer[:5] = b"child"
        os._exit(0 if buffer[:5] == b"child" else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert buffer[:5] == b"mine!"
