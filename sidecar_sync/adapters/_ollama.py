"""Ollama runner events -> AgentMessages.

The Ollama runner (``sidecar_sync.runners.ollama``) wraps the ``/api/chat``
stream in events of this exact shape (agreed with the runner):

- ``{"type": "system", "subtype": "init", "session_id": .., "model": .., "cwd": ..}``
- ``{"type": "chunk", ...}``: one raw ``/api/chat`` streaming chunk plus
  ``"type": "chunk"``, so ``message.content``, ``message.thinking``,
  ``message.tool_calls``, ``done``, ``done_reason``, ``prompt_eval_count``,
  ``eval_count``, ``eval_duration`` and ``total_duration`` (nanoseconds) are as
  Ollama sends them (Ollama API docs, ``docs/api.md`` "Generate a chat
  completion"; ``tool_calls`` items are ``{"function": {"name", "arguments"}}``
  with ``arguments`` an object). A mid-stream ``{"error": ".."}`` line arrives
  as a chunk with an ``error`` key.
- ``{"type": "error", "message": ..}``.

Mapping:

- ``system`` ``init`` -> init; other ``system`` subtypes -> status.
- ``chunk``: ``message.thinking`` -> thinking and ``message.content`` -> text,
  both as fragments (``delta=True``, ``message_id`` grouping the fragments of
  one reply). A stream adapter also assembles them: before a tool call and at
  ``done`` it emits the complete thinking and text (``delta=False``), so UIs
  that do not stream skip the fragments, as with Claude. Each
  ``message.tool_calls`` entry -> tool_call (``tool_use_id`` = the call's
  ``id`` when Ollama gives one). ``error`` -> error. ``done: true`` -> cost:
  ``input_tokens`` = ``prompt_eval_count``, ``output_tokens`` =
  ``eval_count``, ``duration_ms`` = ``eval_duration`` ns -> ms, ``is_error``
  when ``done_reason`` is ``"error"``, ``terminal_reason`` = ``done_reason``,
  ``result`` = the assembled reply (stream adapter only), ``usage`` = the
  chunk's counters and durations; no USD cost.
- ``error`` -> error.
"""

from __future__ import annotations

from typing import Any, Final

from ..messages import (
    COST,
    ERROR,
    INIT,
    STATUS,
    TEXT,
    THINKING,
    TOOL_CALL,
    AgentMessage,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    new_message_id,
    unknown_message,
)
from ._common import DispatchStreamAdapter, as_count, as_dict, as_str, int_or_none, str_list, str_or_none

__all__ = ["OllamaStreamAdapter"]

#: The chunk fields kept in ``CostContent.usage``.
_METRICS: Final = (
    "prompt_eval_count",
    "eval_count",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
)


class OllamaStreamAdapter(DispatchStreamAdapter):
    """Stream adapter for the Ollama runner's events.

    Args:
        provider: the name to report in logs.
        stateful: assemble fragments into complete messages. ``False`` gives
            the stateless behaviour of :func:`~sidecar_sync.adapters.parse_message`
            (fragments only); such an instance never mutates itself.
    """

    __slots__ = ("_stateful", "_reply_id", "_text", "_thinking", "_answer")

    def __init__(self, provider: str = "ollama", *, stateful: bool = True) -> None:
        super().__init__(provider, {"system": self._system, "chunk": self._chunk, "error": self._error})
        self._stateful = stateful
        self._reply_id: str | None = None  # groups the fragments of one reply
        self._text: list[str] = []  # fragments not yet emitted as a complete text
        self._thinking: list[str] = []
        self._answer: list[str] = []  # the whole reply's text, for CostContent.result

    def _system(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        subtype = event.get("subtype")
        if subtype == "init":
            content = InitContent(
                str_or_none(event.get("session_id")),
                str_or_none(event.get("model")),
                str_or_none(event.get("cwd")),
                str_list(event.get("tools")),
                str_or_none(event.get("agent_version")),
            )
            out.append(AgentMessage(new_message_id(), INIT, content, None, ts))
        elif type(subtype) is str and subtype:
            message = as_str(event.get("message")) or subtype.replace("_", " ")
            out.append(AgentMessage(new_message_id(), STATUS, StatusContent(subtype, message, event), None, ts))
        else:
            out.append(unknown_message(event, ts))

    def _error(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        if self._stateful:  # the reply is over: show what arrived before the error
            self._end_reply(out, ts)
        message = event.get("message")
        text = message if type(message) is str and message else "error"
        out.append(AgentMessage(new_message_id(), ERROR, ErrorContent(text), None, ts))

    def _flush(self, out: list[AgentMessage], ts: int) -> None:
        """Emit the assembled thinking and text of the fragments seen so far."""
        reply_id = self._reply_id
        if self._thinking:
            content: Any = ThinkingContent("".join(self._thinking), False, reply_id)
            out.append(AgentMessage(new_message_id(), THINKING, content, None, ts))
            self._thinking = []
        if self._text:
            text = "".join(self._text)
            self._answer.append(text)
            out.append(AgentMessage(new_message_id(), TEXT, TextContent(text, False, reply_id), None, ts))
            self._text = []

    def _end_reply(self, out: list[AgentMessage], ts: int) -> None:
        """Emit what is assembled and forget the reply (it ended with an error)."""
        self._flush(out, ts)
        self._answer = []
        self._reply_id = None

    def _chunk(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        stateful = self._stateful
        message = event.get("message")
        if type(message) is dict:
            reply_id = self._reply_id
            if stateful and reply_id is None:
                reply_id = self._reply_id = new_message_id()
            thinking = message.get("thinking")
            if type(thinking) is str and thinking:
                content: Any = ThinkingContent(thinking, True, reply_id)
                out.append(AgentMessage(new_message_id(), THINKING, content, None, ts))
                if stateful:
                    self._thinking.append(thinking)
            text = message.get("content")
            if type(text) is str and text:
                out.append(AgentMessage(new_message_id(), TEXT, TextContent(text, True, reply_id), None, ts))
                if stateful:
                    self._text.append(text)
            calls = message.get("tool_calls")
            if type(calls) is list and calls:
                if stateful:
                    self._flush(out, ts)
                for call in calls:
                    call = as_dict(call)
                    function = as_dict(call.get("function"))
                    content = ToolCallContent(
                        str_or_none(call.get("id")), as_str(function.get("name")), function.get("arguments")
                    )
                    out.append(AgentMessage(new_message_id(), TOOL_CALL, content, None, ts))
        error = event.get("error")
        if type(error) is str and error:
            if stateful:  # Ollama ends a stream with its error line: close the reply first
                self._end_reply(out, ts)
            out.append(AgentMessage(new_message_id(), ERROR, ErrorContent(error), None, ts))
        if event.get("done") is True:
            result = None
            if stateful:
                self._flush(out, ts)
                result = "".join(self._answer) if self._answer else None
                self._answer = []
                self._reply_id = None
            done_reason = str_or_none(event.get("done_reason"))
            eval_ns = int_or_none(event.get("eval_duration"))
            content = CostContent(
                duration_ms=eval_ns // 1_000_000 if eval_ns is not None else None,
                input_tokens=as_count(event.get("prompt_eval_count")),
                output_tokens=as_count(event.get("eval_count")),
                num_turns=1,
                is_error=done_reason == "error",
                result=result,
                terminal_reason=done_reason,
                usage={key: event[key] for key in _METRICS if key in event},
            )
            out.append(AgentMessage(new_message_id(), COST, content, None, ts))
