"""Running Alembic migrations from code (`forum migrate`, `forum serve`, the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from forum import MIGRATIONS_DIR, ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging"] = True
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
    refresh_statistics(database_url)


def refresh_statistics(database_url: str) -> None:
    """Give the query planner table statistics; without them SQLite picks poor indexes for topic lists."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                # PRAGMA optimize leaves a database that was never analysed without statistics, so
                # analyse every table, sampling at most a thousand rows per index to stay fast.
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
