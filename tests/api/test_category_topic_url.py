"""Categories have no Discourse "About the X category" definition topic: creating one makes no topic,
and `topic_url` is null in every category JSON, so clients never follow a link that does not exist."""

from tests.api.conftest import JSON


def _categories_everywhere(client, headers, category_id):
    """Every place a category's JSON appears, as (where, category dict)."""
    places = []
    listing = client.get("/categories.json", headers=headers, params={"include_subcategories": "true"}).json()
    for c in listing["category_list"]["categories"]:
        places.append(("/categories.json", c))
        places += [("/categories.json subcategory_list", s) for s in c.get("subcategory_list", [])]
    places.append(("/c/{id}/show.json", client.get(f"/c/{category_id}/show.json", headers=headers).json()["category"]))
    places += [("/site.json", c) for c in client.get("/site.json", headers=headers).json()["categories"]]
    return places


def test_creating_a_category_makes_no_definition_topic_and_topic_url_is_null(client, staff, make_key):
    headers = {"Api-Key": make_key(staff), "Api-Username": staff.username, "Accept": JSON}
    r = client.post("/categories.json", headers=headers, data={"name": "Housing co-ops", "color": "0088CC"})
    assert r.status_code == 200
    created = r.json()["category"]
    assert "topic_url" in created and created["topic_url"] is None
    assert created["topic_count"] == 0
    r = client.post("/categories.json", headers=headers,
                    data={"name": "Tenants' rights", "color": "FF0000", "parent_category_id": created["id"]})
    child = r.json()["category"]
    assert child["topic_url"] is None

    # No topic was made: the category, its subcategory and the latest list are empty.
    assert client.get("/latest.json", headers=headers).json()["topic_list"]["topics"] == []
    for cid in (created["id"], child["id"]):
        assert client.get(f"/c/{cid}.json", headers=headers).json()["topic_list"]["topics"] == []
    updated = client.put(f"/categories/{created['id']}.json", headers=headers, data={"name": "Housing"}).json()
    assert updated["category"]["topic_url"] is None

    places = _categories_everywhere(client, headers, created["id"])
    assert {where for where, _c in places} == {"/categories.json", "/categories.json subcategory_list",
                                               "/c/{id}/show.json", "/site.json"}
    for where, category in places:
        assert "topic_url" in category and category["topic_url"] is None, where
