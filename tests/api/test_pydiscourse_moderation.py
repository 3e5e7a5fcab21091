"""Moderators' calls of the real pydiscourse client against a running server: tiers as groups, suspension."""

import pytest
from pydiscourse.exceptions import DiscourseClientError
from sqlalchemy import select

from forum.models import ModerationLog, User
from tests.api.test_pydiscourse import client_for, forum, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.server


def test_tiers_and_suspension_through_pydiscourse(server, db, forum, client_for, staff, make_user):
    admin = client_for(staff)
    bob = forum["bob"]
    assert admin.add_group_member(11, "bob") == {"success": "OK", "usernames": ["bob"], "emails": []}
    with pytest.raises(DiscourseClientError):  # already in that group, as Discourse says
        admin.add_group_member(11, "bob")
    assert admin.add_user_to_group(10, bob.id) == {"success": "OK"}
    with db.read() as s:
        assert s.get(User, bob.id).tier == "member"
    assert admin.user("bob")["primary_group_name"] == "members"

    admin.suspend(bob.id, 3, "Cooling off")
    with db.read() as s:
        assert s.get(User, bob.id).suspend_reason == "Cooling off"
    admin.unsuspend(bob.id)
    with db.read() as s:
        assert s.get(User, bob.id).suspended_until is None
        actions = [a for a in s.scalars(select(ModerationLog.action).where(ModerationLog.target_user_id == bob.id)
                                        .order_by(ModerationLog.id))]
    assert actions == ["set_tier", "set_tier", "suspend_user", "unsuspend_user"]

    ana = client_for(forum["ana"])
    with pytest.raises(DiscourseClientError) as e:
        ana.add_group_member(12, "bob")
    assert e.value.response.status_code == 404
