"""The `mci` command: serve, migrate, import reference data, seed the demo, mint tokens, export the schema."""

import asyncio
import sys
from pathlib import Path

import click

from app.config import get_settings

DEMO_DATA = Path(__file__).resolve().parent / "data" / "demo.json"


@click.group(help="MCI engagements GraphQL API. Settings come from MCI_* environment variables (see README).")
def main() -> None:
    pass


@main.command(help="Serve the API (GraphQL and GraphiQL at /graphql).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="TCP port.")
@click.option("--workers", default=1, show_default=True, help="Server processes (PostgreSQL only).")
def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from app.main import uvicorn_options
    from app.observability import setup_logging

    settings = get_settings()
    if workers > 1 and settings.is_sqlite:
        raise click.UsageError(
            "SQLite serves one process: use --workers 1, or PostgreSQL (MCI_DATABASE_URL)."
        )
    # JSON lines in production, readable text in development (MCI_LOG_FORMAT); uvicorn applies the same
    # configuration in each worker. Its access log is off: the app logs one line per request, with its id.
    log_config = setup_logging(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=30,  # in-flight requests get this long after SIGTERM, not forever
        **uvicorn_options(settings),  # WebSocket messages: capped like request bodies, uncompressed
    )


@main.group(help="Database schema management.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply the migrations up to REVISION (default: the latest).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    from app import db as database

    database.upgrade_sync(get_settings().database_url, revision)
    click.echo(f"database at {revision}", err=True)


def _import(path: Path) -> None:
    from app import db as database
    from app.services.importer import InvalidReferenceData, import_reference_data, load_document

    settings = get_settings()

    async def run() -> str:
        await database.upgrade(settings.database_url)
        engine = database.create_engine(settings.database_url)
        try:
            return str(await import_reference_data(database.session_factory(engine), load_document(path)))
        finally:
            await engine.dispose()

    try:
        click.echo(asyncio.run(run()))
    except InvalidReferenceData as error:
        click.echo(f"{path}: nothing imported, {len(error.problems)} problem(s):", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)


@main.command(
    "import", help="Import reference data (partners, engagements, customer directory) from a JSON FILE."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    _import(file)


@main.command("seed-demo", help="Import the demo reference data shipped with the service (idempotent).")
def seed_demo() -> None:
    _import(DEMO_DATA)


@main.command(
    help="Print a bearer token, alone on stdout: for a partner user (--email) or a reviewer (--reviewer)."
)
@click.option("--email", help="A partner user's email address (see the imported reference data).")
@click.option("--reviewer", help="A Microsoft reviewer's email address.")
@click.option("--name", help="The reviewer's display name (default: the email).")
def token(email: str | None, reviewer: str | None, name: str | None) -> None:
    from app.auth import PARTNER, REVIEWER, mint_token

    if (email is None) == (reviewer is None):
        raise click.UsageError("give exactly one of --email or --reviewer")
    if email is not None:
        click.echo(mint_token(get_settings(), email, PARTNER))
    else:
        assert reviewer is not None
        click.echo(mint_token(get_settings(), reviewer, REVIEWER, name))


@main.command(help="Apply every passed deadline now (the server also does it on an interval and on reads).")
def expire() -> None:
    from app import db as database
    from app.clock import Clock
    from app.services.expiry import expire_due

    settings = get_settings()

    async def run() -> int:
        engine = database.create_engine(settings.database_url)
        try:
            return await expire_due(database.session_factory(engine), Clock().now())
        finally:
            await engine.dispose()

    click.echo(f"{asyncio.run(run())} claim(s) expired")


@main.command("export-schema", help="Print the GraphQL schema (SDL).")
def export_schema() -> None:
    from app.resolvers.schema import schema

    click.echo(schema.as_str())


if __name__ == "__main__":
    main()
