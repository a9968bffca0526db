"""`python -m bench run [--quick]`: build the data, run the scenarios against real servers, write the report.

See bench/README.md for what is measured and how."""

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.data import BENCH_USER, Shape, build
from bench.queries import CUSTOMERS_PAGE, CUSTOMERS_PAGE_NO_TOTAL

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASE_URL = os.environ.get("MCI_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn in a subprocess on loopback."""

    def __init__(self, target: str, database_url: str, workers: int = 1) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "MCI_DATABASE_URL": database_url,
            "MCI_ENV": "development",
            "MCI_SWEEP_INTERVAL_SECONDS": "3600",
            "MCI_LOG_LEVEL": "WARNING",
            # The per-user throttle and cost budget would cap one user's load; the benchmark measures the page.
            "MCI_THROTTLE_BUCKET_SIZE": "1000000000",
            "MCI_THROTTLE_RESTORE_RATE": "1000000000",
            "MCI_MAX_QUERY_COST": "1000000000",
            # Scenario (6) holds 1,000 subscriptions of one user: above the per-user caps, which it does not measure.
            "MCI_MAX_CONNECTIONS_PER_USER": "100000",
            "MCI_MAX_SUBSCRIPTIONS_PER_USER": "100000",
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                target,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--no-access-log",
                "--ws-per-message-deflate",  # as `mci serve` runs it
                "false",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self) -> "Server":
        for _ in range(300):
            try:
                httpx.get(self.url + "/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server on {self.port} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def token() -> str:
    from app.auth import mint_token
    from app.config import Settings

    return mint_token(Settings(), BENCH_USER)


def body(rows: int, *, total: bool = True) -> bytes:
    from app.resolvers.relay import to_global_id

    query = CUSTOMERS_PAGE if total else CUSTOMERS_PAGE_NO_TOTAL
    return json.dumps(
        {"query": query, "variables": {"id": to_global_id("Engagement", 1), "first": rows}}
    ).encode()


def load(url: str, payload: bytes, connections: int, seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(payload)
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "bench.load",
            url,
            f.name,
            token(),
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    os.unlink(f.name)
    return json.loads(out.stdout)


def interleaved(
    runs: dict[str, tuple[str, bytes]], rounds: int, connections: int, seconds: float
) -> dict[str, list]:
    """Alternate the variants round by round (A B A B …), so drift on a noisy machine hits both alike."""
    results: dict[str, list] = {name: [] for name in runs}
    for url, payload in runs.values():  # warm-up
        load(url, payload, connections, min(seconds, 2))
    for _ in range(rounds):
        for name, (url, payload) in runs.items():
            results[name].append(load(url, payload, connections, seconds))
    return results


def summary(samples: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [s[key] for s in samples]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def count_statements(
    database_url: str, rows_list: list[int], *, total: bool = True
) -> tuple[dict[int, int], list[str]]:
    """Statements one page request runs (in-process app, counted like the tests do), and EXPLAIN ANALYZE of each
    statement of the 50-row page."""
    os.environ["MCI_DATABASE_URL"] = database_url
    from sqlalchemy import event

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(database_url=database_url, sweep_interval_seconds=3600))
    runtime = app.state.runtime
    seen: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, *_args):  # type: ignore[no-untyped-def]
        task = asyncio.current_task()
        if task is None or task.get_name() not in {
            "deadline-sweeper",
            "mci-mail-sender",
            "event-hub",
            "pg-listener",
        }:
            seen.append((statement, parameters))

    counts: dict[int, int] = {}
    plans: list[str] = []
    headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        await client.post("/graphql", content=body(50, total=total), headers=headers)
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
        for rows in rows_list:
            seen.clear()
            await client.post("/graphql", content=body(rows, total=total), headers=headers)
            counts[rows] = len(seen)
            if rows == 50:
                captured = list(seen)
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
    async with runtime.engine.connect() as conn:
        for statement, parameters in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
            plans.append(statement.strip() + "\n--\n" + "\n".join(r[0] for r in result))
    await runtime.engine.dispose()
    return counts, plans


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    import sqlalchemy
    import strawberry  # noqa: F401

    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select version()"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres": pg,
        "strawberry": version("strawberry-graphql"),
        "sqlalchemy": sqlalchemy.__version__,
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "asyncpg": version("asyncpg"),
    }


WRITES_SIZE = 10_000  # claims already in scenario 5 and 6's database (mci_bench_writes)


def run_writes(results: dict[str, Any], quick: bool, only: set[str]) -> None:
    """Scenarios 5 and 6 on their own database: the Customers page's data plus writer users and fresh tenants."""
    from bench.data import build_writes
    from bench.writes import scenario5, scenario6

    url, extra = asyncio.run(build_writes(BASE_URL, "mci_bench_writes", Shape(WRITES_SIZE)))
    results["writes_db"] = {"claims": WRITES_SIZE, "build_seconds": round(extra, 1)}
    if "5" in only:
        results["s5_add_customer"] = scenario5(Server, url, 20 if quick else 40)
    if "6" in only:
        results["s6_subscriptions"] = {
            "one_process": scenario6(Server, url, two_processes=False),
            "two_processes": scenario6(Server, url, two_processes=True),
        }


