"""``sidecar-sync run``: one session rendered live, and the signals that stop it.

The main thread starts the session, waits for each turn, reads follow-up prompts
(``--interactive``) and, at the end, stops the session and prints the final line
(outcome, cost, tokens, duration). The session's reader thread writes the
messages through the ``on_message``/``on_status`` callbacks.

With ``--ask`` the main thread also asks the user, on the terminal, about each tool
the agent wants to run (:mod:`._ask`): the session's permission thread hands it the
question and waits, so a signal during the question is handled like any other.

SIGINT, SIGTERM and SIGHUP only set a flag (:mod:`._signals`). The main thread
waits in short slices, sees the flag, and stops the session cleanly: ``stop``, a
bounded wait while the manager's stop ladder escalates (SIGTERM, then SIGKILL of
the runner's process group), then a kill. A second signal kills at once. The exit
status is 128 + the signal number: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from ..errors import (
    RunnerGoneError,
    SessionNotActiveError,
    SidecarError,
    WaitTimeoutError,
)
from ..messages import AgentMessage, CostContent, ErrorContent
from ._ask import Questions, answer_next
from ._exit import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    error,
    silence_stdout,
)
from ._input import BadTextError, Prompts
from ._render import JsonWriter, Renderer, format_cost_line, one_line
from ._run_args import add_parser, session_options
from ._signals import Interrupted, Signals

if TYPE_CHECKING:
    from ..manager import SidecarManager
    from ..session import SessionState

__all__ = ["add_parser", "run_command"]

#: Seconds between two looks at the session while waiting: how soon a signal is seen.
WAIT_SLICE: Final = 0.1
#: Seconds to wait for a stopped session to end before killing it. The manager's
#: ladder sends SIGTERM after 3 s and SIGKILL 2 s later, so this bound is a safety net.
STOP_WAIT: Final = 10.0
#: Longest reason shown in the final line.
REASON_CHARS: Final = 200

_ENDED: Final = frozenset({"done", "error"})  # final statuses (with ``finished``)


# -- the session -----------------------------------------------------------------


class _Turn:
    """What the current turn's messages said; fed by the session's reader thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed = False
        self._error: str | None = None
        self.cost_known = False  # some cost message of the session carried a price

    def record(self, messages: list[AgentMessage]) -> None:
        """Note the turn's cost and error messages (the ``on_message`` side)."""
        with self._lock:
            for message in messages:
                content = message.content
                if isinstance(content, CostContent):
                    self._failed = self._failed or content.is_error
                    self.cost_known = (
                        self.cost_known or content.total_cost_usd is not None
                    )
                elif isinstance(content, ErrorContent):
                    self._error = content.message

    def reset(self) -> None:
        """A new turn begins."""
        with self._lock:
            self._failed = False
            self._error = None

    def failure(self, state: SessionState) -> str | None:
        """Why the turn failed, in the API's words, or None if it did not.

        The session's ``error`` while its runner lives (the runner reported the
        failure), else the last error message of a turn whose cost message says it failed
        (the message the adapter made of the failure).
        """
        if state.error and not state.finished:  # the turn failed; the runner lives
            return state.error
        with self._lock:
            if not self._failed:
                return None
            return self._error or "the provider reported a failed turn"


