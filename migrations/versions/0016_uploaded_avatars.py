"""uploaded avatars: a picture a person uploaded, shown instead of their letter avatar

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("uploaded_avatar_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_users_uploaded_avatar_id_uploads"), "uploads", ["uploaded_avatar_id"],
                                 ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("fk_users_uploaded_avatar_id_uploads"), type_="foreignkey")
        batch.drop_column("uploaded_avatar_id")
