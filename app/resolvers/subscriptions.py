"""`claimStatusChanged`: the claim event log, live. With `after` it first replays every later event the viewer
may see, then goes live, with no gap and no duplicate at the seam."""

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket

from app.events.hub import GoingAway, SlowConsumer
from app.events.log import LoggedEvent, events_after
from app.resolvers.claims import ClaimEvent
from app.resolvers.context import Info
from app.resolvers.loaders import Loaders
from app.resolvers.relay import decode_cursor, encode_cursor, pk_of
from app.services.viewer import Principal, Reviewer

REPLAY_BATCH = 200
GOING_AWAY = 1001  # WebSocket close code: the server goes away; reconnect elsewhere, resume with `after`


def _accepts(who: Principal | Reviewer, engagement_pk: int | None, claim_pk: int | None):  # type: ignore[no-untyped-def]
    def accepts(logged: LoggedEvent) -> bool:
        event = logged.event
        if engagement_pk is not None and event.engagement_id != engagement_pk:
            return False
        if claim_pk is not None and event.claim_id != claim_pk:
            return False
        if isinstance(who, Reviewer):
            return logged.submitted
        return event.partner_id == who.partner_id and who.may_see_location(logged.location_pk)

    return accepts


async def claim_status_changed(
    info: Info,
    engagement_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only events of claims on this engagement.")
    ] = None,
    claim_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only events of this claim.")
    ] = None,
    after: Annotated[
        str | None,
        strawberry.argument(
            description="Cursor of the last event you saw: replay every later one, then go live."
        ),
    ] = None,
) -> AsyncGenerator[ClaimEvent, None]:
    context = info.context
    who = context.require_anyone()
    runtime = context.runtime
    engagement_pk = pk_of(engagement_id, "Engagement") if engagement_id is not None else None
    claim_pk = pk_of(claim_id, "Claim") if claim_id is not None else None
    if (engagement_id is not None and engagement_pk is None) or (claim_id is not None and claim_pk is None):
        return  # an ID of nothing: no event will ever match, exactly as for another partner's claim
    accepts = _accepts(who, engagement_pk, claim_pk)
    cursor = decode_cursor(after, "after") if after is not None else None

    subscriber = runtime.hub.subscribe(accepts, runtime.settings.subscription_buffer)
    last = subscriber.start_after if cursor is None else cursor
    try:
        # Replay what committed before we subscribed; the hub queues everything after `start_after`.
        while cursor is not None and last < subscriber.start_after:
            async with runtime.sessions() as session:
                batch = await events_after(
                    session,
                    last,
                    REPLAY_BATCH,
                    partner_id=who.partner_id if isinstance(who, Principal) else None,
                    engagement_id=engagement_pk,
                    claim_id=claim_pk,
                )
            batch = [e for e in batch if e.id <= subscriber.start_after]
            if not batch:
                break
            for logged in batch:
                last = logged.id
                if accepts(logged):
                    yield _fresh(info, logged)
        while True:
            try:
                logged = await subscriber.next()
            except SlowConsumer:
                raise GraphQLError(
                    "Too many events waited for this subscriber: subscribe again with `after` set to the last "
                    "cursor you received.",
                    extensions={"code": "SLOW_CONSUMER", "resumeAfter": encode_cursor(last)},
                ) from None
            except GoingAway:
                await _going_away(info, last)
                return
            if logged.id <= last:
                continue
            last = logged.id
            yield _fresh(info, logged)
    finally:
        runtime.hub.unsubscribe(subscriber)


async def _going_away(info: Info, last: int) -> None:
    """The server is shutting down. A WebSocket is closed with 1001 (its other subscriptions end with it); over
    Server-Sent Events the stream ends with a GOING_AWAY error carrying the cursor to resume after."""
    socket = info.context.request
    if not isinstance(socket, WebSocket):
        raise GraphQLError(
            "The server is shutting down: subscribe again with `after` set to the last cursor you received.",
            extensions={"code": "GOING_AWAY", "resumeAfter": encode_cursor(last)},
        )
    with contextlib.suppress(Exception):  # another subscription on this socket may have closed it already
        await socket.close(code=GOING_AWAY, reason="server shutting down")
    # Ending now would make Strawberry send `complete` on the closed socket; its connection handler sees the close
    # and cancels this operation instead.
    await asyncio.sleep(10)


def _fresh(info: Info, logged: LoggedEvent) -> ClaimEvent:
    """Each event is resolved with new loaders, so its claim is read as it is now, never from an old cache."""
    info.context.loaders = Loaders(info.context.runtime.sessions)
    return ClaimEvent.from_model(logged.event)
