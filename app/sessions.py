"""Live sessions: each WebSocket connection and each Server-Sent Events stream, bound to the token that opened it.

A session keeps its token's identity only until the token's `exp`: an operation sent after it is refused, and the
session ends at `exp` (a timer; the transport closes the connection or ends the stream). It also ends when an
import changes its user's roles: the registry watches the reference data's import counter (one tiny read every
`session_recheck_seconds`, in every process, whichever process ran the import) and, after an import, reads the
principal of every user with an open session again; a user whose roles, locations or account changed, who lost
every role or who is gone is disconnected (the client connects again and gets what it holds now). Reviewers hold
their rights from the token alone: only `exp` ends theirs.

The registry also caps what one user may hold in this process: `max_connections_per_user` sessions and
`max_subscriptions_per_user` subscriptions over all of them (SECURITY.md, "Sessions")."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.events.hub import Subscriber
from app.models import ReferenceDataVersion
from app.services.viewer import Principal, Reviewer, load_principal

log = logging.getLogger("mci.sessions")


@dataclass(frozen=True)
class SessionEnd:
    """Why a session ended: the error the client is told (`code`, `message`) and the WebSocket close reason."""

    code: str
    message: str
    reason: str


TOKEN_EXPIRED = SessionEnd(
    "UNAUTHENTICATED", "The session's token has expired: connect again with a new token.", "token expired"
)
ROLES_CHANGED = SessionEnd(
    "FORBIDDEN",
    "Your Incentives roles changed: connect again to act with the roles you hold now.",
    "roles changed",
)
NO_ROLE_LEFT = SessionEnd(
    "FORBIDDEN",
    "You no longer hold an Incentives role (INCENTIVES_ADMIN or INCENTIVES_USER).",
    "no Incentives role",
)
USER_GONE = SessionEnd(
    "UNAUTHENTICATED", "The token's user is no longer a partner user of this service.", "user removed"
)

CLOSE_FORBIDDEN = 4403  # graphql-transport-ws's "Forbidden"; clients may connect again (with a new token)
CLOSE_TOO_MANY = 4429  # as for "Too many initialisation requests": graphql-ws clients do not retry it


class TooMany(Exception):
    """A per-user cap refused a connection or a subscription."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Closer = Callable[[SessionEnd], Awaitable[None]]


def user_key(who: Principal | Reviewer) -> str:
    return f"reviewer:{who.email}" if isinstance(who, Reviewer) else f"partner:{who.email}"


