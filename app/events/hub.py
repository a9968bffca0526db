"""Fan-out of the claim event log to live subscribers.

A notification only wakes the hub; the log is the truth. On each wake the hub reads every event after the last
one it dispatched (ids follow commit order, see services/claims.py) and offers each to the subscribers whose
filter accepts it. A lost notification costs nothing but latency: the hub also polls, and catches up on start
and after its PostgreSQL listener reconnects.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events.log import LoggedEvent, events_after, last_event_id

log = logging.getLogger("mci.events")
BATCH = 500


class SlowConsumer(Exception):
    """The subscriber's buffer overflowed: it must resume from the cursor of the last event it received."""


class GoingAway(Exception):
    """The server is shutting down: the subscriber should resume elsewhere from the last cursor it received."""


class Subscriber:
    def __init__(self, accepts: Callable[[LoggedEvent], bool], capacity: int, start_after: int) -> None:
        self.accepts = accepts
        self.start_after = start_after  # events up to this id came before the subscription: replay them
        self.overflowed = False
        self.closed = False
        self._queue: asyncio.Queue[LoggedEvent | None] = asyncio.Queue(capacity)  # None: closed

    def offer(self, event: LoggedEvent) -> None:
        if self.overflowed or self.closed or not self.accepts(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = (
                True  # what is buffered is still delivered; then the subscriber is told to resume
            )

    async def next(self) -> LoggedEvent:
        if self.closed:
            raise GoingAway
        if self.overflowed and self._queue.empty():
            raise SlowConsumer
        event = await self._queue.get()
        if event is None:
            raise GoingAway
        return event

    def close(self) -> None:
        """Make `next()` raise GoingAway at once; what is buffered is dropped (the client resumes from its cursor)."""
        self.closed = True
        if self._queue.empty():  # wake a waiting `next()`; a non-empty queue has no waiter
            self._queue.put_nowait(None)


class SharedResults:
    """One computation per (group, event), awaited by every subscriber of the group.

    A group is the subscribers that would compute the same bytes for an event: the same document, variables and
    visibility (see resolvers/subscriptions.py). Each event's result is computed when the first of them reaches
    it, with fresh loaders, so it shows the claim as it is at delivery; only the last `keep` events of a group are
    kept, and a group is dropped with its last member."""

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self.computed = 0  # for tests and metrics: how many results were computed (not shared)
        self._results: dict[Hashable, dict[int, asyncio.Future[str]]] = {}
        self._members: Counter[Hashable] = Counter()

    def join(self, group: Hashable) -> None:
        self._members[group] += 1

    def leave(self, group: Hashable) -> None:
        self._members[group] -= 1
        if self._members[group] <= 0:
            del self._members[group]
            self._results.pop(group, None)

    def get(
        self, group: Hashable, event_id: int, compute: Callable[[], Awaitable[str]]
    ) -> asyncio.Future[str]:
        results = self._results.setdefault(group, {})
        found = results.get(event_id)
        if found is None or (found.done() and (found.cancelled() or found.exception() is not None)):
            # A task of its own: a subscriber cancelled while waiting does not cancel it for the others.
            found = asyncio.ensure_future(compute())
            results[event_id] = found
            self.computed += 1
            while len(results) > self.keep:
                del results[min(results)]
        return found


class EventHub:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], poll_seconds: float = 5.0) -> None:
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self.last_id = 0
        self.dispatched = 0  # events handed to subscribers, for metrics
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closing = False
        self._none_left = asyncio.Event()
        self.shared = SharedResults()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def close_all(self) -> None:
        """Shutting down: end every subscriber's stream (and any opened from now on) with GoingAway."""
        self.closing = True
        for subscriber in list(self._subscribers):
            subscriber.close()
        if not self._subscribers:
            self._none_left.set()

    async def wait_closed(self) -> None:
        """After `close_all()`: until every subscriber has unsubscribed."""
        await self._none_left.wait()

    async def start(self) -> None:
        async with self.sessions() as session:
            self.last_id = await last_event_id(session)
        self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    def subscribe(self, accepts: Callable[[LoggedEvent], bool], capacity: int) -> Subscriber:
        subscriber = Subscriber(accepts, capacity, start_after=self.last_id)
        self._subscribers.add(subscriber)
        if self.closing:
            subscriber.close()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if self.closing and not self._subscribers:
            self._none_left.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception:  # the next wake or poll retries from the same place
                log.exception("reading the claim event log failed")
                await asyncio.sleep(1)

    async def catch_up(self) -> None:
        while True:
            async with self.sessions() as session:
                events = await events_after(session, self.last_id, BATCH)
            for event in events:
                for subscriber in list(self._subscribers):
                    subscriber.offer(event)
                self.last_id = event.id
                self.dispatched += 1
            if len(events) < BATCH:
                return
