"""Following people (as Discourse's follow plugin): a person follows others, sees whom they follow
and who follows them, and may take private messages only from the people they follow.

Who may follow whom, and who sees these lists, is decided in forum/permissions.py (rule 16).
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forum import permissions
from forum.errors import NotFound, ValidationFailed
from forum.models import User, UserFollow
from forum.permissions import Viewer

LIST_LIMIT = 200


def is_following(session: Session, follower_id: int, followed_id: int) -> bool:
    return session.scalar(select(UserFollow.id).where(UserFollow.follower_id == follower_id,
                                                      UserFollow.followed_id == followed_id)) is not None


def follow(session: Session, viewer: Viewer, user: User) -> None:
    """Follow `user`; following someone already followed changes nothing."""
    if (refusal := permissions.follow_refusal(viewer, user)) is not None:
        raise ValidationFailed(refusal)
    assert viewer.user is not None
    if not is_following(session, viewer.user.id, user.id):
        session.add(UserFollow(follower_id=viewer.user.id, followed_id=user.id))
        session.flush()


def unfollow(session: Session, viewer: Viewer, user: User) -> None:
    if viewer.user is None:
        permissions.follow_refusal(viewer, user)  # raises LoginRequired
        return
    session.execute(delete(UserFollow).where(UserFollow.follower_id == viewer.user.id,
                                             UserFollow.followed_id == user.id))


def counts(session: Session, user: User) -> tuple[int, int]:
    """(how many people this person follows, how many follow them)."""
    following = session.scalar(select(func.count()).where(UserFollow.follower_id == user.id)) or 0
    followers = session.scalar(select(func.count()).where(UserFollow.followed_id == user.id)) or 0
    return following, followers


def people(session: Session, viewer: Viewer, user: User, which: str) -> list[User]:
    """Whom `user` follows ("following") or who follows them ("followers"), most recent first;
    404 to anyone but them and staff."""
    if which not in ("following", "followers") or not permissions.can_see_follows(viewer, user):
        raise NotFound()
    other, this = ((UserFollow.followed_id, UserFollow.follower_id) if which == "following"
                   else (UserFollow.follower_id, UserFollow.followed_id))
    return list(session.scalars(select(User).join(UserFollow, other == User.id).where(this == user.id)
                                .order_by(UserFollow.created_at.desc(), UserFollow.id.desc()).limit(LIST_LIMIT)))
