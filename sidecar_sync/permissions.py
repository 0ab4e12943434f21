"""Tool approval from synchronous code: the callback's types and each session's permission thread.

A runner asks before its agent runs a tool (a ``permission_request`` line, see
:mod:`sidecar_sync.protocol`); the caller decides in ``on_permission(session_id,
request)``; the decision goes back as a ``permission_response`` command. Who owns
what:

* the session's **stdout thread** reads the request and hands it to the session's
  :class:`PermissionDesk` (:meth:`~PermissionDesk.submit`), which never blocks: the
  stream goes on while the caller thinks;
* the desk's **own thread** (``sidecar-permission-<session id>``, a daemon, one per
  session that has a callback) calls the callback, one request at a time, in the
  order they came, with no lock held (a person may take minutes to answer);
* the **supervisor** (the thread that owns the session's deadlines) denies what
  ``permission_timeout`` let expire (:meth:`~PermissionDesk.expire`);
* whoever **stops** the session (``stop_session``, ``remove_session``, ``shutdown``,
  a limit, the end of the session) denies what is pending
  (:meth:`~PermissionDesk.close`), without waiting for a callback that is still
  running; the runner may **withdraw** a request (``permission_cancel``,
  :meth:`~PermissionDesk.cancel`), and a turn that ends withdraws what it left
  (:meth:`~PermissionDesk.withdraw_all`).

Each request is answered at most once, by whichever of these comes first; a later
answer (a callback that returns after its request timed out, was withdrawn or the
session stopped) is discarded and logged. Whatever goes wrong is a denial, never an
accidental approval: a callback that raises (any ``BaseException``) or returns
something that is not a decision denies.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from . import protocol

__all__ = [
    "PermissionRequest",
    "Allow",
    "Deny",
    "Decision",
    "PermissionCallback",
    "PermissionDesk",
    "request_from_wire",
    "decide",
    "response_line",
    "DEFAULT_DENY_MESSAGE",
    "ANSWER_TIMEOUT",
    "URGENT_ANSWER_TIMEOUT",
]

log = logging.getLogger(__name__)

#: What the model is told when the callback returned ``False`` (or ``Deny()``).
DEFAULT_DENY_MESSAGE: Final = "The host denied permission to use this tool."
#: Seconds the permission thread may wait for room in the runner's stdin to send an answer.
ANSWER_TIMEOUT: Final = 10.0
#: The same for denials sent by the threads that must not wait long: the supervisor
#: (a timeout), and the caller of a stop.
URGENT_ANSWER_TIMEOUT: Final = 0.5


@dataclass(frozen=True)
class PermissionRequest:
    """What the agent asks to do: ``on_permission(session_id, request)`` decides.

    Attributes:
        tool_name: the tool (``"Write"``, ``"Bash"``, ``"AskUserQuestion"``, an MCP tool...).
        input: the tool's input as the agent wrote it.
        tool_use_id: the id of the tool call in the stream (the ``tool_use_id`` of the
            ``tool_call`` message), when the agent gives one.
        suggestions: the agent's own permission suggestions, as it sent them (Claude
            Code: ``permission_suggestions``), or None.
        raw: the agent's request as it came (Claude Code: its ``control_request`` line),
            or the runner's ``permission_request`` line when it sent no ``raw``.
    """

    tool_name: str
    input: dict[str, Any]
    tool_use_id: str | None = None
    suggestions: list[Any] | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True)
class Allow:
    """Let the tool run; with ``updated_input``, run it with that input instead.

    For Claude Code's ``AskUserQuestion`` the answers go in ``updated_input``: the
    request's input plus ``"answers": {question text: chosen label}``.
    """

    updated_input: dict[str, Any] | None = None


@dataclass(frozen=True)
class Deny:
    """Refuse the tool; ``message`` is what the model is told."""

    message: str = DEFAULT_DENY_MESSAGE


#: What ``on_permission`` returns: ``True``/``Allow(...)`` or ``False``/``Deny(...)``.
Decision = bool | Allow | Deny
#: ``on_permission(session_id, request) -> Decision``.
PermissionCallback = Callable[[str, PermissionRequest], Decision]
#: Sends one encoded ``permission_response`` line to the runner, waiting at most the
#: given seconds; never raises.
Sender = Callable[[bytes, float], None]


def request_from_wire(line: Mapping[str, Any]) -> tuple[str, PermissionRequest]:
    """Read a ``permission_request`` line into ``(request id, PermissionRequest)``.

    Raises:
        PermissionWireError: the line lacks a required key (its ``request_id`` says
            whether it can still be answered).
    """
    ask = protocol.read_permission_request(line)
    raw = ask.raw if ask.raw is not None else dict(line)
    return ask.request_id, PermissionRequest(ask.tool_name, ask.input, ask.tool_use_id, ask.suggestions, raw)


def decide(result: object, label: str) -> Allow | Deny:
    """The callback's return value as a decision; anything unusable denies (and is logged).

    ``True`` is ``Allow()``, ``False`` is ``Deny()``. An ``Allow`` whose
    ``updated_input`` is not a JSON object, or anything else returned (``None``, a
    string), denies.

    Args:
        result: what ``on_permission`` returned.
        label: names the session and request in log messages.
    """
    if result is True:
        return Allow()
    if result is False:
        return Deny()
    if isinstance(result, Deny):
        message = result.message if isinstance(result.message, str) and result.message else DEFAULT_DENY_MESSAGE
        return result if message is result.message else Deny(message)
    if isinstance(result, Allow):
        updated = result.updated_input
        if updated is None:
            return result
        if isinstance(updated, Mapping):
            try:
                orjson.dumps(updated)
            except TypeError as exc:
                log.warning("%s: on_permission's updated_input cannot be sent as JSON (%s); denied", label, exc)
                return Deny("The host's answer could not be sent; denied.")
            return Allow(dict(updated))
        log.warning("%s: on_permission's updated_input must be a dict, got %s; denied", label, type(updated).__name__)
        return Deny("The host's answer could not be sent; denied.")
    log.warning(
        "%s: on_permission returned %.80r, which is not True/False/Allow/Deny; denied", label, result
    )
    return Deny()


def response_line(request_id: str, decision: Allow | Deny) -> bytes:
    """The encoded ``permission_response`` line carrying ``decision``."""
    if isinstance(decision, Allow):
        command = protocol.permission_response_command(request_id, allow=True, updated_input=decision.updated_input)
    else:
        command = protocol.permission_response_command(request_id, allow=False, message=decision.message)
    return protocol.encode(command)


class _Pending:
    """One request between its arrival and its answer. Mutable state guarded by the desk's lock."""

    __slots__ = ("request_id", "request", "deadline", "settled")

    def __init__(self, request_id: str, request: PermissionRequest, deadline: float | None) -> None:
        self.request_id = request_id
        self.request = request
        self.deadline = deadline
        self.settled = False  # answered, or withdrawn: nothing more is sent for it


