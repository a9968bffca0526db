"""Customers as a partner knows them, and their identifiers."""

from typing import Any

import strawberry
from sqlalchemy import Row

from app import models
from app.resolvers.context import Info
from app.resolvers.enums import CustomerIdType
from app.resolvers.loaders import now_or_later
from app.resolvers.relay import Node, to_global_id


@strawberry.type(
    description="A customer identifier: what a customer was nominated with, or what it resolved to."
)
class CustomerIdentifier:
    id_type: CustomerIdType = strawberry.field(description="The kind of identifier.")
    value: str = strawberry.field(
        description="The identifier, normalised (lower-case GUIDs and domains, upper-case MSX IDs)."
    )


@strawberry.type(
    description="A customer as your partner account knows it: one nominating identifier. Eligibility belongs to "
    "an identifier, so the same organisation nominated by another identifier is another customer."
)
class Customer(Node):
    name: str = strawberry.field(
        description="The organisation's name from the customer directory, else the first friendly name."
    )
    tenant_id: str | None = strawberry.field(
        description="The Microsoft Entra tenant the identifier resolves to, when known."
    )
    identifier: CustomerIdentifier = strawberry.field(
        description="The identifier this customer is nominated with."
    )
    pk: strawberry.Private[int]

    @strawberry.field(description="Every identifier known for this customer: the nominating one first.")
    def identifiers(self, info: Info) -> list[CustomerIdentifier]:
        return now_or_later(info.context.loaders.customer_identifiers, self.pk, _identifiers)  # type: ignore[return-value]

    @classmethod
    def from_model(cls, row: models.Customer) -> "Customer":
        assert row.id is not None
        return cls(
            id=to_global_id("Customer", row.id),
            pk=row.id,
            name=row.name,
            tenant_id=row.tenant_id,
            identifier=CustomerIdentifier(id_type=CustomerIdType(row.id_type), value=row.id_value),
        )


def _identifiers(rows: list[Row[Any]]) -> list[CustomerIdentifier]:
    return [CustomerIdentifier(id_type=CustomerIdType(r.id_type), value=r.value) for r in rows]
