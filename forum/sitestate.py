"""State every process must share, kept in the database: the secret key, and the retired ones.

Retired keys still verify what they signed (forum/signing.py) until they are dropped; a process
reads the keys when it starts, so every process is restarted after a rotation.
"""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from forum import accounts
from forum.db import Database

RETIRED = "old_secret_keys"
# How many retired keys a rotation keeps by default: links signed two rotations ago still work.
KEEP_RETIRED = 2


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


def retired_keys(session) -> list[str]:
    """Keys that signed values before the last rotations, newest first."""
    return (accounts.get_site_value(session, RETIRED) or "").split()


def secret_keys(db: Database) -> tuple[str, ...]:
    """Every key that may verify a signature, newest (the signing key) first."""
    current = secret_key(db)
    with db.read() as session:
        return (current, *[k for k in retired_keys(session) if k != current])


def rotate_secret_key(db: Database, keep: int = KEEP_RETIRED) -> tuple[str, ...]:
    """Sign with a new key from now on; the current key joins the `keep` newest retired ones."""
    current = secret_key(db)
    with db.write() as session:
        retired = [current, *[k for k in retired_keys(session) if k != current]][:max(keep, 0)]
        accounts.set_site_value(session, "secret_key", secrets.token_hex(32))
        accounts.set_site_value(session, RETIRED, " ".join(retired) or None)
    return secret_keys(db)
