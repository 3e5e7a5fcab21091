"""uploads: files attached to posts, and the posts that refer to them

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("extension", sa.String(length=10), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("filesize", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("optimized_width", sa.Integer(), nullable=True),
        sa.Column("optimized_height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_uploads_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("sha1", name=op.f("uq_uploads_sha1")),
    )
    op.create_index("ix_uploads_user_created", "uploads", ["user_id", "created_at"], unique=False)
    op.create_table(
        "post_uploads",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_post_uploads_post_id_posts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], name=op.f("fk_post_uploads_upload_id_uploads"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "upload_id", name=op.f("pk_post_uploads")),
    )
    op.create_index("ix_post_uploads_upload", "post_uploads", ["upload_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_post_uploads_upload", table_name="post_uploads")
    op.drop_table("post_uploads")
    op.drop_index("ix_uploads_user_created", table_name="uploads")
    op.drop_table("uploads")
