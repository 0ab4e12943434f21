"""One turn of a runner: the query being answered, its stop flag and its output.

A :class:`Turn` is built by the host for each query and handed to
:meth:`runners._runner.Runner.run_turn` on the turn thread. Every write of a turn
goes through it, so nothing of the turn can be written after its final line
(``agent_stopped`` / ``agent_error``), even when the host had to end it by force
from the control thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from sidecar_sync.options import SessionOptions
from sidecar_sync.protocol import encode, permission_cancel_line, permission_request_line

from ._output import ProtocolWriter

__all__ = ["Turn", "TurnError", "WRITE_BLOCK"]

log = logging.getLogger(__name__)

#: Batch size for :meth:`Turn.emit_many`: lines are joined and written in blocks of about this many bytes.
WRITE_BLOCK: Final = 1 << 18

_dumps = orjson.dumps
_EVENT_HEAD: Final = b'{"type":"agent_event","event":'
_EVENT_TAIL: Final = b"}\n"


class TurnError(Exception):
    """A turn failed for a reason worth telling the caller as is.

    Raise it from :meth:`Runner.run_turn`: the host writes ``agent_error`` with
    ``str(exc)`` as the message (other exceptions get their type name prefixed
    and a traceback on stderr), and with ``"outcome"`` when one is given
    (``"api_error"``: the model endpoint failed, not the agent's work).
    """

    def __init__(self, message: str, *, outcome: str | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class Turn:
    """One query being answered: its prompt, its stop flag, and its output.

    Attributes:
        number: 1 for the session's first query, then 2, 3, ...
        prompt: the user's prompt.
        session_id: the manager's session id (``sessionId`` of the query).
        options: the session's options (from its first query).
        started_at: ``time.monotonic()`` when the turn started.
    """

    __slots__ = ("number", "prompt", "session_id", "options", "_writer", "_stop", "_ended", "started_at")

    def __init__(
        self, number: int, prompt: str, session_id: str, options: SessionOptions, writer: ProtocolWriter
    ) -> None:
        self.number = number
        self.prompt = prompt
        self.session_id = session_id
        self.options = options
        self._writer = writer
        self._stop = threading.Event()
        self._ended = False
        self.started_at = 0.0

    # -- stopping --------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once ``stop`` (or a signal, EPIPE, or the host's death) asked this turn to end."""
        return self._stop.is_set()

    @property
    def ended(self) -> bool:
        """True once the turn's final line was written."""
        return self._ended

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on stop. Returns :attr:`stopped`."""
        if seconds > 0:
            return self._stop.wait(seconds)
        return self._stop.is_set()

    def request_stop(self) -> None:
        """Ask the turn to end (sets :attr:`stopped`; the runner's code checks it)."""
        self._stop.set()

    # -- output ----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> bool:
        """Write complete protocol lines (already encoded), unless the turn has ended.

        Returns:
            False if the turn had already ended and nothing was written.

        Raises:
            OutputClosed: the manager is gone.
        """
        writer = self._writer
        with writer.lock:
            if self._ended:
                return False
            writer.write_locked(data)
            return True

    def emit(self, event: Mapping[str, Any]) -> bool:
        """Write one provider event as ``{"type":"agent_event","event":event}``."""
        return self.write(_EVENT_HEAD + _dumps(event) + _EVENT_TAIL)

    def emit_many(self, events: Iterable[Mapping[str, Any]]) -> bool:
        """Write many provider events with few syscalls (blocks of about :data:`WRITE_BLOCK` bytes).

        Stops early (returning False) if the turn ended or was asked to stop.
        """
        parts: list[bytes] = []
        size = 0
        for event in events:
            line = _EVENT_HEAD + _dumps(event) + _EVENT_TAIL
            parts.append(line)
            size += len(line)
            if size >= WRITE_BLOCK:
                if not self.write(b"".join(parts)) or self.stopped:
                    return False
                parts.clear()
                size = 0
        return self.write(b"".join(parts)) if parts else not self._ended

    def emit_lines(self, lines: Sequence[bytes]) -> bool:
        """Wrap already-serialised JSON object lines (no newline) as ``agent_event`` lines.

        The fast path for a runner forwarding a CLI's stdout: no parse, no
        re-encode. Each line must be one JSON object (``{...}``, trimmed, no
        ``\\n``); a line that is not is skipped here and logged on stderr, so it
        can never break the wrapper's JSON.
        """
        out: list[bytes] = []
        for line in lines:
            if len(line) >= 2 and line[:1] == b"{" and line[-1:] == b"}" and b"\n" not in line:
                out.append(_EVENT_HEAD + line + _EVENT_TAIL)
            elif line.strip():
                log.warning("skipping a non-object output line: %r", line[:200])
        return self.write(b"".join(out)) if out else not self._ended

    # -- tool approval ------------------------------------------------------------

    def ask_permission(
        self,
        request_id: str,
        tool_name: str,
        tool_input: Mapping[str, Any],
        *,
        tool_use_id: str | None = None,
        suggestions: list[Any] | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> bool:
        """Ask the manager whether a tool may run (a ``permission_request`` line).

        Only when the session's options have ``permission_prompt`` (the caller gave
        ``on_permission``); otherwise the manager denies at once. The answer comes
        later, on the control thread, as :meth:`Runner.permission_response
        <runners._runner.Runner.permission_response>`; this call does not wait for it.

        Args:
            request_id: unique in the session; the answer carries it back.
            tool_name, tool_input: the tool and the input the agent gave it.
            tool_use_id: the tool call's id in the agent's stream, if it has one.
            suggestions: the agent's own permission suggestions, if any.
            raw: the agent's request as it came, for the caller.

        Returns:
            False if the turn had already ended and nothing was written.
        """
        line = permission_request_line(
            request_id, tool_name, tool_input, tool_use_id=tool_use_id, suggestions=suggestions, raw=raw
        )
        return self.write(encode(line))

    def withdraw_permission(self, request_id: str) -> bool:
        """Tell the manager the runner no longer waits for that answer (``permission_cancel``)."""
        return self.write(encode(permission_cancel_line(request_id)))

    def finish(self, line: bytes, timeout: float | None = None) -> bool:
        """Write the turn's final line once (for the host); False if it had already ended.

        Args:
            line: the encoded ``agent_stopped`` / ``agent_error`` line.
            timeout: for the control thread: give up after this many seconds if
                the turn thread holds the writer (blocked on a full pipe).

        Raises:
            OutputClosed: the manager is gone.
        """
        writer = self._writer
        if not writer.lock.acquire(timeout=-1 if timeout is None else timeout):
            log.warning("could not write the end of turn %d: the output is blocked", self.number)
            return False
        try:
            if self._ended:
                return False
            self._ended = True
            writer.write_locked(line)
            return True
        finally:
            writer.lock.release()
