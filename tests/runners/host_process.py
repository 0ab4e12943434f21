"""A stand-in for the process that hosts a manager, for the host-death tests.

Run as ``python -m tests.runners.host_process [--thread] [--hold-stdin] RUNNER_ARGV...``
from the repository root. It starts the runner as the manager does (pipes on
stdin/stdout, a new session, stderr inherited), prints
``{"type":"runner","pid":PID}``, and then relays: every line the runner writes
goes to this process's stdout, every line written to this process's stdin goes
to the runner. The test drives it with a :class:`~tests.runners.client.RunnerClient`
and kills it (SIGKILL) to play a host that dies.

Options:
    --thread      spawn the runner from a thread that exits once the runner is
                  ready, while this process lives on (the thread caveat of
                  ``PR_SET_PDEATHSIG``).
    --hold-stdin  start a helper process that keeps a copy of the runner's stdin
                  pipe open, so that the host's death does not close it: the
                  runner must notice its parent's death some other way. The
                  helper is in this process's group and ends with it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from typing import IO


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)


def _relay(source: IO[bytes], target: IO[bytes]) -> None:
    try:
        for line in iter(source.readline, b""):
            target.write(line)
            target.flush()
    except BrokenPipeError:
        pass  # the other side is gone; the test looks at what happened


def main(args: list[str]) -> None:
    thread_mode = "--thread" in args
    hold_stdin = "--hold-stdin" in args
    argv = [a for a in args if a not in ("--thread", "--hold-stdin")]
    out = sys.stdout.buffer

    started: list[tuple[subprocess.Popen[bytes], bytes]] = []

    def start() -> None:
        proc = _spawn(argv)
        assert proc.stdout is not None
        started.append((proc, proc.stdout.readline()))  # "ready": the runner is set up

    if thread_mode:
        spawner = threading.Thread(target=start, name="host-spawner")
        spawner.start()
        spawner.join()
    else:
        start()
    proc, ready = started[0]
    assert proc.stdin is not None and proc.stdout is not None
    if hold_stdin:
        subprocess.Popen(
            [sys.executable, "-c", "import signal; signal.pause()"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(proc.stdin.fileno(),),
        )
    out.write(b'{"type":"runner","pid":%d}\n' % proc.pid)
    out.write(ready)
    out.flush()
    threading.Thread(target=_relay, args=(proc.stdout, out), name="host-stdout", daemon=True).start()
    _relay(sys.stdin.buffer, proc.stdin)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    proc.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
