"""Reading and writing pages: topic lists, categories, topics, the composer, likes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from markupsafe import Markup

from forum import (
    bookmarks,
    decide,
    drafts,
    fragments,
    merges,
    messages,
    pagecache,
    permissions,
    posting,
    reading,
    tracking,
    translations,
    uploads,
    urls,
    visits,
)
from forum import tags as forum_tags
from forum.deps import (
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    UserViewerDep,
    ViewerDep,
    WriteDep,
    client_ip,
    is_fetch,
    read_up_to_for,
    see_other,
)
from forum.errors import Conflict, ForumError, NotFound, RateLimited, ValidationFailed
from forum.flags import liked_and_flagged_by
from forum.i18n import _
from forum.i18n import translations as catalog_for
from forum.models import PRIVATE_MESSAGE, WATCH_LEVEL_NAMES, Topic
from forum.permissions import Viewer
from forum.revisions import edits as revision_edits
from forum.revisions import of_post as revisions_of
from forum.text import parse_id
from forum.web import (
    convertors,  # noqa: F401  (registers {name:id} before the routes below)
    lists,
)
from forum.web.templating import render

router = APIRouter(dependencies=[CsrfDep])


# --- lists ------------------------------------------------------------------------------------

@router.get("/")
@router.get("/latest")
def latest(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep, page: str = "1"):
    number, per_page = reading.parse_page(page), settings.topics_per_page
    rows = lists.topic_rows(request, session, viewer, lambda: reading.latest_topics(
        session, viewer, page=number, per_page=per_page), key=("latest", number, per_page))
    return render(request, "latest.html", {"rows": rows, "category": None,
                                           **lists.list_context(session, viewer, rows),
                                           "can_create": bool(permissions.creatable_categories(session, viewer))})


@router.get("/categories")
def categories(request: Request, session: SessionDep, viewer: ViewerDep):
    rows = reading.category_list(session, viewer)
    return render(request, "categories.html", {"rows": rows})


@router.get("/c/{category_id:id}")
def category_by_id(session: SessionDep, viewer: ViewerDep, category_id: str):
    category = reading.get_category(session, viewer, category_id)
    return RedirectResponse(urls.category_url(category), status_code=301)


@router.get("/c/{slug}/{category_id:id}")
def category_page(request: Request, session: SessionDep, viewer: ViewerDep, settings: SettingsDep,
                  slug: str, category_id: str, page: str = "1"):
    category = reading.get_category(session, viewer, category_id)
    if slug != category.slug:
        return RedirectResponse(urls.category_url(category), status_code=301)
    number, per_page = reading.parse_page(page), settings.topics_per_page
    rows = lists.topic_rows(request, session, viewer, lambda: reading.latest_topics(
        session, viewer, page=number, per_page=per_page, category=category),
        category=category, key=("category", category.id, number, per_page))
    return render(request, "latest.html", {
        "rows": rows, "category": category,
        **lists.list_context(session, viewer, rows, category=category),
        "can_create": permissions.can_create_topic(session, viewer, category),
    })


# --- a topic ----------------------------------------------------------------------------------

def _count_view(request: Request, write, viewer, topic: Topic, session=None, last_on_page: int = 0) -> None:
    # Views (once per viewer per window, across processes), read position and "seen by": forum/tracking.py.
    ends = visits.record_topic_visit(session, write, viewer, topic, who=visits.visitor_key(viewer, client_ip(request)),
                                     read_up_to=read_up_to_for(request, last_on_page), limiter=request.app.state.limiter)
    if viewer.id is not None:  # a page kept for this reader is not shown past it (forum/pagecache.py)
        pagecache.keep_until(request.scope, ends)


def topic_context(session, viewer, topic: Topic, seen_by: tracking.SeenBy | None = None) -> dict:
    level = tracking.topic_level(session, viewer.user.id, topic) if viewer.user else None
    row = tracking.topic_user(session, viewer.user.id, topic.id) if viewer.user else None
    return {
        # Where "jump to the first unread post" goes (None: nothing unread, or never opened).
        "first_unread": (row.last_read_post_number + 1
                         if row is not None and 0 < row.last_read_post_number < topic.highest_post_number else None),
        "seen_by": seen_by if seen_by is not None else tracking.seen_by(session, topic),
        "watch_level": level,
        "watch_levels": WATCH_LEVEL_NAMES,
        "message": messages.page_info(session, viewer, topic) if topic.archetype == PRIVATE_MESSAGE else None,
        "topic_tags": forum_tags.names_by_topic(session, [topic.id])[topic.id],
        "can_retag": permissions.can_retag_topic(session, viewer, topic),
    }


@dataclass
class PostMeta:
    """What a reader's actions under a post need to know of it (forum/permissions.py reads these)."""

    id: int
    post_number: int
    user_id: int
    username: str
    like_count: int
    deleted_at: object
    hidden: bool
    # The translation shown in the post's place to readers of this page's language, if any.
    translation: TranslationMeta | None = None
    # The words of the actions under it, in the page's language (_post_labels).
    labels: dict[str, Markup] = field(default_factory=dict)


