from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import EngagementType as E
from app.domain.timelines import DEFAULT_TIMELINES, Timeline, days_remaining, deadline, timeline_for

T0 = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("engagement_type", "days"),
    [
        (E.ASSESSMENT, (30, 60, 90, 30)),
        (E.WORKSHOP, (30, 90, 120, 30)),
        (E.PROJECT_XS, (30, 120, 150, 30)),
        (E.PROJECT_S, (30, 120, 150, 30)),
        (E.PROJECT_M, (30, 200, 230, 30)),
        (E.PROJECT_L, (30, 260, 290, 30)),
        (E.PROJECT_XL, (30, 260, 290, 30)),
        (E.PROJECT_XXL, (30, 260, 290, 30)),
    ],
)
def test_default_timelines_follow_the_table(engagement_type: E, days: tuple[int, int, int, int]) -> None:
    assert DEFAULT_TIMELINES[engagement_type] == Timeline(*days)
    assert timeline_for(engagement_type) == Timeline(*days)


def test_every_engagement_type_has_a_timeline() -> None:
    assert set(DEFAULT_TIMELINES) == set(E)


def test_overrides_win_when_given() -> None:
    assert timeline_for(E.WORKSHOP, submit_days=45) == Timeline(30, 45, 120, 30)
    assert timeline_for(E.WORKSHOP, consent_days=7, review_days=100, dispute_days=14) == Timeline(
        7, 90, 100, 14
    )
    assert timeline_for(E.WORKSHOP, None, None, None, None) == DEFAULT_TIMELINES[E.WORKSHOP]


def test_a_timeline_step_takes_at_least_a_day() -> None:
    with pytest.raises(ValueError, match="submit_days"):
        timeline_for(E.WORKSHOP, submit_days=0)


def test_deadline_is_start_plus_whole_days_in_utc() -> None:
    assert deadline(T0, 30) == datetime(2025, 4, 29, 0, 30, tzinfo=UTC)
    # An instant given in another zone: N x 24 h later, returned in UTC (no daylight-saving shift).
    paris = timezone(timedelta(hours=1))
    start = datetime(2025, 3, 29, 12, 0, tzinfo=paris)
    assert deadline(start, 1) == datetime(2025, 3, 30, 11, 0, tzinfo=UTC)
    assert deadline(start, 1).tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(datetime(2025, 1, 1), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        days_remaining(T0, datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (timedelta(days=30), 30),
        (timedelta(days=29, hours=1), 30),
        (timedelta(seconds=1), 1),
        (timedelta(microseconds=1), 1),
        (timedelta(0), 0),
        (timedelta(days=-3), 0),
    ],
)
def test_days_remaining_rounds_up_and_stops_at_zero(left: timedelta, expected: int) -> None:
    assert days_remaining(T0 + left, T0) == expected


@settings(max_examples=100)
@given(st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)))
def test_days_remaining_brackets_the_time_left(left: timedelta) -> None:
    days = days_remaining(T0 + left, T0)
    if left <= timedelta(0):
        assert days == 0
    else:
        assert timedelta(days=days - 1) < left <= timedelta(days=days)
