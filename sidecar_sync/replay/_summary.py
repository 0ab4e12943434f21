"""What a replay counted: one :class:`FileSummary` per source, merged into a :class:`ReplaySummary`.

The per-source counts come from the source's pipeline (lines, events, protocol and
bad lines, messages, cost and tokens) plus the per-type message counts that replay
keeps itself; see :mod:`sidecar_sync.replay._source`. Merging only adds up, in the
order the sources were given, so a summary is the same however the sources were
spread over worker processes: float sums depend on the order of the additions.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, get_args

from ..messages import MESSAGE_TYPES, MessageType

__all__ = ["FileSummary", "ReplaySummary", "ordered_counts"]


@dataclass(slots=True)
class FileSummary:
    """What replaying one source produced.

    Attributes:
        source: the path as given, or ``"<stdin>"``/the stream's name.
        bytes: NDJSON bytes decoded (after gunzip).
        lines: non-blank lines framed (oversized lines excluded).
        events: lines that were JSON objects (in a recording, its ``sidecar.*``
            marker lines too: they are counted nowhere else).
        control_lines: runner protocol lines (``ready``, ``agent_stopped``, ...).
        invalid_lines: lines that were not a JSON object, and ``agent_event``
            lines whose ``event`` is not one (logged, skipped).
        oversized_lines: lines dropped whole for exceeding ``max_line_size``.
        dropped_bytes: bytes of those oversized lines.
        messages: AgentMessages produced.
        by_type: messages per type.
        cost_usd: the latest ``total_cost_usd`` of each agent session, added up;
            0.0 both when the sessions cost nothing and when none reported a price
            (``cost_reported`` tells the two apart).
        cost_reported: True when a cost message carried a usable
            ``total_cost_usd``; False means the cost is unknown, not zero (Codex
            and Ollama report tokens but no price).
        input_tokens: input tokens of every turn, added up.
        output_tokens: output tokens of every turn, added up.
        sessions: distinct session ids seen in ``init`` messages (per file: the
            total adds them up, so a session split over files counts once per file).
        error: why the source could not be read to its end (only with
            ``errors="skip"``; the counts then cover what was read before).
    """

    source: str
    bytes: int = 0
    lines: int = 0
    events: int = 0
    control_lines: int = 0
    invalid_lines: int = 0
    oversized_lines: int = 0
    dropped_bytes: int = 0
    messages: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    cost_reported: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    sessions: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: the attributes above by name, but for the cost.

        ``cost_usd`` is ``null`` when no price was reported (``cost_reported`` is
        then False), so unknown never reads as zero; ``cost_reported`` itself is
        not repeated.
        """
        out = {name: getattr(self, name) for name in _FILE_FIELDS}
        out["by_type"] = dict(self.by_type)
        return _json_ready(out)

    def copy(self) -> FileSummary:
        """A copy that shares nothing mutable with this one."""
        return dataclasses.replace(self, by_type=dict(self.by_type))


_FILE_FIELDS: Final = tuple(f.name for f in dataclasses.fields(FileSummary))
#: The totals a :class:`ReplaySummary` adds up from its files, in report order.
_TOTALS: Final = tuple(name for name in _FILE_FIELDS if name not in ("source", "error"))
#: ... those that are plain sums (``by_type`` is merged per type, ``cost_reported`` is "any file").
_SUMS: Final = tuple(name for name in _TOTALS if name not in ("by_type", "cost_reported"))


def _json_ready(fields: dict[str, Any]) -> dict[str, Any]:
    """``cost_usd`` null when unknown, and ``cost_reported`` folded into it."""
    if not fields.pop("cost_reported"):
        fields["cost_usd"] = None
    return fields


@dataclass(slots=True)
class ReplaySummary:
    """Totals over every source of a replay (each a :class:`FileSummary`, merged in order).

    Attributes:
        files: per-source summaries, in the order the sources were given.
        elapsed: wall-clock seconds the replay took (not part of equality).

    The totals (``bytes``, ``lines``, ``events``, ``control_lines``,
    ``invalid_lines``, ``oversized_lines``, ``dropped_bytes``, ``messages``,
    ``by_type``, ``cost_usd``, ``input_tokens``, ``output_tokens``, ``sessions``)
    are the sums of the per-file values. ``cost_usd`` is the sum, over files, of
    the latest cost of each session in that file: a session spread over several
    files (a transcript split in parts) is counted once per file.
    ``cost_reported`` is True when any file reported a price; files that
    reported none add nothing to ``cost_usd``, so with some of each the total
    is the cost of the files that said theirs.
    """

    files: list[FileSummary] = field(default_factory=list)
    elapsed: float = field(default=0.0, compare=False)
    bytes: int = 0
    lines: int = 0
    events: int = 0
    control_lines: int = 0
    invalid_lines: int = 0
    oversized_lines: int = 0
    dropped_bytes: int = 0
    messages: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    cost_reported: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    sessions: int = 0

    @classmethod
    def merge(cls, files: Iterable[FileSummary], elapsed: float = 0.0) -> ReplaySummary:
        """Add up per-file summaries, in the order given (float sums depend on order).

        Args:
            files: the per-source summaries; kept as given in :attr:`files`.
            elapsed: the seconds the replay took.
        """
        total = cls(files=list(files), elapsed=elapsed)
        by_type: Counter[str] = Counter()
        for part in total.files:
            for name in _SUMS:
                setattr(total, name, getattr(total, name) + getattr(part, name))
            by_type.update(part.by_type)
        total.by_type = ordered_counts(by_type)
        total.cost_reported = any(part.cost_reported for part in total.files)
        return total

    @property
    def errors(self) -> list[str]:
        """The errors of sources that could not be read to their end (``errors="skip"``)."""
        return [f.error for f in self.files if f.error]

    @property
    def rate(self) -> float:
        """Decoded bytes per second (0 when nothing was timed)."""
        return self.bytes / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self, *, per_file: bool = True) -> dict[str, Any]:
        """Return the JSON-ready form (what ``sidecar-sync replay --summary --json`` prints).

        The inputs are "files" throughout, as in the text form::

            {"file_count": 2, "bytes": ..., "lines": ..., "events": ...,
             "control_lines": ..., "invalid_lines": ..., "oversized_lines": ...,
             "dropped_bytes": ..., "messages": ..., "by_type": {"init": 2, ...},
             "cost_usd": 0.000376 or null, "input_tokens": ..., "output_tokens": ...,
             "sessions": ..., "elapsed": 0.01, "errors": ["x.jsonl: cannot open: ..."],
             "files": [FileSummary.to_dict(), ...]}

        ``cost_usd`` is ``null`` when no file reported a price (unknown, not zero).

        Args:
            per_file: include the ``files`` list of per-file summaries
                (``file_count`` is there either way).
        """
        out: dict[str, Any] = {"file_count": len(self.files)}
        for name in _TOTALS:
            out[name] = getattr(self, name)
        out["by_type"] = dict(self.by_type)
        out = _json_ready(out)
        out["elapsed"] = self.elapsed
        out["errors"] = self.errors
        if per_file:
            out["files"] = [f.to_dict() for f in self.files]
        return out


#: Message types in the order reports list them: the order :data:`MessageType` names them.
_TYPE_ORDER: Final[tuple[str, ...]] = get_args(MessageType)


def ordered_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Non-zero counts per message type, in report order; types nobody defined last, sorted."""
    known = [t for t in _TYPE_ORDER if counts.get(t)]
    extra = sorted(t for t in counts if t not in MESSAGE_TYPES and counts[t])
    return {t: counts[t] for t in known + extra}
