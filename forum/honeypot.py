"""Discourse's sign-up honeypot: `/session/hp.json` hands out a challenge, `POST /users` must echo it back.

Clients send `password_confirmation = value` and `challenge = reversed(challenge)`. The value is the
challenge signed and dated (forum/signing.py) rather than stored, so every process can check it and
nothing needs cleaning up.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature

from forum import signing

EXPIRES_IN = 300


def new_challenge(secret_keys: signing.Keys) -> dict:
    challenge = secrets.token_hex(16)
    value = signing.timed_signer(secret_keys, signing.HONEYPOT).sign(challenge).decode("ascii")
    return {"value": value, "challenge": challenge, "expires_in": EXPIRES_IN}


def passes(secret_keys: signing.Keys, password_confirmation: str | None, reversed_challenge: str | None) -> bool:
    if not password_confirmation or not reversed_challenge or len(reversed_challenge) > 100:
        return False
    try:
        signed = signing.timed_signer(secret_keys, signing.HONEYPOT).unsign(password_confirmation,
                                                                           max_age=EXPIRES_IN)
    except BadSignature:  # also SignatureExpired
        return False
    return hmac.compare_digest(signed, reversed_challenge[::-1].encode())
