import itertools
import string
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import CustomerIdType as T
from app.domain.identifiers import (
    MESSAGES,
    Identifier,
    InvalidIdentifier,
    email_domain,
    limit_key,
    parse_identifier,
)

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(
    ("id_type", "raw", "expected"),
    [
        (T.DOMAIN_NAME, "contoso.com", "contoso.com"),
        (T.DOMAIN_NAME, "  Contoso.COM ", "contoso.com"),
        (T.DOMAIN_NAME, "mail.eu.contoso.co.uk", "mail.eu.contoso.co.uk"),
        (T.DOMAIN_NAME, "contoso.com.", "contoso.com"),
        (T.DOMAIN_NAME, "my-shop1.xn--p1ai", "my-shop1.xn--p1ai"),
        (T.DOMAIN_NAME, "a.io", "a.io"),
        (T.DOMAIN_NAME, "1.2.3.x4", "1.2.3.x4"),
        (T.TENANT_ID, GUID, GUID),
        (T.TENANT_ID, GUID.upper(), GUID),
        (T.TENANT_ID, "{" + GUID.upper() + "}", GUID),
        (T.TENANT_ID, f"\t{GUID}\n", GUID),
        (T.AZURE_SUBSCRIPTION_ID, "{" + GUID + "}", GUID),
        (T.TPID, "1", "1"),
        (T.TPID, " 123456789012 ", "123456789012"),
        (T.TPID, "000042", "42"),
        (T.TPID, "0", "0"),
        (T.MSX_OPPORTUNITY_ID, "7-3FS2XQBWAO", "7-3FS2XQBWAO"),
        (T.MSX_OPPORTUNITY_ID, " 7-3fs2xqbwao ", "7-3FS2XQBWAO"),
        (T.MSX_OPPORTUNITY_ID, "0-ABC123", "0-ABC123"),
        (T.MSX_OPPORTUNITY_ID, "9-" + "A" * 20, "9-" + "A" * 20),
    ],
)
def test_valid_identifiers_are_normalised(id_type: T, raw: str, expected: str) -> None:
    assert parse_identifier(id_type, raw) == Identifier(id_type, expected)


@pytest.mark.parametrize(
    ("id_type", "raw"),
    [
        (T.DOMAIN_NAME, ""),
        (T.DOMAIN_NAME, "contoso"),
        (T.DOMAIN_NAME, "https://contoso.com"),
        (T.DOMAIN_NAME, "contoso.com/path"),
        (T.DOMAIN_NAME, "contoso.com:443"),
        (T.DOMAIN_NAME, "cont oso.com"),
        (T.DOMAIN_NAME, "-contoso.com"),
        (T.DOMAIN_NAME, "contoso-.com"),
        (T.DOMAIN_NAME, "contoso..com"),
        (T.DOMAIN_NAME, ".contoso.com"),
        (T.DOMAIN_NAME, "under_score.com"),
        (T.DOMAIN_NAME, "10.0.0.1"),
        (T.DOMAIN_NAME, "user@contoso.com"),
        (T.DOMAIN_NAME, "a" * 64 + ".com"),
        (T.DOMAIN_NAME, ".".join(["a" * 63] * 4) + ".com"),  # 260 characters
        (T.DOMAIN_NAME, "münchen.de"),
        (T.DOMAIN_NAME, "contoso.\u212aom"),  # Kelvin sign: lower() would make it "k"
        (T.TENANT_ID, ""),
        (T.TENANT_ID, GUID.replace("-", "")),
        (T.TENANT_ID, GUID[:-1]),
        (T.TENANT_ID, GUID + "0"),
        (T.TENANT_ID, GUID.replace("7", "g", 1)),
        (T.TENANT_ID, "{" + GUID),
        (T.TENANT_ID, "(" + GUID + ")"),
        (T.AZURE_SUBSCRIPTION_ID, "not-a-guid"),
        (T.TPID, ""),
        (T.TPID, "1234567890123"),
        (T.TPID, "12a"),
        (T.TPID, "-12"),
        (T.TPID, "1 2"),
        (T.TPID, "\u0661\u0662\u0663"),  # Arabic-Indic digits
        (T.MSX_OPPORTUNITY_ID, ""),
        (T.MSX_OPPORTUNITY_ID, "7-ABC12"),
        (T.MSX_OPPORTUNITY_ID, "7-" + "A" * 21),
        (T.MSX_OPPORTUNITY_ID, "73FS2XQBWAO"),
        (T.MSX_OPPORTUNITY_ID, "77-3FS2XQBWAO"),
        (T.MSX_OPPORTUNITY_ID, "A-3FS2XQBWAO"),
        (T.MSX_OPPORTUNITY_ID, "7-3FS2-XQBWAO"),
        (T.MSX_OPPORTUNITY_ID, "7-ßßßßßß"),  # upper() would make it 7-SSSSSSSSSSSS
    ],
)
def test_invalid_identifiers_raise_a_user_message(id_type: T, raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as error:
        parse_identifier(id_type, raw)
    assert str(error.value) == MESSAGES[id_type]
    assert isinstance(error.value, ValueError)


def test_every_type_has_a_sentence_for_its_error() -> None:
    assert set(MESSAGES) == set(T)
    assert all(message.endswith(".") and message[0].isupper() for message in MESSAGES.values())
    assert MESSAGES[T.TPID] == "A TPID is 1 to 12 digits."


_label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)
domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_label, min_size=1, max_size=4),
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{1,6}", fullmatch=True),
)
guids = st.uuids().map(str)
msx_ids = st.from_regex(r"[0-9]-[a-zA-Z0-9]{6,20}", fullmatch=True)
tpids = st.from_regex(r"[0-9]{1,12}", fullmatch=True)
spaces = st.sampled_from(["", " ", "  ", "\t", "\n"])


