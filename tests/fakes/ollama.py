"""A fake Ollama server on 127.0.0.1 for the ollama runner's tests.

It speaks the documented ``/api/chat`` streaming format (see
docs/real-clis.md, "Ollama"): ``application/x-ndjson`` lines sent with
chunked transfer encoding, one ``{"model", "created_at", "message": {"role":
"assistant", "content": ...}, "done": false}`` object per piece, then a final
``done: true`` object carrying ``done_reason`` and the counters. It also answers
``GET /api/version`` with ``{"version": <version>}`` (:data:`VERSION` unless
given; :meth:`FakeOllama.set_version_status` makes it answer an error status
instead, e.g. 404 like a server without that endpoint), and ``404 {"error":
"model \\"x\\" not found, try pulling it first"}`` for a model it does not have.

Replies are scripted with :class:`Reply` objects queued by the test
(:meth:`FakeOllama.reply`); with none queued it answers ``You said: <last user
message>``. Every request is recorded (:attr:`FakeOllama.requests`) so tests can
assert the conversation history, options and model that were sent.

Usage::

    with FakeOllama() as fake:
        fake.reply(Reply(text="Hello there", thinking="Let me think"))
        ... providerConfig {"host": fake.url} ...
        assert fake.chats[-1]["messages"][-1] == {"role": "user", "content": "hi"}
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

__all__ = ["FakeOllama", "Reply", "Recorded"]

VERSION = "0.6.3-fake"


@dataclass
class Reply:
    """One scripted ``/api/chat`` answer.

    Attributes:
        text: the content, streamed one word (with its leading space) per chunk.
        thinking: streamed first as ``message.thinking`` chunks, only when the
            request asked for ``think``.
        tool_calls: sent in one extra non-final chunk as ``message.tool_calls``.
        delay: seconds to wait before each chunk (a slow stream).
        error: with ``status`` 200, an ``{"error": ...}`` line sent mid-stream
            after ``error_after`` chunks; with another status, the error body.
        status: the HTTP status; non-200 sends ``{"error": error}`` and no stream.
        done_reason: of the final chunk.
        truncate: end the stream without the final ``done`` chunk.
    """

    text: str = "Hello from the fake model"
    thinking: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    delay: float = 0.0
    error: str | None = None
    error_after: int = 1
    status: int = 200
    done_reason: str = "stop"
    truncate: bool = False


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    raw_body: bytes = b""


@dataclass
class _State:
    models: set[str]
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)
    version_status: int = 200
    version: str = VERSION


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def _record(self, body: bytes = b"") -> Recorded:
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        entry = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, parsed, body)
        with self.server.state.lock:
            self.server.state.requests.append(entry)
        return entry

    def _send_json(self, status: int, obj: Any) -> None:
        data = orjson.dumps(obj)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._record()
        state = self.server.state
        if self.path.endswith("/api/version"):
            if state.version_status != 200:
                self._send_json(state.version_status, {"error": "version unavailable"})
            else:
                self._send_json(200, {"version": state.version})
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        entry = self._record(self.rfile.read(length))
        if not self.path.endswith("/api/chat"):
            self._send_json(404, {"error": "not found"})
            return
        request = entry.body if isinstance(entry.body, dict) else {}
        state = self.server.state
        model = request.get("model")
        if model not in state.models:
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        with state.lock:
            reply = state.replies.popleft() if state.replies else None
        if reply is None:
            users = (m.get("content") for m in reversed(request.get("messages", [])) if m.get("role") == "user")
            last = next(users, "")
            reply = Reply(text=f"You said: {last}")
        if reply.status != 200:
            self._send_json(reply.status, {"error": reply.error or "fake failure"})
            return
        try:
            self._stream(request, model, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a stopped turn)

    def _stream(self, request: dict[str, Any], model: str, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks: list[dict[str, Any]] = []

        def piece(message: dict[str, Any]) -> dict[str, Any]:
            return {
                "model": model,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
                "message": {"role": "assistant", **message},
                "done": False,
            }

        if reply.thinking and request.get("think"):
            chunks += [piece({"content": "", "thinking": w}) for w in _words(reply.thinking)]
        if reply.tool_calls:
            chunks.append(piece({"content": "", "tool_calls": reply.tool_calls}))
        chunks += [piece({"content": w}) for w in _words(reply.text)]
        final = piece({"content": ""})
        final.update(
            done=True,
            done_reason=reply.done_reason,
            total_duration=4_883_583_458,
            load_duration=1_334_875,
            prompt_eval_count=26,
            prompt_eval_duration=342_546_000,
            eval_count=len(chunks),
            eval_duration=4_535_599_000,
        )
        closing = self.server.state.closing
        for n, chunk in enumerate(chunks):
            if reply.error is not None and n == reply.error_after:
                self._write_chunk({"error": reply.error})
                self._end_chunks()
                return
            if reply.delay and closing.wait(reply.delay):
                return
            self._write_chunk(chunk)
        if reply.error is not None:
            self._write_chunk({"error": reply.error})
        elif not reply.truncate:
            self._write_chunk(final)
        self._end_chunks()

    def _write_chunk(self, obj: dict[str, Any]) -> None:
        data = orjson.dumps(obj) + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]] if text else []


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class FakeOllama:
    """A fake Ollama server on 127.0.0.1 (an ephemeral port), served by a named thread.

    Args:
        models: the model names it "has"; others get HTTP 404.
        version: what ``GET /api/version`` answers as ``version``.
    """

    def __init__(self, models: tuple[str, ...] = ("llama3.2", "qwen3:8b"), version: str = VERSION) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(models=set(models), version=version)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-ollama-{self.port}",
            daemon=True,
        )

    def __enter__(self) -> FakeOllama:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wake slow streams, close the socket, join the thread."""
        self._server.state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def reply(self, *replies: Reply) -> None:
        """Queue scripted replies for the next ``/api/chat`` requests, in order."""
        with self._server.state.lock:
            self._server.state.replies.extend(replies)

    def set_version_status(self, status: int) -> None:
        """Make ``GET /api/version`` answer with this HTTP status."""
        self._server.state.version_status = status

    @property
    def requests(self) -> list[Recorded]:
        """Every request received so far."""
        with self._server.state.lock:
            return list(self._server.state.requests)

    @property
    def chats(self) -> list[dict[str, Any]]:
        """The JSON bodies of the ``/api/chat`` requests received so far."""
        return [r.body for r in self.requests if r.path.endswith("/api/chat") and r.method == "POST"]
