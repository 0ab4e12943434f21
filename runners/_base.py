"""The shared runner framework: a :class:`Runner` base class and :func:`run`, its ``__main__``.

A runner is a small program the manager starts as
``python -I -m sidecar_sync.runners.<name>``. It speaks the protocol of
:mod:`sidecar_sync.protocol` on stdio, and the framework implements that contract
once; a provider only subclasses :class:`Runner` and writes :meth:`Runner.run_turn`.

Who owns what:

* :func:`run` (here) is the process: logging, stdio isolation, the exit.
* :class:`~runners._host.RunnerHost` is the control loop on the main thread and
  the turn thread; its class docstring states the protocol as the runner speaks it.
* :class:`~runners._turn.Turn` is one query being answered and its output.
* :mod:`runners._lifeline` notices the host's death and sweeps up at exit.
* :class:`~runners._output.ProtocolWriter` serialises every write.
* :class:`Runner` (here) is what a provider implements; its children are
  :class:`~runners._children.ChildProcess` objects.

File descriptors: at start :func:`run` moves the real stdout to a private fd for
the protocol and points fd 1 (and ``sys.stdout``) at stderr, and moves stdin to a
private fd and points fd 0 at ``/dev/null``. So a stray ``print``, a C library
writing to fd 1, or a child process that inherits the default stdio can neither
corrupt the protocol stream nor steal commands.

Every public name of the framework stays importable from here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from sidecar_sync.protocol import PermissionResponse

from ._host import RunnerHost
from ._options import InvalidOptionError, ProviderConfig, SessionOptions
from ._output import OutputClosed
from ._turn import Turn, TurnError

if TYPE_CHECKING:
    from ._children import ChildProcess, ChildRegistry

__all__ = [
    "Runner",
    "Turn",
    "TurnError",
    "RunnerHost",
    "InvalidOptionError",
    "OutputClosed",
    "PermissionResponse",
    "ProviderConfig",
    "SessionOptions",
    "run",
    "CHILD_GRACE",
    "HOST_GONE_GRACE",
]

log = logging.getLogger(__name__)

#: Grace between SIGTERM and SIGKILL for a runner's children at exit.
CHILD_GRACE: Final = 0.5
#: The longest grace anything gets at exit once the host is gone (see :meth:`Runner.exit_grace`).
HOST_GONE_GRACE: Final = 0.3


class Runner:
    """Base class of a provider runner; subclass it and implement :meth:`run_turn`.

    Lifecycle, all on the turn thread unless said otherwise:

    1. :meth:`configure` once, with the options of the session's first query
       (raise :class:`InvalidOptionError` for a bad one: every turn of the
       session then fails with that message).
    2. :meth:`run_turn` per query. Emit events with :meth:`Turn.emit`; check
       :attr:`Turn.stopped` between steps; sleep with :meth:`Turn.sleep`; raise
       :class:`TurnError` (or anything) to fail the turn. Returning normally
       ends the turn with ``agent_stopped``, as does anything raised after a
       stop was requested.
    3. :meth:`interrupt` is called **on the control thread** when the turn must
       end early (``stop``, a signal, the host's death): wake whatever
       :meth:`run_turn` is blocked on (close a socket, send a CLI its interrupt).
       The default does nothing beyond the stop flag.
    4. :meth:`permission_response` **on the control thread** when the manager
       answers a :meth:`Turn.ask_permission` request (tool approval).
    5. :meth:`close` at exit, on the control thread: the default ends every child
       started with :meth:`spawn`. When the host is gone (:attr:`host_gone`)
       nobody waits for a clean ending: keep every grace within
       :meth:`exit_grace`.

    Attributes:
        host_gone: set by the host before :meth:`interrupt` and :meth:`close`
            when the process that started the runner is gone (stdin EOF, EPIPE,
            a parent change).
    """

    #: The provider name, used in thread names and messages.
    name: ClassVar[str] = "runner"
    host_gone: bool = False

    def __init__(self) -> None:
        self._children: ChildRegistry | None = None

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> Runner:
        """Build the runner from its command-line arguments (those after ``-m <module>``).

        Used by ``run(cls, sys.argv[1:])``. The default takes none; a runner with
        arguments overrides this (or parses them itself and calls ``run(cls)``).
        Raising ``SystemExit`` with a message rejects bad ones, before ``ready``.
        """
        if argv:
            raise SystemExit(f"{cls.name} runner: unexpected arguments {list(argv)!r}")
        return cls()

    def configure(self, options: SessionOptions) -> None:
        """Check and keep the session options (first query only)."""

    def run_turn(self, turn: Turn) -> None:
        """Answer one query. Runs on the turn thread."""
        raise NotImplementedError

    def interrupt(self, turn: Turn) -> None:
        """Wake :meth:`run_turn` after ``turn`` was asked to stop (control thread)."""

    def permission_response(self, response: PermissionResponse) -> None:
        """The manager's answer to a :meth:`Turn.ask_permission` request (control thread).

        Must not block: hand the answer to whatever waits for it (the agent CLI's
        stdin, an event). The default logs it and does nothing: this runner asks no
        permissions.
        """
        log.warning("%s runner: a permission answer for request %r, but it asked none", self.name, response.request_id)

    def close(self) -> None:
        """Release everything at exit: by default, end all children."""
        if self._children is not None:
            self._children.terminate_all(self.exit_grace(CHILD_GRACE))

    def exit_grace(self, normal: float) -> float:
        """The grace to give a child at exit: ``normal``, or at most :data:`HOST_GONE_GRACE` once the host is gone."""
        return min(normal, HOST_GONE_GRACE) if self.host_gone else normal

    # -- children --------------------------------------------------------------

    def spawn(self, argv: Sequence[str], **kwargs: Any) -> ChildProcess:
        """Start a child process in the runner's process group; it ends with the runner.

        Keyword arguments are those of :class:`~runners._children.ChildProcess`
        (``cwd``, ``env``, ``stdin``, ``stdout``, ``forward_stderr``); ``name``
        defaults to the runner's name.
        """
        from ._children import ChildProcess, ChildRegistry  # subprocess only when needed

        if self._children is None:
            self._children = ChildRegistry()
        kwargs.setdefault("name", self.name)
        return ChildProcess(argv, registry=self._children, **kwargs)

    def live_children(self) -> list[ChildProcess]:
        """Children started with :meth:`spawn` that were not reaped yet."""
        return self._children.live() if self._children is not None else []


def _isolate_stdio() -> tuple[int, int]:
    """Move stdin/stdout to private fds; point fd 0 at /dev/null and fd 1 at stderr.

    Returns:
        ``(command_fd, output_fd)``.
    """
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        command_fd = os.dup(0)  # dup() fds are non-inheritable: children never see them
    except OSError:  # started with stdin closed: no commands will ever come
        command_fd = os.dup(devnull)
    output_fd = os.dup(1)  # (stdout closed at start: OSError, nobody to talk to)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return command_fd, output_fd


def run(runner_class: type[Runner], argv: Sequence[str] | None = None) -> None:
    """The ``__main__`` of a runner: isolate stdio, serve, exit with the host's code.

    The parent pid is recorded first, so that a host that dies while the runner
    starts is noticed (see :mod:`runners._lifeline`).

    Args:
        runner_class: the runner to serve.
        argv: its command-line arguments, for :meth:`Runner.from_argv` (pass
            ``sys.argv[1:]``). ``None``: the caller parsed them already, and the
            runner is built with no arguments.
    """
    host_pid = os.getppid()
    level = os.environ.get("SIDECAR_SYNC_RUNNER_LOG", "WARNING").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING),
        stream=sys.stderr,
        format=f"{runner_class.name}-runner %(levelname)s %(name)s: %(message)s",
    )
    runner = runner_class() if argv is None else runner_class.from_argv(argv)
    command_fd, output_fd = _isolate_stdio()
    host = RunnerHost(runner, command_fd, output_fd, host_pid=host_pid, sweep=True)
    code = host.serve()
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    # The turn thread is a daemon and may still sit in a blocking call of a
    # runner that ignored its interrupt; do not let interpreter teardown wait on
    # it or run finalisers that might write to a dead pipe.
    os._exit(code)
