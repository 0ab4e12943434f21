"""NDJSON line framing: raw stdout bytes in, complete lines out, with hard memory caps.

Two twins with identical behaviour, each in its own private module:

* :class:`CLineFramer` (``_cframer``) wraps the C framer in ``csrc/`` (compiled by cffi
  into ``sidecar_sync._framer``): one C call per chunk, never one per line or per byte.
* :class:`PyLineFramer` (``_pyframer``) is the pure-Python reference.

This module only picks one. :data:`LineFramer` names the one in use and :data:`BACKEND`
says which (``"c"`` or ``"python"``). The environment variable ``SIDECAR_SYNC_FRAMER``
picks explicitly: ``c`` (fail with ImportError if the C build is missing), ``python``,
or ``auto`` (the default: C if it was built, else Python with a logged warning, so a
user who installed without a compiler still gets a working library). Any other value
fails the import.

:class:`CLineFramer` is importable by name whenever C is built, whatever the choice
(when C is not the backend it is imported on first use); when C is not built,
``from sidecar_sync.framer import CLineFramer`` raises ImportError saying so, rather
than handing out a placeholder. It is in ``__all__`` only when C is the backend, so
that a star import never needs C.

Rules shared by both twins (the :class:`Framer` protocol):

* a line ends at ``\\n``; surrounding ASCII whitespace (``\\r`` included) is trimmed;
  blank lines are skipped;
* a line longer than ``max_line_size`` bytes (raw, without its ``\\n``) is dropped
  whole, and framing resumes after its ``\\n``;
* the partial line carried between feeds never exceeds ``max_line_size``, which must
  not exceed ``max_pending``; a feed larger than :data:`FEED_WINDOW` is framed in
  windows, so the scratch memory of a framer stays bounded too.

Both twins also have a batch form for :mod:`sidecar_sync.decoder`, ``feed_segments``:
the C framer returns each run of lines that are one JSON object apiece as a single
JSON array (one ``orjson.loads`` per chunk instead of one per line); the Python twin
returns every line alone. ``feed_views`` is the same without copies (views valid until
the next call, arrays cut to a batch size), for a reader that parses each piece at once.

A framer belongs to one reader thread: feeding one framer from two threads at
once raises :class:`~sidecar_sync.errors.FramerBusyError`.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Final

from ._framing import FEED_WINDOW, MAX_LINE_SIZE, MAX_PENDING, Buffer, Framer, FramerStats, Segment
from ._pyframer import PyLineFramer

__all__ = [
    "BACKEND",
    "FEED_WINDOW",
    "MAX_LINE_SIZE",
    "MAX_PENDING",
    "Buffer",
    "Framer",
    "FramerStats",
    "LineFramer",
    "PyLineFramer",
    "Segment",
]

log = logging.getLogger(__name__)

#: The values ``SIDECAR_SYNC_FRAMER`` may take.
CHOICES: Final = ("auto", "c", "python")

_NOT_BUILT = "the C framer is not built ({}); install a C compiler and reinstall sidecar-sync"


def _select_backend() -> tuple[str, type[Framer]]:
    choice = os.environ.get("SIDECAR_SYNC_FRAMER", "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise ImportError(f"SIDECAR_SYNC_FRAMER={choice!r} is not one of: {', '.join(CHOICES)}")
    if choice == "python":
        return "python", PyLineFramer
    try:
        from ._cframer import CLineFramer  # whether this imports is the question
    except ImportError as exc:
        if choice == "c":
            raise ImportError(f"SIDECAR_SYNC_FRAMER=c but {_NOT_BUILT.format(exc)}") from exc
        log.warning(
            "C framer not available (%s); using the pure-Python framer, which is slower. "
            "Install a C compiler and reinstall sidecar-sync to build it.",
            exc,
        )
        return "python", PyLineFramer
    return "c", CLineFramer


BACKEND: str
LineFramer: type[Framer]
BACKEND, LineFramer = _select_backend()

if TYPE_CHECKING or BACKEND == "c":
    from ._cframer import CLineFramer

    __all__ += ["CLineFramer"]
else:

    def __getattr__(name: str) -> object:
        """Import :class:`CLineFramer` on first use, or say why it cannot be."""
        if name != "CLineFramer":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            from ._cframer import CLineFramer  # on demand, see the module docstring
        except ImportError as exc:
            raise ImportError(_NOT_BUILT.format(exc), name=__name__) from exc
        globals()["CLineFramer"] = CLineFramer
        return CLineFramer
