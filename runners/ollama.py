"""The ``ollama`` runner: a conversation with a model served by Ollama's HTTP API.

Each query is one streamed ``POST /api/chat`` (stdlib ``http.client`` only). The
runner keeps the conversation -- the system prompt (``systemPrompt``), then every
answered user message and the assistant's reply -- and sends it whole with each
follow-up, as ``/api/chat`` is stateless. An assistant reply is kept with its
``content`` and ``tool_calls``, not its thinking (which would only fill the context).
A turn that fails leaves the history as it was before that turn, so the next query
does not inherit a half-answered one.

Events (agreed with the ollama adapter; each wrapped in ``agent_event``)::

    {"type":"system","subtype":"init","session_id":..,"model":..,"cwd":..,   first, every turn
     "agent_version":..}                                                      (when known: see below)
    {"type":"chunk", <the Ollama chunk as received>}                          one per streamed line
    {"type":"error","message":..}                                             on any failure

A turn starts with ``GET /api/version`` (5 s timeout): an unreachable server fails
it at once with an ``agent_error`` naming the host (and an ``error`` event), as does
an error status other than 404 / 405 / 501. Its ``{"version": "0.6.3"}`` is the
session's ``agent_version`` (``Ollama 0.6.3``), taken from the first answer that has
one; a server without that endpoint (404, 405, 501: a proxy or another server
speaking ``/api/chat``) is no failure, its version stays unknown and the init
carries no ``agent_version``. An HTTP error status of the chat (e.g. 404 for a
model that was never pulled) and an ``error`` line in the middle of the stream
become an ``error`` event plus ``agent_error``; so does a stream that ends before
its ``done: true`` chunk. ``stop`` shuts the HTTP connection down, which wakes the
blocked read at once; the turn then ends with ``agent_stopped``.

Session options used: ``model`` (default ``llama3.2``, the model of Ollama's own
API examples; pull it or pass yours), ``systemPrompt``, ``sessionId`` (as the
init's ``session_id``), ``cwd`` (reported in init only).

``providerConfig`` keys (all optional):

``host`` (string, default ``http://127.0.0.1:11434``)
    The server's base URL: ``http://`` or ``https://``, a host, an optional port
    and an optional path prefix (for a reverse proxy). No credentials, query or
    fragment. (``OLLAMA_HOST`` is stripped from runner environments; pass the
    host here.)
``think`` (true, false, or ``"low"`` / ``"medium"`` / ``"high"``)
    Sent as the request's ``think`` field: thinking models then stream
    ``message.thinking``. Omitted when not set (the server's default).
``num_ctx`` (positive integer)
    The context window, sent as ``options.num_ctx``.
``options`` (object)
    More Ollama model options (``temperature``, ``seed``, ``stop``, ...), sent in
    ``options``; ``num_ctx`` above wins over an ``options.num_ctx``.
``keep_alive`` (string such as ``"5m"``, or a number of seconds)
    How long the server keeps the model loaded after the request.
``timeout`` (number of seconds, default 300)
    The longest wait for the next bytes of the reply (model loading included).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import socket
import sys
import threading
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

import orjson

from sidecar_sync import __version__

from ._base import InvalidOptionError, ProviderConfig, Runner, SessionOptions, Turn, TurnError, run
from ._cli_version import MAX_VERSION_TEXT

__all__ = ["OllamaRunner", "OllamaHost", "parse_host", "DEFAULT_HOST", "DEFAULT_MODEL"]

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "http://127.0.0.1:11434"
DEFAULT_MODEL: Final = "llama3.2"
#: Seconds allowed for connecting and for the health check.
CONNECT_TIMEOUT: Final = 5.0
#: Default seconds to wait for the next bytes of a streamed reply.
READ_TIMEOUT: Final = 300.0
#: Bytes of an error response body read for its message.
ERROR_BODY_LIMIT: Final = 64 * 1024
#: A streamed line longer than this is a broken stream.
MAX_CHUNK_LINE: Final = 16 * 2**20
THINK_LEVELS: Final = ("low", "medium", "high")
#: Answers to ``GET /api/version`` that mean "no such endpoint" (the turn goes on, version unknown).
NO_VERSION_ENDPOINT: Final = (404, 405, 501)


class OllamaHost:
    """A validated Ollama base URL."""

    __slots__ = ("url", "scheme", "hostname", "port", "prefix")

    def __init__(self, url: str, scheme: str, hostname: str, port: int, prefix: str) -> None:
        self.url = url
        self.scheme = scheme
        self.hostname = hostname
        self.port = port
        self.prefix = prefix

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new (unconnected) connection to this host."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.hostname, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)


def parse_host(value: str) -> OllamaHost:
    """Validate a ``providerConfig.host`` URL.

    Raises:
        InvalidOptionError: not an http(s) URL with a host, or with credentials,
            a query or a fragment, or a bad port.
    """

    def bad(why: str) -> InvalidOptionError:
        return InvalidOptionError(f"invalid option providerConfig.host: {why}, got {value!r}")

    if any(ch in value for ch in "\x00\r\n\t ") or len(value) > 2048:
        raise bad("expected a URL without whitespace or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise bad(f"cannot parse it ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise bad("expected an http:// or https:// URL")
    if not parts.hostname:
        raise bad("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise bad("credentials in the URL are not supported")
    if parts.query or parts.fragment:
        raise bad("the URL must not have a query or fragment")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return OllamaHost(value.rstrip("/"), parts.scheme, parts.hostname, port, parts.path.rstrip("/"))


def _check_options(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidOptionError(f"invalid option providerConfig.options: expected an object, got {value!r}")
    for key, item in value.items():
        scalar = (str, int, float, bool)
        ok = isinstance(item, scalar) or (isinstance(item, list) and all(isinstance(x, scalar) for x in item))
        if not ok:
            raise InvalidOptionError(
                f"invalid option providerConfig.options.{key}: expected a number, string, boolean "
                f"or a list of them, got {item!r}"
            )
    return dict(value)


def _describe_connect_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is `ollama serve` running?)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {CONNECT_TIMEOUT:g}s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    return f"{type(exc).__name__}: {exc}"


def _error_message(body: bytes) -> str:
    """The ``error`` string of an Ollama error body, else the body as text."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, str):
        return error
    text = body.decode("utf-8", "replace").strip()
    return text[:500] or "(empty body)"


