"""A small closed-loop HTTP load generator (asyncio + httpx), run in its own process:

    python -m bench.load URL BODY_FILE TOKEN --connections 8 --seconds 10

Each connection posts the body, waits for the answer, and posts again. Prints one JSON object: requests,
errors, seconds, throughput (requests/s) and latency percentiles (ms)."""

import argparse
import asyncio
import json
import statistics
import time

import httpx


async def run(url: str, body: bytes, token: str, connections: int, seconds: float) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for _ in range(connections):  # open the connections before the clock starts
            await client.post(url, content=body, headers=headers)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (start := time.perf_counter()) < deadline:
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200 or b'"errors"' in response.content[:20]:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        took = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(took, 3),
        "throughput": round(len(latencies) / took, 2),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("body_file")
    parser.add_argument("token")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with open(args.body_file, "rb") as f:
        body = f.read()
    print(json.dumps(asyncio.run(run(args.url, body, args.token, args.connections, args.seconds))))


if __name__ == "__main__":
    main()
