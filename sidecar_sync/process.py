"""Runner processes: spawn in their own process group, write, signal, watch, reap.

Mechanics only; the policy (when to stop, what a status means) lives in the session
and the manager.

* :func:`spawn` starts an argv (never a shell) with three pipes, ``start_new_session``
  (so the runner and every child it starts share one process group that we can
  signal as a whole), an explicit environment and ``close_fds``. The stdout pipe is
  widened to :data:`PIPE_SIZE` where the kernel allows it: fewer, larger reads.
* :class:`RunnerProcess` owns the child. :meth:`RunnerProcess.wait_exit` blocks until
  the leader exits *without reaping it* (``waitid(WNOWAIT)``): while the zombie holds
  its pid, the process group id cannot be reused, so signalling the group after the
  leader's exit (to kill a grandchild that still holds stdout open) can never hit an
  unrelated process. :meth:`RunnerProcess.reap` collects the status afterwards.
  Every signal and the reap happen under one lock, so no signal is sent after reaping.
* :class:`PipeWriter` writes whole NDJSON lines to the runner's stdin: one lock, so
  lines from several threads never interleave; a non-blocking fd with a deadline,
  so a runner that stops reading cannot hang the caller forever.
"""

from __future__ import annotations

import fcntl
import logging
import os
import select
import signal
import subprocess
import threading
import time
from typing import Final, Mapping, Sequence

from ._proctree import descendants, kill_known
from .errors import RunnerGoneError, RunnerNotFoundError, RunnerStartError, WaitTimeoutError

__all__ = [
    "PIPE_SIZE",
    "spawn",
    "describe_exit",
    "RunnerProcess",
    "PipeWriter",
]

log = logging.getLogger(__name__)

#: Requested size of the runner's stdout pipe, in bytes (Linux ``F_SETPIPE_SZ``).
PIPE_SIZE: Final = 1 << 20

_F_SETPIPE_SZ: Final = getattr(fcntl, "F_SETPIPE_SZ", None)
_HAVE_WAITID: Final = hasattr(os, "waitid") and hasattr(os, "WNOWAIT")


def describe_exit(returncode: int) -> str:
    """A readable account of a return code: ``exited with code 3``, ``killed by SIGKILL (signal 9)``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "an unknown signal"
    return f"killed by {name} (signal {-returncode})"


def _widen_pipe(fd: int) -> None:
    if _F_SETPIPE_SZ is None:
        return
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
    except OSError as exc:  # EPERM above the per-user pipe quota: keep the default
        log.debug("could not widen pipe to %d bytes: %s", PIPE_SIZE, exc)


class RunnerProcess:
    """One runner child process and its pipes (raw fds, no Python file objects).

    Attributes:
        pid: the runner's pid, also its process group id.
        argv: what was started.
        stdin_fd, stdout_fd, stderr_fd: the parent's ends of the three pipes.
        exited: set once the leader has exited (see :meth:`wait_exit`).
        returncode: ``None`` until :meth:`reap`; negative for a signal, as in subprocess.
    """

    def __init__(self, popen: subprocess.Popen[bytes], argv: Sequence[str]) -> None:
        self._popen = popen
        self.pid: int = popen.pid
        self.argv = list(argv)
        # We read and write the raw fds; the Popen file objects only own them (and
        # close them in close_fds), so nothing else may close an fd under a reader.
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        self._files = (popen.stdin, popen.stdout, popen.stderr)
        self.stdin_fd = popen.stdin.fileno()
        self.stdout_fd = popen.stdout.fileno()
        self.stderr_fd = popen.stderr.fileno()
        _widen_pipe(self.stdout_fd)
        self.exited = threading.Event()
        self.returncode: int | None = None
        self._lock = threading.Lock()  # guards signalling vs. reaping, and the fds
        self._reaped = False
        self._tree: dict[int, int] = {}  # descendants seen at signalling time: pid -> start

    # -- signals -----------------------------------------------------------------

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the runner's whole process group.

        The group is not always the whole tree: a runner's child may move into a
        process group of its own (Codex runs each shell command so). So while the
        leader lives, its descendants are remembered (by pid and start time) at
        every signal, and SIGKILL also goes to each remembered one still alive.

        Returns:
            True if the signal was sent, False if the group is already gone or the
            leader was reaped (after which its pid may belong to someone else).
        """
        with self._lock:
            if self._reaped:
                return False
            if not self._has_exited_locked():
                self._tree.update(descendants(self.pid))
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                sent = False
            except PermissionError:
                # macOS answers EPERM for a group whose members are all zombies.
                log.debug("killpg(%d, %s): permission denied (group exiting)", self.pid, sig)
                sent = False
            else:
                log.debug("sent %s to process group %d", signal.Signals(sig).name, self.pid)
                sent = True
            if sig == signal.SIGKILL:
                strays = kill_known(self._tree)
                if strays:
                    log.debug("SIGKILLed %d descendants of %d outside its group", len(strays), self.pid)
            return sent

    # -- exit --------------------------------------------------------------------

    def wait_exit(self) -> None:
        """Block until the leader exits, leaving it unreaped; then set :attr:`exited`.

        Only one thread (the session's exit watcher) calls this.
        """
        if _HAVE_WAITID:
            while True:
                try:
                    os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
                    break
                except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                    continue
                except ChildProcessError:
                    break  # reaped elsewhere (cannot happen through this class); reap() copes
        else:  # pragma: no cover - no waitid on this platform: reap now
            self._popen.wait()
        self.exited.set()

    def has_exited(self) -> bool:
        """True if the leader has exited, asking the kernel now (does not reap).

        Unlike :attr:`exited`, this does not depend on the watcher thread having
        been scheduled since the exit, which can take a while on a loaded machine.
        """
        if self.exited.is_set():
            return True
        with self._lock:
            return self._has_exited_locked()

    def _has_exited_locked(self) -> bool:
        """:meth:`has_exited` for a caller holding the process lock."""
        if self._reaped or self.exited.is_set():
            return True
        if not _HAVE_WAITID:  # pragma: no cover
            return False
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # pragma: no cover - reaped elsewhere
            return True
        return info is not None and info.si_pid != 0

    def reap(self) -> int:
        """Collect the leader's exit status (after :meth:`wait_exit`); idempotent."""
        with self._lock:
            if not self._reaped:
                self.returncode = self._popen.wait()
                self._reaped = True
            assert self.returncode is not None
            return self.returncode

    def close_fds(self) -> None:
        """Close the parent's ends of all three pipes (idempotent).

        Call it only once the reader threads are done with the fds.
        """
        with self._lock:
            for f in self._files:
                f.close()

    def close_stdin(self) -> None:
        """Close the runner's stdin (it sees EOF); idempotent."""
        with self._lock:
            self._files[0].close()


