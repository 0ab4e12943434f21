"""Who receives a session's messages: callbacks, iterators, and the backlog in between.

One :class:`Consumers` per session. The session's stdout thread hands it each batch
(:meth:`Consumers.deliver`) and each status change (:meth:`Consumers.report`); it
calls the callbacks in order on that thread, with no lock held, and feeds every open
iterator. While a session has neither a callback nor an open iterator its messages
collect in a *backlog*, which the next iterator receives first, so that
``start_session()`` followed by ``iter_messages()`` misses nothing.

Memory is bounded in bytes (a batch is charged the runner output it was made from):

* an open iterator that is not read gives *back-pressure*: once it holds
  ``max_buffered_bytes`` the stdout thread waits for it, the pipe fills and the
  runner waits too; nothing is lost;
* the backlog keeps at most ``max_buffered_bytes`` (and ``backlog_messages``
  messages): beyond that the oldest messages are dropped, counted, and one warning
  is logged.

An exception raised by a callback (any ``BaseException``: a ``KeyboardInterrupt`` or
``SystemExit`` raised in user code belongs to that code, not to the reader thread)
is logged with the callback's repr and the reader goes on.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Final

from .errors import WaitTimeoutError
from .messages import AgentMessage

__all__ = ["MessageCallback", "StatusCallback", "Consumers", "MessageIterator"]

log = logging.getLogger("sidecar_sync.session")

MessageCallback = Callable[[str, "list[AgentMessage]"], Any]
StatusCallback = Callable[[str, str, "str | None"], Any]

_END: Final = object()  # iterator sentinel: the turn (or the session) is over


class _Subscription:
    """The queue behind one iterator: batches in, bounded in bytes, closable from either side."""

    __slots__ = ("_cond", "_items", "_bytes", "_closed", "_ended", "_limit", "until_final")

    def __init__(self, limit: int, until_final: bool) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: collections.deque[Any] = collections.deque()
        self._bytes = 0
        self._closed = False  # the consumer left: discard everything
        self._ended = False  # the end marker was queued: nothing more comes
        self._limit = limit
        self.until_final = until_final

    def put(self, messages: list[AgentMessage], nbytes: int) -> None:
        # Back-pressure: a slow iterator slows the stdout thread (and so the runner)
        # instead of growing without bound. close() always releases a waiting put.
        with self._cond:
            while self._bytes >= self._limit and self._items and not self._closed:
                self._cond.wait()
            if not self._closed:
                self._items.append((messages, nbytes))
                self._bytes += nbytes
                self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            if not self._closed and not self._ended:
                self._ended = True
                self._items.append(_END)
                self._cond.notify_all()

    def get(self, timeout: float | None) -> Any:
        """The next batch or ``_END``; raises TimeoutError after ``timeout`` seconds."""
        with self._cond:
            if (
                not self._items
                and not self._closed
                and not self._cond.wait_for(lambda: self._items or self._closed, timeout)
            ):
                raise TimeoutError
            if not self._items:
                return _END
            item = self._items.popleft()
            if item is not _END:
                self._bytes -= item[1]
                self._cond.notify_all()
                return item[0]
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()


def _unsubscribe(owner_pid: int, owner: Consumers, subscription: _Subscription) -> None:
    """An iterator's finalizer: unsubscribe, except in a forked child.

    A forked child runs it at its exit (atexit) or when it closes the iterator; the
    subscription is the parent's, and its locks may have been held by another thread
    at the fork, never to be released in the child: taking them would hang it.
    """
    if os.getpid() == owner_pid:
        owner.unsubscribe(subscription)


class MessageIterator(Iterator[AgentMessage]):
    """Yields a session's messages; see :meth:`SidecarManager.iter_messages`.

    It ends (``StopIteration``) when the current turn is over — the session is idle,
    in error, or final, and every message before that was yielded — or, once a stop
    was requested, at the final status. ``timeout`` bounds the wait for each next
    message. Close it (or use it as a context manager, or just let it go) to
    unsubscribe.
    """

    def __init__(self, session_id: str, owner: Consumers, subscription: _Subscription, timeout: float | None) -> None:
        self._session_id = session_id
        self._subscription = subscription
        self._timeout = timeout
        self._batch: list[AgentMessage] = []
        self._index = 0
        self._done = False
        # Unsubscribes when closed or garbage-collected; never references self.
        self._finalizer = weakref.finalize(self, _unsubscribe, os.getpid(), owner, subscription)

    def __iter__(self) -> MessageIterator:
        return self

    def __next__(self) -> AgentMessage:
        while self._index >= len(self._batch):
            if self._done:
                raise StopIteration
            try:
                item = self._subscription.get(self._timeout)
            except TimeoutError:
                raise WaitTimeoutError(
                    f"session {self._session_id!r}: no message within {self._timeout:g} s"
                ) from None
            if item is _END:
                self.close()
                raise StopIteration
            self._batch, self._index = item, 0
        message = self._batch[self._index]
        self._index += 1
        return message

    def close(self) -> None:
        """Stop iterating and unsubscribe (idempotent)."""
        self._done = True
        self._batch, self._index = [], 0
        self._finalizer()

    def __enter__(self) -> MessageIterator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Consumers:
    """The callbacks, iterators and backlog of one session.

    Args:
        session_id: names the session in callbacks and logs.
        message_callbacks, status_callbacks: consumers attached at start.
        backlog_messages: most messages kept while nobody consumes them (0: none).
        max_buffered_bytes: most bytes held by the backlog, and by each iterator
            before it pushes back.
    """

    def __init__(
        self,
        session_id: str,
        *,
        message_callbacks: tuple[MessageCallback, ...] = (),
        status_callbacks: tuple[StatusCallback, ...] = (),
        backlog_messages: int,
        max_buffered_bytes: int,
    ) -> None:
        self.session_id = session_id
        self._max_bytes = max_buffered_bytes
        self._backlog_messages = backlog_messages
        # _lock guards everything below; _idle is notified when a delivery ends.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._message_callbacks = message_callbacks
        self._status_callbacks = status_callbacks
        self._subscriptions: tuple[_Subscription, ...] = ()
        self._backlog: collections.deque[tuple[list[AgentMessage], int]] = collections.deque()
        self._backlog_count = 0
        self._backlog_bytes = 0
        self._dropped = 0
        self._detached = False
        self._delivering: threading.Thread | None = None

    # -- the stdout thread ---------------------------------------------------------------

    def deliver(self, messages: list[AgentMessage], nbytes: int) -> None:
        """Hand one batch to every consumer, in order (stdout thread)."""
        with self._lock:
            if self._detached:
                return
            subscriptions = self._subscriptions
            callbacks = self._message_callbacks
            if not subscriptions and not callbacks:
                self._keep(messages, nbytes)
                return
            self._delivering = threading.current_thread()
        try:
            for subscription in subscriptions:
                subscription.put(messages, nbytes)
            session_id = self.session_id
            for callback in callbacks:
                if self._detached:
                    break
                try:
                    callback(session_id, messages)
                except BaseException:  # noqa: BLE001 - user code must not stop the reader
                    log.exception("session %r: message callback %r raised", session_id, callback)
        finally:
            self._done_delivering()

    def report(self, status: str, error: str | None) -> None:
        """Tell every status callback about a status change (stdout thread)."""
        with self._lock:
            if self._detached:
                return
            callbacks = self._status_callbacks
            self._delivering = threading.current_thread()
        try:
            for callback in callbacks:
                if self._detached:
                    break
                try:
                    callback(self.session_id, status, error)
                except BaseException:  # noqa: BLE001 - user code must not stop the reader
                    log.exception("session %r: status callback %r raised", self.session_id, callback)
        finally:
            self._done_delivering()

    def end_iterators(self, *, final: bool) -> None:
        """End the open iterators: those following the turn, or (``final``) all of them.

        An ended iterator no longer receives anything, so later messages go to the
        other consumers or the backlog, never into an iterator that is done.
        """
        with self._lock:
            ending = [s for s in self._subscriptions if final or not s.until_final]
            self._subscriptions = tuple(s for s in self._subscriptions if s not in ending)
        for subscription in ending:
            subscription.end()

    def _keep(self, messages: list[AgentMessage], nbytes: int) -> None:
        """Backlog a batch nobody consumes; drop the oldest beyond the bounds. Lock held."""
        if self._backlog_messages <= 0:
            self._note_dropped(len(messages))
            return
        backlog = self._backlog
        backlog.append((messages, nbytes))
        self._backlog_count += len(messages)
        self._backlog_bytes += nbytes
        while len(backlog) > 1 and self._backlog_bytes > self._max_bytes:  # whole batches, the newest kept
            old, size = backlog.popleft()
            self._backlog_count -= len(old)
            self._backlog_bytes -= size
            self._note_dropped(len(old))
        excess = self._backlog_count - self._backlog_messages
        while excess > 0:  # exactly the oldest messages beyond the count
            old, size = backlog[0]
            if len(old) <= excess:
                backlog.popleft()
                cut, kept_bytes = len(old), 0
            else:
                cut, kept_bytes = excess, size * (len(old) - excess) // len(old)
                backlog[0] = (old[excess:], kept_bytes)
            self._backlog_count -= cut
            self._backlog_bytes -= size - kept_bytes
            self._note_dropped(cut)
            excess -= cut

    def _note_dropped(self, count: int) -> None:
        if not self._dropped:
            log.warning(
                "session %r: nobody consumes its messages; dropping the oldest beyond %d messages or %d bytes",
                self.session_id,
                self._backlog_messages,
                self._max_bytes,
            )
        self._dropped += count

    def _done_delivering(self) -> None:
        with self._lock:
            self._delivering = None
            self._idle.notify_all()

    # -- other threads ---------------------------------------------------------------------

    def add_message_callback(self, callback: MessageCallback) -> None:
        """Call ``callback(session_id, messages)`` for every later batch."""
        with self._lock:
            self._message_callbacks += (callback,)

    def add_status_callback(self, callback: StatusCallback) -> None:
        """Call ``callback(session_id, status, error)`` for every later status change."""
        with self._lock:
            self._status_callbacks += (callback,)

    def subscribe(self, timeout: float | None, *, turn_over: bool, until_final: bool) -> MessageIterator:
        """An iterator over the messages from now on, starting with the backlog.

        Args:
            timeout: the longest wait for each next message.
            turn_over: the turn is already over: the iterator yields the backlog and ends.
            until_final: follow the session to its final status, not just this turn.
        """
        subscription = _Subscription(self._max_bytes, until_final)
        with self._lock:
            if self._backlog:
                for messages, _ in self._backlog:
                    subscription.put(messages, 0)  # already held: it costs the iterator nothing more
                self._backlog.clear()
                self._backlog_count = self._backlog_bytes = 0
            if self._detached or turn_over:
                subscription.end()
            else:
                self._subscriptions += (subscription,)
        return MessageIterator(self.session_id, self, subscription, timeout)

    def unsubscribe(self, subscription: _Subscription) -> None:
        """Remove one iterator's queue (its iterator was closed or collected)."""
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
        subscription.close()

    def detach(self, timeout: float = 0.0) -> bool:
        """Deliver nothing more: end every iterator, drop the backlog, call no callback again.

        Waits up to ``timeout`` seconds for a callback that is running right now to
        return (never when called from the thread that runs it).

        Returns:
            True if no callback of this session is running any more.
        """
        with self._lock:
            self._detached = True
            subscriptions, self._subscriptions = self._subscriptions, ()
            self._backlog.clear()
            self._backlog_count = self._backlog_bytes = 0
        for subscription in subscriptions:
            subscription.close()
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._delivering is not None and self._delivering is not threading.current_thread():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close_iterators(self) -> None:
        """End every open iterator at once (shutdown); they stop waiting."""
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, ()
        for subscription in subscriptions:
            subscription.close()

    @property
    def dropped_messages(self) -> int:
        """Messages dropped from a full backlog."""
        return self._dropped

    @property
    def detached(self) -> bool:
        """True once :meth:`detach` was called."""
        return self._detached
