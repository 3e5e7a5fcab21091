"""State every process must share, kept in the database: the secret key."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from forum import accounts
from forum.db import Database


def secret_key(db: Database) -> str:
    """The site's secret key, generated on first start and kept; racing processes agree on one."""
    with db.read() as session:
        key = accounts.get_site_value(session, "secret_key")
    if key:
        return key
    try:
        with db.write() as session:
            key = accounts.get_site_value(session, "secret_key")
            if not key:
                key = secrets.token_hex(32)
                accounts.set_site_value(session, "secret_key", key)
            return key
    except IntegrityError:
        with db.read() as session:
            key = accounts.get_site_value(session, "secret_key")
            assert key
            return key
