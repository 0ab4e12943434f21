"""Claude Code ``--output-format stream-json --verbose`` events -> AgentMessages.

Shapes are those of the real CLI (recordings of Claude Code 2.1.330/2.1.197 in
``tests/data/claude``) and of the Agent SDK message types (``sdk.d.ts``:
``SDKCompactBoundaryMessage``, ``SDKStatusMessage``, ``SDKAPIRetryMessage``,
``SDKResultError``, ``SDKPartialAssistantMessage``).

Mapping (``parent_id`` is the line's ``parent_tool_use_id`` throughout):

- ``system`` ``init`` -> init (session_id, model, cwd, tools; agent_version from
  ``claude_code_version``, or a runner's own ``agent_version`` key).
- ``system`` ``compact_boundary`` -> compaction (``compact_metadata.trigger``/``pre_tokens``).
- ``system`` ``api_retry`` / ``permission_denied`` / ``status`` -> status with a
  readable message ("API error 500 (server_error); retry 1/10 in 0.6 s",
  "Permission denied: Bash: ...", "Requesting a model response"); other system
  subtypes (hooks, local command output, ...) -> status named by the subtype.
  ``data`` is the event.
- ``assistant``: the CLI prints one line per content block (same
  ``message.id``); each block becomes one message with id ``<uuid>-<type>-<n>``
  (``n`` = block index in the line): ``text`` -> text, ``thinking`` -> thinking,
  ``tool_use`` (and ``server_tool_use``/``mcp_tool_use``) -> tool_call, any
  other block -> unknown (content = the block).
- ``user``: each ``tool_result`` block -> tool_result (``content`` string or
  block list as ``output``, ``is_error``; the line's structured
  ``tool_use_result`` as ``structured`` when the result is the line's only block). A user
  line with anything else (a replayed prompt, "[Request interrupted by user]")
  also yields one unknown message with the whole event.
- ``result`` -> cost, then, if the turn failed, an error message
  (``<uuid>-error``) carrying the result text (or the ``errors`` list). A failed
  turn is ``is_error`` or a non-``success`` subtype or an ``api_error_status``
  or ``terminal_reason == "api_error"``: API errors still say
  ``subtype: "success"``, so the subtype alone cannot be trusted.
- ``stream_event`` (only with ``--include-partial-messages``):
  ``content_block_delta`` ``text_delta``/``thinking_delta`` -> text/thinking
  with ``delta=True``, ``message_id`` = ``api_message_id`` (the Anthropic
  message id) and ``index`` = the block index. The complete block follows as an
  ``assistant`` line (the CLI prints it just before ``content_block_stop``), so
  streaming UIs append deltas and replace them with the full block; others skip
  deltas. Every other stream event (message_start, content_block_start,
  input_json_delta, content_block_stop, message_delta, message_stop) -> unknown.
- anything else (``control_response``, future types) -> unknown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from ..messages import (
    COMPACTION,
    COST,
    ERROR,
    INIT,
    STATUS,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    UNKNOWN,
    AgentMessage,
    CompactionContent,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    ToolResultContent,
    new_message_id,
    now_ms,
    unknown_message,
)
from ._common import (
    DispatchStreamAdapter,
    Handler,
    as_count,
    as_dict,
    as_str,
    float_or_none,
    int_or_none,
    str_list,
    str_or_none,
    text_list,
)

__all__ = ["ClaudeStreamAdapter", "HANDLERS", "system_event"]

_new = object.__new__

_STATUS_TEXT: Final = {
    "requesting": "Requesting a model response",
    "compacting": "Compacting the conversation",
}


def _event_id(event: dict[str, Any]) -> str:
    uuid = event.get("uuid")
    return uuid if type(uuid) is str and uuid else new_message_id()


def _parent(event: dict[str, Any]) -> str | None:
    parent = event.get("parent_tool_use_id")
    return parent if type(parent) is str and parent else None


# -- system ---------------------------------------------------------------------------


def _system_status(subtype: str, event: dict[str, Any]) -> StatusContent:
    if subtype == "api_retry":
        get = event.get
        status, error, delay = get("error_status"), get("error"), get("retry_delay_ms")
        attempt, limit = get("attempt"), get("max_retries")
        code = f"API error {status}" if type(status) is int else "API connection error"
        reason = f" ({error})" if type(error) is str and error else ""
        count = f" {attempt}/{limit}" if type(attempt) is int and type(limit) is int else ""
        if type(delay) is not int:
            delay = float_or_none(delay)
        when = f" in {delay / 1000:.1f} s" if delay is not None else ""
        return StatusContent(subtype, f"{code}{reason}; retry{count}{when}", event)
    if subtype == "permission_denied":
        tool = as_str(event.get("tool_name"), "a tool")
        detail = event.get("message")
        suffix = f": {detail}" if type(detail) is str and detail else ""
        return StatusContent(subtype, f"Permission denied: {tool}{suffix}", event)
    if subtype == "status":
        status = event.get("status")
        if status is None:
            return StatusContent(subtype, "Ready", event)
        text = _STATUS_TEXT.get(status) if type(status) is str else None
        return StatusContent(subtype, text or as_str(status, "status"), event)
    return StatusContent(subtype, subtype.replace("_", " "), event)


def _agent_version(event: dict[str, Any]) -> str | None:
    """``Claude Code <version>`` from an init event, or a runner's own ``agent_version``."""
    version = event.get("claude_code_version")
    if type(version) is str and version:
        return f"Claude Code {version}"
    return str_or_none(event.get("agent_version"))


