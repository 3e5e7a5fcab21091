"""Passwords, session tokens and CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION
from itsdangerous import BadSignature

from forum import signing

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def _unmatchable_hash(hasher: PasswordHasher) -> str:
    """A hash with the hasher's parameters that no password matches: verifying it takes as long as
    verifying a real one. Random bytes in the encoded form, rather than a password hashed at import,
    which cost each process 0.1 s at start."""
    def b64(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).decode().rstrip("=")

    return (f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}$m={hasher.memory_cost},t={hasher.time_cost},"
            f"p={hasher.parallelism}${b64(hasher.salt_len)}${b64(hasher.hash_len)}")


# Verified when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _unmatchable_hash(_hasher)

SESSION_COOKIE = "_t"
ANON_CSRF_COOKIE = "_csrf"
# Set by static/notify.js: posts count as read as they scroll into view, not by page views.
JS_COOKIE = "forum_js"
# The language a visitor chose in the footer's switcher (members keep theirs in their profile).
LOCALE_COOKIE = "forum_locale"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A form or page left open longer than this is refused; the refusal keeps what was typed, and the
# page it comes back on carries a fresh token.
CSRF_MAX_AGE = 7 * 24 * 60 * 60


def _csrf_value(binding: str) -> str:
    # The token names its session by a digest: the binding itself is the session's secret.
    return hashlib.sha256(f"csrf:{binding}".encode()).hexdigest()[:32]


def csrf_token_for(secret_keys: signing.Keys, binding: str) -> str:
    """The CSRF token for a session (or an anonymous visitor's cookie), signed and dated."""
    return signing.timed_signer(secret_keys, signing.CSRF).sign(_csrf_value(binding)).decode("ascii")


def csrf_valid(secret_keys: signing.Keys, binding: str | None, given: str | None,
               max_age: int = CSRF_MAX_AGE) -> bool:
    if not binding or not given:
        return False
    try:
        value = signing.timed_signer(secret_keys, signing.CSRF).unsign(given, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return False
    return hmac.compare_digest(value, _csrf_value(binding).encode())
