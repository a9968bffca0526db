"""Who is asking: the partner user behind a token, with the locations its roles open."""

from dataclasses import dataclass

from sqlalchemy import bindparam, select
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


_USERS = PartnerUser.__table__  # type: ignore[attr-defined]
_ROLES = RoleAssignment.__table__  # type: ignore[attr-defined]
_LOCATIONS = PartnerLocation.__table__  # type: ignore[attr-defined]
# One statement for every request's caller: the user, each of its roles, each location of its account (a few rows:
# roles x locations). Built once; the email is its only parameter.
_PRINCIPAL = (
    select(
        _USERS.c.id, _USERS.c.partner_id, _USERS.c.email, _USERS.c.name, _ROLES.c.role, _ROLES.c.location_pk
    )
    .add_columns(_LOCATIONS.c.id.label("account_location"))
    .outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id)
    .outerjoin(_LOCATIONS, _LOCATIONS.c.partner_id == _USERS.c.partner_id)
    .where(_USERS.c.email == bindparam("email"))
    .order_by(_ROLES.c.id, _LOCATIONS.c.id)
)


@dataclass(frozen=True)
class NoIncentivesRole:
    """A partner user who holds no Incentives role: known, but allowed nothing (DOMAIN.md: FORBIDDEN, not
    UNAUTHENTICATED)."""

    email: str


async def load_principal(session: AsyncSession, email: str) -> Principal | NoIncentivesRole | None:
    """The partner user with this email; NoIncentivesRole when it holds no role; None when no such user."""
    rows = (await session.execute(_PRINCIPAL, {"email": email.lower()})).all()
    if not rows:
        return None
    user = rows[0]
    if user.role is None:  # roles come first in the join: none at all
        return NoIncentivesRole(user.email)
    grants = tuple(
        dict.fromkeys(RoleGrant(IncentivesRole(r.role), r.location_pk) for r in rows if r.role is not None)
    )
    account_locations = sorted({r.account_location for r in rows if r.account_location is not None})
    return Principal(
        user_id=user.id,
        partner_id=user.partner_id,
        email=user.email,
        name=user.name,
        grants=grants,
        location_pks=visible_location_pks(grants, account_locations),
    )


@dataclass(frozen=True)
class Reviewer:
    """A Microsoft reviewer: sees submitted claims of every partner, acts on them; never a partner's data."""

    email: str
    name: str
