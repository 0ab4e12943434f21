"""The ollama runner against the fake Ollama server (tests/fakes/ollama.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sidecar_sync.errors import InvalidOptionError
from sidecar_sync.options import SessionOptions
from sidecar_sync.protocol import query_command, stop_command
from sidecar_sync.runners.ollama import DEFAULT_MODEL, OllamaRunner, parse_host
from tests.fakes import closed_port
from tests.fakes.ollama import VERSION as FAKE_VERSION
from tests.fakes.ollama import FakeOllama, Reply
from tests.runners.client import RunnerClient, events, types


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as server:
        yield server


def start(spawn_runner, fake_or_url, prompt: str = "hi", **options) -> RunnerClient:
    url = fake_or_url if isinstance(fake_or_url, str) else fake_or_url.url
    config = {"host": url, **options.pop("provider_config", {})}
    runner = spawn_runner("ollama")
    runner.send(query_command("sess-1", prompt, {"provider_config": config, **options}))
    return runner


def test_a_plain_turn(spawn_runner, fake, tmp_path):
    fake.reply(Reply(text="The sky is blue"))
    runner = start(spawn_runner, fake, "why is the sky blue?", cwd=str(tmp_path))
    turn = runner.read_turn()
    assert turn[0] == {"type": "agent_started"} and turn[-1] == {"type": "agent_stopped"}
    evs = events(turn)
    assert evs[0] == {
        "type": "system",
        "subtype": "init",
        "session_id": "sess-1",
        "model": DEFAULT_MODEL,
        "cwd": str(tmp_path),
        "agent_version": f"Ollama {FAKE_VERSION}",  # from GET /api/version
    }
    chunks = evs[1:]
    assert all(c["type"] == "chunk" and c["model"] == DEFAULT_MODEL for c in chunks)
    assert "".join(c["message"]["content"] for c in chunks) == "The sky is blue"
    assert [c["done"] for c in chunks] == [False, False, False, False, True]
    final = chunks[-1]
    assert final["done_reason"] == "stop" and final["eval_count"] == 4 and final["prompt_eval_count"] == 26
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/version"), ("POST", "/api/chat")]
    chat = fake.chats[0]
    assert chat == {
        "model": DEFAULT_MODEL,
        "messages": [{"role": "user", "content": "why is the sky blue?"}],
        "stream": True,
    }
    assert fake.requests[1].headers["content-type"] == "application/json"


def test_follow_ups_send_the_whole_conversation(spawn_runner, fake):
    runner = start(spawn_runner, fake, "first", system_prompt="Be brief.", model="qwen3:8b")
    runner.read_turn()
    runner.send(query_command("sess-1", "second"))
    assert runner.read_turn()[-1] == {"type": "agent_stopped"}
    runner.send(query_command("sess-1", "third"))
    runner.read_turn()
    assert [c["model"] for c in fake.chats] == ["qwen3:8b"] * 3
    assert fake.chats[2]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "You said: first"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "You said: second"},
        {"role": "user", "content": "third"},
    ]


def test_thinking_streams_and_stays_out_of_the_history(spawn_runner, fake):
    fake.reply(Reply(text="42", thinking="Let me think hard"))
    runner = start(spawn_runner, fake, "meaning?", provider_config={"think": True})
    chunks = events(runner.read_turn())[1:]
    assert "".join(c["message"].get("thinking", "") for c in chunks) == "Let me think hard"
    assert "".join(c["message"]["content"] for c in chunks) == "42"
    assert fake.chats[0]["think"] is True
    runner.send(query_command("sess-1", "again"))
    runner.read_turn()
    assert fake.chats[1]["messages"][1] == {"role": "assistant", "content": "42"}


def test_think_level_num_ctx_options_and_keep_alive_are_mapped(spawn_runner, fake):
    config = {
        "think": "high",
        "num_ctx": 8192,
        "options": {"temperature": 0.1, "num_ctx": 5, "stop": ["END"]},
        "keep_alive": "10m",
    }
    runner = start(spawn_runner, fake, provider_config=config)
    assert runner.read_turn()[-1] == {"type": "agent_stopped"}
    chat = fake.chats[0]
    assert chat["think"] == "high"
    assert chat["options"] == {"temperature": 0.1, "num_ctx": 8192, "stop": ["END"]}
    assert chat["keep_alive"] == "10m"


def test_tool_calls_are_forwarded_and_kept(spawn_runner, fake):
    call = {"function": {"name": "get_weather", "arguments": {"city": "Toronto"}}}
    fake.reply(Reply(text="Checking", tool_calls=[call]))
    runner = start(spawn_runner, fake, "weather?")
    chunks = events(runner.read_turn())[1:]
    assert [c["message"]["tool_calls"] for c in chunks if "tool_calls" in c["message"]] == [[call]]
    runner.send(query_command("sess-1", "thanks"))
    runner.read_turn()
    assert fake.chats[1]["messages"][1] == {"role": "assistant", "content": "Checking", "tool_calls": [call]}


def test_unknown_model_is_an_error_event_and_agent_error(spawn_runner, fake):
    runner = start(spawn_runner, fake, "hi", model="nope:1b")
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_event", "agent_event", "agent_error"]
    error = events(turn)[1]
    assert error == {"type": "error", "message": 'model "nope:1b" not found, try pulling it first'}
    message = turn[-1]["message"]
    assert "HTTP 404" in message and fake.url in message and "nope:1b" in message and "not found" in message


def test_a_failed_turn_leaves_the_history_unchanged(spawn_runner, fake):
    fake.reply(Reply(status=500, error="out of memory"))
    runner = start(spawn_runner, fake, "lost")
    turn = runner.read_turn()
    assert turn[-1]["type"] == "agent_error" and "HTTP 500" in turn[-1]["message"]
    runner.send(query_command("sess-1", "kept"))
    assert runner.read_turn()[-1] == {"type": "agent_stopped"}
    assert fake.chats[1]["messages"] == [{"role": "user", "content": "kept"}]


def test_mid_stream_error_line(spawn_runner, fake):
    fake.reply(Reply(text="partial answer here", error="model runner crashed", error_after=2))
    runner = start(spawn_runner, fake)
    turn = runner.read_turn()
    evs = events(turn)
    assert [e["type"] for e in evs] == ["system", "chunk", "chunk", "error"]
    assert evs[-1] == {"type": "error", "message": "model runner crashed"}
    assert turn[-1]["type"] == "agent_error"
    assert "model runner crashed" in turn[-1]["message"] and "mid-stream" in turn[-1]["message"]


def test_stream_ending_before_done(spawn_runner, fake):
    fake.reply(Reply(text="cut short", truncate=True))
    runner = start(spawn_runner, fake)
    turn = runner.read_turn()
    assert turn[-1]["type"] == "agent_error" and "before its final (done) chunk" in turn[-1]["message"]
    assert events(turn)[-1]["type"] == "error"


def test_unreachable_server_names_the_host(spawn_runner):
    url = f"http://127.0.0.1:{closed_port()}"
    runner = start(spawn_runner, url)
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_event", "agent_error"]
    assert (
        turn[-1]["message"] == f"Ollama server not reachable at {url}: connection refused (is `ollama serve` running?)"
    )
    assert events(turn) == [{"type": "error", "message": turn[-1]["message"]}]
    runner.send({"type": "ping"})
    assert runner.read() == {"type": "pong"}  # still alive


def test_failing_health_check(spawn_runner, fake):
    fake.set_version_status(503)
    runner = start(spawn_runner, fake)
    turn = runner.read_turn()
    assert turn[-1]["type"] == "agent_error"
    assert "/api/version" in turn[-1]["message"] and "503" in turn[-1]["message"]
    assert fake.chats == []


def test_every_init_of_the_session_names_the_server_version(spawn_runner):
    with FakeOllama(version=" 0.12.6 ") as fake:
        runner = start(spawn_runner, fake, "first")
        first = runner.read_turn()
        runner.send(query_command("sess-1", "second"))
        second = runner.read_turn()
    assert [events(turn)[0]["agent_version"] for turn in (first, second)] == ["Ollama 0.12.6"] * 2


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_server_without_api_version_has_no_version_and_still_answers(spawn_runner, fake, status):
    """Not Ollama's own server, but speaking /api/chat: no version, no failure."""
    fake.set_version_status(status)
    runner = start(spawn_runner, fake)
    turn = runner.read_turn()
    assert turn[-1] == {"type": "agent_stopped"}
    init = events(turn)[0]
    assert init["subtype"] == "init" and "agent_version" not in init
    assert len(fake.chats) == 1


