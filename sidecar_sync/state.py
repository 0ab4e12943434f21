"""What a session looks like from outside: its statuses, its snapshot, how its runner ended.

Statuses (the lifecycle):

* ``running`` — a turn is in flight (queued follow-ups count);
* ``idle`` — every prompt sent was answered and the last turn succeeded; the runner lives;
* ``error`` — the last turn failed (the reason is in ``error``) while the runner lives:
  the session still takes prompts; or, as a *final* status, the runner exited non-zero,
  died by a signal nobody asked for, crashed before a stop was requested, or its exit
  status was lost;
* ``done`` — final: the runner exited 0, or the caller stopped it.

A final status comes once, after everything the runner wrote was delivered and the
runner was reaped. :class:`StopStep` records which step of the stop ladder ended the
runner.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from .turns import TurnResult

__all__ = [
    "Status",
    "RUNNING",
    "IDLE",
    "DONE",
    "ERROR",
    "TURN_OVER",
    "FINAL",
    "StopStep",
    "SessionState",
]

Status = Literal["running", "idle", "done", "error"]
RUNNING: Final = "running"
IDLE: Final = "idle"
DONE: Final = "done"
ERROR: Final = "error"
#: Statuses at which the current turn is over.
TURN_OVER: Final = frozenset({IDLE, DONE, ERROR})
#: Statuses a session can be in once it is over (``error`` is final only with :attr:`SessionState.ended_at`).
FINAL: Final = frozenset({DONE, ERROR})


class StopStep(str, enum.Enum):
    """Which step ended a runner (``SessionState.stop_step``).

    The stop ladder is: the polite ``stop`` command, then SIGTERM to the runner's
    process group ``stop_grace`` seconds later, then SIGKILL ``kill_grace`` seconds
    after that.
    """

    EXITED = "exited"
    """It exited by itself; nobody asked it to stop."""
    STOP = "stop"
    """It exited after the ``stop`` command (or after its stdin closed)."""
    SIGTERM = "sigterm"
    """It ended after SIGTERM to its process group."""
    SIGKILL = "sigkill"
    """It was killed by SIGKILL to its process group."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SessionState:
    """A snapshot of one session, copied at the moment it was asked for.

    Attributes:
        session_id: the caller's id for the session.
        provider: the provider name it was started with.
        status: ``running``, ``idle``, ``done`` or ``error`` (see the module docstring).
        cost_usd: the provider's reported cost: the latest ``total_cost_usd`` of each
            agent session, added up (0.0 while none was reported).
        input_tokens: input tokens, summed over every cost message.
        output_tokens: output tokens, summed over every cost message.
        started_at: when the runner was spawned (``time.time()``).
        ended_at: when the session reached its final status, else ``None``.
        exit_code: the runner's return code once reaped (negative: killed by that
            signal); ``None`` before, or when the exit status was lost.
        error: why the session (or its last turn) failed, else ``None``.
        pid: the runner's pid (also its process group id).
        messages: messages delivered so far.
        invalid_lines: stdout lines skipped as not JSON objects (or bad envelopes).
        dropped_lines: stdout lines dropped whole for exceeding ``max_line_size``.
        dropped_messages: messages dropped from a full backlog (no consumer attached).
        stopping: True from ``stop_session`` (or a limit, or shutdown) until final.
        stop_step: once final, which step ended the runner (:class:`StopStep`).
        cost_reported: False while the provider never reported a cost: then
            ``cost_usd`` is unknown, not zero.
        invalid_usage: usage values ignored because they cannot be usage (a negative
            token count, a cost that is not a finite number >= 0).
        turns: how each turn went so far (:class:`~sidecar_sync.turns.TurnResult`),
            kept after the session ends.
        agent_version: the agent program and version the session ran, from its init
            event: ``Claude Code 2.1.330`` (the CLI's ``claude_code_version``),
            ``Codex 0.169.0`` (the codex runner asks ``codex --version``), ``Ollama
            0.6.3`` (the ollama runner asks the server's ``/api/version``); None when
            the runner does not say (or could not learn it).
    """

    session_id: str
    provider: str
    status: Status
    cost_usd: float
    input_tokens: int
    output_tokens: int
    started_at: float
    ended_at: float | None
    exit_code: int | None
    error: str | None
    pid: int | None
    messages: int
    invalid_lines: int
    dropped_lines: int
    dropped_messages: int
    stopping: bool = False
    stop_step: StopStep | None = None
    cost_reported: bool = False
    invalid_usage: int = 0
    turns: tuple[TurnResult, ...] = ()
    agent_version: str | None = None

    @property
    def finished(self) -> bool:
        """True once the session has its final status (``done``, or ``error`` with ``ended_at`` set)."""
        return self.ended_at is not None
