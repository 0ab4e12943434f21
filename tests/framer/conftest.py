"""Fixtures of the framer tests: every test that takes ``framer_cls`` runs against both twins."""

from __future__ import annotations

import pytest

from sidecar_sync import framer as framer_module

TWINS = {"c": framer_module.CLineFramer, "python": framer_module.PyLineFramer}


@pytest.fixture(scope="session", params=sorted(TWINS))
def framer_cls(request: pytest.FixtureRequest) -> type:
    """The C framer, then its Python twin.

    The C one is missing only when the run chose SIDECAR_SYNC_FRAMER=python on
    purpose: the suite-wide conftest refuses to start otherwise.
    """
    cls = TWINS[request.param]
    if cls is None:
        pytest.skip("the C framer is not loaded (SIDECAR_SYNC_FRAMER=python)")
    return cls


@pytest.fixture(scope="session")
def c_framer_cls() -> type:
    """The C framer alone, for tests of what only it does (batched segments, ffi)."""
    if framer_module.CLineFramer is None:
        pytest.skip("the C framer is not loaded (SIDECAR_SYNC_FRAMER=python)")
    return framer_module.CLineFramer
