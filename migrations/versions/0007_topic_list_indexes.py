"""topic list indexes

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.create_index("ix_topics_global_stream", ["pinned_globally", sa.literal_column("bumped_at DESC"),
                                                          sa.literal_column("id DESC")], unique=False)
        batch_op.create_index("ix_topics_category_stream", ["category_id", "pinned",
                                                            sa.literal_column("bumped_at DESC"),
                                                            sa.literal_column("id DESC")], unique=False)
        batch_op.create_index("ix_topics_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.drop_index("ix_topics_created")
        batch_op.drop_index("ix_topics_category_stream")
        batch_op.drop_index("ix_topics_global_stream")
