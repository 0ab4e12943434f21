"""Playing a session recording back, turn by turn (the ``replay`` runner's ``recording`` format).

A recording (``start_session(..., record=path)``) is the runner output a session
received, with marker lines of its own (``sidecar.recording`` first, ``sidecar.time``
and ``sidecar.prompt`` in between, ``sidecar.end`` last). Played back, each query
gets the next recorded turn: the lines between a recorded ``agent_started`` and its
``agent_stopped`` or ``agent_error``, exactly as they were (bad lines included), so
the session sees the same messages it saw live. A recorded ``agent_error`` fails the
replayed turn with the same message and outcome. Lines before a turn's start (a
trailing event of the previous turn, a protocol complaint) go out with it.

At recorded pace, the ``sidecar.time`` marks set when each block of lines goes out,
relative to the turn's ``sidecar.prompt`` mark, so the replayed turn takes the time
the live one took (scaled by ``speed``, gaps capped by ``maxGap``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Final

import orjson

from sidecar_sync.protocol import (
    AGENT_ERROR,
    AGENT_STARTED,
    AGENT_STOPPED,
    PONG,
    READY,
    RECORD_END,
    RECORD_PROMPT,
    RECORD_START,
    RECORD_TIME,
)

from ._turn import Turn, TurnError

__all__ = ["RecordingPlayer", "is_recording"]

_EVENT_PREFIX: Final = b'{"type":"agent_event"'
_DROPPED: Final = frozenset({READY, PONG, AGENT_STARTED, RECORD_START, RECORD_END})


def is_recording(first: Any) -> bool:
    """True if ``first`` (the transcript's first JSON object) is a recording's header."""
    return isinstance(first, dict) and first.get("type") == RECORD_START


class RecordingPlayer:
    """Plays the turns of one recording in order, one per query.

    Args:
        lines: the recording's lines (without their newlines), read lazily.
        pace: ``"full"`` or ``"recorded"``.
        speed, max_gap: recorded pace only (see the replay runner).
    """

    def __init__(self, lines: Iterator[bytes], pace: str, speed: float, max_gap: float | None) -> None:
        self._lines = lines
        self._pace = pace
        self._speed = speed
        self._max_gap = max_gap
        self._turns = 0

    def play_turn(self, turn: Turn) -> None:
        """Write the next recorded turn; raise :class:`TurnError` if it failed when recorded."""
        pending: list[bytes] = []
        origin: float | None = None  # the recorded moment of this turn's prompt
        played = 0.0  # recorded seconds already waited for
        started = time.monotonic()
        for line in self._lines:
            if turn.stopped:
                return
            if line.startswith(_EVENT_PREFIX):
                pending.append(line + b"\n")
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                obj = None
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind in (RECORD_TIME, RECORD_PROMPT):
                moment = obj.get("t") if isinstance(obj, dict) else None
                if not isinstance(moment, (int, float)):
                    continue
                if origin is None:
                    origin = float(moment)
                elif self._pace == "recorded":
                    gap = max(0.0, float(moment) - origin - played)
                    if self._max_gap is not None:
                        gap = min(gap, self._max_gap * self._speed)
                    played += gap
                    due = started + played / self._speed
                    wait = due - time.monotonic()
                    if wait > 0:
                        if pending and not turn.write(b"".join(pending)):
                            return
                        pending.clear()
                        if turn.sleep(wait):
                            return
                continue
            if kind in _DROPPED:
                continue
            if kind in (AGENT_STOPPED, AGENT_ERROR):
                self._turns += 1
                if pending and not turn.write(b"".join(pending)):
                    return
                if kind == AGENT_ERROR:
                    assert isinstance(obj, dict)
                    message = obj.get("message")
                    outcome = obj.get("outcome")
                    raise TurnError(
                        message if isinstance(message, str) and message else "the turn failed",
                        outcome=outcome if isinstance(outcome, str) else None,
                    )
                return
            pending.append(line + b"\n")  # a protocol complaint, a bad line, a bare event: as it was
        if pending:
            turn.write(b"".join(pending))
        if not pending and self._turns:
            raise TurnError(f"the recording has no more turns (it had {self._turns})")
