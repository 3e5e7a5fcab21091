"""Every operation of Discourse's own API description that the forum answers, checked as a strictly
typed client would check it: called the way the documentation says (Api-Key/Api-Username headers,
Discourse's request body), answered with the documented status, and with a body that carries every
field the documented schema requires, each of the documented type.

The description is Discourse's `openapi.json` (tests/discourse_openapi/, MIT). Which operations the
forum implements is discovered from the app's routes, so an operation added later is checked without
touching this file; the ones it does not implement are listed below, and checked to answer 404.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import FormatChecker
from openapi_schema_validator import OAS31Validator
from starlette.routing import Match

from forum import accounts, apikeys, categories, posting, tracking
from forum import tags as forum_tags
from forum.config import Settings
from forum.models import Topic
from forum.permissions import Viewer
from tests.conftest import PASSWORD, _empty_tables

SPEC = json.loads((Path(__file__).resolve().parent.parent / "discourse_openapi" / "openapi.json").read_text())
METHODS = ("get", "post", "put", "delete", "patch")
OPERATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    op["operationId"]: (method.upper(), path, op)
    for path, item in SPEC["paths"].items() for method, op in item.items() if method in METHODS
}

# What the forum does not offer, and why. Each of these must answer 404 (with Discourse's JSON error
# body), never a page, a form's refusal or a 500: a client then knows the feature is absent.
NOT_IMPLEMENTED = {
    # Calendar events come from the forum's own proposals and events, not the discourse-post-event plugin.
    "listEvents", "exportEventsICS",
    # Backups are an operator's job (database dumps), not an API.
    "getBackups", "createBackup", "sendDownloadBackupEmail", "downloadBackup",
    # No badges.
    "adminListBadges", "createBadge", "updateBadge", "deleteBadge", "listUserBadges",
    # Groups are the three tiers: they are neither created, deleted nor edited.
    "createGroup", "deleteGroup", "updateGroup", "getGroupById",
    # Groups are invited into a private message by POST /t/{id}/invite.json with group=, not this route.
    "inviteGroupToTopic",
    # No post locking, topic timers, back-dating or external ids.
    "lockPost", "createTopicTimer", "updateTopicTimestamp", "getTopicByExternalId",
    "getUserExternalId", "getUserIdentiyProviderExternalId",
    # Uploads go through the forum (each fetch is checked): no direct-to-store or multipart uploads.
    "generatePresignedPut", "completeExternalUpload", "createMultipartUpload",
    "batchPresignMultipartParts", "abortMultipart", "completeMultipart",
    # No e-mail list per user; usernames and addresses change on the forum's pages.
    "updateEmail", "updateUsername", "refreshGravatar", "getUserEmails",
    # Passwords are reset through the e-mailed page, not by API.
    "changePassword",
}

# Sample values for path parameters when discovering which operations the app routes: what a real
# client would put there (`external_id` is free text, not a topic id).
SAMPLE_PATH_VALUES = {"username": "someone", "name": "members", "flag": "active", "external_id": "ext-a1",
                      "provider": "oidc", "filename": "backup-2026.tar.gz", "token": "a1b2c3"}


def sample_path(path: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: SAMPLE_PATH_VALUES.get(m.group(1), "1"), path)


def route_contexts(app) -> list[tuple[Any, Callable]]:
    """The app's routes in the order requests are matched, each with its endpoint."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
        return [(r, getattr(r, "endpoint", None)) for r in app.routes]
    return [(rc.route, rc.endpoint) for rc in iter_route_contexts(app.router.routes)]


def endpoint_for(app, method: str, path: str) -> Callable | None:
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
    for route, endpoint in route_contexts(app):
        if route.matches(scope)[0] == Match.FULL:
            return endpoint
    return None


def is_api(endpoint: Callable | None) -> bool:
    return endpoint is not None and endpoint.__module__.startswith("forum.api.")


