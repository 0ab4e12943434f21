"""Finding the processes that keep a runner's output pipe open."""

from __future__ import annotations

import os
import subprocess
import sys

from sidecar_sync._proctree import pipe_holders

TIMEOUT = 30.0


def _holding(fd: int) -> subprocess.Popen[bytes]:
    """A child that holds ``fd`` (past its exec) until its stdin closes."""
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], pass_fds=(fd,), stdin=subprocess.PIPE
    )


def test_only_processes_holding_the_write_end_keep_a_pipe_open() -> None:
    """A reader (like a child forked while another runner starts) is not a holder; a writer is."""
    read_end, write_end = os.pipe()
    children = []
    try:
        children = [_holding(read_end), _holding(write_end)]
        reader, writer = children
        holders = pipe_holders(os.fstat(read_end).st_ino)
        assert writer.pid in holders
        assert reader.pid not in holders
        assert os.getpid() not in holders
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(TIMEOUT)
        os.close(read_end)
        os.close(write_end)
