"""Discourse's sign-up honeypot: `/session/hp.json` hands out a challenge, `POST /users` must echo it back.

Clients send `password_confirmation = value` and `challenge = reversed(challenge)`. The pair is
signed rather than stored, so every process can check it and nothing needs cleaning up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

EXPIRES_IN = 300


def _value_for(secret_key: str, challenge: str) -> str:
    return hmac.new(secret_key.encode(), f"honeypot:{challenge}".encode(), hashlib.sha256).hexdigest()[:32]


def new_challenge(secret_key: str, now: float | None = None) -> dict:
    issued = int(now if now is not None else time.time())
    challenge = f"{secrets.token_hex(16)}{issued:x}"
    return {"value": _value_for(secret_key, challenge), "challenge": challenge, "expires_in": EXPIRES_IN}


def passes(secret_key: str, password_confirmation: str | None, reversed_challenge: str | None,
           now: float | None = None) -> bool:
    if not password_confirmation or not reversed_challenge or len(reversed_challenge) > 100:
        return False
    challenge = reversed_challenge[::-1]
    if not hmac.compare_digest(_value_for(secret_key, challenge), password_confirmation):
        return False
    try:
        issued = int(challenge[32:], 16)
    except ValueError:
        return False
    return (now if now is not None else time.time()) - issued <= EXPIRES_IN
