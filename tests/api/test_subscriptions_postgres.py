"""Fan-out across server processes on one PostgreSQL: a change made through one process reaches subscribers of
another; a listener whose connection is killed reconnects and delivers every event all the same."""

import asyncio
import os
import socket
import sys

import httpx
import pytest
from sqlalchemy import text

from app.events.postgres import LISTENER_NAME
from tests.api.claim_flow import act, new_claim
from tests.api.subscriptions import subscribe
from tests.demo import CONTOSO_ADMIN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def second_process(clean_api, smtp):
    """Another `mci serve` process on the same database, which polls the log only every 10 minutes: whatever
    reaches it in seconds came through LISTEN/NOTIFY."""
    if clean_api.database.backend != "postgres":
        pytest.skip("fan-out across processes is PostgreSQL's (SQLite serves one process)")
    port = _free_port()
    env = {
        **os.environ,
        "MCI_DATABASE_URL": clean_api.database.url,
        "MCI_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MCI_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "MCI_EVENT_POLL_SECONDS": "600",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(200):
            try:
                if (await client.get("/graphql")).status_code < 500:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        else:
            process.kill()
            raise AssertionError((await process.stderr.read()).decode() if process.stderr else "no server")
    yield base_url
    process.terminate()
    await asyncio.wait_for(process.wait(), 10)


async def _listener_pids(api) -> list[int]:
    async with api.database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": LISTENER_NAME},
        )
        return [row[0] for row in rows]


async def test_a_change_through_one_process_reaches_subscribers_of_another(clean_api, second_process):
    api = clean_api
    elsewhere = await subscribe(second_process, api.token(CONTOSO_ADMIN))
    try:
        claim_id, _ = await new_claim(api)  # through the first process
        event = await elsewhere.event(seconds=5)
        assert (event["claim"]["id"], event["action"]) == (claim_id, "CREATE")
    finally:
        await elsewhere.socket.close()


async def test_killing_the_listeners_connection_loses_no_event(clean_api, second_process):
    api = clean_api
    here = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    elsewhere = await subscribe(second_process, api.token(CONTOSO_ADMIN))
    try:
        for _ in range(100):  # both processes listen
            if len(await _listener_pids(api)) >= 2:
                break
            await asyncio.sleep(0.05)
        pids = await _listener_pids(api)
        assert len(pids) >= 2
        async with api.database.engine.connect() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        made = []
        for domain in ("northwind.example", "adatum.example", "tailwindtraders.example"):
            claim_id, _ = await new_claim(api, domain=domain)
            made.append((claim_id, "CREATE"))
        await act(api, "cancelClaim", made[0][0])
        made.append((made[0][0], "CANCEL"))
        for subscription in (here, elsewhere):
            got = [await subscription.event(seconds=15) for _ in made]
            assert [(e["claim"]["id"], e["action"]) for e in got] == made
        assert set(await _listener_pids(api)).isdisjoint(pids)  # new connections replaced the killed ones
    finally:
        await here.socket.close()
        await elsewhere.socket.close()
