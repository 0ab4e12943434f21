"""Typed agent messages and the provider adapters that produce them.

Every provider (Claude Code, Codex, Ollama, a custom runner) prints its own
event shapes. An *adapter* turns each provider event (a JSON object, already
parsed) into zero or more :class:`AgentMessage` objects with a typed
``content``, so callers render one vocabulary whatever the agent:

=============  ==========================  =========================================
``type``       ``content``                 meaning
=============  ==========================  =========================================
init           :class:`InitContent`        a session/thread started
text           :class:`TextContent`        assistant text (or a streamed fragment)
thinking       :class:`ThinkingContent`    reasoning text (or a streamed fragment)
tool_call      :class:`ToolCallContent`    the agent calls a tool
tool_result    :class:`ToolResultContent`  what the tool returned
status         :class:`StatusContent`      progress: retries, denials, turn started
compaction     :class:`CompactionContent`  the conversation history was compacted
cost           :class:`CostContent`        end of a turn: cost, tokens, outcome
error          :class:`ErrorContent`       something failed
unknown        the raw event (any JSON)    nothing above fits; kept as it came
=============  ==========================  =========================================

This module holds the types only. The adapters, and the registry that maps a
provider name to its adapter (``parse_message``, ``new_stream_adapter``,
``register_adapter``), live in :mod:`sidecar_sync.adapters`; the package
makes those names reachable here too, for callers that import them from this
module.

Adapters never raise on odd input (wrong types, missing keys, nulls, non-dict
values): they fall back to defaults or to an ``unknown`` message. The mapping of
each provider is documented in its module under :mod:`sidecar_sync.adapters`.

Message ids are the event's own ``uuid`` where it has one (Claude; per content
block ``<uuid>-<type>-<n>``), otherwise a cheap process-unique id from
:func:`new_message_id`. Timestamps are milliseconds since the epoch, taken when
the adapter saw the event.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "AgentMessage",
    "MessageType",
    "MESSAGE_TYPES",
    "INIT",
    "TEXT",
    "THINKING",
    "TOOL_CALL",
    "TOOL_RESULT",
    "STATUS",
    "COMPACTION",
    "COST",
    "ERROR",
    "UNKNOWN",
    "InitContent",
    "TextContent",
    "ThinkingContent",
    "ToolCallContent",
    "ToolResultContent",
    "StatusContent",
    "CompactionContent",
    "CostContent",
    "ErrorContent",
    "Content",
    "Adapter",
    "StreamAdapter",
    "new_message_id",
    "now_ms",
    "unknown_message",
]

_new_object = object.__new__

# -- message types ----------------------------------------------------------------

INIT: Final = "init"
TEXT: Final = "text"
THINKING: Final = "thinking"
TOOL_CALL: Final = "tool_call"
TOOL_RESULT: Final = "tool_result"
STATUS: Final = "status"
COMPACTION: Final = "compaction"
COST: Final = "cost"
ERROR: Final = "error"
UNKNOWN: Final = "unknown"

MessageType = Literal[
    "init", "text", "thinking", "tool_call", "tool_result", "status", "compaction", "cost", "error", "unknown"
]

#: Every value :attr:`AgentMessage.type` can take.
MESSAGE_TYPES: Final = frozenset(
    {INIT, TEXT, THINKING, TOOL_CALL, TOOL_RESULT, STATUS, COMPACTION, COST, ERROR, UNKNOWN}
)


# -- content ----------------------------------------------------------------------
# Plain slotted dataclasses (not frozen: a frozen dataclass pays for
# object.__setattr__ on every field, and these are built once per event).


@dataclass(slots=True)
class InitContent:
    """A session (Claude), thread (Codex) or chat (Ollama) started."""

    session_id: str | None
    """The provider's session id: Claude ``session_id``, Codex ``thread_id``."""
    model: str | None = None
    cwd: str | None = None
    tools: list[str] = field(default_factory=list)
    """Tool names the agent may use (Claude reports them; others give ``[]``)."""
    agent_version: str | None = None
    """The agent program and its version, when the event names them (``Claude Code 2.1.330``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {
            "session_id": self.session_id,
            "model": self.model,
            "cwd": self.cwd,
            "tools": self.tools,
            "agent_version": self.agent_version,
        }


@dataclass(slots=True)
class TextContent:
    """Assistant text.

    ``delta`` is True for a streamed fragment (Claude ``stream_event``
    ``text_delta`` with ``--include-partial-messages``; each Ollama chunk). A
    streaming UI appends fragments of the same ``message_id``/``index`` as they
    come; the complete text always follows as a message with ``delta=False``
    (Claude's ``assistant`` line; the Ollama stream adapter's assembled text), so
    a UI that does not stream simply skips ``delta`` messages.
    """

    text: str
    delta: bool = False
    message_id: str | None = None
    """For fragments: the provider message they belong to (Claude ``api_message_id``)."""
    index: int | None = None
    """For fragments: the content block index within that message."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"text": self.text, "delta": self.delta, "message_id": self.message_id, "index": self.index}


