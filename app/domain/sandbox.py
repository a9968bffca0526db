"""The sandbox test clock (DOMAIN.md, Decision): one clock for the whole sandbox, moved only forward, only by an
`INCENTIVES_ADMIN`, by 1 to 400 days a call, and never past 2100-01-01."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from app.domain.access import RoleGrant
from app.domain.enums import IncentivesRole

MIN_ADVANCE_DAYS = 1
MAX_ADVANCE_DAYS = 400
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def may_move_clock(grants: Iterable[RoleGrant]) -> bool:
    """An INCENTIVES_ADMIN (of the account or of a location): the clock is every partner's, not a user's."""
    return any(grant.role is IncentivesRole.INCENTIVES_ADMIN for grant in grants)


def days_problem(days: int) -> str | None:
    """Why a move by `days` is refused before looking at the clock, or None."""
    if MIN_ADVANCE_DAYS <= days <= MAX_ADVANCE_DAYS:
        return None
    return f"Move the clock by {MIN_ADVANCE_DAYS} to {MAX_ADVANCE_DAYS} days."


def moved_too_far(moved_to: datetime) -> str | None:
    """Why the clock may not stand at `moved_to`, or None."""
    if moved_to <= LATEST:
        return None
    return f"The test clock never goes past {LATEST:%Y-%m-%d}; it would be at {moved_to:%Y-%m-%d}."


def largest_offset(wall: datetime) -> timedelta:
    """The largest offset the clock may carry at this wall-clock instant (what keeps it at or before LATEST)."""
    return max(LATEST - wall, timedelta(0))
