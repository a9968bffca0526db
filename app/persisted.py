"""Persisted queries: Apollo's automatic persisted queries (APQ) and an optional allowlist of trusted documents.

APQ over GET and POST: a client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the query; on
a miss it gets PERSISTED_QUERY_NOT_FOUND and sends the query with the hash, which must be the query's SHA-256. The
server keeps such queries in memory, the least recently used dropped beyond `persisted_query_cache_size` entries or
`persisted_query_cache_bytes` bytes. Only a signed-in caller registers one (an anonymous one may use what is stored,
never fill the store), and never a document longer than `Settings.max_document_bytes`.

Trusted documents (`MCI_TRUSTED_DOCUMENTS`): a JSON file mapping SHA-256 to document (or an Apollo persisted query
manifest). They can always be sent by hash. In production the file is an allowlist: any other document, over any
transport, is refused with PERSISTED_QUERY_NOT_ALLOWED, and nothing new is registered.
"""

import hashlib
import json
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from app.config import Settings


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


ENTRY_BYTES = 256
"""What one stored query costs beyond its text: the key (a 64-character digest), the ordered dict's links."""


def text_bytes(text: str) -> int:
    """The memory a str takes (1, 2 or 4 bytes a character, and the object's header)."""
    return sys.getsizeof(text)


def utf8_length_over(text: str, limit: int) -> bool:
    """True when the text is longer than `limit` bytes in UTF-8; cheap: no encoding for ASCII or for a text longer
    in characters already."""
    if len(text) > limit:
        return True
    if text.isascii() or len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def document_too_large(limit: int) -> GraphQLError:
    return _error(
        "MAX_DOCUMENT_SIZE_EXCEEDED",
        f"The document is longer than {limit} bytes, more than the token limit could ever need: send a smaller "
        "one (values belong in `variables`).",
    )


def refuse_before_parsing(execution: Any, error: GraphQLError) -> None:
    """Called from an `on_parse` hook before the parse: answer `error` without parsing (or keeping) the text.
    Strawberry parses unless a document is set, and skips validation and execution when errors are: so both are
    set, the document an empty stand-in naming the requested operation (Strawberry looks its type up by name) of a
    type the transport allows (Server-Sent Events: subscriptions only)."""
    name = execution.operation_name if isinstance(execution.operation_name, str) else None
    allowed = list(execution.allowed_operations or (OperationType.QUERY,))
    operation = OperationDefinitionNode(
        operation=OperationType.QUERY if OperationType.QUERY in allowed else allowed[0],
        name=NameNode(value=name) if name else None,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=(FieldNode(name=NameNode(value="__typename")),)),
    )
    execution.graphql_document = DocumentNode(definitions=(operation,))
    execution.pre_execution_errors = [error]


def not_allowed() -> GraphQLError:
    return _error(
        "PERSISTED_QUERY_NOT_ALLOWED",
        "Only the operations this service trusts are accepted here (by their hash).",
    )


def load_trusted_documents(path: str) -> dict[str, str]:
    """`{sha256: document}`, or an Apollo manifest `{"operations": [{"id", "body"}, ...]}`; every hash must be its
    document's SHA-256."""
    raw = json.loads(Path(path).read_text())
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        pairs = [(op.get("id"), op.get("body")) for op in raw["operations"] if isinstance(op, dict)]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise ValueError(f"{path}: expected a JSON object of sha256 -> document")
    documents: dict[str, str] = {}
    for digest, document in pairs:
        if not isinstance(digest, str) or not isinstance(document, str) or sha256(document) != digest.lower():
            raise ValueError(f"{path}: {digest!r} is not the SHA-256 of its document")
        documents[digest.lower()] = document
    return documents


