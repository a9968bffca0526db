"""Scenarios 5 (addCustomer, 16 partner users at once) and 6 (1,000 WebSocket subscribers), against real servers
on a database built by `bench.data.build_writes`. Called from `python -m bench run` (see bench/README.md)."""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.data import FRESH_ENGAGEMENTS, FRESH_TENANTS, HOT_TENANTS, fresh_tenant, writer_email
from bench.queries import ADD_CUSTOMER_EVENT

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLIENTS = 16
FRESH_PER_CLIENT = 600  # fresh tenants per client per run (x 6 engagements = 3,600 possible adds)
RUNS = FRESH_TENANTS // (CLIENTS * FRESH_PER_CLIENT)  # disjoint ranges of fresh and hot tenants, one per run
HOT_PER_RUN = HOT_TENANTS // RUNS


def token(email: str) -> str:
    from app.auth import mint_token
    from app.config import Settings

    return mint_token(Settings(), email)


def gid(type_name: str, pk: int) -> str:
    from app.resolvers.relay import to_global_id

    return str(to_global_id(type_name, pk))


async def _locations(database_url: str) -> dict[str, int]:
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                """SELECT u.email, min(l.id) FROM partner_user u JOIN partner_location l ON l.partner_id = u.partner_id
                   WHERE u.email LIKE 'admin@bench-%' GROUP BY u.email"""
            )
        )
        found = {email: pk for email, pk in rows}
    await engine.dispose()
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# ------------------------------------------------------------------------------------------ (5) addCustomer


def add_load(url: str, run: int, seconds: float, share: float = 0.2, hot_rate: float = 4) -> dict[str, Any]:
    """One run of bench/addload.py (its own process) with fresh and hot tenant ranges of its own."""
    locations = asyncio.run(_locations(os.environ["MCI_BENCH_WRITES_DB"]))
    clients = [
        {"token": token(writer_email(p)), "location": gid("PartnerLocation", locations[writer_email(p)])}
        for p in range(1, CLIENTS + 1)
    ]
    config = {
        "url": url,
        "seconds": seconds,
        "collision_share": share,
        "hot_rate": hot_rate,
        "fresh_per_client": FRESH_PER_CLIENT,
        "fresh_offset": run * CLIENTS * FRESH_PER_CLIENT,
        "hot_offset": run * HOT_PER_RUN,
        "clients": clients,
    }
    assert seconds * hot_rate / 2 < HOT_PER_RUN and run < RUNS
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    out = subprocess.run(
        [PYTHON, "-m", "bench.addload", f.name],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    os.unlink(f.name)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout)


async def limit_check(database_url: str) -> dict[str, Any]:
    """Active claims per (engagement, limit key) across partners vs the engagement's maxActiveClaimsPerCustomer,
    and per (partner, engagement, limit key) at most one; over every claim in the database."""
    from app.domain.lifecycle import TERMINAL

    terminal = ", ".join(f"'{s.value}'" for s in TERMINAL)
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        over = (
            await conn.execute(
                text(
                    f"""SELECT count(*) FROM (
                          SELECT c.engagement_id, c.limit_key FROM claim c JOIN engagement e ON e.id = c.engagement_id
                          WHERE c.status NOT IN ({terminal})
                          GROUP BY c.engagement_id, c.limit_key, e.max_active_claims_per_customer
                          HAVING count(*) > e.max_active_claims_per_customer) v"""
                )
            )
        ).scalar_one()
        twice = (
            await conn.execute(
                text(
                    f"""SELECT count(*) FROM (
                          SELECT 1 FROM claim WHERE status NOT IN ({terminal})
                          GROUP BY partner_id, engagement_id, limit_key HAVING count(*) > 1) v"""
                )
            )
        ).scalar_one()
        hot = (
            await conn.execute(
                text(
                    f"""SELECT c.engagement_id, count(*) AS n, count(DISTINCT c.partner_id) AS partners,
                               max(e.max_active_claims_per_customer) AS m
                        FROM claim c JOIN engagement e ON e.id = c.engagement_id
                        JOIN directory_tenant t ON c.limit_key = 'TENANT_ID:' || t.tenant_id
                        WHERE t.name LIKE 'Hot Customer %' AND c.status NOT IN ({terminal})
                        GROUP BY c.engagement_id, c.limit_key"""
                )
            )
        ).all()
        checked = (
            await conn.execute(text(f"SELECT count(*) FROM claim WHERE status NOT IN ({terminal})"))
        ).scalar_one()
    await engine.dispose()
    return {
        "active_claims_checked": checked,
        "keys_over_max_active": over,
        "partner_keys_with_two_active": twice,
        "hot_keys": len(hot),
        "hot_keys_at_max": sum(1 for r in hot if r.n == r.m),
        "hot_keys_by_engagement": {
            str(e): sum(1 for r in hot if r.engagement_id == e)
            for e in sorted({r.engagement_id for r in hot})
        },
    }


