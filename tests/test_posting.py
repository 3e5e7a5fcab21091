"""Topics, replies, quotes, edits with history, soft deletion and likes, through the pages."""

import html

from sqlalchemy import select, update

from forum.models import Category, Post, PostRevision, Topic, User
from tests.conftest import login, post_form


def _topic(db, topic_id) -> Topic:
    with db.read() as session:
        return session.get(Topic, topic_id)


def test_reply_numbers_and_counters(client, make_client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    news = make_category("News and events")
    topic = make_topic(ana, news)
    login(client, "bob")
    for i in range(3):
        r = post_form(client, f"/t/{topic.id}/reply", {"raw": f"Reply number {i} from bob."})
        assert r.status_code == 303
        assert r.headers["location"].endswith(f"/{i + 2}#post_{i + 2}")
    t = _topic(db, topic.id)
    assert (t.posts_count, t.highest_post_number, t.reply_count, t.participant_count) == (4, 4, 3, 2)
    with db.read() as session:
        numbers = session.scalars(select(Post.post_number).where(Post.topic_id == topic.id)
                                  .order_by(Post.post_number)).all()
        assert numbers == [1, 2, 3, 4]
        assert session.get(Category, news.id).post_count == 4
        assert session.get(User, ana.id).post_count == 1
    listing = client.get("/latest").text
    assert topic.title in listing


def test_reply_to_a_post_links_back(client, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    make_reply(ana, topic, raw="Second post by ana.")
    login(client, "bob")
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "Answering ana's second post.",
                                                     "reply_to_post_number": "2"})
    assert r.status_code == 303
    page = client.get(f"/t/{topic.slug}/{topic.id}")
    assert f'class="reply-to" href="/t/{topic.slug}/{topic.id}/2"' in page.text
    assert "in reply to ana" in page.text