@dataclass
class TranslationMeta:
    id: int
    user_id: int
    username: str
    language: str
    like_count: int


@dataclass
class SharedPosts:
    """A page of posts as every reader who is not staff sees it, or as staff see it."""

    posts: list[PostMeta]
    html: list[Markup] | None  # None: a poll on the page is drawn for each reader
    page: int
    pages: int
    has_proposal: bool
    has_event: bool
    seen_by: tracking.SeenBy


def _post_pieces(html: str) -> list[Markup]:
    return [Markup(piece) for piece in fragments.pieces(html)]


def _in_language(found: dict, posts, locale: str) -> dict:
    """Post id → its translation into the page's language (none for a post written in it)."""
    return {p.id: t for p in posts for t in found.get(p.id, ()) if t.language == locale and p.language != locale}


def _posts_context(session, page: reading.PostsPage, topic: Topic, highlight: int | None, reader: Viewer,
                   locale: str) -> dict:
    found = translations.for_posts(session, [p.id for p in page.posts])
    return {"posts": page.posts, "topic": topic, "reply_targets": page.reply_targets, "highlight": highlight,
            "end": Markup(fragments.END), "display": lambda post: permissions.post_display(reader, post),
            "translations": found, "in_language": _in_language(found, page.posts, locale)}


def _meta(post, translation, catalog) -> PostMeta:
    shown = None
    if translation is not None:
        shown = TranslationMeta(translation.id, translation.user_id, translation.user.username, translation.language,
                                translation.like_count)
    return PostMeta(post.id, post.post_number, post.user_id, post.user.username, post.like_count, post.deleted_at,
                    post.hidden, shown, _post_labels(catalog, post))


def _post_labels(catalog, post) -> dict[str, Markup]:
    """The words of the actions under a post, translated once for every reader of the page (each
    reader's part only picks which actions show). Formatted as the templates' `_()` does."""
    gettext, ngettext = catalog.gettext, catalog.ngettext
    who = {"n": post.post_number, "user": post.user.username}
    return {
        "like": Markup(gettext("Like post %(n)s by %(user)s")) % who,
        "likes": Markup(ngettext("%(num)s like", "%(num)s likes", post.like_count)) % {"num": post.like_count},
        "reply": Markup(gettext("Reply to post %(n)s by %(user)s")) % who,
        "quote": Markup(gettext("Quote post %(n)s by %(user)s")) % who,
        "translate": Markup(gettext("Translate post %(n)s by %(user)s")) % who,
        "edit": Markup(gettext("Edit post %(n)s")) % who,
        "delete": Markup(gettext("Delete post %(n)s")) % who,
        "flag": Markup(gettext("Flag post %(n)s by %(user)s")) % who,
    }


