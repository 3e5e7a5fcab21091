"""notifications read tracking and search

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# SQLite: an external-content FTS5 table over search_documents, kept in step by triggers, so that a
# row written, changed or deleted (also by ON DELETE CASCADE) changes the index in the same transaction.
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(title_terms, body_terms, content='search_documents', "
    "content_rowid='post_id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts(rowid, title_terms, body_terms) VALUES (new.post_id, new.title_terms, new.body_terms); END",
    "CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title_terms, body_terms) "
    "VALUES ('delete', old.post_id, old.title_terms, old.body_terms); END",
    "CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, title_terms, body_terms) "
    "VALUES ('delete', old.post_id, old.title_terms, old.body_terms); "
    "INSERT INTO search_fts(rowid, title_terms, body_terms) VALUES (new.post_id, new.title_terms, new.body_terms); END",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seen_by_count", sa.Integer(), nullable=False, server_default="0"))

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("post_number", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("high_priority", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_notifications_actor_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_notifications_post_id_posts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_notifications_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_user_read", "notifications", ["user_id", "read", "id"], unique=False)
    op.create_index("ix_notifications_user_topic", "notifications", ["user_id", "topic_id"], unique=False)

    op.create_table(
        "topic_users",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("last_read_post_number", sa.Integer(), nullable=False),
        sa.Column("notification_level", sa.SmallInteger(), nullable=True),
        sa.Column("first_visited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_visited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_topic_users_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_topic_users_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "topic_id", name=op.f("pk_topic_users")),
    )
    op.create_index("ix_topic_users_topic_level", "topic_users", ["topic_id", "notification_level"], unique=False)

    op.create_table(
        "category_users",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("notification_level", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"],
                                name=op.f("fk_category_users_category_id_categories"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_category_users_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "category_id", name=op.f("pk_category_users")),
    )
    op.create_index("ix_category_users_category_level", "category_users", ["category_id", "notification_level"],
                    unique=False)

    op.create_table(
        "user_options",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email_notifications", sa.String(length=10), nullable=False),
        sa.Column("email_digest", sa.String(length=10), nullable=False),
        sa.Column("digest_hour", sa.SmallInteger(), nullable=False),
        sa.Column("digest_weekday", sa.SmallInteger(), nullable=False),
        sa.Column("next_digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_options_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_options")),
    )
    op.create_index(op.f("ix_user_options_next_digest_at"), "user_options", ["next_digest_at"], unique=False)
    # Accounts made before addresses were confirmed keep getting email: treat their addresses as confirmed.
    op.execute("INSERT INTO user_options (user_id, email_notifications, email_digest, digest_hour, digest_weekday, "
               "email_confirmed_at) SELECT id, 'immediate', 'none', 8, 0, created_at FROM users "
               "WHERE email IS NOT NULL")

    op.create_table(
        "email_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_email_tokens_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_tokens_token_hash")),
    )
    op.create_index(op.f("ix_email_tokens_user_id"), "email_tokens", ["user_id"], unique=False)

    op.create_table(
        "topic_view_marks",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_topic_view_marks")),
    )
    op.create_index(op.f("ix_topic_view_marks_viewed_at"), "topic_view_marks", ["viewed_at"], unique=False)

    op.create_table(
        "search_documents",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("title_terms", sa.Text(), nullable=False),
        sa.Column("body_terms", sa.Text(), nullable=False),
        sa.Column("tsv", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name=op.f("fk_search_documents_post_id_posts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"], name=op.f("fk_search_documents_topic_id_topics"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_search_documents")),
    )
    op.create_index(op.f("ix_search_documents_topic_id"), "search_documents", ["topic_id"], unique=False)
    if dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)")

    # Index the posts already written.
    from forum import search

    search.backfill(op.get_bind())


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("search_documents_ai", "search_documents_ad", "search_documents_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_documents_tsv")
    op.drop_index(op.f("ix_search_documents_topic_id"), table_name="search_documents")
    op.drop_table("search_documents")
    op.drop_index(op.f("ix_topic_view_marks_viewed_at"), table_name="topic_view_marks")
    op.drop_table("topic_view_marks")
    op.drop_index(op.f("ix_email_tokens_user_id"), table_name="email_tokens")
    op.drop_table("email_tokens")
    op.drop_index(op.f("ix_user_options_next_digest_at"), table_name="user_options")
    op.drop_table("user_options")
    op.drop_index("ix_category_users_category_level", table_name="category_users")
    op.drop_table("category_users")
    op.drop_index("ix_topic_users_topic_level", table_name="topic_users")
    op.drop_table("topic_users")
    op.drop_index("ix_notifications_user_topic", table_name="notifications")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.drop_column("seen_by_count")
