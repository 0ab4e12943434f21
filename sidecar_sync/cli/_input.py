"""Prompts for ``sidecar-sync run``, from the command line and stdin, checked as UTF-8.

The runner protocol is JSON, which carries only valid Unicode. Arguments reach
Python with undecodable bytes kept as lone surrogates (``surrogateescape``), and
stdin is read as bytes: either way a byte that is not UTF-8 is refused here,
named with its offset, before it can reach a runner.
"""

from __future__ import annotations

import sys

from ._signals import Interrupted, Signals

__all__ = ["BadTextError", "check_text", "Prompts"]


class BadTextError(Exception):
    """A prompt or an option is not UTF-8 text."""


def check_text(what: str, value: str) -> str:
    """Return ``value`` if it is UTF-8 text; else raise :class:`BadTextError`.

    The error names the first bad byte and its offset.

    Args:
        what: how the message names the value (``"PROMPT"``, ``"--model"``).
        value: a string from ``sys.argv``.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the bytes as given
        except UnicodeEncodeError:
            # a surrogate that stood for no byte
            raw = value.encode("utf-8", "surrogatepass")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadTextError(
                f"{what} is not valid UTF-8 ({bad_byte(raw, exc)})"
            ) from None
    return value


def bad_byte(raw: bytes, exc: UnicodeDecodeError) -> str:
    """``byte 0xff at offset 3``: where ``raw`` stops being UTF-8."""
    return f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"


class Prompts:
    """Prompts read from stdin, one per line; an empty line or the end of input ends.

    On a terminal each read is preceded by ``> `` on stderr. A signal during the
    read ends it (see :class:`~._signals.Signals`).
    """

    def __init__(self, signals: Signals) -> None:
        self._signals = signals
        self._line = 0
        self._tty = sys.stdin is not None and sys.stdin.isatty()

    def read(self) -> str | None:
        """Read the next prompt; None at the end.

        Raises:
            Interrupted: a signal came before or during the read.
            BadTextError: the line is not UTF-8 text.
        """
        raw = self._readline("> " if self._tty else None)
        if raw is None:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadTextError(
                f"line {self._line} of stdin is not valid UTF-8 ({bad_byte(raw, exc)})"
            ) from None
        return text.strip() or None

    def answer(self, prompt: str) -> str | None:
        """Show ``prompt`` on stderr and read one answer line (``run --ask``).

        Returns:
            The line, stripped (bytes that are not UTF-8 replaced); None at the
            end of input.

        Raises:
            Interrupted: a signal came before or during the read.
        """
        raw = self._readline(prompt)
        if not raw:  # end of input
            return None
        return raw.decode("utf-8", "replace").strip()

    def _readline(self, prompt: str | None) -> bytes | None:
        """Show ``prompt`` (if any) on stderr; read one line of stdin (b"" at its end; None: no stdin)."""
        stdin = sys.stdin
        if stdin is None:  # started with stdin closed
            return None
        if prompt:
            try:
                sys.stderr.write(prompt)
                sys.stderr.flush()
            except OSError:
                pass  # the terminal hung up; the read says so
        self._signals.reading_input = True
        try:
            if self._signals.requested.is_set():  # it came before the flag was up
                raise Interrupted
            raw = stdin.buffer.readline()
        finally:
            self._signals.reading_input = False
        self._line += 1
        return raw
