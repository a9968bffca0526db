"""Persisted queries: Apollo's automatic persisted queries (APQ) and an optional allowlist of trusted documents.

APQ over GET and POST: a client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the query; on
a miss it gets PERSISTED_QUERY_NOT_FOUND and sends the query with the hash, which must be the query's SHA-256. The
server keeps such queries in memory, the least recently used dropped beyond `persisted_query_cache_size`.

Trusted documents (`MCI_TRUSTED_DOCUMENTS`): a JSON file mapping SHA-256 to document (or an Apollo persisted query
manifest). They can always be sent by hash. In production the file is an allowlist: any other document, over any
transport, is refused with PERSISTED_QUERY_NOT_ALLOWED, and nothing new is registered.
"""

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.config import Settings


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


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
    def __init__(self, trusted: Mapping[str, str], *, capacity: int, enforced: bool) -> None:
        self.trusted = dict(trusted)
        self.capacity = capacity
        self.enforced = enforced  # production with trusted documents: nothing else runs
        self._cache: OrderedDict[str, str] = OrderedDict()

    @classmethod
    def of(cls, settings: Settings) -> "PersistedQueries":
        trusted = load_trusted_documents(settings.trusted_documents) if settings.trusted_documents else {}
        return cls(
            trusted,
            capacity=settings.persisted_query_cache_size,
            enforced=settings.env == "production" and settings.trusted_documents is not None,
        )

    def _remember(self, digest: str, query: str) -> None:
        if self.capacity <= 0:
            return
        self._cache[digest] = query
        self._cache.move_to_end(digest)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def _lookup(self, digest: str) -> str | None:
        if digest in self.trusted:
            return self.trusted[digest]
        if self.enforced:
            return None
        found = self._cache.get(digest)
        if found is not None:
            self._cache.move_to_end(digest)
        return found

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | GraphQLError | None:
        """The query to run for a request, or the error to answer with."""
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
        self._remember(digest, query)
        return query


class TrustedDocumentsOnly(SchemaExtension):
    """Production with trusted documents: any document that is not one of them is refused before validation, on
    every transport (HTTP, WebSocket, Server-Sent Events)."""

    def __init__(self, *, persisted: PersistedQueries, execution_context: Any = None) -> None:
        self.persisted = persisted

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        query = execution.query
        if execution.pre_execution_errors is None and (
            query is None or sha256(query) not in self.persisted.trusted
        ):
            execution.pre_execution_errors = [not_allowed()]
        yield