def _shared_reader(viewer: Viewer) -> Viewer:
    """Whom a shared rendering of posts is drawn for: staff, or someone who is not staff and wrote
    none of them (so every deleted or hidden post is a placeholder; rule 8 of permissions.py)."""
    return viewer if permissions.sees_as_staff(viewer) else permissions.ANONYMOUS


def _shared_posts(request: Request, session, viewer, topic: Topic, page: int, per_page: int,
                  highlight: int | None) -> SharedPosts:
    renderer = request.app.state.renderer
    locale, zone = renderer.locale_and_zone(request)
    clock = decide.clock_for(viewer)
    staff_view = permissions.sees_as_staff(viewer)
    reader = _shared_reader(viewer)

    def build() -> SharedPosts:
        posts = reading.posts_page(session, topic, page=page, per_page=per_page)
        probe = decide.probe(session, topic, posts.posts)
        html = None
        context = _posts_context(session, posts, topic, highlight, reader, locale)
        if not probe.has_polls:
            html = _post_pieces(renderer.fragment(locale, zone, "_topic_posts.html", {
                **context, "decide": decide.TopicDecide(clock=clock)}))
        catalog = catalog_for(locale, renderer.locale_dir)
        metas = [_meta(p, context["in_language"].get(p.id), catalog) for p in posts.posts]
        return SharedPosts(metas, html, posts.page, posts.pages, probe.has_proposal, probe.has_event,
                           tracking.seen_by(session, topic))

    key = ("topic", topic.id, page, per_page, highlight, staff_view, locale, zone.key, clock.reader_zone)
    return fragments.cache_for(request).get_or_build(session, key, build)


def _render_topic(request: Request, session, viewer, settings, topic: Topic, page: int, *,
                  form: dict | None = None, errors: dict | None = None, status_code: int = 200,
                  highlight: int | None = None, extra: dict | None = None):
    shared = _shared_posts(request, session, viewer, topic, page, settings.posts_per_page, highlight)
    ids = [p.id for p in shared.posts]
    html = shared.html
    reader = _shared_reader(viewer)
    sees_otherwise = any(permissions.post_display(viewer, p) != permissions.post_display(reader, p)
                         for p in shared.posts)
    if html is None or sees_otherwise:
        # Polls (each reader's vote) or the reader's own deleted or hidden post, which they read and
        # others do not: this page is drawn for them alone.
        posts = reading.posts_page(session, topic, page=shared.page, per_page=settings.posts_per_page)
        topic_decide = decide.for_topic_page(session, viewer, topic, posts.posts)
        html = _post_pieces(request.app.state.renderer.personal_fragment(request, "_topic_posts.html", {
            **_posts_context(session, posts, topic, highlight, viewer, request.app.state.renderer.locale(request)),
            "decide": topic_decide, **(extra or {})}))
    else:
        topic_decide = decide.for_topic_page(session, viewer, topic, [], has_proposal=shared.has_proposal,
                                             has_event=shared.has_event)
    refusal = permissions.reply_refusal(session, viewer, topic)
    liked, flagged = liked_and_flagged_by(session, viewer, ids)
    shown = [p.translation for p in shared.posts if p.translation is not None]
    view = TopicView(posts=shared.posts, html=html, page=shared.page, pages=shared.pages, liked=liked,
                     flagged=flagged, can_reply=refusal is None, reply_refusal=refusal,
                     translation_liked=translations.liked_by(session, viewer, [t.id for t in shown]),
                     translation_edit={p.id for p in shared.posts if p.translation is not None
                                       and permissions.can_edit_translation(session, viewer, p.translation, p, topic)},
                     translation_like={p.id for p in shared.posts if p.translation is not None
                                       and permissions.can_like_translation(session, viewer, p.translation, p, topic)})
    draft = drafts.for_composer(session, viewer, drafts.topic_key(topic.id)) if view.can_reply else None
    if form is None:
        form = _restored(draft)
    return render(request, "topic.html", {
        "view": view, "topic": topic, "form": form, "errors": errors or {}, "highlight": highlight, "draft": draft,
        "actions": permissions.post_actions(session, viewer, topic, shared.posts),
        "bookmarked": bookmarks.bookmarked_post_ids(session, viewer, ids),
        "topic_bookmarked": bookmarks.topic_bookmarked(session, viewer, topic.id),
        "may_bookmark_topic": viewer.user is not None and permissions.can_bookmark(session, viewer, topic, None),
        **(extra or {}),
        "decide": topic_decide,
        **topic_context(session, viewer, topic, seen_by=shared.seen_by),
    }, status_code=status_code)


