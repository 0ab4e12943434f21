"""Shared plumbing of the fake model servers: a loopback HTTP server that streams SSE.

A :class:`FakeSseServer` listens on 127.0.0.1 on a free port, in a named daemon
thread, and records every request. Subclasses say how to answer a request by
implementing :meth:`FakeSseServer.respond`, which returns either an
:class:`SseStream` (a list of ``(event, data)`` pairs streamed with an optional
pause between events, HTTP/1.1 chunked so keep-alive works) or a
:class:`JsonResponse` (a status code and a JSON body, for errors).

Replies are scripted per test: :meth:`FakeSseServer.script` queues replies that
the next model calls consume in order, and :attr:`FakeSseServer.default` answers
once the queue is empty. A reply may also be a callable taking the
:class:`RecordedRequest`, so a test can answer from what the client sent (e.g. the
tool result of the previous call).

Only the standard library is used: the servers run inside the test process and
must not pull in anything the package does not need.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import orjson

log = logging.getLogger("sidecar_sync.tests.fakes")

R = TypeVar("R")


@dataclass
class RecordedRequest:
    """One HTTP request the fake received.

    Attributes:
        method: ``"POST"``, ``"GET"``...
        path: the path without the query string.
        query: the raw query string (``"beta=true"``).
        headers: header names lower-cased.
        body: the raw body bytes.
        received_at: ``time.monotonic()`` when the request line arrived.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The body parsed as JSON (raises ``orjson.JSONDecodeError`` if it is not)."""
        return orjson.loads(self.body)


@dataclass
class SseStream:
    """A streamed answer: ``(event name, data object)`` pairs sent as SSE.

    Attributes:
        events: what to send, in order.
        delay: seconds to pause before each event after the first, so a client
            can interrupt a turn in the middle of a slow stream.
        status: the HTTP status (200).
    """

    events: list[tuple[str, dict[str, Any]]]
    delay: float = 0.0
    status: int = 200
    cut_after: int | None = None
    """Drop the connection after this many events (a stream that breaks mid-way)."""


@dataclass
class JsonResponse:
    """A plain JSON answer (errors): a status code and a body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


Answer = SseStream | JsonResponse


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeSseServer) -> None:
        self.fake = fake
        self._request_counter = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn's own version, with a thread name that says what it serves
        self._request_counter += 1
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self.fake.name}-conn-{self._request_counter}",
            daemon=True,
        )
        thread.start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # drop idle keep-alive connections eventually

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s: " + format, self.server.fake.name, *args)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=split.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        fake = self.server.fake
        answer = fake._record_and_answer(request)  # noqa: SLF001 - the server's own fake
        if isinstance(answer, JsonResponse):
            self._send_json(answer)
        else:
            self._send_stream(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

    def _send_json(self, answer: JsonResponse) -> None:
        payload = orjson.dumps(answer.body)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_stream(self, answer: SseStream) -> None:
        fake = self.server.fake
        self.send_response(answer.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for index, (event, data) in enumerate(answer.events):
                if answer.cut_after is not None and index >= answer.cut_after:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: a broken stream
                    return
                if index and answer.delay and fake._closing.wait(answer.delay):  # noqa: SLF001 - server closing
                    raise ConnectionAbortedError("fake server closing")
                chunk = b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                fake._note_event()  # noqa: SLF001
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # the client went away mid-stream: an interrupted turn
            fake._note_disconnect()  # noqa: SLF001
            self.close_connection = True


class FakeSseServer(Generic[R]):
    """Base of the fake model servers: threads, recording, scripting.

    Use as a context manager (or call :meth:`start` and :meth:`close`). Thread-safe:
    requests are handled on connection threads while the test reads
    :attr:`requests` and scripts replies.

    Args:
        name: a label for thread names and log lines.
        default: the reply used once the scripted queue is empty.
    """

    def __init__(self, name: str, default: R | Callable[[RecordedRequest], R]) -> None:
        self.name = name
        self.default: R | Callable[[RecordedRequest], R] = default
        self._queue: collections.deque[R | Callable[[RecordedRequest], R]] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._cond = threading.Condition()  # guards _queue, _requests and the counters
        self._events_sent = 0
        self._disconnects = 0
        self._closing = threading.Event()  # set by close(): ends slow streams at once
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> FakeSseServer[R]:
        """Bind 127.0.0.1:0 and serve in a daemon thread; returns self."""
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-serve",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, end slow streams, join the serving thread."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                raise RuntimeError(f"{self.name}: serving thread did not stop")

    def __enter__(self) -> FakeSseServer[R]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port bound on 127.0.0.1."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------

    def script(self, *replies: R | Callable[[RecordedRequest], R]) -> None:
        """Queue replies for the next model calls, in order."""
        with self._cond:
            self._queue.extend(replies)

    def _take_reply(self, request: RecordedRequest) -> R:
        with self._cond:
            reply = self._queue.popleft() if self._queue else self.default
        return reply(request) if callable(reply) else reply

    # -- recording ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    def model_requests(self) -> list[RecordedRequest]:
        """The requests that were model calls (see :meth:`is_model_call`)."""
        return [r for r in self.requests if self.is_model_call(r)]

    @property
    def events_sent(self) -> int:
        """SSE events written so far, over all streams."""
        with self._cond:
            return self._events_sent

    @property
    def disconnects(self) -> int:
        """Streams the client abandoned before their end."""
        with self._cond:
            return self._disconnects

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Block until ``predicate()`` holds (re-checked on every request and event).

        Raises:
            TimeoutError: the predicate still fails after ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(predicate, timeout=timeout):
                raise TimeoutError(f"{self.name}: condition not met within {timeout}s")

    def wait_for_model_calls(self, count: int, timeout: float = 30.0) -> None:
        """Block until at least ``count`` model calls arrived."""
        self.wait_for(lambda: sum(1 for r in self._requests if self.is_model_call(r)) >= count, timeout)

    def wait_for_events(self, count: int, timeout: float = 30.0) -> None:
        """Block until at least ``count`` SSE events were written."""
        self.wait_for(lambda: self._events_sent >= count, timeout)

    def _record_and_answer(self, request: RecordedRequest) -> Answer:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
        if not self.is_model_call(request):
            return JsonResponse(
                404, {"error": {"message": f"fake {self.name}: no route {request.method} {request.path}"}}
            )
        return self.respond(request, self._take_reply(request))

    def _note_event(self) -> None:
        with self._cond:
            self._events_sent += 1
            self._cond.notify_all()

    def _note_disconnect(self) -> None:
        with self._cond:
            self._disconnects += 1
            self._cond.notify_all()

    # -- to implement --------------------------------------------------------------------

    def is_model_call(self, request: RecordedRequest) -> bool:
        """True for the requests this fake answers with a scripted reply."""
        raise NotImplementedError

    def respond(self, request: RecordedRequest, reply: R) -> Answer:
        """Turn a scripted reply into the HTTP answer for ``request``."""
        raise NotImplementedError


def chunks(text: str, pieces: int) -> Iterable[str]:
    """Split ``text`` into about ``pieces`` consecutive non-empty parts (at least one)."""
    if not text:
        return [""]
    pieces = max(1, min(pieces, len(text)))
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]
