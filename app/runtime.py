"""What one server process holds: settings, the clock, the database, the token verifier, and the background work
(mail delivery, the deadline sweeper)."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import db
from app.auth import TokenVerifier
from app.clock import Clock
from app.config import Settings
from app.mail import MailSender
from app.services import expiry

log = logging.getLogger("mci.sweeper")


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=Clock)
    verifier: TokenVerifier = field(init=False)
    mail_sender: MailSender = field(init=False)
    _sweeper: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.verifier = TokenVerifier(self.settings)
        self.mail_sender = MailSender(self.sessions, self.settings, self.clock)

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> "Runtime":
        engine = db.create_engine(settings.database_url)
        return cls(
            settings=settings, engine=engine, sessions=db.session_factory(engine), clock=clock or Clock()
        )

    async def _sweep_forever(self) -> None:
        while True:
            try:
                expired = await expiry.expire_due(self.sessions, self.clock.now())
                if expired:
                    log.info("expired %d claims past their deadline", expired)
            except Exception:  # keep sweeping: the next round retries whatever failed
                log.exception("deadline sweep failed")
            await asyncio.sleep(self.settings.sweep_interval_seconds)

    def start(self) -> None:
        """Start the background work of a serving process."""
        self.mail_sender.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="deadline-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.mail_sender.stop()
        await self.engine.dispose()
