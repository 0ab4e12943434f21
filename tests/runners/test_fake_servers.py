"""The fake model servers themselves, driven with urllib (the real CLIs use them in test_*_cli.py)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.fakes import anthropic as fa
from tests.fakes import openai_responses as fo


def post(url: str, body: dict, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def sse(body: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in body.decode().split("\n\n"):
        if block.strip():
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_anthropic_text_and_tool_use_stream():
    """message_start, one block per content item with its deltas, message_delta, message_stop."""
    with fa.FakeAnthropic() as api:
        api.script(fa.tool_call("Bash", {"command": "echo hi"}, preface="Running it"))
        status, headers, body = post(f"{api.base_url}/v1/messages?beta=true", {"model": "m1", "messages": []})

    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert headers["Transfer-Encoding"] == "chunked"
    events = sse(body)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in events)
    assert events[0][1]["message"]["model"] == "m1"
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["text", "tool_use"]
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta" and d["index"] == 0)
    assert text == "Running it"
    raw_input = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 1)
    assert json.loads(raw_input) == {"command": "echo hi"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert api.requests[0].query == "beta=true"


def test_anthropic_errors_and_unknown_routes():
    """Scripted HTTP errors carry the API's error body; unknown routes are 404 and still recorded."""
    with fa.FakeAnthropic(default=fa.api_error(500)) as api:
        api.script(fa.api_error(401, "bad key"))
        first = post(f"{api.base_url}/v1/messages", {})
        second = post(f"{api.base_url}/v1/messages", {})
        other = post(f"{api.base_url}/api/hello", {})

    assert first[0] == 401
    assert json.loads(first[2]) == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "bad key"},
        "request_id": "req_fake",
    }
    assert second[0] == 500 and json.loads(second[2])["error"]["type"] == "api_error"
    assert other[0] == 404
    assert [r.path for r in api.requests] == ["/v1/messages", "/v1/messages", "/api/hello"]
    assert len(api.model_requests()) == 2


def test_callable_reply_sees_the_request():
    """A callable reply answers from the request (here: the last tool_result)."""
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "42\n"}]},
        ]
    }
    with fa.FakeAnthropic() as api:
        api.script(fa.answer_with_tool_result("got {}"))
        _, _, raw = post(f"{api.base_url}/v1/messages", body)

    text = "".join(d["delta"]["text"] for n, d in sse(raw) if n == "content_block_delta")
    assert text == "got 42"


def test_slow_stream_ends_when_the_server_closes():
    """A slow stream in flight does not keep close() waiting."""
    api = fa.FakeAnthropic(default=fa.slow_text("x" * 100, pieces=100, delay=1.0)).start()
    outcome: list = []

    def read_stream() -> None:
        try:
            outcome.append(post(f"{api.base_url}/v1/messages", {}, timeout=30))
        except Exception as exc:  # noqa: BLE001 - the stream is cut: an incomplete read
            outcome.append(exc)

    client = threading.Thread(target=read_stream, name="test-slow-client")
    client.start()
    api.wait_for_events(1)
    api.close()
    client.join(10)

    assert not client.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Exception)  # cut short, not completed
    assert api.events_sent < 100


def test_responses_message_function_call_and_completed():
    """Items stream with added/delta/done events; response.completed carries id and usage."""
    with fo.FakeResponses() as api:
        api.script(
            fo.Reply([fo.Reasoning("why"), fo.Message("hi there"), fo.FunctionCall("exec_command", {"cmd": "ls"})])
        )
        status, _, body = post(f"{api.base_url}/responses", {"model": "gpt-5.5", "input": []})

    assert status == 200
    events = sse(body)
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    done = [d["item"] for n, d in events if n == "response.output_item.done"]
    assert [i["type"] for i in done] == ["reasoning", "message", "function_call"]
    assert done[1]["content"] == [{"type": "output_text", "text": "hi there", "annotations": []}]
    assert json.loads(done[2]["arguments"]) == {"cmd": "ls"} and done[2]["name"] == "exec_command"
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert text == "hi there"
    completed = events[-1][1]["response"]
    assert completed["status"] == "completed" and completed["id"].startswith("resp_")
    assert completed["usage"]["total_tokens"] == 20


@pytest.mark.parametrize("reply", [fo.api_error(401, "nope"), fo.Failed("boom")])
def test_responses_errors(reply):
    """HTTP errors carry {"error": {...}}; Failed streams end in response.failed."""
    with fo.FakeResponses(default=reply) as api:
        status, _, body = post(f"{api.base_url}/responses", {})

    if isinstance(reply, fo.ApiError):
        assert status == 401 and json.loads(body)["error"]["message"] == "nope"
    else:
        events = sse(body)
        assert events[-1][0] == "response.failed"
        assert events[-1][1]["response"]["error"] == {"code": "server_error", "message": "boom"}


def test_answer_with_tool_output_quotes_the_output_section():
    """Codex sends tool output as text with an 'Output:' section; the helper quotes that part."""
    body = {"input": [{"type": "function_call_output", "call_id": "c", "output": "Exit code: 0\nOutput:\nhello\n"}]}
    with fo.FakeResponses() as api:
        api.script(fo.answer_with_tool_output("said {}"))
        _, _, raw = post(f"{api.base_url}/responses", body)

    text = "".join(d["delta"] for n, d in sse(raw) if n == "response.output_text.delta")
    assert text == "said hello"
