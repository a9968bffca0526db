"""`claimStatusChanged`: the claim event log, live. With `after` it first replays every later event the viewer
may see, then goes live, with no gap and no duplicate at the seam.

Delivery over WebSocket is shared: an event's result depends only on the document, its variables and what the
viewer may see, so the subscribers alike in those three (a *group*) share one execution and one JSON encoding per
event (`EventHub.shared`), and each sends the same payload bytes in a frame of its own protocol. The WebSocket
handlers below tell the resolver its frame and raw operation (`LIVE_TARGET`); without them (Server-Sent Events, a
schema called directly) each result is executed per subscriber as usual. Per-result extension work (the cost
figures in `extensions`, error masking by the MaskErrors hook) is not repeated per delivery: the shared result is
masked once with the same rule (`clean_errors`) and carries no `extensions`."""

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Hashable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    execute,
    visit,
)
from starlette.websockets import WebSocket
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.utils.await_maybe import await_maybe

from app.events.hub import GoingAway, SlowConsumer
from app.events.log import LoggedEvent, events_after
from app.resolvers.claims import ClaimEvent
from app.resolvers.context import Context, Info
from app.resolvers.extensions import clean_errors
from app.resolvers.loaders import Loaders
from app.resolvers.relay import decode_cursor, encode_cursor, pk_of
from app.services.viewer import Principal, Reviewer

REPLAY_BATCH = 200
GOING_AWAY = 1001  # WebSocket close code: the server goes away; reconnect elsewhere, resume with `after`


@dataclass(frozen=True)
class LiveTarget:
    """What the WebSocket handler running this operation tells the resolver: the raw operation (executed again per
    event, for the group) and the frame around the payload: `prefix + payload JSON + "}"`."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    prefix: str


LIVE_TARGET: ContextVar[LiveTarget | None] = ContextVar("mci_live_target", default=None)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws; each operation runs in a task of its own, which sees its own `LIVE_TARGET`."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        LIVE_TARGET.set(
            LiveTarget(
                operation.query,
                operation.variables,
                operation.operation_name,
                '{"id":' + json.dumps(operation.id) + ',"type":"next","payload":',
            )
        )
        await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws)."""

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        LIVE_TARGET.set(
            LiveTarget(
                query,
                variables,
                operation_name,
                '{"type":"data","id":' + json.dumps(operation_id) + ',"payload":',
            )
        )
        await super().handle_async_results(operation_id, query, operation_name, variables)


def visibility(who: Principal | Reviewer) -> Hashable:
    """Everything about the viewer that a claim event's result may depend on. Partner users alike in partner, roles
    and locations see the same; every reviewer sees the same. Nothing under `ClaimEvent` reads who the user is
    (`viewer` and PartnerUser nodes are not reachable from it): a field that did would have to join this key."""
    if isinstance(who, Reviewer):
        return ("reviewer",)
    return ("partner", who.partner_id, frozenset(who.grants), who.location_pks)


def _variables_used(
    operation: OperationDefinitionNode,
    fragments: Iterable[FragmentDefinitionNode],
    roots: Iterable[FieldNode],
) -> set[str]:
    """Names of the variables the operation uses anywhere but in the root field's arguments."""
    names: set[str] = set()

    class Collect(Visitor):
        def enter_variable(self, node: VariableNode, *_args: object) -> None:
            names.add(node.name.value)

    parts = [*(operation.directives or ()), *fragments]
    for root in roots:
        parts += [*(root.directives or ()), root.selection_set]
    for node in parts:
        if node is not None:
            visit(node, Collect())
    return names


