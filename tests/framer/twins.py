"""The framer twins under test, and a patch for the module-level names they share.

``TWINS`` has the C framer whenever it is built, whatever this run's backend.

The twins and the decoder each import what they share (``FEED_WINDOW``, ``windows``)
into their own namespace, so a test that shrinks the window or pauses a feed must
patch every module that holds the name, not only :mod:`sidecar_sync.framer`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

from sidecar_sync import _framing
from sidecar_sync.framer import Framer, PyLineFramer

__all__ = ["TWINS", "patch_everywhere"]


def c_twin() -> type[Framer] | None:
    """The C framer if it is built (whatever this run's backend), else None."""
    try:
        from sidecar_sync.framer import CLineFramer
    except ImportError:
        return None
    return CLineFramer


TWINS: dict[str, type[Framer] | None] = {"c": c_twin(), "python": PyLineFramer}


@contextmanager
def patch_everywhere(name: str, value: object) -> Iterator[None]:
    """Set ``name`` to ``value`` in every loaded ``sidecar_sync`` module that binds the
    same object as ``sidecar_sync._framing`` does, for the duration of the block."""
    original = getattr(_framing, name)
    modules = [
        module
        for module_name, module in list(sys.modules.items())
        if module_name.startswith("sidecar_sync") and getattr(module, name, None) is original
    ]
    assert len(modules) >= 3, f"{name} is bound in too few modules: {[m.__name__ for m in modules]}"
    with ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, name, value))
        yield
