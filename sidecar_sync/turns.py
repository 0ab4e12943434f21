"""Turns and how each one ended: :class:`TurnResult`, and the evidence that decides its outcome.

A turn is one prompt and its answer. Its *outcome* is one of:

==============  ===============================================================
``success``     the agent answered and said nothing failed
``error``       the agent (or its runner) reported a failed turn
``api_error``   the model endpoint failed: connection, authentication, rate
                limit, a 5xx, an in-band error after a 200
``max_turns``   the agent stopped at its own turn limit (Claude ``error_max_turns``)
``budget``      a cost limit: the agent's own (``error_max_budget_usd``) or the
                session's ``max_cost_usd`` / ``max_tokens``
``timeout``     the session's ``turn_timeout`` ran out
``idle_timeout`` the runner said nothing for the session's ``idle_timeout``
``cancelled``   the caller stopped the session during the turn
``crashed``     the runner died during the turn
==============  ===============================================================

The outcome follows what the agents really print, from the messages themselves, so
a custom runner that prints Claude or Codex events gets the same classification:

* a Claude ``result`` with ``is_error: true`` is never a success, whatever its
  ``subtype`` (API errors say ``"subtype": "success"``); ``error_max_turns`` is
  ``max_turns``, ``error_max_budget_usd`` is ``budget``; an ``api_error_status``, a
  ``terminal_reason`` of ``api_error`` or a text that names an HTTP, connection or
  authentication failure is ``api_error``;
* Codex ``error`` events that are retries ("Reconnecting... 2/5") do not fail a turn
  that later completes; ``turn.failed`` fails it;
* a runner may name the outcome of a failed turn itself: ``agent_error`` with
  ``"outcome": "api_error"`` (the Ollama runner does for an unreachable server, an
  HTTP error, or an error inside a 200 stream).

The session decides what only it knows (a limit, the caller's stop, a crash) and
stamps the times; :class:`TurnEvidence` holds what the messages said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "Outcome",
    "OUTCOMES",
    "SUCCESS",
    "ERROR",
    "API_ERROR",
    "MAX_TURNS",
    "BUDGET",
    "TIMEOUT",
    "IDLE_TIMEOUT",
    "CANCELLED",
    "CRASHED",
    "TurnResult",
    "TurnEvidence",
    "looks_like_api_failure",
]

Outcome = Literal[
    "success", "error", "api_error", "max_turns", "budget", "timeout", "idle_timeout", "cancelled", "crashed"
]
SUCCESS: Final = "success"
ERROR: Final = "error"
API_ERROR: Final = "api_error"
MAX_TURNS: Final = "max_turns"
BUDGET: Final = "budget"
TIMEOUT: Final = "timeout"
IDLE_TIMEOUT: Final = "idle_timeout"
CANCELLED: Final = "cancelled"
CRASHED: Final = "crashed"
#: Every outcome a turn can have.
OUTCOMES: Final = frozenset(
    {SUCCESS, ERROR, API_ERROR, MAX_TURNS, BUDGET, TIMEOUT, IDLE_TIMEOUT, CANCELLED, CRASHED}
)

#: A Codex transient error: the CLI retries by itself.
_RETRY: Final = re.compile(r"^\s*Reconnecting\.\.\.\s*\d+\s*/\s*\d+", re.IGNORECASE)
#: Texts that name a failure of the model endpoint rather than of the agent's work.
_API_FAILURE: Final = re.compile(
    r"\b(?:401|403|404|408|429|5\d\d)\b|unauthori[sz]ed|forbidden|rate[ _-]?limit|overloaded|"
    r"connection (?:refused|reset|error|failed)|not reachable|unreachable|ECONNREFUSED|ENOTFOUND|"
    r"timed? ?out|service unavailable|bad gateway|not logged in|authentication|api[ _-]?key|"
    r"API Error|api_error|unexpected status",
    re.IGNORECASE,
)


def looks_like_api_failure(text: str | None) -> bool:
    """True if ``text`` names an HTTP, connection or authentication failure of the model endpoint."""
    return bool(text) and _API_FAILURE.search(text or "") is not None


@dataclass(frozen=True)
class TurnResult:
    """How one turn went (``SessionState.turns``), kept after the session ends.

    Attributes:
        index: 1 for the session's first turn, then 2, 3, ...
        outcome: see the module docstring (:data:`OUTCOMES`).
        error: why the turn did not succeed, else ``None``.
        cost_usd: what the turn cost; ``None`` when the provider reported no cost
            in it (unknown, not zero).
        input_tokens: the turn's input tokens; ``None`` when no usage was reported.
        output_tokens: the turn's output tokens; ``None`` when no usage was reported.
        messages: messages the turn produced.
        started_at: when the turn's prompt was sent (``time.time()``).
        ended_at: when it ended.
    """

    index: int
    outcome: Outcome
    error: str | None
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    messages: int
    started_at: float
    ended_at: float

    @property
    def ok(self) -> bool:
        """True for ``success``."""
        return self.outcome == SUCCESS


class TurnEvidence:
    """What one turn's messages said about how it went; fed with its ``cost`` and ``error`` messages.

    Not thread-safe: it belongs to the thread that reads the stream.
    """

    __slots__ = ("completed", "failure", "failure_text", "last_error", "retries", "usage_seen", "messages")

    def __init__(self) -> None:
        self.completed = False  # a cost message said the turn succeeded
        self.failure: str | None = None  # the outcome a failed cost message names
        self.failure_text: str | None = None
        self.last_error: str | None = None  # the last error message that was not a retry
        self.retries = 0
        self.usage_seen = False
        self.messages = 0

    def note_cost(self, content: Any) -> None:
        """A ``cost`` message: the end of the agent's turn, successful or not."""
        self.usage_seen = True
        if getattr(content, "is_error", False) is not True:
            self.completed = True
            self.failure = self.failure_text = None
            self.last_error = None  # earlier errors were retries the agent got over
            return
        subtype = getattr(content, "subtype", None)
        reason = getattr(content, "terminal_reason", None)
        status = getattr(content, "api_error_status", None)
        result = getattr(content, "result", None)
        errors = getattr(content, "errors", None) or []
        text = result if isinstance(result, str) and result else "; ".join(str(e) for e in errors) or None
        if subtype == "error_max_turns":
            self.failure = MAX_TURNS
        elif subtype == "error_max_budget_usd":
            self.failure = BUDGET
        elif status is not None or reason == "api_error" or looks_like_api_failure(text):
            self.failure = API_ERROR
        else:
            self.failure = ERROR
        self.completed = False
        self.failure_text = text or f"turn failed ({reason or subtype or 'error'})"

    def note_error(self, content: Any) -> None:
        """An ``error`` message: a retry notice, or a failure that may end the turn."""
        text = getattr(content, "message", None)
        if not isinstance(text, str):
            return
        if _RETRY.match(text):
            self.retries += 1
        else:
            self.last_error = text

    def outcome(self, end: str, reported: str | None = None, hint: str | None = None) -> tuple[Outcome, str | None]:
        """The outcome the evidence gives, for how the turn ended.

        Args:
            end: ``"stopped"`` (the runner said the turn ended: a success, unless the
                agent reported an error it never got over), ``"failed"`` (the runner
                said it failed) or ``"exited"`` (the runner is gone and the turn never
                ended).
            reported: the runner's reason for a failed turn.
            hint: the outcome the runner named for a failed turn, if any.
        """
        if self.failure is not None:
            return self.failure, self.failure_text  # type: ignore[return-value]
        if end == "stopped" and (self.completed or self.last_error is None):
            return SUCCESS, None
        if end == "failed":
            if hint in OUTCOMES and hint != SUCCESS:
                return hint, reported  # type: ignore[return-value]
            text = self.last_error or reported
            return (API_ERROR if looks_like_api_failure(text) else ERROR), reported or text
        if self.completed:  # a runner printing bare events: the agent finished its turn
            return SUCCESS, None
        if self.last_error is not None:  # a turn.failed, or an error the agent never got over
            return (API_ERROR if looks_like_api_failure(self.last_error) else ERROR), self.last_error
        return CRASHED, reported
