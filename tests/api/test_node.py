"""`node` and `nodes`: any object by global ID; another partner's object answers exactly like a missing one."""

import base64

from tests.demo import CONTOSO_ADMIN, CONTOSO_SELLER, FABRIKAM_ADMIN

NODE = """query($id: ID!) { node(id: $id) { __typename id ... on PartnerLocation { locationId }
                                                   ... on Engagement { key } ... on PartnerAccount { key } } }"""
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
LOCATIONS = (
    "{ viewer { partner { id } user { id } locations(first: 50) { edges { node { id locationId } } } } }"
)


async def _ids(api, user):
    viewer = (await api.graphql(LOCATIONS, as_user=user)).data["viewer"]
    return viewer, {edge["node"]["locationId"]: edge["node"]["id"] for edge in viewer["locations"]["edges"]}


async def test_every_visible_object_round_trips_through_node(api):
    viewer, locations = await _ids(api, CONTOSO_ADMIN)
    engagement = (
        await api.graphql("{ engagements(first: 1) { edges { node { id key } } } }", as_user=CONTOSO_ADMIN)
    ).data
    ids = [
        viewer["partner"]["id"],
        viewer["user"]["id"],
        *locations.values(),
        engagement["engagements"]["edges"][0]["node"]["id"],
    ]
    for global_id in ids:
        assert (await api.graphql(NODE, {"id": global_id}, as_user=CONTOSO_ADMIN)).data["node"][
            "id"
        ] == global_id
    nodes = (await api.graphql(NODES, {"ids": ids}, as_user=CONTOSO_ADMIN)).data["nodes"]
    assert [node["id"] for node in nodes] == ids


async def test_another_partners_objects_look_missing(api):
    theirs, their_locations = await _ids(api, FABRIKAM_ADMIN)
    missing_location = base64.urlsafe_b64encode(b"PartnerLocation:987654").decode().rstrip("=")
    foreign = [theirs["partner"]["id"], theirs["user"]["id"], *their_locations.values()]
    for global_id in [*foreign, missing_location, "garbage", ""]:
        response = await api.graphql(NODE, {"id": global_id}, as_user=CONTOSO_ADMIN)
        assert (response.body["data"], response.body.get("errors")) == ({"node": None}, None), global_id
    nodes = (await api.graphql(NODES, {"ids": foreign}, as_user=CONTOSO_ADMIN)).data["nodes"]
    assert nodes == [None] * len(foreign)


async def test_location_scoped_user_cannot_reach_other_locations_of_its_account(api):
    _, admin_locations = await _ids(api, CONTOSO_ADMIN)
    _, seller_locations = await _ids(api, CONTOSO_SELLER)
    for location_id, global_id in admin_locations.items():
        node = (await api.graphql(NODE, {"id": global_id}, as_user=CONTOSO_SELLER)).data["node"]
        assert (node is not None) is (location_id in seller_locations)


async def test_nodes_refuses_too_many_ids(api):
    response = await api.graphql(NODES, {"ids": ["x"] * 101}, as_user=CONTOSO_ADMIN)
    assert response.error_codes == ["BAD_USER_INPUT"]
