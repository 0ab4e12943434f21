"""The built-in provider adapters: one module per provider.

- :mod:`._claude` — Claude Code ``--output-format stream-json --verbose``
- :mod:`._codex` — ``codex exec --json``
- :mod:`._ollama` — the Ollama runner's events around ``/api/chat`` chunks
- :mod:`._auto` — detects which of the three a stream is

Each module's docstring documents its mapping. The public entry points are in
:mod:`sidecar_sync.messages` (:func:`~sidecar_sync.messages.parse_message`,
:func:`~sidecar_sync.messages.new_stream_adapter`).
"""

from __future__ import annotations

from typing import Callable

from ..messages import Adapter, StreamAdapter
from ._auto import AutoStreamAdapter, detect_provider, parse_auto
from ._claude import ClaudeStreamAdapter
from ._codex import CodexStreamAdapter
from ._ollama import OllamaStreamAdapter

__all__ = [
    "AutoStreamAdapter",
    "ClaudeStreamAdapter",
    "CodexStreamAdapter",
    "OllamaStreamAdapter",
    "builtin_adapters",
    "detect_provider",
]


def builtin_adapters() -> dict[str, tuple[Callable[[], StreamAdapter], Adapter]]:
    """Return ``name -> (stream adapter factory, stateless adapter)`` for the built-ins.

    The stateless adapters are shared instances that never mutate themselves
    (Claude keeps no state; Codex and Ollama run with ``stateful=False``), so
    they are safe to call from any thread.
    """
    return {
        "claude": (ClaudeStreamAdapter, ClaudeStreamAdapter().stateless),
        "codex": (CodexStreamAdapter, CodexStreamAdapter(stateful=False).stateless),
        "ollama": (OllamaStreamAdapter, OllamaStreamAdapter(stateful=False).stateless),
        "auto": (AutoStreamAdapter, parse_auto),
    }
