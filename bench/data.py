"""Benchmark data: a fresh PostgreSQL database (name starting with `mci_bench`), migrated, with the demo reference
data and N synthetic claims written by set-based SQL (INSERT … SELECT FROM generate_series), so 1M claims take
about a minute instead of hours through the API.

Shape (realistic, and growing with N):
- N/4 customers, one directory tenant and domain each (countries and segments cycling), spread over the three demo
  partners and max(20, N/2000) bench partners with one location each;
- the benchmarked partner (Contoso, the demo's first) holds K = clamp(N/200, 1000, 5000) of those customers, so
  its Customers page covers thousands of known customers at 1M claims;
- four claims per customer, on four of the seven fixed-pay engagements (rotating), in a mix of statuses: about
  30 % active (future deadlines), 45 % approved, the rest canceled, declined or expired; consent requests for
  claims that got that far; about 80 % of customers known (consented at least once).
"""

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app import db
from app.cli import DEMO_DATA
from app.services.importer import import_reference_data, load_document

BENCH_ENGAGEMENT = "copilot-readiness-assessment"
BENCH_USER = "admin@contoso-partners.example"
FIXED_ENGAGEMENTS = [1, 2, 3, 5, 7, 8, 11]  # the demo's fixed-pay engagements open for claims (ids)


