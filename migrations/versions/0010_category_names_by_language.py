"""category names by language: a category's name and description in the languages the site offers

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # {"es": {"name": "...", "description": "..."}, ...}; NULL: the name and description serve every language.
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("localized", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("localized")
