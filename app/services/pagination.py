"""Keyset pagination over an integer key: stable under inserts, one statement for the rows and one for counts."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """Relay-style window: `first` after a key, or `last` before a key (keys are exclusive bounds)."""

    first: int | None = None
    after: int | None = None
    last: int | None = None
    before: int | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    keys: list[int]
    has_next: bool
    has_previous: bool
    total: int | None  # None: not counted (a caller that did not ask for it)


async def keyset_page(
    session: AsyncSession, statement: Select[Any], key: Any, request: PageRequest
) -> Page[Any]:
    """Run `statement` (already filtered, unordered) as one page ordered by `key` ascending.

    `statement` selects one entity; `key` is that entity's integer column the order and cursors use.
    """
    window = statement
    if request.after is not None:
        window = window.where(key > request.after)
    if request.before is not None:
        window = window.where(key < request.before)
    backwards = request.last is not None and request.first is None
    limit = request.last if backwards else request.first
    assert limit is not None
    window = window.order_by(key.desc() if backwards else key).limit(limit + 1)
    rows = list((await session.execute(window)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()

    # Whole-set size and whether anything lies beyond the window's far edges, in one statement.
    keyed = statement.add_columns(key.label("_page_key")).subquery()
    page_key = keyed.c._page_key
    beyond_after = case((page_key <= request.after, 1), else_=0) if request.after is not None else 0
    beyond_before = case((page_key >= request.before, 1), else_=0) if request.before is not None else 0
    total, n_before, n_after = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(beyond_after), 0),
                func.coalesce(func.sum(beyond_before), 0),
            ).select_from(keyed)
        )
    ).one()

    items = [row[0] for row in rows]
    return Page(
        items=items,
        keys=[getattr(item, key.key) for item in items],
        has_next=more if not backwards else n_after > 0,
        has_previous=more if backwards else n_before > 0,
        total=int(total),
    )
