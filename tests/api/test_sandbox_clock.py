"""The sandbox test clock (DOMAIN.md): one clock for the whole sandbox, kept in the database so every worker and
host agrees; only an INCENTIVES_ADMIN moves it, by 1 to 400 days a call, never past 2100-01-01."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text as sql

from tests.api.subscriptions import open_socket, text
from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN
from tests.ops import ServeProcess, add_customer_input, seeded_database

ADVANCE = """
mutation($days: Int!) {
  advanceTestClock(input: {days: $days}) { now expiredClaims userErrors { code field message } }
}
"""


async def _advance(api, days: int, user: str = CONTOSO_ADMIN) -> dict:
    return (await api.graphql(ADVANCE, {"days": days}, as_user=user)).data["advanceTestClock"]


async def _shared_offset(api) -> int:
    async with api.database.engine.connect() as conn:
        return int((await conn.execute(sql("SELECT offset_seconds FROM sandbox_clock"))).scalar_one())


@pytest.fixture
async def clock_api(clean_api):
    """`clean_api`, and the clock back at the wall clock's time afterwards too (these tests move it far)."""
    yield clean_api
    clean_api.clock.offset = timedelta(0)
    async with clean_api.writing() as conn:
        await conn.execute(sql("UPDATE sandbox_clock SET offset_seconds = 0"))


async def test_only_an_incentives_admin_moves_the_clock(clock_api):
    api = clock_api
    refused = await _advance(api, 5, user=CONTOSO_SELLER)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("ADMIN_ONLY", None)]
    assert refused["now"] is None
    assert await _shared_offset(api) == 0 and api.clock.offset == timedelta(0)
    moved = await _advance(api, 5, user=FABRIKAM_ADMIN)  # any partner's admin: the clock is the sandbox's
    assert moved["userErrors"] == []
    assert await _shared_offset(api) == 5 * 86_400


@pytest.mark.parametrize("days", [0, -3, 401, 2**31 - 1])
async def test_a_move_outside_1_to_400_days_is_refused_on_input_days(clock_api, days):
    refused = await _advance(clock_api, days)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("CLOCK_OUT_OF_RANGE", ["input", "days"])
    ]
    assert "1 to 400 days" in refused["userErrors"][0]["message"]
    assert await _shared_offset(clock_api) == 0


async def test_the_clock_never_passes_2100_and_the_service_keeps_answering(clock_api):
    api = clock_api
    last, offset = datetime.now(UTC), 0
    for _ in range(200):  # (2100 - 2026) x 365 / 400 is about 68 moves; the loop ends at the first refusal
        moved = await _advance(api, 400)
        if moved["userErrors"]:
            break
        now = datetime.fromisoformat(moved["now"])
        assert now > last
        last, offset = now, await _shared_offset(api)
    else:
        pytest.fail("the clock was never refused")
    assert [e["code"] for e in moved["userErrors"]] == ["CLOCK_OUT_OF_RANGE"]
    assert "2100-01-01" in moved["userErrors"][0]["message"]
    assert datetime(2100, 1, 1, tzinfo=UTC) - timedelta(days=400) < last <= datetime(2100, 1, 1, tzinfo=UTC)
    assert await _shared_offset(api) == offset  # the refused move changed nothing
    viewer = await api.graphql("{ viewer { user { email } } }", as_user=CONTOSO_ADMIN)
    assert viewer.data["viewer"]["user"]["email"] == CONTOSO_ADMIN
    assert (await api.http.get("/readyz")).status_code == 200


async def test_every_server_process_runs_on_the_one_clock(backend):
    """Two `mci serve` processes on one database: moves made on either add up, and a claim made on one expires,
    as read on the other, once a move on the other passes its deadline."""
    database = await seeded_database(backend, "clock_processes")
    one = ServeProcess(database.url, env={"MCI_SANDBOX": "true"})
    two = ServeProcess(database.url, env={"MCI_SANDBOX": "true"})
    await one.start()
    await two.start()
    try:
        token = one.token(CONTOSO_ADMIN)
        async with httpx.AsyncClient(timeout=30) as client:
            locations, engagements = await one.ids(token)
            added = await one.graphql(
                client,
                """mutation($input: AddCustomerInput!) {
                  addCustomer(input: $input) { claims { id deadline } userErrors { code } } }""",
                {"input": add_customer_input(locations, engagements, "northwindtraders.example")},
                token=token,
            )
            [claim] = added.json()["data"]["addCustomer"]["claims"]
            # A WebSocket opened on the first process now sees the moves made later on the second.
            socket = await open_socket(one.base_url, token)
            assert text(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
            start = datetime.now(UTC)
            answered = []
            for step in range(10):
                server = (one, two)[step % 2]
                moved = (await server.graphql(client, ADVANCE, {"days": 1}, token=token)).json()
                answered.append(datetime.fromisoformat(moved["data"]["advanceTestClock"]["now"]))
            # Each move starts from the one before it, whichever process made it: one day apart, in order.
            for k, now in enumerate(answered, start=1):
                assert timedelta(days=k) <= now - start < timedelta(days=k, minutes=5)
            # The last move was the second process's: the first one's own clock has seen 9 days, the shared one 10.
            await socket.send(
                json.dumps(
                    {
                        "id": "read",
                        "type": "subscribe",
                        "payload": {
                            "query": "query($id: ID!) { claim(id: $id) { daysRemaining } }",
                            "variables": {"id": claim["id"]},
                        },
                    }
                )
            )
            message = text(await asyncio.wait_for(socket.recv(), 10))
            assert message["payload"]["data"]["claim"]["daysRemaining"] == 30 - 10
            await socket.close()
            moved = (await two.graphql(client, ADVANCE, {"days": 25}, token=token)).json()
            assert moved["data"]["advanceTestClock"]["userErrors"] == []
            read = await one.graphql(
                client, "query($id: ID!) { claim(id: $id) { status } }", {"id": claim["id"]}, token=token
            )
            assert read.json()["data"]["claim"]["status"] == "CUSTOMER_CONSENT_EXPIRED"
    finally:
        await one.stop()
        await two.stop()
        await database.engine.dispose()
