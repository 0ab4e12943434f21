"""``sidecar-sync run --ask``: tool approval on the terminal, asked by the main thread.

The session calls ``on_permission`` on its permission thread; a read of stdin there
could not be interrupted by Ctrl-C (Python runs signal handlers on the main thread
only). So :class:`Questions` (the callback) only queues the question and waits; the
command's main thread, which already waits for the turn in short slices and owns
stdin and the signals, asks it and hands the answer back. Ctrl-C during a question
is then the same Ctrl-C as anywhere else: the read ends, the session stops, and
:meth:`Questions.close` releases the waiting callback with a denial.

A question shows the tool and a summary of its input and takes ``y``/``N``;
Claude Code's ``AskUserQuestion`` shows each question with its numbered options and
takes a number (several, comma-separated, for a multiple choice) or free text; the
answers go back in the tool's input, where the agent reads them.
"""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Callable
from typing import Any, Final

from ..permissions import Allow, Deny, PermissionRequest
from ._render import _compact_json, shorten

__all__ = ["Questions", "Question", "describe", "ask_on_terminal", "answer_next", "say", "ASK_USER_QUESTION"]

#: Claude Code's tool for asking the user; its answers go in ``updated_input["answers"]``.
ASK_USER_QUESTION: Final = "AskUserQuestion"
#: Longest input summary shown, in characters.
INPUT_LIMIT: Final = 400
#: Longest summary, in lines.
INPUT_LINES: Final = 8

#: Reads one answer: ``read(prompt) -> text`` (stripped), or None at the end of input.
ReadAnswer = Callable[[str], "str | None"]


class Question:
    """One request waiting for the main thread's answer."""

    def __init__(self, request: PermissionRequest) -> None:
        self.request = request
        self._answered = threading.Event()
        self._decision: Allow | Deny = Deny("The user did not answer.")

    def answer(self, decision: Allow | Deny) -> None:
        """Give the decision (first answer wins)."""
        if not self._answered.is_set():
            self._decision = decision
            self._answered.set()

    def wait(self) -> Allow | Deny:
        """Block until answered."""
        self._answered.wait()
        return self._decision


class Questions:
    """The ``on_permission`` callback of ``run --ask``: hands each request to the main thread.

    Thread safety: the callback runs on the session's permission thread; :meth:`next`
    and :meth:`close` on the main thread. One lock guards the queue.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[Question] = collections.deque()
        self._closed = False

    def __call__(self, session_id: str, request: PermissionRequest) -> Allow | Deny:
        """Queue the request and wait for the main thread's answer (permission thread)."""
        question = Question(request)
        with self._lock:
            if self._closed:
                return Deny("The command is ending; denied.")
            self._queue.append(question)
        return question.wait()

    @property
    def waiting(self) -> int:
        """How many questions wait for the main thread."""
        with self._lock:
            return len(self._queue)

    def next(self) -> Question | None:
        """The oldest unanswered question, if any (main thread; never blocks)."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def deny_pending(self, message: str) -> None:
        """Deny every queued question (the turn they belonged to is over)."""
        with self._lock:
            waiting = list(self._queue)
            self._queue.clear()
        for question in waiting:
            question.answer(Deny(message))

    def close(self) -> None:
        """Deny what is queued and every later request: the command is ending."""
        with self._lock:
            self._closed = True
        self.deny_pending("The command is ending; denied.")


def answer_next(questions: Questions | None, read: ReadAnswer) -> bool:
    """Ask the user the next waiting question, if any (main thread); True if one was asked.

    Raises:
        Interrupted: a signal came during the question (which is denied on the way out).
    """
    question = questions.next() if questions is not None else None
    if question is None:
        return False
    try:
        question.answer(ask_on_terminal(question.request, read, say))
    except BaseException:
        say("")  # a signal ended the question: what follows starts on a line of its own
        raise
    finally:
        question.answer(Deny("No answer; denied."))  # unanswered (a signal): deny it
    return True


def say(text: str) -> None:
    """Show one line of a question on stderr."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # the terminal hung up; the read of the answer says so


def describe(request: PermissionRequest) -> str:
    """The question's heading: the tool and a summary of its input (one or a few lines)."""
    command = request.input.get("command")
    shown = command if request.tool_name == "Bash" and isinstance(command, str) else _compact_json(request.input)
    return f"? {request.tool_name} wants to run: {shorten(shown, INPUT_LIMIT, INPUT_LINES)}"


def ask_on_terminal(request: PermissionRequest, read: ReadAnswer, say: Callable[[str], None]) -> Allow | Deny:
    """Ask the user about one request; the decision.

    Args:
        request: what the agent asks.
        read: reads one answer line after showing its prompt; None at end of input.
            May raise (a signal ends the read): the caller releases the question.
        say: shows a line to the user.
    """
    if request.tool_name == ASK_USER_QUESTION and isinstance(request.input.get("questions"), list):
        return _ask_user_question(request, read, say)
    say(describe(request))
    reply = read("  allow? [y/N] ")
    if reply is not None and reply.lower() in ("y", "yes"):
        return Allow()
    return Deny("The user denied this tool use.")


def _ask_user_question(request: PermissionRequest, read: ReadAnswer, say: Callable[[str], None]) -> Allow | Deny:
    """Claude Code's AskUserQuestion: each question with its options; answers in ``updated_input``."""
    answers: dict[str, str] = {}
    for item in request.input["questions"]:
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            continue
        text: str = item["question"]
        header = item.get("header")
        say(f"? {header}: {text}" if isinstance(header, str) and header else f"? {text}")
        labels = _option_labels(item.get("options"), say)
        many = item.get("multiSelect") is True
        hint = "numbers, comma-separated" if many else "a number"
        reply = read(f"  answer ({hint} or text; empty to refuse): " if labels else "  answer (empty to refuse): ")
        if not reply:
            return Deny("The user did not answer the question.")
        answers[text] = _chosen(reply, labels)
    if not answers:
        return Deny("The question could not be shown.")
    return Allow({**request.input, "answers": answers})


def _option_labels(options: Any, say: Callable[[str], None]) -> list[str]:
    labels: list[str] = []
    if not isinstance(options, list):
        return labels
    for option in options:
        if isinstance(option, dict) and isinstance(option.get("label"), str):
            label: str = option["label"]
            labels.append(label)
            description = option.get("description")
            detail = f" — {description}" if isinstance(description, str) and description else ""
            say(f"  {len(labels)}) {label}{detail}")
    return labels


def _chosen(reply: str, labels: list[str]) -> str:
    """The label(s) a reply picks by number, or the reply itself as free text."""
    picked = []
    for part in reply.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= len(labels):
            return reply
        picked.append(labels[int(part) - 1])
    return ", ".join(picked)
