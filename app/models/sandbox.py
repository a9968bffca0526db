"""The sandbox test clock, shared by every process and host on the database (DOMAIN.md, Sandbox test clock)."""

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class SandboxClock(SQLModel, table=True):
    """One row: how far the sandbox's time runs ahead of the wall clock. Only ever moves forward."""

    __tablename__ = "sandbox_clock"

    id: int = Field(default=1, primary_key=True)
    offset_seconds: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
