"""The least reference data a claim needs (a partner with a location, an engagement, a customer), for tests of
the event log on an empty database."""

from datetime import UTC, datetime

from app.models import Customer, Engagement, PartnerAccount, PartnerLocation

NOW = datetime(2026, 11, 25, tzinfo=UTC)


async def reference(session) -> tuple[PartnerLocation, Engagement, Customer]:  # type: ignore[no-untyped-def]
    partner = PartnerAccount(key="p", name="P")
    session.add(partner)
    await session.flush()
    location = PartnerLocation(
        partner_id=partner.id, location_id="1", name="L", country="US", mci_enrolled=True
    )
    engagement = Engagement(
        key="e", name="E", solution_area="AI", engagement_type="WORKSHOP", pay_type="FIXED"
    )
    session.add_all([location, engagement])
    await session.flush()
    customer = Customer(partner_id=partner.id, name="C", id_type="TPID", id_value="1", created_at=NOW)
    session.add(customer)
    await session.flush()
    return location, engagement, customer
