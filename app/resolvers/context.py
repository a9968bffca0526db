"""The per-request context: who asks, the process runtime and fresh loaders.

Over HTTP the caller is authenticated per request, within the request's deadline (the execution timeout starts
when the request arrives, not when execution does). Over WebSocket and Server-Sent Events the context lives as
long as the connection: its `session` (app/sessions.py) binds it to the token's lifetime and its user's roles, and
every protected field refuses once the session ended."""

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from app.auth import REVIEWER, AuthenticationError, bearer_token
from app.domain.contacts import MAX_ACTOR_NAME, MAX_EMAIL
from app.domain.text import has_control_characters, without_control_characters
from app.resolvers.errors import forbidden, unauthenticated
from app.resolvers.loaders import Loaders
from app.runtime import Runtime
from app.services.viewer import NoIncentivesRole, Principal, Reviewer, load_principal

if TYPE_CHECKING:
    from app.sessions import Closer, LiveSession


class DeadlinePassed(Exception):
    """Authentication did not finish before the request's deadline (a database not answering)."""


@dataclass
class Context:
    runtime: Runtime
    request: Request | WebSocket
    response: Response | WebSocket | None
    viewer: Principal | None = None  # a partner user
    reviewer: Reviewer | None = None
    auth_error: str | None = None
    auth_code: str = "UNAUTHENTICATED"  # or FORBIDDEN: a known user allowed nothing
    connection_params: dict[str, object] | None = None  # WebSocket connection_init payload
    token_expires_at: float | None = None  # the token's `exp` (epoch seconds), once verified
    deadline: float | None = None  # HTTP: the event loop time by which the request must be answered
    session: "LiveSession | None" = None  # WebSocket and SSE: the live session (app/sessions.py)
    session_closer: "Closer | None" = None  # WebSocket: how its protocol handler ends the connection
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.runtime.sessions)

    def _session_ended(self) -> bool:
        """True (and the reason remembered for `auth_failure`) when the live session may no longer act: its token
        expired or its user's roles changed."""
        if self.session is None or (why := self.session.refusal()) is None:
            return False
        self.auth_code, self.auth_error = why.code, why.message
        return True

    def require_viewer(self) -> Principal:
        """The partner user; reviewers and anonymous callers are refused."""
        if self._session_ended():
            raise self.auth_failure()
        if self.viewer is None:
            if self.reviewer is not None:
                raise forbidden("This is for partner users; a reviewer token cannot use it.")
            raise self.auth_failure()
        return self.viewer

    def auth_failure(self) -> GraphQLError:
        """Why this request may do nothing: unauthenticated (HTTP 401), or a user without a role (403)."""
        if self.auth_code == "FORBIDDEN":
            return forbidden(self.auth_error or "No Incentives role.")
        return unauthenticated(self.auth_error or "Authentication required: send a bearer token.")

    @property
    def auth_status(self) -> int:
        return 403 if self.auth_code == "FORBIDDEN" else 401

    def require_reviewer(self) -> Reviewer:
        if self._session_ended():
            raise self.auth_failure()
        if self.reviewer is None:
            if self.viewer is not None:
                raise forbidden("This is for Microsoft reviewers; a partner token cannot use it.")
            raise self.auth_failure()
        return self.reviewer

    def require_anyone(self) -> Principal | Reviewer:
        """A partner user or a reviewer."""
        if self._session_ended():
            raise self.auth_failure()
        if self.reviewer is not None:
            return self.reviewer
        return self.require_viewer()

    @property
    def authenticated(self) -> bool:
        if self._session_ended():
            return False
        return self.viewer is not None or self.reviewer is not None

    async def authenticate(self, token: str | None) -> None:
        """Resolve the token to a partner user; on failure remember why, for the first protected field."""
        if token is None:
            self.auth_error = "Authentication required: send `Authorization: Bearer <token>`."
            return
        try:
            claims = await self.runtime.verifier.verify(token)
        except AuthenticationError as error:
            self.auth_error = f"Authentication failed: {error}."
            return
        self.token_expires_at = float(claims["exp"])
        email = str(claims["sub"])
        if len(email) > MAX_EMAIL or has_control_characters(email):
            self.auth_error = "Authentication failed: the token's subject is not an email address."
            return
        if claims.get("kind") == REVIEWER:
            # The name is the token's to say, the history's to keep: cut to what it keeps.
            name = without_control_characters(str(claims.get("name") or "")).strip() or email
            self.reviewer = Reviewer(email=email, name=name[:MAX_ACTOR_NAME])
            return
        async with self.runtime.sessions() as session:
            found = await load_principal(session, email)
        if isinstance(found, NoIncentivesRole):
            self.auth_code = "FORBIDDEN"
            self.auth_error = (
                "You hold no Incentives role (INCENTIVES_ADMIN or INCENTIVES_USER): ask an admin of your partner "
                "account for one."
            )
        elif found is None:
            self.auth_error = "Authentication failed: the token's user is not a partner user of this service."
        else:
            self.viewer = found

    async def authenticate_by(self, token: str | None, deadline: float) -> None:
        """`authenticate`, done by `deadline` (event loop time): DeadlinePassed if not. A driver's own timeout or a
        lost connection propagates as it is (the database is unavailable)."""
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                await self.authenticate(token)
        except TimeoutError:
            if timeout.expired():
                raise DeadlinePassed from None
            raise


async def build_context(
    runtime: Runtime, request: Request | WebSocket, response: Any, deadline: float | None = None
) -> Context:
    """The context of a request; over HTTP its caller authenticated, by `deadline` (default: the execution timeout
    from now)."""
    context = Context(runtime=runtime, request=request, response=response)
    if isinstance(request, Request):
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + runtime.settings.execution_timeout_seconds
        context.deadline = deadline
        await context.authenticate_by(bearer_token(request.headers.get("authorization")), deadline)
    return context


Info = StrawberryInfo[Context, None]