@dataclass(slots=True)
class ThinkingContent:
    """Reasoning text (Claude thinking blocks, Codex reasoning summaries, Ollama ``thinking``).

    ``delta``, ``message_id`` and ``index`` mean what they mean on :class:`TextContent`.
    """

    text: str
    delta: bool = False
    message_id: str | None = None
    index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"text": self.text, "delta": self.delta, "message_id": self.message_id, "index": self.index}


@dataclass(slots=True)
class ToolCallContent:
    """The agent calls a tool. ``input`` is the provider's argument object, as sent."""

    tool_use_id: str | None
    """Links the call to its :class:`ToolResultContent` (Claude ``tool_use.id``, Codex item id)."""
    name: str
    input: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"tool_use_id": self.tool_use_id, "name": self.name, "input": self.input}


@dataclass(slots=True)
class ToolResultContent:
    """What a tool returned.

    ``output`` is the result as the model saw it: a string or a list of content
    blocks (Claude ``tool_result.content``, Codex ``aggregated_output``, MCP
    content blocks). ``structured`` is the provider's structured form when it
    has one (Claude's line-level ``tool_use_result`` such as
    ``{stdout, stderr, interrupted}``; the Codex item with ``exit_code`` and
    ``status``; MCP ``structured_content``).
    """

    tool_use_id: str | None
    output: Any = None
    is_error: bool = False
    structured: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {
            "tool_use_id": self.tool_use_id,
            "output": self.output,
            "is_error": self.is_error,
            "structured": self.structured,
        }


@dataclass(slots=True)
class StatusContent:
    """Progress worth showing: a retry, a permission denial, a turn start, a plan update.

    ``subtype`` names the kind (Claude's system subtype such as ``api_retry``,
    ``permission_denied``, ``status``; Codex ``turn_started``, ``todo_list``);
    ``message`` is a human-readable line; ``data`` is the provider event (or
    item) it came from, for UIs that want the numbers.
    """

    subtype: str
    message: str
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"subtype": self.subtype, "message": self.message, "data": self.data}