def run(quick: bool, seconds: float, rounds: int) -> None:
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": quick,
        "seconds": seconds,
        "rounds": rounds,
        "sizes": {},
    }
    for size in sizes:
        name = f"mci_bench_{size}"
        url, took = asyncio.run(build(BASE_URL, name, Shape(size)))
        entry: dict[str, Any] = {
            "build_seconds": round(took, 1),
            "shape": {
                "claims": size,
                "customers": Shape(size).customers,
                "partners": 3 + Shape(size).bench_partners,
                "benchmarked_partner_customers": Shape(size).contoso_customers,
            },
        }
        counts, plans = asyncio.run(count_statements(url, [10, 50, 100]))
        entry["statements_per_page"] = counts
        entry["explain"] = plans
        counts, plans = asyncio.run(count_statements(url, [10, 50, 100], total=False))
        entry["statements_per_page_no_total"] = counts
        entry["explain_no_total"] = plans
        gql = Server("app.main:create_app", url).wait()
        hw = Server("bench.handwritten:create_app", url).wait()
        try:
            a = httpx.post(
                gql.url + "/graphql",
                content=body(50),
                headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
            ).content
            b = httpx.post(
                hw.url + "/page",
                content=body(50),
                headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"},
            ).content
            # The API may add top-level `extensions` (cost accounting) after `data`: compare the `data` bytes.
            entry["byte_identical"] = a == b or (
                a[: len(b) - 1] == b[:-1] and a[len(b) - 1 :].startswith(b',"extensions"')
            )
            entry["json_identical"] = json.loads(a)["data"] == json.loads(b)["data"]
            print(
                f"[{size}] byte-identical: {a == b}, JSON-identical: {json.loads(a) == json.loads(b)}",
                flush=True,
            )
            # Scenario 1: throughput, 50 rows, 8 connections.
            s1 = interleaved(
                {"graphql": (gql.url + "/graphql", body(50)), "handwritten": (hw.url + "/page", body(50))},
                rounds,
                8,
                seconds,
            )
            entry["s1_throughput"] = s1
            # Scenario 2 (and 4b): latency at concurrency 1, 10/50/100 rows, without `totalCount`: the total
            # judges every known customer whatever the page size, which only adds noise to the per-row slope.
            s2: dict[str, Any] = {}
            for rows in (10, 50, 100):
                s2[rows] = interleaved(
                    {
                        "graphql": (gql.url + "/graphql", body(rows, total=False)),
                        "handwritten": (hw.url + "/page", body(rows, total=False)),
                    },
                    rounds,
                    1,
                    seconds / 2,
                )
            entry["s2_latency"] = s2
            # Scenario 4: the 50-row page with `totalCount`, concurrency 1.
            entry["s4_total"] = interleaved(
                {"graphql": (gql.url + "/graphql", body(50)), "handwritten": (hw.url + "/page", body(50))},
                rounds,
                1,
                seconds / 2,
            )
        finally:
            gql.stop()
            hw.stop()
        if size == sizes[-1]:
            # Scenario 7: two workers vs one, 16 connections.
            one = Server("app.main:create_app", url, workers=1).wait()
            two = Server("app.main:create_app", url, workers=2).wait()
            try:
                results["s7_workers"] = interleaved(
                    {
                        "one_worker": (one.url + "/graphql", body(50)),
                        "two_workers": (two.url + "/graphql", body(50)),
                    },
                    rounds,
                    16,
                    seconds,
                )
                results["s7_size"] = size
            finally:
                one.stop()
                two.stop()
        results["sizes"][size] = entry
        print(json.dumps({k: v for k, v in entry.items() if k != "explain"})[:400], flush=True)
    run_writes(results, quick, {"5", "6"})
    (HERE / "results.json").write_text(json.dumps(results, indent=1))
    from bench.report import write_report

    write_report(results, HERE / "REPORT.md")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run", help="build data, run every scenario, write bench/REPORT.md and bench/results.json"
    )
    r.add_argument("--quick", action="store_true", help="10k and 100k claims only (a few minutes)")
    r.add_argument("--seconds", type=float, default=None, help="length of one round (default 5, quick 3)")
    r.add_argument("--rounds", type=int, default=None, help="rounds per variant (default 5, quick 3)")
    r.add_argument("--report-only", action="store_true", help="rewrite REPORT.md from results.json")
    r.add_argument(
        "--only",
        default=None,
        help="comma-separated write scenarios to run (5, 6), merged into the existing results.json",
    )
    args = parser.parse_args()
    if args.only:
        results = json.loads((HERE / "results.json").read_text())
        run_writes(results, args.quick, set(args.only.split(",")))
        (HERE / "results.json").write_text(json.dumps(results, indent=1))
        from bench.report import write_report

        write_report(results, HERE / "REPORT.md")
        return
    if args.report_only:
        from bench.report import write_report

        write_report(json.loads((HERE / "results.json").read_text()), HERE / "REPORT.md")
        return
    run(args.quick, args.seconds or (3 if args.quick else 5), args.rounds or (3 if args.quick else 5))


if __name__ == "__main__":
    main()