@dataclass
class TopicView:
    posts: list[PostMeta]
    html: list[Markup]
    page: int
    pages: int
    liked: set[int]
    flagged: set[int]
    can_reply: bool
    reply_refusal: str | None
    translation_liked: set[int]
    translation_edit: set[int]  # ids of the posts whose shown translation the reader may edit
    translation_like: set[int]  # … and may like


@router.get("/t/{topic_id:id}/reply")
def reply_form(request: Request, session: SessionDep, viewer: UserViewerDep, topic_id: str,
               quote: str = "", to: str = ""):
    topic = reading.get_topic(session, viewer, topic_id)
    permissions.ensure_can_reply_topic(session, viewer, topic)
    draft = drafts.for_composer(session, viewer, drafts.topic_key(topic.id))
    raw = _restored(draft).get("raw", "")
    quoted = _int_or_none(quote)
    if quoted:
        post = reading.post_by_number(session, topic, quoted)
        if post is not None and post.deleted_at is None and permissions.can_see_post(session, viewer, post, topic):
            body = post.raw if len(post.raw) < 4000 else post.raw[:4000] + "…"
            raw = (raw.rstrip("\n") + "\n\n" if raw.strip() else "") + \
                f'[quote="{post.user.username}, post:{post.post_number}, topic:{topic.id}"]\n{body}\n[/quote]\n\n'
    return render(request, "reply.html", {"topic": topic, "form": {"raw": raw, "reply_to_post_number": to or quote},
                                          "errors": {}, "draft": draft})


@router.get("/t/{topic_id:id}")
def topic_by_id(session: SessionDep, viewer: ViewerDep, topic_id: str):
    topic = merges.get_topic(session, viewer, topic_id)
    return RedirectResponse(urls.topic_url(topic), status_code=301)


@router.get("/t/{slug}/{topic_id:id}")
def topic_page(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, settings: SettingsDep,
               slug: str, topic_id: str, page: str = "1"):
    topic = merges.get_topic(session, viewer, topic_id)  # a merged topic's address moves (301)
    page_number = reading.parse_page(page)
    if slug != topic.slug:
        return RedirectResponse(urls.topic_page_url(topic, page_number), status_code=301)
    _count_view(request, write, viewer, topic, session, page_number * settings.posts_per_page)
    return _render_topic(request, session, viewer, settings, topic, page_number)


@router.get("/t/{slug}/{topic_id:id}/{post_number:id}")
def topic_post(request: Request, session: SessionDep, write: WriteDep, viewer: ViewerDep, settings: SettingsDep,
               slug: str, topic_id: str, post_number: str):
    topic = merges.get_topic(session, viewer, topic_id, post_number)
    try:
        number = int(post_number)
    except ValueError:
        raise NotFound() from None
    if not 1 <= number <= max(topic.highest_post_number, 1):
        raise NotFound()
    if slug != topic.slug:
        return RedirectResponse(urls.post_url(topic, number), status_code=301)
    _count_view(request, write, viewer, topic, session,
                reading.page_of_post(number, settings.posts_per_page) * settings.posts_per_page)
    return _render_topic(request, session, viewer, settings, topic,
                         reading.page_of_post(number, settings.posts_per_page), highlight=number)


# --- writing ----------------------------------------------------------------------------------

def _int_or_none(value: str | None) -> int | None:
    return parse_id(value)


