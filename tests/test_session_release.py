"""Every request gives its database connection back, error pages for signed-in people included: a
connection left in a transaction would hold locks until the garbage collector happened by."""

import gc

import pytest

from tests.conftest import login


@pytest.fixture
def no_gc():
    # Without the collector a leaked session keeps its connection: exactly what must not happen.
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_pages_and_error_pages_return_their_connection(client, db, make_user, make_category, make_topic, no_gc):
    make_user("ana", tier="member")
    secret = make_category("Staff room", "staff_only")
    topic = make_topic(make_user("staffer2", admin=True), secret, title="Staff only business")
    login(client, "ana")
    for path, status in (("/latest", 200), ("/t/999999", 404), (f"/t/{topic.slug}/{topic.id}", 404),
                         ("/admin/api-keys", 404), ("/u/ana", 200)):
        assert client.get(path).status_code == status, path
        assert db.engine.pool.checkedout() == 0, path
