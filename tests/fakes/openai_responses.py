"""A fake OpenAI Responses API for driving the real Codex CLI offline.

Serves ``POST /v1/responses`` as a streaming SSE answer with the event sequence of
the real API (the shape ``codex-rs/codex-api/src/sse/responses.rs`` parses)::

    response.created, response.in_progress
    per output item:
        response.output_item.added
        message:       response.content_part.added, response.output_text.delta...,
                       response.output_text.done, response.content_part.done
        function_call: response.function_call_arguments.delta..., ...arguments.done
        reasoning:     response.reasoning_summary_part.added,
                       response.reasoning_summary_text.delta..., ...text.done, ...part.done
        response.output_item.done
    response.completed   (response.id + usage)

Items are :class:`Message`, :class:`FunctionCall` (Codex's shell tool is
``exec_command`` with ``{"cmd": "..."}``) and :class:`Reasoning`. Errors are
:class:`ApiError` (an HTTP status with ``{"error": {...}}``) or :class:`Failed`
(a ``response.failed`` event mid-stream). Codex sends the tool output back as a
``function_call_output`` input item in the next request; :func:`answer_with_tool_output`
quotes it. A ``GET /v1/responses`` (the WebSocket upgrade the built-in provider
tries) and any other route get a 404 and are recorded.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.fakes._sse_server import Answer, FakeSseServer, JsonResponse, RecordedRequest, SseStream, chunks

__all__ = [
    "Message",
    "FunctionCall",
    "Reasoning",
    "Reply",
    "ApiError",
    "Failed",
    "FakeResponses",
    "text",
    "exec_command",
    "slow_text",
    "api_error",
    "answer_with_tool_output",
    "function_call_outputs",
    "user_texts",
]

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}_fake_{next(_ids):04d}"


@dataclass
class Message:
    """An assistant message with one ``output_text`` part, streamed in ``pieces`` deltas."""

    text: str
    pieces: int = 3
    id: str = field(default_factory=lambda: _next_id("msg"))


@dataclass
class FunctionCall:
    """A function call; ``arguments`` is JSON-encoded and streamed in ``pieces`` deltas."""

    name: str
    arguments: dict[str, Any]
    call_id: str = field(default_factory=lambda: _next_id("call"))
    id: str = field(default_factory=lambda: _next_id("fc"))
    pieces: int = 2


@dataclass
class Reasoning:
    """A reasoning item with one summary text."""

    summary: str
    id: str = field(default_factory=lambda: _next_id("rs"))


Item = Message | FunctionCall | Reasoning


@dataclass
class Reply:
    """One model response.

    Attributes:
        items: the output items, in order.
        delay: seconds between SSE events (slow streams for stop tests).
        cut_after: drop the connection after this many events (a broken stream).
        input_tokens / output_tokens / cached_tokens / reasoning_tokens: the usage.
    """

    items: list[Item]
    delay: float = 0.0
    cut_after: int | None = None  # the stream breaks after this many events
    input_tokens: int = 10
    output_tokens: int = 10
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass
class ApiError:
    """An HTTP error with the API's ``{"error": {...}}`` body."""

    status: int
    message: str = "fake failure"
    code: str | None = None

    def body(self) -> dict[str, Any]:
        kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(self.status, "server_error")
        return {"error": {"message": self.message, "type": kind, "param": None, "code": self.code}}


@dataclass
class Failed:
    """A stream that starts, then ends in ``response.failed`` with this error."""

    message: str = "fake failure"
    code: str = "server_error"


ResponsesReply = Reply | ApiError | Failed


def text(value: str, **kwargs: Any) -> Reply:
    """A reply holding one assistant message."""
    return Reply([Message(value)], **kwargs)


def exec_command(cmd: str, **kwargs: Any) -> Reply:
    """A reply asking Codex to run a shell command through its ``exec_command`` tool."""
    return Reply([FunctionCall("exec_command", {"cmd": cmd})], **kwargs)


def slow_text(value: str, *, pieces: int = 50, delay: float = 0.1) -> Reply:
    """A message streamed in ``pieces`` deltas ``delay`` seconds apart."""
    return Reply([Message(value, pieces=pieces)], delay=delay)


def api_error(status: int, message: str | None = None) -> ApiError:
    """An HTTP error reply."""
    return ApiError(status, message or f"fake {status} error")


def function_call_outputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``function_call_output`` input item of a request, oldest first."""
    return [i for i in body.get("input", []) if isinstance(i, dict) and i.get("type") == "function_call_output"]


def _output_text(item: dict[str, Any]) -> str:
    output = item.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, dict):  # {"content": ..} in some versions
        return str(output.get("content", ""))
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict))
    return ""


def user_texts(body: dict[str, Any]) -> list[str]:
    """The text of every ``user`` message in the request's input, oldest first."""
    out = []
    for item in body.get("input", []):
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.append("".join(p.get("text", "") for p in content if isinstance(p, dict)))
    return out


