"""What one request may ask of the server, checked before any resolver runs (SECURITY.md, "Limits").

- Depth, aliases and tokens: Strawberry's own limiters, whose errors carry a stable `extensions.code`.
- Cost: every object the response may hold counts 1; a list counts as many objects as it may hold (a connection
  its `first`/`last` or the default page size, `nodes` its IDs, any other list `LIST_ESTIMATE`); a mutation's
  root field adds `MUTATION_COST`. Computed from the validated document, against `max_query_cost`.
- Cost is computed from graphql-core's coerced argument values: variables (their defaults included) and literals
  as execution will see them, so `first: $n` with `$n = 100` or `100.0` counts 100, `nodes(ids: $ids)` each ID.
- Rate: a leaky bucket per verified principal (a partner user, a reviewer), in this process's memory; callers that
  are not signed in (whatever token they send) share one bucket per client address, in a pool of their own, so no
  made-up token can flush a user's bucket. An operation spends its requested cost up front and gets back what it did
  not use once it ran.
- Memory: documents longer than the token limit could ever need (`max_document_bytes`) are refused before they are
  parsed; the memos of parsed documents and of validation results are bounded in bytes (`_Remembered`), and only
  signed-in callers add to them.
- Every response tells its cost in `extensions.cost`, as Shopify does: `requestedQueryCost`, `actualQueryCost`
  (the objects the response really holds, counted from its data; a subscription's actual cost is its requested
  cost, charged once when it starts; its WebSocket event messages, shared by alike subscribers, carry none) and
  `throttleStatus {maximumAvailable currentlyAvailable restoreRate}`.
- Outside the schema: a request body cap (413), JSON arrays (batches) refused, and an execution timeout (TIMEOUT);
  see `RequestGuards` and `BodySizeLimit`, wired in app/main.py.
"""

import asyncio
import dataclasses
import functools
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from cross_web import HTTPException
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableValues,
    get_argument_values,
    get_named_type,
    get_operation_ast,
    get_variable_values,
    is_leaf_type,
    validate,
)
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from app.config import Settings
from app.persisted import (
    PersistedQueries,
    TrustedDocumentsOnly,
    document_too_large,
    refuse_before_parsing,
    text_bytes,
    utf8_length_over,
)
from app.resolvers.extensions import MaskUnexpectedErrors, clean_errors, is_unavailable, root_fields

log = logging.getLogger("mci.limits")

LIST_ESTIMATE = 10
"""What a plain list of objects (not a connection, not `nodes`) counts as in the requested cost."""
MUTATION_COST = 10
"""What each mutation root field adds to the cost, on top of the objects of its payload."""
MAX_PRINCIPAL_BUCKETS = 100_000
"""Buckets of signed-in principals kept per process (there are as many as real users who called lately); the least
recently used go first (a dropped bucket was full again anyway after `throttle_bucket_size / throttle_restore_rate`
seconds without use)."""
MAX_ADDRESS_BUCKETS = 10_000
"""Buckets of callers that are not signed in, one per client address, in a pool of their own: however many
addresses call, they never push a principal's bucket out."""
MEMO_ENTRIES = 512
"""Most documents each memo keeps, whatever their size (the bytes bound usually comes first)."""
TOKEN_BYTES = 512
"""What one lexical token of a parsed document keeps alive, estimated: its Token object (linked to the next one,
comments included, and kept by the nodes' locations) and its share of the syntax tree's nodes. Measured with
tracemalloc (tests/security/test_memory.py): 190 (a comment) to 470 (fields and arguments) bytes."""
DOCUMENT_BYTES = 4096
"""What a parsed document keeps beyond its tokens (the Source, the definitions' containers), estimated."""
ERROR_BYTES = 512
"""What one remembered validation error keeps beyond its message (locations, extensions, the object)."""


