"""Who may see what: the scope of a partner user's roles."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from app.domain.enums import IncentivesRole


@dataclass(frozen=True)
class RoleGrant:
    role: IncentivesRole
    location_pk: int | None  # None: the whole partner account


def visible_location_pks(
    grants: Iterable[RoleGrant], account_location_pks: Collection[int]
) -> frozenset[int]:
    """A grant for the whole account opens every location of it; otherwise only the granted locations.

    DOMAIN.md: an admin sees every location of the account; a user sees only the locations where it holds a role.
    An account-wide INCENTIVES_USER is read as holding the role everywhere, like an admin.
    """
    grants = list(grants)
    if any(grant.location_pk is None for grant in grants):
        return frozenset(account_location_pks)
    return frozenset(g.location_pk for g in grants if g.location_pk is not None) & frozenset(
        account_location_pks
    )
