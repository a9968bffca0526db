"""PostgreSQL LISTEN/NOTIFY: every server process on one database hears every claim change.

The NOTIFY is sent inside the transaction that appends the event, so it is delivered only if that transaction
commits. The payload is the event id only; the hub reads the event from the log.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("mci.events")
CHANNEL = "mci_claim_events"
LISTENER_NAME = "mci-event-listener"  # application_name of the LISTEN connection, for operators


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PostgresListener:
    """Holds one LISTEN connection, reconnecting with backoff; `on_wake` runs on every notification and after
    every (re)connection, so the hub catches up with what it missed while away."""

    def __init__(self, database_url: str, on_wake: Callable[[], None], health_seconds: float = 5.0) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.on_wake = on_wake
        self.health_seconds = health_seconds
        self.listening = False
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = 0.1
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(
                    self.dsn, timeout=10, server_settings={"application_name": LISTENER_NAME}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, lambda *_args: self.on_wake())
                self.listening = True
                delay = 0.1
                self.on_wake()  # catch up with whatever committed while we were not listening
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self.health_seconds)
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1", timeout=self.health_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the connection dropped or never came: retry
                log.warning("claim event listener lost its connection (%s); reconnecting", error)
            finally:
                self.listening = False
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
