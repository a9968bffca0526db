"""Event ids follow commit order (services/claims.py `apply_action`): a reader that resumes after the last id it
read never misses an event that commits later with a smaller id, however concurrent appenders interleave."""

import asyncio
import random

from app.db import transaction
from app.domain.enums import ActorKind, ClaimAction
from app.events.log import events_after
from app.models import Claim
from app.services.claims import Actor, apply_action
from tests.events.scene import NOW, reference

WRITERS = 12


async def test_a_reader_resuming_after_its_last_id_misses_no_event(empty_database):
    database = empty_database
    async with database.sessions() as session, session.begin():
        location, engagement, customer = await reference(session)
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
