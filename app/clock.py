"""The one clock. Everything that needs "now" asks it, so tests and the sandbox test clock can move time."""

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock UTC plus an offset; the offset only ever moves forward (sandbox test clock)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance_days(self, days: int) -> datetime:
        return self.advance(timedelta(days=days))

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self.offset += delta
        return self.now()
