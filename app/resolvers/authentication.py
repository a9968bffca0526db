"""Refuses an unauthenticated operation before anything runs, unless it only asks for public fields."""

from collections.abc import Iterator

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from app.resolvers.context import Context
from app.resolvers.errors import unauthenticated

# Root fields anyone may ask for: introspection (off in production) and, later, the consent answer.
PUBLIC_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type"})


class RequireAuthentication(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, Context) and context.viewer is None and execution.graphql_document is not None:
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
