"""Customer identifiers: parse and normalise what a partner typed, and the key claim limits count on.

Normalised values are what the directory, the claims and the limits compare, so one customer ID typed two ways
(case, braces, surrounding spaces) must come out as one string.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from app.domain.enums import CustomerIdType


class InvalidIdentifier(ValueError):
    """A value that is not a well-formed identifier of its type; the message is shown to the partner."""


@dataclass(frozen=True)
class Identifier:
    id_type: CustomerIdType
    value: str  # normalised


# One DNS label (RFC 1123): ASCII letters, digits and inner hyphens, 1 to 63 characters; after lower().
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TPID = re.compile(r"[0-9]{1,12}")  # not \d: it would accept non-ASCII digits
_MSX = re.compile(r"[0-9]-[A-Z0-9]{6,20}")
_MAX_HOST_LENGTH = 253

# Where the docs are silent these are Decisions: the messages state the accepted format.
MESSAGES: Mapping[CustomerIdType, str] = MappingProxyType(
    {
        CustomerIdType.DOMAIN_NAME: (
            "A domain name is a host name such as contoso.com, without http://, a path or a port."
        ),
        CustomerIdType.TENANT_ID: "A tenant ID is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47.",
        CustomerIdType.AZURE_SUBSCRIPTION_ID: (
            "An Azure subscription ID is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47."
        ),
        CustomerIdType.TPID: "A TPID is 1 to 12 digits.",
        CustomerIdType.MSX_OPPORTUNITY_ID: (
            "An MSX opportunity ID is one digit, a dash and 6 to 20 letters or digits, such as 7-3FS2XQBWAO."
        ),
    }
)


def _host_name(raw: str) -> str | None:
    """A lower-cased host name of two labels or more, or None. One trailing dot (FQDN form) is dropped."""
    if not raw.isascii():
        return None  # lower() maps some non-ASCII letters to ASCII ones (the Kelvin sign to "k")
    host = raw.lower()
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if len(host) > _MAX_HOST_LENGTH or len(labels) < 2:
        return None
    if not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return None  # an all-digit last label is an IP address, not a domain
    return host


def _guid(raw: str) -> str | None:
    if raw.startswith("{") and raw.endswith("}"):
        raw = raw[1:-1]  # the registry/PowerShell spelling
    value = raw.lower()
    return value if _GUID.fullmatch(value) else None


def _tpid(raw: str) -> str | None:
    if not _TPID.fullmatch(raw):
        return None
    return raw.lstrip("0") or "0"  # a number: "0042" and "42" are one TPID


def _msx(raw: str) -> str | None:
    value = raw.upper()
    return value if _MSX.fullmatch(value) else None


_NORMALISERS: Mapping[CustomerIdType, Callable[[str], str | None]] = MappingProxyType(
    {
        CustomerIdType.DOMAIN_NAME: _host_name,
        CustomerIdType.TENANT_ID: _guid,
        CustomerIdType.AZURE_SUBSCRIPTION_ID: _guid,
        CustomerIdType.TPID: _tpid,
        CustomerIdType.MSX_OPPORTUNITY_ID: _msx,
    }
)


def parse_identifier(id_type: CustomerIdType, raw: str) -> Identifier:
    """Strip and normalise `raw`; raise InvalidIdentifier with a user-facing message when it is malformed."""
    raw = raw.strip()
    # ASCII first: lower()/upper() map some non-ASCII letters to ASCII ones ("ß".upper() == "SS").
    value = _NORMALISERS[id_type](raw) if raw.isascii() else None
    if value is None:
        raise InvalidIdentifier(MESSAGES[id_type])
    return Identifier(id_type, value)


def email_domain(email: str) -> str | None:
    """The lower-cased domain of an email address, or None when `email` is not one."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or any(c.isspace() for c in local):
        return None
    return _host_name(domain)


# Decision (DOMAIN.md, the limit key): the types that count as the tenant the directory resolves them to.
# A tenant ID is its own tenant; a TPID (several tenants may share one) and an MSX opportunity count as themselves.
COUNTED_AS_TENANT = frozenset({CustomerIdType.DOMAIN_NAME, CustomerIdType.AZURE_SUBSCRIPTION_ID})


def limit_key(identifier: Identifier, resolved_tenant_id: str | None) -> str:
    """What claim limits (and cooling off) count on, so one partner cannot hold two active claims on one tenant
    through different identifiers: a domain counts as its tenant, an Azure subscription as the tenant that owns
    it (once the directory resolves them), a tenant ID as itself; TPIDs and MSX opportunities as themselves.
    An identifier the directory cannot resolve counts as itself."""
    if identifier.id_type in COUNTED_AS_TENANT and resolved_tenant_id is not None:
        return f"{CustomerIdType.TENANT_ID.value}:{resolved_tenant_id.strip().lower()}"
    return f"{identifier.id_type.value}:{identifier.value}"
