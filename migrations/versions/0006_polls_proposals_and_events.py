"""polls proposals and events

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("min_choices", sa.Integer(), nullable=True),
        sa.Column("max_choices", sa.Integer(), nullable=True),
        sa.Column("results", sa.String(length=16), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        _ts("close_at", True),
        _ts("closed_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_polls_post_id_posts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
        sa.UniqueConstraint("post_id", "name", name="uq_polls_post_name"),
    )
    op.create_table(
        "poll_options",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], name=op.f("fk_poll_options_poll_id_polls"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_options")),
        sa.UniqueConstraint("poll_id", "digest", name="uq_poll_options_poll_digest"),
    )
    op.create_index("ix_poll_options_poll", "poll_options", ["poll_id", "position"], unique=False)
    op.create_table(
        "poll_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["option_id"], ["poll_options.id"], name=op.f("fk_poll_votes_option_id_poll_options"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], name=op.f("fk_poll_votes_poll_id_polls"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_poll_votes_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_votes")),
        sa.UniqueConstraint("poll_id", "user_id", "option_id", name="uq_poll_votes_once"),
    )
    op.create_index("ix_poll_votes_option", "poll_votes", ["option_id"], unique=False)
    op.create_index("ix_poll_votes_user", "poll_votes", ["user_id"], unique=False)
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _ts("closes_at"),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("quorum_percent", sa.SmallInteger(), nullable=True),
        _ts("closed_at", True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("eligible_count", sa.Integer(), nullable=True),
        sa.Column("responded_count", sa.Integer(), nullable=True),
        sa.Column("quorum_met", sa.Boolean(), nullable=True),
        sa.Column("final_tally", sa.Text(), nullable=False),
        sa.Column("outcome_post_id", sa.Integer(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["closed_by_id"], ["users.id"], name=op.f("fk_proposals_closed_by_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outcome_post_id"], ["posts.id"], name=op.f("fk_proposals_outcome_post_id_posts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_proposals_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
        sa.UniqueConstraint("topic_id", name=op.f("uq_proposals_topic_id")),
    )
    op.create_table(
        "proposal_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"],
                                name=op.f("fk_proposal_positions_proposal_id_proposals"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_proposal_positions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_positions")),
        sa.UniqueConstraint("proposal_id", "user_id", name="uq_proposal_positions_once"),
    )
    op.create_index("ix_proposal_positions_user", "proposal_positions", ["user_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        _ts("starts_at"),
        _ts("ends_at", True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=False),
        sa.Column("online_url", sa.String(length=500), nullable=False),
        _ts("cancelled_at", True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_events_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("topic_id", name=op.f("uq_events_topic_id")),
    )
    op.create_index("ix_events_starts", "events", ["starts_at"], unique=False)
    op.create_table(
        "event_rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_event_rsvps_event_id_events"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_event_rsvps_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_rsvps")),
        sa.UniqueConstraint("event_id", "user_id", name="uq_event_rsvps_once"),
    )
    op.create_index("ix_event_rsvps_user", "event_rsvps", ["user_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_rsvps_user", table_name="event_rsvps")
    op.drop_table("event_rsvps")
    op.drop_index("ix_events_starts", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_proposal_positions_user", table_name="proposal_positions")
    op.drop_table("proposal_positions")
    op.drop_table("proposals")
    op.drop_index("ix_poll_votes_user", table_name="poll_votes")
    op.drop_index("ix_poll_votes_option", table_name="poll_votes")
    op.drop_table("poll_votes")
    op.drop_index("ix_poll_options_poll", table_name="poll_options")
    op.drop_table("poll_options")
    op.drop_table("polls")
