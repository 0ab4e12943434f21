"""Fixtures of the decoder tests: a decoder factory over each framer twin."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sidecar_sync.decoder import EventDecoder
from sidecar_sync.framer import MAX_LINE_SIZE, MAX_PENDING
from tests.framer.twins import TWINS

MakeDecoder = Callable[..., EventDecoder]


@pytest.fixture(scope="session", params=sorted(TWINS))
def make_decoder(request: pytest.FixtureRequest) -> MakeDecoder:
    """Builds an EventDecoder on the C framer, then on the Python twin."""
    cls = TWINS[request.param]
    if cls is None:
        pytest.skip("the C framer is not built (SIDECAR_SYNC_FRAMER=python)")

    def make(max_line_size: int = MAX_LINE_SIZE, max_pending: int = MAX_PENDING, label: str = "test") -> EventDecoder:
        return EventDecoder(label=label, framer=cls(max_line_size, max_pending))

    return make
