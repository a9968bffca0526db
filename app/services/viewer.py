"""Who is asking: the partner user behind a token, with the locations its roles open."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.access import RoleGrant, visible_location_pks
from app.domain.enums import IncentivesRole
from app.models import PartnerLocation, PartnerUser, RoleAssignment


@dataclass(frozen=True)
class Principal:
    user_id: int
    partner_id: int
    email: str
    name: str
    grants: tuple[RoleGrant, ...]
    location_pks: frozenset[int]  # the locations this user may see and act for

    def may_see_location(self, location_pk: int) -> bool:
        return location_pk in self.location_pks


async def load_principal(session: AsyncSession, email: str) -> Principal | None:
    """The partner user with this email, or None when no such user (or it holds no role)."""
    user = (
        await session.execute(select(PartnerUser).where(PartnerUser.email == email.lower()))
    ).scalar_one_or_none()
    if user is None or user.id is None:
        return None
    roles = (
        (await session.execute(select(RoleAssignment).where(RoleAssignment.user_id == user.id)))
        .scalars()
        .all()
    )
    if not roles:
        return None
    account_locations = (
        await session.execute(select(PartnerLocation.id).where(PartnerLocation.partner_id == user.partner_id))
    ).scalars()
    grants = tuple(RoleGrant(IncentivesRole(r.role), r.location_pk) for r in roles)
    return Principal(
        user_id=user.id,
        partner_id=user.partner_id,
        email=user.email,
        name=user.name,
        grants=grants,
        location_pks=visible_location_pks(grants, [pk for pk in account_locations if pk is not None]),
    )


@dataclass(frozen=True)
class Reviewer:
    """A Microsoft reviewer: sees submitted claims of every partner, acts on them; never a partner's data."""

    email: str
    name: str