@dataclass(frozen=True)
class Shape:
    claims: int

    @property
    def customers(self) -> int:
        return self.claims // 4

    @property
    def bench_partners(self) -> int:
        return max(20, self.claims // 2000)

    @property
    def contoso_customers(self) -> int:
        return min(5000, max(1000, self.claims // 200))


# Status by h = (j + 3 * (j / C)) mod 20, so a customer's claims differ: what each claim looks like.
STATUS_SQL = """
CASE h
  WHEN 0 THEN 'CUSTOMER_CLAIMED' WHEN 1 THEN 'CUSTOMER_CLAIMED'
  WHEN 2 THEN 'AWAITING_CUSTOMER_CONSENT_RESPONSE' WHEN 3 THEN 'CUSTOMER_CONSENT_RECEIVED'
  WHEN 4 THEN 'SUBMITTED' WHEN 5 THEN 'PARTNER_ACTION_REQUIRED'
  WHEN 6 THEN 'CANCELED' WHEN 7 THEN 'CUSTOMER_CONSENT_DECLINED' WHEN 8 THEN 'NOT_SUBMITTED_EXPIRED'
  WHEN 9 THEN 'REJECTED_FINAL'
  ELSE 'APPROVED' END
"""


def steps(shape: Shape) -> list[str]:
    n, c, b, k = shape.claims, shape.customers, shape.bench_partners, shape.contoso_customers
    engagements = "ARRAY[" + ",".join(map(str, FIXED_ENGAGEMENTS)) + "]"
    return [
        # Bench partners (ids after the demo's), one location each.
        f"""INSERT INTO partner_account (key, name)
            SELECT 'bench-' || p, 'Bench Partner ' || p FROM generate_series(1, {b}) p""",
        """INSERT INTO partner_location (partner_id, location_id, name, country, mci_enrolled, payee_profile_valid)
            SELECT a.id, (9000000 + a.id)::text, a.name || ' HQ', 'US', true, true
            FROM partner_account a WHERE a.key LIKE 'bench-%'""",
        f"""INSERT INTO engagement_location (engagement_id, location_id)
            SELECT e, l.location_id FROM unnest({engagements}) e, partner_location l
            WHERE l.location_id LIKE '9%'
            ON CONFLICT DO NOTHING""",
        # Directory: one tenant and one domain per customer.
        f"""INSERT INTO directory_tenant (tenant_id, name, tpid, country, segment)
            SELECT uuid_in(md5('t' || i)::cstring)::text, 'Bench Customer ' || i, (7000000 + i)::text,
                   (ARRAY['US','CA','GB','DE','FR','AU','JP','BR','MX','IN'])[1 + i % 10],
                   (ARRAY['SMB','Corporate','Enterprise'])[1 + i % 3]
            FROM generate_series(0, {c - 1}) i""",
        """INSERT INTO directory_domain (domain, tenant_pk)
            SELECT 'c' || (t.tpid::int - 7000000) || '.bench.example', t.id FROM directory_tenant t
            WHERE t.name LIKE 'Bench Customer %'""",
        # Customers: the first K belong to Contoso (partner 1), the rest spread over all other partners.
        f"""CREATE TEMP TABLE bench_customer AS
            SELECT i,
                   CASE WHEN i < {k} THEN 1
                        ELSE (SELECT id FROM partner_account WHERE key = 'bench-' || (1 + i % {b})) END AS partner_id
            FROM generate_series(0, {c - 1}) i""",
        """INSERT INTO customer (id, partner_id, name, id_type, id_value, tenant_id, created_at)
            SELECT 1000000 + i, partner_id, 'Bench Customer ' || i, 'DOMAIN_NAME', 'c' || i || '.bench.example',
                   uuid_in(md5('t' || i)::cstring)::text, now() - interval '200 days'
            FROM bench_customer""",
        """INSERT INTO customer_identifier (customer_id, id_type, value)
            SELECT 1000000 + i, 'DOMAIN_NAME', 'c' || i || '.bench.example' FROM bench_customer
            UNION ALL
            SELECT 1000000 + i, 'TENANT_ID', uuid_in(md5('t' || i)::cstring)::text FROM bench_customer""",
        # Claims: claim j is about customer j % C, on engagement (j / C + j % C) mod 7 of the fixed-pay ones.
        f"""INSERT INTO claim (id, claim_number, partner_id, location_pk, engagement_id, customer_id, friendly_name,
                id_type, id_value, limit_key, status, deadline, customer_contact, partner_contact, created_at,
                consented_at, first_submitted_at, updated_at, version)
            SELECT 1000000 + j, 'B' || lpad(j::text, 10, '0'), bc.partner_id,
                   (SELECT min(l.id) FROM partner_location l WHERE l.partner_id = bc.partner_id),
                   ({engagements})[1 + ((j / {c}) + (j % {c})) % 7], 1000000 + bc.i, 'Bench claim ' || j,
                   'DOMAIN_NAME', 'c' || bc.i || '.bench.example',
                   'TENANT_ID:' || uuid_in(md5('t' || bc.i)::cstring)::text,
                   s.status,
                   CASE WHEN s.status IN ('CUSTOMER_CLAIMED', 'AWAITING_CUSTOMER_CONSENT_RESPONSE',
                        'CUSTOMER_CONSENT_RECEIVED', 'PARTNER_ACTION_REQUIRED')
                        THEN now() + interval '30 days' END,
                   '{{"firstName": "Ann", "lastName": "Lee", "email": "ann@example.com"}}'::json,
                   '{{"firstName": "Bo", "lastName": "Ng", "email": "bo@partner.example"}}'::json,
                   now() - interval '100 days',
                   CASE WHEN h IN (3, 4, 5, 8, 9) OR h >= 10 THEN now() - interval '90 days' END,
                   CASE WHEN h IN (4, 5, 9) OR h >= 10 THEN now() - interval '80 days' END,
                   now() - interval '10 days', 1
            FROM generate_series(0, {n - 1}) j
            JOIN bench_customer bc ON bc.i = j % {c}
            CROSS JOIN LATERAL (SELECT (j + (j / {c}) * 3) % 20 AS h) hh
            CROSS JOIN LATERAL (SELECT {STATUS_SQL} AS status) s""",
        """INSERT INTO consent_request (claim_id, recipient_email, nonce, first_sent_at, last_sent_at, send_count,
                responded_at, response, expires_at)
            SELECT id, 'ann@example.com', md5(id::text), created_at + interval '1 day', created_at + interval '2 days',
                   2, consented_at, CASE WHEN consented_at IS NOT NULL THEN 'ACCEPT' END, now() + interval '20 days'
            FROM claim WHERE id >= 1000000 AND status NOT IN ('CUSTOMER_CLAIMED', 'CANCELED')""",
        "SELECT setval('claim_id_seq', (SELECT max(id) FROM claim))",
        "SELECT setval('customer_id_seq', (SELECT max(id) FROM customer))",
    ]


async def build(base_url: str, name: str, shape: Shape, log=print) -> tuple[str, float]:  # type: ignore[no-untyped-def]
    """Create database `name` beside `base_url` with `shape`'s data; (its URL, seconds it took)."""
    assert name.startswith("mci_bench"), name
    started = time.perf_counter()
    url = make_url(base_url)
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    target = url.set(database=name).render_as_string(hide_password=False)
    await db.upgrade(target)
    engine = db.create_engine(target)
    await import_reference_data(db.session_factory(engine), load_document(DEMO_DATA))
    async with engine.begin() as conn:
        for statement in steps(shape):
            await conn.execute(text(statement))
    await engine.dispose()
    admin = create_async_engine(url.set(database=name), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text("VACUUM ANALYZE"))
    await admin.dispose()
    took = time.perf_counter() - started
    log(f"built {name}: {shape.claims} claims in {took:.1f}s")
    return target, took


# ------------------------------------------------------------------ scenarios 5 and 6: writes and subscriptions

WRITERS = 17  # bench partners given an admin user: 16 addCustomer clients, and scenario 6's writer
FRESH_TENANTS = (
    50_000  # SMB, US: eligible for engagements 1, 2, 3, 7, 8 and 11 by domain; never claimed before
)
HOT_TENANTS = (
    4_000  # Enterprise, US: engagement 1 (max 1 active) and 5 (max 2 active), the deliberate collisions
)
FRESH_ENGAGEMENTS = [1, 2, 3, 7, 8, 11]


def writer_email(p: int) -> str:
    return f"admin@bench-{p}.example"


def write_steps() -> list[str]:
    """Users for the first WRITERS bench partners, and directory tenants nobody has claimed yet, so that adds
    succeed (fresh) or collide on purpose (hot)."""
    return [
        f"""INSERT INTO partner_user (partner_id, email, name)
            SELECT a.id, 'admin@' || a.key || '.example', 'Bench Admin ' || a.key FROM partner_account a
            WHERE a.key IN (SELECT 'bench-' || p FROM generate_series(1, {WRITERS}) p)""",
        """INSERT INTO role_assignment (user_id, role, location_pk)
            SELECT u.id, 'INCENTIVES_ADMIN', NULL FROM partner_user u WHERE u.email LIKE 'admin@bench-%'""",
        f"""INSERT INTO directory_tenant (tenant_id, name, tpid, country, segment)
            SELECT uuid_in(md5('f' || i)::cstring)::text, 'Fresh Customer ' || i, (8000000 + i)::text, 'US', 'SMB'
            FROM generate_series(0, {FRESH_TENANTS - 1}) i
            UNION ALL
            SELECT uuid_in(md5('h' || i)::cstring)::text, 'Hot Customer ' || i, (8900000 + i)::text, 'US',
                   'Enterprise'
            FROM generate_series(0, {HOT_TENANTS - 1}) i""",
        """INSERT INTO directory_domain (domain, tenant_pk)
            SELECT CASE WHEN t.name LIKE 'Fresh%' THEN 'f' || (t.tpid::int - 8000000) || '.fresh.bench.example'
                        ELSE 'h' || (t.tpid::int - 8900000) || '.hot.bench.example' END, t.id
            FROM directory_tenant t WHERE t.name LIKE 'Fresh Customer %' OR t.name LIKE 'Hot Customer %'""",
    ]


def fresh_tenant(i: int) -> tuple[str, str]:
    """(domain, tenant id) of fresh tenant i, as `write_steps` made it."""
    import hashlib
    import uuid

    return f"f{i}.fresh.bench.example", str(uuid.UUID(hashlib.md5(f"f{i}".encode()).hexdigest()))


def hot_tenant(i: int) -> tuple[str, str]:
    import hashlib
    import uuid

    return f"h{i}.hot.bench.example", str(uuid.UUID(hashlib.md5(f"h{i}".encode()).hexdigest()))


async def build_writes(base_url: str, name: str, shape: Shape, log=print) -> tuple[str, float]:  # type: ignore[no-untyped-def]
    """`build`, plus `write_steps`."""
    target, _ = await build(base_url, name, shape, log)
    started = time.perf_counter()
    engine = db.create_engine(target)
    async with engine.begin() as conn:
        for statement in write_steps():
            await conn.execute(text(statement))
    await engine.dispose()
    admin = create_async_engine(make_url(target), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text("VACUUM ANALYZE"))
    await admin.dispose()
    return target, time.perf_counter() - started
