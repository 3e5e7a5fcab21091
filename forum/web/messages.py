"""Private messages in the browser: the inbox pages, the composer, invite, leave and archive, and
a moderator's logged reach into a flagged message from the review queue. All work without JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from markupsafe import Markup

from forum import accounts, messages, permissions, posting, reading, urls
from forum.deps import CsrfDep, LimiterDep, SessionDep, SettingsDep, UserViewerDep, WriteDep, see_other
from forum.errors import ForumError, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Group, Topic, User
from forum.models.messages import GROUP_VISIBILITIES, MESSAGEABLE_LEVELS
from forum.text import parse_id
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


@router.post("/admin/review/message/{topic_id:int}")
def reach_flagged_message(request: Request, write: WriteDep, viewer: UserViewerDep, topic_id: int):
    permissions.ensure_can_moderate(viewer)
    with write() as tx:
        topic = messages.record_staff_reach(tx, viewer, topic_id)
        url = urls.topic_url(topic)
    return see_other(url)


# --- inbox pages --------------------------------------------------------------------------------

BOX_PATHS = {"inbox": "", "sent": "/sent", "archive": "/archive"}


def _inbox_page(request: Request, session, viewer, username: str, box: str, group_name: str | None = None,
                page: str = "1"):
    user = accounts.get_user(session, username)
    if not permissions.can_see_inbox(viewer, user):
        raise NotFound()
    group = messages.group_by_name(session, group_name) if group_name else None
    number = reading.parse_page(page)
    topics, more = messages.messages(session, viewer, user, box, group=group, page=number)
    base = f"/u/{user.username}/messages" + (BOX_PATHS.get(box, "") if group is None else f"/group/{group.name}")
    return render(request, "messages/inbox.html", {
        "user": user, "box": box, "group": group, "topics": topics, "page": number, "has_more": more,
        "base": base, "groups": messages.groups_of(session, viewer)})


@router.get("/u/{username}/messages")
def inbox(request: Request, session: SessionDep, viewer: UserViewerDep, username: str, page: str = "1"):
    return _inbox_page(request, session, viewer, username, "inbox", page=page)


@router.get("/u/{username}/messages/{box}")
def other_box(request: Request, session: SessionDep, viewer: UserViewerDep, username: str, box: str,
              page: str = "1"):
    if box not in ("sent", "archive"):
        raise NotFound()
    return _inbox_page(request, session, viewer, username, box, page=page)


@router.get("/u/{username}/messages/group/{group_name}")
def group_box(request: Request, session: SessionDep, viewer: UserViewerDep, username: str, group_name: str,
              page: str = "1"):
    return _inbox_page(request, session, viewer, username, "group", group_name, page=page)


# --- the composer -------------------------------------------------------------------------------

def _composer(request: Request, session, viewer, form: dict, *, errors: dict | None = None, preview=None,
              status_code: int = 200):
    return render(request, "messages/new.html", {
        "form": form, "errors": errors or {}, "preview": preview,
        "groups": messages.messageable_groups(session, viewer)}, status_code=status_code)


@router.get("/new-message")
def new_message_form(request: Request, session: SessionDep, viewer: UserViewerDep, username: str = "",
                     group: str = "", reply_to_post: str = ""):
    """A new message, to `username` or `group`; with `reply_to_post`, a private reply to that post's
    author, quoting it (only a post the viewer may read)."""
    if not permissions.can_send_private_messages(viewer):
        raise ForumError(permissions.posting_refusal(viewer) or _("You may not send messages."))
    form = {"target_recipients": ",".join(n for n in (username, group) if n), "title": "", "raw": ""}
    post_id = parse_id(reply_to_post)
    if post_id is not None:
        post, topic = posting.get_post(session, post_id)
        permissions.ensure_can_read_post(session, viewer, post, topic)
        if post.user_id != viewer.id:
            form["target_recipients"] = post.user.username
        form["title"] = _("Re: %(title)s", title=topic.title)[:255]
        body = post.raw if len(post.raw) < 4000 else post.raw[:4000] + "…"
        form["raw"] = (f'{urls.absolute("", urls.post_url(topic, post.post_number))}\n\n'
                       f'[quote="{post.user.username}, post:{post.post_number}, topic:{topic.id}"]\n{body}\n[/quote]\n\n')
    return _composer(request, session, viewer, form)


@router.post("/new-message")
def new_message(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                settings: SettingsDep, limiter: LimiterDep, target_recipients: Annotated[str, Form()] = "",
                title: Annotated[str, Form()] = "", raw: Annotated[str, Form()] = "",
                preview: Annotated[str, Form()] = ""):
    form = {"target_recipients": target_recipients, "title": title, "raw": raw}
    if preview:
        with write() as tx:
            posting.count_preview(tx, settings, viewer, limiter=limiter)
        return _composer(request, session, viewer, form, preview=Markup(posting.preview(session, settings, raw)))
    try:
        with write() as tx:
            post = messages.create_private_message(tx, settings, viewer, title=title, raw=raw,
                                                   recipients=target_recipients, limiter=limiter)
            url = urls.topic_url(tx.get(Topic, post.topic_id))
    except ForumError as e:
        return _composer(request, session, viewer, form, errors=e.form_errors(), status_code=e.status_code)
    return see_other(url)


# --- people and archive ---------------------------------------------------------------------------

@router.post("/t/{topic_id:int}/invite")
def invite(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
           topic_id: int, name: Annotated[str, Form()] = ""):
    group = messages.group_by_name(session, name.strip()) if name.strip() else None
    # A refusal (unknown name, someone who takes no messages) answers the error page with its reason.
    with write() as tx:
        topic = messages.invite(tx, settings, viewer, topic_id, username=None if group else name,
                                group_name=group.name if group else None)
        url = urls.topic_url(topic)
    return see_other(url)


@router.post("/t/{topic_id:int}/leave")
def leave(write: WriteDep, viewer: UserViewerDep, topic_id: int):
    with write() as tx:
        messages.remove_allowed_user(tx, viewer, topic_id, None)
    assert viewer.user is not None
    return see_other(f"/u/{viewer.user.username}/messages")


@router.post("/t/{topic_id:int}/archive")
def archive(write: WriteDep, viewer: UserViewerDep, topic_id: int):
    with write() as tx:
        messages.set_archived(tx, viewer, topic_id, True)
    assert viewer.user is not None
    return see_other(f"/u/{viewer.user.username}/messages")


@router.post("/t/{topic_id:int}/unarchive")
def unarchive(write: WriteDep, viewer: UserViewerDep, topic_id: int):
    with write() as tx:
        topic = messages.set_archived(tx, viewer, topic_id, False)
        url = urls.topic_url(topic)
    return see_other(url)


# --- groups (admins) ----------------------------------------------------------------------------

def _groups_page(request: Request, session, viewer, *, form: dict | None = None, errors: dict | None = None,
                 status_code: int = 200):
    permissions.ensure_can_administer(viewer)
    return render(request, "messages/groups.html", {
        "groups": messages.groups_with_members(session), "form": form or {}, "errors": errors or {},
        "visibilities": GROUP_VISIBILITIES, "levels": MESSAGEABLE_LEVELS}, status_code=status_code)


@router.get("/admin/groups")
def groups_page(request: Request, session: SessionDep, viewer: UserViewerDep):
    return _groups_page(request, session, viewer)


@router.post("/admin/groups")
def create_group(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                 name: Annotated[str, Form()] = "", full_name: Annotated[str, Form()] = "",
                 visibility: Annotated[str, Form()] = "public", messageable_level: Annotated[str, Form()] = "everyone"):
    permissions.ensure_can_administer(viewer)
    form = {"name": name, "full_name": full_name, "visibility": visibility, "messageable_level": messageable_level}
    try:
        with write() as tx:
            messages.create_group(tx, viewer, name=name, full_name=full_name, visibility=visibility,
                                  messageable_level=messageable_level)
    except ValidationFailed as e:
        return _groups_page(request, session, viewer, form=form, errors=e.form_errors(), status_code=422)
    return see_other("/admin/groups")


@router.post("/admin/groups/{group_id:int}/members")
def add_member(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, group_id: int,
               username: Annotated[str, Form()] = "", owner: Annotated[str, Form()] = ""):
    permissions.ensure_can_administer(viewer)
    with write() as tx:
        group = tx.get(Group, group_id)
        if group is None:
            raise NotFound()
        user = accounts.find_user(tx, username.strip())
        if user is None:
            raise ValidationFailed(_("There is no person named %(name)s.", name=username.strip()))
        messages.add_member(tx, viewer, group, user, owner=owner == "1")
    return see_other("/admin/groups")


@router.post("/admin/groups/{group_id:int}/members/{user_id:int}/remove")
def remove_member(write: WriteDep, viewer: UserViewerDep, group_id: int, user_id: int):
    permissions.ensure_can_administer(viewer)
    with write() as tx:
        group, user = tx.get(Group, group_id), tx.get(User, user_id)
        if group is None or user is None:
            raise NotFound()
        messages.remove_member(tx, viewer, group, user)
    return see_other("/admin/groups")
