"""Partner accounts, their MCI locations, their users and the users' incentives roles."""

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class PartnerAccount(SQLModel, table=True):
    __tablename__ = "partner_account"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, description="Stable key from the reference data")
    name: str = Field(max_length=200)


class PartnerLocation(SQLModel, table=True):
    __tablename__ = "partner_location"

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner_account.id", index=True)
    location_id: str = Field(max_length=20, unique=True, description="AI Cloud Partner Program location ID")
    name: str = Field(max_length=200)
    country: str = Field(max_length=2, description="ISO 3166-1 alpha-2")
    mci_enrolled: bool = False
    payee_profile_valid: bool = False


class PartnerUser(SQLModel, table=True):
    __tablename__ = "partner_user"

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner_account.id", index=True)
    email: str = Field(max_length=254, unique=True, description="Lower-cased")
    name: str = Field(max_length=200)


class RoleAssignment(SQLModel, table=True):
    """A role for the whole account (`location_pk` null) or for one location."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "role", "location_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="partner_user.id", index=True)
    role: str = Field(max_length=32)
    location_pk: int | None = Field(default=None, foreign_key="partner_location.id")


class PartnerDomain(SQLModel, table=True):
    """An email domain of the partner itself (its users', its partner contacts'): consent may never be mailed
    there (DOMAIN.md, the consent recipient). Kept as data so the check is one indexed read."""

    __tablename__ = "partner_domain"

    partner_id: int = Field(foreign_key="partner_account.id", primary_key=True)
    domain: str = Field(max_length=253, primary_key=True, description="Lower-cased")
