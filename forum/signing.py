"""Signed values (itsdangerous): one salt per purpose, and key rotation.

The site's secret key is generated on first start and kept in the database (forum/sitestate.py).
`forum rotate-secret-key` makes a new one and keeps the previous ones as retired keys: values are
signed with the newest key only, and checked against every key still kept, so a rotation does not
break the links and forms already out there until their key is dropped.

Every caller passes its keys newest first; itsdangerous wants them oldest first (it signs with the
last), which is why no other module builds a signer itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import BadSignature, Signer, TimestampSigner

# One salt per purpose, so a value signed for one use is never accepted for another.
CSRF = "forum.csrf"
UNSUBSCRIBE = "forum.unsubscribe"
HONEYPOT = "forum.honeypot"

Keys = str | Sequence[str]


def _oldest_first(keys: Keys) -> list[str]:
    if isinstance(keys, str):
        return [keys]
    if not keys:
        raise ValueError("no secret key to sign with")
    return list(reversed(keys))


def signer(keys: Keys, purpose: str) -> Signer:
    return Signer(_oldest_first(keys), salt=purpose, digest_method=hashlib.sha256)


def timed_signer(keys: Keys, purpose: str) -> TimestampSigner:
    return TimestampSigner(_oldest_first(keys), salt=purpose, digest_method=hashlib.sha256)


def signature(keys: Keys, purpose: str, value: str) -> str:
    """The bare signature of `value` (URL-safe), for URLs that carry the value in other segments."""
    return signer(keys, purpose).get_signature(value).decode("ascii")


def signature_valid(keys: Keys, purpose: str, value: str, given: str) -> bool:
    try:
        return signer(keys, purpose).verify_signature(value, given.encode("ascii"))
    except (BadSignature, UnicodeEncodeError):
        return False
