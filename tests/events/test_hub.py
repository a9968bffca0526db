"""The event hub on a real database: dispatch by filter, the replay seam, and slow consumers told to resume."""

import pytest

from app.events.hub import EventHub, SlowConsumer
from app.models import Claim, ClaimEvent
from tests.events.scene import NOW, reference


async def _claim(session) -> Claim:
    location, engagement, customer = await reference(session)
    claim = Claim(
        claim_number="C26-TEST",
        partner_id=customer.partner_id,
        location_pk=location.id,
        engagement_id=engagement.id,
        customer_id=customer.id,
        friendly_name="F",
        id_type="TPID",
        id_value="1",
        limit_key="TPID:1",
        status="CUSTOMER_CLAIMED",
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(claim)
    await session.flush()
    return claim


async def _append(database, claim: Claim, count: int) -> None:
    async with database.sessions() as session, session.begin():
        for _ in range(count):
            session.add(
                ClaimEvent(
                    claim_id=claim.id,
                    engagement_id=claim.engagement_id,
                    partner_id=claim.partner_id,
                    action="RESEND_CONSENT",
                    from_status="X",
                    to_status="X",
                    actor_kind="SYSTEM",
                    occurred_at=NOW,
                )
            )


async def test_dispatch_filters_and_slow_consumers(empty_database):
    database = empty_database
    async with database.sessions() as session, session.begin():
        claim = await _claim(session)
    await _append(database, claim, 2)
    hub = EventHub(database.sessions, poll_seconds=3600)
    await hub.start()
    try:
        assert hub.last_id >= 2  # starts after what was already there: that is replay's job
        everything = hub.subscribe(lambda _event: True, capacity=100)
        nothing = hub.subscribe(lambda event: event.event.partner_id != claim.partner_id, capacity=100)
        slow = hub.subscribe(lambda _event: True, capacity=2)
        assert everything.start_after == hub.last_id
        await _append(database, claim, 5)
        await hub.catch_up()
        received = [await everything.next() for _ in range(5)]
        assert [e.id for e in received] == sorted(e.id for e in received)
        assert all(e.id > everything.start_after for e in received)
        assert nothing._queue.empty()
        # The slow one keeps what it buffered, in order, then is told to resume from there.
        kept = [await slow.next(), await slow.next()]
        assert [e.id for e in kept] == [e.id for e in received[:2]]
        with pytest.raises(SlowConsumer):
            await slow.next()
        hub.unsubscribe(slow)
        assert hub.subscriber_count == 2
    finally:
        await hub.stop()