@router.get("/new-topic")
def new_topic_form(request: Request, session: SessionDep, viewer: UserViewerDep, category: str = ""):
    choices = permissions.creatable_categories(session, viewer)
    if not choices:
        raise ForumError(_("There is no category where you may start a topic."))
    draft = drafts.for_composer(session, viewer, drafts.NEW_TOPIC)
    form = _restored(draft)
    form["category"] = category or form.get("category", "")
    return render(request, "new_topic.html", {"choices": choices, "form": form, "errors": {}, "draft": draft,
                                              "tag_choices": forum_tags.suggestions(session, viewer, choices)})


@router.post("/new-topic")
def new_topic(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
              settings: SettingsDep, limiter: LimiterDep,
              title: Annotated[str, Form()] = "", raw: Annotated[str, Form()] = "",
              category: Annotated[str, Form()] = "", language: Annotated[str, Form()] = "",
              preview: Annotated[str, Form()] = "", draft_sequence: Annotated[str, Form()] = "",
              files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 (FastAPI copies defaults)
              tags: Annotated[str, Form()] = ""):
    form = {"title": title, "raw": raw, "category": category, "language": language, "tags": tags}
    choices = permissions.creatable_categories(session, viewer)
    context = {"choices": choices, "form": form, "tag_choices": forum_tags.suggestions(session, viewer, choices)}
    try:
        raw = _attach(session, write, viewer, settings, limiter, files, form)
        if preview:
            shown, draft, errors = _preview_and_keep(
                session, write, viewer, settings, limiter, raw=raw, key=drafts.NEW_TOPIC, sequence=draft_sequence,
                data=drafts.composer_data("createTopic", raw, title, category))
            return render(request, "new_topic.html", {**context, "preview": shown, "draft": draft, "errors": errors})
        with write() as tx:
            post = posting.create_topic(tx, settings, viewer, title=title, raw=raw, category_id=category,
                                        limiter=limiter, language=language or None,
                                        tags=forum_tags.parse_names(tags))
            topic = tx.get(Topic, post.topic_id)
            url = urls.topic_url(topic)
    except ForumError as e:
        return render(request, "new_topic.html", {
            **context, "errors": e.form_errors(), "draft": drafts.for_composer(session, viewer, drafts.NEW_TOPIC)},
            status_code=e.status_code)
    return see_other(url)


@router.post("/t/{topic_id:id}/reply")
def reply(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
          settings: SettingsDep, limiter: LimiterDep, topic_id: str,
          raw: Annotated[str, Form()] = "", reply_to_post_number: Annotated[str, Form()] = "",
          language: Annotated[str, Form()] = "", preview: Annotated[str, Form()] = "",
          draft_sequence: Annotated[str, Form()] = "",
          files: Annotated[list[UploadFile], File()] = []):  # noqa: B006 (FastAPI copies defaults)
    topic = reading.get_topic(session, viewer, topic_id)
    form = {"raw": raw, "reply_to_post_number": reply_to_post_number, "language": language}
    key = drafts.topic_key(topic.id)
    try:
        raw = _attach(session, write, viewer, settings, limiter, files, form)
        if preview:
            permissions.ensure_can_reply_topic(session, viewer, topic)
            shown, draft, errors = _preview_and_keep(session, write, viewer, settings, limiter, raw=raw, key=key,
                                                     sequence=draft_sequence,
                                                     data=drafts.composer_data("reply", raw))
            return render(request, "reply.html", {"topic": topic, "form": form, "errors": errors, "preview": shown,
                                                  "draft": draft})
        with write() as tx:
            post = posting.create_reply(tx, settings, viewer, topic_id=topic.id, raw=raw,
                                        reply_to_post_number=_int_or_none(reply_to_post_number), limiter=limiter,
                                        language=language or None)
            number = post.post_number
    except ForumError as e:
        return render(request, "reply.html", {
            "topic": topic, "form": form, "draft": drafts.for_composer(session, viewer, key),
            "errors": e.form_errors()}, status_code=e.status_code)
    return see_other(urls.post_url(topic, number) + f"#post_{number}")


