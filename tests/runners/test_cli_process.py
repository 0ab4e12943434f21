"""runners._cli_process: reading a CLI's NDJSON stdout and ending its whole process tree.

Real subprocesses stand in for the CLIs: small Python programs that print odd
output, leave a grandchild holding their stdout, or start helpers in sessions of
their own that ignore SIGTERM (as Codex's command processes live in their own
process groups).
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

import pytest

from sidecar_sync.runners._children import PIPE, ChildProcess
from sidecar_sync.runners._cli_process import CliOutput, ProcessTree, descendants, stderr_summary
from tests._proc import is_alive, wait_gone


def python_child(code: str, **kwargs: object) -> ChildProcess:
    return ChildProcess([sys.executable, "-c", textwrap.dedent(code)], name="fake-cli", stdout=PIPE, **kwargs)


def reap(child: ChildProcess) -> int | None:
    """Wait for a child that is ending by itself, then close its pipes."""
    child.wait(5)
    return child.terminate(0)


def read_all(out: CliOutput, timeout: float = 30.0) -> list:
    lines = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"CLI output not at its end after {timeout} s"
        batch = out.read()
        if not batch:
            return lines
        lines += batch


def test_output_parses_objects_and_skips_the_rest(caplog):
    """JSON objects come out with their raw bytes; other lines are counted and logged, never returned."""
    child = python_child(
        r"""
        import sys
        w = sys.stdout.buffer.write
        w(b'{"type":"a","n":1}\n')
        w(b'not json\n')
        w(b'null\n[1,2]\n')
        w(b'\xff\xfe\n')
        w(b'  {"type":"b"}  \r\n')
        w(b'{"type":"c"}')  # no trailing newline
        """
    )
    out = CliOutput(child, "fake")

    lines = read_all(out)

    assert lines == [
        (b'{"type":"a","n":1}', {"type": "a", "n": 1}),
        (b'{"type":"b"}', {"type": "b"}),
        (b'{"type":"c"}', {"type": "c"}),
    ]
    assert out.eof and out.invalid_lines == 4
    assert "not a JSON object" in caplog.text
    assert reap(child) == 0


def test_output_ends_when_the_cli_exits_but_a_grandchild_holds_stdout():
    """Exit is not EOF: a leftover grandchild keeping the pipe open does not hang the reader."""
    # The grandchild sleeps past the test timeout: were exit not noticed, the test would hang.
    child = python_child(
        """
        import json, subprocess, sys
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # inherits stdout
        print(json.dumps({"type": "done", "holder": holder.pid}), flush=True)
        """
    )
    out = CliOutput(child, "fake")

    first = out.read()
    holder = first[0][1]["holder"]
    try:
        rest = read_all(out)

        assert [event["type"] for _raw, event in first + rest] == ["done"]
        assert is_alive(holder) and out.eof  # stdout still held open, yet reading ended
    finally:
        os.kill(holder, signal.SIGKILL)
    assert not wait_gone({holder}, timeout=5)
    assert reap(child) == 0


def test_retire_kills_helpers_in_their_own_sessions():
    """A CLI whose helper runs in a new session and ignores SIGTERM: retire() leaves nothing alive."""
    child = python_child(
        """
        import os, signal, subprocess, sys, time
        helper = subprocess.Popen(
            [sys.executable, "-c",
             "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
             "print('up', flush=True); time.sleep(60)"],
            start_new_session=True, stdout=subprocess.PIPE,
        )
        helper.stdout.readline()
        print('{"type":"ready"}', flush=True)
        time.sleep(60)
        """
    )
    tree = ProcessTree(child)
    out = CliOutput(child, "fake")
    assert out.read()[0][1] == {"type": "ready"}
    helpers = set(descendants(child.pid))
    assert len(helpers) == 1

    code = tree.retire(1.0)

    assert code == -signal.SIGTERM
    assert not wait_gone(helpers, timeout=5), "the helper survived"


def test_signal_snapshots_the_tree_before_the_cli_dies():
    """After signal(), helpers orphaned by the CLI's exit are still known and killed by retire()."""
    child = python_child(
        """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        print('{"type":"ready"}', flush=True)
        time.sleep(60)
        """
    )
    tree = ProcessTree(child)
    out = CliOutput(child, "fake")
    assert out.read()[0][1] == {"type": "ready"}
    deadline = time.monotonic() + 5
    while not descendants(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)

    tree.signal(signal.SIGKILL)  # the CLI dies at once; its helper is orphaned
    helper = set(tree.known)
    assert helper and child.wait(5) == -signal.SIGKILL
    assert all(is_alive(pid) for pid in helper)
    assert not descendants(child.pid)

    tree.retire(0.5)

    assert not wait_gone(helper, timeout=5)


def test_leftovers_ignore_recycled_pids():
    """A known pid whose start time changed (recycled) is never signalled."""
    child = python_child("import time; time.sleep(30)")
    tree = ProcessTree(child)
    tree.known = {child.pid: -1}  # same pid, another start time

    assert tree.leftovers() == []
    child.terminate(1.0)


def test_stderr_summary_drops_noise():
    """The error summary keeps the last meaningful stderr lines and drops known noise."""
    import re

    child = python_child(
        """
        import sys
        for line in ["WARNING: noise 1", "real problem A", "", "WARNING: noise 2", "real problem B"]:
            print(line, file=sys.stderr)
        """,
        forward_stderr=False,
    )
    assert reap(child) == 0

    assert stderr_summary(child, [re.compile(r"^WARNING: noise")]) == "real problem A | real problem B"
    assert stderr_summary(child, [], lines=1) == "real problem B"


@pytest.mark.parametrize("size", [0, 1, 70_000])
def test_output_handles_lines_across_reads(size):
    """Lines longer than one read are reassembled; the raw bytes are the line as written."""
    child = python_child(
        f"""
        import json, sys
        sys.stdout.write(json.dumps({{"type": "big", "text": "x" * {size}}}) + "\\n")
        """
    )
    lines = read_all(CliOutput(child, "fake"))

    assert len(lines) == 1 and lines[0][1]["text"] == "x" * size
    assert reap(child) == 0