def answer_with_tool_output(template: str = "Tool said: {}") -> Callable[[RecordedRequest], Reply]:
    """A reply quoting the command output Codex sent back (the part after ``Output:``)."""

    def reply(request: RecordedRequest) -> Reply:
        outputs = function_call_outputs(request.json())
        raw = _output_text(outputs[-1]) if outputs else "<no tool output>"
        output = raw.split("Output:", 1)[-1].strip()
        return text(template.format(output))

    return reply


class FakeResponses(FakeSseServer[ResponsesReply]):
    """The fake Responses API server (see the module docstring).

    Args:
        default: the reply once the scripted queue is empty (default: ``text("ok")``).
    """

    def __init__(self, default: ResponsesReply | Callable[[RecordedRequest], ResponsesReply] | None = None) -> None:
        super().__init__("fake-responses", default if default is not None else text("ok"))

    @property
    def base_url(self) -> str:
        """What to put in a Codex ``model_providers.<name>.base_url`` (ends in ``/v1``)."""
        return f"{self.origin}/v1"

    def is_model_call(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path == "/v1/responses"

    def respond(self, request: RecordedRequest, reply: ResponsesReply) -> Answer:
        if isinstance(reply, ApiError):
            return JsonResponse(reply.status, reply.body())
        try:
            model = str(request.json().get("model", "gpt-fake"))
        except ValueError:
            model = "gpt-fake"
        if isinstance(reply, Failed):
            return SseStream(_failed_events(reply, model))
        return SseStream(_events(reply, model), delay=reply.delay, cut_after=reply.cut_after)


class _Sequencer:
    """Numbers events as the real API does (``sequence_number`` from 0)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def add(self, kind: str, **data: Any) -> None:
        self.events.append((kind, {"type": kind, "sequence_number": len(self.events), **data}))


def _response(response_id: str, model: str, status: str, output: list[Any], usage: Any = None) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": usage,
        "error": None,
    }


def _events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    seq = _Sequencer()
    response_id = _next_id("resp")
    seq.add("response.created", response=_response(response_id, model, "in_progress", []))
    seq.add("response.in_progress", response=_response(response_id, model, "in_progress", []))
    done_items = []
    for index, item in enumerate(reply.items):
        done_items.append(_item_events(seq, index, item))
    usage = {
        "input_tokens": reply.input_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }
    seq.add("response.completed", response=_response(response_id, model, "completed", done_items, usage))
    return seq.events


def _item_events(seq: _Sequencer, index: int, item: Item) -> dict[str, Any]:
    """Append the events of one output item; return the finished item."""
    if isinstance(item, Message):
        part = {"type": "output_text", "text": "", "annotations": []}
        seq.add(
            "response.output_item.added",
            output_index=index,
            item={"id": item.id, "type": "message", "status": "in_progress", "role": "assistant", "content": []},
        )
        where = {"item_id": item.id, "output_index": index, "content_index": 0}
        seq.add("response.content_part.added", **where, part=part)
        for piece in chunks(item.text, item.pieces):
            seq.add("response.output_text.delta", **where, delta=piece)
        seq.add("response.output_text.done", **where, text=item.text)
        final_part = {**part, "text": item.text}
        seq.add("response.content_part.done", **where, part=final_part)
        done = {"id": item.id, "type": "message", "status": "completed", "role": "assistant", "content": [final_part]}
    elif isinstance(item, FunctionCall):
        arguments = orjson.dumps(item.arguments).decode()
        base = {"id": item.id, "type": "function_call", "call_id": item.call_id, "name": item.name}
        seq.add(
            "response.output_item.added", output_index=index, item={**base, "status": "in_progress", "arguments": ""}
        )
        for piece in chunks(arguments, item.pieces):
            seq.add("response.function_call_arguments.delta", item_id=item.id, output_index=index, delta=piece)
        seq.add("response.function_call_arguments.done", item_id=item.id, output_index=index, arguments=arguments)
        done = {**base, "status": "completed", "arguments": arguments}
    else:
        seq.add(
            "response.output_item.added", output_index=index, item={"id": item.id, "type": "reasoning", "summary": []}
        )
        where = {"item_id": item.id, "output_index": index, "summary_index": 0}
        seq.add("response.reasoning_summary_part.added", **where, part={"type": "summary_text", "text": ""})
        seq.add("response.reasoning_summary_text.delta", **where, delta=item.summary)
        seq.add("response.reasoning_summary_text.done", **where, text=item.summary)
        seq.add("response.reasoning_summary_part.done", **where, part={"type": "summary_text", "text": item.summary})
        done = {"id": item.id, "type": "reasoning", "summary": [{"type": "summary_text", "text": item.summary}]}
    seq.add("response.output_item.done", output_index=index, item=done)
    return done


def _failed_events(reply: Failed, model: str) -> list[tuple[str, dict[str, Any]]]:
    seq = _Sequencer()
    response_id = _next_id("resp")
    seq.add("response.created", response=_response(response_id, model, "in_progress", []))
    failed = _response(response_id, model, "failed", [])
    failed["error"] = {"code": reply.code, "message": reply.message}
    seq.add("response.failed", response=failed)
    return seq.events
