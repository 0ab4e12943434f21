"""How a session ended: its final status and the reason, from the facts of its end.

A pure function, so the rules sit in one place and are tested on their own:

1. a failure the session itself caused (a limit was hit, the runner never said a
   word it understood, it closed its stdout but lived on) is ``error``, whatever
   the exit;
2. a runner the caller stopped is ``done`` — unless it had already exited before
   the stop was requested: a crash stays a crash;
3. otherwise the exit decides: a lost exit status (another handler reaped the
   runner) or a non-zero exit or a signal is ``error``; exit 0 is ``done`` unless
   the last turn failed, which stays ``error``.
"""

from __future__ import annotations

from typing import NamedTuple

from .process import describe_exit
from .state import DONE, ERROR, Status

__all__ = ["EndFacts", "final_status"]


class EndFacts(NamedTuple):
    """What is known about a session when its runner is gone."""

    returncode: int | None
    """The exit code (negative: a signal); None if the status was lost."""
    status_lost: bool
    """Another handler reaped the runner before its status was seen."""
    stop_requested: bool
    """The caller (stop_session, remove_session, shutdown) asked it to stop."""
    exited_before_stop: bool
    """The runner had already exited when the stop was requested."""
    failure: str | None
    """A failure the session caused (limit, silent start, closed stdout)."""
    turn_error: str | None
    """Why the last turn failed, if it did."""
    stderr_tail: str
    """The last lines the runner wrote on stderr."""


def final_status(facts: EndFacts) -> tuple[Status, str | None]:
    """The final status and its reason (``None`` for ``done``)."""
    if facts.failure is not None:
        return ERROR, _reason(facts.failure, facts)
    if facts.stop_requested and not facts.exited_before_stop:
        return DONE, None
    if facts.status_lost:
        return ERROR, _reason(facts.turn_error, facts)
    if facts.returncode == 0:
        return (ERROR, facts.turn_error) if facts.turn_error else (DONE, None)
    return ERROR, _reason(facts.turn_error, facts)


def _reason(first: str | None, facts: EndFacts) -> str:
    parts = [first] if first else []
    if facts.returncode != 0 and (facts.returncode is not None or facts.status_lost):
        parts.append(f"runner {describe_exit(facts.returncode)}")
        if facts.stderr_tail and facts.stderr_tail not in (first or ""):
            parts.append(f"stderr: {facts.stderr_tail}")
    return "; ".join(parts)