@dataclass(slots=True)
class CompactionContent:
    """The agent compacted its conversation history (Claude ``compact_boundary``)."""

    trigger: str
    """``"manual"`` or ``"auto"``."""
    pre_tokens: int
    """Context tokens before compaction."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"trigger": self.trigger, "pre_tokens": self.pre_tokens}


@dataclass(slots=True)
class CostContent:
    """End of a turn: what it cost, how many tokens, whether it failed.

    Accounting contract (what the manager relies on):

    * ``total_cost_usd`` is the provider's running cost of the whole session
      (Claude reports it cumulatively, so the latest value wins). It is ``None``
      when the provider reports no cost (Codex, Ollama): keep the previous value.
    * ``input_tokens``/``output_tokens`` are *this turn's* tokens: add them up.
      (For Codex, whose usage is cumulative per thread, the stream adapter turns
      it into per-turn deltas; see :mod:`sidecar_sync.adapters._codex`.)
    * ``is_error`` says whether the turn failed. For Claude it is true when the
      result says ``is_error``, has an ``error_*`` subtype, an
      ``api_error_status`` or ``terminal_reason == "api_error"`` — a failed
      Claude result still says ``subtype: "success"`` on API errors.
    """

    total_cost_usd: float | None = None
    duration_ms: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    num_turns: int | None = None
    is_error: bool = False
    result: str | None = None
    """The turn's final text (Claude ``result``; Ollama's assembled answer)."""
    errors: list[str] = field(default_factory=list)
    cached_input_tokens: int = 0
    """This turn's input tokens served from cache.

    Claude ``cache_read_input_tokens``; Codex ``cached_input_tokens`` (a per-turn delta, like the others)."""
    subtype: str | None = None
    """Claude result subtype (``success``, ``error_during_execution``, ``error_max_turns``, ...)."""
    terminal_reason: str | None = None
    """Claude ``terminal_reason`` (``completed``, ``api_error``, ``aborted_streaming``, ...); Ollama ``done_reason``."""
    api_error_status: int | None = None
    """HTTP status of the API error that ended the turn (Claude)."""
    usage: Any = None
    """The provider's usage object as sent (Codex: cumulative for the thread)."""
    unusable_values: int = 0
    """How many of the provider's numbers the adapter could not use and left unknown
    (a ``total_cost_usd`` of ``"0.5"`` or ``true``): counted in ``Usage.invalid_values``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {
            "total_cost_usd": self.total_cost_usd,
            "duration_ms": self.duration_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "num_turns": self.num_turns,
            "is_error": self.is_error,
            "result": self.result,
            "errors": self.errors,
            "subtype": self.subtype,
            "terminal_reason": self.terminal_reason,
            "api_error_status": self.api_error_status,
            "usage": self.usage,
            "unusable_values": self.unusable_values,
        }


@dataclass(slots=True)
class ErrorContent:
    """Something failed: a turn, a request, a protocol line. ``message`` says what."""

    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"message": self.message}


#: The typed contents; an ``unknown`` message's content is the raw event instead.
Content = (
    InitContent
    | TextContent
    | ThinkingContent
    | ToolCallContent
    | ToolResultContent
    | StatusContent
    | CompactionContent
    | CostContent
    | ErrorContent
)


# -- the message --------------------------------------------------------------------


@dataclass(slots=True)
class AgentMessage:
    """One unit of agent output, provider-neutral.

    Attributes:
        id: unique within a session: the event's ``uuid`` where it has one,
            otherwise a process-unique id (:func:`new_message_id`).
        type: one of :data:`MESSAGE_TYPES`.
        content: the typed content for ``type`` (see the module table); for
            ``unknown``, the raw event as it came.
        parent_id: the tool call this message belongs to when a sub-agent
            produced it (Claude ``parent_tool_use_id``), else ``None``.
        timestamp: milliseconds since the epoch when the adapter saw the event.
    """

    id: str
    type: str
    content: Content | dict[str, Any]
    parent_id: str | None
    timestamp: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with stable snake_case keys.

        The shape (what ``sidecar-sync ... --json`` prints, one per line)::

            {"id": str, "type": str, "parent_id": str | null, "timestamp": int,
             "content": {...}}

        ``content`` holds the fields of the content class, all of them, always:

        - init: ``session_id, model, cwd, tools, agent_version``
        - text, thinking: ``text, delta, message_id, index``
        - tool_call: ``tool_use_id, name, input``
        - tool_result: ``tool_use_id, output, is_error, structured``
        - status: ``subtype, message, data``
        - compaction: ``trigger, pre_tokens``
        - cost: ``total_cost_usd, duration_ms, input_tokens, output_tokens,
          cached_input_tokens, num_turns, is_error, result, errors, subtype,
          terminal_reason, api_error_status, usage``
        - error: ``message``
        - unknown: the raw event, unchanged.

        Nested provider payloads (tool inputs, outputs, usage) are shared, not
        copied: do not mutate the result if the message is still in use.
        """
        content = self.content
        to_dict = getattr(content, "to_dict", None) if self.type != UNKNOWN else None
        return {
            "id": self.id,
            "type": self.type,
            "parent_id": self.parent_id,
            "timestamp": self.timestamp,
            "content": to_dict() if to_dict is not None else content,
        }


