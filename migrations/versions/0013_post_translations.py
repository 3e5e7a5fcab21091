"""post translations: members' translations of a post into other languages

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "post_translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("cooked", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("like_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_post_translations_post_id_posts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_post_translations_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_translations")),
        sa.UniqueConstraint("post_id", "language", name="uq_post_translations_language"),
    )
    op.create_index(op.f("ix_post_translations_post_id"), "post_translations", ["post_id"], unique=False)
    op.create_table(
        "post_translation_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("translation_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["translation_id"], ["post_translations.id"],
                                name=op.f("fk_post_translation_revisions_translation_id_post_translations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_post_translation_revisions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_translation_revisions")),
        sa.UniqueConstraint("translation_id", "number", name="uq_post_translation_revisions_number"),
    )
    op.create_table(
        "post_translation_likes",
        sa.Column("translation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["translation_id"], ["post_translations.id"],
                                name=op.f("fk_post_translation_likes_translation_id_post_translations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_post_translation_likes_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("translation_id", "user_id", name=op.f("pk_post_translation_likes")),
    )


def downgrade() -> None:
    op.drop_table("post_translation_likes")
    op.drop_table("post_translation_revisions")
    op.drop_index(op.f("ix_post_translations_post_id"), table_name="post_translations")
    op.drop_table("post_translations")
