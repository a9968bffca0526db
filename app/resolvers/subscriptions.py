"""`claimStatusChanged`: the claim event log, live. With `after` it first replays every later event the viewer
may see, then goes live, with no gap and no duplicate at the seam.

Delivery over WebSocket is shared: an event's result depends only on the document, its variables and what the
viewer may see, so the subscribers alike in those three (a *group*) share one execution and one JSON encoding per
event (`EventHub.shared`), and each sends the same payload bytes in a frame of its own protocol. The WebSocket
handlers below tell the resolver its frame and raw operation (`LIVE_TARGET`); without them (Server-Sent Events, a
schema called directly) each result is executed per subscriber as usual. Per-result extension work (the cost
figures in `extensions`, error masking by the MaskErrors hook) is not repeated per delivery: the shared result is
masked once with the same rule (`clean_errors`) and carries no `extensions`.

Both WebSocket protocols bind the connection to its token (app/sessions.py): `connection_init` authenticates and
opens the session (refused past the per-user connection cap), an operation sent once the session ended is refused
and the socket closed (4403 with the reason: "token expired", "roles changed", ...), and when the session ends by
itself (at the token's `exp`, after an import changed the user's roles) its subscriptions stop at once and the
socket is closed the same way. The legacy graphql-ws protocol gets the newer one's rules at `connection_init`: the
same initialisation timeout (4408) and a second `connection_init` closes the socket (4429)."""

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
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage
from strawberry.utils.await_maybe import await_maybe

from app.events.hub import GoingAway, SlowConsumer
from app.events.log import LoggedEvent, events_after
from app.resolvers.claims import ClaimEvent
from app.resolvers.context import Context, Info
from app.resolvers.extensions import clean_errors
from app.resolvers.loaders import Loaders
from app.resolvers.relay import decode_cursor, encode_cursor, pk_of
from app.services.viewer import Principal, Reviewer
from app.sessions import CLOSE_FORBIDDEN, SessionEnd, TooMany

REPLAY_BATCH = 200
GOING_AWAY = 1001  # WebSocket close code: the server goes away; reconnect elsewhere, resume with `after`
INIT_TIMEOUT = 4408  # both protocols: no connection_init in time
TOO_MANY_INITIALISATIONS = 4429


class ConnectionRefused(Exception):
    """`connection_init` refused with a close code of its own (not graphql-transport-ws's 4403 "Forbidden"): too
    many connections of this user (4429), the database not answering (1013, try again later)."""

    def __init__(self, close_code: int, reason: str, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code, self.reason, self.code, self.message = close_code, reason, code, message

    @property
    def payload(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


def _error(why: SessionEnd) -> dict[str, Any]:
    return {"message": why.message, "extensions": {"code": why.code}}


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.session_closer = self.end_session
        self._ending = False

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if self.context.session is not None:
                self.context.session.close()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            await self.websocket.close(code=refused.close_code, reason=refused.reason)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        session = self.context.session
        if session is not None and (why := session.refusal()) is not None:
            await self.end_session(why)  # the operation does not run
            session.end(why)
            return
        await super().handle_subscribe(message)

    async def end_session(self, why: SessionEnd) -> None:
        """The session ended (token expired, roles changed): close with 4403 and the reason."""
        if not self._ending:
            self._ending = True
            with contextlib.suppress(Exception):
                await self.websocket.close(code=CLOSE_FORBIDDEN, reason=why.reason)

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
    """graphql-ws (subscriptions-transport-ws), with graphql-transport-ws's rules at `connection_init`: closed
    (4408) when none comes within the view's `connection_init_wait_timeout`, closed (4429) at a second one (so one
    connection never starts a second keep-alive task). A session that ended is told with `connection_error`, then
    the socket is closed (4403); an operation sent after it ended gets an `error` first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context.session_closer = self.end_session
        self._init_received = False
        self._init_timeout: asyncio.Task[None] | None = None
        self._ending = False

    async def handle(self) -> None:
        self._init_timeout = asyncio.create_task(self._close_without_init())
        try:
            await super().handle()
        finally:
            self._init_timeout.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._init_timeout
            if self.context.session is not None:
                self.context.session.close()

    async def _close_without_init(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self._init_received:
            with contextlib.suppress(Exception):
                await self.websocket.close(code=INIT_TIMEOUT, reason="Connection initialisation timeout")

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        if self._init_received:
            await self.websocket.close(
                code=TOO_MANY_INITIALISATIONS, reason="Too many initialisation requests"
            )
            return
        self._init_received = True
        if self._init_timeout is not None:
            self._init_timeout.cancel()
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            with contextlib.suppress(Exception):
                await self.send_message({"type": "connection_error", "payload": refused.payload})
            await self.websocket.close(code=refused.close_code, reason=refused.reason)

    async def handle_start(self, message: StartMessage) -> None:
        session = self.context.session
        if session is not None and (why := session.refusal()) is not None:
            with contextlib.suppress(Exception):
                await self.send_message({"type": "error", "id": message["id"], "payload": _error(why)})
            await self.end_session(why)
            session.end(why)
            return
        await super().handle_start(message)

    async def end_session(self, why: SessionEnd) -> None:
        """The session ended: `connection_error` with the reason, then close (4403)."""
        if not self._ending:
            self._ending = True
            with contextlib.suppress(Exception):
                await self.send_message({"type": "connection_error", "payload": _error(why)})
                await self.websocket.close(code=CLOSE_FORBIDDEN, reason=why.reason)

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
    live = context.session  # WebSocket, SSE: bound to the token; its end stops this subscription
    subscriber = runtime.hub.subscribe(accepts, runtime.settings.subscription_buffer)
    if shared is not None:
        runtime.hub.shared.join(shared.group)
    last = subscriber.start_after if cursor is None else cursor
    try:
        if live is not None:
            try:
                live.subscribed(subscriber)  # the per-user cap
            except TooMany as refused:
                raise GraphQLError(refused.message, extensions={"code": refused.code}) from None
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
                if live is not None and live.ended is not None:
                    await _session_over(info, live.ended)
                    return
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
                if live is not None and live.ended is not None:
                    await _session_over(info, live.ended)
                else:
                    await _going_away(info, last)
                return
            if live is not None and live.ended is not None:
                await _session_over(info, live.ended)
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
        if live is not None:
            live.unsubscribed(subscriber)
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


async def _session_over(info: Info, why: SessionEnd) -> None:
    """The session ended (token expired, roles changed): no further event. Its WebSocket is being closed by the
    protocol handler (which then cancels this operation); a Server-Sent Events stream ends with the error."""
    if not isinstance(info.context.request, WebSocket):
        raise GraphQLError(why.message, extensions={"code": why.code})
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
