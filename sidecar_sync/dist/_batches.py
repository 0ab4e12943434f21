"""Grouping files into replay tasks: a pure function of their sizes, in order.

A task has a fixed cost on a cluster (scheduling, a round trip, a claim), so one
small file per task is slower than replaying on one machine; tasks of several
megabytes hide that cost (bench/README.md, "Distributed replay"). Files keep their
order inside and across batches, so merging the batches' per-file summaries in batch
order gives the order the files were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["plan_batches", "spread_target", "SPREAD_FLOOR"]

#: Batches are never made smaller than this to spread a small corpus over more
#: workers (unless the caller asks for smaller ones): below it the per-task cost shows.
SPREAD_FLOOR: Final = 8 * 2**20


def plan_batches(sizes: Sequence[int], batch_bytes: int) -> list[range]:
    """Split files, in order, into runs of consecutive files of about ``batch_bytes``.

    A file joins the current batch unless that would take the batch past
    ``batch_bytes``; a file larger than ``batch_bytes`` is a batch of its own. So
    every batch holds at most ``batch_bytes`` bytes, or a single file.

    Args:
        sizes: each file's size in bytes (0 when unknown), in the order given.
        batch_bytes: the most bytes a batch of several files holds (>= 1).

    Returns:
        The batches as ranges of indexes into ``sizes``: consecutive, covering every
        index once, in order. No batch for no files.
    """
    if batch_bytes < 1:
        raise ValueError(f"batch_bytes must be at least 1, got {batch_bytes}")
    batches: list[range] = []
    start = 0
    held = 0
    for i, size in enumerate(sizes):
        if i > start and held + size > batch_bytes:
            batches.append(range(start, i))
            start, held = i, 0
        held += max(size, 0)
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches


def spread_target(batch_bytes: int, total_bytes: int, slots: int) -> int:
    """The batch size to plan with: at most ``batch_bytes``, sized so that no slot idles at the end.

    Tasks of ``batch_bytes`` run in ``waves`` rounds over the ``slots`` task slots;
    with the same number of rounds and every slot busy in each, a task holds
    ``total_bytes / (slots * waves)``. So a small corpus is cut finer (one task per
    slot) and a large one into tasks just under ``batch_bytes``, never below
    :data:`SPREAD_FLOOR` unless ``batch_bytes`` itself is smaller.
    """
    if slots < 1 or total_bytes <= 0:
        return batch_bytes
    waves = -(-total_bytes // (slots * batch_bytes))
    even = -(-total_bytes // (slots * waves))
    return min(batch_bytes, max(SPREAD_FLOOR, even))
