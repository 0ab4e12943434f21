"""Fixtures of the framer tests: every test that takes ``framer_cls`` runs against both twins."""

from __future__ import annotations

import pytest

from sidecar_sync.framer import Framer
from tests.framer.twins import TWINS


@pytest.fixture(scope="session", params=sorted(TWINS))
def framer_cls(request: pytest.FixtureRequest) -> type[Framer]:
    """The C framer, then its Python twin.

    The C one is missing only when this run chose SIDECAR_SYNC_FRAMER=python on a
    machine without the build: the suite-wide conftest refuses to start otherwise.
    """
    cls = TWINS[request.param]
    if cls is None:
        pytest.skip("the C framer is not built (SIDECAR_SYNC_FRAMER=python)")
    return cls


@pytest.fixture(scope="session")
def c_framer_cls() -> type[Framer]:
    """The C framer alone, for tests of what only it does (batched segments, ffi)."""
    cls = TWINS["c"]
    if cls is None:
        pytest.skip("the C framer is not built (SIDECAR_SYNC_FRAMER=python)")
    return cls
