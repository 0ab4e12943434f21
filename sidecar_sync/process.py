"""Runner processes: spawn in their own process group, signal, watch for exit, reap.

Mechanics only; the policy (when to stop, what a status means) lives in
:mod:`sidecar_sync.ladder` and :mod:`sidecar_sync.session`.

* :func:`spawn` starts an argv (never a shell) with three pipes, ``start_new_session``
  (so the runner and every child it starts share one process group that can be
  signalled as a whole), an explicit environment and ``close_fds``. The stdout pipe
  is widened to :data:`PIPE_SIZE` where the kernel allows it, and the parent's ends
  of stdout and stderr are non-blocking: their readers wait in ``poll`` beside a
  wake-up pipe, so they can be told to stop reading even while a process that
  escaped the group holds the pipe open.
* :class:`RunnerProcess` owns the child. Its exit is watched without reaping it: a
  pidfd (Linux) becomes readable when the runner exits, and ``waitid(WNOWAIT)``
  reads the exit status while the zombie keeps its pid, so signalling the group
  after the leader's exit can never hit an unrelated process. The status is kept as
  soon as it is seen, so a foreign ``waitpid(-1)`` reaper in the host cannot turn a
  crash into exit code 0; if the host ignores SIGCHLD (the kernel reaps at once) the
  status is lost and :attr:`RunnerProcess.status_lost` says so. Every signal and the
  reap happen under one lock, so no signal is sent after reaping.
* A process spawned before a ``fork()`` belongs to the parent: in the child,
  signals and reaps do nothing.
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
from collections.abc import Mapping, Sequence
from typing import IO, Final

from ._proctree import descendants, kill_known
from .errors import RunnerNotFoundError, RunnerStartError

__all__ = ["PIPE_SIZE", "READ_SIZE", "spawn", "describe_exit", "RunnerProcess"]

log = logging.getLogger(__name__)

#: Requested size of the runner's stdout pipe, in bytes (Linux ``F_SETPIPE_SZ``).
PIPE_SIZE: Final = 1 << 20
#: Bytes asked of each stdout read. Every read releases the GIL, so with many sessions
#: a bigger read means fewer hand-overs between their threads; the pipe is widened too
#: (:data:`PIPE_SIZE`) so the runner can run ahead (bench/README.md, "Hot path").
READ_SIZE: Final = 256 << 10

_F_SETPIPE_SZ: Final = getattr(fcntl, "F_SETPIPE_SZ", None)
_HAVE_WAITID: Final = hasattr(os, "waitid") and hasattr(os, "WNOWAIT")


def describe_exit(returncode: int | None) -> str:
    """A readable account of a return code: ``exited with code 3``, ``killed by SIGKILL (signal 9)``."""
    if returncode is None:
        return "exit status lost: another handler reaped the runner"
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


def _open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError as exc:  # ENOSYS (old kernel), EPERM (sandbox): poll waitid instead
        log.debug("pidfd_open(%d) failed: %s; watching the runner by polling", pid, exc)
        return None
    os.set_inheritable(fd, False)
    return fd


class RunnerProcess:
    """One runner child process and its pipes (raw fds; the Popen file objects own them).

    Attributes:
        pid: the runner's pid, also its process group id.
        argv: what was started.
        stdin_fd, stdout_fd, stderr_fd: the parent's ends of the three pipes.
        returncode: ``None`` until reaped (and when the status was lost); negative
            for a signal, as in :mod:`subprocess`.
        status_lost: True if the exit status was reaped by someone else.
    """

    def __init__(self, popen: subprocess.Popen[bytes], argv: Sequence[str]) -> None:
        self._popen = popen
        self.pid: int = popen.pid
        self.argv = list(argv)
        self.owner_pid = os.getpid()
        assert popen.stdin is not None and popen.stdout is not None and popen.stderr is not None
        self._files: dict[str, IO[bytes]] = {"stdin": popen.stdin, "stdout": popen.stdout, "stderr": popen.stderr}
        self.stdin_fd = popen.stdin.fileno()
        self.stdout_fd = popen.stdout.fileno()
        self.stderr_fd = popen.stderr.fileno()
        _widen_pipe(self.stdout_fd)
        os.set_blocking(self.stdout_fd, False)
        os.set_blocking(self.stderr_fd, False)
        self.pidfd = _open_pidfd(self.pid)
        self.returncode: int | None = None
        self.status_lost = False
        self._lock = threading.Lock()  # guards signalling vs. reaping, the status and the fds
        self._seen_status: int | None = None  # the exit status, read without reaping
        self._exited = False
        self._reaped = False
        self._lost = False  # reaped by someone else: its pid may already name another process
        self._tree: dict[int, int] = {}  # descendants seen at signalling time: pid -> start

    @property
    def foreign(self) -> bool:
        """True in a forked child: this process belongs to the parent."""
        return os.getpid() != self.owner_pid

    # -- signals -----------------------------------------------------------------

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the runner's whole process group.

        The group is not always the whole tree: a runner's child may move into a
        process group of its own (Codex runs each shell command so). So while the
        leader lives, its descendants are remembered (by pid and start time) at
        every signal, and SIGKILL also goes to each remembered one still alive.

        Returns:
            True if the signal was sent; False if the group is already gone, the
            leader was reaped (its pid may belong to someone else now), or this is
            a forked child of the process that started the runner.
        """
        with self._lock:
            if self._reaped or self.foreign:
                return False
            if not self._has_exited_locked():
                self._tree.update(descendants(self.pid))
            if self._lost:  # the group id may belong to someone else now
                if sig == signal.SIGKILL:
                    kill_known(self._tree)
                return False
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

    def has_exited(self) -> bool:
        """True if the leader has exited; asks the kernel now and never reaps."""
        with self._lock:
            return self._has_exited_locked()

    def _has_exited_locked(self) -> bool:
        if self._exited or self._reaped:
            return True
        if not _HAVE_WAITID:  # pragma: no cover - no waitid on this platform
            code = self._popen.poll()
            if code is None:
                return False
            self._seen_status, self._exited, self._reaped = code, True, True
            self.returncode = code
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            # Reaped by someone else before we saw the status (SIGCHLD ignored, or a
            # foreign waitpid(-1) reaper): it has exited, its status is lost, and its
            # pid (so its group id) may be reused at any moment.
            self._exited = self._lost = True
            return True
        if info is None or info.si_pid == 0:
            return False
        if info.si_code == os.CLD_EXITED:
            self._seen_status = info.si_status
        else:  # CLD_KILLED / CLD_DUMPED
            self._seen_status = -info.si_status
        self._exited = True
        return True

    def wait_exit(self, timeout: float | None = None) -> bool:
        """Block until the leader exits (without reaping it); True if it did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pidfd = self.pidfd
        while not self.has_exited():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(None if remaining is None else remaining * 1000)
            else:
                time.sleep(0.01 if remaining is None else min(0.01, remaining))
        return True

    def reap(self) -> int | None:
        """Collect the leader's exit status; idempotent. Call it once the leader has exited
        (:meth:`has_exited`): it blocks until then.

        Returns:
            The return code, or None if someone else reaped the runner first and its
            status was never seen (:attr:`status_lost` is then True).
        """
        with self._lock:
            if self._reaped or self.foreign:
                return self.returncode
            self._has_exited_locked()  # keep the status before a foreign reaper can take it
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                code = self._seen_status
            else:
                code = os.waitstatus_to_exitcode(status)
            self._reaped = self._exited = True
            self.returncode = code
            self.status_lost = code is None
            # Popen must not think its child still runs (it would warn when collected).
            self._popen.returncode = code if code is not None else -1
            return code

    @property
    def reaped(self) -> bool:
        """True once :meth:`reap` ran."""
        return self._reaped

    # -- pipes -------------------------------------------------------------------

    def close_pipe(self, name: str) -> None:
        """Close the parent's end of ``stdin``, ``stdout`` or ``stderr`` (idempotent).

        Only the thread that uses a pipe closes it, once it is done with it, so no
        fd is closed (and reused) under a reader.
        """
        with self._lock:
            self._files[name].close()

    def pipe_inode(self, name: str) -> int | None:
        """The inode of the pipe behind our end of ``stdout`` or ``stderr``; None once closed.

        Read under the lock that :meth:`close_pipe` takes, so a closed fd whose number
        was reused by another pipe is never mistaken for this one.
        """
        with self._lock:
            file = self._files[name]
            if file.closed:
                return None
            try:
                return os.fstat(file.fileno()).st_ino
            except OSError:
                return None

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill the whole group, reap the leader, close every fd: for a runner nobody will run."""
        self.signal_group(signal.SIGKILL)
        if self.wait_exit(timeout):
            self.reap()
        for name in self._files:
            self.close_pipe(name)
        self.close_pidfd()

    def close_pidfd(self) -> None:
        """Close the exit-watching fd (idempotent)."""
        with self._lock:
            fd, self.pidfd = self.pidfd, None
        if fd is not None:
            os.close(fd)


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
