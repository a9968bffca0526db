"""SQLModel tables, nothing else. Importing this package registers every table on `SQLModel.metadata`."""

from app.models.claim import Claim, ClaimEvent, ConsentRequest, Customer, CustomerIdentifier, IdempotencyKey
from app.models.directory import (
    DirectoryDomain,
    DirectoryOpportunity,
    DirectorySubscription,
    DirectoryTenant,
    ReferenceDataVersion,
)
from app.models.engagement import CountryMarket, Engagement, EngagementLocation, ExchangeRate
from app.models.mail import MailMessage
from app.models.partner import PartnerAccount, PartnerDomain, PartnerLocation, PartnerUser, RoleAssignment
from app.models.sandbox import SandboxClock

__all__ = [
    "Claim",
    "ClaimEvent",
    "ConsentRequest",
    "CountryMarket",
    "Customer",
    "CustomerIdentifier",
    "DirectoryDomain",
    "DirectoryOpportunity",
    "DirectorySubscription",
    "DirectoryTenant",
    "Engagement",
    "EngagementLocation",
    "ExchangeRate",
    "IdempotencyKey",
    "MailMessage",
    "PartnerAccount",
    "PartnerDomain",
    "PartnerLocation",
    "PartnerUser",
    "ReferenceDataVersion",
    "RoleAssignment",
    "SandboxClock",
]
