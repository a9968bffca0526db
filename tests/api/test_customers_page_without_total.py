"""The Customers page when the client does not select `totalCount`: the service then judges only the candidates
next to the cursor (app/services/customers_page.py, cost model). Same rows, order and pageInfo as with the total,
on every tab, forward and backward, with and without a search, with the customers of each tab interleaved in id
order so the chunked scan has to skip rows of the other tab."""

from typing import Any

from tests.api.test_customers_page import (
    ASSESSMENT,
    PAGE,
    SECURITY,
    _global_ids,
    accept,
    add,
    approve,
    cancel,
    expire_consent,
    tab,
)
from tests.conftest import Api
from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER

NO_TOTAL = PAGE.replace("      totalCount\n", "")
assert NO_TOTAL != PAGE


async def _without_total(api: Api, which: str, user: str, **variables: Any) -> dict[str, Any]:
    ids = await _global_ids(api)
    response = await api.graphql(NO_TOTAL, {"id": ids[ASSESSMENT], "tab": which, **variables}, as_user=user)
    connection = response.data["engagement"]["customers"]
    assert "totalCount" not in connection
    return connection


async def test_pages_without_the_total_match_the_pages_with_it(clean_api, smtp):
    api = clean_api
    # In customer-id order: eligible (known, no claim), ineligible (completed here), eligible with an active claim
    # (new), ineligible (TPID not allowed), eligible (known, its claim here canceled), eligible (known, active).
    northwind = await add(api, "northwindtraders.example", engagement=SECURITY)
    await accept(api, smtp, northwind)
    alpine = await add(api, "alpineskihouse.example")
    await approve(api, smtp, alpine)
    await add(api, "tailwindtraders.example")
    adatum = await add(api, "5500102", engagement=SECURITY, id_type="TPID")
    await accept(api, smtp, adatum)
    woodgrove = await add(api, "woodgrove.example")
    await accept(api, smtp, woodgrove)
    await cancel(api, woodgrove)
    fourth = await add(api, "fourthcoffee.example")
    await accept(api, smtp, fourth)
    lucerne = await add(api, "lucernepublishing.example")  # never consented, its claim expired: on no tab
    await expire_consent(api, lucerne)

    for user in (CONTOSO_ADMIN, CONTOSO_SELLER):
        for which in ("ELIGIBLE", "INELIGIBLE", "COMPLETE"):
            for search in (None, "example"):
                whole = await tab(api, ASSESSMENT, which, user=user, search=search)
                cursors = [None] + [edge["cursor"] for edge in whole["edges"]]
                for size in (1, 2, 100):
                    for cursor in cursors:
                        for arguments in (
                            {"first": size, "after": cursor},
                            {"first": None, "last": size, "before": cursor},
                        ):
                            with_total = await tab(
                                api, ASSESSMENT, which, user=user, search=search, **arguments
                            )
                            del with_total["totalCount"]
                            assert (
                                await _without_total(api, which, user, search=search, **arguments)
                                == with_total
                            ), (user, which, search, arguments)