class _Run:
    """One ``sidecar-sync run``: the session, its output, and how it ended."""

    def __init__(
        self,
        args: argparse.Namespace,
        options: dict[str, Any],
        manager: SidecarManager,
        signals: Signals,
    ) -> None:
        self.args = args
        self.options = options
        self.manager = manager
        self.signals = signals
        self.session_id = f"cli-{uuid.uuid4().hex[:12]}"
        self.started = time.monotonic()
        self.turn = _Turn()
        self.prompts = Prompts(signals)
        self.renderer = (
            None if args.json else Renderer(sys.stdout, show_unknown=args.show_unknown)
        )
        self.json = JsonWriter(sys.stdout.buffer) if args.json else None
        # why writing stdout failed: its reader left, or its terminal hung up
        self.output_error: OSError | None = None
        self.state: SessionState | None = None  # the latest snapshot
        self.running = False  # a turn is under way
        self.killed = False
        # --ask: the session's permission thread queues questions for this thread
        self.questions = Questions() if getattr(args, "ask", False) else None

    # -- output (called from the session's reader thread) --

    def on_message(self, session_id: str, messages: list[AgentMessage]) -> None:
        """Note the turn's outcome, then show the messages."""
        self.turn.record(messages)
        if self.output_error is None:
            try:
                if self.json is not None:
                    self.json.messages(messages)
                elif self.renderer is not None:
                    self.renderer.messages(messages)
            except OSError as exc:
                self._output_lost(exc)

    def on_status(self, session_id: str, status: str, error: str | None) -> None:
        """Show a status change (text output only; the final line reports the end)."""
        if (
            status not in _ENDED
            and self.output_error is None
            and self.renderer is not None
        ):
            try:
                self.renderer.status(session_id, status, error)
            except OSError as exc:
                self._output_lost(exc)

    def _output_lost(self, exc: OSError) -> None:
        """stdout's reader left (``| head``) or its terminal hung up: stop."""
        self.output_error = exc
        self.signals.requested.set()

    # -- the main thread --

    def execute(self, prompt: str | None) -> int:
        """Run the session to its end; return the exit status."""
        failure: str | None = None  # why the last turn failed
        stopped: str | None = None  # why the command stopped the session early
        try:
            if prompt is None:
                prompt = self.prompts.read()
                if prompt is None:
                    return EXIT_OK
            if self.signals.requested.is_set():
                return self._interrupted()
            self.manager.start_session(
                self.session_id,
                self.args.provider,
                prompt,
                on_message=self.on_message,
                on_status=None if self.args.json else self.on_status,
                on_permission=self.questions,
                **self.options,
            )
            self.running = True
            state = self._wait_turn()
            while state is not None:
                failure = self.turn.failure(state)
                # After a failed turn the session is "error" but its runner lives: it
                # still takes prompts.
                if not self.args.interactive or state.finished:
                    break
                follow_up = self.prompts.read()
                if follow_up is None:
                    break
                self.turn.reset()
                try:
                    self.manager.write_prompt(self.session_id, follow_up)
                except (
                    SessionNotActiveError,
                    RunnerGoneError,
                    WaitTimeoutError,
                ) as exc:
                    stopped = f"cannot send the prompt: {exc}"
                    error(stopped)
                    break
                self.running = True
                state = self._wait_turn()
            if state is None:
                return self._interrupted()
        except Interrupted:
            return self._interrupted()
        except BadTextError as exc:
            stopped = str(exc)
            error(stopped)
            if self.state is None:  # no session yet
                return EXIT_FAILED
        state = self._close()
        if self.signals.signum is not None:  # it came while the session was closing
            return self._signalled(state, was_running=False)
        if self.output_error is not None:
            return self._output_status()
        return self._report(state, failure, stopped)

    def _wait_turn(self) -> SessionState | None:
        """Wait until the current turn is over.

        Returns:
            The state then, or None when a signal (or a lost stdout) came first.
        """
        while not self.signals.requested.is_set():
            if answer_next(self.questions, self.prompts.answer):
                continue
            try:
                self.state = self.manager.wait(self.session_id, timeout=WAIT_SLICE)
            except TimeoutError:
                continue
            self.running = False
            if self.questions is not None:  # asked by a turn that is over: moot
                self.questions.deny_pending("The turn is over; denied.")
            return self.state
        return None

    def _close(self) -> SessionState | None:
        """End the session if it still runs: ``stop``, a bounded wait, then a kill.

        The first signal during the wait kills at once if none came before;
        otherwise the second one does. Returns the last state seen (None if the
        session never started).
        """
        hurry = min(self.signals.count + 1, 2)
        if self.questions is not None:
            self.questions.close()
        try:
            self.manager.stop_session(self.session_id)
        except SidecarError:
            return self.state  # never started, or already removed
        deadline = time.monotonic() + STOP_WAIT
        while True:
            try:
                self.state = self.manager.wait(self.session_id, timeout=WAIT_SLICE, until="final")
                return self.state
            except TimeoutError:  # in slices, so that a second signal is seen at once
                with contextlib.suppress(SidecarError):
                    self.state = self.manager.get_session(self.session_id)
            except SidecarError:  # already removed
                return self.state
            if time.monotonic() >= deadline or self.signals.count >= hurry:
                break
        self.killed = True
        # Already gone is fine: leaving the manager's `with` kills whatever is left.
        with contextlib.suppress(SidecarError):
            self.manager.remove_session(self.session_id)
        return self.state

    def _interrupted(self) -> int:
        """A signal or a lost stdout ended the wait: stop the session, say how."""
        if self.signals.signum is None:  # stdout's reader left
            self._close()
            return self._output_status()
        started = self.state is not None or self.running
        if started:
            error(
                f"{self.signals.name}; stopping the session "
                f"({self.signals.again} again to kill it now)"
            )
        else:
            error(self.signals.name)
        was_running = self.running
        return self._signalled(self._close(), was_running)

    def _signalled(self, state: SessionState | None, was_running: bool) -> int:
        """The final line after a signal; the exit status 128 + its number.

        The reason shown is the session's error, or the API's reason for the turn
        that the stop ended (none if no turn was under way).
        """
        if state is not None and self.output_error is None:
            if state.status == "error":
                reason = state.error
            else:
                reason = self.turn.failure(state) if was_running else None
            label = self.signals.name + (", runner killed" if self.killed else "")
            self._final(state, label, reason, ok=False)
        return self.signals.exit_status

    def _output_status(self) -> int:
        """The exit status after stdout failed: 141 for a closed pipe, else 1."""
        silence_stdout()
        if isinstance(self.output_error, BrokenPipeError):
            return EXIT_BROKEN_PIPE
        reason = self.output_error.strerror if self.output_error is not None else None
        error(f"cannot write the output: {reason or 'stdout is closed'}")
        return EXIT_FAILED

    def _report(
        self, state: SessionState | None, failure: str | None, stopped: str | None
    ) -> int:
        """The final line and the exit status of a session that was not signalled."""
        if state is None:
            error("the session was removed before it ended")
            return EXIT_FAILED
        if stopped is not None:
            self._final(state, "stopped", stopped, ok=False)
            return EXIT_FAILED
        if state.status == "error" and (failure is None or state.error != failure):
            reason = state.error or "unknown reason"
            self._final(state, "session failed", reason, ok=False)
            error(f"session failed: {reason}")
            return EXIT_FAILED
        if failure is not None:
            self._final(state, "turn failed", failure, ok=False)
            error(f"the turn failed: {failure}")
            return EXIT_FAILED
        self._final(state, "done", None, ok=True)
        return EXIT_OK

    def _final(
        self, state: SessionState, label: str, reason: str | None, *, ok: bool
    ) -> None:
        """The closing line (text output only): outcome, cost, tokens, duration."""
        if self.renderer is None or self.output_error is not None:
            return
        if reason:
            label = f"{label}: {one_line(reason, REASON_CHARS)}"
        cost = state.cost_usd if self.turn.cost_known else None
        seconds = time.monotonic() - self.started
        try:
            self.renderer.final(
                format_cost_line(
                    label, cost, state.input_tokens, state.output_tokens, seconds
                ),
                ok,
            )
        except OSError as exc:
            self.output_error = exc


def run_command(args: argparse.Namespace) -> int:
    """Run one session as the command line says; return the exit status."""
    options = session_options(args)  # usage errors before anything starts
    if args.prompt is None and not args.interactive:
        raise UsageError(
            "run needs a PROMPT (or --interactive to read prompts from stdin)"
        )
    from ..manager import SidecarManager

    if not args.verbose:
        # The session logs its failure reason; the command reports it itself, once.
        logging.getLogger("sidecar_sync.session").setLevel(logging.ERROR)
        logging.getLogger("sidecar_sync.env").setLevel(logging.ERROR)  # the refusal is the error line
    with Signals() as signals, SidecarManager(claude_path=args.claude_path, codex_path=args.codex_path) as manager:
        return _Run(args, options, manager, signals).execute(args.prompt)
