"""Every setting, read from `MCI_*` environment variables. The README lists them all."""

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_JWT_SECRET = "mci-demo-secret-change-me-in-production-0123456789"
DEMO_LINK_SECRET = "mci-demo-link-secret-change-me-in-production-0123456789"
MIN_SECRET_BYTES = 32
"""Shortest HS256 JWT secret (and consent link secret) production accepts: RFC 7518 asks for a key at least as long
as the hash (SHA-256: 32 bytes); a shorter one can be guessed from one token offline."""
DOCUMENT_BYTES_PER_TOKEN = 64
"""Bytes of document text allowed per lexical token of `max_query_tokens`: names, punctuation, whitespace and
comments of real documents average well under this (the README's Customers page: 291 bytes, 54 tokens)."""
_DEMO_MARKERS = ("change-me", "changeme", "change_me", "mci-demo", "mci_demo")


def weak_secret(secret: str) -> str | None:
    """Why `secret` is unfit for production, or None: shorter than `MIN_SECRET_BYTES`, one of the demo secrets or
    close to one (a demo marker in it, or mostly the same characters in the same order), or nearly one character
    repeated."""
    value = secret.strip().lower()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"it is shorter than {MIN_SECRET_BYTES} bytes"
    if any(marker in value for marker in _DEMO_MARKERS) or any(
        difflib.SequenceMatcher(None, value, demo).ratio() >= 0.6
        for demo in (DEMO_JWT_SECRET, DEMO_LINK_SECRET)
    ):
        return "it is the demo secret or close to it"
    if len(set(value)) < 8:
        return "it has fewer than 8 distinct characters"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MCI_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{Path('var/mci.db').absolute()}",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    sandbox: bool = Field(default=True, description="Demo conveniences (test clock); refused in production")
    jwt_secret: str = DEMO_JWT_SECRET
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_jwks: str | None = Field(default=None, description="RS256 key set: a file path or an https URL")
    jwt_issuer: str = "mci-demo"
    jwt_audience: str = "mci-api"
    token_ttl_hours: int = 12
    max_token_lifetime_hours: float = Field(
        default=24,
        gt=0,
        description="Bearer tokens whose lifetime (exp - iat, or exp - now without iat) is longer are refused",
    )
    link_secret: str = Field(
        default=DEMO_LINK_SECRET,
        description="Signs consent links; set your own in production (32+ characters)",
    )
    public_url: str = "http://127.0.0.1:8000"
    event_poll_seconds: float = Field(
        default=5,
        gt=0,
        description="Subscriptions also poll the event log this often, in case a wake-up was lost",
    )
    subscription_buffer: int = Field(
        default=1000, ge=1, description="Events buffered per subscriber; a slower one is closed, to resume"
    )
    max_subscriptions_per_connection: int = Field(default=20, ge=1, description="Per WebSocket connection")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description='Other browser origins that may open WebSockets (JSON list; ["*"]: any); same-origin always may',
    )
    # Query limits, rate limit, request bounds and persisted queries (SECURITY.md)
    max_query_depth: int = Field(default=12, ge=1, description="Deepest field nesting an operation may have")
    max_query_aliases: int = Field(default=30, ge=0, description="Most aliased fields in one document")
    max_query_tokens: int = Field(default=2000, ge=1, description="Most lexical tokens in one document")
    max_query_cost: int = Field(
        default=5000,
        ge=1,
        description="Cost budget of one operation (objects it may return, computed before)",
    )
    throttle_bucket_size: float = Field(
        default=20000,
        gt=0,
        description="Cost points one token may spend in a burst (leaky bucket, per process)",
    )
    throttle_restore_rate: float = Field(
        default=1000, gt=0, description="Cost points a token's bucket gets back per second"
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest HTTP request body accepted; larger ones get 413"
    )
    execution_timeout_seconds: float = Field(
        default=15, gt=0, description="An HTTP query or mutation running longer is stopped with TIMEOUT"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins allowed to call the API cross-origin (JSON list, e.g. ["https://app.example"])',
    )
    persisted_query_cache_size: int = Field(
        default=1000,
        ge=0,
        description="Automatic persisted queries kept in memory (least recently used dropped)",
    )
    persisted_query_cache_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        description="Bytes the automatic persisted queries kept in memory may take (least recently used dropped)",
    )
    document_cache_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=0,
        description="Bytes the memo of parsed documents may take (its text and syntax tree, estimated)",
    )
    validation_cache_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="Bytes the memo of validation results may take (the document text and its errors)",
    )
    trusted_documents: str | None = Field(
        default=None,
        description="JSON file of sha256 -> document; in production only these operations are accepted",
    )
    sweep_interval_seconds: float = Field(
        default=30, description="How often the server applies passed deadlines (reads apply them too)"
    )
    smtp_url: str | None = None
    mail_from: str = "MCI Engagements <no-reply@mci.example>"
    mail_retry_base_seconds: float = Field(
        default=5, gt=0, description="Wait after a failed send; it doubles with each further failure"
    )
    mail_retry_max_seconds: float = Field(
        default=900, gt=0, description="Longest wait between two send attempts"
    )
    mail_poll_seconds: float = Field(
        default=5, gt=0, description="How often the mail sender looks for due mail when nothing wakes it"
    )
    mail_max_attempts: int = Field(
        default=20, ge=1, description="Attempts after which a message is marked FAILED and no longer retried"
    )
    max_page_size: int = 100
    default_page_size: int = 20
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="`mci serve` logs: JSON lines, readable text, or auto (JSON in production)",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    otel_enabled: bool = Field(
        default=False,
        description="OpenTelemetry spans for GraphQL operations (needs the `otel` extra and a tracer provider)",
    )
    # Live sessions (WebSocket, Server-Sent Events) and database timeouts (SECURITY.md, "Sessions", "Limits")
    max_connections_per_user: int = Field(
        default=10,
        ge=1,
        description="Open WebSocket connections and SSE streams one user may hold, per process",
    )
    max_subscriptions_per_user: int = Field(
        default=50,
        ge=1,
        description="Open subscriptions one user may hold over all its connections, per process",
    )
    session_recheck_seconds: float = Field(
        default=10,
        gt=0,
        description="How often open sessions look for an import that changed their user's roles",
    )
    ws_init_timeout_seconds: float = Field(
        default=60, gt=0, description="A WebSocket sending no connection_init this long is closed (4408)"
    )
    db_statement_timeout_seconds: float = Field(
        default=10, gt=0, description="PostgreSQL statement_timeout; how long SQLite waits for a lock"
    )
    db_command_timeout_seconds: float = Field(
        default=12,
        gt=0,
        description="The driver gives up on a command or connection the database does not answer",
    )

    @model_validator(mode="after")
    def _production_is_safe(self) -> "Settings":
        if self.env == "production":
            if self.sandbox:
                raise ValueError("MCI_SANDBOX must be false when MCI_ENV=production")
            if self.jwt_algorithm == "HS256" and (why := weak_secret(self.jwt_secret)):
                raise ValueError(
                    f"MCI_JWT_SECRET must be a secret of your own, {MIN_SECRET_BYTES} bytes or more, when "
                    f"MCI_ENV=production: {why}"
                )
            if why := weak_secret(self.link_secret):
                raise ValueError(
                    f"MCI_LINK_SECRET must be a secret of your own, {MIN_SECRET_BYTES} bytes or more, when "
                    f"MCI_ENV=production: {why}"
                )
        if self.token_ttl_hours > self.max_token_lifetime_hours:
            raise ValueError(
                "MCI_TOKEN_TTL_HOURS must not be longer than MCI_MAX_TOKEN_LIFETIME_HOURS: such tokens are refused"
            )
        return self

    @property
    def max_document_bytes(self) -> int:
        """The longest document text (UTF-8) the token limit could ever need; longer ones are refused before they
        are parsed or stored (`MAX_DOCUMENT_SIZE_EXCEEDED`)."""
        return self.max_query_tokens * DOCUMENT_BYTES_PER_TOKEN

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