def spawn(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> RunnerProcess:
    """Start a runner in a new session (and so a new process group) with three pipes.

    Args:
        argv: the program and its arguments; never interpreted by a shell.
        env: the complete environment of the child.
        cwd: its working directory (``None``: ours).

    Raises:
        RunnerNotFoundError: the program (``argv[0]``) does not exist.
        RunnerStartError: it exists but could not be started (permissions, limits).
    """
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=dict(env),
            cwd=cwd,
            close_fds=True,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        # The missing thing may be the program or the cwd (checked before, but racy).
        log.error("cannot start runner %r (cwd %r, PATH %r): %s", list(argv), cwd, env.get("PATH"), exc)
        missing = exc.filename or argv[0]
        raise RunnerNotFoundError(f"runner program not found: {missing!r} (argv {list(argv)!r})") from exc
    except OSError as exc:
        log.error("cannot start runner %r (cwd %r, PATH %r): %s", list(argv), cwd, env.get("PATH"), exc)
        raise RunnerStartError(f"cannot start runner {list(argv)!r}: {exc.strerror or exc}") from exc
    return RunnerProcess(popen, argv)


class PipeWriter:
    """Writes whole lines to a runner's stdin: serialised, bounded in time, never half a line twice.

    Args:
        process: the runner whose stdin this writes.
        label: names the session in messages.
    """

    def __init__(self, process: RunnerProcess, label: str) -> None:
        self._process = process
        self._fd = process.stdin_fd
        self._label = label
        self._lock = threading.Lock()
        self._broken: str | None = None  # why the pipe can no longer be written, once it cannot
        os.set_blocking(self._fd, False)

    @property
    def broken(self) -> str | None:
        """Why writing is no longer possible, or ``None`` while it is."""
        return self._broken

    def write(self, line: bytes, timeout: float) -> None:
        """Write one complete line, waiting at most ``timeout`` seconds for pipe space.

        Raises:
            RunnerGoneError: the runner closed its stdin (or exited), or the pipe
                was closed after an earlier failure.
            WaitTimeoutError: the runner did not read its stdin in time. The pipe is
                then closed, since part of the line may already be in it.
        """
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            raise WaitTimeoutError(f"session {self._label!r}: another write to the runner is still blocked")
        try:
            if self._broken is not None:
                raise RunnerGoneError(f"session {self._label!r}: runner stdin is closed ({self._broken})")
            view = memoryview(line)
            poller: select.poll | None = None
            while view:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:
                    written = 0
                except (BrokenPipeError, OSError) as exc:
                    self._fail(f"runner closed its stdin: {exc.strerror or exc}")
                    raise RunnerGoneError(
                        f"session {self._label!r}: runner closed its stdin (it may have exited)"
                    ) from exc
                view = view[written:]
                if not view:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    partial = len(view) < len(line)
                    if partial:
                        self._fail("a write timed out halfway through a line")
                    raise WaitTimeoutError(
                        f"session {self._label!r}: runner did not read its stdin within {timeout:g} s"
                        + ("; stdin closed" if partial else "")
                    )
                if poller is None:
                    poller = select.poll()
                    poller.register(self._fd, select.POLLOUT)
                poller.poll(remaining * 1000)
        finally:
            self._lock.release()

    def close(self, reason: str = "closed by the manager") -> None:
        """Close the runner's stdin (idempotent)."""
        with self._lock:
            if self._broken is None:
                self._broken = reason
            self._process.close_stdin()

    def _fail(self, reason: str) -> None:
        # Called with the lock held.
        self._broken = reason
        self._process.close_stdin()
