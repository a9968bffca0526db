"""Scenario 6's subscribers, run in their own process (asyncio + `websockets`):

    python -m bench.subscribers WS_URL TOKEN --count 1000

Opens COUNT graphql-transport-ws connections (the token in `connection_init`), one `claimStatusChanged`
subscription each, prints `READY <seconds to open>` once all are acknowledged and subscribed, records the wall-clock
receive time of every event, and on a line `STOP` on stdin prints one JSON object: {event id: [occurredAt,
[receive times…]]}, plus errors. Like browsers, the clients offer permessage-deflate; `S6_NO_DEFLATE=1` turns it off
(to separate the server's per-connection compression cost and zlib memory from the rest)."""

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from collections import defaultdict

from websockets.asyncio.client import connect

from bench.queries import SUBSCRIBE


async def run(url: str, token: str, count: int) -> None:
    received: dict[str, list[float]] = defaultdict(list)
    occurred: dict[str, str] = {}
    errors: list[str] = []
    sockets = []
    gate = asyncio.Semaphore(50)

    async def open_one(i: int) -> None:
        async with gate:
            socket = await connect(
                url,
                subprotocols=["graphql-transport-ws"],
                max_queue=None,
                open_timeout=60,
                compression=None if os.environ.get("S6_NO_DEFLATE") else "deflate",
            )
            await socket.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            )
            ack = json.loads(await asyncio.wait_for(socket.recv(), 60))
            if ack["type"] != "connection_ack":
                raise RuntimeError(f"subscriber {i}: {ack}")
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
            sockets.append(socket)

    async def listen(socket) -> None:  # type: ignore[no-untyped-def]
        async for raw in socket:
            now = time.time()
            message = json.loads(raw)
            if message["type"] == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    errors.append(json.dumps(payload["errors"])[:200])
                    continue
                event = payload["data"]["claimStatusChanged"]
                received[event["id"]].append(now)
                occurred[event["id"]] = event["occurredAt"]
            elif message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
            elif message["type"] not in ("pong", "complete"):
                errors.append(str(message)[:200])

    started = time.perf_counter()
    await asyncio.gather(*(open_one(i) for i in range(count)))
    listeners = [asyncio.create_task(listen(s)) for s in sockets]
    # The instrument must not add pauses of its own: a full collection over 1,000 open connections took up to
    # ~190 ms here. Everything opened so far lives until the end.
    gc.collect()
    gc.freeze()
    print(f"READY {time.perf_counter() - started:.2f}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    print(
        json.dumps({"events": {k: [occurred[k], v] for k, v in received.items()}, "errors": errors[:20]}),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.token, args.count))


if __name__ == "__main__":
    main()
