"""Grouping files into replay tasks: a pure function of sizes, order kept."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from sidecar_sync.dist._batches import SPREAD_FLOOR, plan_batches, spread_target

MiB = 2**20


def sizes_of(sizes: list[int], batches: list[range]) -> list[int]:
    return [sum(sizes[i] for i in batch) for batch in batches]


def test_small_files_fill_batches_in_order() -> None:
    sizes = [3 * MiB] * 10
    batches = plan_batches(sizes, 8 * MiB)
    assert batches == [range(0, 2), range(2, 4), range(4, 6), range(6, 8), range(8, 10)]


def test_a_file_larger_than_a_batch_is_a_batch_of_its_own() -> None:
    sizes = [1 * MiB, 100 * MiB, 1 * MiB, 1 * MiB]
    assert plan_batches(sizes, 8 * MiB) == [range(0, 1), range(1, 2), range(2, 4)]


def test_exact_fit_and_zero_sizes() -> None:
    """A batch may reach batch_bytes exactly; unknown sizes (0) ride along with their neighbours."""
    assert plan_batches([4, 4, 4, 4], 8) == [range(0, 2), range(2, 4)]
    assert plan_batches([0, 0, 8, 0, 1], 8) == [range(0, 4), range(4, 5)]


def test_no_files_no_batches_and_one_file_per_batch() -> None:
    assert plan_batches([], 64 * MiB) == []
    assert plan_batches([10, 20, 30], 1) == [range(0, 1), range(1, 2), range(2, 3)]
    with pytest.raises(ValueError, match="batch_bytes"):
        plan_batches([1], 0)


@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=60), st.integers(min_value=1, max_value=3 * 10**6))
def test_batches_cover_every_file_once_in_order_and_respect_the_bound(sizes: list[int], batch_bytes: int) -> None:
    batches = plan_batches(sizes, batch_bytes)
    assert [i for batch in batches for i in batch] == list(range(len(sizes)))
    assert all(len(batch) > 0 for batch in batches)
    for batch, total in zip(batches, sizes_of(sizes, batches), strict=True):
        assert total <= batch_bytes or len(batch) == 1
    # Greedy: a batch was closed only because the next file did not fit.
    for batch, following in zip(batches, batches[1:], strict=False):
        assert sum(sizes[i] for i in batch) + sizes[following[0]] > batch_bytes


def test_spread_target_shrinks_batches_for_a_small_corpus_but_not_below_the_floor() -> None:
    assert spread_target(64 * MiB, 1024 * MiB, 8) == 64 * MiB  # two full waves of 64 MiB
    assert spread_target(64 * MiB, 1100 * MiB, 8) == -(-1100 * MiB // 24)  # three even waves, not 2 and a bit
    assert spread_target(64 * MiB, 200 * MiB, 8) == 25 * MiB  # one slot's share
    assert spread_target(64 * MiB, 20 * MiB, 8) == SPREAD_FLOOR  # never below the floor
    assert spread_target(1, 20 * MiB, 8) == 1  # the caller asked for tiny batches
    assert spread_target(64 * MiB, 0, 8) == 64 * MiB
    assert spread_target(64 * MiB, 20 * MiB, 0) == 64 * MiB


@given(st.integers(min_value=1, max_value=2**40), st.integers(min_value=1, max_value=512))
def test_spread_target_keeps_every_slot_busy_in_every_wave(total: int, slots: int) -> None:
    target = spread_target(64 * MiB, total, slots)
    assert target <= 64 * MiB and (target >= SPREAD_FLOOR or target * slots >= total)
    waves = -(-total // (slots * 64 * MiB))
    assert -(-total // target) <= slots * waves or target == SPREAD_FLOOR