class PersistedQueries:
    def __init__(
        self,
        trusted: Mapping[str, str],
        *,
        capacity: int,
        enforced: bool,
        max_bytes: int = 8 * 1024 * 1024,
        max_document_bytes: int | None = None,
    ) -> None:
        self.trusted = dict(trusted)  # the operator's file: not counted, never dropped
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.max_document_bytes = max_document_bytes
        self.enforced = enforced  # production with trusted documents: nothing else runs
        self._cache: OrderedDict[str, tuple[str, int]] = OrderedDict()  # digest -> (query, accounted bytes)
        self.bytes = 0  # what the stored queries take, as accounted

    @classmethod
    def of(cls, settings: Settings) -> "PersistedQueries":
        trusted = load_trusted_documents(settings.trusted_documents) if settings.trusted_documents else {}
        for digest, document in trusted.items():
            if utf8_length_over(document, settings.max_document_bytes):
                raise ValueError(
                    f"{settings.trusted_documents}: {digest} is longer than {settings.max_document_bytes} bytes, "
                    "more than MCI_MAX_QUERY_TOKENS allows: it could never run"
                )
        return cls(
            trusted,
            capacity=settings.persisted_query_cache_size,
            max_bytes=settings.persisted_query_cache_bytes,
            max_document_bytes=settings.max_document_bytes,
            enforced=settings.env == "production" and settings.trusted_documents is not None,
        )

    def __len__(self) -> int:
        return len(self._cache)

    def stored(self) -> list[str]:
        """The registered queries, least recently used first (for tests and diagnostics)."""
        return [query for query, _ in self._cache.values()]

    def _remember(self, digest: str, query: str) -> None:
        size = text_bytes(query) + ENTRY_BYTES
        if self.capacity <= 0 or size > self.max_bytes:
            return
        if (known := self._cache.pop(digest, None)) is not None:
            self.bytes -= known[1]
        self._cache[digest] = (query, size)
        self.bytes += size
        while len(self._cache) > self.capacity or self.bytes > self.max_bytes:
            _, (_, dropped) = self._cache.popitem(last=False)
            self.bytes -= dropped

    def _lookup(self, digest: str) -> str | None:
        if digest in self.trusted:
            return self.trusted[digest]
        if self.enforced:
            return None
        found = self._cache.get(digest)
        if found is None:
            return None
        self._cache.move_to_end(digest)
        return found[0]

    def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None, *, may_register: bool = True
    ) -> str | GraphQLError | None:
        """The query to run for a request, or the error to answer with. A query sent with its hash is registered
        only when `may_register` (the caller is signed in) and it is no longer than the document limit."""
        if (
            isinstance(query, str)
            and self.max_document_bytes is not None
            and utf8_length_over(query, self.max_document_bytes)
        ):
            return document_too_large(self.max_document_bytes)
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query  # a plain request; the allowlist, when enforced, is checked by TrustedDocumentsOnly
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(digest, str) or persisted.get("version") != 1:
            return _error(
                "PERSISTED_QUERY_INVALID",
                "`extensions.persistedQuery` must be {version: 1, sha256Hash: <hex SHA-256 of the query>}.",
            )
        digest = digest.lower()
        if query is None:
            found = self._lookup(digest)
            if found is not None:
                return found
            if self.enforced:
                return not_allowed()
            return _error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        if sha256(query) != digest:
            return _error(
                "PERSISTED_QUERY_HASH_MISMATCH",
                "`persistedQuery.sha256Hash` is not the SHA-256 of the query.",
            )
        if self.enforced:
            return query if digest in self.trusted else not_allowed()
        if may_register:
            self._remember(digest, query)
        return query


class TrustedDocumentsOnly(SchemaExtension):
    """Production with trusted documents: any document that is not one of them is refused before it is parsed, on
    every transport (HTTP, WebSocket, Server-Sent Events): an untrusted text is never parsed nor kept."""

    def __init__(self, *, persisted: PersistedQueries, execution_context: Any = None) -> None:
        self.persisted = persisted

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        query = execution.query
        if execution.pre_execution_errors is None and (
            not isinstance(query, str) or sha256(query) not in self.persisted.trusted
        ):
            refuse_before_parsing(execution, not_allowed())
        yield
