"""tags: tags and tag groups, the categories that allow them, the topics that carry them, and who
watches them

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "tag_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_tag_groups_name")),
    )
    op.create_table(
        "tag_group_memberships",
        sa.Column("tag_group_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        _fk("tag_group_memberships", "tag_group_id", "tag_groups"),
        _fk("tag_group_memberships", "tag_id", "tags"),
        sa.PrimaryKeyConstraint("tag_group_id", "tag_id", name=op.f("pk_tag_group_memberships")),
    )
    op.create_table(
        "category_tags",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        _fk("category_tags", "category_id", "categories"),
        _fk("category_tags", "tag_id", "tags"),
        sa.PrimaryKeyConstraint("category_id", "tag_id", name=op.f("pk_category_tags")),
    )
    op.create_table(
        "category_tag_groups",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("tag_group_id", sa.Integer(), nullable=False),
        _fk("category_tag_groups", "category_id", "categories"),
        _fk("category_tag_groups", "tag_group_id", "tag_groups"),
        sa.PrimaryKeyConstraint("category_id", "tag_group_id", name=op.f("pk_category_tag_groups")),
    )
    op.create_table(
        "topic_tags",
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("topic_tags", "topic_id", "topics"),
        _fk("topic_tags", "tag_id", "tags"),
        sa.PrimaryKeyConstraint("topic_id", "tag_id", name=op.f("pk_topic_tags")),
    )
    op.create_index("ix_topic_tags_tag", "topic_tags", ["tag_id", "topic_id"], unique=False)
    op.create_table(
        "tag_users",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("notification_level", sa.SmallInteger(), nullable=False),
        _fk("tag_users", "user_id", "users"),
        _fk("tag_users", "tag_id", "tags"),
        sa.PrimaryKeyConstraint("user_id", "tag_id", name=op.f("pk_tag_users")),
    )
    op.create_index("ix_tag_users_tag_level", "tag_users", ["tag_id", "notification_level"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tag_users_tag_level", table_name="tag_users")
    op.drop_table("tag_users")
    op.drop_index("ix_topic_tags_tag", table_name="topic_tags")
    op.drop_table("topic_tags")
    op.drop_table("category_tag_groups")
    op.drop_table("category_tags")
    op.drop_table("tag_group_memberships")
    op.drop_table("tag_groups")
    op.drop_table("tags")
