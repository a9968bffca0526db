"""Event ids follow commit order (services/claims.py `apply_action`): a reader that resumes after the last id it
read never misses an event that commits later with a smaller id, however concurrent appenders interleave."""

import asyncio
import random
from datetime import UTC, datetime

from app.db import transaction
from app.domain.enums import ActorKind, ClaimAction
from app.events.log import events_after
from app.models import Claim, Customer, Engagement, PartnerAccount, PartnerLocation
from app.services.claims import Actor, apply_action

NOW = datetime(2026, 11, 25, tzinfo=UTC)
WRITERS = 12


async def _reference(session) -> tuple[PartnerLocation, Engagement, Customer]:
    partner = PartnerAccount(key="p", name="P")
    session.add(partner)
    await session.flush()
    location = PartnerLocation(
        partner_id=partner.id, location_id="1", name="L", country="US", mci_enrolled=True
    )
    engagement = Engagement(
        key="e", name="E", solution_area="AI", engagement_type="WORKSHOP", pay_type="FIXED"
    )
    session.add_all([location, engagement])
    await session.flush()
    customer = Customer(partner_id=partner.id, name="C", id_type="TPID", id_value="1", created_at=NOW)
    session.add(customer)
    await session.flush()
    return location, engagement, customer


async def test_a_reader_resuming_after_its_last_id_misses_no_event(empty_database):
    database = empty_database
    async with database.sessions() as session, session.begin():
        location, engagement, customer = await _reference(session)
    rng = random.Random(7)
    delays = [rng.uniform(0, 0.03) for _ in range(WRITERS)]
    actor = Actor(ActorKind.PARTNER_USER, "admin@p.example", "Admin")

    async def write(i: int) -> None:
        async with transaction(database.sessions, write=True) as session:
            claim = Claim(
                claim_number=f"C26-ORDER{i:03}",
                partner_id=customer.partner_id,
                location_pk=location.id,
                engagement_id=engagement.id,
                customer_id=customer.id,
                friendly_name="F",
                id_type="TPID",
                id_value=str(i),
                limit_key=f"TPID:{i}",
                status="CUSTOMER_CLAIMED",
                created_at=NOW,
                updated_at=NOW,
            )
            await apply_action(session, claim, engagement, ClaimAction.CREATE, actor, NOW)
            await asyncio.sleep(delays[i])  # commit a while after the append, so commits could reorder

    seen: list[int] = []
    writing = True

    async def read() -> None:
        cursor = 0
        while True:
            last_round = not writing  # one more read after every writer committed
            async with database.sessions() as session:
                events = await events_after(session, cursor, 1000)
            seen.extend(e.id for e in events)
            cursor = events[-1].id if events else cursor
            if last_round:
                return
            await asyncio.sleep(0.001)

    reader = asyncio.create_task(read())
    await asyncio.gather(*(write(i) for i in range(WRITERS)))
    writing = False
    await reader
    async with database.sessions() as session:
        every = [e.id for e in await events_after(session, 0, 1000)]
    assert len(every) == WRITERS
    assert seen == every  # nothing skipped: no smaller id became visible after a larger one was read