# -- ids and time -----------------------------------------------------------------

# A random per-process prefix plus a counter: unique across processes in practice,
# and much cheaper than a uuid4 per message (bench/README.md, "Adapters").
# itertools.count is atomic under the GIL, so threads share it safely. A forked
# child draws a new prefix, so ids stay unique when its results are merged with
# its parent's.
_id_prefix = os.urandom(6).hex()  # what secrets.token_hex does, without importing secrets
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(6).hex()
    _id_counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_prefix)


def new_message_id() -> str:
    """Return a new process-unique message id (for events that carry none)."""
    return f"{_id_prefix}-{next(_id_counter)}"


def now_ms() -> int:
    """Return the current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def unknown_message(event: Any, timestamp: int, message_id: str | None = None) -> AgentMessage:
    """Wrap an event no mapping fits as an ``unknown`` message (content = the event, as it came).

    Args:
        event: the event (any JSON value).
        timestamp: milliseconds since the epoch (see :func:`now_ms`).
        message_id: the id to use; by default the event's ``uuid`` if it has
            one, else a new id.
    """
    if message_id is None:
        uuid = event.get("uuid") if type(event) is dict else None
        message_id = uuid if type(uuid) is str and uuid else new_message_id()
    # Slot stores, not AgentMessage(...): on the hot path the class call's __init__
    # frame costs more than building the object.
    message = _new_object(AgentMessage)
    message.id = message_id
    message.type = UNKNOWN
    message.content = event
    message.parent_id = None
    message.timestamp = timestamp
    return message


# -- adapters ------------------------------------------------------------------------

#: A stateless adapter: one provider event in, its messages out. Custom providers
#: register one of these with :func:`sidecar_sync.adapters.register_adapter`.
Adapter = Callable[[dict[str, Any]], list[AgentMessage]]


class StreamAdapter:
    """Adapts the events of one stream (one session, one replayed file), in order.

    Create one per stream with :func:`sidecar_sync.adapters.new_stream_adapter`; it may keep state
    between events (Codex per-turn token deltas, Ollama text assembly, the
    ``auto`` provider decision), so never share one between streams. Not
    thread-safe: it belongs to the thread that reads the stream.

    Subclasses implement :meth:`adapt_batch`; it must never raise on odd input.
    """

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def adapt(self, event: dict[str, Any]) -> list[AgentMessage]:
        """Adapt one event; return its messages (possibly none)."""
        return self.adapt_batch((event,))

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        """Adapt the events of one read chunk, in order; the clock is read once.

        Args:
            events: provider events (JSON objects). Non-dict values are tolerated
                and come out as ``unknown`` messages.

        Returns:
            The messages of all events, in event order.
        """
        raise NotImplementedError

    def tally_batch(self, events: Iterable[dict[str, Any]], counts: Counter[str]) -> list[AgentMessage]:
        """Adapt for a summary, which reads the content only of ``init``, ``cost`` and ``error``.

        An adapter may add other messages to ``counts`` by type instead of building
        them, and returns the rest as :meth:`adapt_batch` would; counted plus returned
        types are exactly what :meth:`adapt_batch` makes. This default counts nothing.
        """
        return self.adapt_batch(events)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider={self.provider!r}>"