class PermissionDesk:
    """One session's permission requests and the thread that asks ``on_permission`` about them.

    Args:
        session_id: the session (passed to the callback, and names the thread).
        callback: ``on_permission``.
        send: writes one encoded ``permission_response`` line to the runner within
            the given seconds; must not raise.
        timeout: seconds from a request's arrival after which it is denied
            unanswered (``permission_timeout``), or None to wait for ever.
        on_deadline: called (no lock held) when a request with a deadline arrives, so
            that whoever calls :meth:`expire` looks at :meth:`deadline` again.
        thread_name: the name of the desk's thread.

    Thread safety: every public method may be called from any thread and returns
    without waiting for the callback; :meth:`submit`, :meth:`cancel` and
    :meth:`withdraw_all` never write to the runner.
    """

    def __init__(
        self,
        session_id: str,
        callback: PermissionCallback,
        send: Sender,
        *,
        timeout: float | None = None,
        on_deadline: Callable[[], None] | None = None,
        thread_name: str | None = None,
    ) -> None:
        self.session_id = session_id
        self._callback = callback
        self._send = send
        self._timeout = timeout
        self._on_deadline = on_deadline
        # One lock: _wake is notified when a request is queued or the desk closes.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: collections.deque[_Pending] = collections.deque()
        self._current: _Pending | None = None  # the request whose callback is running
        self._closed: str | None = None  # why no more requests are asked about
        self.thread = threading.Thread(
            target=self._run, name=thread_name or f"sidecar-permission-{session_id}", daemon=True
        )

    # -- from the session -----------------------------------------------------------------

    def start(self) -> None:
        """Start the desk's thread."""
        self.thread.start()

    @property
    def pending(self) -> int:
        """Requests not answered yet (queued, or being asked about)."""
        with self._lock:
            return len(self._queue) + (1 if self._current is not None and not self._current.settled else 0)

    def submit(self, request_id: str, request: PermissionRequest) -> None:
        """A request from the runner: queue it for the callback (or deny it at once once closed)."""
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        entry = _Pending(request_id, request, deadline)
        with self._lock:
            closed = self._closed
            if closed is None:
                self._queue.append(entry)
                self._wake.notify()
        if closed is not None:  # on the stdout thread: never wait for room in the runner's stdin
            self._answer(entry, Deny(_closed_message(closed)), 0.0)
        elif deadline is not None and self._on_deadline is not None:
            self._on_deadline()

    def cancel(self, request_id: str) -> bool:
        """The runner withdrew a request: never ask about it, send nothing for it. True if it was pending."""
        with self._lock:
            for entry in self._queue:
                if entry.request_id == request_id:
                    self._queue.remove(entry)
                    entry.settled = True
                    return True
            current = self._current
            if current is not None and current.request_id == request_id and not current.settled:
                current.settled = True
                return True
        return False

    def withdraw_all(self) -> int:
        """The runner's turn ended: what it left unanswered is moot. Returns how many were pending."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
            current = self._current
            if current is not None and not current.settled:
                dropped.append(current)
            for entry in dropped:
                entry.settled = True
        if dropped:
            log.info(
                "session %r: the turn ended with %d permission request(s) unanswered", self.session_id, len(dropped)
            )
        return len(dropped)

    def close(self, reason: str) -> None:
        """Deny what is pending and every later request; let the thread end. Never waits for the callback.

        Args:
            reason: why (``"the session is stopping"``); the denials tell the model.
        """
        with self._lock:
            if self._closed is not None:
                return
            self._closed = reason
            waiting = list(self._queue)
            self._queue.clear()
            current = self._current
            if current is not None and not current.settled:
                waiting.insert(0, current)
            self._wake.notify_all()
        for entry in waiting:
            self._answer(entry, Deny(_closed_message(reason)), URGENT_ANSWER_TIMEOUT)

    def deadline(self) -> float | None:
        """The earliest ``permission_timeout`` deadline among pending requests (monotonic), or None."""
        if self._timeout is None:
            return None
        with self._lock:
            entries = list(self._queue)
            if self._current is not None and not self._current.settled:
                entries.append(self._current)
        return min((e.deadline for e in entries if e.deadline is not None), default=None)

    def expire(self, now: float) -> None:
        """Deny every pending request whose ``permission_timeout`` has run out by ``now``."""
        if self._timeout is None:
            return
        with self._lock:
            due = [e for e in self._queue if e.deadline is not None and e.deadline <= now]
            for entry in due:
                self._queue.remove(entry)
            current = self._current
            if current is not None and not current.settled and current.deadline is not None and current.deadline <= now:
                due.insert(0, current)
        for entry in due:
            log.warning(
                "session %r: no answer to the %s permission request within permission_timeout=%g s; denied",
                self.session_id, entry.request.tool_name, self._timeout,
            )  # fmt: skip
            self._answer(
                entry, Deny(f"No answer within the permission timeout ({self._timeout:g} s); denied."),
                URGENT_ANSWER_TIMEOUT,
            )  # fmt: skip

    def join(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the thread to end; True if it did (or never started)."""
        if self.thread.ident is None or self.thread is threading.current_thread():
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    # -- the desk's thread -----------------------------------------------------------------

    def _run(self) -> None:
        """Ask the callback about each request in turn until the desk closes."""
        while True:
            with self._lock:
                while not self._queue and self._closed is None:
                    self._wake.wait()
                if self._closed is not None:
                    self._current = None
                    return
                entry = self._current = self._queue.popleft()
            try:
                decision = self._ask(entry)
                self._answer(entry, decision, ANSWER_TIMEOUT)
            except BaseException:  # pragma: no cover - _ask and _answer never raise; keep the thread alive anyway
                log.exception("session %r: permission thread failed", self.session_id)
            finally:
                with self._lock:
                    self._current = None

    def _ask(self, entry: _Pending) -> Allow | Deny:
        """Call the callback (no lock held); a raise denies."""
        label = f"session {self.session_id!r}, {entry.request.tool_name} request {entry.request_id!r}"
        try:
            result = self._callback(self.session_id, entry.request)
        except BaseException:  # even SystemExit/KeyboardInterrupt raised in user code: deny, keep going
            log.exception("%s: on_permission %r raised; denied", label, self._callback)
            return Deny("The host's permission check failed; denied.")
        return decide(result, label)

    def _answer(self, entry: _Pending, decision: Allow | Deny, timeout: float) -> bool:
        """Send ``decision`` unless the request was already settled; True if this call settled it."""
        with self._lock:
            if entry.settled:
                late = True
            else:
                entry.settled = True
                late = False
        if late:
            log.info(
                "session %r: %s request %r was already answered or withdrawn; discarding %s",
                self.session_id, entry.request.tool_name, entry.request_id, type(decision).__name__,
            )  # fmt: skip
            return False
        log.debug("session %r: %s request %r: %r", self.session_id, entry.request.tool_name, entry.request_id, decision)
        self._send(response_line(entry.request_id, decision), timeout)
        return True


def _closed_message(reason: str) -> str:
    return f"Denied: {reason}."