COUNTED_TENANT = RUNS * CLIENTS * FRESH_PER_CLIENT - 100  # past every run's and scenario 6's tenants


async def add_statements(database_url: str) -> dict[str, Any]:
    """SQL statements of one addCustomer, in-process (the request's own, not the server's background tasks):
    a new customer, then the same customer for another engagement. The first add only warms up."""
    from sqlalchemy import event

    from app.config import Settings
    from app.main import create_app
    from bench.addload import variables
    from bench.queries import ADD_CUSTOMER

    app = create_app(Settings(database_url=database_url, sweep_interval_seconds=3600))
    runtime = app.state.runtime
    background = {"deadline-sweeper", "mci-mail-sender", "event-hub", "pg-listener"}
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        task = asyncio.current_task()
        if task is None or task.get_name() not in background:
            seen.append(" ".join(statement.split())[:90])

    writer = writer_email(CLIENTS)
    location = gid("PartnerLocation", (await _locations(database_url))[writer])
    headers = {"Authorization": f"Bearer {token(writer)}", "Content-Type": "application/json"}
    counted: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, tenant, engagement in (
            ("warm_up", COUNTED_TENANT, FRESH_ENGAGEMENTS[0]),
            ("new_customer", COUNTED_TENANT + 1, FRESH_ENGAGEMENTS[0]),
            ("known_customer", COUNTED_TENANT + 1, FRESH_ENGAGEMENTS[1]),
        ):
            domain, _ = fresh_tenant(tenant)
            payload = {
                "query": ADD_CUSTOMER,
                "variables": variables(location, "DOMAIN_NAME", domain, domain, engagement),
            }
            seen.clear()
            event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
            answer = (await client.post("/graphql", json=payload, headers=headers)).json()
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
            if not answer["data"]["addCustomer"]["claims"]:
                raise RuntimeError(f"counted add made nothing: {answer}")
            if name != "warm_up":
                counted[name] = len(seen)
                counted[f"{name}_statements"] = list(seen)
    await runtime.engine.dispose()
    return counted


def scenario5(server_factory, database_url: str, seconds: float) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    os.environ["MCI_BENCH_WRITES_DB"] = database_url
    result: dict[str, Any] = {"seconds": seconds, "clients": CLIENTS}
    result["statements_per_add"] = asyncio.run(add_statements(database_url))
    print(
        "(5) statements per add: "
        f"{ {k: v for k, v in result['statements_per_add'].items() if isinstance(v, int)} }",
        flush=True,
    )
    for run, workers in ((1, 1), (2, 2)):
        server = server_factory("app.main:create_app", database_url, workers=workers).wait()
        try:
            warm = add_load(server.url + "/graphql", 0 if run == 1 else 3, 3)
            if not warm["claims_created"]:
                raise RuntimeError(f"warm-up created nothing: {warm['outcomes']}")
            result[f"workers_{workers}"] = add_load(server.url + "/graphql", run, seconds)
            print(f"(5) {workers} worker(s): {json.dumps(result[f'workers_{workers}'])[:600]}", flush=True)
        finally:
            server.stop()
    result["limits"] = asyncio.run(limit_check(database_url))
    print(f"(5) limits: {result['limits']}", flush=True)
    return result


# ------------------------------------------------------------------------------------------ (6) subscriptions


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2) if values else float("nan")


