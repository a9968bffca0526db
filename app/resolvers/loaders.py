"""Per-request batch loaders (aiodataloader), one per relation the schema exposes. Built in the context,
never at module level, so no request sees another's cache."""

from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services import catalogue, consent, records

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


def _batch(
    sessions: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, Iterable[K]], Awaitable[Mapping[K, V]]],
    missing: Any = None,
) -> DataLoader:
    """A loader whose batch opens its own session: loaders of one request may run concurrently."""

    async def load(keys: list[K]) -> list[V | Any]:
        async with sessions() as session:
            found = await fetch(session, keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(load)


class Loaders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engagement = _batch(sessions, catalogue.engagements_by_id)
        self.engagement_location_ids = _batch(sessions, catalogue.eligible_location_ids, frozenset())
        self.location = _batch(sessions, catalogue.locations_by_pk)
        self.partner = _batch(sessions, catalogue.partners_by_id)
        self.customer = _batch(sessions, records.customers_by_id)
        self.customer_identifiers = _batch(sessions, records.identifiers_by_customer, [])
        self.claim = _batch(sessions, records.claims_by_id)
        self.consent_request = _batch(sessions, consent.consent_requests_by_claim)


def now_or_later(loader: DataLoader, key: Any, convert: Callable[[Any], R]) -> R | Coroutine[Any, Any, R]:
    """`convert` of the loaded value: at once when the loader already holds it (primed by a resolver that read
    it with its page), else an awaitable. A plain resolver returning this keeps a primed field synchronous, and
    graphql-core completes synchronous fields without a task each (a page's rows would otherwise cost one
    coroutine and task per row and field)."""
    future = loader.load(key)
    if future.done():
        return convert(future.result())

    async def later() -> R:
        return convert(await future)

    return later()