def _version_of(body: bytes) -> str | None:
    """``Ollama <version>`` from a ``/api/version`` body (``{"version": "0.6.3"}``), else None."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    version = obj.get("version") if isinstance(obj, dict) else None
    if not isinstance(version, str) or not version.strip():
        return None
    return f"Ollama {version.strip()[:MAX_VERSION_TEXT]}"


class OllamaRunner(Runner):
    """Streams ``/api/chat`` replies, keeping the conversation between turns."""

    name = "ollama"

    def __init__(self) -> None:
        super().__init__()
        self.host = parse_host(DEFAULT_HOST)
        self.model = DEFAULT_MODEL
        self.think: bool | str | None = None
        self.model_options: dict[str, Any] = {}
        self.keep_alive: str | float | None = None
        self.read_timeout = READ_TIMEOUT
        self.messages: list[dict[str, Any]] = []
        self.cwd = ""
        #: ``Ollama <version>`` from the server's ``/api/version``, once it said.
        self.agent_version: str | None = None
        # The socket of the request in flight, so that stop can shut it down.
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    # -- options ---------------------------------------------------------------

    def configure(self, options: SessionOptions) -> None:
        config = ProviderConfig(options.provider_config, self.name)
        self.host = parse_host(config.get_str("host", DEFAULT_HOST))
        think = config.get_any("think")
        if think is not None and not isinstance(think, bool) and think not in THINK_LEVELS:
            raise config.invalid("think", "true, false, 'low', 'medium' or 'high'", think)
        self.think = think
        model_options = _check_options(config.get_any("options", {}))
        num_ctx = config.get_int("num_ctx", None, minimum=1, maximum=2**31 - 1)
        if num_ctx is not None:
            model_options["num_ctx"] = num_ctx
        self.model_options = model_options
        keep_alive = config.get_any("keep_alive")
        if keep_alive is not None and (isinstance(keep_alive, bool) or not isinstance(keep_alive, (str, int, float))):
            raise config.invalid("keep_alive", "a duration string or a number of seconds", keep_alive)
        self.keep_alive = keep_alive
        self.read_timeout = config.get_float("timeout", READ_TIMEOUT, minimum=0.1, maximum=86400.0)
        config.warn_unused()
        self.model = options.model or DEFAULT_MODEL
        self.cwd = options.cwd or os.getcwd()
        if options.system_prompt:
            self.messages = [{"role": "system", "content": options.system_prompt}]

    def chat_request(self, prompt: str) -> dict[str, Any]:
        """The ``/api/chat`` body for the next user message (the history is not changed)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [*self.messages, {"role": "user", "content": prompt}],
            "stream": True,
        }
        if self.think is not None:
            body["think"] = self.think
        if self.model_options:
            body["options"] = self.model_options
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        return body

    # -- a turn ----------------------------------------------------------------

    def run_turn(self, turn: Turn) -> None:
        self._health_check(turn)
        init = {
            "type": "system",
            "subtype": "init",
            "session_id": turn.session_id,
            "model": self.model,
            "cwd": self.cwd,
        }
        if self.agent_version is not None:
            init["agent_version"] = self.agent_version
        turn.emit(init)
        body = self.chat_request(turn.prompt)
        conn = self._open(turn, self.read_timeout)
        try:
            try:
                conn.request(
                    "POST",
                    self.host.prefix + "/api/chat",
                    body=orjson.dumps(body),
                    headers={
                        "Content-Type": "application/json",
                        "Accept": "application/x-ndjson",
                        "User-Agent": f"sidecar-sync/{__version__}",
                    },
                )
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                if turn.stopped:
                    return
                self._fail(turn, f"Ollama request to {self.host.url} failed: {_describe_connect_error(exc)}")
            if response.status != 200:
                detail = _error_message(response.read(ERROR_BODY_LIMIT))
                self._fail(
                    turn,
                    f"Ollama at {self.host.url} answered HTTP {response.status} for model {self.model!r}: {detail}",
                    event_message=detail,
                )
            reply = self._stream(turn, response)
        finally:
            self._close(conn)
        if reply is not None:
            self.messages.append({"role": "user", "content": turn.prompt})
            self.messages.append(reply)

    def _health_check(self, turn: Turn) -> None:
        conn = self._open(turn, CONNECT_TIMEOUT)
        try:
            conn.request("GET", self.host.prefix + "/api/version", headers={"Accept": "application/json"})
            response = conn.getresponse()
            body = response.read(ERROR_BODY_LIMIT)
        except (OSError, http.client.HTTPException) as exc:
            if turn.stopped:
                raise
            self._fail(turn, f"Ollama server not reachable at {self.host.url}: {_describe_connect_error(exc)}")
        finally:
            self._close(conn)
        if response.status in NO_VERSION_ENDPOINT:
            log.debug("Ollama at %s has no /api/version (HTTP %d); version unknown", self.host.url, response.status)
            return
        if response.status != 200:
            self._fail(
                turn,
                f"Ollama server at {self.host.url} answered GET /api/version with HTTP {response.status}: "
                f"{_error_message(body)}",
            )
        log.debug("Ollama at %s: %s", self.host.url, body[:200])
        if self.agent_version is None:
            self.agent_version = _version_of(body)

    def _open(self, turn: Turn, read_timeout: float) -> http.client.HTTPConnection:
        """Connect (within :data:`CONNECT_TIMEOUT`), and publish the socket for :meth:`interrupt`."""
        conn = self.host.connection(CONNECT_TIMEOUT)
        try:
            conn.connect()
        except OSError as exc:
            self._fail(turn, f"Ollama server not reachable at {self.host.url}: {_describe_connect_error(exc)}")
        assert conn.sock is not None
        conn.sock.settimeout(read_timeout)
        with self._lock:
            self._sock = conn.sock
        if turn.stopped:  # a stop that came while connecting
            self._shutdown_socket()
        return conn

    def _close(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._sock = None
        conn.close()

    def _stream(self, turn: Turn, response: http.client.HTTPResponse) -> dict[str, Any] | None:
        """Forward every chunk; return the assistant message, or None if stopped."""
        content: list[str] = []
        tool_calls: list[Any] = []
        buffer = b""
        done = False
        while not done:
            try:
                data = response.read1(65536)
            except (OSError, http.client.HTTPException) as exc:
                if turn.stopped:
                    return None
                if isinstance(exc, (socket.timeout, TimeoutError)):
                    self._fail(turn, f"Ollama at {self.host.url} sent nothing for {self.read_timeout:g}s")
                self._fail(turn, f"Ollama stream from {self.host.url} broke: {type(exc).__name__}: {exc}")
            if turn.stopped:
                return None
            if not data:
                if buffer.strip():  # a last line without its newline
                    data, buffer = buffer + b"\n", b""
                else:
                    break
            lines = (buffer + data).split(b"\n")
            buffer = lines.pop()
            if len(buffer) > MAX_CHUNK_LINE:
                self._fail(turn, f"Ollama stream from {self.host.url} sent a line over {MAX_CHUNK_LINE} bytes")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    chunk = orjson.loads(line)
                except orjson.JSONDecodeError:
                    log.warning("skipping a non-JSON line from Ollama: %r", line[:200])
                    continue
                if not isinstance(chunk, dict):
                    log.warning("skipping a non-object line from Ollama: %r", line[:200])
                    continue
                if "error" in chunk:
                    error = chunk["error"]
                    message = error if isinstance(error, str) else orjson.dumps(error).decode()
                    self._fail(turn, f"Ollama at {self.host.url} reported an error mid-stream: {message}", message)
                event = {"type": "chunk"}
                event.update(chunk)
                event["type"] = "chunk"
                turn.emit(event)
                said = chunk.get("message")
                if isinstance(said, dict):
                    if isinstance(said.get("content"), str):
                        content.append(said["content"])
                    if isinstance(said.get("tool_calls"), list):
                        tool_calls.extend(said["tool_calls"])
                if chunk.get("done") is True:
                    done = True
                    break
        if not done:
            if turn.stopped:
                return None
            self._fail(turn, f"Ollama stream from {self.host.url} ended before its final (done) chunk")
        reply: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
        if tool_calls:
            reply["tool_calls"] = tool_calls
        return reply

    def _fail(self, turn: Turn, message: str, event_message: str | None = None) -> NoReturn:
        """Emit an ``error`` event and fail the turn (raises :class:`TurnError`).

        Every failure here is the endpoint's (unreachable, an HTTP error, an error in
        the stream after a 200, a broken stream): the turn's outcome is ``api_error``.
        """
        turn.emit({"type": "error", "message": event_message or message})
        raise TurnError(message, outcome="api_error")

    # -- stop --------------------------------------------------------------------

    def interrupt(self, turn: Turn) -> None:
        self._shutdown_socket()

    def _shutdown_socket(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread


if __name__ == "__main__":
    run(OllamaRunner, sys.argv[1:])
