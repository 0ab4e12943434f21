"""sidecar_sync.options: the one definition of the session options, both sides of the pipe."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from sidecar_sync.errors import InvalidOptionError
from sidecar_sync.options import DEFAULT_PERMISSION_MODE, OPTIONS, WIRE_NAMES, SessionOptions
from sidecar_sync.protocol import OPTION_WIRE_NAMES, options_from_wire, query_command

FULL = {
    "cwd": "/work",
    "model": "m1",
    "system_prompt": "be brief",
    "max_turns": 3,
    "permission_mode": "acceptEdits",
    "claude_config_dir": "/cfg",
    "extra_env": {"A": "1"},
    "additional_directories": ["/a", "/b"],
    "worktree_name": "wt",
    "resume_session_id": "abc",
    "provider_config": {"delay": 0.5, "nested": {"x": [1, 2]}},
    "permission_prompt": True,
}
FULL_WIRE = {
    "cwd": "/work",
    "model": "m1",
    "systemPrompt": "be brief",
    "maxTurns": 3,
    "permissionMode": "acceptEdits",
    "claudeConfigDir": "/cfg",
    "extraEnv": {"A": "1"},
    "additionalDirectories": ["/a", "/b"],
    "worktreeName": "wt",
    "resumeSessionId": "abc",
    "providerConfig": {"delay": 0.5, "nested": {"x": [1, 2]}},
    "permissionPrompt": True,
}

#: (option, a bad value that JSON can carry): each rule at least once.
BAD = [
    ("cwd", 5),
    ("cwd", "a\x00b"),
    ("cwd", ""),
    ("model", 3),
    ("system_prompt", "a\x00b"),
    ("max_turns", 0),
    ("max_turns", True),
    ("max_turns", "many"),
    ("permission_mode", ["x"]),
    ("extra_env", {"A": 1}),
    ("extra_env", {"A": "x\x00"}),
    ("extra_env", ["A=1"]),
    ("additional_directories", "/tmp"),
    ("additional_directories", ["/ok", 7]),
    ("additional_directories", ["/ok", ""]),
    ("provider_config", [1]),
    ("permission_prompt", "yes"),
    ("permission_prompt", 1),
]
#: Bad values only Python code can pass.
BAD_IN_PYTHON = [
    ("provider_config", {"x": object()}),
    ("provider_config", {1: "a non-str key"}),
    ("additional_directories", ["/ok", b"/bytes"]),
]


def test_the_wire_names_are_the_camelcase_of_the_python_names():
    """One field per option; its wire key is the camelCase of its name, and protocol uses the same map."""
    for spec in OPTIONS:
        head, *rest = spec.name.split("_")
        assert spec.wire == head + "".join(part.title() for part in rest)
    assert [spec.name for spec in OPTIONS] == [f.name for f in dataclasses.fields(SessionOptions)]
    assert OPTION_WIRE_NAMES == WIRE_NAMES


def test_the_managers_start_session_options_are_exactly_these():
    """Every option keyword of start_session travels to the runner, except those the manager
    itself acts on: the consumers, the harness limits and the permission callback, whose
    presence travels as permission_prompt."""
    import dataclasses

    from sidecar_sync.limits import Limits
    from sidecar_sync.manager import SidecarManager

    parameters = inspect.signature(SidecarManager.start_session).parameters
    keywords = {name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    manager_side = {"on_message", "on_status", "record", "on_permission", "permission_timeout"}
    manager_side |= {f.name for f in dataclasses.fields(Limits)}
    assert keywords - manager_side == set(WIRE_NAMES) - {"permission_prompt"}


def test_to_wire_maps_every_option_and_from_wire_reads_it_back():
    options = SessionOptions.create(**FULL)
    assert options.to_wire() == FULL_WIRE
    assert SessionOptions.from_wire({"type": "query", "sessionId": "s", "prompt": "p", **FULL_WIRE}) == options
    assert options.to_dict() == {**FULL, "additional_directories": ("/a", "/b")}


def test_unset_options_are_omitted_and_permission_mode_has_a_default():
    assert SessionOptions().to_wire() == {"permissionMode": DEFAULT_PERMISSION_MODE}
    empty = SessionOptions.create(
        cwd=None, extra_env={}, additional_directories=[], provider_config={}, model=None, permission_prompt=False
    )
    assert empty == SessionOptions()
    assert empty.to_wire() == {"permissionMode": "bypassPermissions"}
    # the field itself stays unset: a runner can tell "not chosen" from "bypassPermissions"
    assert SessionOptions.from_wire({"type": "query"}).permission_mode is None


def test_values_are_normalised_and_copied():
    env = {"A": "1"}
    options = SessionOptions(cwd=Path("/work"), extra_env=env, additional_directories=[Path("/a"), "/b"])
    env["B"] = "2"
    assert options.cwd == "/work"
    assert options.additional_directories == ("/a", "/b")
    assert options.extra_env == {"A": "1"}
    wire = options.to_wire()
    wire["extraEnv"]["C"] = "3"
    assert options.extra_env == {"A": "1"}


def test_options_are_frozen_and_replace_checks_again():
    options = SessionOptions(model="m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.model = "other"  # type: ignore[misc]
    assert dataclasses.replace(options, max_turns=2).max_turns == 2
    with pytest.raises(InvalidOptionError, match="max_turns"):
        dataclasses.replace(options, max_turns=-1)


def test_extra_env_values_stay_out_of_repr():
    assert "s3cret" not in repr(SessionOptions(extra_env={"TOKEN": "s3cret"}))


@pytest.mark.parametrize(("name", "value"), BAD + BAD_IN_PYTHON)
def test_a_bad_value_is_named(name, value):
    with pytest.raises(InvalidOptionError, match=f"invalid option {name}"):
        SessionOptions.create(**{name: value})


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_value_on_the_wire_is_named_the_same(name, value):
    with pytest.raises(InvalidOptionError, match=f"invalid option {name}"):
        SessionOptions.from_wire({"type": "query", "sessionId": "s", "prompt": "p", WIRE_NAMES[name]: value})


def test_unknown_option_names_are_refused():
    with pytest.raises(InvalidOptionError, match="unknown session option.*bogus"):
        SessionOptions.create(bogus=1)
    with pytest.raises(TypeError):
        SessionOptions(bogus=1)  # type: ignore[call-arg]


def test_unknown_wire_keys_are_ignored():
    """A newer manager may send keys this runner does not know; JSON null is an unset option."""
    assert SessionOptions.from_wire({"type": "query", "futureOption": 1, "model": None}) == SessionOptions()


def test_query_command_takes_options_or_a_mapping():
    first = query_command("s1", "hi", SessionOptions.create(**FULL))
    assert first == {"type": "query", "sessionId": "s1", "prompt": "hi", **FULL_WIRE}
    assert query_command("s1", "hi", FULL) == first
    assert query_command("s1", "again") == {"type": "query", "sessionId": "s1", "prompt": "again"}
    with pytest.raises(InvalidOptionError, match="max_turns"):
        query_command("s1", "hi", {"max_turns": 0})


def test_options_from_wire_gives_the_raw_values_by_python_name():
    assert options_from_wire({"type": "query", "prompt": "p", "maxTurns": "raw", "other": 1}) == {"max_turns": "raw"}


def test_importing_the_options_is_cheap():
    """Runners import the options at start-up: nothing that starts threads, processes or sockets."""
    code = (
        "import sys, sidecar_sync\n"
        "before = set(sys.modules)\n"
        "import sidecar_sync.options, sidecar_sync.protocol\n"
        "heavy = {'subprocess', 'threading', 'socket', 'select', 'signal', 'ctypes', 'asyncio'}\n"
        "print(','.join(sorted(heavy & (set(sys.modules) - before))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=True)
    assert out.stdout.decode().strip() == ""
