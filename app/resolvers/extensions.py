"""What runs around every operation: authentication first, then the passed deadlines."""

from collections.abc import AsyncIterator, Iterator

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from app.resolvers.context import Context
from app.resolvers.errors import unauthenticated
from app.services import expiry

# Root fields anyone may ask for: introspection (off in production) and the customer's consent answer, which its
# link's token authorises.
PUBLIC_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type", "respondToConsent"})


class RequireAuthentication(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            isinstance(context, Context)
            and not context.authenticated
            and execution.graphql_document is not None
        ):
            fields = {
                selection.name.value
                for definition in execution.graphql_document.definitions
                if isinstance(definition, OperationDefinitionNode)
                for selection in definition.selection_set.selections
                if isinstance(selection, FieldNode)
            }
            if fields - PUBLIC_ROOT_FIELDS:
                # Setting the errors before validation makes Strawberry skip validation and execution.
                execution.pre_execution_errors = [
                    unauthenticated(context.auth_error or "Authentication required.")
                ]
                if context.response is not None and hasattr(context.response, "status_code"):
                    context.response.status_code = 401
        yield


class ApplyPassedDeadlines(SchemaExtension):
    """Before an operation runs, claims whose deadline passed are expired, so no read shows a stale status.

    Costs one indexed read when nothing is due; the sweeper in the server does the same on an interval."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            runtime = context.runtime
            await expiry.expire_due(runtime.sessions, runtime.clock.now())
        yield
