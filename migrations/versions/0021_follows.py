"""following people, and taking private messages from everyone, from people one follows, or from nobody

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_follows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("follower_id", sa.Integer(), nullable=False),
        sa.Column("followed_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("follower_id <> followed_id", name=op.f("ck_user_follows_not_self")),
        sa.ForeignKeyConstraint(["follower_id"], ["users.id"], name=op.f("fk_user_follows_follower_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["followed_id"], ["users.id"], name=op.f("fk_user_follows_followed_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_follows")),
        sa.UniqueConstraint("follower_id", "followed_id", name="uq_user_follows_pair"),
    )
    op.create_index("ix_user_follows_followed", "user_follows", ["followed_id"])
    with op.batch_alter_table("user_options") as batch:
        batch.add_column(sa.Column("messages_from", sa.String(10), nullable=False, server_default="everyone"))
    op.execute("UPDATE user_options SET messages_from = 'nobody' WHERE NOT allow_private_messages")
    with op.batch_alter_table("user_options") as batch:
        batch.drop_column("allow_private_messages")


def downgrade() -> None:
    with op.batch_alter_table("user_options") as batch:
        batch.add_column(sa.Column("allow_private_messages", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.execute("UPDATE user_options SET allow_private_messages = (messages_from = 'everyone')")
    with op.batch_alter_table("user_options") as batch:
        batch.drop_column("messages_from")
    op.drop_index("ix_user_follows_followed", table_name="user_follows")
    op.drop_table("user_follows")
