"""Suite-wide set-up: the framer backend check, hypothesis profiles, the report header.

The suite refuses to run on the pure-Python framer unless asked to
(``SIDECAR_SYNC_FRAMER=python``): a missing C build must fail CI loudly, never
pass quietly on the slower twin.
"""

from __future__ import annotations

import os
import platform

import hypothesis
import orjson
import pytest

from sidecar_sync import framer

hypothesis.settings.register_profile("default", deadline=None, max_examples=100)
hypothesis.settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True, print_blob=True)
hypothesis.settings.register_profile("thorough", deadline=None, max_examples=2000)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"sidecar_sync framer backend: {framer.BACKEND}",
        f"python {platform.python_version()}, orjson {orjson.__version__}, "
        f"hypothesis profile {hypothesis.settings._current_profile}",  # noqa: SLF001
    ]


def pytest_configure(config: pytest.Config) -> None:
    if framer.BACKEND != "c" and os.environ.get("SIDECAR_SYNC_FRAMER", "").lower() != "python":
        raise pytest.UsageError(
            "the C framer is not built, so the tests would only exercise the Python twin. "
            "Install a C compiler and run `pip install -e '.[test]'` again "
            "(or set SIDECAR_SYNC_FRAMER=python to test the twin on purpose)."
        )
