"""Harness limits, the clock of a session's turns, and the deadlines that stop a runner.

:class:`Limits` is what a caller may bound a session by (``start_session(...,
turn_timeout=, idle_timeout=, max_cost_usd=, max_tokens=)``); :class:`TurnClock` keeps
the session's turns: when each began, what it cost, how it ended, and which limit is
due. The session feeds it (a prompt sent, a turn ended, output arrived) under its lock;
its supervisor thread asks it for the next deadline and for a limit that ran out, and
stops the runner through the stop ladder when one did. A limit hit ends the turn with
that outcome, and the session ends ``error`` naming the limit and its value.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from .accounting import Usage
from .errors import InvalidOptionError
from .turns import CANCELLED, CRASHED, ERROR, IDLE_TIMEOUT, SUCCESS, TIMEOUT, Outcome, TurnEvidence, TurnResult

__all__ = ["Limits", "TurnClock", "Deadlines", "Due"]


def _positive(name: str, value: Any, kind: type = float) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        what = "an int" if kind is int else "a number"
        raise InvalidOptionError(f"{name} must be {what} > 0 or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidOptionError(f"{name} must be > 0 (or None for no limit), got {value!r}")
    return kind(value)


@dataclass(frozen=True)
class Limits:
    """What a session is bounded by; ``None`` means no limit.

    Attributes:
        turn_timeout: seconds of wall clock per turn, from its prompt to its end.
        idle_timeout: seconds without any output from the runner while a turn is in flight.
        max_cost_usd: the session's reported cost may not go above this.
        max_tokens: the session's input plus output tokens may not go above this.
    """

    turn_timeout: float | None = None
    idle_timeout: float | None = None
    max_cost_usd: float | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "turn_timeout", _positive("turn_timeout", self.turn_timeout))
        object.__setattr__(self, "idle_timeout", _positive("idle_timeout", self.idle_timeout))
        object.__setattr__(self, "max_cost_usd", _positive("max_cost_usd", self.max_cost_usd))
        object.__setattr__(self, "max_tokens", _positive("max_tokens", self.max_tokens, int))

    @property
    def budgeted(self) -> bool:
        """True if a cost or token limit is set."""
        return self.max_cost_usd is not None or self.max_tokens is not None

    def over_budget(self, usage: Usage) -> str | None:
        """Why ``usage`` is over a budget, naming the limit and its value; else None."""
        if self.max_cost_usd is not None and usage.cost_usd > self.max_cost_usd:
            return f"max_cost_usd={self.max_cost_usd:g} exceeded: the session cost ${usage.cost_usd:.6f}"
        tokens = usage.input_tokens + usage.output_tokens
        if self.max_tokens is not None and tokens > self.max_tokens:
            return f"max_tokens={self.max_tokens} exceeded: the session used {tokens} tokens"
        return None


class TurnClock:
    """The turns of one session: the open one, its deadlines, and the results of the closed ones.

    Args:
        limits: the session's limits.
        usage: the session's running usage (read at each turn's start and end).
    """

    def __init__(self, limits: Limits, usage: Usage) -> None:
        self.limits = limits
        self._usage = usage
        self.results: list[TurnResult] = []
        self._open = False
        self._started_wall = 0.0
        self._started_mono = 0.0
        self._at_start: tuple[float, int, int, int] = (0.0, 0, 0, 0)
        self._limit: tuple[Outcome, str] | None = None  # a limit that ended the open turn

    @property
    def open(self) -> bool:
        """True while a turn is in flight."""
        return self._open

    def begin(self) -> None:
        """A prompt was sent (or a queued one became the current turn)."""
        usage = self._usage
        self._open = True
        self._started_wall = time.time()
        self._started_mono = time.monotonic()
        self._at_start = (usage.cost_usd, usage.cost_reports, usage.input_tokens, usage.output_tokens)
        self._limit = None

    def discard(self) -> None:
        """The prompt that opened the turn was never sent: forget the turn."""
        self._open = False
        self._limit = None

    def limit_hit(self, outcome: Outcome, reason: str) -> None:
        """A limit ended the open turn (the session stops the runner)."""
        if self._open and self._limit is None:
            self._limit = (outcome, reason)

    def due(self, now: float, last_output: float) -> tuple[Outcome, str] | None:
        """A turn or idle timeout that has run out for the open turn, else None."""
        if not self._open or self._limit is not None:
            return None
        limits = self.limits
        if limits.turn_timeout is not None and now >= self._started_mono + limits.turn_timeout:
            ran = now - self._started_mono
            return TIMEOUT, f"turn_timeout={limits.turn_timeout:g} s exceeded: the turn ran {ran:.1f} s"
        if limits.idle_timeout is not None:
            since = max(last_output, self._started_mono)
            if now >= since + limits.idle_timeout:
                quiet = now - since
                return IDLE_TIMEOUT, f"idle_timeout={limits.idle_timeout:g} s exceeded: no output for {quiet:.1f} s"
        return None

    def deadline(self, last_output: float) -> float | None:
        """When :meth:`due` may next find a timeout (monotonic), or None."""
        if not self._open or self._limit is not None:
            return None
        limits = self.limits
        deadlines = []
        if limits.turn_timeout is not None:
            deadlines.append(self._started_mono + limits.turn_timeout)
        if limits.idle_timeout is not None:
            deadlines.append(max(last_output, self._started_mono) + limits.idle_timeout)
        return min(deadlines) if deadlines else None

    def end(
        self,
        evidence: TurnEvidence,
        end: str,
        *,
        reported: str | None = None,
        hint: str | None = None,
        cancelled: bool = False,
        clean_exit: bool = False,
    ) -> TurnResult | None:
        """Close the open turn; return its result (None if no turn was open).

        Args:
            evidence: what the turn's messages said.
            end: ``"stopped"``, ``"failed"`` or ``"exited"`` (see :meth:`TurnEvidence.outcome`).
            reported: the runner's reason for a failed turn.
            hint: the outcome the runner named for a failed turn.
            cancelled: the caller stopped the session while the turn was in flight.
            clean_exit: the runner exited 0 (a runner of bare events ends its turn so).
        """
        if not self._open:
            return None
        self._open = False
        outcome: Outcome
        error: str | None
        if self._limit is not None:
            outcome, error = self._limit
        elif cancelled and not evidence.completed:
            outcome, error = CANCELLED, "stopped by the caller"
        else:
            outcome, error = evidence.outcome(end, reported, hint)
            if outcome == CRASHED and clean_exit:
                outcome, error = SUCCESS, None
        usage = self._usage
        cost0, reports0, in0, out0 = self._at_start
        result = TurnResult(
            index=len(self.results) + 1,
            outcome=outcome,
            error=error,
            cost_usd=usage.cost_usd - cost0 if usage.cost_reports > reports0 else None,
            input_tokens=usage.input_tokens - in0 if evidence.usage_seen else None,
            output_tokens=usage.output_tokens - out0 if evidence.usage_seen else None,
            messages=evidence.messages,
            started_at=self._started_wall,
            ended_at=time.time(),
        )
        self.results.append(result)
        return result



class Due(NamedTuple):
    """A reason to stop the runner now (:meth:`Deadlines.due`)."""

    kind: str
    """``"start"`` (nothing understood in time), ``"closed"`` (stdout closed, the runner lives on)
    or ``"limit"`` (a turn or idle timeout)."""
    reason: str
    outcome: Outcome = ERROR


class Deadlines:
    """When a session's runner must be stopped, and why (the supervisor asks, the session acts).

    * the start-up deadline: no line the session understands within ``start_timeout``;
    * a runner that closed its stdout but lives on gets ``stop_grace`` to exit by itself;
    * the turn and idle timeouts of its :class:`TurnClock`.

    It holds no clock and no lock of its own: the caller passes the time and the facts,
    under the session's lock.
    """

    def __init__(self, clock: TurnClock, *, start_timeout: float | None, stop_grace: float) -> None:
        self.clock = clock
        self._start_timeout = start_timeout
        self._start_deadline = None if start_timeout is None else time.monotonic() + start_timeout
        self._stop_grace = stop_grace
        self._closed_at: float | None = None

    def due(
        self, now: float, *, recognized: bool, stopping: bool, stdout_closed: bool, last_output: float
    ) -> Due | None:
        """The first reason to stop the runner that has come due, else None."""
        if self._start_deadline is not None and recognized:
            self._start_deadline = None
        if stopping:
            return None
        if self._start_deadline is not None and now >= self._start_deadline:
            return Due("start", f"sent no protocol line within {self._start_timeout:g} s")
        timed_out = self.clock.due(now, last_output)
        if timed_out is not None:
            return Due("limit", timed_out[1], timed_out[0])
        if stdout_closed:
            if self._closed_at is None:
                self._closed_at = now
            elif now >= self._closed_at + self._stop_grace:
                return Due("closed", f"runner closed its stdout but did not exit within {self._stop_grace:g} s")
        return None

    def next(self, *, recognized: bool, stopping: bool, last_output: float) -> float | None:
        """When :meth:`due` may next find something (monotonic), or None."""
        if stopping:
            return None
        deadlines = [self.clock.deadline(last_output)]
        if self._start_deadline is not None and not recognized:
            deadlines.append(self._start_deadline)
        if self._closed_at is not None:
            deadlines.append(self._closed_at + self._stop_grace)
        found = [d for d in deadlines if d is not None]
        return min(found) if found else None