@settings(max_examples=60)
@given(
    st.one_of(
        domains.map(lambda v: (T.DOMAIN_NAME, v)),
        guids.map(lambda v: (T.TENANT_ID, v)),
        guids.map(lambda v: (T.AZURE_SUBSCRIPTION_ID, "{" + v + "}")),
        tpids.map(lambda v: (T.TPID, v)),
        msx_ids.map(lambda v: (T.MSX_OPPORTUNITY_ID, v)),
    ),
    spaces,
    spaces,
)
def test_normalisation_is_idempotent(typed: tuple[T, str], before: str, after: str) -> None:
    id_type, raw = typed
    once = parse_identifier(id_type, before + raw + after)
    assert parse_identifier(id_type, once.value) == once


@settings(max_examples=60)
@given(
    st.one_of(
        domains.map(lambda v: (T.DOMAIN_NAME, v)),
        guids.map(lambda v: (T.TENANT_ID, v)),
        guids.map(lambda v: (T.AZURE_SUBSCRIPTION_ID, v)),
        msx_ids.map(lambda v: (T.MSX_OPPORTUNITY_ID, v)),
    ),
    st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_case_does_not_matter(typed: tuple[T, str], upper_mask: list[bool]) -> None:
    id_type, raw = typed
    mixed = "".join(c.upper() if up else c.lower() for c, up in zip(raw, itertools.cycle(upper_mask)))
    assert parse_identifier(id_type, mixed) == parse_identifier(id_type, raw.lower())
    assert parse_identifier(id_type, raw.upper()) == parse_identifier(id_type, raw.lower())


@settings(max_examples=60)
@given(st.text(alphabet=string.printable + "\u00e4\u00df\u212a\u0661", max_size=30), st.sampled_from(list(T)))
def test_parse_never_fails_other_than_invalid_identifier(raw: str, id_type: T) -> None:
    try:
        identifier = parse_identifier(id_type, raw)
    except InvalidIdentifier:
        return
    assert identifier.value.isascii()
    assert identifier.value == identifier.value.strip()


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ana@Contoso.com", "contoso.com"),
        ("  ana.b+x@mail.contoso.co.uk ", "mail.contoso.co.uk"),
        ('"odd@local"@contoso.com', "contoso.com"),
        ("contoso.com", None),
        ("@contoso.com", None),
        ("ana@", None),
        ("ana@localhost", None),
        ("an a@contoso.com", None),
        ("ana@contoso.com/x", None),
        ("", None),
    ],
)
def test_email_domain(email: str, expected: str | None) -> None:
    assert email_domain(email) == expected


def test_limit_key_counts_a_resolved_domain_as_its_tenant() -> None:
    domain = parse_identifier(T.DOMAIN_NAME, "contoso.com")
    assert limit_key(domain, GUID.upper()) == f"TENANT_ID:{GUID}"
    assert limit_key(domain, None) == "DOMAIN_NAME:contoso.com"
    # Same tenant typed as a tenant ID counts together with the domain.
    assert limit_key(parse_identifier(T.TENANT_ID, GUID), None) == limit_key(domain, GUID)


SUBSCRIPTION = "7ab2aa36-c32e-5514-8e5c-efc2f4fa33ca"


def test_limit_key_counts_a_resolved_subscription_as_the_tenant_that_owns_it() -> None:
    # Decision (DOMAIN.md, the limit key): domain, subscription and tenant ID of one tenant are one key.
    subscription = parse_identifier(T.AZURE_SUBSCRIPTION_ID, SUBSCRIPTION)
    assert limit_key(subscription, GUID) == f"TENANT_ID:{GUID}"
    assert limit_key(subscription, GUID) == limit_key(parse_identifier(T.DOMAIN_NAME, "contoso.com"), GUID)
    assert limit_key(subscription, GUID) == limit_key(parse_identifier(T.TENANT_ID, GUID), None)
    # One the directory does not know counts as itself.
    assert limit_key(subscription, None) == f"AZURE_SUBSCRIPTION_ID:{SUBSCRIPTION}"


def test_limit_key_of_a_tpid_or_an_opportunity_is_the_value_given() -> None:
    # A TPID (several tenants may share one) and an MSX opportunity count as themselves, whatever tenant is behind.
    tpid = parse_identifier(T.TPID, "42")
    assert limit_key(tpid, GUID) == "TPID:42"
    msx = parse_identifier(T.MSX_OPPORTUNITY_ID, "7-3fs2xqbwao")
    assert limit_key(msx, None) == "MSX_OPPORTUNITY_ID:7-3FS2XQBWAO"
    assert limit_key(msx, GUID) == "MSX_OPPORTUNITY_ID:7-3FS2XQBWAO"


@given(st.sampled_from(list(T)), st.uuids())
def test_limit_key_is_a_tenant_exactly_for_the_types_counted_as_one(id_type: T, tenant: uuid.UUID) -> None:
    values = {
        T.DOMAIN_NAME: "contoso.com",
        T.TENANT_ID: str(tenant),
        T.TPID: "42",
        T.AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
        T.MSX_OPPORTUNITY_ID: "7-3FS2XQBWAO",
    }
    identifier = parse_identifier(id_type, values[id_type])
    key = limit_key(identifier, str(tenant).upper())
    if id_type in (T.DOMAIN_NAME, T.TENANT_ID, T.AZURE_SUBSCRIPTION_ID):
        assert key == f"TENANT_ID:{tenant}"
    else:
        assert key == f"{id_type.value}:{identifier.value}"
