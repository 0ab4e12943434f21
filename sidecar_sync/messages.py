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

Two ways in:

* :func:`parse_message` — stateless, one event at a time, for ad-hoc use.
* :func:`new_stream_adapter` — one :class:`StreamAdapter` per session or
  stream, the hot path. It reads the clock once per batch and keeps the little
  per-stream state some providers need (Codex reports cumulative token usage;
  Ollama streams text in fragments; ``auto`` decides the provider once).

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
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Final, Iterable, Literal, Union

from .errors import UnknownProviderError

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
    "parse_message",
    "new_stream_adapter",
    "register_adapter",
    "unregister_adapter",
    "adapter_names",
    "new_message_id",
    "now_ms",
    "unknown_message",
]

log = logging.getLogger(__name__)
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

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"session_id": self.session_id, "model": self.model, "cwd": self.cwd, "tools": self.tools}


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
        }


@dataclass(slots=True)
class ErrorContent:
    """Something failed: a turn, a request, a protocol line. ``message`` says what."""

    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (see :meth:`AgentMessage.to_dict`)."""
        return {"message": self.message}


#: The typed contents; an ``unknown`` message's content is the raw event instead.
Content = Union[
    InitContent,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    ToolResultContent,
    StatusContent,
    CompactionContent,
    CostContent,
    ErrorContent,
]


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
    content: Any
    parent_id: str | None
    timestamp: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with stable snake_case keys.

        The shape (what ``sidecar-sync ... --json`` prints, one per line)::

            {"id": str, "type": str, "parent_id": str | null, "timestamp": int,
             "content": {...}}

        ``content`` holds the fields of the content class, all of them, always:

        - init: ``session_id, model, cwd, tools``
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

# A random per-process prefix plus a counter: unique across processes in
# practice, ~10x cheaper than str(uuid.uuid4()) (measured: ~0.17 us against
# ~2.5 us). itertools.count is atomic under the GIL, so threads share it safely.
_ID_PREFIX: Final = secrets.token_hex(6)
_id_counter = itertools.count(1)


def new_message_id() -> str:
    """Return a new process-unique message id (for events that carry none)."""
    return f"{_ID_PREFIX}-{next(_id_counter)}"


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
    # Slot stores, not AgentMessage(...): on the hot path (a quarter of Claude's partial
    # stream events) the class call's __init__ frame costs more than building it.
    message = _new_object(AgentMessage)
    message.id = message_id
    message.type = UNKNOWN
    message.content = event
    message.parent_id = None
    message.timestamp = timestamp
    return message


# -- adapters ------------------------------------------------------------------------

#: A stateless adapter: one provider event in, its messages out. Custom providers
#: register one of these with :func:`register_adapter`.
Adapter = Callable[[dict[str, Any]], list[AgentMessage]]


class StreamAdapter:
    """Adapts the events of one stream (one session, one replayed file), in order.

    Create one per stream with :func:`new_stream_adapter`; it may keep state
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider={self.provider!r}>"


class _CallableStreamAdapter(StreamAdapter):
    """Runs a custom stateless adapter callable over a stream.

    A custom adapter is user code: if it raises, the event becomes an
    ``unknown`` message and the error is logged, so one bad event never stops
    a session's reader.
    """

    __slots__ = ("_fn",)

    def __init__(self, provider: str, fn: Adapter) -> None:
        super().__init__(provider)
        self._fn = fn

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        fn = self._fn
        out: list[AgentMessage] = []
        timestamp = -1
        for event in events:
            try:
                messages = fn(event)
            except Exception:
                log.exception("adapter %r raised on an event; passing it on as 'unknown'", self.provider)
                if timestamp < 0:
                    timestamp = now_ms()
                out.append(unknown_message(event, timestamp))
                continue
            if type(messages) is list:
                out += messages
            elif messages is not None:
                try:
                    out += list(messages)
                except TypeError:
                    log.error(
                        "adapter %r returned %s, not a list of AgentMessage; event passed on as 'unknown'",
                        self.provider,
                        type(messages).__name__,
                    )
                    if timestamp < 0:
                        timestamp = now_ms()
                    out.append(unknown_message(event, timestamp))
        return out


# The registry: name -> (stream adapter factory, stateless adapter). Built-ins are
# installed on first use (the adapter modules import this module's types).
_registry: dict[str, tuple[Callable[[], StreamAdapter], Adapter]] = {}
_registry_lock = threading.Lock()
_builtins_loaded = False
_BUILTIN_NAMES: Final = ("claude", "codex", "ollama", "auto")


