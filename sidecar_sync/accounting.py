"""Cost and token accounting of one stream of messages (a session, a replayed file).

Providers report usage in ``cost`` messages (:class:`~sidecar_sync.messages.CostContent`):

* ``total_cost_usd`` is a running total for the *agent session* that printed it
  (Claude reports it cumulatively), so the latest value of each agent session
  counts, and the agent sessions of one stream are added up. The agent session is
  the one named by the latest ``init`` message (Claude ``session_id``, Codex
  ``thread_id``); a stream with no ``init`` has one anonymous session.
* ``input_tokens``/``output_tokens`` are per turn (the Codex adapter turns its
  cumulative totals into per-turn deltas), so they are added up.

Values that cannot be usage (a negative count, a cost that is not a finite number
>= 0, a token count in the provider's usage object that is not a whole number,
such as ``"5"``, ``5.5`` or a float beyond any int's range) are ignored and counted in
:attr:`Usage.invalid_values`, so one buggy adapter or runner cannot make the
totals negative or raise on the reader thread. Whether anything was reported at
all is kept apart from zero (:attr:`Usage.cost_reported`): a provider that never
reports cost (Codex, Ollama) has an *unknown* cost, not a cost of zero.
"""

from __future__ import annotations

import math
from typing import Any

from .adapters._common import count_or_none

__all__ = ["Usage"]

#: Token counts in the providers' usage objects (Claude, Codex).
_TOKEN_KEYS = ("input_tokens", "output_tokens", "prompt_eval_count", "eval_count")  # Ollama's names last


class Usage:
    """Running cost and token totals of one stream; fed by :meth:`note_init` and :meth:`note_cost`.

    Not thread-safe: it belongs to the thread that reads the stream; other threads
    read its totals (plain attribute reads).
    """

    __slots__ = (
        "_costs",
        "_session",
        "input_tokens",
        "output_tokens",
        "cost_reports",
        "invalid_values",
        "sessions",
    )

    def __init__(self) -> None:
        self._costs: dict[str | None, float] = {}
        self._session: str | None = None
        self.input_tokens = 0
        """Input tokens of every turn, added up."""
        self.output_tokens = 0
        """Output tokens of every turn, added up."""
        self.cost_reports = 0
        """Cost messages that carried a usable ``total_cost_usd``."""
        self.invalid_values = 0
        """Usage values ignored: negative, not finite, not numbers, or token counts that are not whole."""
        self.sessions: set[str] = set()
        """Distinct agent session ids seen in ``init`` messages."""

    def note_init(self, content: Any) -> None:
        """An ``init`` message: later costs belong to the agent session it names."""
        session = getattr(content, "session_id", None)
        self._session = session if isinstance(session, str) else None
        if self._session is not None:
            self.sessions.add(self._session)

    def note_cost(self, content: Any) -> None:
        """A ``cost`` message: keep its session's running cost, add its tokens."""
        self.invalid_values += getattr(content, "unusable_values", 0)
        cost = getattr(content, "total_cost_usd", None)
        if cost is not None:
            if type(cost) in (int, float) and math.isfinite(cost) and cost >= 0:
                self._costs[self._session] = float(cost)
                self.cost_reports += 1
            else:
                self.invalid_values += 1
        raw = getattr(content, "usage", None)
        if type(raw) is dict:  # the provider's own object: a count there that is not a number
            for key in _TOKEN_KEYS:
                value = raw.get(key)
                if value is not None and count_or_none(value) is None:  # what the adapters read as 0
                    self.invalid_values += 1
        value = getattr(content, "input_tokens", None)
        if type(value) is int and value >= 0:
            self.input_tokens += value
        elif value is not None:
            self.invalid_values += 1
        value = getattr(content, "output_tokens", None)
        if type(value) is int and value >= 0:
            self.output_tokens += value
        elif value is not None:
            self.invalid_values += 1

    @property
    def cost_usd(self) -> float:
        """The latest cost of each agent session, added up (0.0 when none was reported)."""
        return sum(self._costs.values(), 0.0)

    @property
    def cost_reported(self) -> bool:
        """True once any cost was reported; False means the cost is unknown, not zero."""
        return self.cost_reports > 0

    def __repr__(self) -> str:
        cost = f"${self.cost_usd:.6f}" if self.cost_reported else "$-"
        return f"<Usage {cost} in={self.input_tokens} out={self.output_tokens} sessions={len(self.sessions)}>"
