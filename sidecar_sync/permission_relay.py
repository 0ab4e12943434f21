"""A session's end of tool approval: the runner's permission lines in, the answers out.

The pipeline hands the session each ``permission_request`` and ``permission_cancel``
line as a :class:`~sidecar_sync.pipeline.PermissionSignal`; the session passes them
here. With ``on_permission`` a :class:`~sidecar_sync.permissions.PermissionDesk` (and
its thread) asks the callback; without it every request is denied at once, since a
runner that asks and gets no answer would wait for ever. Answers go to the runner's
stdin; a failed write is logged, never raised, because the runner being gone is
reported by the session's own end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from . import protocol
from .errors import RunnerGoneError, SidecarError, WaitTimeoutError
from .permissions import Deny, PermissionCallback, PermissionDesk, request_from_wire, response_line
from .pipeline import PermissionSignal
from .writer import PipeWriter

__all__ = ["PermissionRelay"]

log = logging.getLogger("sidecar_sync.session")


class PermissionRelay:
    """Routes one session's permission lines to its desk and writes the answers.

    Args:
        session_id: the session (for logs, the callback and the thread name).
        callback: ``on_permission``, or None to deny every request at once.
        timeout: ``permission_timeout`` (seconds from a request's arrival).
        writer: the runner's stdin.
        on_deadline: called when a request with a deadline arrives (wakes the supervisor).
        thread_name: the name of the desk's thread.
    """

    def __init__(
        self,
        session_id: str,
        callback: PermissionCallback | None,
        timeout: float | None,
        writer: PipeWriter,
        *,
        on_deadline: Callable[[], None],
        thread_name: str,
    ) -> None:
        self.session_id = session_id
        self._writer = writer
        self.answered_at = 0.0  # monotonic time of the last answer sent
        self.desk = (
            PermissionDesk(
                session_id, callback, self._send, timeout=timeout, on_deadline=on_deadline, thread_name=thread_name
            )
            if callback is not None
            else None
        )

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The desk's thread, if the session has a callback."""
        return (self.desk.thread,) if self.desk is not None else ()

    def waiting(self) -> bool:
        """True while a request waits for its answer (the runner is not idle then)."""
        return self.desk is not None and self.desk.pending > 0

    def idle_since(self, last_output: float, now: float) -> float:
        """Since when the runner counts as idle: never while it waits for an answer."""
        return now if self.waiting() else max(last_output, self.answered_at)

    def deadline(self) -> float | None:
        """When the oldest request with a deadline expires (monotonic), or None."""
        return self.desk.deadline() if self.desk is not None else None

    def expire(self, now: float) -> None:
        """Deny the requests whose ``permission_timeout`` has passed."""
        if self.desk is not None:
            self.desk.expire(now)

    def turn_ended(self) -> None:
        """A turn ended: what it left unanswered is withdrawn."""
        if self.desk is not None:
            self.desk.withdraw_all()

    def close(self, reason: str) -> None:
        """Deny what is pending and every later request (the session is stopping or over)."""
        if self.desk is not None:
            self.desk.close(reason)

    def handle(self, signal: PermissionSignal) -> None:
        """A ``permission_request`` (to the desk) or ``permission_cancel`` from the runner (stdout thread)."""
        desk = self.desk
        if signal.kind == protocol.PERMISSION_CANCEL:
            try:
                request_id = protocol.read_permission_cancel(signal.line)
            except protocol.PermissionWireError as exc:
                log.warning("session %r: %s", self.session_id, exc)
                return
            if desk is None or not desk.cancel(request_id):
                log.debug("session %r: withdrawn permission request %r was not pending", self.session_id, request_id)
            return
        try:
            request_id, request = request_from_wire(signal.line)
        except protocol.PermissionWireError as exc:
            log.warning("session %r: malformed permission request: %s", self.session_id, exc)
            if exc.request_id is not None:
                self._deny_now(exc.request_id, f"Malformed permission request ({exc}); denied.")
            return
        if desk is None:
            log.warning(
                "session %r: the runner asked permission for %s, but the session has no on_permission; denied",
                self.session_id,
                request.tool_name,
            )
            self._deny_now(request_id, "This session has no permission handler; denied.")
            return
        desk.submit(request_id, request)

    def _deny_now(self, request_id: str, message: str) -> None:
        # On the stdout thread: never wait for room in the runner's stdin.
        self._send(response_line(request_id, Deny(message)), 0.0)

    def _send(self, line: bytes, timeout: float) -> None:
        """Write one ``permission_response`` line (any thread); failures are logged, never raised."""
        self.answered_at = time.monotonic()  # the runner waited for us: it was not idle
        try:
            self._writer.write(line, timeout)
        except (RunnerGoneError, WaitTimeoutError, SidecarError) as exc:
            log.info("session %r: permission answer not delivered: %s", self.session_id, exc)
