"""Replay recorded NDJSON transcripts into :class:`~sidecar_sync.messages.AgentMessage` objects.

A transcript is what an agent printed: raw Claude Code ``stream-json``, Codex
``exec --json`` JSONL, or the output of a sidecar runner (provider events wrapped
in ``agent_event`` lines, mixed with protocol control lines). Replay pushes the
bytes through the same sans-IO :class:`~sidecar_sync.pipeline.Pipeline` as a live
session (framing, parsing, protocol lines, adapting, cost accounting), so a
replayed file yields the messages a live session would have delivered, as fast
as the machine allows. The pipeline's docstring states how each protocol line is
handled; :mod:`sidecar_sync.accounting` states how cost and tokens add up.

Two ways in:

* :class:`Replay` — iterate it for messages (or :meth:`Replay.batches` for lists);
  :attr:`Replay.summary` counts what has been read so far.
* :func:`replay` — just the :class:`ReplaySummary`, optionally with ``jobs=N``
  worker processes for many files. The summary is the same whatever ``jobs`` is:
  each source is summarised alone and the per-source results are merged in the
  order the sources were given.

Who does what, one concept per module:

* ``_sources`` — paths and binary streams to bytes: reads, gzip, progress counts.
* ``_source`` — one source through its own pipeline (and its own stream adapter:
  adapters keep per-stream state, so sources never leak into each other), counted
  into a :class:`FileSummary`.
* ``_summary`` — :class:`FileSummary` and :class:`ReplaySummary`: merge, JSON form.
* ``_pool`` — the worker processes of ``jobs > 1``.
* ``_api`` — :class:`Replay` and :func:`replay`.
"""

from ._api import Replay, replay
from ._sources import DEFAULT_CHUNK_SIZE, ProgressCallback, Source, source_name
from ._summary import FileSummary, ReplaySummary

__all__ = [
    "Replay",
    "ReplaySummary",
    "FileSummary",
    "Source",
    "ProgressCallback",
    "replay",
    "source_name",
    "DEFAULT_CHUNK_SIZE",
]
