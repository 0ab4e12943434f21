"""The adapter registry: provider name -> how to adapt that provider's events.

Each entry pairs a *stream adapter factory* (one :class:`StreamAdapter` per session
or replayed file: it may keep per-stream state) with a *stateless adapter* (one
event at a time, for :func:`parse_message`). The built-in providers (claude,
codex, ollama, auto) are registered when this module loads; custom providers add
theirs with :func:`register_adapter`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

from ..errors import InvalidOptionError, UnknownProviderError
from ..messages import Adapter, AgentMessage, StreamAdapter, now_ms, unknown_message
from ._auto import AutoStreamAdapter, parse_auto
from ._claude import ClaudeStreamAdapter
from ._codex import CodexStreamAdapter
from ._ollama import OllamaStreamAdapter

__all__ = [
    "register_adapter",
    "unregister_adapter",
    "adapter_names",
    "new_stream_adapter",
    "parse_message",
    "BUILTIN_ADAPTERS",
]

log = logging.getLogger("sidecar_sync.adapters")

#: A registry entry: a factory of stream adapters and a stateless adapter.
_Entry = tuple[Callable[[], StreamAdapter], Adapter]

#: The adapters every process starts with.
BUILTIN_ADAPTERS: Final = ("claude", "codex", "ollama", "auto")


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
                messages: Any = fn(event)
            except Exception:
                log.exception("adapter %r raised on an event; passing it on as 'unknown'", self.provider)
                if timestamp < 0:
                    timestamp = now_ms()
                out.append(unknown_message(event, timestamp))
                continue
            if messages is None:
                continue
            try:
                messages = messages if type(messages) is list else list(messages)
            except TypeError:
                messages = None
            if messages is not None and all(_is_message(m) for m in messages):
                out += messages
                continue
            log.error(
                "adapter %r returned %r, not a list of AgentMessage; event passed on as 'unknown'",
                self.provider,
                messages,
            )
            if timestamp < 0:
                timestamp = now_ms()
            out.append(unknown_message(event, timestamp))
        return out


def _is_message(value: Any) -> bool:
    """An :class:`AgentMessage` whose ``type`` is a string (the rest of the path relies on both)."""
    return isinstance(value, AgentMessage) and type(value.type) is str


def _builtin_entries() -> dict[str, _Entry]:
    # The stateless adapters are shared instances that never mutate themselves
    # (Claude keeps no state; Codex and Ollama run with stateful=False), so they
    # are safe to call from any thread.
    return {
        "claude": (ClaudeStreamAdapter, ClaudeStreamAdapter().stateless),
        "codex": (CodexStreamAdapter, CodexStreamAdapter(stateful=False).stateless),
        "ollama": (OllamaStreamAdapter, OllamaStreamAdapter(stateful=False).stateless),
        "auto": (AutoStreamAdapter, parse_auto),
    }


_registry: dict[str, _Entry] = _builtin_entries()
_registry_lock = threading.Lock()


def _lookup(provider: str) -> _Entry:
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
            (:func:`~sidecar_sync.messages.new_message_id`,
            :func:`~sidecar_sync.messages.now_ms` and
            :func:`~sidecar_sync.messages.unknown_message` help to build messages),
            or a :class:`~sidecar_sync.messages.StreamAdapter` subclass taking the
            provider name, for providers that need per-stream state
            (:func:`parse_message` then runs a fresh instance per event).
            A callable that raises (or returns neither a list, an iterable of
            messages, nor ``None``) costs only its event: it is passed on as
            ``unknown`` and the error is logged.

    Raises:
        InvalidOptionError: ``name`` is not a non-empty string or ``adapter`` is
            not callable.
    """
    if type(name) is not str or not name:
        raise InvalidOptionError(f"adapter name must be a non-empty string, got {name!r}")
    if not callable(adapter):
        raise InvalidOptionError(f"adapter for {name!r} must be callable, got {type(adapter).__name__}")
    entry: _Entry
    if isinstance(adapter, type) and issubclass(adapter, StreamAdapter):
        cls = adapter

        def stateless(event: dict[str, Any]) -> list[AgentMessage]:
            return cls(name).adapt(event)

        entry = (lambda: cls(name), stateless)
    else:
        fn: Adapter = adapter  # type: ignore[assignment]  # a callable, not a StreamAdapter class
        entry = (lambda: _CallableStreamAdapter(name, fn), fn)
    with _registry_lock:
        _registry[name] = entry


def unregister_adapter(name: str) -> None:
    """Remove a registered adapter, custom or built-in (mainly for tests).

    Raises:
        UnknownProviderError: no adapter of that name is registered.
    """
    with _registry_lock:
        if name not in _registry:
            raise UnknownProviderError(str(name), list(_registry))
        del _registry[name]


def adapter_names() -> list[str]:
    """Return the names of all registered adapters, sorted."""
    return sorted(_registry)


def new_stream_adapter(provider: str | Adapter) -> StreamAdapter:
    """Create the adapter for one stream of provider events (one per session).

    Args:
        provider: a registered provider name (``claude``, ``codex``, ``ollama``,
            ``auto`` or a custom one), or a stateless adapter callable
            ``(event: dict) -> list[AgentMessage]`` used directly.

    Returns:
        A fresh :class:`~sidecar_sync.messages.StreamAdapter`.

    Raises:
        UnknownProviderError: ``provider`` is a name nobody registered.
    """
    if callable(provider) and not isinstance(provider, str):
        name = getattr(provider, "__name__", None) or type(provider).__name__
        return _CallableStreamAdapter(f"<custom {name}>", provider)
    return _lookup(provider)[0]()


def parse_message(provider: str, event: dict[str, Any]) -> list[AgentMessage]:
    """Adapt one provider event, statelessly.

    It differs from a stream adapter only where a provider needs memory between
    events:

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
