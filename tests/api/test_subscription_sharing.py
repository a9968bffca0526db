"""Shared delivery of claimStatusChanged: subscribers alike in document, variables and visibility share one
execution per event; subscribers who may see other things never receive a result computed for someone else."""

from tests.api.claim_flow import ADD, act, consented_claim, ids, new_claim, reviewer_token
from tests.api.subscriptions import subscribe
from tests.demo import ADELE, CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN


async def test_subscribers_alike_share_one_result_and_others_get_their_own(clean_api, smtp):
    api = clean_api
    admins = [await subscribe(api.base_url, api.token(CONTOSO_ADMIN)) for _ in range(3)]
    legacy_admin = await subscribe(api.base_url, api.token(CONTOSO_ADMIN), legacy=True)
    adele = await subscribe(api.base_url, api.token(ADELE))  # Seattle and London: sees the claim
    seller = await subscribe(api.base_url, api.token(CONTOSO_SELLER))  # Toronto only: does not
    fabrikam = await subscribe(api.base_url, api.token(FABRIKAM_ADMIN))  # another partner: does not
    everyone = [*admins, legacy_admin, adele, seller, fabrikam]
    try:
        computed = api.runtime.hub.shared.computed
        claim_id, _ = await new_claim(api)  # at Seattle
        created = [await s.event() for s in [*admins, legacy_admin, adele]]
        assert {(e["claim"]["id"], e["action"], e["claim"]["status"]) for e in created} == {
            (claim_id, "CREATE", "CUSTOMER_CLAIMED")
        }
        assert len({e["cursor"] for e in created}) == 1
        # One execution for the four admin subscriptions (both protocols carry the same payload), one for Adele.
        assert api.runtime.hub.shared.computed - computed == 2
        assert await seller.nothing_within(0.3)
        assert await fabrikam.nothing_within(0.1)

        # The next event's shared result reads the claim as it is now.
        await act(api, "cancelClaim", claim_id)
        cancelled = [await s.event() for s in [*admins, legacy_admin, adele]]
        assert {(e["action"], e["claim"]["status"]) for e in cancelled} == {("CANCEL", "CANCELED")}
    finally:
        for subscription in everyone:
            await subscription.socket.close()


async def test_a_partner_never_receives_the_result_computed_for_a_reviewer(clean_api, smtp):
    """`actor` differs by who asks: a reviewer sees the reviewer's name, a partner "Microsoft reviewer"."""
    api = clean_api
    claim_id = await consented_claim(api, smtp)
    assert (await act(api, "submitClaim", claim_id))["userErrors"] == []
    reviewer = await subscribe(api.base_url, reviewer_token(api))
    partner = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    try:
        assert (await act(api, "startClaimReview", claim_id, token=reviewer_token(api)))["userErrors"] == []
        seen_by_reviewer = await reviewer.event()
        seen_by_partner = await partner.event()
        assert seen_by_reviewer["id"] == seen_by_partner["id"]
        assert seen_by_reviewer["actor"] == {"kind": "REVIEWER", "name": "Rita Reviewer"}
        assert seen_by_partner["actor"] == {"kind": "REVIEWER", "name": "Microsoft reviewer"}
        assert seen_by_partner["claim"]["status"] == seen_by_reviewer["claim"]["status"] == "UNDER_REVIEW"
    finally:
        await reviewer.socket.close()
        await partner.socket.close()


async def test_a_slow_consumer_on_the_shared_path_is_told_where_to_resume(clean_api):
    """One commit with two events into a buffer of one: the first is delivered, then SLOW_CONSUMER with its
    cursor; resuming after it delivers the second."""
    api = clean_api
    locations, engagements = await ids(api)
    buffer = api.settings.subscription_buffer
    api.settings.subscription_buffer = 1
    try:
        subscription = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    finally:
        api.settings.subscription_buffer = buffer
    try:
        variables = {
            "input": {
                "friendlyName": "Pilot",
                "locationId": locations["4100101"],
                "customerIdType": "DOMAIN_NAME",
                "customerIdValue": "northwind.example",
                "engagementIds": [
                    engagements["copilot-readiness-assessment"],
                    engagements["security-posture-assessment"],
                ],
                "customerContact": {
                    "firstName": "Nancy",
                    "lastName": "Davolio",
                    "email": "n@northwind.example",
                },
                "partnerContact": {"firstName": "Megan", "lastName": "Bowen", "email": CONTOSO_ADMIN},
            }
        }
        added = (await api.graphql(ADD, variables, as_user=CONTOSO_ADMIN)).data["addCustomer"]
        assert added["userErrors"] == [] and len(added["claims"]) == 2
        first = await subscription.event()
        refused = await subscription.next()
        [error] = refused["errors"]
        assert error["extensions"] == {"code": "SLOW_CONSUMER", "resumeAfter": first["cursor"]}
    finally:
        await subscription.socket.close()
    resumed = await subscribe(api.base_url, api.token(CONTOSO_ADMIN), {"after": first["cursor"]})
    try:
        second = await resumed.event()
        assert second["action"] == "CREATE" and second["claim"]["id"] != first["claim"]["id"]
        assert {first["claim"]["id"], second["claim"]["id"]} == {c["id"] for c in added["claims"]}
    finally:
        await resumed.socket.close()


async def test_the_arguments_that_choose_events_do_not_split_a_group(clean_api):
    """`after` and the filters choose which events come, not what an event's result holds."""
    api = clean_api
    _, engagements = await ids(api)
    plain = await subscribe(api.base_url, api.token(CONTOSO_ADMIN))
    try:
        await new_claim(api, domain="northwind.example")
        cursor = (await plain.event())["cursor"]
        resumed = await subscribe(api.base_url, api.token(CONTOSO_ADMIN), {"after": cursor})
        filtered = await subscribe(
            api.base_url,
            api.token(CONTOSO_ADMIN),
            {"engagementId": engagements["copilot-readiness-assessment"]},
        )
        computed = api.runtime.hub.shared.computed
        claim_id, _ = await new_claim(api, domain="adatum.example")
        received = [await s.event() for s in (plain, resumed, filtered)]
        assert {(e["claim"]["id"], e["action"]) for e in received} == {(claim_id, "CREATE")}
        assert api.runtime.hub.shared.computed - computed == 1
    finally:
        for subscription in (plain, locals().get("resumed"), locals().get("filtered")):
            if subscription is not None:
                await subscription.socket.close()
