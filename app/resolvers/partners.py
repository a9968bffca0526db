"""Partner accounts, locations, role assignments and the viewer."""

import strawberry

from app import models
from app.resolvers.context import Info
from app.resolvers.enums import IncentivesRole
from app.resolvers.relay import After, Before, Connection, First, Last, Node, page_request, to_global_id
from app.services import catalogue


@strawberry.type(description="A partner organisation in the MCI program.")
class PartnerAccount(Node):
    key: str = strawberry.field(description="Stable key of the account in Microsoft's reference data.")
    name: str = strawberry.field(description="Name of the partner organisation.")

    @classmethod
    def from_model(cls, row: models.PartnerAccount) -> "PartnerAccount":
        assert row.id is not None
        return cls(id=to_global_id("PartnerAccount", row.id), key=row.key, name=row.name)


@strawberry.type(description="A Microsoft AI Cloud Partner Program location of a partner account.")
class PartnerLocation(Node):
    location_id: str = strawberry.field(description="The AI Cloud Partner Program location ID (digits).")
    name: str = strawberry.field(description="Name of the location.")
    country: str = strawberry.field(description="Country of the location, ISO 3166-1 alpha-2.")
    mci_enrolled: bool = strawberry.field(
        description="Whether the location is enrolled in MCI; only enrolled locations can be chosen for a claim."
    )
    payee_profile_valid: bool = strawberry.field(description="Whether the location's payee profile is valid.")
    pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, row: models.PartnerLocation) -> "PartnerLocation":
        assert row.id is not None
        return cls(
            id=to_global_id("PartnerLocation", row.id),
            pk=row.id,
            location_id=row.location_id,
            name=row.name,
            country=row.country,
            mci_enrolled=row.mci_enrolled,
            payee_profile_valid=row.payee_profile_valid,
        )


@strawberry.type(description="A role held by the viewer, for the whole account or for one location.")
class RoleAssignment:
    role: IncentivesRole = strawberry.field(description="The role.")
    location_pk: strawberry.Private[int | None]

    @strawberry.field(description="The location the role is held for; null when it covers the whole account.")
    async def location(self, info: Info) -> PartnerLocation | None:
        if self.location_pk is None:
            return None
        row = await info.context.loaders.location.load(self.location_pk)
        return PartnerLocation.from_model(row) if row else None


@strawberry.type(description="A partner user of this service.")
class PartnerUser(Node):
    email: str = strawberry.field(description="Email address, lower-cased; the user's sign-in name.")
    name: str = strawberry.field(description="Display name.")


PartnerLocationConnection = Connection[PartnerLocation]


@strawberry.type(
    description="The signed-in partner user, its account, roles and the locations it may act for."
)
class Viewer:
    user: PartnerUser = strawberry.field(description="The signed-in user.")
    partner_pk: strawberry.Private[int]

    @strawberry.field(description="The partner account the user belongs to.")
    async def partner(self, info: Info) -> PartnerAccount:
        return PartnerAccount.from_model(await info.context.loaders.partner.load(self.partner_pk))

    @strawberry.field(description="The user's incentives roles.")
    def roles(self, info: Info) -> list[RoleAssignment]:
        viewer = info.context.require_viewer()
        return [RoleAssignment(role=IncentivesRole(g.role), location_pk=g.location_pk) for g in viewer.grants]

    @strawberry.field(
        description="The locations this user may see and act for, each with its enrolment and payee status."
    )
    async def locations(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> PartnerLocationConnection:
        context = info.context
        settings = context.runtime.settings
        request = page_request(settings, first, after, last, before)
        async with context.runtime.sessions() as session:
            page = await catalogue.list_locations(session, context.require_viewer(), request)
        return PartnerLocationConnection.of(page, PartnerLocation.from_model)
