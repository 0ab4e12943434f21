"""A fake Anthropic Messages API for driving the real Claude Code CLI offline.

Serves ``POST /v1/messages`` (Claude Code adds ``?beta=true``) as a streaming SSE
answer with the event sequence of the real API::

    message_start
    content_block_start / content_block_delta... / content_block_stop   (per block)
    message_delta   (stop_reason + usage)
    message_stop

Blocks are :class:`Text` (``text_delta``), :class:`Thinking` (``thinking_delta``
then ``signature_delta``) and :class:`ToolUse` (``input_json_delta``: the JSON of
the input split over several deltas). Errors are :class:`ApiError`: an HTTP status
with the API's JSON error body (``{"type": "error", "error": {"type": ..,
"message": ..}}``). Anything else (another path or method) gets a 404 and is
recorded, so a test can assert the CLI made no other request.

Typical use::

    with FakeAnthropic() as api:
        api.script(tool_call("Bash", {"command": "echo hi"}), answer_with_tool_result())
        ... point the CLI at api.base_url ...
        assert api.model_requests()[1].json()["messages"][-1]["content"][0]["type"] == "tool_result"
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.fakes._sse_server import Answer, FakeSseServer, JsonResponse, RecordedRequest, SseStream, chunks

__all__ = [
    "Text",
    "Thinking",
    "ToolUse",
    "Reply",
    "ApiError",
    "FakeAnthropic",
    "text",
    "tool_call",
    "slow_text",
    "api_error",
    "answer_with_tool_result",
    "last_user_text",
    "tool_results",
]

_ids = itertools.count(1)


@dataclass
class Text:
    """A text block, streamed as ``pieces`` ``text_delta`` events."""

    text: str
    pieces: int = 3


@dataclass
class Thinking:
    """A thinking block: ``thinking_delta`` events then one ``signature_delta``."""

    thinking: str
    signature: str = "fake-signature"
    pieces: int = 2


@dataclass
class ToolUse:
    """A tool_use block; its input JSON arrives as ``input_json_delta`` fragments."""

    name: str
    input: dict[str, Any]
    id: str = field(default_factory=lambda: f"toolu_fake_{next(_ids):04d}")
    pieces: int = 2


Block = Text | Thinking | ToolUse


@dataclass
class Reply:
    """One assistant message.

    Attributes:
        blocks: the content blocks, in order.
        stop_reason: defaults to ``"tool_use"`` when a block is a tool call, else ``"end_turn"``.
        delay: seconds between SSE events (slow streams for interrupt tests).
        input_tokens / output_tokens: the usage reported.
        model: the model echoed in ``message_start`` (default: the requested one).
    """

    blocks: list[Block]
    stop_reason: str | None = None
    delay: float = 0.0
    input_tokens: int = 12
    output_tokens: int = 7
    model: str | None = None


@dataclass
class ApiError:
    """An HTTP error with the Messages API's error body."""

    status: int
    message: str = "fake failure"
    error_type: str | None = None

    def body(self) -> dict[str, Any]:
        kind = self.error_type or _ERROR_TYPES.get(self.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}, "request_id": "req_fake"}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

AnthropicReply = Reply | ApiError


def text(value: str, **kwargs: Any) -> Reply:
    """A reply holding one text block."""
    return Reply([Text(value)], **kwargs)


def tool_call(name: str, tool_input: dict[str, Any], *, preface: str | None = None, **kwargs: Any) -> Reply:
    """A reply asking for one tool call (optionally after a short text block)."""
    blocks: list[Block] = [Text(preface)] if preface else []
    blocks.append(ToolUse(name, tool_input))
    return Reply(blocks, **kwargs)


def slow_text(value: str, *, pieces: int = 50, delay: float = 0.1) -> Reply:
    """A text reply streamed in ``pieces`` deltas ``delay`` seconds apart."""
    return Reply([Text(value, pieces=pieces)], delay=delay)


def api_error(status: int, message: str | None = None) -> ApiError:
    """An HTTP error reply (401: authentication_error, 500: api_error, ...)."""
    return ApiError(status, message or f"fake {status} error")


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``tool_result`` block in the request's messages, oldest first."""
    found = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            found += [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return found


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    """The last plain-text block of the last ``user`` message (the prompt, for a new turn)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        # Claude Code puts <system-reminder> blocks first and the prompt last
        real = [t for t in texts if not t.startswith("<system-reminder>")]
        return (real or texts or [""])[-1]
    return ""


def answer_with_tool_result(template: str = "Tool said: {}") -> Callable[[RecordedRequest], Reply]:
    """A reply that quotes the output of the latest tool_result the client sent."""

    def reply(request: RecordedRequest) -> Reply:
        results = tool_results(request.json())
        output = _result_text(results[-1]).strip() if results else "<no tool result>"
        return text(template.format(output))

    return reply


class FakeAnthropic(FakeSseServer[AnthropicReply]):
    """The fake Messages API server (see the module docstring).

    Args:
        default: the reply once the scripted queue is empty (default: ``text("ok")``).
    """

    def __init__(self, default: AnthropicReply | Callable[[RecordedRequest], AnthropicReply] | None = None) -> None:
        super().__init__("fake-anthropic", default if default is not None else text("ok"))

    @property
    def base_url(self) -> str:
        """What to put in ``ANTHROPIC_BASE_URL``."""
        return self.origin

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path == "/v1/messages"

    def respond(self, request: RecordedRequest, reply: AnthropicReply) -> Answer:
        if isinstance(reply, ApiError):
            return JsonResponse(reply.status, reply.body(), {"request-id": "req_fake"})
        try:
            model = reply.model or str(request.json().get("model", "claude-fake"))
        except ValueError:
            model = reply.model or "claude-fake"
        return SseStream(_events(reply, model), delay=reply.delay)


def _events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    message_id = f"msg_fake_{next(_ids):04d}"
    stop_reason = reply.stop_reason or ("tool_use" if any(isinstance(b, ToolUse) for b in reply.blocks) else "end_turn")
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": reply.input_tokens,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
            },
        )
    ]
    for index, block in enumerate(reply.blocks):
        events += _block_events(index, block)
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": reply.output_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_events(index: int, block: Block) -> list[tuple[str, dict[str, Any]]]:
    def delta(payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": payload})

    if isinstance(block, Text):
        start = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": part}) for part in chunks(block.text, block.pieces)]
    elif isinstance(block, Thinking):
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": p}) for p in chunks(block.thinking, block.pieces)]
        deltas.append(delta({"type": "signature_delta", "signature": block.signature}))
    else:
        start = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
        raw = orjson.dumps(block.input).decode()
        deltas = [delta({"type": "input_json_delta", "partial_json": p}) for p in chunks(raw, block.pieces)]
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *deltas,
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]
