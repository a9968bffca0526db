"""What one server process holds: settings, the clock, the database and the token verifier."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app import db
from app.auth import TokenVerifier
from app.clock import Clock
from app.config import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=Clock)
    verifier: TokenVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.verifier = TokenVerifier(self.settings)

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> "Runtime":
        engine = db.create_engine(settings.database_url)
        return cls(
            settings=settings, engine=engine, sessions=db.session_factory(engine), clock=clock or Clock()
        )

    async def close(self) -> None:
        await self.engine.dispose()
