"""The partner's own email domains (table `partner_domain`): those of its users and of the partner contacts set on
its claims. Consent may never be mailed there (domain/consent.recipient_is_partner).

Kept up to date in the transaction that sets a partner contact (add, claim, sendConsent) and in the reference-data
import of users; never pruned (Decision: a domain once the partner's stays the partner's)."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identifiers import email_domain
from app.models import PartnerDomain

_TABLE = PartnerDomain.__table__  # type: ignore[attr-defined]


async def partner_domains(session: AsyncSession, partner_id: int) -> frozenset[str]:
    """Every domain of the partner: one indexed read (the table's key starts with the partner)."""
    rows = await session.execute(select(_TABLE.c.domain).where(_TABLE.c.partner_id == partner_id))
    return frozenset(rows.scalars())


async def remember(
    session: AsyncSession, pairs: Iterable[tuple[int, str]], known: Iterable[str] = ()
) -> None:
    """Record the domains of these (partner id, email) pairs, in the caller's transaction; a domain already
    recorded (or in `known`, the partner's domains as just read) is left alone, also under concurrent writers."""
    skip = set(known)
    rows = sorted(
        {
            (partner_id, domain)
            for partner_id, email in pairs
            if (domain := email_domain(email)) is not None and domain not in skip
        }
    )
    if not rows:
        return
    insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(_TABLE).on_conflict_do_nothing(index_elements=["partner_id", "domain"])
    await session.execute(statement, [{"partner_id": p, "domain": d} for p, d in rows])
