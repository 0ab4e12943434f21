"""sidecar_sync: supervise AI-agent sidecar processes from synchronous Python.

Each session runs one runner process speaking newline-delimited JSON over stdio.
A reader thread per session feeds raw stdout bytes through a C line framer and
orjson, adapts provider events into :class:`AgentMessage` objects and hands them
to callbacks or blocking iterators.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import messages as _messages_module
from .errors import (
    ExtraEnvRejectedError,
    FramerBusyError,
    FramerError,
    InvalidOptionError,
    PromptTooLargeError,
    ProviderUnavailableError,
    ReplayError,
    RunnerGoneError,
    RunnerNotFoundError,
    RunnerStartError,
    SessionExistsError,
    SessionNotActiveError,
    SessionNotFoundError,
    SidecarError,
    UnknownProviderError,
    WaitTimeoutError,
)
from .messages import (
    AgentMessage,
    CompactionContent,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    StreamAdapter,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    ToolResultContent,
)

if TYPE_CHECKING:
    from .adapters import new_stream_adapter, parse_message, register_adapter
    from .consumers import MessageIterator
    from .limits import Limits
    from .manager import SidecarManager
    from .permissions import Allow, Deny, PermissionRequest
    from .replay import FileSummary, Replay, ReplaySummary
    from .state import SessionState, StopStep
    from .turns import TurnResult

# The manager pulls in subprocess, threading and friends. Runners are started as
# ``python -m sidecar_sync.runners.<name>``, which imports this package first, so
# these names load on first use (PEP 562) and a runner's start-up stays light.
_LAZY = {
    "new_stream_adapter": ".adapters",
    "parse_message": ".adapters",
    "register_adapter": ".adapters",
    "SidecarManager": ".manager",
    "SessionState": ".state",
    "StopStep": ".state",
    "TurnResult": ".turns",
    "Limits": ".limits",
    "PermissionRequest": ".permissions",
    "Allow": ".permissions",
    "Deny": ".permissions",
    "MessageIterator": ".consumers",
    "Replay": ".replay",
    "ReplaySummary": ".replay",
    "FileSummary": ".replay",
}


def _registry_name(name: str) -> Any:
    """``sidecar_sync.messages.<registry function>``: found in :mod:`sidecar_sync.adapters`.

    The messages module holds types only and imports nothing of the adapters; the
    package wires these names onto it so that older imports keep working.
    """
    if name in _REGISTRY_NAMES:
        from . import adapters

        return getattr(adapters, name)
    raise AttributeError(f"module 'sidecar_sync.messages' has no attribute {name!r}")


_REGISTRY_NAMES = frozenset(
    {"parse_message", "new_stream_adapter", "register_adapter", "unregister_adapter", "adapter_names"}
)
vars(_messages_module)["__getattr__"] = _registry_name  # the module's PEP 562 hook


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

# A library adds no handlers of its own; without this, warnings would reach stderr
# through logging's last-resort handler in programs that never configured logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "SidecarManager",
    "SessionState",
    "StopStep",
    "TurnResult",
    "Limits",
    "PermissionRequest",
    "Allow",
    "Deny",
    "MessageIterator",
    "Replay",
    "ReplaySummary",
    "FileSummary",
    "ExtraEnvRejectedError",
    "AgentMessage",
    "CompactionContent",
    "CostContent",
    "ErrorContent",
    "InitContent",
    "StatusContent",
    "StreamAdapter",
    "TextContent",
    "ThinkingContent",
    "ToolCallContent",
    "ToolResultContent",
    "new_stream_adapter",
    "parse_message",
    "register_adapter",
    "FramerBusyError",
    "FramerError",
    "InvalidOptionError",
    "PromptTooLargeError",
    "ProviderUnavailableError",
    "ReplayError",
    "RunnerGoneError",
    "RunnerNotFoundError",
    "RunnerStartError",
    "SessionExistsError",
    "SessionNotActiveError",
    "SessionNotFoundError",
    "SidecarError",
    "UnknownProviderError",
    "WaitTimeoutError",
]
