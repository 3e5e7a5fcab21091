"""presence setting: whether others see "… is replying" while a person writes a reply

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_options") as batch:
        batch.add_column(sa.Column("hide_presence", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("user_options") as batch:
        batch.drop_column("hide_presence")
