"""The :class:`Runner` base class: what a provider implements.

:func:`runners._base.run` serves a subclass over the protocol; the class itself
knows nothing of the protocol beyond the :class:`~runners._turn.Turn` it is handed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from sidecar_sync.protocol import PermissionResponse

from ._options import SessionOptions
from ._turn import Turn

if TYPE_CHECKING:
    from ._children import ChildProcess, ChildRegistry

__all__ = ["Runner", "CHILD_GRACE", "HOST_GONE_GRACE"]

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
