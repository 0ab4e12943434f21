"""Learning an agent CLI's version from ``<cli> --version``, in the background.

The claude runner reads its CLI's version from the CLI's own init event; Codex
prints none, so the codex runner asks the CLI itself, once per runner process.
:class:`CliVersion` starts ``<cli> --version`` (an argv list, no shell) through
:meth:`runners._runner.Runner.spawn`, so the child is in the runner's process group
and is ended with the runner's other children at exit. A daemon thread reads its
first bytes of stdout and waits for its exit, both within one deadline (the
bound, :data:`VERSION_TIMEOUT` seconds from the start); a CLI still running then
is ended with everything it started. Any failure (it cannot be started, it exits
non-zero, it prints nothing, it hangs) leaves the version unknown (None) and is
logged at debug level only: a missing version never fails a session.

The turn that needs the answer waits for it at most until that same deadline
(:meth:`CliVersion.result`); the probe is started when the session is configured,
so a CLI that answers at once is done long before the first turn needs it.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from ._children import PIPE
from ._cli_process import ProcessTree, wait_exit

if TYPE_CHECKING:
    from ._children import ChildProcess
    from ._runner import Runner

__all__ = ["CliVersion", "VERSION_TIMEOUT", "first_line"]

log = logging.getLogger(__name__)

#: Seconds ``<cli> --version`` may take, from its start to its exit (and the longest a turn waits for it).
VERSION_TIMEOUT: Final = 5.0
#: Bytes of its stdout read at most.
MAX_OUTPUT: Final = 4096
#: Characters of a first line kept at most as a version.
MAX_VERSION_TEXT: Final = 200
#: Seconds between checks of a turn's stop flag while it waits for the answer.
STOP_CHECK: Final = 0.05


def first_line(output: bytes) -> str | None:
    """The first non-blank line of ``output``, trimmed (at most :data:`MAX_VERSION_TEXT` characters); None if blank."""
    for line in output.decode("utf-8", "replace").splitlines():
        text = line.strip()
        if text:
            return text[:MAX_VERSION_TEXT]
    return None


class CliVersion:
    """``<cli> --version`` run once, in the background; :meth:`result` is the version or None.

    Args:
        runner: the runner whose child the CLI becomes (:meth:`Runner.spawn`).
        argv: the command line, e.g. ``[cli, "--version"]``.
        parse: turns the output (non-blank) into the version to report.
        cwd, env: the CLI's working directory and environment (as for its turns).
        timeout: the bound, in seconds from now.
    """

    def __init__(
        self,
        runner: Runner,
        argv: Sequence[str],
        parse: Callable[[bytes], str | None] = first_line,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = VERSION_TIMEOUT,
    ) -> None:
        self.argv = list(argv)
        self.deadline = time.monotonic() + timeout
        self._parse = parse
        self._grace = runner.exit_grace
        self._done = threading.Event()
        self._value: str | None = None
        try:
            child = runner.spawn(
                self.argv, name=f"{runner.name}-version", cwd=cwd, env=env, stdout=PIPE, forward_stderr=False
            )
        except OSError as exc:
            log.debug("%s: cannot run %s: %s", runner.name, self.argv, exc)
            self._done.set()
            return
        thread = threading.Thread(target=self._run, args=(child,), name=f"{runner.name}-version", daemon=True)
        thread.start()

    @property
    def done(self) -> bool:
        """True once the answer is known (a version or None)."""
        return self._done.is_set()

    def result(self, stopped: Callable[[], bool] | None = None) -> str | None:
        """The version; waits for it until the deadline at most (less if ``stopped()`` turns true)."""
        while not self._done.is_set():
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or (stopped is not None and stopped()):
                break
            self._done.wait(min(remaining, STOP_CHECK))
        return self._value if self._done.is_set() else None

    def _run(self, child: ChildProcess) -> None:
        try:
            self._value = self._ask(child)
        except Exception:  # a version is a nicety: never let it break the runner
            log.debug("%s failed", self.argv, exc_info=True)
        finally:
            self._done.set()

    def _ask(self, child: ChildProcess) -> str | None:
        tree = ProcessTree(child)
        try:
            output = self._read(child)
            code = wait_exit(child, max(0.0, self.deadline - time.monotonic()))
        finally:
            tree.retire(self._grace(0.5))  # reaps it; ends it and its helpers if still running
        if code is None:
            log.debug("%s gave no answer within the bound; version unknown", self.argv)
            return None
        if code != 0:
            stderr = " | ".join(line.strip() for line in child.stderr_tail(5, wait=0.2) if line.strip())
            log.debug("%s exited with %d (%s); version unknown", self.argv, code, stderr or "no stderr")
            return None
        if not output.strip():
            log.debug("%s printed nothing; version unknown", self.argv)
            return None
        return self._parse(output)

    def _read(self, child: ChildProcess) -> bytes:
        """Its stdout up to EOF, :data:`MAX_OUTPUT` bytes or the deadline, whichever comes first."""
        assert child.stdout is not None
        fd = child.stdout.fileno()
        data = b""
        while len(data) < MAX_OUTPUT:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                break
            chunk = os.read(fd, MAX_OUTPUT - len(data))
            if not chunk:
                break
            data += chunk
        return data
