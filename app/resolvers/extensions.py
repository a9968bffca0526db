"""What runs around every operation: authentication first, then the passed deadlines; and how faults reach the
client (an unreachable database as UNAVAILABLE; in production, any other unexpected error masked)."""

import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping

import asyncpg
import sqlalchemy.exc
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
)
from strawberry.extensions import MaskErrors, SchemaExtension

from app.resolvers.context import Context

# Root fields anyone may ask for: introspection (off in production) and the customer's consent answer, which its
# link's token authorises.
PUBLIC_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type", "respondToConsent"})


def root_fields(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    """Every field at the root of the operation, through inline fragments and fragment spreads at any depth (each
    fragment followed once, so a cycle, which validation refuses later, ends here too). A spread of a fragment
    the document does not define yields a field named by the spread, never public."""
    seen: set[str] = set()
    pending = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen:
                    continue
                seen.add(name)
                fragment = fragments.get(name)
                if fragment is None:
                    yield FieldNode(name=selection.name)  # unknown: treated as a protected field
                else:
                    pending.append(fragment.selection_set)


def document_root_fields(document: DocumentNode) -> set[str]:
    """The names of the root fields of every operation of the document (fragments followed)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return {
        field.name.value
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        for field in root_fields(definition, fragments)
    }


class RequireAuthentication(SchemaExtension):
    """Before validation: a caller that is not signed in may ask for `PUBLIC_ROOT_FIELDS` only, wherever they sit
    at the root (directly, in inline fragments, in named fragments); anything else is refused UNAUTHENTICATED (401)
    or FORBIDDEN (403), and nothing is validated or run."""

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            isinstance(context, Context)
            and not context.authenticated
            and execution.graphql_document is not None
            and execution.pre_execution_errors is None
            and document_root_fields(execution.graphql_document) - PUBLIC_ROOT_FIELDS
        ):
            # Setting the errors before validation makes Strawberry skip validation and execution.
            execution.pre_execution_errors = [context.auth_failure()]
            if context.response is not None and hasattr(context.response, "status_code"):
                context.response.status_code = context.auth_status
        yield


class ApplyPassedDeadlines(SchemaExtension):
    """Before an operation runs, claims whose deadline passed are expired, so no read shows a stale status.

    Costs one indexed read when a deadline can have passed since the last look, nothing otherwise
    (`Runtime.apply_passed_deadlines`); the sweeper in the server does the same on an interval."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            await context.runtime.apply_passed_deadlines()
        yield


# ---------------------------------------------------------------------------------------- faults and masking

log = logging.getLogger("mci.errors")

_UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,  # includes SQLite's "database is locked" and asyncpg's wrapped faults
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection within the pool timeout
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # the server is shutting down
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)


def is_unavailable(error: BaseException | None) -> bool:
    """True when the error, or one it came from, says the database cannot be reached now."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _UNAVAILABLE):
            return True
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        following = error.original_error if isinstance(error, GraphQLError) else None
        error = following or error.__cause__ or error.__context__
    return False


def _classify(error: GraphQLError) -> str | None:
    """ "unavailable", "internal" or None (an error reported on purpose). Our own errors carry `extensions.code`;
    graphql-core's syntax, validation and input-coercion errors point at the document and have no path. What is
    left was raised by code: during a field (it has a path) or around execution (in an extension's hook)."""
    original = error.original_error
    if original is None or (error.extensions or {}).get("code"):
        return None
    if isinstance(original, GraphQLError) and original.extensions:
        return None
    if error.path is None and error.nodes:
        return None
    return "unavailable" if is_unavailable(error) else "internal"


def clean_error(error: GraphQLError, *, production: bool) -> GraphQLError:
    """An unreachable database becomes UNAVAILABLE; in production any other unexpected error becomes "Internal
    error" with an error id that the log line (with the traceback) carries too."""
    kind = _classify(error)
    if kind == "unavailable":
        log.warning("database unavailable at %s: %r", error.path, error.original_error)
        message, extensions = (
            "The service cannot reach its database; try again shortly.",
            {"code": "UNAVAILABLE"},
        )
    elif kind == "internal" and production:
        error_id = uuid.uuid4().hex
        log.error("internal error %s at %s", error_id, error.path, exc_info=error.original_error)
        message, extensions = "Internal error", {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id}
    else:
        return error
    return GraphQLError(
        message, error.nodes, error.source, error.positions, error.path, extensions=extensions
    )


def clean_errors(errors: Iterable[GraphQLError], *, production: bool) -> list[GraphQLError]:
    return [clean_error(error, production=production) for error in errors]


class MaskUnexpectedErrors(MaskErrors):
    """Strawberry's MaskErrors with our rule: `clean_error` on every error of every result (streamed ones too);
    an unreachable database also turns the HTTP status to 503."""

    def __init__(self, *, production: bool, execution_context: object = None) -> None:
        super().__init__(should_mask_error=self._changes)
        self.production = production

    def _changes(self, error: GraphQLError) -> bool:
        kind = _classify(error)
        return kind == "unavailable" or (kind == "internal" and self.production)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        cleaned = clean_error(error, production=self.production)
        if (cleaned.extensions or {}).get("code") == "UNAVAILABLE":
            response = getattr(self.execution_context.context, "response", None)
            if response is not None and hasattr(response, "status_code"):
                response.status_code = 503
        return cleaned