@router.get("/posts/{post_id}/edit")
def edit_form(request: Request, session: SessionDep, viewer: UserViewerDep, post_id: str):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_edit_post(session, viewer, post, topic)
    return render(request, "edit_post.html", {"post": post, "topic": topic,
                                              "form": {"raw": post.raw, "title": topic.title,
                                                       "language": post.language or "",
                                                       "tags": ", ".join(forum_tags.names_by_topic(
                                                           session, [topic.id])[topic.id])},
                                              "errors": {}, **_tagging(session, viewer, post, topic)})


def _tagging(session, viewer: Viewer, post, topic: Topic) -> dict:
    """The edit form of a first post also changes the topic's tags, for those who may retag it."""
    may = post.post_number == 1 and permissions.can_retag_topic(session, viewer, topic)
    return {"can_retag": may,
            "tag_choices": forum_tags.suggestions(session, viewer, [topic.category]) if may and topic.category else []}


@router.post("/posts/{post_id}/edit")
def edit(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep,
         limiter: LimiterDep, post_id: str, raw: Annotated[str, Form()] = "",
         title: Annotated[str | None, Form()] = None, edit_reason: Annotated[str, Form()] = "", language: Annotated[str, Form()] = "",
         preview: Annotated[str, Form()] = "",
         files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 (FastAPI copies defaults)
         tags: Annotated[str | None, Form()] = None):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_edit_post(session, viewer, post, topic)
    form = {"raw": raw, "title": title or topic.title, "edit_reason": edit_reason, "language": language,
            "tags": tags or ""}
    tagging = _tagging(session, viewer, post, topic)
    try:
        raw = _attach(session, write, viewer, settings, limiter, files, form)
        if preview:
            shown, _draft, errors = _preview_and_keep(session, write, viewer, settings, limiter, raw=raw)
            return render(request, "edit_post.html", {"post": post, "topic": topic, "form": form, "errors": errors,
                                                      "preview": shown, **tagging})
        with write() as tx:
            edited = posting.edit_post(tx, settings, viewer, post_id=post.id, raw=raw, title=title,
                                       reason=edit_reason, language=language or None)
            if tags is not None and tagging["can_retag"]:
                forum_tags.retag(tx, settings, viewer, topic.id, forum_tags.parse_names(tags))
            number = edited.post_number
            topic = tx.get(Topic, edited.topic_id)
            url = urls.post_url(topic, number)
    except (ValidationFailed, RateLimited) as e:
        return render(request, "edit_post.html", {"post": post, "topic": topic, "form": form,
                                                  "errors": e.form_errors(), **tagging}, status_code=e.status_code)
    return see_other(url + f"#post_{number}")


@router.get("/posts/{post_id}/revisions")
def revisions(request: Request, session: SessionDep, viewer: ViewerDep, post_id: str):
    post, topic = posting.get_post(session, post_id)
    permissions.ensure_can_read_post(session, viewer, post, topic)
    revs = revisions_of(session, post)
    return render(request, "revisions.html", {"post": post, "topic": topic, "revisions": revs,
                                              "edits": revision_edits(session, post, topic, revs)})


@router.post("/posts/{post_id}/delete")
def delete(request: Request, write: WriteDep, viewer: UserViewerDep, post_id: str):
    with write() as tx:
        post = posting.delete_post(tx, viewer, post_id=_int_or_none(post_id) or 0)
        topic = tx.get(Topic, post.topic_id)
        url = urls.topic_url(topic) if topic.deleted_at is None or permissions.can_see_deleted_topics(viewer) else "/latest"
        number = post.post_number
    if is_fetch(request):
        return JSONResponse({"deleted": True})
    return see_other(url if number == 1 else urls.post_url(topic, number) + f"#post_{number}")


def _like_response(request: Request, session, post_id: int, liked: bool) -> Response:
    post, topic = posting.get_post(session, post_id)
    session.refresh(post)
    count = post.like_count
    if is_fetch(request):
        return JSONResponse({"post_id": post_id, "like_count": count, "liked": liked})
    return see_other(urls.post_url(topic, post.post_number) + f"#post_{post.post_number}")


