"""The customer directory: Microsoft's data on tenants and MSX opportunities, imported and kept here."""

from decimal import Decimal

from sqlalchemy import Column, Numeric
from sqlmodel import Field, SQLModel


class DirectoryTenant(SQLModel, table=True):
    __tablename__ = "directory_tenant"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=36, unique=True, description="GUID, lower-case")
    name: str = Field(max_length=200)
    tpid: str | None = Field(default=None, max_length=12, index=True)
    country: str = Field(max_length=2)
    segment: str = Field(max_length=40)


class DirectoryDomain(SQLModel, table=True):
    __tablename__ = "directory_domain"

    domain: str = Field(max_length=253, primary_key=True)
    tenant_pk: int = Field(foreign_key="directory_tenant.id", index=True)


class DirectorySubscription(SQLModel, table=True):
    __tablename__ = "directory_subscription"

    subscription_id: str = Field(max_length=36, primary_key=True)
    tenant_pk: int = Field(foreign_key="directory_tenant.id", index=True)


class DirectoryOpportunity(SQLModel, table=True):
    __tablename__ = "directory_opportunity"

    msx_opportunity_id: str = Field(max_length=32, primary_key=True)
    tenant_pk: int | None = Field(default=None, foreign_key="directory_tenant.id", index=True)
    deal_size: Decimal = Field(sa_column=Column(Numeric(16, 2), nullable=False))
    currency: str = Field(default="USD", max_length=3)
    status: str = Field(max_length=10)


class ReferenceDataVersion(SQLModel, table=True):
    """One row, counting imports of reference data (directory, engagements, partners): what was judged from them
    before a later count is out of date (services/customers_page.py, `TabJudgements`)."""

    __tablename__ = "reference_data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