def implemented(app) -> set[str]:
    return {op_id for op_id, (method, path, _op) in OPERATIONS.items()
            if is_api(endpoint_for(app, method, sample_path(path)))}


# --- validation -------------------------------------------------------------------------------

def _open(schema: Any) -> Any:
    """The schema without `additionalProperties: false`: fields the forum adds (tiers, proposals) are
    extensions a client ignores; every documented field must still be there, with its type."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


# Where the document is wrong about Discourse itself (its examples had null where Discourse sends a
# number, or a string where it sends an object), the type Discourse really sends is accepted. The field
# must still be there. Keyed by operation ("*": all) and property name, wherever it appears.
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_BOOLEAN = {"type": ["boolean", "null"]}
TOPIC_LIST_ITEM = {"image_url": NULLABLE_STRING, "bookmarked": NULLABLE_BOOLEAN, "liked": NULLABLE_BOOLEAN,
                   "unpinned": NULLABLE_BOOLEAN,
                   # TopicPosterSerializer: extras is "latest", "latest single" or null for the others.
                   "extras": NULLABLE_STRING}
ERRATA: dict[str, dict[str, dict[str, Any]]] = {
    # PostSerializer: reply_to_post_number is the number of the post replied to.
    "*": {"reply_to_post_number": {"type": ["integer", "null"]}},
    # TopicViewSerializer: deleted_by is the BasicUser who deleted the topic.
    "getTopic": {"deleted_by": {"type": ["object", "null"]}},
    # UserActionSerializer: post ids and types are numbers, `hidden` is the post's flag.
    "listUserActions": {"post_id": {"type": ["integer", "null"]}, "post_type": {"type": ["integer", "null"]},
                        "hidden": {"type": ["boolean", "null"]}},
    # UserSerializer: featured_topic is null until one is chosen; invited_by is the inviter (BasicUser).
    "getUser": {"featured_topic": {"type": ["object", "null"]}, "invited_by": {"type": ["object", "null"]}},
    # TopicListItemSerializer, the same for the three lists, whose entries disagree with each other:
    # image_url is null without an image, bookmarked and liked are booleans, unpinned is null until a
    # person unpins (then a boolean), a poster's extras null unless they posted last.
    "listLatestTopics": TOPIC_LIST_ITEM,
    "listTopTopics": TOPIC_LIST_ITEM,
    "listCategoryTopics": TOPIC_LIST_ITEM,
    "getTag": TOPIC_LIST_ITEM,
}


# Where the forum knowingly differs from Discourse (docs/api.md), same shape as ERRATA.
DEVIATIONS: dict[str, dict[str, dict[str, Any]]] = {
    # There is no "Uncategorized" category, and categories have no "About the …" definition topic.
    "getSite": {"uncategorized_category_id": {"type": ["integer", "null"]}, "topic_url": NULLABLE_STRING},
}


def _patch(schema: Any, fixes: dict[str, dict[str, Any]]) -> Any:
    if isinstance(schema, dict):
        patched = {k: _patch(v, fixes) for k, v in schema.items()}
        props = patched.get("properties")
        if isinstance(props, dict):
            patched["properties"] = {name: {**sub, **fixes[name]} if name in fixes and isinstance(sub, dict) else sub
                                     for name, sub in props.items()}
        return patched
    if isinstance(schema, list):
        return [_patch(v, fixes) for v in schema]
    return schema


def problems(schema: dict[str, Any], body: Any, op_id: str = "") -> list[str]:
    fixes = {**ERRATA["*"], **ERRATA.get(op_id, {}), **DEVIATIONS.get(op_id, {})}
    validator = OAS31Validator(_patch(_open(copy.deepcopy(schema)), fixes), format_checker=FormatChecker())
    found = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        found.append(f"{where}: {error.message[:200]}")
    return found


def documented_schema(op: dict[str, Any], status: int) -> dict[str, Any] | None:
    response = op["responses"].get(str(status)) or {}
    content = (response.get("content") or {}).get("application/json")
    return content.get("schema") if content else None


# --- a small forum, built once per backend ------------------------------------------------------

@dataclass
class Forum:
    client: TestClient
    key: str
    users: dict[str, Any]
    ids: dict[str, int] = field(default_factory=dict)
    slugs: dict[str, str] = field(default_factory=dict)

    def headers(self, username: str = "staffer") -> dict[str, str]:
        return {"Api-Key": self.key, "Api-Username": username, "Accept": "application/json"}


@pytest.fixture(scope="module")
def forum(database_url, _database) -> Iterator[Forum]:
    from forum.app import create_app

    settings = Settings(database_url=database_url, posts_per_minute=1000, topics_per_hour=1000,
                        login_attempts_per_ip=1000, signups_per_ip_per_hour=1000, base_url="http://testserver",
                        inprocess_worker=False, unique_post_window=0)
    db = _database
    _empty_tables(db)
    users = {}
    with db.write() as s:
        for username, tier, extra in [
            ("staffer", "member", {"admin": True}), ("moe", "participant", {"moderator": True}),
            ("mei", "member", {}), ("wes", "worker", {}), ("pia", "participant", {}),
            ("suspendme", "participant", {}), ("silenceme", "participant", {}), ("anonme", "worker", {}),
            ("deactivateme", "participant", {}), ("activateme", "participant", {}),
            ("logoutme", "participant", {}), ("deleteme", "participant", {}),
        ]:
            users[username] = accounts.create_user(s, username=username, email=f"{username}@example.org",
                                                   password=PASSWORD, name=username.title(), tier=tier, **extra)
    staff = Viewer(users["staffer"])
    ids: dict[str, int] = {}
    slugs: dict[str, str] = {}
    with db.write() as s:
        general = categories.create_category(s, staff, name="General", levels=categories.PRESETS["public"])
        members = categories.create_category(s, staff, name="Members", levels=categories.PRESETS["members_only"])
        sub = categories.create_category(s, staff, name="Working groups", parent_id=general.id,
                                         levels=categories.PRESETS["public"])
        ids.update(category=general.id, members_category=members.id, subcategory=sub.id)
        slugs["category"] = general.slug

    def topic(user: str, category_id: int, title: str, raw: str) -> Topic:
        with db.write() as s:
            post = posting.create_topic(s, settings, Viewer(users[user]), title=title, raw=raw,
                                        category_id=category_id)
            return s.get(Topic, post.topic_id)

    def reply(user: str, topic_id: int, raw: str, reply_to: int | None = None) -> int:
        with db.write() as s:
            return posting.create_reply(s, settings, Viewer(users[user]), topic_id=topic_id, raw=raw,
                                        reply_to_post_number=reply_to).id

    assembly = topic("mei", ids["category"], "General assembly in Lisbon", "Where shall we meet in **Lisbon**?")
    ids["topic"], slugs["topic"] = assembly.id, assembly.slug
    ids["reply"] = reply("pia", assembly.id, "At the co-op hall near the river, @mei.", reply_to=1)
    reply("wes", assembly.id, "Agreed, see you there.", reply_to=2)
    with db.write() as s:
        ids["first_post"] = _first_post_id(s, assembly.id)
        posting.like_post(s, Viewer(users["pia"]), post_id=ids["first_post"])
        tracking.set_category_level(s, Viewer(users["mei"]), s.get(type(general), ids["category"]), 3)
    hidden = topic("mei", ids["members_category"], "Budget for the members only", "Numbers that members see.")
    ids["members_topic"] = hidden.id
    ids["topic_to_delete"] = topic("mei", ids["category"], "A topic that will be removed",
                                   "This one goes away in the test.").id
    ids["topic_to_rename"] = topic("mei", ids["category"], "A topic that will be renamed",
                                   "Its title changes in the test.").id
    ids["topic_to_close"] = topic("mei", ids["category"], "A topic that will be closed",
                                  "Its status changes in the test.").id
    ids["post_to_delete"] = reply("pia", assembly.id, "A reply that will be deleted.")
    ids["post_to_edit"] = reply("pia", assembly.id, "A reply that will be edited.")
    ids["post_to_like"] = reply("mei", assembly.id, "A reply that will be liked.")
    for name in ("suspendme", "silenceme", "anonme", "deactivateme", "activateme", "logoutme", "deleteme"):
        ids[name] = users[name].id
    with db.write() as s:
        key = apikeys.create_api_key(s, staff, description="conformance", username=None).secret
        ids["tag_group"] = forum_tags.save_tag_group(s, staff, name="Countries", tag_names=["portugal"]).id
        forum_tags.set_topic_tags(s, ids["topic"], [forum_tags.by_name(s, "portugal")])

    app = create_app(settings, db)
    with TestClient(app) as client:
        yield Forum(client=client, key=key, users=users, ids=ids, slugs=slugs)
    _empty_tables(db)


def _first_post_id(session, topic_id: int) -> int:
    from sqlalchemy import select

    from forum.models import Post

    return session.scalar(select(Post.id).where(Post.topic_id == topic_id, Post.post_number == 1))


# --- how a Discourse client calls each operation ----------------------------------------------

@dataclass
class Call:
    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    as_user: str = "staffer"
    status: int = 200
    files: dict[str, Any] | None = None  # multipart: the files, with `form` as the other fields
    form: dict[str, Any] | None = None


def default_path(path: str, f: Forum) -> dict[str, Any]:
    """Path parameters for an operation without a recipe of its own: the obvious object."""
    values: dict[str, Any] = {}
    for name in re.findall(r"\{([^}]+)\}", path):
        if name == "id" and path.startswith(("/t/", "/topics/")):
            values[name] = f.ids["topic"]
        elif name == "id" and path.startswith("/posts/"):
            values[name] = f.ids["reply"]
        elif name == "id" and path.startswith(("/c/", "/categories/")):
            values[name] = f.ids["category"]
        elif name == "slug" and path.startswith("/c/"):
            values[name] = f.slugs["category"]
        elif name == "id" and path.startswith("/admin/users/"):
            values[name] = f.ids["deleteme"]
        elif name == "id" and path.startswith("/groups/"):
            values[name] = 10  # the members tier
        elif name == "name" and path.startswith("/groups/"):
            values[name] = "members"
        elif name == "id" and path.startswith("/tag_groups/"):
            values[name] = f.ids["tag_group"]
        elif name == "name" and path.startswith("/tag/"):
            values[name] = "portugal"
        elif name == "username":
            values[name] = "mei"
        else:
            values[name] = SAMPLE_PATH_VALUES.get(name, "1")
    return values


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 150)).save(out, "PNG")
    return out.getvalue()


def _private_message(f: Forum) -> int:
    """A private message from mei to staffer (the people a Discourse client would invite others into)."""
    r = f.client.post("/posts.json", headers=f.headers("mei"),
                      data={"archetype": "private_message", "title": "A private word about the budget",
                            "raw": "Only for the two of us, for now.", "target_recipients": "staffer"})
    assert r.status_code == 200, r.text
    return r.json()["topic_id"]


def _uploaded_image(f: Forum, username: str) -> int:
    r = f.client.post("/uploads.json", headers=f.headers(username), files={"file": ("me.png", _png(), "image/png")},
                      data={"upload_type": "avatar"})
    assert r.status_code == 200, r.text
    return r.json()["id"]


RECIPES: dict[str, Callable[[Forum], Call]] = {
    "createUpload": lambda f: Call(files={"file": ("assembly.png", _png(), "image/png")},
                                   form={"upload_type": "composer", "synchronous": "true"}, as_user="mei"),
    "updateAvatar": lambda f: Call(path={"username": "mei"}, as_user="mei",
                                   body={"upload_id": _uploaded_image(f, "mei"), "type": "uploaded"}),
    "listUserActions": lambda f: Call(query={"username": "mei", "filter": "1,4,5", "offset": 0}),
    "listLatestTopics": lambda f: Call(query={"order": "default", "per_page": 30}),
    "listTopTopics": lambda f: Call(query={"period": "all", "per_page": 30}),
    "search": lambda f: Call(query={"q": "Lisbon"}),
    "createTagGroup": lambda f: Call(body={"name": "Sectors"}),
    "updateTagGroup": lambda f: Call(body={"name": "Countries of the federation"}),
    "listPosts": lambda f: Call(),
    "listUserPrivateMessages": lambda f: Call(path={"username": "mei"}, as_user="mei"),
    "getUserSentPrivateMessages": lambda f: Call(path={"username": "mei"}, as_user="mei"),
    "inviteToTopic": lambda f: Call(path={"id": _private_message(f)}, body={"user": "pia"}, as_user="mei"),
    "getNotifications": lambda f: Call(as_user="mei"),
    "markNotificationsAsRead": lambda f: Call(body={}, as_user="mei"),
    "getSpecificPostsFromTopic": lambda f: Call(query={"post_ids[]": [f.ids["first_post"], f.ids["reply"]]}),
    "createTopicPostPM": lambda f: Call(body={"title": "A new topic started by API", "category": f.ids["category"],
                                              "raw": "The text of a new topic, long enough to pass."}, as_user="mei"),
    "updatePost": lambda f: Call(path={"id": f.ids["post_to_edit"]}, as_user="pia",
                                 body={"post": {"raw": "A reply that was edited by its author.",
                                                "edit_reason": "typo"}}),
    "deletePost": lambda f: Call(path={"id": f.ids["post_to_delete"]}, as_user="pia",
                                 body={"force_destroy": False}),
    "performPostAction": lambda f: Call(body={"id": f.ids["post_to_like"], "post_action_type_id": 2},
                                        as_user="wes"),
    "removeTopic": lambda f: Call(path={"id": f.ids["topic_to_delete"]}),
    "updateTopic": lambda f: Call(path={"id": f.ids["topic_to_rename"]},
                                  body={"topic": {"title": "A topic that has been renamed",
                                                  "category_id": f.ids["subcategory"]}}),
    "updateTopicStatus": lambda f: Call(path={"id": f.ids["topic_to_close"]},
                                        body={"status": "closed", "enabled": "true"}),
    "createCategory": lambda f: Call(body={"name": "Made by the API", "color": "49d9e9", "text_color": "f0fcfd",
                                           "permissions": {"everyone": 1}}),
    "updateCategory": lambda f: Call(path={"id": f.ids["subcategory"]},
                                     body={"name": "Working groups", "color": "0088cc"}),
    "listCategories": lambda f: Call(query={"include_subcategories": "true"}),
    "getUser": lambda f: Call(path={"username": "mei"}),
    "updateUser": lambda f: Call(path={"username": "mei"}, body={"name": "Mei Lin"}, as_user="mei"),
    "createUser": lambda f: Call(body={"name": "New Person", "email": "new.person@example.org",
                                       "password": "a long and secret passphrase", "username": "newperson",
                                       "active": True, "approved": True}),
    "addGroupMembers": lambda f: Call(path={"id": 11}, body={"usernames": "pia"}),
    # One tier per person: nobody leaves a tier except by joining another (see forum/api/tiers.py).
    "removeGroupMembers": lambda f: Call(path={"id": 11}, body={"usernames": "wes"}, status=422),
    "createInvite": lambda f: Call(body={"email": "invited@example.org", "skip_email": True,
                                         "custom_message": "Welcome!", "max_redemptions_allowed": 1}),
    "createMultipleInvites": lambda f: Call(body={"email": ["first.invitee@example.org",
                                                            "second.invitee@example.org"],
                                                  "skip_email": True, "custom_message": "Welcome!"}),
    "suspendUser": lambda f: Call(path={"id": f.ids["suspendme"]},
                                  body={"suspend_until": "2099-01-01", "reason": "testing the API"}),
    "silenceUser": lambda f: Call(path={"id": f.ids["silenceme"]},
                                  body={"silenced_till": "2099-01-01", "reason": "testing the API"}),
    "anonymizeUser": lambda f: Call(path={"id": f.ids["anonme"]}),
    "activateUser": lambda f: Call(path={"id": f.ids["activateme"]}),
    "deactivateUser": lambda f: Call(path={"id": f.ids["deactivateme"]}),
    "logOutUser": lambda f: Call(path={"id": f.ids["logoutme"]}),
    "deleteUser": lambda f: Call(path={"id": f.ids["deleteme"]}),
    "adminGetUser": lambda f: Call(path={"id": f.users["mei"].id}),
    "setNotificationLevel": lambda f: Call(body={"notification_level": "3"}, as_user="wes"),
    "sendPasswordResetEmail": lambda f: Call(body={"login": "wes"}),
    "listUsersPublic": lambda f: Call(query={"period": "weekly", "order": "likes_received"}),
    "postReplies": lambda f: Call(path={"id": f.ids["first_post"]}),
    "bookmarkTopic": lambda f: Call(as_user="mei"),
}


def call(f: Forum, op_id: str):
    method, path, _op = OPERATIONS[op_id]
    recipe = RECIPES.get(op_id, lambda f: Call())(f)
    values = {**default_path(path, f), **recipe.path}
    url = re.sub(r"\{([^}]+)\}", lambda m: str(values[m.group(1)]), path)
    kwargs: dict[str, Any] = {"headers": f.headers(recipe.as_user), "params": recipe.query}
    if recipe.body is not None:
        kwargs["json"] = recipe.body
    if recipe.files is not None:
        kwargs["files"], kwargs["data"] = recipe.files, recipe.form or {}
    return recipe, f.client.request(method, url, **kwargs)


# --- the tests --------------------------------------------------------------------------------

def test_the_document_is_the_one_vendored():
    assert SPEC["openapi"].startswith("3.1") and len(OPERATIONS) == 93


def test_every_operation_is_implemented_or_listed_as_absent(forum):
    found = implemented(forum.client.app)
    assert not NOT_IMPLEMENTED - set(OPERATIONS), "unknown operation ids in NOT_IMPLEMENTED"
    assert found & NOT_IMPLEMENTED == set(), "implemented now: take them off NOT_IMPLEMENTED"
    assert found | NOT_IMPLEMENTED == set(OPERATIONS), "neither routed nor listed as absent"


@pytest.mark.parametrize("op_id", sorted(NOT_IMPLEMENTED))
def test_absent_operations_answer_404(forum, op_id):
    method, path, _op = OPERATIONS[op_id]
    r = forum.client.request(method, sample_path(path), headers=forum.headers())
    assert r.status_code == 404, (op_id, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("application/json") and r.json()["errors"], r.text[:200]


@pytest.mark.parametrize("op_id", sorted(set(OPERATIONS) - NOT_IMPLEMENTED))
def test_operation_answers_as_documented(forum, op_id):
    _method, _path, op = OPERATIONS[op_id]
    recipe, r = call(forum, op_id)
    assert r.status_code == recipe.status, (op_id, r.status_code, r.text[:500])
    if recipe.status >= 400:
        # Discourse's error shape: a non-empty list of strings, and its type.
        body = r.json()
        assert body["errors"] and all(isinstance(e, str) for e in body["errors"]) and body["error_type"]
        return
    schema = documented_schema(op, r.status_code)
    if schema is None:
        return
    found = problems(schema, r.json(), op_id)
    assert not found, f"{op_id}: " + "\n".join(found)
