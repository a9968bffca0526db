"""Every operation first expires the claims whose deadline passed (`ApplyPassedDeadlines`), asking the database
only when a deadline can have passed since it last looked (`services/expiry.DeadlineWatch`): the earliest waiting
deadline stands until a claim event is appended. The periodic sweep is off here (a 3600 s interval)."""

from datetime import UTC, datetime, timedelta

from tests.api.claim_flow import claim, new_claim

DEADLINE_READ = "min(claim.deadline)"


def deadline_reads(statements: list[str]) -> int:
    return sum(DEADLINE_READ in statement for statement in statements)


async def test_a_read_looks_for_passed_deadlines_only_when_one_can_have_passed(clean_api):
    api = clean_api
    await claim(api, "Q2xhaW06MQ")  # the first operation after the reset looks: no claim waits
    with api.statements() as quiet:
        await claim(api, "Q2xhaW06MQ")
    assert deadline_reads(quiet) == 0

    claim_id, _ = await new_claim(api)  # a claim event: a new, earlier deadline may exist
    with api.statements() as after_event:
        waiting = await claim(api, claim_id)
    assert deadline_reads(after_event) == 1 and waiting["status"] == "CUSTOMER_CLAIMED"
    with api.statements() as quiet_again:
        await claim(api, claim_id)
    assert deadline_reads(quiet_again) == 0

    deadline = datetime.fromisoformat(waiting["deadline"])
    api.clock.offset = deadline + timedelta(seconds=1) - datetime.now(UTC)  # the watched deadline passes
    try:
        with api.statements() as passed:
            expired = await claim(api, claim_id)
        assert deadline_reads(passed) == 1
        assert expired["status"] == "CUSTOMER_CONSENT_EXPIRED"
    finally:
        api.clock.offset = timedelta(0)