def limit_error(code: str, message: str, **extensions: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


@dataclasses.dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    default_page_size: int
    max_page_size: int
    bucket_size: float
    restore_rate: float
    max_document_bytes: int = 128_000
    document_cache_bytes: int = 32 * 1024 * 1024
    validation_cache_bytes: int = 4 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
            max_cost=settings.max_query_cost,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            bucket_size=settings.throttle_bucket_size,
            restore_rate=settings.throttle_restore_rate,
            max_document_bytes=settings.max_document_bytes,
            document_cache_bytes=settings.document_cache_bytes,
            validation_cache_bytes=settings.validation_cache_bytes,
        )


def signed_in(context: Any) -> bool:
    """True for a verified partner user or reviewer; only they add to the memos and the persisted query store."""
    return bool(getattr(context, "authenticated", False))


# ---------------------------------------------------------------------------------- depth, aliases and tokens


class _CodingContext:
    """A validation context that stamps `extensions.code` on every error a rule reports through it."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": self._code}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _coded(rule: type[ASTValidationRule], code: str) -> type[ValidationRule]:
    """Strawberry's limiter rules do their whole check when built; built on a coding context, their errors carry
    the limit's code."""

    class Coded(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            rule(_CodingContext(context, code))  # type: ignore[arg-type]

    Coded.__name__ = Coded.__qualname__ = f"{rule.__name__}[{code}]"
    return Coded


class DepthLimit(QueryDepthLimiter):
    def __init__(self, max_depth: int) -> None:
        super().__init__(max_depth=max_depth)
        self.validation_rules = [_coded(r, "MAX_DEPTH_EXCEEDED") for r in self.validation_rules]


class AliasLimit(MaxAliasesLimiter):
    def __init__(self, max_alias_count: int) -> None:
        super().__init__(max_alias_count=max_alias_count)
        self.validation_rules = [_coded(r, "MAX_ALIASES_EXCEEDED") for r in self.validation_rules]


class _Remembered:
    """What was worked out per document text, the least recently used forgotten first, within `max_bytes` (each
    entry accounted by the caller's estimate, the key's text included) and `max_entries`: clients send the same few
    documents again and again, while the texts any client may send are unbounded. An entry larger than the whole
    bound is not kept."""

    def __init__(self, max_bytes: int, max_entries: int = MEMO_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.bytes = 0  # the sum of the kept entries' estimates

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def texts(self) -> list[str]:
        """The document texts remembered, least recently used first."""
        return list(self._entries)

    def recall(self, key: str) -> Any:
        """The remembered value, or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def keep(self, key: str, value: Any, size: int) -> bool:
        """Remember `value` under `key`, accounted as `size` bytes; False when it is larger than the bound."""
        if size > self.max_bytes or self.max_entries <= 0:
            return False
        if (known := self._entries.pop(key, None)) is not None:
            self.bytes -= known[1]
        self._entries[key] = (value, size)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped
        return True


def parsed_bytes(query: str, document: DocumentNode) -> int:
    """What a parsed document keeps alive, estimated: its text twice (the tokens' values copy parts of it: a long
    string literal is kept in the text and in its token), `TOKEN_BYTES` per token of the chain its nodes'
    locations hold (comments included), `DOCUMENT_BYTES`."""
    token = document.loc.start_token if document.loc is not None else None
    if token is None:
        tokens = len(query)  # no locations to count from: at most one token a character
    else:
        tokens = 0
        while token is not None:
            tokens += 1
            token = token.next
    return 2 * text_bytes(query) + tokens * TOKEN_BYTES + DOCUMENT_BYTES


class TokenLimit(MaxTokensLimiter):
    """Refuses a document longer than the token limit could ever need (`Limits.max_document_bytes`,
    MAX_DOCUMENT_SIZE_EXCEEDED) before it is parsed; graphql-core stops parsing at the limit with a syntax error,
    and this gives that error the limit's code, and every other syntax error GRAPHQL_PARSE_FAILED, so each
    top-level error carries a code.

    It also remembers documents that parsed, per query text, in `memo` (bounded in bytes): clients send the same
    few documents again and again, and parsing the Customers page's costs about a millisecond. Only successes of
    signed-in callers are kept, so a wrong document still fails in Strawberry's own parse step, with its error
    handling, and an anonymous caller cannot fill the memo. Documents are never changed after parsing
    (graphql-core treats them as immutable), so requests may share one."""

    def __init__(self, max_token_count: int, *, memo: _Remembered, max_document_bytes: int) -> None:
        super().__init__(max_token_count=max_token_count)
        self.memo = memo
        self.max_document_bytes = max_document_bytes

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        query = execution.query if isinstance(execution.query, str) else None
        fresh = query is not None and execution.graphql_document is None
        if fresh and execution.pre_execution_errors is None:
            assert query is not None
            if utf8_length_over(query, self.max_document_bytes):
                refuse_before_parsing(execution, document_too_large(self.max_document_bytes))
                yield
                return
            execution.graphql_document = self.memo.recall(query)
            fresh = execution.graphql_document is None
        yield
        document = execution.graphql_document
        if fresh and document is not None and execution.pre_execution_errors is None:
            assert query is not None
            if signed_in(execution.context):
                self.memo.keep(query, document, parsed_bytes(query, document))
        marker = f"more than {self.max_token_count} tokens"
        for error in self.execution_context.pre_execution_errors or []:
            if not (error.extensions or {}).get("code"):
                code = "MAX_TOKENS_EXCEEDED" if marker in error.message else "GRAPHQL_PARSE_FAILED"
                error.extensions = {**(error.extensions or {}), "code": code}


# ------------------------------------------------------------------------------------------------------ cost


def _is_list(type_: GraphQLOutputType) -> bool:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            return True
        type_ = type_.of_type
    return False


def _is_connection(type_: Any) -> bool:
    return (
        isinstance(type_, GraphQLObjectType) and type_.name.endswith("Connection") and "edges" in type_.fields
    )


_COUNTED_ARGUMENTS = ("first", "last", "ids")


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limits = limits

    def _arguments(self, definition: Any, node: FieldNode) -> dict[str, Any]:
        """The field's arguments as execution will see them: graphql-core's coercion of literals and variables,
        defaults included (`100.0` for an Int is 100, a variable's default is its value). Only for fields that
        take an argument the cost counts; {} when they cannot be coerced (execution refuses those anyway)."""
        if not any(name in definition.args for name in _COUNTED_ARGUMENTS):
            return {}
        try:
            return get_argument_values(definition, node, self.variables)
        except (GraphQLError, TypeError, ValueError):
            return {}

    def _page(self, arguments: Mapping[str, Any]) -> int:
        for name in ("first", "last"):
            value = arguments.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, self.limits.max_page_size))
        return self.limits.default_page_size

    def _items(self, arguments: Mapping[str, Any], field: FieldNode, page: int | None) -> int:
        """How many objects a list field may hold."""
        if page is not None and field.name.value == "edges":
            return page
        if "ids" in arguments:
            ids = arguments["ids"]
            return len(ids) if isinstance(ids, list | tuple) else 1
        return LIST_ESTIMATE

    def selections(self, selection_set: SelectionSetNode, parent: Any, page: int | None) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, target, page)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selections(fragment.selection_set, target, page)
        return total

    def field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0  # __typename is free; introspection (off in production) is not counted
        definition = parent.fields.get(name)
        if definition is None or node.selection_set is None:
            return 0
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        arguments = self._arguments(definition, node)
        inner_page = self._page(arguments) if _is_connection(named) else None
        items = self._items(arguments, node, page) if _is_list(definition.type) else 1
        return items * (1 + self.selections(node.selection_set, named, inner_page))


def coerce_variables(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    hide_suggestions: bool = False,
) -> VariableValues | list[GraphQLError]:
    """The operation's variables coerced as graphql-core's execution will (defaults included), or its errors, each
    coded BAD_USER_INPUT."""
    operation = get_operation_ast(document, operation_name)
    definitions = (operation.variable_definitions or ()) if operation is not None else ()
    coerced = get_variable_values(
        schema, definitions, dict(variables or {}), max_errors=50, hide_suggestions=hide_suggestions
    )
    if isinstance(coerced, list):
        for error in coerced:
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
    return coerced


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: VariableValues | Mapping[str, Any] | None,
    limits: Limits,
) -> int:
    """The most objects the operation's response may hold, plus `MUTATION_COST` per mutation root field.
    `variables`: coerced (`coerce_variables`), or the request's raw values, coerced here (ValueError when they
    cannot be)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    if not isinstance(variables, VariableValues):
        coerced = coerce_variables(schema, document, operation_name, variables)
        if isinstance(coerced, list):
            raise ValueError("; ".join(error.message for error in coerced))
        variables = coerced
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walker = _CostWalker(schema, fragments, variables, limits)
    cost = walker.selections(operation.selection_set, root, None)
    if operation.operation is OperationType.MUTATION:
        cost += MUTATION_COST * sum(
            1 for field in root_fields(operation, fragments) if field.name.value[:2] != "__"
        )
    return cost


def actual_cost(data: Any, mutation: bool = False) -> int:
    """The objects the response holds (every JSON object below `data`), plus `MUTATION_COST` per mutation field
    that ran."""

    def objects(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(objects(v) for v in value.values())
        if isinstance(value, list):
            return sum(objects(v) for v in value)
        return 0

    if not isinstance(data, dict):
        return 0
    extra = MUTATION_COST * sum(1 for key in data if not key.startswith("__")) if mutation else 0
    return sum(objects(v) for v in data.values()) + extra


# ------------------------------------------------------------------------------------------------- throttle


@dataclasses.dataclass
class _Bucket:
    available: float
    updated: float


class Throttle:
    """Leaky buckets of cost points, one per key, in this process's memory: principals' keys (`user:`,
    `reviewer:`) in one pool of at most `MAX_PRINCIPAL_BUCKETS`, client addresses (`address:`) in another of at
    most `MAX_ADDRESS_BUCKETS`, each dropping its least recently used bucket first."""

    def __init__(
        self,
        size: float,
        restore_rate: float,
        clock: Any = time.monotonic,
        *,
        max_principals: int = MAX_PRINCIPAL_BUCKETS,
        max_addresses: int = MAX_ADDRESS_BUCKETS,
    ) -> None:
        self.size = size
        self.restore_rate = restore_rate
        self._clock = clock
        self._principals: OrderedDict[str, _Bucket] = OrderedDict()
        self._addresses: OrderedDict[str, _Bucket] = OrderedDict()
        self._bounds = {id(self._principals): max_principals, id(self._addresses): max_addresses}

    def _pool(self, key: str) -> "OrderedDict[str, _Bucket]":
        return self._addresses if key.startswith("address:") else self._principals

    def __len__(self) -> int:
        return len(self._principals) + len(self._addresses)

    def bucket_keys(self) -> list[str]:
        return [*self._principals, *self._addresses]

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        pool = self._pool(key)
        bucket = pool.get(key)
        if bucket is None:
            bucket = pool[key] = _Bucket(self.size, now)
            while len(pool) > self._bounds[id(pool)]:
                pool.popitem(last=False)
        else:
            pool.move_to_end(key)
            bucket.available = min(self.size, bucket.available + (now - bucket.updated) * self.restore_rate)
            bucket.updated = now
        return bucket

    def spend(self, key: str, points: int) -> bool:
        """Take `points` from the key's bucket if it holds them; False (and nothing taken) otherwise."""
        bucket = self._bucket(key)
        if bucket.available < points:
            return False
        bucket.available -= points
        return True

    def refund(self, key: str, points: int) -> None:
        if points > 0:
            bucket = self._bucket(key)
            bucket.available = min(self.size, bucket.available + points)

    def available(self, key: str) -> float:
        return self._bucket(key).available

    def status(self, key: str) -> dict[str, float | int]:
        return {
            "maximumAvailable": float(self.size),
            "currentlyAvailable": math.floor(self.available(key)),
            "restoreRate": float(self.restore_rate),
        }


def throttle_key(context: Any) -> str:
    """Whose bucket an operation spends from: the verified principal of the request or WebSocket connection (a
    partner user by id, a reviewer by email), so all tokens of one user share one bucket; a caller that is not
    signed in by its client address, whatever token it sent, so made-up tokens get no bucket of their own."""
    viewer = getattr(context, "viewer", None)
    if viewer is not None:
        return f"user:{viewer.user_id}"
    reviewer = getattr(context, "reviewer", None)
    if reviewer is not None:
        return f"reviewer:{reviewer.email.strip().lower()}"
    client = getattr(getattr(context, "request", None), "client", None)
    return f"address:{client.host if client else 'unknown'}"


def _validated(execution: Any, memo: _Remembered, *, hide_suggestions: bool) -> list[GraphQLError]:
    """Validation errors of the document, remembered per query text in `memo` (one per schema: a schema's rules
    are fixed when it is built), since clients send the same few documents again and again (validation was a third
    of a mutation's CPU in bench/NOTES.md scenario 5). Only signed-in callers add to it. A remembered error keeps
    its message, locations and code, not the syntax tree it points at (which would outlive the parse memo)."""
    key = execution.query if isinstance(execution.query, str) else None
    if key is not None and (known := memo.recall(key)) is not None:
        return known  # type: ignore[no-any-return]
    rules = (*execution.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
    errors = validate(
        execution.schema._schema, execution.graphql_document, rules, hide_suggestions=hide_suggestions
    )
    size = 0
    for error in errors:  # a limit's rule brings its own code; the rest are the document's mistakes
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
        error.nodes = None  # `locations` stay: they were worked out when it was made
        error.source = None
        size += text_bytes(error.message) + ERROR_BYTES
    if key is not None and signed_in(execution.context):
        memo.keep(key, errors, text_bytes(key) + size + ERROR_BYTES)
    return errors


@dataclasses.dataclass
class Pipeline:
    """What one schema's request limits keep between requests: the bucket store and the two memos."""

    limits: Limits
    throttle: Throttle
    documents: _Remembered  # query text -> parsed DocumentNode
    validations: _Remembered  # query text -> validation errors
    production: bool = False

    @classmethod
    def of(cls, limits: Limits, *, production: bool) -> "Pipeline":
        return cls(
            limits=limits,
            throttle=Throttle(limits.bucket_size, limits.restore_rate),
            documents=_Remembered(limits.document_cache_bytes),
            validations=_Remembered(limits.validation_cache_bytes),
            production=production,
        )


def pipeline_of(schema: Any) -> Pipeline:
    """The pipeline a schema built with `guard_extensions` uses (its memos and buckets), for tests and
    diagnostics."""
    for extension in schema.extensions:
        pipeline = getattr(extension, "keywords", {}).get("pipeline")
        if isinstance(pipeline, Pipeline):
            return pipeline
    raise LookupError("this schema has no request limits")


class QueryCost(SchemaExtension):
    """Validates the document itself (with every rule Strawberry would use, suggestions hidden in production), then,
    on a valid one, coerces its variables (BAD_USER_INPUT), computes its cost from them and spends it from the
    caller's bucket: MAX_COST_EXCEEDED or THROTTLED refuse it before execution."""

    def __init__(self, *, pipeline: Pipeline, execution_context: Any = None) -> None:
        self.pipeline = pipeline
        self.limits = pipeline.limits
        self.throttle = pipeline.throttle
        self.requested: int | None = None
        self.actual: int | None = None
        self.key: str | None = None
        self.spent = 0

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.pre_execution_errors is None and execution.graphql_document is not None:
            # Strawberry skips its own validation when errors are set before it: these are the same rules.
            errors = _validated(
                execution, self.pipeline.validations, hide_suggestions=self.pipeline.production
            )
            if not errors:
                errors = self._charge()
            execution.pre_execution_errors = errors
        yield

    def _charge(self) -> list[GraphQLError]:
        execution = self.execution_context
        assert execution.graphql_document is not None
        schema = execution.schema._schema
        variables = coerce_variables(
            schema,
            execution.graphql_document,
            execution.operation_name,
            execution.variables if isinstance(execution.variables, dict) else {},
            hide_suggestions=self.pipeline.production,
        )
        if isinstance(variables, list):
            return variables
        cost = requested_cost(
            schema, execution.graphql_document, execution.operation_name, variables, self.limits
        )
        self.requested = cost
        self.key = throttle_key(execution.context)
        maximum = min(self.limits.max_cost, math.floor(self.throttle.size))  # more would never fit the bucket
        if cost > maximum:
            return [
                limit_error(
                    "MAX_COST_EXCEEDED",
                    f"This operation may cost {cost} points; one operation may cost at most {maximum}. Ask for "
                    "fewer items (`first`, `last`) or fewer nested lists.",
                    cost=cost,
                    maximumCost=maximum,
                )
            ]
        if not self.throttle.spend(self.key, cost):
            available = self.throttle.available(self.key)
            wait = math.ceil((cost - available) / self.throttle.restore_rate)
            return [
                limit_error(
                    "THROTTLED",
                    f"Throttled: this operation costs {cost} points and {math.floor(available)} are available; "
                    f"{self.throttle.restore_rate:g} come back every second.",
                    retryAfterSeconds=wait,
                )
            ]
        self.spent = cost
        return []

    def on_execute(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        result = execution.result
        if self.key is None or self.requested is None or result is None or not hasattr(result, "data"):
            return  # a subscription: its requested cost stands
        mutation = execution.operation_type.value == "mutation"
        self.actual = min(self.requested, actual_cost(result.data, mutation))
        self.throttle.refund(self.key, self.spent - self.actual)
        self.spent = self.actual

    def get_results(self) -> dict[str, Any]:
        if self.key is None:
            return {}
        return {
            "cost": {
                "requestedQueryCost": self.requested,
                "actualQueryCost": self.actual if self.actual is not None else self.requested,
                "throttleStatus": self.throttle.status(self.key),
            }
        }


def guard_extensions(
    settings: Settings | None, *, production: bool, persisted: PersistedQueries | None = None
) -> list[Any]:
    """The schema extensions of this module, in order, plus the trusted-documents check and error masking; they
    share one `Pipeline` (see `pipeline_of`)."""
    limits = Limits.of(settings or Settings.model_construct())
    pipeline = Pipeline.of(limits, production=production)
    extensions: list[Any] = [
        functools.partial(DepthLimit, limits.max_depth),
        functools.partial(AliasLimit, limits.max_aliases),
        functools.partial(
            TokenLimit,
            limits.max_tokens,
            memo=pipeline.documents,
            max_document_bytes=limits.max_document_bytes,
        ),
    ]
    if persisted is not None and persisted.enforced:
        extensions.append(functools.partial(TrustedDocumentsOnly, persisted=persisted))
    extensions += [
        functools.partial(QueryCost, pipeline=pipeline),
        functools.partial(MaskUnexpectedErrors, production=production),
    ]
    return extensions


# ----------------------------------------------------------------------------------------- around the schema


def error_body(message: str, code: str, **extensions: object) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


class Refused(Exception):
    """A request turned away before any GraphQL work, answered as a GraphQL error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return JSONResponse(error_body(self.message, self.code), self.status)


class RequestGuards:
    """Mixed into the GraphQL view (app/main.py) before Strawberry's: refusals as JSON GraphQL errors, batches
    refused, persisted queries resolved, the execution timeout, an unreachable database as UNAVAILABLE (503) and
    the last masking pass over every HTTP result."""

    runtime: Any
    persisted: PersistedQueries

    @property
    def _production(self) -> bool:
        return bool(self.runtime.settings.env == "production")

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET that carries only a persisted query's hash is an operation, not a visit to GraphiQL.
        return super().should_render_graphql_ide(request) and not request.query_params.get("extensions")  # type: ignore[misc]

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if getattr(request, "scope", {}).get("type") != "http":
            return await super().run(request, context, root_value)  # type: ignore[misc]
        try:
            return await super().run(request, context, root_value)  # type: ignore[misc]
        except Refused as refused:
            return refused.response()
        except HTTPException as error:
            return JSONResponse(error_body(error.reason, "BAD_REQUEST"), error.status_code)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("request refused: the database is unavailable (%s)", type(error).__name__)
            return JSONResponse(
                error_body("The service cannot reach its database; try again shortly.", "UNAVAILABLE"), 503
            )

    async def parse_http_body(self, request: Any) -> Any:
        if request.method == "POST":
            body = await request.get_body()
            if body.lstrip()[:1] in (b"[", "["):
                raise Refused(
                    400,
                    "BATCHING_NOT_SUPPORTED",
                    "Batched operations (a JSON array) are not accepted: send one operation per request.",
                )
        return await super().parse_http_body(request)  # type: ignore[misc]

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        query = self.persisted.resolve(
            request_data.query, request_data.extensions, may_register=signed_in(context)
        )
        if isinstance(query, GraphQLError):
            return ExecutionResult(data=None, errors=[query])
        request_data = dataclasses.replace(request_data, query=query)
        seconds = self.runtime.settings.execution_timeout_seconds
        # By the request's deadline when it has one (authentication, at its start, already used part of it).
        deadline = getattr(context, "deadline", None)
        timeout = asyncio.timeout_at(deadline) if deadline is not None else asyncio.timeout(seconds)
        try:
            async with timeout:
                result: ExecutionResult = await super().execute_single(  # type: ignore[misc]
                    request, request_adapter, sub_response, context, root_value, request_data
                )
                return result
        except TimeoutError:
            if not timeout.expired():
                raise
            log.warning("operation %r stopped after %ss", request_data.operation_name, seconds)
            message = f"The operation ran longer than {seconds:g} seconds and was stopped."
            return ExecutionResult(data=None, errors=[limit_error("TIMEOUT", message)])

    async def process_result(self, request: Any, result: ExecutionResult) -> Any:
        if result.errors:
            # Errors raised around execution (in an extension's hook) reach here without the masking extension.
            result.errors = clean_errors(result.errors, production=self._production)
        return await super().process_result(request, result)  # type: ignore[misc]


class BodySizeLimit:
    """ASGI middleware: a request body larger than `max_bytes` (declared or streamed) gets 413 and a JSON error."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            error_body(f"The request body is larger than {self.max_bytes} bytes.", "PAYLOAD_TOO_LARGE")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)


class _TooLarge(Exception):
    pass


def decode_json(data: str | bytes) -> object:
    """A request body or WebSocket message as JSON; nesting too deep to decode is malformed JSON like any other
    (json.JSONDecodeError: HTTP 400), never a RecursionError escaping as a 500."""
    try:
        return json.loads(data)
    except RecursionError:
        raise json.JSONDecodeError("nested too deep", data if isinstance(data, str) else "", 0) from None


def request_middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: CORS for the allowed browser origins (none: same-origin only), then the body cap."""
    middleware = [Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:
        cors = Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
        middleware.insert(0, cors)
    return middleware
