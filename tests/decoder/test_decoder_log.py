"""EventDecoder's log lines word for word: what mutation testing found unchecked.

Each skipped line is logged with the stream's label, its number, why it was skipped and
its first 120 bytes; the line that reaches the limit is followed by one saying further
ones go to DEBUG.
"""

from __future__ import annotations

import logging

import pytest

from sidecar_sync.decoder import INVALID_LOG_LIMIT
from tests.decoder.conftest import MakeDecoder


def decoder_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "sidecar_sync.decoder"]


def test_a_skipped_line_is_logged_with_label_number_reason_and_120_bytes(
    make_decoder: MakeDecoder, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_decoder(label="sess-9")
    long_line = b"[" + b"7," * 100 + b"7]"  # valid JSON, not an object, 203 bytes
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync"):
        assert d.feed(b'{"ok":1}\nnot json\n' + long_line + b"\n") == [{"ok": 1}]
    reason = d.last_invalid_reason
    assert reason is not None and "list" in reason
    (first_level, first), second = decoder_records(caplog)
    assert first_level == logging.WARNING
    assert first.startswith("sess-9: skipped invalid line 1 (") and first.endswith("): b'not json'")
    assert second == (logging.WARNING, f"sess-9: skipped invalid line 2 ({reason}): {long_line[:120]!r}")


def test_the_line_at_the_limit_is_followed_by_the_switch_to_debug(
    make_decoder: MakeDecoder, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_decoder(label="sess-3")
    with caplog.at_level(logging.DEBUG, logger="sidecar_sync"):
        d.feed(b"[]\n" * (INVALID_LOG_LIMIT + 1))
    reason = d.last_invalid_reason
    skipped = [f"sess-3: skipped invalid line {n} ({reason}): b'[]'" for n in range(1, INVALID_LOG_LIMIT + 2)]
    switch = f"sess-3: {INVALID_LOG_LIMIT} invalid lines; logging further ones at DEBUG only"
    assert decoder_records(caplog) == [
        *[(logging.WARNING, text) for text in skipped[:INVALID_LOG_LIMIT]],
        (logging.WARNING, switch),
        (logging.DEBUG, skipped[INVALID_LOG_LIMIT]),
    ]
