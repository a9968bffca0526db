"""`node` and `nodes`: any object by its global ID, scoped to the viewer. Another partner's object answers
exactly like a missing one: null."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

import strawberry

from app.resolvers.claims import Claim, ClaimEvent
from app.resolvers.context import Info
from app.resolvers.customers import Customer
from app.resolvers.engagements import Engagement
from app.resolvers.errors import bad_user_input
from app.resolvers.partners import PartnerAccount, PartnerLocation, PartnerUser
from app.resolvers.relay import Node, from_global_id, to_global_id
from app.services import records

MAX_NODES = 100

Fetch = Callable[[Info, Sequence[int]], Awaitable[list[Node | None]]]


async def _engagements(info: Info, pks: Sequence[int]) -> list[Node | None]:
    rows = await info.context.loaders.engagement.load_many(pks)
    return [Engagement.from_model(row) if row else None for row in rows]


async def _locations(info: Info, pks: Sequence[int]) -> list[Node | None]:
    viewer = info.context.viewer
    if viewer is None:
        return [None] * len(pks)
    rows = await info.context.loaders.location.load_many([pk for pk in pks if viewer.may_see_location(pk)])
    visible = {row.id: row for row in rows if row}
    return [PartnerLocation.from_model(visible[pk]) if pk in visible else None for pk in pks]


async def _partners(info: Info, pks: Sequence[int]) -> list[Node | None]:
    viewer = info.context.viewer
    if viewer is None:
        return [None] * len(pks)
    own = await info.context.loaders.partner.load(viewer.partner_id)
    return [PartnerAccount.from_model(own) if pk == viewer.partner_id else None for pk in pks]


async def _users(info: Info, pks: Sequence[int]) -> list[Node | None]:
    viewer = info.context.viewer
    if viewer is None:
        return [None] * len(pks)
    me = PartnerUser(id=to_global_id("PartnerUser", viewer.user_id), email=viewer.email, name=viewer.name)
    return [me if pk == viewer.user_id else None for pk in pks]


async def _customers(info: Info, pks: Sequence[int]) -> list[Node | None]:
    viewer = info.context.viewer
    if viewer is None:
        return [None] * len(pks)
    rows = await info.context.loaders.customer.load_many(pks)
    return [Customer.from_model(r) if r and records.may_see_customer(viewer, r) else None for r in rows]


async def _claims(info: Info, pks: Sequence[int]) -> list[Node | None]:
    viewer = info.context.require_anyone()
    rows = await info.context.loaders.claim.load_many(pks)
    return [Claim.from_model(r) if r and records.may_see_claim(viewer, r) else None for r in rows]


async def _claim_events(info: Info, pks: Sequence[int]) -> list[Node | None]:
    viewer = info.context.require_anyone()
    async with info.context.runtime.sessions() as session:
        events = await records.events_by_id(session, pks)
    claims = {
        c.id: c
        for c in await info.context.loaders.claim.load_many({e.claim_id for e in events.values()})
        if c
    }
    visible = {
        pk: event
        for pk, event in events.items()
        if event.claim_id in claims and records.may_see_claim(viewer, claims[event.claim_id])
    }
    return [ClaimEvent.from_model(visible[pk]) if pk in visible else None for pk in pks]


FETCHERS: dict[str, Fetch] = {
    "Claim": _claims,
    "ClaimEvent": _claim_events,
    "Customer": _customers,
    "Engagement": _engagements,
    "PartnerLocation": _locations,
    "PartnerAccount": _partners,
    "PartnerUser": _users,
}


async def fetch_nodes(info: Info, ids: Sequence[str]) -> list[Node | None]:
    info.context.require_anyone()
    by_type: dict[str, list[tuple[int, int]]] = {}
    for position, global_id in enumerate(ids):
        decoded = from_global_id(global_id)
        if decoded and decoded[0] in FETCHERS:
            by_type.setdefault(decoded[0], []).append((position, decoded[1]))
    found: list[Node | None] = [None] * len(ids)
    for type_name, wanted in by_type.items():
        nodes = await FETCHERS[type_name](info, [pk for _, pk in wanted])
        for (position, _), node in zip(wanted, nodes, strict=True):
            found[position] = node
    return found


async def resolve_node(
    info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]
) -> Node | None:
    return (await fetch_nodes(info, [id]))[0]


async def resolve_nodes(
    info: Info,
    ids: Annotated[list[strawberry.ID], strawberry.argument(description=f"Global IDs, at most {MAX_NODES}.")],
) -> list[Node | None]:
    if len(ids) > MAX_NODES:
        raise bad_user_input(f"`ids` may hold at most {MAX_NODES} IDs.", "ids")
    return await fetch_nodes(info, ids)
