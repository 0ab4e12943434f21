"""`ndjson_is_single_object`, the check that decides which lines may share one JSON array."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.framer.reference import model_single_object

_framer = pytest.importorskip("sidecar_sync._framer", reason="the C framer is not built")
lib = _framer.lib


def c_single_object(line: bytes) -> bool:
    return bool(lib.ndjson_is_single_object(line, len(line)))


ADVERSARIAL = [
    (b'{"a":1}', True),
    (b"{}", True),
    (b'{"s":"}"}', True),  # a brace inside a string
    (b'{"s":"{"}', True),
    (b'{"s":"\\"}"}', True),  # an escaped quote, then a brace in the string
    (b'{"s":"\\\\"}', True),  # an escaped backslash closes nothing
    (b'{"k":[1,{"z":"]"}]}', True),
    (b'{"a":1},{"b":2}', False),  # two objects
    (b'{"a":1}{"b":2}', False),
    (b'{"a":1} {"b":2}', False),
    (b'{"x":"}', False),  # unterminated string
    (b'{","y":1}', False),
    (b'{"s":"\\', False),  # backslash at the very end
    (b'{"s":"\\"}', False),  # the quote is escaped: the string never closes
    (b'{"a":[}', False),
    (b'{"a":1]}', False),  # closes early at depth 0
    (b"{]", False),
    (b"{", False),
    (b"}", False),
    (b"", False),
    (b"[1]", False),
    (b'"{}"', False),
    (b"null", False),
    (b" {}", False),  # the framer trims; untrimmed text is not an object line
    (b'{"bin":"\xff\x00"}', True),  # not UTF-8, but the parser decides that
    (b'{"a":{"b":{"c":{}}}}', True),
    (b'{"a":"b"}}', False),
    (b'{{"a":1}', False),
]


@pytest.mark.parametrize(("line", "expected"), ADVERSARIAL)
def test_adversarial_lines(line: bytes, expected: bool) -> None:
    assert c_single_object(line) is expected
    assert model_single_object(line) is expected


@given(st.lists(st.sampled_from(list(b'{}[]",:\\ ab\xff\x00')), max_size=30).map(bytes))
def test_matches_the_model_on_structural_noise(line: bytes) -> None:
    assert c_single_object(line) is model_single_object(line)


@given(st.binary(max_size=40).map(lambda b: b"{" + b + b"}"))
def test_matches_the_model_between_braces(line: bytes) -> None:
    assert c_single_object(line) is model_single_object(line)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5).map(orjson.dumps)


@given(json_objects)
def test_every_json_object_is_one_and_none_of_its_prefixes_is(line: bytes) -> None:
    assert c_single_object(line)
    for end in range(len(line)):
        assert not c_single_object(line[:end]), line[:end]


@given(json_objects, json_objects, st.sampled_from([b"", b",", b" ", b"\t,", b"\r"]))
def test_two_objects_are_never_one(first: bytes, second: bytes, between: bytes) -> None:
    assert not c_single_object(first + between + second)
