"""The ``sidecar-sync`` command: ``run`` a session, ``replay`` transcripts, ``doctor``.

Usage::

    sidecar-sync run [--provider P] [--model M] [--cwd D] [--json] [--interactive] [--ask]
                     PROMPT
    sidecar-sync replay FILE|DIR... [--provider P] [--jobs N] [--json] [--summary]
                        [--engine local|dask] [--scheduler ADDR]
    sidecar-sync doctor [--ollama-host URL] [--json]

Exit status: 0 success; 1 a failed session or turn, an unreadable replay source,
a required ``doctor`` check that failed, or an internal error; 2 a usage error
(bad option, unknown provider, a prompt that is not UTF-8); 128 + the signal
number when a signal stopped ``run`` (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP); 141
output closed early (``| head``).

``--json`` output (``run`` and ``replay``) is JSONL: one
``AgentMessage.to_dict()`` per line, ``{"id", "type", "parent_id",
"timestamp", "content"}``; ``content`` holds every field of the message type
(see :meth:`sidecar_sync.messages.AgentMessage.to_dict`).

One module per command (``_run``, with ``_signals`` and ``_input`` for the signals
that stop it and the prompts it reads; ``_replay``; ``_doctor``), the terminal
output they share in ``_render``, exit statuses in ``_exit``. This module parses
the command line and turns the errors that escape a command into a message and a
status.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from .. import __version__
from ..errors import InvalidOptionError, ReplayError, SidecarError, UnknownProviderError
from . import _doctor, _replay, _run
from ._exit import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    error,
    silence_stdout,
)
from ._replay import format_summary

log = logging.getLogger(__name__)

__all__ = [
    "main",
    "build_parser",
    "format_summary",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sidecar-sync`` (also used to render ``--help``).

    ``-v``/``--verbose`` is accepted before and after the command; the counts add up.
    """
    parser = argparse.ArgumentParser(
        prog="sidecar-sync",
        description="Run agent sidecar sessions, replay their transcripts, "
        "check this machine.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sidecar-sync {__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP
    )
    # A subcommand's defaults overwrite the main parser's values of the same name,
    # so the -v after the command counts under a name of its own.
    verbose_after = argparse.ArgumentParser(add_help=False)
    verbose_after.add_argument(
        "-v",
        "--verbose",
        dest="verbose_after",
        action="count",
        default=0,
        help=_VERBOSE_HELP,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _run.add_parser(sub, [verbose_after])
    _replay.add_parser(sub, [verbose_after])
    _doctor.add_parser(sub, [verbose_after])
    return parser


_VERBOSE_HELP: Final = "more log output on stderr (-vv for debug)"


#: The loggers whose levels a command changes; :func:`_logging` puts them back.
_LOGGERS: Final = ("sidecar_sync", "sidecar_sync.session", "sidecar_sync.replay")


@contextlib.contextmanager
def _logging(verbose: int) -> Iterator[None]:
    """Log the library to stderr (``-v``: info, ``-vv``: debug) during one command.

    The handler and every level a command sets are undone afterwards, so that
    calling :func:`main` in a process leaves its logging as it was.
    """
    if verbose == 0:
        level, form = logging.WARNING, "sidecar-sync: %(message)s"
    else:
        level = logging.INFO if verbose == 1 else logging.DEBUG
        form = "sidecar-sync: %(levelname)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(form))
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    loggers[0].addHandler(handler)
    loggers[0].setLevel(level)
    try:
        yield
    finally:
        loggers[0].removeHandler(handler)
        for logger, saved in zip(loggers, levels, strict=True):
            logger.setLevel(saved)


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "run": _run.run_command,
    "replay": _replay.replay_command,
    "doctor": _doctor.doctor_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sidecar-sync`` command line; return the exit status.

    Every error ends as one line on stderr, ``sidecar-sync: <message>``, never a
    traceback (``-vv`` logs the traceback of an unexpected one).

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a failure, 2 on a usage error, 128 + the signal number
        when a signal stopped ``run`` (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), 141
        when stdout was closed early.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    args.verbose += args.verbose_after
    with _logging(args.verbose):
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command; turn what escapes it into one line on stderr and a status."""
    try:
        return _COMMANDS[args.command](args)
    except (UsageError, InvalidOptionError, UnknownProviderError) as exc:
        error(str(exc))
        return EXIT_USAGE
    except ReplayError as exc:
        error(f"error: {exc}")
        return EXIT_FAILED
    except SidecarError as exc:
        error(str(exc))
        return EXIT_FAILED
    except ImportError as exc:  # the library cannot load: SIDECAR_SYNC_FRAMER=bogus
        error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        # On the way out: a second Ctrl-C must not turn this into death by SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        error(_os_error_text(exc))
        return EXIT_FAILED
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        error(f"internal error: {exc or 'no message'} (-vv shows where)")
        return EXIT_FAILED


def _os_error_text(exc: OSError) -> str:
    """``name: reason`` for an OSError, without Python's ``[Errno N]``."""
    reason = exc.strerror or str(exc) or "input/output error"
    return f"{exc.filename}: {reason}" if exc.filename else reason
