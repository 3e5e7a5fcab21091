"""bookmarks: a person's marks on posts and topics, with an optional name and a reminder in their zone

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("bookmarkable_type", sa.String(10), nullable=False),
        sa.Column("bookmarkable_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_zone", sa.String(64), nullable=True),
        sa.Column("reminder_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_delete_preference", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bookmarks_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
        sa.UniqueConstraint("user_id", "bookmarkable_type", "bookmarkable_id", name="uq_bookmarks_user_bookmarkable"),
    )
    op.create_index("ix_bookmarks_user_updated", "bookmarks", ["user_id", "updated_at"])
    op.create_index("ix_bookmarks_due", "bookmarks", ["reminder_at", "reminder_last_sent_at"])


def downgrade() -> None:
    op.drop_index("ix_bookmarks_due", table_name="bookmarks")
    op.drop_index("ix_bookmarks_user_updated", table_name="bookmarks")
    op.drop_table("bookmarks")
