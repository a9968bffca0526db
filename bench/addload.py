"""Scenario 5's load generator, run in its own process:

    python -m bench.addload CONFIG_FILE

CONFIG_FILE (JSON): url, seconds, collision_share, hot_rate, fresh_per_client, and clients: [{token,
location}], one per partner user. Each client is a closed loop on its own keep-alive connection, posting
addCustomer with a new idempotency key each time:
- most requests nominate a fresh tenant (by domain) that nobody claimed, each client its own range, one engagement
  per request, cycling over the six the tenant is eligible for;
- `collision_share` of them nominate the current "hot" (tenant, engagement) pair, which every client shares and
  which changes `hot_rate` times a second, so up to 16 partners race for the same limit at once: even windows
  engagement 1 (at most one active claim per customer; the identifier is the domain or the tenant ID at random,
  both count on the tenant), odd windows engagement 5 (at most two; by tenant ID).
Prints one JSON object: requests, claims created, outcomes, seconds, latency percentiles (ms)."""

import asyncio
import base64
import json
import random
import statistics
import sys
import time
import uuid
from collections import Counter

import httpx

from bench.data import FRESH_ENGAGEMENTS, fresh_tenant, hot_tenant
from bench.queries import ADD_CUSTOMER


def gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def variables(location: str, id_type: str, value: str, domain: str, engagement: int) -> dict[str, object]:
    return {
        "input": {
            "friendlyName": "Bench add",
            "locationId": location,
            "customerIdType": id_type,
            "customerIdValue": value,
            "tenantMismatchReason": "bench",
            "engagementIds": [gid("Engagement", engagement)],
            "customerContact": {"firstName": "Ann", "lastName": "Lee", "email": f"ann@{domain}"},
            "partnerContact": {"firstName": "Bo", "lastName": "Ng", "email": "bo@partner.example"},
            "idempotencyKey": uuid.uuid4().hex,
        }
    }


async def run(config: dict) -> dict[str, object]:
    seconds, share, hot_rate = config["seconds"], config["collision_share"], config["hot_rate"]
    per_client, fresh_offset, hot_offset = (
        config["fresh_per_client"],
        config["fresh_offset"],
        config["hot_offset"],
    )
    latencies: list[float] = []
    created_latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    created = 0
    hot_created: Counter[str] = Counter()  # "tenant/engagement" -> claims created
    rng = random.Random(5)
    clients = [httpx.AsyncClient(timeout=60) for _ in config["clients"]]
    for client in clients:  # open the connections before the clock starts
        await client.get(config["url"].rsplit("/", 1)[0] + "/healthz")
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(c: int, client: httpx.AsyncClient, token: str, location: str) -> None:
        nonlocal created
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        k = 0
        while (start := time.perf_counter()) < deadline:
            if rng.random() < share:
                window = int((start - started) * hot_rate)
                domain, tenant = hot_tenant(hot_offset + window // 2)
                if window % 2 == 0:
                    engagement = 1
                    id_type, value = rng.choice([("DOMAIN_NAME", domain), ("TENANT_ID", tenant)])
                else:
                    engagement, id_type, value = 5, "TENANT_ID", tenant
                hot = f"{window // 2}/{engagement}"
            else:
                domain, _ = fresh_tenant(fresh_offset + c * per_client + k // len(FRESH_ENGAGEMENTS))
                engagement = FRESH_ENGAGEMENTS[k % len(FRESH_ENGAGEMENTS)]
                id_type, value, hot = "DOMAIN_NAME", domain, None
                k += 1
            payload = {
                "query": ADD_CUSTOMER,
                "variables": variables(location, id_type, value, domain, engagement),
            }
            response = await client.post(config["url"], json=payload, headers=headers)
            took = time.perf_counter() - start
            latencies.append(took)
            if response.status_code != 200:
                outcomes[f"HTTP {response.status_code}"] += 1
                continue
            answer = response.json()
            if answer.get("errors"):
                outcomes["GraphQL error: " + answer["errors"][0]["message"][:80]] += 1
                continue
            result = answer["data"]["addCustomer"]
            if result["claims"]:
                created += len(result["claims"])
                created_latencies.append(took)
                outcomes["created" + (" (hot)" if hot else "")] += 1
                if hot:
                    hot_created[hot] += len(result["claims"])
            else:
                codes = ",".join(sorted({e["code"] for e in result["userErrors"]}))
                outcomes[codes + (" (hot)" if hot else " (fresh)")] += 1

    await asyncio.gather(
        *(
            worker(c, client, s["token"], s["location"])
            for c, (client, s) in enumerate(zip(clients, config["clients"], strict=True))
        )
    )
    took = time.perf_counter() - started
    for client in clients:
        await client.aclose()

    def pct(values: list[float], p: float) -> float:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 3) if values else 0.0

    return {
        "clients": len(clients),
        "requests": len(latencies),
        "claims_created": created,
        "seconds": round(took, 3),
        "requests_per_s": round(len(latencies) / took, 2),
        "claims_per_s": round(created / took, 2),
        "p50_ms": pct(latencies, 0.50),
        "p90_ms": pct(latencies, 0.90),
        "p99_ms": pct(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else 0.0,
        "created_p50_ms": pct(created_latencies, 0.50),
        "created_p99_ms": pct(created_latencies, 0.99),
        "outcomes": dict(outcomes),
        "hot_pairs": len(hot_created),
        "hot_created_max": max(hot_created.values(), default=0),
    }


def main() -> None:
    with open(sys.argv[1]) as f:
        config = json.load(f)
    print(json.dumps(asyncio.run(run(config))))


if __name__ == "__main__":
    main()
