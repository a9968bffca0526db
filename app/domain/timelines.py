"""Claim timelines: how many days each step may take, by engagement type, and deadline arithmetic.

DOMAIN.md: calendar days in UTC, deadline = start instant + N x 24 h; defaults by type, an engagement may
override them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from app.domain.enums import EngagementType

_DAY = timedelta(days=1)
DEFAULT_PARTNER_ACTION_DAYS = 14


@dataclass(frozen=True)
class Timeline:
    consent_days: int  # from claim creation to the customer's consent
    submit_days: int  # from consent to the first submit
    review_days: int  # from consent to the end of the review (bounds the partner's answers to the reviewer)
    dispute_days: int  # from rejection to the dispute's submit; also the window after a dispute's submit
    # Decision (DOMAIN.md): a partner-action request always leaves at least this long to answer it.
    partner_action_days: int = DEFAULT_PARTNER_ACTION_DAYS

    def __post_init__(self) -> None:
        for name in ("consent_days", "submit_days", "review_days", "dispute_days", "partner_action_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 day")


_PROJECT_SMALL = Timeline(consent_days=30, submit_days=120, review_days=150, dispute_days=30)
_PROJECT_LARGE = Timeline(consent_days=30, submit_days=260, review_days=290, dispute_days=30)

DEFAULT_TIMELINES: Mapping[EngagementType, Timeline] = MappingProxyType(
    {
        EngagementType.ASSESSMENT: Timeline(consent_days=30, submit_days=60, review_days=90, dispute_days=30),
        EngagementType.WORKSHOP: Timeline(consent_days=30, submit_days=90, review_days=120, dispute_days=30),
        EngagementType.PROJECT_XS: _PROJECT_SMALL,
        EngagementType.PROJECT_S: _PROJECT_SMALL,
        EngagementType.PROJECT_M: Timeline(
            consent_days=30, submit_days=200, review_days=230, dispute_days=30
        ),
        EngagementType.PROJECT_L: _PROJECT_LARGE,
        EngagementType.PROJECT_XL: _PROJECT_LARGE,
        EngagementType.PROJECT_XXL: _PROJECT_LARGE,
    }
)


def timeline_for(
    engagement_type: EngagementType,
    consent_days: int | None = None,
    submit_days: int | None = None,
    review_days: int | None = None,
    dispute_days: int | None = None,
    partner_action_days: int | None = None,
) -> Timeline:
    """The type's default timeline with the engagement's overrides (those not None) applied."""
    default = DEFAULT_TIMELINES[engagement_type]
    return Timeline(
        consent_days=default.consent_days if consent_days is None else consent_days,
        submit_days=default.submit_days if submit_days is None else submit_days,
        review_days=default.review_days if review_days is None else review_days,
        dispute_days=default.dispute_days if dispute_days is None else dispute_days,
        partner_action_days=default.partner_action_days
        if partner_action_days is None
        else partner_action_days,
    )


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime has no instant: comparing it with stored UTC instants would silently shift deadlines.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def deadline(start: datetime, days: int) -> datetime:
    """`start` + `days` x 24 h, in UTC."""
    _require_aware(start, "start")
    return (start + days * _DAY).astimezone(UTC)


def days_remaining(deadline: datetime, now: datetime) -> int:
    """Whole days left, rounded up (half a day left is 1); 0 once the deadline has passed."""
    _require_aware(deadline, "deadline")
    _require_aware(now, "now")
    left = deadline - now
    if left <= timedelta(0):
        return 0
    return -(-left // _DAY)  # ceiling division, exact on timedelta
