"""Polls, proposals and events in the JSON API, shaped the way Discourse clients know them.

Posts carry Discourse's poll plugin fields: `polls` (the poll as this viewer may see it: vote counts
only when its results are visible, voters' names only when it is public) and `polls_votes` (the
viewer's own choices, nobody else's). The first post of an event topic carries `event`, after the
discourse-calendar plugin; a proposal topic carries a top-level `proposal`. The same views the
pages render are used, so the API shows exactly what the page shows this viewer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from forum import accounts, events, polls, proposals, timezones, urls
from forum.api.serializers import basic_user, iso
from forum.i18n import translations
from forum.models import Post, Topic, User
from forum.permissions import Viewer

# Discourse's poll plugin calls a ranked poll "ranked_choice".
POLL_TYPES = {"regular": "regular", "multiple": "multiple", "number": "number", "ranked": "ranked_choice"}


def _labelled(viewer: Viewer, value: datetime | None, organiser_zone: str) -> str | None:
    """ "Mon 14 Dec 2026, 15:00 London (GMT) · 16:00 your time (Paris, CET)": never a bare time."""
    if value is None:
        return None
    user = viewer.user
    locale = (user.locale if user is not None else None) or "en"
    zone = user.timezone if user is not None else None
    return timezones.describe(value, organiser_zone, zone, translations(locale).gettext, locale)


# --- polls ------------------------------------------------------------------------------------

def _poll(view: polls.PollView, users: dict[str, User]) -> dict[str, Any]:
    poll = view.poll
    data: dict[str, Any] = {
        "id": poll.id, "name": poll.name, "type": POLL_TYPES.get(poll.type, poll.type),
        "status": "closed" if view.closed else "open", "public": poll.public, "results": poll.results,
        "title": poll.title or None, "chart_type": "bar", "close": iso(view.close_at),
        "can_vote": view.can_vote,
    }
    if poll.type in ("multiple", "ranked"):
        data.update(min=poll.min_choices, max=poll.max_choices)
    elif poll.type == "number" and view.options:
        numbers = [int(r.option.label) for r in view.options]
        data.update(min=numbers[0], max=numbers[-1], step=numbers[1] - numbers[0] if len(numbers) > 1 else 1)
    options = []
    for result in view.options:
        option: dict[str, Any] = {"id": result.option.digest, "html": result.option.html}
        if view.results_visible:
            option["votes"] = result.votes
            if poll.type == "ranked":
                option.update(points=result.points, first_places=result.first_places)
        options.append(option)
    data["options"] = options
    if view.results_visible:
        data["voters"] = view.voters
        if view.average is not None:
            data["average"] = view.average
        if poll.public:
            data["preloaded_voters"] = {
                r.option.digest: [basic_user(users[n]) for n in r.voters if n in users] for r in view.options}
    return data


def _my_votes(view: polls.PollView) -> list:
    if view.poll.type == "ranked":
        mine = sorted((r for r in view.options if r.my_rank is not None), key=lambda r: r.my_rank or 0)
        return [{"digest": r.option.digest, "rank": r.my_rank} for r in mine]
    return [r.option.digest for r in view.options if r.mine]


def add_to_posts(session: Session, viewer: Viewer, topic: Topic, posts: list[Post], data: list[dict]) -> None:
    """Put `polls`, `polls_votes` and (on the first post) `event` into already serialised posts."""
    views = polls.views_for_posts(session, viewer, topic, posts)
    names = {n for by_name in views.values() for v in by_name.values() if v.poll.public and v.results_visible
             for r in v.options for n in r.voters}
    first = next((p for p in posts if p.post_number == 1), None)
    event_data = event_json(session, viewer, topic, first.id) if first is not None else None
    users = accounts.users_named(session, names)
    for post, item in zip(posts, data, strict=True):
        by_name = views.get(post.id)
        if by_name:
            item["polls"] = [_poll(v, users) for v in by_name.values()]
            votes = {name: _my_votes(v) for name, v in by_name.items() if v.voted}
            if votes:
                item["polls_votes"] = votes
        if post.post_number == 1 and event_data is not None:
            item["event"] = event_data


# --- events -----------------------------------------------------------------------------------

def event_json(session: Session, viewer: Viewer, topic: Topic, first_post_id: int | None = None
               ) -> dict[str, Any] | None:
    view = events.view(session, viewer, topic)
    if view is None:
        return None
    e = view.event
    sample: list[dict[str, Any]] = []
    if view.names is not None:
        users = accounts.users_named(session, {n for names in view.names.values() for n in names})
        sample = [{"status": status, "user": basic_user(users[n])}
                  for status, names in view.names.items() for n in names if n in users]
    return {
        "id": e.id, "name": topic.title, "category_id": topic.category_id,
        "post": {"id": first_post_id, "post_number": 1, "url": urls.topic_url(topic)},
        "starts_at": iso(e.starts_at), "ends_at": iso(e.ends_at), "timezone": e.timezone,
        "starts_at_text": _labelled(viewer, e.starts_at, e.timezone),
        "ends_at_text": _labelled(viewer, e.ends_at, e.timezone),
        "location": e.location or None, "url": e.online_url or None, "status": "public",
        "is_expired": view.over, "is_cancelled": e.cancelled_at is not None, "cancelled_at": iso(e.cancelled_at),
        "sequence": e.sequence, "ics_url": urls.event_ics_url(e.id),
        "stats": {"going": view.counts["going"], "interested": view.counts["interested"],
                  "not_going": view.counts["not_going"]},
        "should_display_invitees": view.names is not None, "sample_invitees": sample,
        "watching_invitee": {"status": view.mine} if view.mine else None,
        "can_update_attendance": view.can_rsvp, "can_act_on_discourse_post_event": view.can_edit,
    }


# --- proposals --------------------------------------------------------------------------------

def _position(row: proposals.PositionRow) -> dict[str, Any]:
    return {"username": row.username, "name": row.name or None, "position": row.position,
            "reason": row.reason or None}


def proposal_json(session: Session, viewer: Viewer, topic: Topic) -> dict[str, Any] | None:
    view = proposals.view(session, viewer, topic)
    if view is None:
        return None
    pr, out = view.proposal, view.turnout
    data: dict[str, Any] = {
        "id": pr.id, "kind": pr.kind, "status": "closed" if view.closed else "open",
        "closes_at": iso(pr.closes_at), "timezone": pr.timezone,
        "closes_at_text": _labelled(viewer, pr.closes_at, pr.timezone),
        "closed_at": iso(pr.closed_at), "closed_at_text": _labelled(viewer, pr.closed_at, pr.timezone),
        "eligible_count": out.eligible, "responded_count": out.responded,
        "quorum_percent": pr.quorum_percent, "quorum_needed": out.needed,
        # Decided once the proposal has closed (None while open, or without a quorum).
        "quorum_met": pr.quorum_met if pr.closed_at is not None else None,
        "not_responded": view.waiting, "can_respond": view.can_respond, "can_manage": view.can_manage,
        "can_write_outcome": view.can_write_outcome,
        "outcome_post_number": view.outcome.post_number if view.outcome is not None else None,
    }
    if pr.kind == "consent":
        data.update(
            tally=view.counts, positions=[_position(r) for r in view.positions],
            blocks=[_position(r) for r in view.blocks],
            my_position={"position": view.mine.position, "reason": view.mine.reason or None} if view.mine else None,
        )
    else:
        data["poll_name"] = proposals.DECISION_POLL
    return data
