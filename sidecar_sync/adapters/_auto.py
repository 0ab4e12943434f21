"""The ``auto`` adapter: detects Claude, Codex or Ollama output from the events themselves.

Used to replay files of unknown origin. A stream adapter decides once, at the
first event whose type only one provider prints, and hands that event and all
later ones to a fresh stream adapter of that provider:

- Claude: ``assistant``, ``user``, ``result``, ``stream_event``,
  ``control_response``, or a ``system`` event with a ``uuid`` (the Ollama
  runner's ``system`` events carry none).
- Codex: ``thread.started``, ``turn.*``, ``item.*``, ``request_user_input``.
- Ollama: ``chunk``.

Events before the decision are adapted neutrally: ``system`` events as Claude
does (an ``init`` comes out the same for every provider), ``error`` events
(``{"type": "error", "message": ..}``, as Codex and Ollama print them) as
errors, anything else as unknown. Stateless parsing detects on every event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Final

from ..messages import ERROR, AgentMessage, ErrorContent, StreamAdapter, new_message_id
from ._claude import HANDLERS as CLAUDE_HANDLERS
from ._claude import ClaudeStreamAdapter
from ._codex import CodexStreamAdapter
from ._common import DispatchStreamAdapter, Handler
from ._ollama import OllamaStreamAdapter

__all__ = ["AutoStreamAdapter", "detect_provider"]

_PROVIDER_OF_TYPE: Final = {
    "assistant": "claude",
    "user": "claude",
    "result": "claude",
    "stream_event": "claude",
    "control_response": "claude",
    "thread.started": "codex",
    "turn.started": "codex",
    "turn.completed": "codex",
    "turn.failed": "codex",
    "item.started": "codex",
    "item.updated": "codex",
    "item.completed": "codex",
    "item.plan.delta": "codex",
    "request_user_input": "codex",
    "chunk": "ollama",
}

_FACTORIES: Final[dict[str, Callable[[], StreamAdapter]]] = {
    "claude": ClaudeStreamAdapter,
    "codex": CodexStreamAdapter,
    "ollama": OllamaStreamAdapter,
}


def detect_provider(event: Any) -> str | None:
    """Return ``"claude"``, ``"codex"`` or ``"ollama"`` if ``event`` betrays its provider, else None."""
    if type(event) is not dict:
        return None
    kind = event.get("type")
    if type(kind) is not str:
        return None
    provider = _PROVIDER_OF_TYPE.get(kind)
    if provider is None and kind == "system" and "uuid" in event:
        provider = "claude"
    return provider


def _error(event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
    message = event.get("message")
    text = message if type(message) is str and message else "error"
    out.append(AgentMessage(new_message_id(), ERROR, ErrorContent(text), None, ts))


_NEUTRAL_HANDLERS: Final[dict[str, Handler]] = {"system": CLAUDE_HANDLERS["system"], "error": _error}


class AutoStreamAdapter(StreamAdapter):
    """Stream adapter that picks the provider from the first telling event."""

    __slots__ = ("_inner", "_neutral")

    def __init__(self, provider: str = "auto") -> None:
        super().__init__(provider)
        self._inner: StreamAdapter | None = None
        self._neutral = DispatchStreamAdapter(provider, _NEUTRAL_HANDLERS)

    @property
    def detected(self) -> str | None:
        """The provider decided on, or None while undecided."""
        return self._inner.provider if self._inner is not None else None

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        return self._adapt(events, None)

    def tally_batch(self, events: Iterable[dict[str, Any]], counts: Counter[str]) -> list[AgentMessage]:
        return self._adapt(events, counts)

    def _adapt(self, events: Iterable[dict[str, Any]], counts: Counter[str] | None) -> list[AgentMessage]:
        inner = self._inner
        if inner is None:
            events = events if type(events) is list else list(events)
            for i, event in enumerate(events):
                provider = detect_provider(event)
                if provider is not None:
                    inner = self._inner = _FACTORIES[provider]()
                    head = self._neutral.adapt_batch(events[:i]) if i else []
                    return head + _run(inner, events[i:], counts)
            return self._neutral.adapt_batch(events)
        return _run(inner, events, counts)


def _run(adapter: StreamAdapter, events: Iterable[dict[str, Any]], counts: Counter[str] | None) -> list[AgentMessage]:
    return adapter.adapt_batch(events) if counts is None else adapter.tally_batch(events, counts)


_STATELESS: Final = {
    "claude": ClaudeStreamAdapter(),
    "codex": CodexStreamAdapter(stateful=False),
    "ollama": OllamaStreamAdapter(stateful=False),
}
_NEUTRAL: Final = DispatchStreamAdapter("auto", _NEUTRAL_HANDLERS)


def parse_auto(event: dict[str, Any]) -> list[AgentMessage]:
    """Stateless ``auto``: detect the provider of this one event and adapt it."""
    provider = detect_provider(event)
    return (_STATELESS[provider] if provider is not None else _NEUTRAL).stateless(event)