class LiveSession:
    """One connection or stream. `closer` is the transport's: it tells the client why and closes."""

    def __init__(
        self,
        registry: "LiveSessions",
        who: Principal | Reviewer,
        expires_at: float,
        version: int | None,
        closer: Closer | None,
    ) -> None:
        self.registry = registry
        self.who = who
        self.key = user_key(who)
        self.expires_at = expires_at
        self.version = version  # the import count known when its principal was read (None: unknown)
        self.closer = closer
        self.ended: SessionEnd | None = None
        self.closed = False  # the connection ended by itself: nothing more to end
        self.done = asyncio.Event()  # set when the session ends, for transports that wait on it
        self.subscriptions = 0
        self._subscribers: set[Subscriber] = set()
        self._closing: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(
            max(0.0, expires_at - time.time()), self.end, TOKEN_EXPIRED
        )

    def refusal(self) -> SessionEnd | None:
        """Why an operation may not run on this session now, if it may not: it ended, or its token expired (even
        a moment before the timer fires)."""
        if self.ended is not None:
            return self.ended
        return TOKEN_EXPIRED if time.time() >= self.expires_at else None

    def end(self, why: SessionEnd) -> None:
        """End the session: its subscriptions stop at once, the transport tells the client and closes."""
        if self.ended is not None or self.closed:
            return
        self.ended = why
        self._timer.cancel()
        self.registry._release(self)
        for subscriber in list(self._subscribers):
            subscriber.close()  # a waiting subscription wakes and stops (see resolvers/subscriptions.py)
        self.done.set()
        log.info("session ended: %s", why.reason)
        if self.closer is not None:
            self._closing = asyncio.ensure_future(self._close(why))

    async def _close(self, why: SessionEnd) -> None:
        assert self.closer is not None
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.closer(why)

    def close(self) -> None:
        """The connection ended by itself (the client left, the server shuts down)."""
        if self.ended is None and not self.closed:
            self.closed = True
            self._timer.cancel()
            self.registry._release(self)
            self.done.set()

    def subscribed(self, subscriber: Subscriber) -> None:
        """A subscription starts on this session; TooMany when the user already holds its maximum."""
        if self.registry.subscriptions_of(self.key) >= self.registry.max_subscriptions:
            raise TooMany(
                "TOO_MANY_SUBSCRIPTIONS",
                f"You already hold {self.registry.max_subscriptions} open subscriptions, the most one user may: "
                "complete one first.",
            )
        self.subscriptions += 1
        self._subscribers.add(subscriber)
        if self.ended is not None:
            subscriber.close()

    def unsubscribed(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            self.subscriptions -= 1


class LiveSessions:
    """Every open session of this process, by user."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.max_connections = settings.max_connections_per_user
        self.max_subscriptions = settings.max_subscriptions_per_user
        self.recheck_seconds = settings.session_recheck_seconds
        self._db = sessions
        self._by_user: dict[str, set[LiveSession]] = {}
        self.version: int | None = None  # the reference data's import count, last read
        self.rechecks = 0  # rounds that read principals again (tests, metrics)
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    def open(
        self, who: Principal | Reviewer, expires_at: float, version: int | None, closer: Closer | None
    ) -> LiveSession:
        """A new session for `who`, until `expires_at` (epoch seconds); TooMany when the user holds its maximum.
        `version`: the import count read before `who` was (`self.version` then)."""
        key = user_key(who)
        held = self._by_user.setdefault(key, set())
        if len(held) >= self.max_connections:
            if not held:
                del self._by_user[key]
            raise TooMany(
                "TOO_MANY_CONNECTIONS",
                f"You already hold {self.max_connections} open connections, the most one user may: close one "
                "first.",
            )
        session = LiveSession(self, who, expires_at, version, closer)
        held.add(session)
        return session

    def _release(self, session: LiveSession) -> None:
        held = self._by_user.get(session.key)
        if held is not None:
            held.discard(session)
            if not held:
                del self._by_user[session.key]

    def subscriptions_of(self, key: str) -> int:
        return sum(s.subscriptions for s in self._by_user.get(key, ()))

    def connections_of(self, key: str) -> int:
        return len(self._by_user.get(key, ()))

    # ------------------------------------------------------------------------------- role changes by imports

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # the database may be away; the first round reads it then
            self.version = await self._read_version()
        self._task = asyncio.create_task(self._watch(), name="session-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_version(self) -> int:
        async with self._db() as session:
            found = await session.execute(
                select(ReferenceDataVersion.version).where(ReferenceDataVersion.id == 1)  # type: ignore[arg-type]
            )
            return int(found.scalar_one_or_none() or 0)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_seconds)
            try:
                await self.recheck()
            except Exception as error:  # the next round tries again; sessions are kept meanwhile
                log.warning("re-checking open sessions failed (%s); retrying", type(error).__name__)

    async def recheck(self) -> None:
        """After an import (the counter moved), read again the principal of every partner session opened before
        it, and end those whose principal is not the same any more. Without partner sessions, no read at all (a
        session opened meanwhile carries the older count, so the next round checks it)."""
        if not any(isinstance(s.who, Principal) for held in self._by_user.values() for s in held):
            return
        version = await self._read_version()
        stale = [
            s
            for held in self._by_user.values()
            for s in held
            if isinstance(s.who, Principal) and s.version != version
        ]
        if not stale:
            self.version = version
            return
        self.rechecks += 1
        now: dict[str, Principal | object] = {}
        async with self._db() as db:
            for email in sorted({s.who.email for s in stale}):
                now[email] = await load_principal(db, email)
        for s in stale:
            if s.ended is not None:
                continue
            found = now[s.who.email]
            if found == s.who:
                s.version = version
            elif found is None:
                s.end(USER_GONE)
            elif isinstance(found, Principal):
                s.end(ROLES_CHANGED)
            else:
                s.end(NO_ROLE_LEFT)
        self.version = version