class _Shared:
    """One subscriber's way into its group's results."""

    def __init__(self, info: Info, target: LiveTarget, who: Principal | Reviewer) -> None:
        self.info = info
        self.target = target
        raw = info._raw_info
        self.document = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
        # The root field's arguments (engagementId, claimId, after) choose the events, not what an event's result
        # holds: subscribers resuming from different cursors share too.
        used = _variables_used(raw.operation, raw.fragments.values(), raw.field_nodes)
        variables = {k: v for k, v in (target.variables or {}).items() if k in used}
        self.group = (
            target.query,
            target.operation_name,
            json.dumps(variables, sort_keys=True, default=str),
            visibility(who),
        )

    def payload(self, logged: LoggedEvent) -> asyncio.Future[str]:
        return self.info.context.runtime.hub.shared.get(self.group, logged.id, lambda: self.compute(logged))

    async def compute(self, logged: LoggedEvent) -> str:
        """The subscription's selection over the event, as a subscriber of the group sees it, JSON-encoded. A new
        context, so its loaders read the claim as it is now."""
        source = self.info.context
        context = Context(
            runtime=source.runtime,
            request=source.request,
            response=None,
            viewer=source.viewer,
            reviewer=source.reviewer,
        )
        schema = self.info.schema
        result = await await_maybe(
            execute(
                schema._schema,
                self.document,
                root_value=ClaimEvent.from_model(logged.event),
                context_value=context,
                variable_values=self.target.variables,
                operation_name=self.target.operation_name,
                executor_class=schema.execution_context_class,  # type: ignore[call-arg]
                operation_extensions=None,
            )
        )
        body: dict[str, Any] = {"data": result.data}  # type: ignore[union-attr]
        if result.errors:  # type: ignore[union-attr]
            schema.process_errors(list(result.errors))  # type: ignore[union-attr]
            production = source.runtime.settings.env == "production"
            body["errors"] = [e.formatted for e in clean_errors(result.errors, production=production)]  # type: ignore[union-attr]
        return json.dumps(body)


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

    target = LIVE_TARGET.get()
    socket = context.request
    shared = _Shared(info, target, who) if target is not None and isinstance(socket, WebSocket) else None

    # The connection's loaders (eight DataLoaders, ~100 objects the garbage collector walks, per subscription) are
    # not used by live events: build them only if the connection asks for one.
    context.loaders = _LazyLoaders(runtime.sessions)  # type: ignore[assignment]
    subscriber = runtime.hub.subscribe(accepts, runtime.settings.subscription_buffer)
    if shared is not None:
        runtime.hub.shared.join(shared.group)
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
                if not accepts(logged):
                    continue
                if shared is None:
                    yield _fresh(info, logged)
                elif not await _send(
                    socket, shared, await shared.compute(logged)
                ):  # a replay is this one's own
                    return
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
            if shared is None:
                yield _fresh(info, logged)
            elif not await _send(socket, shared, await shared.payload(logged)):
                return
    finally:
        runtime.hub.unsubscribe(subscriber)
        if shared is not None:
            runtime.hub.shared.leave(shared.group)


async def _send(socket: WebSocket, shared: _Shared, payload: str) -> bool:
    """One `next` (graphql-ws: `data`) frame; False when the socket is gone."""
    try:
        await socket.send_text(shared.target.prefix + payload + "}")
    except Exception:  # closed under us: the handler cancels this operation when it sees the close
        await asyncio.sleep(10)
        return False
    return True


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
    """Each event is resolved with new loaders, so its claim is read as it is now, never from an old cache. They
    are built when a field first asks for one: most selections (event fields only) never do, and building the
    eight loaders per delivery was half of the CPU of a fan-out."""
    info.context.loaders = _LazyLoaders(info.context.runtime.sessions)  # type: ignore[assignment]
    return ClaimEvent.from_model(logged.event)


class _LazyLoaders:
    """`Loaders`, built on first use."""

    def __init__(self, sessions: Any) -> None:
        self._sessions = sessions
        self._loaders: Loaders | None = None

    def __getattr__(self, name: str) -> Any:
        if self._loaders is None:
            self._loaders = Loaders(self._sessions)
        return getattr(self._loaders, name)
