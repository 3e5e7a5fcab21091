"""API test helpers: keys made through the service, headers the way Discourse clients send them."""

import pytest

from forum import apikeys
from forum.permissions import Viewer

JSON = "application/json; charset=utf-8"


@pytest.fixture
def make_key(db, staff):
    """An API key for one user (`for_user`) or, with none, for all users; returns the secret."""

    def make(for_user=None, description: str = "test key") -> str:
        with db.write() as s:
            return apikeys.create_api_key(s, Viewer(staff), description=description,
                                          username=for_user.username if for_user else None).secret

    return make


@pytest.fixture
def as_user(make_key):
    """Headers that act as `user` through a key of their own."""

    def headers(user, **extra) -> dict[str, str]:
        return {"Api-Key": make_key(user), "Api-Username": user.username, "Accept": JSON, **extra}

    return headers


def errors_of(response) -> list[str]:
    body = response.json()
    assert isinstance(body["errors"], list) and body["errors"] and all(isinstance(e, str) for e in body["errors"])
    return body["errors"]
