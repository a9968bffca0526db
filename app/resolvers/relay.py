"""Relay conventions: the Node interface, opaque global IDs, cursors, connections and their page arguments."""

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Generic, Protocol, TypeVar

import strawberry

from app.resolvers.errors import bad_user_input
from app.services.pagination import Page, PageRequest

T = TypeVar("T")


@strawberry.interface(description="An object with a globally unique, opaque ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global ID; pass it to `node` or `nodes`.")


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("="))


MAX_KEY = 2**31 - 1  # primary keys (and so cursors) are 32-bit integers in the database


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything that is not one of our IDs (a key past the database's
    integer range names no row: it must not reach a query)."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        type_name, _, pk = raw.partition(":")
        return (type_name, int(pk)) if type_name and pk.isdigit() and int(pk) <= MAX_KEY else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def pk_of(global_id: str, type_name: str) -> int | None:
    """The primary key of a global ID of this type, or None (wrong type or malformed)."""
    decoded = from_global_id(global_id)
    return decoded[1] if decoded and decoded[0] == type_name else None


_CURSOR_PREFIX = "cursor:v1:"


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, argument: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(_CURSOR_PREFIX) and abs(key := int(raw.removeprefix(_CURSOR_PREFIX))) <= MAX_KEY:
            return key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise bad_user_input(f"`{argument}` is not a cursor returned by this API.", argument)


class PageSizes(Protocol):
    default_page_size: int
    max_page_size: int


def page_request(
    sizes: PageSizes, first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """Validate Relay page arguments; with neither `first` nor `last`, the first `default_page_size` items."""
    default, maximum = sizes.default_page_size, sizes.max_page_size
    if first is not None and last is not None:
        raise bad_user_input("Pass `first` or `last`, not both.", "first")
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= maximum:
            raise bad_user_input(f"`{name}` must be between 0 and {maximum}.", name)
    if first is None and last is None:
        first = default
    return PageRequest(
        first=first,
        after=decode_cursor(after, "after") if after is not None else None,
        last=last,
        before=decode_cursor(before, "before") if before is not None else None,
    )


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow this page.")
    has_previous_page: bool = strawberry.field(description="True when items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item of the page.")


@strawberry.type(description="An item of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor of this item, for `after` or `before`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, with cursors to the pages around it.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the whole list.")
    total_count: int = strawberry.field(description="Number of items in the whole list, across all pages.")

    @classmethod
    def of(cls, page: Page[object], to_node: Callable[[object], T]) -> "Connection[T]":
        cursors = [encode_cursor(key) for key in page.keys]
        assert page.total is not None  # these lists are keyset pages, which always count
        return cls(
            edges=[Edge(cursor=c, node=to_node(item)) for c, item in zip(cursors, page.items, strict=True)],
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            total_count=page.total,
        )


First = Annotated[
    int | None, strawberry.argument(description="Return the first N items (at most the maximum page size).")
]
After = Annotated[str | None, strawberry.argument(description="Return items after this cursor.")]
Last = Annotated[
    int | None, strawberry.argument(description="Return the last N items (at most the maximum page size).")
]
Before = Annotated[str | None, strawberry.argument(description="Return items before this cursor.")]