def test_quote_prefills_reply_and_renders_attribution(client, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"), raw="Worker co-ops grew by a tenth this year.")
    login(client, "bob")
    form = html.unescape(client.get(f"/t/{topic.id}/reply?quote=1").text)
    assert f'[quote="ana, post:1, topic:{topic.id}"]' in form
    assert "Worker co-ops grew by a tenth this year." in form
    raw = f'[quote="ana, post:1, topic:{topic.id}"]\nWorker co-ops grew by a tenth this year.\n[/quote]\n\nGreat news!'
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": raw})
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert '<aside class="quote" data-username="ana" data-post="1"' in page.text
    assert "Great news!" in page.text


def test_edit_keeps_revisions_and_marks_edited(client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"), title="Assembly in Lisbon",
                       raw="We meet on Friday.")
    login(client, "ana")
    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    r = post_form(client, f"/posts/{post_id}/edit", {"raw": "We meet on Saturday.", "title": "Assembly in Porto",
                                                     "edit_reason": "venue moved"})
    assert r.status_code == 303
    page = client.get(r.headers["location"].split("#")[0])
    assert page.url.path.startswith("/t/assembly-in-porto/")
    assert "We meet on Saturday." in page.text and ">edited<" in page.text
    history = client.get(f"/posts/{post_id}/revisions")
    assert "We meet on Friday." in history.text and "Assembly in Lisbon" in history.text
    assert "venue moved" in history.text
    with db.read() as session:
        assert session.get(Post, post_id).version == 2
        assert session.scalar(select(PostRevision.raw).where(PostRevision.post_id == post_id)) == "We meet on Friday."
    # the old slug still finds the topic
    old = client.get(f"/t/assembly-in-lisbon/{topic.id}", follow_redirects=False)
    assert old.status_code == 301 and old.headers["location"] == f"/t/assembly-in-porto/{topic.id}"


def test_others_cannot_edit_or_delete_my_post(make_client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    bob = make_client()
    login(bob, "bob")
    assert bob.get(f"/posts/{post_id}/edit").status_code == 403
    assert post_form(bob, f"/posts/{post_id}/edit", {"raw": "Vandalised!"}).status_code == 403
    assert post_form(bob, f"/posts/{post_id}/delete", {}).status_code == 403
    with db.read() as session:
        assert session.get(Post, post_id).raw == "The first post of it."


def test_delete_is_soft_and_recounts(client, make_client, make_user, make_category, make_topic, make_reply, db):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    reply = make_reply(ana, topic, raw="I will take this back.")
    make_reply(ana, topic, raw="The last word here.")
    login(client, "ana")
    assert post_form(client, f"/posts/{reply.id}/delete", {}).status_code == 303
    bob = make_client()
    login(bob, "bob")
    page = bob.get(f"/t/{topic.slug}/{topic.id}")
    assert "I will take this back." not in page.text and "(post deleted)" in page.text
    assert 'id="post_3"' in page.text  # numbering is never reused or shifted
    # Its author still reads it, marked as deleted (forum/permissions.py, rule 8).
    own = client.get(f"/t/{topic.slug}/{topic.id}")
    assert "I will take this back." in own.text and "only its author and staff can see it" in own.text
    t = _topic(db, topic.id)
    assert (t.posts_count, t.highest_post_number) == (2, 3)
    r = post_form(client, f"/t/{topic.id}/reply", {"raw": "A fresh reply after the deletion."})
    assert r.headers["location"].endswith("/4#post_4")


def test_deleting_first_post_deletes_topic(client, make_client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    category = make_category("News and events")
    topic = make_topic(ana, category, title="A topic to withdraw")
    login(client, "ana")
    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    assert post_form(client, f"/posts/{post_id}/delete", {}).status_code == 303
    anon = make_client()
    assert anon.get(f"/t/{topic.slug}/{topic.id}").status_code == 404
    assert "A topic to withdraw" not in anon.get("/latest").text
    with db.read() as session:
        assert session.get(Category, category.id).topic_count == 0


def test_like_once_not_own_and_unlike(make_client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    owner = make_client()
    login(owner, "ana")
    assert post_form(owner, f"/posts/{post_id}/like", {}).status_code == 403
    bob = make_client()
    login(bob, "bob")
    assert post_form(bob, f"/posts/{post_id}/like", {}).status_code == 303
    again = post_form(bob, f"/posts/{post_id}/like", {})
    assert again.status_code == 409 and "already liked" in again.text
    assert _topic(db, topic.id).like_count == 1
    page = bob.get(f"/t/{topic.slug}/{topic.id}")
    assert 'aria-pressed="true"' in page.text
    r = post_form(bob, f"/posts/{post_id}/unlike", {}, headers={"X-Requested-With": "fetch"})
    assert r.status_code == 200 and r.json() == {"post_id": post_id, "like_count": 0, "liked": False}
    assert _topic(db, topic.id).like_count == 0
    assert post_form(bob, f"/posts/{post_id}/unlike", {}).status_code == 404


def test_like_with_fetch_answers_json(client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    make_user("bob", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    with db.read() as session:
        post_id = session.scalar(select(Post.id).where(Post.topic_id == topic.id))
    login(client, "bob")
    r = post_form(client, f"/posts/{post_id}/like", {}, headers={"X-Requested-With": "fetch"})
    assert r.json()["like_count"] == 1 and r.json()["liked"] is True


def test_topic_pages_of_twenty_and_post_links(client, make_user, make_category, make_topic, make_reply):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    for i in range(2, 46):
        make_reply(ana, topic, raw=f"Numbered reply {i:02d}.")
    first = client.get(f"/t/{topic.slug}/{topic.id}")
    assert "Numbered reply 20." in first.text and "Numbered reply 21." not in first.text
    second = client.get(f"/t/{topic.slug}/{topic.id}?page=2")
    assert "Numbered reply 21." in second.text and "Numbered reply 40." in second.text
    assert "Numbered reply 41." not in second.text
    linked = client.get(f"/t/{topic.slug}/{topic.id}/43")
    assert 'id="post_43"' in linked.text and "highlighted" in linked.text
    assert client.get(f"/t/{topic.slug}/{topic.id}/99").status_code == 404


def test_latest_orders_by_bump_and_paginates(client, make_user, make_category, make_topic, make_reply, settings):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    old = make_topic(ana, news, title="An older conversation")
    make_topic(ana, news, title="A newer conversation")
    page = client.get("/latest").text
    assert page.index("A newer conversation") < page.index("An older conversation")
    make_reply(ana, old, raw="Bumping the older one.")
    page = client.get("/latest").text
    assert page.index("An older conversation") < page.index("A newer conversation")
    for i in range(settings.topics_per_page):
        make_topic(ana, news, title=f"Filler topic number {i}")
    page1, page2 = client.get("/latest").text, client.get("/latest?page=2").text
    assert 'rel="next"' in page1 and "A newer conversation" in page2


def test_category_page_lists_pinned_first(client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    news = make_category("News and events")
    pinned = make_topic(ana, news, title="Read this first please")
    make_topic(ana, news, title="Something more recent")
    with db.write() as session:
        session.execute(update(Topic).where(Topic.id == pinned.id).values(pinned=True))
    page = client.get(f"/c/{news.slug}/{news.id}").text
    assert page.index("Read this first please") < page.index("Something more recent")
    assert client.get(f"/c/wrong-slug/{news.id}", follow_redirects=False).headers["location"] == \
        f"/c/{news.slug}/{news.id}"


def test_views_count_once_per_viewer(make_client, make_user, make_category, make_topic, db):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News and events"))
    bob = make_client()
    login(bob, "ana")
    for _ in range(3):
        bob.get(f"/t/{topic.slug}/{topic.id}")
    assert _topic(db, topic.id).views == 1
