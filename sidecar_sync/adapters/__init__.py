"""Provider adapters: provider events (parsed JSON objects) -> :class:`~sidecar_sync.messages.AgentMessage`.

One module per built-in provider, each documenting its mapping:

- :mod:`._claude` — Claude Code ``--output-format stream-json --verbose``
- :mod:`._codex` — ``codex exec --json``
- :mod:`._ollama` — the Ollama runner's events around ``/api/chat`` chunks
- :mod:`._auto` — detects which of the three a stream is

and the registry (:mod:`._registry`) that maps a provider name to its adapter:
:func:`parse_message` (stateless, one event), :func:`new_stream_adapter` (one
per session or file, the hot path), :func:`register_adapter` for custom
providers.
"""

from __future__ import annotations

from ._auto import AutoStreamAdapter, detect_provider
from ._claude import ClaudeStreamAdapter
from ._codex import CodexStreamAdapter
from ._ollama import OllamaStreamAdapter
from ._registry import (
    BUILTIN_ADAPTERS,
    adapter_names,
    new_stream_adapter,
    parse_message,
    register_adapter,
    unregister_adapter,
)

__all__ = [
    "AutoStreamAdapter",
    "ClaudeStreamAdapter",
    "CodexStreamAdapter",
    "OllamaStreamAdapter",
    "BUILTIN_ADAPTERS",
    "adapter_names",
    "detect_provider",
    "new_stream_adapter",
    "parse_message",
    "register_adapter",
    "unregister_adapter",
]
