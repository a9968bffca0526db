"""What one server process holds: settings, the clock, the database, the token verifier, and the background work
(mail delivery, the deadline sweeper, the claim event hub and its PostgreSQL listener)."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import db
from app.auth import TokenVerifier
from app.clock import Clock
from app.config import Settings
from app.events.hub import EventHub
from app.events.postgres import PostgresListener
from app.mail import MailSender
from app.services import expiry, sandbox
from app.services.customers_page import TabJudgements

log = logging.getLogger("mci.sweeper")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=Clock)
    verifier: TokenVerifier = field(init=False)
    mail_sender: MailSender = field(init=False)
    hub: EventHub = field(init=False)
    judgements: TabJudgements = field(default_factory=TabJudgements, init=False)  # Customers page totals
    deadlines: expiry.DeadlineWatch = field(default_factory=expiry.DeadlineWatch, init=False)
    latest_committed_event: int = field(
        default=0, init=False
    )  # the latest claim event this process committed
    listener: PostgresListener | None = field(default=None, init=False)
    draining: bool = field(default=False, init=False)  # shutting down: not ready, subscriptions closed
    # For metrics: sweeper rounds, the failed ones, and the claims they expired.
    sweeps: int = field(default=0, init=False)
    sweep_failures: int = field(default=0, init=False)
    swept: int = field(default=0, init=False)
    _sweeper: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.verifier = TokenVerifier(self.settings)
        self.mail_sender = MailSender(self.sessions, self.settings, self.clock)
        self.hub = EventHub(self.sessions, poll_seconds=self.settings.event_poll_seconds)
        if not self.settings.is_sqlite:
            self.listener = PostgresListener(self.settings.database_url, self.hub.wake)

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> "Runtime":
        engine = db.create_engine(
            settings.database_url,
            hide_parameters=settings.env == "production",
            statement_timeout=settings.db_statement_timeout_seconds,
            command_timeout=settings.db_command_timeout_seconds,
        )
        # A commit that appended claim events wakes this process's hub (the closure sees `runtime` once made).
        sessions = db.session_factory(
            engine, after_events_commit=lambda latest: runtime._events_committed(latest)
        )
        runtime = cls(settings=settings, engine=engine, sessions=sessions, clock=clock or Clock())
        return runtime

    def _events_committed(self, latest: int) -> None:
        self.latest_committed_event = max(self.latest_committed_event, latest)
        self.hub.wake()

    async def sync_clock(self) -> None:
        """Sandbox: take up the shared test clock (another process may have moved it); production has none."""
        if self.settings.sandbox:
            await sandbox.sync(self.sessions, self.clock)

    async def now(self) -> datetime:
        """The time, on the shared sandbox clock: for the paths outside GraphQL (the consent page)."""
        await self.sync_clock()
        return self.clock.now()

    async def apply_passed_deadlines(self) -> int:
        """Before every operation (any transport): take up the shared sandbox clock, then expire the claims whose
        deadline passed, asking the database only when one can have: the deadline watch holds while no later
        claim event is known, committed by this process (known at its commit) or by another (the hub's last
        event, from LISTEN/NOTIFY or its poll)."""
        await self.sync_clock()
        mark = max(self.hub.last_id, self.latest_committed_event)
        return await expiry.expire_due(self.sessions, self.clock.now(), watch=self.deadlines, mark=mark)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sync_clock()
                expired = await expiry.expire_due(self.sessions, self.clock.now())
                self.swept += expired
                if expired:
                    log.info("expired %d claims past their deadline", expired)
            except Exception:  # keep sweeping: the next round retries whatever failed
                self.sweep_failures += 1
                log.exception("deadline sweep failed")
            self.sweeps += 1
            await asyncio.sleep(self.settings.sweep_interval_seconds)

    async def start(self) -> None:
        """Start the background work of a serving process."""
        await self.hub.start()
        if self.listener is not None:
            self.listener.start()
        self.mail_sender.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="deadline-sweeper")

    async def drain(self, seconds: float = 5.0) -> None:
        """The first step of shutting down, before the server stops accepting: report not ready and end every
        subscription (WebSockets close with 1001, "going away", so clients resume elsewhere); waits up to
        `seconds` for them to end."""
        self.draining = True
        self.hub.close_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.hub.wait_closed(), seconds)

    async def close(self) -> None:
        self.draining = True
        self.hub.close_all()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.mail_sender.stop()
        if self.listener is not None:
            await self.listener.stop()
        await self.hub.stop()
        await self.engine.dispose()
