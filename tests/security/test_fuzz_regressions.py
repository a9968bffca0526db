"""What the fuzzer found, kept as tests.

1. An ID, cursor or consent link naming a row number past the database's integer range reached a query: SQLite
   raised OverflowError, PostgreSQL a DataError, and the client got an internal error (found by test_fuzz.py on
   `claim(id:)` with `Claim:1180591620717411303424`). Such a number names no row: it now answers like any
   unknown ID, a cursor this API never returned, or a link it never issued.
2. A consent link whose number was a Unicode digit that `int()` refuses (`respondToConsent(token: "¹")`) raised
   ValueError: an internal error for a link that names nothing.
"""

import base64

from app.resolvers.relay import to_global_id
from tests.demo import CONTOSO_ADMIN

HUGE = 2**70


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_ids_past_the_integer_range_look_missing(api):
    for type_name in ("Claim", "ClaimEvent", "Customer", "PartnerLocation", "Engagement", "PartnerUser"):
        for pk in (2**31, HUGE):
            huge = to_global_id(type_name, pk)
            node = await api.graphql(
                "query($id: ID!) { node(id: $id) { id } }", {"id": huge}, as_user=CONTOSO_ADMIN
            )
            assert (node.body["data"], node.body.get("errors")) == ({"node": None}, None), huge
    claim = await api.graphql(
        "query($id: ID!) { claim(id: $id) { id } }",
        {"id": to_global_id("Claim", HUGE)},
        as_user=CONTOSO_ADMIN,
    )
    assert claim.data == {"claim": None}
    cancel = await api.graphql(
        "mutation($id: ID!) { cancelClaim(input: {claimId: $id}) { userErrors { code } } }",
        {"id": to_global_id("Claim", HUGE)},
        as_user=CONTOSO_ADMIN,
    )
    assert cancel.data["cancelClaim"]["userErrors"] == [{"code": "NOT_FOUND"}]


async def test_cursors_past_the_integer_range_are_not_cursors(api):
    for key in (HUGE, -HUGE):
        response = await api.graphql(
            "query($after: String) { engagements(after: $after) { totalCount } }",
            {"after": _b64(f"cursor:v1:{key}")},
            as_user=CONTOSO_ADMIN,
        )
        assert response.error_codes == ["BAD_USER_INPUT"], response.body


async def test_consent_links_past_the_integer_range_or_with_odd_digits_are_invalid(api):
    for token in (f"{HUGE}.c2lnbmF0dXJl", "¹", "¹.c2lnbmF0dXJl", "٣.c2lnbmF0dXJl"):
        answer = await api.graphql(
            "mutation($t: String!) { respondToConsent(input: {token: $t, decision: ACCEPT}) { userErrors { code } } }",
            {"t": token},
        )
        assert answer.data["respondToConsent"]["userErrors"] == [{"code": "CONSENT_LINK_INVALID"}], token
        page = await api.http.get(f"/consent/{token}")
        assert page.status_code == 404, token