def test_host_with_a_path_prefix(spawn_runner, fake):
    runner = start(spawn_runner, fake.url + "/proxy/ollama/")
    runner.read_turn()
    assert [r.path for r in fake.requests] == ["/proxy/ollama/api/version", "/proxy/ollama/api/chat"]


def test_stop_closes_a_slow_stream_promptly(spawn_runner, fake):
    fake.reply(Reply(text="one two three four five six", delay=20))
    runner = start(spawn_runner, fake)
    assert runner.read()["type"] == "agent_started"
    assert runner.read()["event"]["subtype"] == "init"
    runner.send(stop_command("sess-1"))
    rest = runner.read_all(timeout=5)
    assert rest == [{"type": "agent_stopped"}]
    assert runner.wait(5) == 0


def test_stop_after_some_chunks(spawn_runner, fake):
    fake.reply(Reply(text="a b c d e f g h", delay=0.3))
    runner = start(spawn_runner, fake)
    runner.read_until("agent_event")
    assert runner.read()["event"]["type"] == "chunk"
    runner.send(stop_command("sess-1"))
    rest = runner.read_all(timeout=5)
    assert rest[-1] == {"type": "agent_stopped"}
    assert all(e["type"] == "chunk" for e in events(rest))
    assert runner.wait(5) == 0


