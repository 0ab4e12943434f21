"""The inputs of ``sidecar-sync replay``: files, ``-`` for stdin, and directories.

A directory stands for every transcript below it, recursively: files named
``*.jsonl`` or ``*.ndjson``, or those names plus ``.gz``, in sorted path order. A
directory holding none is an error for that argument (reported like an unreadable
file), not a silent nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..replay import FileSummary, ReplaySummary

__all__ = ["TRANSCRIPT_SUFFIXES", "EmptyDirectory", "expand", "with_failures"]

#: File names a directory argument picks up.
TRANSCRIPT_SUFFIXES: Final = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")


@dataclass(frozen=True)
class EmptyDirectory:
    """A directory argument with no transcript below it."""

    name: str

    @property
    def error(self) -> str:
        return f"{self.name}: no transcript files ({', '.join('*' + s for s in TRANSCRIPT_SUFFIXES)}) below it"


def _transcripts(directory: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [os.path.join(root, name) for name in files if name.endswith(TRANSCRIPT_SUFFIXES)]
    return sorted(found)


def expand(arguments: Sequence[str]) -> list[str | EmptyDirectory]:
    """Replace each directory argument by the transcripts below it, in place and in order.

    Other arguments (files, ``-``, paths that do not exist) are kept as given: the
    replay reports what is wrong with them.
    """
    out: list[str | EmptyDirectory] = []
    for name in arguments:
        if name != "-" and os.path.isdir(name):
            found = _transcripts(name)
            out += found if found else [EmptyDirectory(name)]
        else:
            out.append(name)
    return out


def with_failures(summary: ReplaySummary, expanded: Sequence[str | EmptyDirectory]) -> ReplaySummary:
    """``summary`` (of the non-empty inputs) with an error entry for each empty directory, in argument order."""
    empty = [item for item in expanded if isinstance(item, EmptyDirectory)]
    if not empty or len(summary.files) != len(expanded) - len(empty):
        return summary
    from ..replay import FileSummary, ReplaySummary

    files = iter(summary.files)
    merged: list[FileSummary] = []
    for item in expanded:
        merged.append(FileSummary(item.name, error=item.error) if isinstance(item, EmptyDirectory) else next(files))
    return ReplaySummary.merge(merged, summary.elapsed)
