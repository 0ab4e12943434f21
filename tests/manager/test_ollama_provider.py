"""The built-in ollama provider through ``SidecarManager.start_session``, against a fake Ollama server.

No real Ollama server can be installed offline here (see docs/real-clis.md), so the
runner talks to ``tests.fakes.ollama``, which speaks the documented ``/api/chat`` stream.
"""

from __future__ import annotations

from sidecar_sync import SidecarManager
from tests.fakes import closed_port
from tests.fakes.ollama import FakeOllama, Reply
from tests.manager.conftest import TIMEOUT, Recorder


def test_ollama_turns_follow_ups_and_accounting(manager: SidecarManager) -> None:
    """Text and thinking stream as messages, the follow-up carries the history, tokens add up."""
    recorder = Recorder()
    with FakeOllama() as fake:
        fake.reply(Reply(text="The sky is blue", thinking="Rayleigh"), Reply(text="Because of scattering"))
        manager.start_session(
            "o", "ollama", "why is the sky blue?", model="qwen3:8b", system_prompt="Be brief.",
            provider_config={"host": fake.url, "think": True, "num_ctx": 4096},
            on_message=recorder.on_message, on_status=recorder.on_status,
        )
        state = manager.wait("o", timeout=TIMEOUT)
        assert state.status == "idle", state.error
        complete = [m.content.text for m in recorder.of_type("text") if not m.content.delta]
        assert complete == ["The sky is blue"]
        assert any(m.content.text for m in recorder.of_type("thinking"))
        first_tokens = state.input_tokens
        assert first_tokens > 0 and state.output_tokens > 0

        manager.write_prompt("o", "why?")
        state = manager.wait("o", timeout=TIMEOUT)
        assert state.status == "idle", state.error
        assert [m.content.text for m in recorder.of_type("text") if not m.content.delta][-1] == "Because of scattering"
        assert state.input_tokens > first_tokens  # added turn by turn

        first, second = fake.chats
        assert first["model"] == "qwen3:8b" and first["think"] is True
        assert first["options"]["num_ctx"] == 4096
        assert first["messages"][0] == {"role": "system", "content": "Be brief."}
        history = [(m["role"], m["content"]) for m in second["messages"]]
        assert history == [
            ("system", "Be brief."),
            ("user", "why is the sky blue?"),
            ("assistant", "The sky is blue"),
            ("user", "why?"),
        ]
        manager.stop_session("o")
        recorder.wait_final(TIMEOUT)
    assert manager.get_session("o").status == "done"


def test_ollama_model_error_fails_the_turn_not_the_session(manager: SidecarManager) -> None:
    """A 404 for an unknown model is an error message and a failed turn; the runner lives on."""
    recorder = Recorder()
    with FakeOllama() as fake:
        manager.start_session(
            "o", "ollama", "hi", model="no-such-model", provider_config={"host": fake.url},
            on_message=recorder.on_message, on_status=recorder.on_status,
        )
        state = manager.wait("o", timeout=TIMEOUT)
        assert state.status == "error" and state.error and "no-such-model" in state.error
        assert not state.finished  # the turn failed; the runner lives on
        assert any("no-such-model" in m.content.message for m in recorder.of_type("error"))
        manager.stop_session("o")
        assert manager.wait("o", TIMEOUT).status == "done"


def test_ollama_unreachable_host_names_the_host(manager: SidecarManager) -> None:
    """With nothing listening, the health check fails with an error naming the host."""
    port = closed_port()
    host = f"http://127.0.0.1:{port}"
    manager.start_session("o", "ollama", "hi", provider_config={"host": host})
    state = manager.wait("o", timeout=TIMEOUT)
    assert state.error and f"127.0.0.1:{port}" in state.error
    manager.stop_session("o")


def test_ollama_error_in_a_200_stream_is_an_api_error_turn(manager: SidecarManager) -> None:
    """Ollama may answer 200 and then put ``{"error": ...}`` in the stream: the turn is an api_error
    (the text names no HTTP or connection failure, so only the runner's outcome can say so)."""
    with FakeOllama() as fake:
        fake.reply(Reply(text="half an answer", error="model runner has unexpectedly stopped", error_after=1))
        manager.start_session("o", "ollama", "hi", model="qwen3:8b", provider_config={"host": fake.url})
        state = manager.wait("o", timeout=TIMEOUT)
        assert state.status == "error" and not state.finished, state
        (turn,) = state.turns
        assert turn.outcome == "api_error", turn
        assert turn.error is not None and "unexpectedly stopped" in turn.error
        manager.write_prompt("o", "again")  # the runner lives on; the next turn succeeds
        state = manager.wait("o", timeout=TIMEOUT)
        assert [t.outcome for t in state.turns] == ["api_error", "success"], state.turns
        manager.stop_session("o")
        assert manager.wait("o", TIMEOUT).status == "done"


def test_ollama_connection_refused_is_an_api_error_turn(manager: SidecarManager) -> None:
    port = closed_port()
    manager.start_session("o", "ollama", "hi", provider_config={"host": f"http://127.0.0.1:{port}"})
    state = manager.wait("o", timeout=TIMEOUT)
    (turn,) = state.turns
    assert turn.outcome == "api_error", turn
    assert turn.error is not None and "connection refused" in turn.error