def test_read_timeout(spawn_runner, fake):
    fake.reply(Reply(text="slow", delay=5))
    runner = start(spawn_runner, fake, provider_config={"timeout": 0.3})
    turn = runner.read_turn()
    assert turn[-1]["type"] == "agent_error" and "sent nothing for 0.3s" in turn[-1]["message"]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"host": "ftp://127.0.0.1:11434"}, "http:// or https://"),
        ({"host": "127.0.0.1:11434"}, "http:// or https://"),
        ({"host": "http://"}, "no host"),
        ({"host": "http://user:pw@127.0.0.1:1"}, "credentials"),
        ({"host": "http://127.0.0.1:1/?x=1"}, "query"),
        ({"host": "http://127.0.0.1:99999"}, "cannot parse"),
        ({"host": "http://127.0.0.1:1\r\nX: y"}, "whitespace"),
        ({"host": 11434}, "providerConfig.host"),
        ({"think": "very"}, "providerConfig.think"),
        ({"num_ctx": 0}, "providerConfig.num_ctx"),
        ({"num_ctx": "big"}, "providerConfig.num_ctx"),
        ({"options": [1]}, "providerConfig.options"),
        ({"options": {"x": {"y": 1}}}, "providerConfig.options.x"),
        ({"keep_alive": True}, "providerConfig.keep_alive"),
        ({"timeout": 0}, "providerConfig.timeout"),
    ],
)
def test_bad_provider_config(spawn_runner, fake, config, fragment):
    runner = spawn_runner("ollama")
    runner.send(query_command("s", "hi", {"provider_config": {"host": fake.url, **config}}))
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_error"]
    assert fragment in turn[-1]["message"]
    assert fake.requests == []


# -- units ------------------------------------------------------------------------


def test_parse_host():
    host = parse_host("https://ollama.example:8443/base/")
    assert (host.scheme, host.hostname, host.port, host.prefix, host.url) == (
        "https",
        "ollama.example",
        8443,
        "/base",
        "https://ollama.example:8443/base",
    )
    assert parse_host("http://[::1]").port == 80 and parse_host("http://[::1]").hostname == "::1"
    with pytest.raises(InvalidOptionError):
        parse_host("file:///etc/passwd")


def test_option_mapping_without_a_server():
    runner = OllamaRunner()
    runner.configure(
        SessionOptions(
            model="mistral",
            system_prompt="sys",
            provider_config={"think": False, "num_ctx": 4096, "options": {"seed": 7}},
        )
    )
    assert runner.chat_request("hello") == {
        "model": "mistral",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}],
        "stream": True,
        "think": False,
        "options": {"seed": 7, "num_ctx": 4096},
    }
    default = OllamaRunner()
    default.configure(SessionOptions())
    assert default.chat_request("x") == {
        "model": DEFAULT_MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }
    assert default.host.url == "http://127.0.0.1:11434"
