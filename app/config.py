"""Every setting, read from `MCI_*` environment variables. The README lists them all."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_JWT_SECRET = "mci-demo-secret-change-me-in-production-0123456789"


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
    public_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    mail_from: str = "MCI Engagements <no-reply@mci.example>"
    max_page_size: int = 100
    default_page_size: int = 20

    @model_validator(mode="after")
    def _production_is_safe(self) -> "Settings":
        if self.env == "production":
            if self.sandbox:
                raise ValueError("MCI_SANDBOX must be false when MCI_ENV=production")
            if self.jwt_algorithm == "HS256" and self.jwt_secret == DEMO_JWT_SECRET:
                raise ValueError("MCI_JWT_SECRET must be set to a secret of your own when MCI_ENV=production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