@router.post("/posts/{post_id}/like")
def like(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep, limiter: LimiterDep,
         post_id: str):
    pid = _int_or_none(post_id) or 0
    with write() as tx:
        posting.like_post(tx, viewer, post_id=pid, limiter=limiter)
    return _like_response(request, session, pid, True)


@router.post("/posts/{post_id}/unlike")
def unlike(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, post_id: str):
    pid = _int_or_none(post_id) or 0
    with write() as tx:
        posting.unlike_post(tx, viewer, post_id=pid)
    return _like_response(request, session, pid, False)


@router.post("/preview")
def preview(session: SessionDep, write: WriteDep, viewer: UserViewerDep, settings: SettingsDep, limiter: LimiterDep,
            raw: Annotated[str, Form()] = ""):
    """The composer's live preview (forum.js), rate-limited as the Preview button is."""
    return JSONResponse({"cooked": _counted_preview(session, write, viewer, settings, limiter, raw)})


def _counted_preview(session, write, viewer: Viewer, settings, limiter, raw: str) -> str:
    if settings.previews_per_minute > 0:
        with write() as tx:  # short: the count only, cooking happens outside the write lock
            posting.count_preview(tx, settings, viewer, limiter=limiter)
    return posting.preview(session, settings, raw)


def _attach(session, write, viewer: Viewer, settings, limiter, files: list[UploadFile], form: dict) -> str:
    """The composer's files without scripts: each is stored and its markdown added to the text (in
    `form` too, so that a refusal later loses nothing). A file refused stops there, with its reason."""
    raw = form.get("raw", "")
    allowed = None
    for file in files or []:
        if not file.filename:
            continue  # the empty part of a file field left empty
        try:
            if allowed is None:
                allowed = uploads.limits(session, settings, viewer)
            checked = uploads.prepare(settings, viewer, allowed, filename=file.filename, source=file.file)
            with write() as tx:
                markdown = uploads.markdown_for(uploads.record(tx, settings, viewer, checked, allowed,
                                                               filename=file.filename, limiter=limiter))
        except ForumError as e:
            raise ValidationFailed(fields={"files": _("“%(name)s” was not attached: %(reason)s", name=file.filename,
                                                      reason=e.messages[0])}) from None
        raw = form["raw"] = (raw.rstrip("\n") + "\n\n" if raw.strip() else "") + markdown + "\n"
    return raw


def _restored(draft: drafts.Kept | None) -> dict:
    """A composer's form filled from its kept draft (marked as restored), or an empty form."""
    if draft is None or draft.data is None:
        return {}
    draft.restored = True
    fields = draft.fields
    form = {"raw": draft.text}
    if isinstance(fields.get("title"), str):
        form["title"] = fields["title"]
    if isinstance(fields.get("categoryId"), int):
        form["category"] = str(fields["categoryId"])
    return form


def _preview_and_keep(session, write, viewer: Viewer, settings, limiter, *, raw: str, key: str | None = None,
                      sequence: str = "", data: str | None = None) -> tuple[Markup, drafts.Kept | None, dict]:
    """The Preview button: the cooked text, and the draft kept on the way (a page without scripts
    saves its draft here). A draft changed elsewhere meanwhile is not overwritten: the page says so."""
    errors: dict = {}
    draft = None
    shown = Markup(_counted_preview(session, write, viewer, settings, limiter, raw))
    if key is None:
        return shown, draft, errors
    with write() as tx:
        if data is not None:
            try:
                with tx.begin_nested():
                    drafts.save(tx, settings, viewer, key=key, sequence=sequence, data=data, limiter=limiter)
            except (Conflict, ValidationFailed) as e:
                errors = e.form_errors()
        draft = drafts.for_composer(tx, viewer, key)  # read in the write: the request's reads predate it
    return shown, draft, errors
