"""The hand-written limit: the Customers page query of `bench/queries.py` (ELIGIBLE tab) as one Starlette
endpoint, answering the same JSON, byte for byte, as the GraphQL API.

Same semantics and the same SQL: the same token check and principal, the same passed-deadlines read, the
engagement, the page decided by `app.services.customers_page` (the tab's rule lives in one place), then one
SQLAlchemy Core statement each for the page's identifiers and consent requests; the JSON is built by hand and
encoded with orjson. What it leaves out is exactly the GraphQL layer: parsing, validation, resolvers, loaders.

Serve it like the API: `uvicorn bench.handwritten:create_app --factory` (the same MCI_* settings).
"""

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import bearer_token
from app.config import get_settings
from app.models import ConsentRequest, CustomerIdentifier, Engagement
from app.resolvers.relay import decode_cursor, encode_cursor, pk_of, to_global_id
from app.runtime import Runtime
from app.services.customers_page import CustomersTab, customers_page
from app.services.pagination import PageRequest
from app.services.viewer import load_principal

IDENTIFIER = CustomerIdentifier.__table__  # type: ignore[attr-defined]
CONSENT = ConsentRequest.__table__  # type: ignore[attr-defined]
ENGAGEMENT = Engagement.__table__  # type: ignore[attr-defined]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def create_app() -> Starlette:
    runtime = Runtime.create(get_settings())

    async def page(request: Request) -> Response:
        sent = orjson.loads(await request.body())
        variables = sent["variables"]
        with_total = "totalCount" in sent["query"]  # the two queries of bench/queries.py
        token = bearer_token(request.headers.get("authorization"))
        assert token is not None
        claims = await runtime.verifier.verify(token)
        async with runtime.sessions() as session:
            viewer = await load_principal(session, str(claims["sub"]))
        assert viewer is not None
        now = runtime.clock.now()
        await runtime.apply_passed_deadlines()  # as the API's ApplyPassedDeadlines does
        first, after = variables["first"], variables.get("after")
        wanted = PageRequest(first=first, after=decode_cursor(after, "after") if after else None)
        async with runtime.sessions() as session:
            engagement = (
                await session.execute(
                    select(Engagement).where(ENGAGEMENT.c.id == pk_of(variables["id"], "Engagement"))
                )
            ).scalar_one()
            found = await customers_page(
                session,
                viewer,
                engagement,
                CustomersTab.ELIGIBLE,
                None,
                wanted,
                now,
                with_total=with_total,
                judgements=runtime.judgements,
            )
        customer_ids = [row.customer.id for row in found.items]
        claim_ids = [row.claim.id for row in found.items if row.claim is not None]
        identifiers: dict[int, list[dict[str, str]]] = {pk: [] for pk in customer_ids}
        consents: dict[int, Any] = {}
        async with runtime.sessions() as session:
            for row in await session.execute(
                select(IDENTIFIER.c.customer_id, IDENTIFIER.c.id_type, IDENTIFIER.c.value)
                .where(IDENTIFIER.c.customer_id.in_(customer_ids))
                .order_by(IDENTIFIER.c.id)
            ):
                identifiers[row.customer_id].append({"idType": row.id_type, "value": row.value})
            if claim_ids:
                for row in await session.execute(
                    select(
                        CONSENT.c.claim_id, CONSENT.c.send_count, CONSENT.c.last_sent_at, CONSENT.c.expires_at
                    ).where(CONSENT.c.claim_id.in_(claim_ids))
                ):
                    consents[row.claim_id] = {
                        "sendCount": row.send_count,
                        "lastSentAt": _iso(row.last_sent_at),
                        "expiresAt": _iso(row.expires_at),
                    }
        edges = []
        for row in found.items:
            customer, claim = row.customer, row.claim
            edges.append(
                {
                    "cursor": encode_cursor(row.key),
                    "node": {
                        "id": to_global_id("Customer", customer.id),
                        "name": customer.name,
                        "tenantId": customer.tenant_id,
                        "identifier": {"idType": customer.id_type, "value": customer.id_value},
                        "identifiers": identifiers[customer.id],
                    },
                    "claim": None
                    if claim is None
                    else {
                        "id": to_global_id("Claim", claim.id),
                        "claimNumber": claim.claim_number,
                        "status": claim.status,
                        "deadline": _iso(claim.deadline),
                        "consentRequest": consents.get(claim.id),
                    },
                    "availableActions": [action.value for action in row.available_actions],
                    "deadline": _iso(row.deadline),
                    "daysRemaining": row.days_remaining,
                }
            )
        connection: dict[str, Any] = {"totalCount": found.total} if with_total else {}
        connection["pageInfo"] = {
            "hasNextPage": found.has_next,
            "hasPreviousPage": found.has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        }
        connection["edges"] = edges
        body = {"data": {"engagement": {"customers": connection}}}
        return Response(orjson.dumps(body), media_type="application/json")

    async def lifespan(_app: Starlette):  # type: ignore[no-untyped-def]
        yield
        await runtime.engine.dispose()

    from contextlib import asynccontextmanager

    return Starlette(routes=[Route("/page", page, methods=["POST"])], lifespan=asynccontextmanager(lifespan))