def _load_builtins() -> None:
    global _builtins_loaded
    from .adapters import builtin_adapters

    with _registry_lock:
        if not _builtins_loaded:
            for name, entry in builtin_adapters().items():
                _registry.setdefault(name, entry)
            _builtins_loaded = True


def _lookup(provider: str) -> tuple[Callable[[], StreamAdapter], Adapter]:
    if not _builtins_loaded:
        _load_builtins()
    try:
        return _registry[provider]
    except (KeyError, TypeError):
        raise UnknownProviderError(str(provider), list(_registry)) from None


def register_adapter(name: str, adapter: Adapter | type[StreamAdapter]) -> None:
    """Register the adapter of a custom provider (or replace a built-in one).

    Args:
        name: the provider name used with :func:`parse_message`,
            :func:`new_stream_adapter` and ``SidecarManager.register_provider``.
        adapter: either a stateless callable ``(event: dict) -> list[AgentMessage]``
            (:func:`new_message_id`, :func:`now_ms` and :func:`unknown_message`
            help to build messages), or a :class:`StreamAdapter` subclass taking
            the provider name, for providers that need per-stream state
            (:func:`parse_message` then runs a fresh instance per event).
            A callable that raises (or returns neither a list, an iterable
            of messages, nor ``None``) costs only its event: it is passed on
            as ``unknown`` and the error is logged.

    Raises:
        InvalidOptionError: ``name`` is not a non-empty string or ``adapter`` is
            not callable.
    """
    from .errors import InvalidOptionError

    if type(name) is not str or not name:
        raise InvalidOptionError(f"adapter name must be a non-empty string, got {name!r}")
    if not callable(adapter):
        raise InvalidOptionError(f"adapter for {name!r} must be callable, got {type(adapter).__name__}")
    if not _builtins_loaded:
        _load_builtins()
    if isinstance(adapter, type) and issubclass(adapter, StreamAdapter):
        cls = adapter

        def stateless(event: dict[str, Any]) -> list[AgentMessage]:
            return cls(name).adapt(event)

        entry: tuple[Callable[[], StreamAdapter], Adapter] = (lambda: cls(name), stateless)
    else:
        fn: Adapter = adapter  # type: ignore[assignment]
        entry = (lambda: _CallableStreamAdapter(name, fn), fn)
    with _registry_lock:
        _registry[name] = entry


def unregister_adapter(name: str) -> None:
    """Remove a registered adapter, custom or built-in (mainly for tests).

    Raises:
        UnknownProviderError: no adapter of that name is registered.
    """
    if not _builtins_loaded:
        _load_builtins()
    with _registry_lock:
        if name not in _registry:
            raise UnknownProviderError(str(name), list(_registry))
        del _registry[name]


def adapter_names() -> list[str]:
    """Return the names of all registered adapters, sorted."""
    if not _builtins_loaded:
        _load_builtins()
    return sorted(_registry)


def new_stream_adapter(provider: str | Adapter) -> StreamAdapter:
    """Create the adapter for one stream of provider events (one per session).

    Args:
        provider: a registered provider name (``claude``, ``codex``, ``ollama``,
            ``auto`` or a custom one), or a stateless adapter callable
            ``(event: dict) -> list[AgentMessage]`` used directly.

    Returns:
        A fresh :class:`StreamAdapter`.

    Raises:
        UnknownProviderError: ``provider`` is a name nobody registered.
    """
    if callable(provider) and not isinstance(provider, str):
        name = getattr(provider, "__name__", None) or type(provider).__name__
        return _CallableStreamAdapter(f"<custom {name}>", provider)
    return _lookup(provider)[0]()


def parse_message(provider: str, event: dict[str, Any]) -> list[AgentMessage]:
    """Adapt one provider event, statelessly.

    This is the DESIGN contract for one-off use. It differs from a stream
    adapter only where a provider needs memory between events:

    * codex: ``turn.completed`` usage is reported as sent, i.e. *cumulative for
      the thread*; summing it over turns over-counts. Tool calls are emitted on
      both ``item.started`` and ``item.completed`` (a stream adapter emits each
      once).
    * ollama: text/thinking fragments come out as ``delta`` messages but are
      not assembled into a complete text at ``done``.
    * auto: detection runs on every event (a stream adapter decides once).

    Args:
        provider: a registered provider name.
        event: one provider event (a JSON object).

    Returns:
        Zero or more messages.

    Raises:
        UnknownProviderError: ``provider`` is not registered.
    """
    return _lookup(provider)[1](event)
