"""The arguments of ``sidecar-sync run``: the parser, and the session options they make.

Every argument is checked here, before anything starts: text that is not valid
UTF-8, a limit that is not a positive number, ``--env``/``-c`` items that are not
``KEY=VALUE``, are usage errors (exit status 2).
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from ._exit import UsageError
from ._input import BadTextError, check_text

__all__ = ["add_parser", "session_options"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand to ``sub`` (the parser's subparsers)."""
    run = sub.add_parser(
        "run",
        parents=parents,
        help="run one agent session and show it live",
        description="Run one session and render it live: text, thinking, tool calls "
        "and results, status changes, and a final line with the outcome, cost, "
        "tokens and duration. Ctrl-C, SIGTERM and SIGHUP stop the session cleanly "
        "(exit 130, 143, 129); a second one kills it.",
    )
    run.add_argument(
        "prompt",
        nargs="?",
        metavar="PROMPT",
        help="the prompt (with --interactive, read from stdin if omitted)",
    )
    run.add_argument(
        "--provider",
        "-p",
        default="echo",
        help="provider: echo (default, built in), claude, codex, ollama, ...",
    )
    run.add_argument("--model", "-m", help="model name passed to the provider")
    run.add_argument("--cwd", help="working directory of the agent")
    run.add_argument("--system-prompt", help="system prompt for the session")
    run.add_argument(
        "--permission-mode", help="Claude permission mode (default bypassPermissions)"
    )
    run.add_argument("--max-turns", type=int, help="maximum agent turns")
    run.add_argument(
        "--config",
        "-c",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="provider setting sent as providerConfig "
        "(repeatable; VALUE is JSON if it parses, "
        "else a string), e.g. -c host=http://127.0.0.1:11434 -c num_ctx=8192",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="print one AgentMessage JSON object per line instead of text",
    )
    run.add_argument(
        "--interactive",
        "-i",
        action="store_true",
        help="after each turn, read a follow-up prompt from stdin "
        "(empty line or EOF ends)",
    )
    run.add_argument(
        "--ask",
        action="store_true",
        help="ask on the terminal before the agent runs a tool its permission mode "
        "does not allow (tool, input summary, y/N); the permission mode defaults to "
        "'default'. Providers that cannot ask (echo, codex, ollama) refuse it",
    )
    run.add_argument(
        "--show-unknown",
        action="store_true",
        help="also show events no adapter mapping fits",
    )
    limits = run.add_argument_group("limits and recording (for harnesses)")
    limits.add_argument("--turn-timeout", type=float, metavar="S", help="seconds of wall clock per turn")
    limits.add_argument("--idle-timeout", type=float, metavar="S", help="seconds without output during a turn")
    limits.add_argument("--max-cost", type=float, metavar="USD", help="stop when the session costs more")
    limits.add_argument("--max-tokens", type=int, metavar="N", help="stop when input + output tokens go above N")
    limits.add_argument("--record", metavar="FILE", help="record the session (runner output, prompts, timing; .gz ok)")
    agents = run.add_argument_group("agents")
    agents.add_argument("--claude-path", metavar="PATH", help="the Claude Code CLI to run (default: discovered)")
    agents.add_argument("--codex-path", metavar="PATH", help="the Codex CLI to run (default: discovered)")
    agents.add_argument("--claude-config-dir", metavar="DIR", help="Claude Code's config dir (settings.json, keys)")
    agents.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the runner (repeatable; checked like extra_env: no loader, "
        "interpreter, proxy or provider variables)",
    )


# -- the command line ------------------------------------------------------------


def _parse_config(items: list[str]) -> dict[str, Any] | None:
    config: dict[str, Any] = {}
    for item in items:
        check_text("--config", item)
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config takes KEY=VALUE, got {item!r}")
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        config[key.strip()] = value
    return config or None


def session_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``start_session`` from the command line, checked."""
    if args.max_turns is not None and args.max_turns < 1:
        raise UsageError("--max-turns must be at least 1")
    try:
        for what, value in (
            ("PROMPT", args.prompt),
            ("--model", args.model),
            ("--cwd", args.cwd),
            ("--system-prompt", args.system_prompt),
            ("--permission-mode", args.permission_mode),
            ("--record", args.record),
            ("--claude-path", args.claude_path),
            ("--codex-path", args.codex_path),
            ("--claude-config-dir", args.claude_config_dir),
            *(("--env", item) for item in args.env),
        ):
            if value is not None:
                check_text(what, value)
        config = _parse_config(args.config)
    except BadTextError as exc:
        raise UsageError(str(exc)) from None
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env takes KEY=VALUE, got {item!r}")
        env[key] = value
    for flag, number in (("--turn-timeout", args.turn_timeout), ("--idle-timeout", args.idle_timeout),
                         ("--max-cost", args.max_cost), ("--max-tokens", args.max_tokens)):  # fmt: skip
        if number is not None and not number > 0:
            raise UsageError(f"{flag} must be greater than 0, got {number}")
    return {
        "cwd": args.cwd,
        "model": args.model,
        "system_prompt": args.system_prompt,
        "max_turns": args.max_turns,
        "permission_mode": args.permission_mode,
        "provider_config": config,
        "claude_config_dir": args.claude_config_dir,
        "extra_env": env or None,
        "turn_timeout": args.turn_timeout,
        "idle_timeout": args.idle_timeout,
        "max_cost_usd": args.max_cost,
        "max_tokens": args.max_tokens,
        "record": args.record,
    }
