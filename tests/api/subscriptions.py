"""A minimal GraphQL-over-WebSocket client (graphql-transport-ws, or the legacy graphql-ws) for tests."""

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

EVENTS = """subscription($engagementId: ID, $claimId: ID, $after: String) {
  claimStatusChanged(engagementId: $engagementId, claimId: $claimId, after: $after) {
    id cursor action fromStatus toStatus actor { kind name } occurredAt
    claim { id claimNumber status engagement { key } }
  }
}"""


def text(message: str | bytes) -> dict[str, Any]:
    """A server message, which must be a text frame: browsers hand binary frames to graphql-ws clients as Blobs,
    which they cannot parse."""
    assert isinstance(message, str), f"binary WebSocket frame: {message!r}"
    return json.loads(message)


class Subscription:
    def __init__(self, socket: ClientConnection, legacy: bool) -> None:
        self.socket = socket
        self.legacy = legacy

    async def next(self, seconds: float = 10) -> dict[str, Any]:
        """The next `next`/`data` payload; skips keep-alives."""
        while True:
            message = text(await asyncio.wait_for(self.socket.recv(), seconds))
            if message["type"] in ("next", "data"):
                return message["payload"]
            if message["type"] in ("ping", "ka", "pong"):
                if message["type"] == "ping":
                    await self.socket.send(json.dumps({"type": "pong"}))
                continue
            raise AssertionError(f"unexpected message {message}")

    async def event(self, seconds: float = 10) -> dict[str, Any]:
        payload = await self.next(seconds)
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]["claimStatusChanged"]

    async def nothing_within(self, seconds: float) -> bool:
        try:
            message = await asyncio.wait_for(self.socket.recv(), seconds)
        except TimeoutError:
            return True
        return text(message)["type"] in ("ka", "ping")


async def open_socket(base_url: str, token: str | None, *, legacy: bool = False) -> ClientConnection:
    protocol = "graphql-ws" if legacy else "graphql-transport-ws"
    socket = await connect(base_url.replace("http://", "ws://") + "/graphql", subprotocols=[protocol])
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    return socket


async def subscribe(
    base_url: str, token: str, variables: dict[str, Any] | None = None, *, legacy: bool = False
) -> Subscription:
    socket = await open_socket(base_url, token, legacy=legacy)
    ack = text(await asyncio.wait_for(socket.recv(), 10))
    assert ack["type"] == "connection_ack", ack
    start = "start" if legacy else "subscribe"
    await socket.send(
        json.dumps({"id": "1", "type": start, "payload": {"query": EVENTS, "variables": variables or {}}})
    )
    await asyncio.sleep(0.2)  # the server registers the subscription before the test changes anything
    return Subscription(socket, legacy)
