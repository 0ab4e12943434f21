"""The shared runner framework: a :class:`Runner` base class and :func:`run`, its ``__main__``.

A runner is a small program the manager starts as
``python -I -m sidecar_sync.runners.<name>``. It speaks the protocol of
:mod:`sidecar_sync.protocol` on stdio, and the framework implements that contract
once; a provider only subclasses :class:`Runner` and writes :meth:`Runner.run_turn`.

Who owns what:

* :func:`run` (here) is the process: logging, stdio isolation, the exit.
* :class:`~runners._runner.Runner` is what a provider implements; its children are
  :class:`~runners._children.ChildProcess` objects.
* :class:`~runners._host.RunnerHost` is the control loop on the main thread and
  the turn thread; its class docstring states the protocol as the runner speaks it.
* :class:`~runners._turn.Turn` is one query being answered and its output.
* :mod:`runners._lifeline` notices the host's death and sweeps up at exit.
* :class:`~runners._output.ProtocolWriter` serialises every write.

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

from sidecar_sync.protocol import PermissionResponse

from ._host import RunnerHost
from ._options import InvalidOptionError, ProviderConfig, SessionOptions
from ._output import OutputClosed
from ._runner import CHILD_GRACE, HOST_GONE_GRACE, Runner
from ._turn import Turn, TurnError

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
