"""Pages and forms for polls, proposals, events, calendars and the reader's time zone.

Every form works as a plain POST (303 back to the topic, or the page again with the error and what
was typed); forms marked `data-decide-replace` are sent by static/decide.js with fetch, and then the
answer is the updated fragment (the poll, the proposal panel, the RSVP box) instead of a redirect.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from forum import (
    calendar,
    decide,
    events,
    feedtokens,
    permissions,
    polls,
    proposals,
    reading,
    timezones,
    urls,
)
from forum.deps import (
    CsrfDep,
    LimiterDep,
    SessionDep,
    SettingsDep,
    UserViewerDep,
    ViewerDep,
    WriteDep,
    is_fetch,
    safe_next,
    see_other,
)
from forum.errors import ForumError, NotFound, ValidationFailed
from forum.i18n import _, translate, translations
from forum.models import Event, Topic, User
from forum.text import parse_id
from forum.web.templating import render
from forum.web.topics import _render_topic

router = APIRouter(dependencies=[CsrfDep])


def _zone_default(viewer, fallback: str = "") -> str:
    zone = viewer.user.timezone if viewer.user is not None else None
    return zone if timezones.is_valid_zone(zone) else fallback


def _common(viewer) -> dict:
    return {"zones": timezones.all_zones(), "clock": decide.clock_for(viewer)}


# --- polls ------------------------------------------------------------------------------------

def _poll_response(request: Request, session, viewer, poll_id: int, *, error: ForumError | None = None,
                   status_code: int = 200) -> Response:
    session.expire_all()  # the vote was written in another session
    view = polls.view_of(session, viewer, poll_id)
    if is_fetch(request):
        return render(request, "polls/poll.html", {"poll": view, "poll_error": error}, status_code=status_code)
    poll, post, topic = polls.load(session, viewer, poll_id)
    if error is None:
        return see_other(urls.post_url(topic, post.post_number) + f"#{view.dom_id}")
    return render(request, "polls/page.html", {"poll": view, "poll_error": error, "topic": topic, "post": post},
                  status_code=status_code)


@router.get("/polls/{poll_id}")
def poll_page(request: Request, session: SessionDep, viewer: ViewerDep, poll_id: str):
    poll, post, topic = polls.load(session, viewer, poll_id)
    view = polls.view_of(session, viewer, poll.id)
    if is_fetch(request):
        return render(request, "polls/poll.html", {"poll": view, "poll_error": None})
    return render(request, "polls/page.html", {"poll": view, "poll_error": None, "topic": topic, "post": post})


@router.post("/polls/{poll_id}/vote")
def poll_vote(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, limiter: LimiterDep,
              poll_id: str, option: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
              rank: Annotated[list[str], Form()] = []):  # noqa: B006
    ranks: dict[str, str] = {}
    for value in rank:
        oid, _sep, place = value.partition(":")
        if place:
            ranks[oid] = place
    try:
        with write() as tx:
            poll = polls.vote(tx, viewer, poll_id=poll_id, option_ids=option, ranks=ranks, limiter=limiter)
            pid = poll.id
    except ValidationFailed as e:
        poll, _post, _topic = polls.load(session, viewer, poll_id)
        return _poll_response(request, session, viewer, poll.id, error=e, status_code=e.status_code)
    return _poll_response(request, session, viewer, pid)


@router.post("/polls/{poll_id}/unvote")
def poll_unvote(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, poll_id: str):
    with write() as tx:
        pid = polls.remove_vote(tx, viewer, poll_id=poll_id).id
    return _poll_response(request, session, viewer, pid)


@router.post("/polls/{poll_id}/close")
def poll_close(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, poll_id: str):
    with write() as tx:
        pid = polls.close(tx, viewer, poll_id=poll_id).id
    return _poll_response(request, session, viewer, pid)


# --- proposals --------------------------------------------------------------------------------

PROPOSAL_FIELDS = ("title", "raw", "category", "kind", "closes_date", "closes_time", "timezone", "quorum",
                   "options", "max_choices", "results", "public")


@router.get("/new-proposal")
def new_proposal_form(request: Request, session: SessionDep, viewer: UserViewerDep, category: str = ""):
    choices = permissions.creatable_categories(session, viewer)
    if not choices:
        raise ForumError(_("There is no category where you may start a topic."))
    form = {"category": category, "kind": "consent", "timezone": _zone_default(viewer, "UTC"), "results": "always",
            "public": "on", "closes_time": "18:00"}
    return render(request, "proposals/new.html", {"choices": choices, "form": form, "errors": {}, **_common(viewer)})


@router.post("/new-proposal")
def new_proposal(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                 settings: SettingsDep, limiter: LimiterDep,
                 title: Annotated[str, Form()] = "", raw: Annotated[str, Form()] = "",
                 category: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "consent",
                 closes_date: Annotated[str, Form()] = "", closes_time: Annotated[str, Form()] = "",
                 timezone: Annotated[str, Form()] = "", quorum: Annotated[str, Form()] = "",
                 options: Annotated[str, Form()] = "", max_choices: Annotated[str, Form()] = "",
                 results: Annotated[str, Form()] = "always", public: Annotated[str, Form()] = ""):
    form = {"title": title, "raw": raw, "category": category, "kind": kind, "closes_date": closes_date,
            "closes_time": closes_time, "timezone": timezone, "quorum": quorum, "options": options,
            "max_choices": max_choices, "results": results, "public": public}
    try:
        with write() as tx:
            post = proposals.create_proposal(
                tx, settings, viewer, title=title, raw=raw, category_id=category, kind=kind,
                closes_date=closes_date, closes_time=closes_time, timezone=timezone, quorum=quorum,
                options=options, max_choices=max_choices, results=results, public=bool(public), limiter=limiter)
            url = urls.topic_url(tx.get(Topic, post.topic_id))
    except ForumError as e:
        return render(request, "proposals/new.html", {
            "choices": permissions.creatable_categories(session, viewer), "form": form,
            "errors": e.form_errors(), **_common(viewer)}, status_code=e.status_code)
    return see_other(url)


def _panel_errors(error: ForumError | None) -> dict:
    # A message about the proposal as a whole is the panel's, not the reply box's (which shows "_").
    errors = error.form_errors() if error else {}
    if "_" in errors:
        errors["proposal"] = errors.pop("_")
    return errors


def _proposal_response(request: Request, session, settings, viewer, proposal_id, *,
                       form: dict | None = None, error: ForumError | None = None) -> Response:
    session.expire_all()  # the change was written in another session
    proposal, topic = proposals.load(session, viewer, proposal_id)
    if is_fetch(request):
        d = decide.TopicDecide(clock=decide.clock_for(viewer), proposal=proposals.view(session, viewer, topic))
        return render(request, "proposals/panel.html", {
            "decide": d, "topic": topic, "form": form or {}, "errors": _panel_errors(error),
            **_common(viewer)}, status_code=error.status_code if error else 200)
    if error is None:
        return see_other(urls.topic_url(topic) + "#proposal")
    return _render_topic(request, session, viewer, settings, topic, 1, form=form or {}, errors=_panel_errors(error),
                         status_code=error.status_code)


@router.post("/proposals/{proposal_id}/position")
def proposal_position(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                      settings: SettingsDep, proposal_id: str, position: Annotated[str, Form()] = "",
                      reason: Annotated[str, Form()] = ""):
    form = {"position": position, "reason": reason}
    try:
        with write() as tx:
            proposals.take_position(tx, viewer, proposal_id=proposal_id, position=position, reason=reason)
    except ValidationFailed as e:
        return _proposal_response(request, session, settings, viewer, proposal_id, form=form, error=e)
    return _proposal_response(request, session, settings, viewer, proposal_id)


@router.post("/proposals/{proposal_id}/withdraw")
def proposal_withdraw(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                      settings: SettingsDep, proposal_id: str):
    with write() as tx:
        proposals.withdraw_position(tx, viewer, proposal_id=proposal_id)
    return _proposal_response(request, session, settings, viewer, proposal_id)


@router.post("/proposals/{proposal_id}/close")
def proposal_close(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                   settings: SettingsDep, proposal_id: str):
    try:
        with write() as tx:
            proposals.close_now(tx, settings, viewer, proposal_id=proposal_id)
    except ValidationFailed as e:
        return _proposal_response(request, session, settings, viewer, proposal_id, error=e)
    return _proposal_response(request, session, settings, viewer, proposal_id)


@router.post("/proposals/{proposal_id}/extend")
def proposal_extend(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                    settings: SettingsDep, proposal_id: str, closes_date: Annotated[str, Form()] = "",
                    closes_time: Annotated[str, Form()] = "", timezone: Annotated[str, Form()] = ""):
    form = {"closes_date": closes_date, "closes_time": closes_time, "timezone": timezone}
    try:
        with write() as tx:
            proposals.extend(tx, settings, viewer, proposal_id=proposal_id, closes_date=closes_date,
                             closes_time=closes_time, timezone=timezone)
    except ValidationFailed as e:
        return _proposal_response(request, session, settings, viewer, proposal_id, form=form, error=e)
    return _proposal_response(request, session, settings, viewer, proposal_id)


@router.post("/proposals/{proposal_id}/outcome")
def proposal_outcome(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                     settings: SettingsDep, limiter: LimiterDep, proposal_id: str,
                     raw: Annotated[str, Form()] = ""):
    form = {"outcome": raw}
    try:
        with write() as tx:
            proposals.write_outcome(tx, settings, viewer, proposal_id=proposal_id, raw=raw, limiter=limiter)
    except ValidationFailed as e:
        fields = {("outcome" if k == "raw" else k): v for k, v in e.fields.items()}
        return _proposal_response(request, session, settings, viewer, proposal_id, form=form,
                                  error=ValidationFailed(fields=fields))
    return _proposal_response(request, session, settings, viewer, proposal_id)


# --- events -----------------------------------------------------------------------------------

@router.get("/new-event")
def new_event_form(request: Request, session: SessionDep, viewer: UserViewerDep, category: str = ""):
    choices = permissions.creatable_categories(session, viewer)
    if not choices:
        raise ForumError(_("There is no category where you may start a topic."))
    form = {"category": category, "timezone": _zone_default(viewer, "UTC")}
    return render(request, "events/new.html", {"choices": choices, "form": form, "errors": {}, **_common(viewer)})


@router.post("/new-event")
def new_event(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
              settings: SettingsDep, limiter: LimiterDep,
              title: Annotated[str, Form()] = "", raw: Annotated[str, Form()] = "",
              category: Annotated[str, Form()] = "", start_date: Annotated[str, Form()] = "",
              start_time: Annotated[str, Form()] = "", end_date: Annotated[str, Form()] = "",
              end_time: Annotated[str, Form()] = "", timezone: Annotated[str, Form()] = "",
              location: Annotated[str, Form()] = "", online_url: Annotated[str, Form()] = ""):
    form = {"title": title, "raw": raw, "category": category, "start_date": start_date, "start_time": start_time,
            "end_date": end_date, "end_time": end_time, "timezone": timezone, "location": location,
            "online_url": online_url}
    try:
        with write() as tx:
            post = events.create_event(tx, settings, viewer, title=title, raw=raw, category_id=category,
                                       start_date=start_date, start_time=start_time, end_date=end_date,
                                       end_time=end_time, timezone=timezone, location=location,
                                       online_url=online_url, limiter=limiter)
            url = urls.topic_url(tx.get(Topic, post.topic_id))
    except ForumError as e:
        return render(request, "events/new.html", {
            "choices": permissions.creatable_categories(session, viewer), "form": form,
            "errors": e.form_errors(), **_common(viewer)}, status_code=e.status_code)
    return see_other(url)


def _event_form(event: Event) -> dict:
    zone = timezones.zone(event.timezone)
    start = event.starts_at.astimezone(zone)
    end = event.ends_at.astimezone(zone) if event.ends_at else None
    return {"start_date": start.date().isoformat(), "start_time": start.strftime("%H:%M"),
            "end_date": end.date().isoformat() if end else "", "end_time": end.strftime("%H:%M") if end else "",
            "timezone": event.timezone, "location": event.location, "online_url": event.online_url}


@router.get("/events/{event_id}/edit")
def edit_event_form(request: Request, session: SessionDep, viewer: UserViewerDep, event_id: str):
    event, topic = events.load(session, viewer, event_id)
    permissions.ensure_can_edit_event(session, viewer, topic)
    return render(request, "events/edit.html", {"event": event, "topic": topic, "form": _event_form(event),
                                                "errors": {}, **_common(viewer)})


@router.post("/events/{event_id}/edit")
def edit_event(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
               settings: SettingsDep, event_id: str,
               start_date: Annotated[str, Form()] = "", start_time: Annotated[str, Form()] = "",
               end_date: Annotated[str, Form()] = "", end_time: Annotated[str, Form()] = "",
               timezone: Annotated[str, Form()] = "", location: Annotated[str, Form()] = "",
               online_url: Annotated[str, Form()] = ""):
    event, topic = events.load(session, viewer, event_id)
    permissions.ensure_can_edit_event(session, viewer, topic)
    form = {"start_date": start_date, "start_time": start_time, "end_date": end_date, "end_time": end_time,
            "timezone": timezone, "location": location, "online_url": online_url}
    try:
        with write() as tx:
            events.update_event(tx, settings, viewer, event_id=event.id, start_date=start_date,
                                start_time=start_time, end_date=end_date, end_time=end_time, timezone=timezone,
                                location=location, online_url=online_url)
    except ValidationFailed as e:
        return render(request, "events/edit.html", {"event": event, "topic": topic, "form": form,
                                                    "errors": e.form_errors(), **_common(viewer)},
                      status_code=e.status_code)
    return see_other(urls.topic_url(topic) + "#event")


@router.post("/events/{event_id}/cancel")
def cancel_event(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                 settings: SettingsDep, event_id: str):
    with write() as tx:
        event = events.cancel_event(tx, settings, viewer, event_id=event_id)
        topic = tx.get(Topic, event.topic_id)
        url = urls.topic_url(topic) + "#event"
    return see_other(url)


@router.post("/events/{event_id}/rsvp")
def event_rsvp(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep, event_id: str,
               status: Annotated[str, Form()] = ""):
    with write() as tx:
        events.rsvp(tx, viewer, event_id=event_id, status=status)
    session.expire_all()
    event, topic = events.load(session, viewer, event_id)
    if is_fetch(request):
        d = decide.TopicDecide(clock=decide.clock_for(viewer), event=events.view(session, viewer, topic))
        return render(request, "events/panel.html", {"decide": d, "topic": topic, **_common(viewer)})
    return see_other(urls.topic_url(topic) + "#event")


@router.get("/events")
def upcoming_events(request: Request, session: SessionDep, viewer: ViewerDep, page: str = "1"):
    number = reading.parse_page(page)
    rows, has_more = events.upcoming(session, viewer, page=number)
    return render(request, "events/list.html", {"rows": rows, "category": None, "page": number,
                                               "has_more": has_more, **_common(viewer)})


@router.get("/c/{slug}/{category_id}/events")
def category_events(request: Request, session: SessionDep, viewer: ViewerDep, slug: str, category_id: str,
                    page: str = "1"):
    category = reading.get_category(session, viewer, category_id)
    if slug != category.slug:
        return RedirectResponse(urls.category_events_url(category), status_code=301)
    number = reading.parse_page(page)
    rows, has_more = events.upcoming(session, viewer, category=category, page=number)
    return render(request, "events/list.html", {"rows": rows, "category": category, "page": number,
                                               "has_more": has_more, **_common(viewer)})


# --- calendars --------------------------------------------------------------------------------

def _ics(body: bytes, filename: str, *, personal: bool) -> Response:
    return Response(body, media_type=calendar.CONTENT_TYPE, headers={
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "private, max-age=300" if personal else "public, max-age=300",
    })


@router.get("/events/{event_id}.ics")
def event_ics(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, event_id: str):
    event, topic = events.load(session, viewer, event_id)
    body = calendar.build(session, viewer, [(event, topic)], name=topic.title, base_url=settings.base_url)
    return _ics(body, f"event-{event.id}.ics", personal=not viewer.is_anonymous)


def _feed_viewer(request: Request, session, write, limiter, settings, scope: str):
    # Calendar subscriptions read like feeds: as a visitor, or as the owner of a personal feed token.
    from forum.web.feeds import feed_reader

    return feed_reader(request, session, write, limiter, settings, scope)


@router.get("/c/{slug}/{category_id}/events.ics")
def category_ics(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep,
                 settings: SettingsDep, slug: str, category_id: str):
    cid = parse_id(category_id)
    viewer, personal = _feed_viewer(request, session, write, limiter, settings, f"category:{cid}")
    category = reading.get_category(session, viewer, category_id)
    rows = events.for_calendar(session, viewer, category=category)
    body = calendar.build(session, viewer, rows, name=f"{category.name} – {settings.site_title}", base_url=settings.base_url)
    return _ics(body, f"{category.slug}-events.ics", personal=personal)


@router.get("/my/events.ics")
def my_ics(request: Request, session: SessionDep, write: WriteDep, limiter: LimiterDep, settings: SettingsDep):
    viewer, _personal = _feed_viewer(request, session, write, limiter, settings, "calendar")
    if viewer.user is None:
        raise NotFound()
    rows = events.for_calendar(session, viewer, going_user=viewer.user)
    # In the calendar owner's language, whoever's client fetches it.
    locale = request.app.state.renderer.languages(request).choose(profile=viewer.user.locale)
    name = translate(_("Events I'm going to – %(site)s", site=settings.site_title), translations(locale).gettext)
    body = calendar.build(session, viewer, rows, name=name, base_url=settings.base_url)
    return _ics(body, "my-events.ics", personal=True)


@router.get("/my/calendar")
def my_calendar(request: Request, session: SessionDep, viewer: UserViewerDep, settings: SettingsDep):
    return render(request, "events/calendar.html", {"secret": None, "base_url": settings.base_url,
                                                   "categories": reading.category_list(session, viewer)})


@router.post("/my/calendar")
def my_calendar_token(request: Request, session: SessionDep, write: WriteDep, viewer: UserViewerDep,
                      settings: SettingsDep):
    with write() as tx:
        made = feedtokens.create_feed_token(tx, viewer, scope="all", label=str(_("Calendar")))
    return render(request, "events/calendar.html", {"secret": made.secret, "base_url": settings.base_url,
                                                   "categories": reading.category_list(session, viewer)})


# --- the reader's time zone -------------------------------------------------------------------

@router.post("/my/timezone")
def set_timezone(request: Request, write: WriteDep, viewer: UserViewerDep, timezone: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "/"):
    with write() as tx:
        user = tx.get(User, viewer.id)
        timezones.set_user_zone(user, timezone)
        viewer.user.timezone = user.timezone
    return see_other(safe_next(next))
