"""moderation and invitations

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suspend_reason", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("silenced_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("silence_reason", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("invited_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_invited_by_id"), ["invited_by_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_users_invited_by_id_users"), "users", ["invited_by_id"], ["id"])

    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slow_mode_seconds", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("hidden_reason", sa.String(length=20), nullable=False, server_default=""))

    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("new_participant_post_interval", sa.Integer(), nullable=False,
                                      server_default="0"))

    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_moderation_log_actor_id_users")),
        sa.ForeignKeyConstraint(["target_user_id"], ["users.id"],
                                name=op.f("fk_moderation_log_target_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_log")),
    )
    op.create_index("ix_moderation_log_action", "moderation_log", ["action", "id"], unique=False)
    op.create_index("ix_moderation_log_actor", "moderation_log", ["actor_id", "id"], unique=False)
    op.create_index("ix_moderation_log_target_user", "moderation_log", ["target_user_id", "id"], unique=False)

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("flag_type", sa.SmallInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_flags_post_id_posts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reviewed_by_id"], ["users.id"], name=op.f("fk_flags_reviewed_by_id_users")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_flags_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
        sa.UniqueConstraint("post_id", "user_id", name="uq_flags_post_user"),
    )
    op.create_index("ix_flags_status_post", "flags", ["status", "post_id"], unique=False)
    op.create_index("ix_flags_user", "flags", ["user_id", "created_at"], unique=False)

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("email_domain", sa.String(length=254), nullable=True),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], name=op.f("fk_invitations_category_id_categories"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_invitations_created_by_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("code", name=op.f("uq_invitations_code")),
    )
    op.create_index("ix_invitations_created_by", "invitations", ["created_by_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_invitations_created_by", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_flags_user", table_name="flags")
    op.drop_index("ix_flags_status_post", table_name="flags")
    op.drop_table("flags")
    op.drop_index("ix_moderation_log_target_user", table_name="moderation_log")
    op.drop_index("ix_moderation_log_actor", table_name="moderation_log")
    op.drop_index("ix_moderation_log_action", table_name="moderation_log")
    op.drop_table("moderation_log")

    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("new_participant_post_interval")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("hidden_reason")
        batch_op.drop_column("hidden_at")
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.drop_column("slow_mode_seconds")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_invited_by_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_users_invited_by_id"))
        batch_op.drop_column("invited_by_id")
        batch_op.drop_column("silence_reason")
        batch_op.drop_column("silenced_until")
        batch_op.drop_column("suspend_reason")
        batch_op.drop_column("suspended_until")
        batch_op.drop_column("approved")
