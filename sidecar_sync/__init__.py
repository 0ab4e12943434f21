"""sidecar_sync: supervise AI-agent sidecar processes from synchronous Python.

Each session runs one runner process speaking newline-delimited JSON over stdio.
A reader thread per session feeds raw stdout bytes through a C line framer and
orjson, adapts provider events into :class:`AgentMessage` objects and hands them
to callbacks or blocking iterators.
"""

from __future__ import annotations

from .errors import (
    ExtraEnvRejectedError,
    FramerBusyError,
    FramerError,
    InvalidOptionError,
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
    new_stream_adapter,
    parse_message,
    register_adapter,
)
from .manager import SidecarManager
from .replay import FileSummary, Replay, ReplaySummary
from .session import MessageIterator, SessionState

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "SidecarManager",
    "SessionState",
    "MessageIterator",
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
    "Replay",
    "ReplaySummary",
    "FileSummary",
]
