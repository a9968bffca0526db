"""`viewer`: the user, its account, its roles and the locations it may act for, scoped by role."""

from tests.demo import (
    CONTOSO_ADMIN,
    CONTOSO_LOCATIONS,
    CONTOSO_SELLER,
    CONTOSO_SELLER_LOCATION,
    FABRIKAM_LOCATIONS,
)

VIEWER = """
query {
  viewer {
    user { id email name }
    partner { id key name }
    roles { role location { locationId } }
    locations(first: 50) {
      totalCount
      edges { node { id locationId country mciEnrolled payeeProfileValid } }
    }
  }
}
"""


async def test_admin_sees_every_location_of_its_account_and_no_other(api):
    viewer = (await api.graphql(VIEWER, as_user=CONTOSO_ADMIN)).data["viewer"]
    assert viewer["partner"]["key"] == "contoso-partners"
    assert viewer["roles"] == [{"role": "INCENTIVES_ADMIN", "location": None}]
    location_ids = {edge["node"]["locationId"] for edge in viewer["locations"]["edges"]}
    assert location_ids == CONTOSO_LOCATIONS
    assert viewer["locations"]["totalCount"] == len(CONTOSO_LOCATIONS)
    assert not location_ids & FABRIKAM_LOCATIONS


async def test_location_scoped_user_sees_only_its_location(api):
    viewer = (await api.graphql(VIEWER, as_user=CONTOSO_SELLER)).data["viewer"]
    assert viewer["roles"] == [
        {"role": "INCENTIVES_USER", "location": {"locationId": CONTOSO_SELLER_LOCATION}}
    ]
    assert [e["node"]["locationId"] for e in viewer["locations"]["edges"]] == [CONTOSO_SELLER_LOCATION]
    assert viewer["locations"]["totalCount"] == 1


async def test_locations_show_enrolment_and_payee_status(api):
    viewer = (await api.graphql(VIEWER, as_user=CONTOSO_ADMIN)).data["viewer"]
    by_id = {e["node"]["locationId"]: e["node"] for e in viewer["locations"]["edges"]}
    assert by_id["4100104"]["mciEnrolled"] is False
    assert by_id["4100103"]["payeeProfileValid"] is False
    assert by_id["4100101"] | {"id": None} == {
        "id": None,
        "locationId": "4100101",
        "country": "US",
        "mciEnrolled": True,
        "payeeProfileValid": True,
    }
