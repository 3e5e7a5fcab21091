"""Linked translations: a member's translation of a post into another language the site offers.

Readers whose page is in that language see the translation in the post's place, with the original
and the other translations a click away (templates/_topic_posts.html). A translation has its
translator, an edit history and likes of its own; it lives beside the post, not in the topic's
numbered stream, so it is no reply: it moves no counter ("N replies", post counts, unread), bumps
nothing and is never a search hit of its own. Who may read, write, edit or like one is decided in
forum/permissions.py (a translation is exactly as visible as its post).

Each function validates, checks permissions and writes in the caller's transaction; the topic row
is locked first (the lock order of forum/db.py), which orders two translators of one post into the
same language: the second is told that the translation exists and where to edit it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from forum import languages, notifications, permissions, ratelimit
from forum.config import Settings
from forum.errors import Conflict, NotFound, ValidationFailed
from forum.i18n import _, language_name
from forum.models import (
    Post,
    PostTranslation,
    PostTranslationLike,
    PostTranslationRevision,
    Topic,
    User,
    utcnow,
)
from forum.permissions import Viewer
from forum.posting import cook_post, get_post, lock_topic, validate_raw
from forum.ratelimit import RateLimiter
from forum.text import parse_id


def for_posts(session: Session, post_ids: list[int]) -> dict[int, list[PostTranslation]]:
    """The translations of these posts, by post id, each list in language order."""
    found: dict[int, list[PostTranslation]] = defaultdict(list)
    if post_ids:
        for t in session.scalars(select(PostTranslation).where(PostTranslation.post_id.in_(post_ids))
                                 .order_by(PostTranslation.post_id, PostTranslation.language)):
            found[t.post_id].append(t)
    return dict(found)


def get(session: Session, translation_id: int | str) -> tuple[PostTranslation, Post, Topic]:
    tid = parse_id(translation_id)
    translation = session.get(PostTranslation, tid) if tid is not None else None
    if translation is None:
        raise NotFound()
    post, topic = get_post(session, translation.post_id)
    return translation, post, topic


def get_readable(session: Session, viewer: Viewer, translation_id: int | str) -> tuple[PostTranslation, Post, Topic]:
    """A translation the viewer may read (that is, whose post they may read); 404 otherwise."""
    translation, post, topic = get(session, translation_id)
    permissions.ensure_can_read_post(session, viewer, post, topic)
    return translation, post, topic


def languages_left(session: Session, settings: Settings, post: Post) -> list[str]:
    """The languages offered that this post is neither written nor translated in yet."""
    offered = languages.load(session, settings).offered
    done = set(session.scalars(select(PostTranslation.language).where(PostTranslation.post_id == post.id)))
    return [code for code in offered if code != post.language and code not in done]


@dataclass
class _Checked:
    language: str
    raw: str
    cooked_html: str


def _check(session: Session, settings: Settings, post: Post, language: str | None, raw: str,
           *, check_language: bool = True) -> _Checked:
    fields: dict[str, str] = {}
    code = (language or "").strip()
    if check_language:
        offered = languages.load(session, settings).offered
        if code not in offered:
            fields["language"] = _("Choose one of the languages offered: %(codes)s.", codes=", ".join(offered))
        elif code == post.language:
            fields["language"] = _("The post is already written in this language: choose another one.")
    cooked_html = ""
    try:
        raw = validate_raw(settings, raw)
        cooked = cook_post(session, raw)
        if cooked.polls:
            fields["raw"] = _("A translation cannot hold a poll: the poll stays in the original post.")
        cooked_html = cooked.html
    except ValidationFailed as e:
        fields.update(e.fields)
    if fields:
        raise ValidationFailed(fields=fields)
    return _Checked(code, raw, cooked_html)


def create(session: Session, settings: Settings, viewer: Viewer, *, post_id: int | str, language: str | None,
           raw: str, limiter: RateLimiter | None = None) -> PostTranslation:
    post, topic = get_post(session, post_id)
    permissions.ensure_can_translate_post(session, viewer, post, topic)
    assert viewer.user is not None
    ratelimit.hit_posting(limiter, session, settings, viewer, new_topic=False)
    checked = _check(session, settings, post, language, raw)
    topic = lock_topic(session, topic.id)
    session.refresh(post)
    permissions.ensure_can_translate_post(session, viewer, post, topic)  # closed or moved meanwhile
    existing = session.scalar(select(PostTranslation.id).where(PostTranslation.post_id == post.id,
                                                               PostTranslation.language == checked.language))
    if existing is not None:
        raise Conflict(_("This post already has a translation into %(language)s: edit that one instead.",
                         language=language_name(checked.language)))
    now = utcnow()
    translation = PostTranslation(post_id=post.id, language=checked.language, user_id=viewer.user.id,
                                  raw=checked.raw, cooked=checked.cooked_html, version=1, like_count=0,
                                  created_at=now, updated_at=now)
    session.add(translation)
    session.flush()
    _notify_readers(session, settings, translation, post, topic, viewer.user.id)
    return translation


def _notify_readers(session: Session, settings: Settings, translation: PostTranslation, post: Post, topic: Topic,
                    actor_id: int) -> None:
    """Only people who read the translation's language hear of it: the post's author and those
    watching the topic whose language (their own, or the site's default when they chose none) it is."""
    site = languages.load(session, settings)
    wanted = {post.user_id} | notifications.watchers(session, topic, new_topic=False)
    rows = session.execute(select(User.id, User.locale).where(User.id.in_(wanted))).all()
    readers = {uid for uid, locale in rows if site.choose(profile=locale) == translation.language}
    notifications.deliver(session, readers, "translated", topic=topic, post=post, actor_id=actor_id,
                          data={"language": translation.language})


def edit(session: Session, settings: Settings, viewer: Viewer, *, translation_id: int | str, raw: str
         ) -> PostTranslation:
    translation, post, topic = get(session, translation_id)
    permissions.ensure_can_edit_translation(session, viewer, translation, post, topic)
    assert viewer.user is not None
    checked = _check(session, settings, post, translation.language, raw, check_language=False)
    lock_topic(session, topic.id)
    session.refresh(translation)  # two edits at once make two revisions
    if checked.raw == translation.raw:
        return translation
    session.add(PostTranslationRevision(translation_id=translation.id, number=translation.version,
                                        user_id=viewer.user.id, raw=translation.raw))
    translation.raw = checked.raw
    translation.cooked = checked.cooked_html
    translation.version += 1
    translation.updated_at = utcnow()
    session.flush()
    return translation


def remove(session: Session, viewer: Viewer, *, translation_id: int | str) -> Post:
    """Its translator or staff take a translation away; the original stays as it was."""
    translation, post, topic = get(session, translation_id)
    permissions.ensure_can_edit_translation(session, viewer, translation, post, topic)
    lock_topic(session, topic.id)
    session.delete(translation)
    session.flush()
    return post


def like(session: Session, viewer: Viewer, *, translation_id: int | str, limiter: RateLimiter | None = None
         ) -> PostTranslation:
    translation, post, topic = get(session, translation_id)
    permissions.ensure_can_like_translation(session, viewer, translation, post, topic)
    assert viewer.user is not None
    ratelimit.hit_like(limiter, session, viewer.user.id)
    lock_topic(session, topic.id)
    if session.get(PostTranslationLike, (translation.id, viewer.user.id)) is not None:
        raise Conflict(_("You have already liked this translation."))
    session.add(PostTranslationLike(translation_id=translation.id, user_id=viewer.user.id))
    _shift_likes(session, translation, +1)
    return translation


def unlike(session: Session, viewer: Viewer, *, translation_id: int | str) -> PostTranslation:
    translation, post, topic = get_readable(session, viewer, translation_id)
    if viewer.user is None:
        raise NotFound()
    lock_topic(session, topic.id)
    found = session.execute(delete(PostTranslationLike).where(
        PostTranslationLike.translation_id == translation.id, PostTranslationLike.user_id == viewer.user.id))
    if not found.rowcount:
        raise NotFound(_("You have not liked this translation."))
    _shift_likes(session, translation, -1)
    return translation


def _shift_likes(session: Session, translation: PostTranslation, by: int) -> None:
    session.execute(update(PostTranslation).where(PostTranslation.id == translation.id)
                    .values(like_count=PostTranslation.like_count + by), execution_options={"synchronize_session": False})
    session.expire(translation, ["like_count"])


def liked_by(session: Session, viewer: Viewer, translation_ids: list[int]) -> set[int]:
    if viewer.user is None or not translation_ids:
        return set()
    return set(session.scalars(select(PostTranslationLike.translation_id).where(
        PostTranslationLike.user_id == viewer.user.id, PostTranslationLike.translation_id.in_(translation_ids))))


def revisions(session: Session, translation: PostTranslation) -> list[PostTranslationRevision]:
    return list(session.scalars(select(PostTranslationRevision).where(
        PostTranslationRevision.translation_id == translation.id).order_by(PostTranslationRevision.number)))

