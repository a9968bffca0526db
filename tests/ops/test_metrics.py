"""Prometheus metrics at `/metrics`, scraped from the real server: operations and their latency by name and type,
errors by code, open subscriptions, events delivered, the outbox, the sweeper, the connection pool."""

from datetime import timedelta

from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import delete

from app.clock import Clock
from app.config import Settings
from app.main import create_app
from app.models.mail import MailMessage
from app.observability import MAX_OPERATION_LABELS, Metrics
from app.resolvers.schema import schema
from app.runtime import Runtime
from tests.api.claim_flow import ADD, ids, new_claim
from tests.api.subscriptions import subscribe
from tests.demo import CONTOSO_ADMIN
from tests.ops import metric_samples, sample


async def scrape(api) -> dict:
    response = await api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return metric_samples(response.text)


async def test_operations_latency_and_errors_by_code(clean_api):
    api = clean_api
    before = await scrape(api)
    named = "query Catalogue { engagements(first: 1) { totalCount } }"
    assert (await api.graphql(named, as_user=CONTOSO_ADMIN)).status == 200
    assert (await api.graphql("{ viewer { user { id } } }")).error_codes == ["UNAUTHENTICATED"]
    locations, engagements = await ids(api)
    refused = (
        await api.graphql(
            ADD,
            {
                "input": {
                    "friendlyName": "Nobody",
                    "locationId": locations["4100101"],
                    "customerIdType": "DOMAIN_NAME",
                    "customerIdValue": "not-in-the-directory.example",
                    "engagementIds": [engagements["copilot-readiness-assessment"]],
                    "customerContact": {"firstName": "A", "lastName": "B", "email": "a@b.example"},
                    "partnerContact": {"firstName": "C", "lastName": "D", "email": CONTOSO_ADMIN},
                }
            },
            as_user=CONTOSO_ADMIN,
        )
    ).data["addCustomer"]
    [user_error] = refused["userErrors"]
    after = await scrape(api)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("mci_graphql_operations_total", operation="Catalogue", type="query", outcome="ok") == 1
    assert grew("mci_graphql_operation_duration_seconds_count", operation="Catalogue", type="query") == 1
    assert grew("mci_graphql_operation_duration_seconds_sum", operation="Catalogue", type="query") > 0
    # Anonymous operations are labelled by their root fields (the schema bounds them; clients choose names).
    assert grew("mci_graphql_operations_total", operation="viewer", type="query", outcome="error") == 1
    assert grew("mci_graphql_operations_total", operation="addCustomer", type="mutation", outcome="ok") == 1
    assert grew("mci_graphql_errors_total", code="UNAUTHENTICATED", kind="top_level") == 1
    assert grew("mci_graphql_errors_total", code=user_error["code"], kind="user_error") == 1
    assert grew("mci_http_requests_total", method="POST", route="/graphql", status="401") == 1


async def test_subscriptions_events_sweeper_and_pool(clean_api):
    api = clean_api
    before = await scrape(api)
    subscription = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    try:
        during = await scrape(api)
        assert sample(during, "mci_subscriptions_open") == sample(before, "mci_subscriptions_open") + 1
        claim_id, _ = await new_claim(api)
        assert (await subscription.event())["claim"]["id"] == claim_id
        after = await scrape(api)
        assert sample(after, "mci_events_delivered_total") > sample(before, "mci_events_delivered_total")
    finally:
        await subscription.socket.close()
    assert sample(after, "mci_sweeper_runs_total") >= 1  # the first round runs at start
    assert ("mci_sweeper_expired_claims_total", ()) in after
    assert sample(after, "mci_shutting_down") == 0
    assert sample(after, "mci_db_pool_size") > 0
    assert ("mci_db_pool_checkedout", ()) in after
    if api.database.backend == "postgres":
        assert sample(after, "mci_event_listener_up") == 1


async def test_outbox_backlog_and_failures_are_read_at_scrape_time(clean_api):
    api = clean_api
    now = api.clock.now()
    rows = [
        # Due only in an hour, so the running sender leaves it alone: the backlog.
        MailMessage(
            recipient="waiting@northwind.example",
            subject="Waiting",
            text_body="-",
            html_body="-",
            status="PENDING",
            attempts=1,
            last_error="SMTPServerDisconnected",
            next_attempt_at=now + timedelta(hours=1),
            created_at=now - timedelta(minutes=10),
        ),
        MailMessage(
            recipient="gone@northwind.example",
            subject="Gone",
            text_body="-",
            html_body="-",
            status="FAILED",
            attempts=20,
            last_error="550 no such user",
            next_attempt_at=now,
            created_at=now,
        ),
    ]
    async with api.database.sessions() as session, session.begin():
        session.add_all(rows)
    try:
        samples = await scrape(api)
        assert sample(samples, "mci_mail_outbox_messages", status="PENDING") >= 1
        assert sample(samples, "mci_mail_outbox_messages", status="FAILED") >= 1
        assert sample(samples, "mci_mail_outbox_retrying") >= 1
        assert sample(samples, "mci_mail_outbox_oldest_pending_seconds") >= 600
        assert sample(samples, "mci_database_up") == 1
    finally:
        async with api.database.sessions() as session, session.begin():
            await session.execute(delete(MailMessage).where(MailMessage.id.in_([r.id for r in rows])))  # type: ignore[union-attr]


async def test_each_app_has_a_registry_of_its_own(api):
    """Several apps in one process (here two more beside the running server) must not share, or collide in,
    prometheus_client's global registry."""
    one = create_app(Settings(database_url=api.database.url), Clock())
    two = create_app(Settings(database_url=api.database.url), Clock())
    try:
        registries = [app.state.observability.metrics.registry for app in (one, two)]
        assert registries[0] is not registries[1]
        assert not any(
            name.startswith("mci_") for name, _ in metric_samples(generate_latest(REGISTRY).decode())
        )
        fresh = metric_samples(generate_latest(registries[0]).decode())
        assert not [key for key in fresh if key[0] == "mci_graphql_operations_total"]
        assert sample(
            await scrape(api), "mci_http_requests_total", method="GET", route="/metrics", status="200"
        )
    finally:
        for app in (one, two):
            await app.state.runtime.engine.dispose()


def test_client_chosen_operation_names_are_bounded():
    metrics = Metrics(Runtime.create(Settings(database_url="sqlite+aiosqlite://"), Clock()))
    labels = {metrics.operation_label(f"Op{n}", None, schema) for n in range(MAX_OPERATION_LABELS + 50)}
    assert len(labels) == MAX_OPERATION_LABELS + 1
    assert "other" in labels
    assert metrics.operation_label("Op1", None, schema) == "Op1"  # names seen before keep their label
    assert metrics.operation_label("not a name!", None, schema) == "anonymous"
