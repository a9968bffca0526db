"""The per-request context: who asks, the process runtime and fresh loaders."""

from dataclasses import dataclass, field
from typing import Any

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
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.runtime.sessions)

    def require_viewer(self) -> Principal:
        """The partner user; reviewers and anonymous callers are refused."""
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
        if self.reviewer is None:
            if self.viewer is not None:
                raise forbidden("This is for Microsoft reviewers; a partner token cannot use it.")
            raise self.auth_failure()
        return self.reviewer

    def require_anyone(self) -> Principal | Reviewer:
        """A partner user or a reviewer."""
        if self.reviewer is not None:
            return self.reviewer
        return self.require_viewer()

    @property
    def authenticated(self) -> bool:
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


async def build_context(runtime: Runtime, request: Request | WebSocket, response: Any) -> Context:
    context = Context(runtime=runtime, request=request, response=response)
    if isinstance(request, Request):
        await context.authenticate(bearer_token(request.headers.get("authorization")))
    return context


Info = StrawberryInfo[Context, None]
