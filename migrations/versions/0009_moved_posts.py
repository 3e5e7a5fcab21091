"""moved posts: where the posts of a merged topic went

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moved_posts",
        sa.Column("old_topic_id", sa.Integer(), nullable=False),
        sa.Column("old_post_number", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_moved_posts_post_id_posts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("old_topic_id", "old_post_number", name=op.f("pk_moved_posts")),
    )
    op.create_index("ix_moved_posts_post", "moved_posts", ["post_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_moved_posts_post", table_name="moved_posts")
    op.drop_table("moved_posts")
