"""Operating the service: what the ops tests share. A real `mci serve` process on a database of its own, and the
GraphQL operations they drive it with."""

import asyncio
import contextlib
import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.auth import mint_token
from app.cli import DEMO_DATA
from app.config import Settings
from app.services.importer import import_reference_data, load_document
from tests.conftest import Database, _open_database

# Secrets of this test module's own, so a server can run with MCI_ENV=production.
PRODUCTION_ENV = {
    "MCI_ENV": "production",
    "MCI_SANDBOX": "false",
    "MCI_JWT_SECRET": "ops-test-jwt-secret-0123456789-0123456789-0123456789",
    "MCI_LINK_SECRET": "ops-test-link-secret-0123456789-0123456789-0123456789",
}

IDS = """query Ids { viewer { locations(first: 50) { edges { node { id locationId } } } }
          engagements(first: 100) { edges { node { id key } } } }"""
ADD = """mutation AddCustomer($input: AddCustomerInput!) { addCustomer(input: $input) {
  claims { id claimNumber status } userErrors { code field message } } }"""
SEND = """mutation SendConsent($id: ID!) { sendConsent(input: {claimId: $id}) { userErrors { code message } } }"""
# Customers of the demo directory, each nominable once for the Copilot readiness assessment at Seattle.
DOMAINS = [
    "northwind.example",
    "adatum.example",
    "tailwindtraders.example",
    "wideworldimporters.example",
    "fourthcoffee.example",
    "relecloud.example",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seeded_database(backend: str, purpose: str) -> Database:
    """A fresh database of this backend, migrated and holding the demo reference data."""
    database = await _open_database(backend, purpose)
    await import_reference_data(database.sessions, load_document(DEMO_DATA))
    return database


def add_customer_input(locations: dict[str, str], engagements: dict[str, str], domain: str) -> dict[str, Any]:
    return {
        "friendlyName": f"Pilot at {domain}",
        "locationId": locations["4100101"],
        "customerIdType": "DOMAIN_NAME",
        "customerIdValue": domain,
        "engagementIds": [engagements["copilot-readiness-assessment"]],
        "customerContact": {"firstName": "Nancy", "lastName": "Davolio", "email": f"nancy.davolio@{domain}"},
        "partnerContact": {
            "firstName": "Megan",
            "lastName": "Bowen",
            "email": "megan.bowen@contoso-partners.example",
        },
    }


def metric_samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def sample(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@dataclass
class ServeProcess:
    """`mci serve` in a subprocess of its own; its stderr (the log) is collected line by line."""

    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    log: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        """The settings the process runs with (to mint tokens it accepts)."""
        return Settings(
            **{key[4:].lower(): value for key, value in self.env.items() if key.startswith("MCI_")},
            database_url=self.database_url,
        )

    def token(self, email: str, kind: str = "partner", name: str | None = None) -> str:
        return mint_token(self.settings, email, kind, name)

    async def start(self, *args: str) -> "ServeProcess":
        env = {
            **os.environ,
            "MCI_DATABASE_URL": self.database_url,
            "MCI_PUBLIC_URL": self.base_url,
            **self.env,
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(self.port),
            *args,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return self
                if self.process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        await self.stop()
        raise AssertionError("the server did not start:\n" + "\n".join(self.log))

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for line in self.process.stderr:
            self.log.append(line.decode().rstrip("\n"))

    async def wait(self, seconds: float = 15) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), seconds)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await self.wait()
            except TimeoutError:
                self.process.kill()
                await self.wait()

    async def graphql(
        self, client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str
    ) -> httpx.Response:
        return await client.post(
            f"{self.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def ids(self, token: str) -> tuple[dict[str, str], dict[str, str]]:
        async with httpx.AsyncClient(timeout=30) as client:
            data = (await self.graphql(client, IDS, token=token)).json()["data"]
        locations = {e["node"]["locationId"]: e["node"]["id"] for e in data["viewer"]["locations"]["edges"]}
        engagements = {e["node"]["key"]: e["node"]["id"] for e in data["engagements"]["edges"]}
        return locations, engagements
