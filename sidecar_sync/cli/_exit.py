"""How ``sidecar-sync`` ends: exit statuses, the usage-error type, messages on stderr.

Every command reports a failure as one line, ``sidecar-sync: <message>``, on
stderr and returns one of the statuses below; none of them prints a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Final

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
    "UsageError",
    "error",
    "silence_stdout",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141


class UsageError(Exception):
    """A bad command line that argparse could not catch; exit status 2."""


def error(text: str) -> None:
    """Write ``sidecar-sync: text`` to stderr (nothing if stderr is gone)."""
    try:
        sys.stderr.write(f"sidecar-sync: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed, or its terminal hung up: nobody is left to tell


def silence_stdout() -> None:
    """The reader of stdout went away (``| head``): point stdout at /dev/null.

    Python flushes stdout at exit; without this, that flush fails once more and
    prints a complaint on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