def system_event(event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
    """Adapt a ``system`` event (also used by the ``auto`` adapter before it decides)."""
    subtype = event.get("subtype")
    if subtype == "init":
        out.append(
            AgentMessage(
                _event_id(event),
                INIT,
                InitContent(
                    str_or_none(event.get("session_id")),
                    str_or_none(event.get("model")),
                    str_or_none(event.get("cwd")),
                    str_list(event.get("tools")),
                    _agent_version(event),
                ),
                None,
                ts,
            )
        )
    elif subtype == "compact_boundary":
        meta = as_dict(event.get("compact_metadata"))
        content = CompactionContent(as_str(meta.get("trigger"), "unknown"), as_count(meta.get("pre_tokens")))
        out.append(AgentMessage(_event_id(event), COMPACTION, content, None, ts))
    elif type(subtype) is str and subtype:
        out.append(AgentMessage(_event_id(event), STATUS, _system_status(subtype, event), None, ts))
    else:
        out.append(unknown_message(event, ts))


# -- assistant ------------------------------------------------------------------------


def _block_ids(kind: str) -> tuple[str, ...]:
    # "-<kind>-<n>" for the first block indexes: a concatenation is cheaper than an f-string
    return tuple(f"-{kind}-{n}" for n in range(8))


_TEXT_IDS: Final = _block_ids("text")
_CALL_IDS: Final = _block_ids("tool_call")
_RESULT_IDS: Final = _block_ids("tool_result")


def _assistant(event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
    try:
        blocks = event["message"]["content"]
    except (KeyError, TypeError):  # no message, or not an object
        blocks = None
    if type(blocks) is not list:
        if type(blocks) is str:  # not produced by the CLI; the API allows a bare string
            out.append(AgentMessage(_event_id(event), TEXT, TextContent(blocks), _parent(event), ts))
        else:
            out.append(unknown_message(event, ts))
        return
    uuid = event.get("uuid")
    base = uuid if type(uuid) is str and uuid else new_message_id()
    parent = event.get("parent_tool_use_id")
    if parent is not None and (type(parent) is not str or not parent):
        parent = None
    for n, block in enumerate(blocks):
        kind = block.get("type") if type(block) is dict else None
        if kind == "text":
            text = block.get("text")
            content: Any = TextContent(text if type(text) is str else "")
            out.append(AgentMessage(base + _TEXT_IDS[n] if n < 8 else f"{base}-text-{n}", TEXT, content, parent, ts))
        elif kind == "tool_use" or kind == "server_tool_use" or kind == "mcp_tool_use":
            tool_id = block.get("id")
            name = block.get("name")
            content = ToolCallContent(
                tool_id if type(tool_id) is str else None,
                name if type(name) is str else "",
                block.get("input"),
            )
            message_id = base + _CALL_IDS[n] if n < 8 else f"{base}-tool_call-{n}"
            out.append(AgentMessage(message_id, TOOL_CALL, content, parent, ts))
        elif kind == "thinking":
            text = block.get("thinking")
            content = ThinkingContent(text if type(text) is str else "")
            out.append(AgentMessage(f"{base}-thinking-{n}", THINKING, content, parent, ts))
        else:
            out.append(AgentMessage(f"{base}-unknown-{n}", UNKNOWN, block, parent, ts))


# -- user -----------------------------------------------------------------------------


def _user(event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
    try:
        blocks = event["message"]["content"]
    except (KeyError, TypeError):  # no message, or not an object
        blocks = None
    if type(blocks) is not list or not blocks:
        out.append(unknown_message(event, ts))
        return
    uuid = event.get("uuid")
    base = uuid if type(uuid) is str and uuid else None
    parent = event.get("parent_tool_use_id")
    if parent is not None and (type(parent) is not str or not parent):
        parent = None
    # the line's structured tool_use_result belongs to its tool_result when it has exactly one
    structured = event.get("tool_use_result") if len(blocks) == 1 else None
    n = 0
    others = False
    for block in blocks:
        if type(block) is not dict or block.get("type") != "tool_result":
            others = True
            continue
        if base is None:
            base = new_message_id()
        tool_id = block.get("tool_use_id")
        content = ToolResultContent(
            tool_id if type(tool_id) is str else None, block.get("content"), block.get("is_error") is True, structured
        )
        message_id = base + _RESULT_IDS[n] if n < 8 else f"{base}-tool_result-{n}"
        out.append(AgentMessage(message_id, TOOL_RESULT, content, parent, ts))
        n += 1
    if others:  # the whole line, so nothing of it is lost (its tool_use_result included)
        out.append(unknown_message(event, ts, f"{base}-unknown" if n and base is not None else None))


# -- result ---------------------------------------------------------------------------


def _result(event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
    get = event.get
    usage = get("usage")
    if type(usage) is dict:
        tokens_in = usage.get("input_tokens")
        tokens_out = usage.get("output_tokens")
        cached = usage.get("cache_read_input_tokens")
        tokens_in = tokens_in if type(tokens_in) is int else as_count(tokens_in)
        tokens_out = tokens_out if type(tokens_out) is int else as_count(tokens_out)
        cached = cached if type(cached) is int else as_count(cached)
    else:
        usage = None
        tokens_in = tokens_out = cached = 0
    cost = get("total_cost_usd")
    unusable = 0
    if type(cost) is not float:
        reported = cost
        cost = float_or_none(cost)
        if cost is None and reported is not None:
            unusable = 1
    duration = get("duration_ms")
    if type(duration) is not int:
        duration = int_or_none(duration)
    turns = get("num_turns")
    if type(turns) is not int:
        turns = int_or_none(turns)
    subtype = get("subtype")
    if type(subtype) is not str:
        subtype = None
    reason = get("terminal_reason")
    if type(reason) is not str or not reason:
        reason = None
    status = get("api_error_status")
    if status is not None:
        status = int_or_none(status)
    result = get("result")
    if type(result) is not str:
        result = None
    errors = get("errors")
    errors = text_list(errors) if errors is not None else []
    failed = (
        get("is_error") is True
        or (subtype is not None and subtype != "success")
        or status is not None
        or reason == "api_error"
    )
    content = CostContent(
        cost,
        duration,
        tokens_in,
        tokens_out,
        turns,
        failed,
        result,
        errors,
        cached,
        subtype,
        reason,
        status,
        usage,
        unusable,
    )
    base = get("uuid")
    if type(base) is not str or not base:
        base = new_message_id()
    out.append(AgentMessage(base, COST, content, None, ts))
    if failed:
        text = result or "; ".join(e for e in errors if e) or f"turn failed ({reason or subtype or 'error'})"
        out.append(AgentMessage(f"{base}-error", ERROR, ErrorContent(text), None, ts))


# -- stream_event ---------------------------------------------------------------------


def _stream_event(event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
    # The hottest handler: with --include-partial-messages three lines in four are
    # stream events, most of them text/thinking deltas. Field checks are inlined (no
    # helper calls), and the two objects of a delta are built without a class call:
    # __new__ plus slot stores are cheaper than AgentMessage(...), whose __init__ runs
    # in a frame of its own (bench/README.md, "Hot path"). Every field is set, so the
    # objects are exactly what the constructors make.
    inner = event.get("event")
    if type(inner) is dict and inner.get("type") == "content_block_delta":
        delta = inner.get("delta")
        if type(delta) is dict:
            kind = delta.get("type")
            if kind == "text_delta":
                text = delta.get("text")
                content: Any = _new(TextContent)
                mtype = TEXT
            elif kind == "thinking_delta":
                text = delta.get("thinking")
                content = _new(ThinkingContent)
                mtype = THINKING
            else:
                content = None
            if content is not None:
                content.text = text if type(text) is str else ""
                content.delta = True
                api_id = event.get("api_message_id")
                content.message_id = api_id if type(api_id) is str else None
                index = inner.get("index")
                content.index = index if type(index) is int else int_or_none(index)
                message = _new(AgentMessage)
                uuid = event.get("uuid")
                message.id = uuid if type(uuid) is str and uuid else new_message_id()
                message.type = mtype
                message.content = content
                parent = event.get("parent_tool_use_id")
                message.parent_id = parent if type(parent) is str and parent else None
                message.timestamp = ts
                out.append(message)
                return
    # every other stream event (message_start, content_block_start/stop, input_json_delta, ...)
    out.append(unknown_message(event, ts))


#: ``event["type"]`` -> handler; shared by every Claude stream adapter (they keep no state).
HANDLERS: Final[dict[str, Handler]] = {
    "assistant": _assistant,
    "user": _user,
    "stream_event": _stream_event,
    "system": system_event,
    "result": _result,
}


class ClaudeStreamAdapter(DispatchStreamAdapter):
    """Stream adapter for Claude Code stream-json output (stateless per event)."""

    __slots__ = ()

    def __init__(self, provider: str = "claude") -> None:
        super().__init__(provider, HANDLERS)

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        return self._adapt(events, None)

    def tally_batch(self, events: Iterable[dict[str, Any]], counts: Counter[str]) -> list[AgentMessage]:
        # Stream events make exactly one message each, of a type their inner event
        # decides: those are counted (three lines in four of a Claude transcript).
        return self._adapt(events, counts)

    def _adapt(self, events: Iterable[dict[str, Any]], counts: Counter[str] | None) -> list[AgentMessage]:
        # Stream events in the shape the CLI prints them are adapted inline: subscripts,
        # no handler call, objects built slot by slot (as _stream_event does). Any other
        # event, or a stream event with a key missing, goes to the handlers, which give
        # the same messages. With counts, the inline ones are counted, not built.
        out: list[AgentMessage] = []
        append = out.append
        timestamp = now_ms()
        dispatch = self._dispatch
        tally = counts is not None
        texts = thinkings = unknowns = 0
        for event in events:
            try:
                if type(event) is dict and event["type"] == "stream_event":
                    inner = event["event"]
                    content: Any = None
                    if type(inner) is dict and inner["type"] == "content_block_delta":
                        delta = inner["delta"]
                        kind = delta["type"] if type(delta) is dict else None
                        if kind == "text_delta":
                            if tally:  # the type is all a count needs
                                texts += 1
                                continue
                            text = delta["text"]
                            index = inner["index"]
                            api_id = event["api_message_id"]
                            uuid = event["uuid"]
                            parent = event["parent_tool_use_id"]
                            content = _new(TextContent)
                            content.text = text if type(text) is str else ""
                            content.delta = True
                            content.message_id = api_id if type(api_id) is str else None
                            content.index = index if type(index) is int else int_or_none(index)
                            mtype = TEXT
                        elif kind == "thinking_delta":
                            if tally:
                                thinkings += 1
                                continue
                            text = delta["thinking"]
                            index = inner["index"]
                            api_id = event["api_message_id"]
                            uuid = event["uuid"]
                            parent = event["parent_tool_use_id"]
                            content = _new(ThinkingContent)
                            content.text = text if type(text) is str else ""
                            content.delta = True
                            content.message_id = api_id if type(api_id) is str else None
                            content.index = index if type(index) is int else int_or_none(index)
                            mtype = THINKING
                    if content is None:  # any other stream event: unknown, as unknown_message makes it
                        if tally:
                            unknowns += 1
                            continue
                        uuid = event.get("uuid")
                        parent = None
                        mtype = UNKNOWN
                        content = event
                    message = _new(AgentMessage)
                    message.id = uuid if type(uuid) is str and uuid else new_message_id()
                    message.type = mtype
                    message.content = content
                    message.parent_id = parent if type(parent) is str and parent else None
                    message.timestamp = timestamp
                    append(message)
                    continue
            except KeyError:
                pass
            dispatch(event, out, timestamp)
        if counts is not None:
            for kind, n in ((TEXT, texts), (THINKING, thinkings), (UNKNOWN, unknowns)):
                if n:
                    counts[kind] += n
        return out
