"""Deciding and meeting: polls in posts, proposals, and events with RSVPs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forum.models.base import Base, utcnow

POLL_TYPES = ("regular", "multiple", "number", "ranked")
POLL_RESULTS = ("always", "on_vote", "on_close", "staff_only")
PROPOSAL_KINDS = ("consent", "choice", "ranked")
POSITIONS = ("agree", "abstain", "disagree", "block")
RSVP_STATUSES = ("going", "interested", "not_going")


class Poll(Base):
    """A `[poll]` block of a post, kept in step with the post's markdown by forum/polls.py."""

    __tablename__ = "polls"
    __table_args__ = (UniqueConstraint("post_id", "name", name="uq_polls_post_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64), default="poll")
    type: Mapped[str] = mapped_column(String(16), default="regular")
    title: Mapped[str] = mapped_column(Text, default="")
    min_choices: Mapped[int | None] = mapped_column(Integer)
    max_choices: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[str] = mapped_column(String(16), default="always")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # close_at comes from the markdown; closed_at is set when someone (or a proposal) closes it.
    close_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def is_closed(self, now: datetime) -> bool:
        return self.closed_at is not None or (self.close_at is not None and self.close_at <= now)


class PollOption(Base):
    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "digest", name="uq_poll_options_poll_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(Text)  # the option's markdown
    html: Mapped[str] = mapped_column(Text)  # the option as cooked in the post


class PollVote(Base):
    """One chosen option of one voter; ranked polls also record the option's rank (1 = first)."""

    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("poll_id", "user_id", "option_id", name="uq_poll_votes_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rank: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Proposal(Base):
    """A topic that asks for a decision by a closing time.

    `consent` proposals take positions (agree / abstain / disagree / block); `choice` and `ranked`
    ones decide through the poll named "decision" in their first post.
    """

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="consent")
    closes_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # the author's, for showing the time
    quorum_percent: Mapped[int | None] = mapped_column(SmallInteger)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The count at closing time, kept because eligibility changes later.
    eligible_count: Mapped[int | None] = mapped_column(Integer)
    responded_count: Mapped[int | None] = mapped_column(Integer)
    quorum_met: Mapped[bool | None] = mapped_column(Boolean)
    final_tally: Mapped[str] = mapped_column(Text, default="")  # JSON, written when it closes
    outcome_post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalPosition(Base):
    __tablename__ = "proposal_positions"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id", name="uq_proposal_positions_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    position: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """An event carried by a topic: a UTC start (and end) and the organiser's IANA zone."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), unique=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(255), default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    cancelled_at: Mapped[datetime | None]
    # iCalendar SEQUENCE: raised on every change, so calendar apps update instead of duplicating.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRsvp(Base):
    __tablename__ = "event_rsvps"
    __table_args__ = (UniqueConstraint("event_id", "user_id", name="uq_event_rsvps_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_poll_votes_option", PollVote.option_id)
Index("ix_poll_votes_user", PollVote.user_id)
Index("ix_poll_options_poll", PollOption.poll_id, PollOption.position)
Index("ix_proposal_positions_user", ProposalPosition.user_id)
Index("ix_events_starts", Event.starts_at)
Index("ix_event_rsvps_user", EventRsvp.user_id, EventRsvp.status)
