"""private messages: topics with archetype "private_message" and no category, the people and groups
allowed in each, groups (with the built-in `moderators`), and a setting to refuse messages

Revision ID: 0020
Revises: 0019
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("topics") as batch:
        batch.add_column(sa.Column("archetype", sa.String(length=20), nullable=False, server_default="regular"))
        batch.alter_column("category_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("user_options") as batch:
        batch.add_column(sa.Column("allow_private_messages", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    groups = op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("name_lower", sa.String(length=40), nullable=False),
        sa.Column("full_name", sa.String(length=100), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("messageable_level", sa.String(length=10), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("name_lower", name=op.f("uq_groups_name_lower")),
    )
    op.create_table(
        "group_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_group_users_group_id_groups"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_group_users_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_users")),
        sa.UniqueConstraint("group_id", "user_id", name="uq_group_users_group_user"),
    )
    op.create_index("ix_group_users_user", "group_users", ["user_id"])
    op.create_table(
        "topic_allowed_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_topic_allowed_users_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_topic_allowed_users_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_allowed_users")),
        sa.UniqueConstraint("topic_id", "user_id", name="uq_topic_allowed_users_topic_user"),
    )
    op.create_index("ix_topic_allowed_users_user", "topic_allowed_users", ["user_id", "topic_id"])
    op.create_table(
        "topic_allowed_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_topic_allowed_groups_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_topic_allowed_groups_group_id_groups"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_allowed_groups")),
        sa.UniqueConstraint("topic_id", "group_id", name="uq_topic_allowed_groups_topic_group"),
    )
    op.create_index("ix_topic_allowed_groups_group", "topic_allowed_groups", ["group_id", "topic_id"])
    op.bulk_insert(groups, [{"name": "moderators", "name_lower": "moderators", "full_name": "Moderators",
                             "visibility": "public", "messageable_level": "everyone", "automatic": True,
                             "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_index("ix_topic_allowed_groups_group", table_name="topic_allowed_groups")
    op.drop_table("topic_allowed_groups")
    op.drop_index("ix_topic_allowed_users_user", table_name="topic_allowed_users")
    op.drop_table("topic_allowed_users")
    op.drop_index("ix_group_users_user", table_name="group_users")
    op.drop_table("group_users")
    op.drop_table("groups")
    with op.batch_alter_table("user_options") as batch:
        batch.drop_column("allow_private_messages")
    op.execute("DELETE FROM topics WHERE category_id IS NULL")
    with op.batch_alter_table("topics") as batch:
        batch.alter_column("category_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("archetype")