async def _write(url: str, location: str, tok: str, events: int, interval: float, first: int) -> list[dict]:
    """addCustomer every `interval` s, one at a time; send and response wall-clock times and the event id."""
    done = []
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60) as client:
        tick = time.perf_counter()
        for i in range(events):
            domain, _ = fresh_tenant(first + i // len(FRESH_ENGAGEMENTS))
            variables = {
                "input": {
                    "friendlyName": "Bench event",
                    "locationId": location,
                    "customerIdType": "DOMAIN_NAME",
                    "customerIdValue": domain,
                    "engagementIds": [gid("Engagement", FRESH_ENGAGEMENTS[i % len(FRESH_ENGAGEMENTS)])],
                    "customerContact": {"firstName": "Ann", "lastName": "Lee", "email": f"ann@{domain}"},
                    "partnerContact": {"firstName": "Bo", "lastName": "Ng", "email": "bo@partner.example"},
                }
            }
            sent = time.time()
            response = await client.post(
                url, json={"query": ADD_CUSTOMER_EVENT, "variables": variables}, headers=headers
            )
            answered = time.time()
            data = response.json()["data"]["addCustomer"]
            if data["claims"]:
                event = data["claims"][0]["history"]["edges"][0]["node"]["id"]
                done.append({"event": event, "sent": sent, "answered": answered})
            tick += interval
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
    return done


def _open_subscriptions(server, count: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(300):
        metrics = httpx.get(server.url + "/metrics").text
        line = next(x for x in metrics.splitlines() if x.startswith("mci_subscriptions_open"))
        if float(line.split()[-1]) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {line} subscriptions open")


def scenario6(
    server_factory,  # type: ignore[no-untyped-def]
    database_url: str,
    two_processes: bool,
    count: int = 1000,
    events: int = 100,
    interval: float = 0.25,
    clients: int = 2,
) -> dict[str, Any]:
    writer = writer_email(CLIENTS + 1)
    tok = token(writer)
    location = gid("PartnerLocation", asyncio.run(_locations(database_url))[writer])
    a = server_factory("app.main:create_app", database_url).wait()
    b = server_factory("app.main:create_app", database_url).wait() if two_processes else a
    first_tenant = 4 * CLIENTS * FRESH_PER_CLIENT + (FRESH_PER_CLIENT if two_processes else 0)
    subscribers: list[subprocess.Popen[str]] = []
    try:
        # Warm both (first requests import and compile lazily), then RSS of the subscribers' process.
        asyncio.run(_write(a.url + "/graphql", location, tok, 3, 0.05, first_tenant))
        httpx.post(b.url + "/graphql", json={"query": "{ __typename }"})
        first_tenant += 1
        time.sleep(1)
        rss_before = rss_kib(b.process.pid)
        # The subscribers are spread over `clients` processes: one Python process reading 1,000 sockets takes
        # ~50 us per message, so it alone would spread one event's receive times over ~50 ms.
        subscribers += [
            subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "bench.subscribers",
                    b.url.replace("http://", "ws://") + "/graphql",
                    tok,
                    "--count",
                    str(count // clients + (1 if i < count % clients else 0)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for i in range(clients)
        ]
        opened = []
        for process in subscribers:
            assert process.stdout is not None
            ready = process.stdout.readline()
            if not ready.startswith("READY"):
                raise RuntimeError(f"subscribers: {ready!r}")
            opened.append(float(ready.split()[1]))
        _open_subscriptions(b, count)
        time.sleep(2)
        rss_open = rss_kib(b.process.pid)
        written = asyncio.run(_write(a.url + "/graphql", location, tok, events, interval, first_tenant + 1))
        time.sleep(3)
        rss_after = rss_kib(b.process.pid)
        received: dict[str, Any] = {"events": {}, "errors": []}
        for process in subscribers:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("STOP\n")
            process.stdin.flush()
        for process in subscribers:
            assert process.stdout is not None
            part = json.loads(process.stdout.readline())
            for event_id, (occurred_at, times) in part["events"].items():
                received["events"].setdefault(event_id, [occurred_at, []])[1].extend(times)
            received["errors"] += part["errors"]
            process.wait(30)
    finally:
        for process in subscribers:
            if process.poll() is None:
                process.kill()
        a.stop()
        if b is not a:
            b.stop()
    from_answer, from_send, from_occurred, last = [], [], [], []
    delivered = 0
    for w in written:
        occurred_at, times = received["events"].get(w["event"], [None, []])
        delivered += len(times)
        if not times:
            continue
        occurred = datetime.fromisoformat(occurred_at).timestamp()
        from_answer += [t - w["answered"] for t in times]
        from_send += [t - w["sent"] for t in times]
        from_occurred += [t - occurred for t in times]
        last.append(max(times) - w["sent"])
    result = {
        "processes": 2 if two_processes else 1,
        "subscribers": count,
        "events_written": len(written),
        "deliveries_expected": len(written) * count,
        "deliveries": delivered,
        "subscriber_processes": clients,
        "open_seconds": max(opened),
        "rss_kib_before": rss_before,
        "rss_kib_open": rss_open,
        "rss_kib_after_events": rss_after,
        "kib_per_subscription": round((rss_open - rss_before) / count, 1),
        "write_ms_p50": _pct([w["answered"] - w["sent"] for w in written], 0.5),
        "write_ms_p99": _pct([w["answered"] - w["sent"] for w in written], 0.99),
        "errors": received["errors"],
    }
    for name, values in (
        ("from_response", from_answer),
        ("from_send", from_send),
        ("from_occurred_at", from_occurred),
        ("last_subscriber_from_send", last),
    ):
        result[name] = {
            "p50_ms": _pct(values, 0.5),
            "p99_ms": _pct(values, 0.99),
            "max_ms": _pct(values, 1.0),
            "min_ms": round(min(values) * 1000, 2) if values else None,
        }
    if from_send:
        result["mean_from_send_ms"] = round(statistics.fmean(from_send) * 1000, 2)
    print(f"(6) {result['processes']} process(es): {json.dumps(result)[:900]}", flush=True)
    return result
