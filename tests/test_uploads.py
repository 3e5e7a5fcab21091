"""Files in posts: checked, cleaned of metadata, stored once, and fetched exactly by those who may
see a post that holds them; bad files get a clear 4xx and leave nothing behind."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from forum import moderation, posting
from forum.models import Post, PostUpload, Upload, User
from forum.permissions import Viewer
from tests.conftest import csrf_of, login
from tests.smtp import mail_settings, smtp_server  # noqa: F401  (fixtures)


def html_text(page: str) -> str:
    import html

    return html.unescape(page)

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _jpeg(width: int = 200, height: int = 100, *, gps: bool = True, orientation: int | None = None) -> bytes:
    img = Image.new("RGB", (width, height), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x0110] = "Phone 12"  # camera model
    if orientation:
        exif[ORIENTATION] = orientation
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (41.0, 53.0, 0.0), 3: "E", 4: (12.0, 29.0, 0.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def _pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _upload(client, name: str, data: bytes, token: str):
    return client.post("/uploads.json", files={"file": (name, data)}, data={"type": "composer"},
                       headers={"X-CSRF-Token": token})


def _no_files_stored(settings) -> bool:
    root = settings.uploads_path
    return not [p for p in root.rglob("*") if p.is_file()] if root.exists() else True


@pytest.fixture
def member(client, make_user):
    make_user("ana", tier="member")
    login(client, "ana")
    return csrf_of(client, "/latest")


def test_an_image_loses_its_location_and_camera_and_stands_upright(client, member, settings, db):
    r = _upload(client, "Assembly in Lisbon.jpg", _jpeg(orientation=6), member)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["extension"] == "jpg" and body["original_filename"] == "Assembly in Lisbon.jpg"
    assert (body["width"], body["height"]) == (100, 200)  # turned by its EXIF orientation
    assert body["short_url"].startswith("upload://") and body["short_path"].startswith("/uploads/short-url/")
    assert re.fullmatch(r"/uploads/default/original/1X/[0-9a-f]{40}\.jpg", body["url"])
    served = client.get(body["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(served.content))
    assert img.size == (100, 200)
    exif = img.getexif()
    assert not exif.get_ifd(GPS_IFD) and GPS_IFD not in exif and 0x010F not in exif and 0x0110 not in exif
    assert b"PhoneMaker" not in served.content and b"GPS" not in served.content
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "sandbox"
    assert served.headers["content-disposition"].startswith("inline;")

    again = _upload(client, "same picture.jpg", _jpeg(orientation=6), member)  # the same content: stored once
    assert again.json()["id"] == body["id"]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 1


def test_a_wide_image_gets_a_display_copy_and_the_post_links_the_original(client, member, db, make_category):
    category = make_category("Photos")
    r = _upload(client, "hall.jpg", _jpeg(2400, 1200), member)
    upload = r.json()
    assert (upload["thumbnail_width"], upload["thumbnail_height"]) == (690, 345)
    assert upload["markdown"] == f"![hall|690x345]({upload['short_url']})"
    topic = client.post("/posts.json", data={"title": "Photos of the new hall", "category": category.id,
                                             "raw": "Our hall:\n\n" + upload["markdown"]},
                        headers={"X-CSRF-Token": member}).json()
    cooked = client.get(f"/posts/{topic['id']}.json").json()["cooked"]
    m = re.search(r'<a class="lightbox" href="([^"]+)"[^>]*><img src="([^"]+)" alt="hall" width="690" height="345"', cooked)
    assert m, cooked
    assert m.group(1) == upload["url"]
    assert re.fullmatch(r"/uploads/default/optimized/1X/[0-9a-f]{40}_2_1000x500\.jpg", m.group(2))
    small = client.get(m.group(2))
    assert small.status_code == 200 and Image.open(io.BytesIO(small.content)).size == (1000, 500)
    assert b"GPS" not in small.content
    short = client.get(upload["short_path"], follow_redirects=False)
    assert short.status_code == 302 and short.headers["location"] == upload["url"]


def test_a_file_is_exactly_as_visible_as_the_posts_that_hold_it(
        client, make_client, db, settings, make_user, make_category, staff):
    ana = make_user("ana", tier="member")
    make_user("bea", tier="member")
    make_user("pat", tier="participant")
    lounge, news = make_category("Members' lounge", "members_only"), make_category("News")
    login(client, "ana")
    token = csrf_of(client, "/latest")
    upload = _upload(client, "board report.pdf", _pdf(), token).json()
    assert upload["markdown"].startswith("[board report.pdf|attachment](upload://")
    created = client.post("/posts.json", data={"title": "Board report to the assembly", "category": lounge.id,
                                               "raw": "The report: " + upload["markdown"]},
                          headers={"X-CSRF-Token": token}).json()
    cooked = client.get(f"/posts/{created['id']}.json").json()["cooked"]
    assert f'<a href="{upload["url"]}" class="attachment"' in cooked and ">board report.pdf</a> (125 B)" in cooked

    def status(who: str | None) -> int:
        c = make_client()
        if who:
            login(c, who)
        return c.get(upload["url"]).status_code

    assert {w: status(w) for w in (None, "pat", "bea", "staffer")} == \
        {None: 404, "pat": 404, "bea": 200, "staffer": 200}
    served = client.get(upload["url"])
    assert served.headers["cache-control"] == "private, no-cache"
    assert served.headers["content-disposition"] == \
        "attachment; filename=\"board_report.pdf\"; filename*=UTF-8''board%20report.pdf"
    assert served.headers["etag"] and client.get(upload["url"], headers={"If-None-Match": served.headers["etag"]}
                                                 ).status_code == 304
    part = client.get(upload["url"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == b"%PDF-1.4"

    with db.write() as session:  # the topic moves to a public category: visitors may fetch it
        moderation.move_topic(session, Viewer(staff), created["topic_id"], news.id)
    assert status(None) == 200
    assert client.get(upload["url"]).headers["cache-control"].startswith("public")
    with db.write() as session:  # bea's tier drops: still public, still hers to fetch
        session.execute(update(User).where(User.username == "bea").values(tier="participant"))
    assert status("bea") == 200
    with db.write() as session:
        moderation.move_topic(session, Viewer(staff), created["topic_id"], lounge.id)
    assert status("bea") == 404  # at once, with no extra step

    with db.write() as session:  # the post is deleted: only its uploader and staff
        posting.delete_post(session, Viewer(staff), post_id=created["id"])
    assert {w: status(w) for w in (None, "pat", "ana", "staffer")} == \
        {None: 404, "pat": 404, "ana": 200, "staffer": 200}
    with db.read() as session:
        assert session.scalar(select(PostUpload.upload_id)) == upload["id"]
        assert session.get(User, ana.id).username == "ana"


def test_an_edit_that_removes_the_file_takes_it_out_of_reach(client, make_client, db, make_user, make_category):
    make_user("ana", tier="member")
    make_category("News")
    login(client, "ana")
    token = csrf_of(client, "/latest")
    upload = _upload(client, "minutes.pdf", _pdf(), token).json()
    news_id = client.get("/categories.json").json()["category_list"]["categories"][0]["id"]
    created = client.post("/posts.json", data={"title": "Signed minutes of the assembly", "category": news_id,
                                               "raw": "Minutes: " + upload["markdown"]},
                          headers={"X-CSRF-Token": token}).json()
    visitor = make_client()
    assert visitor.get(upload["url"]).status_code == 200
    assert client.put(f"/posts/{created['id']}.json", data={"post[raw]": "Minutes to follow."},
                      headers={"X-CSRF-Token": token}).status_code == 200
    assert visitor.get(upload["url"]).status_code == 404
    assert client.get(upload["url"]).status_code == 200  # its uploader keeps it


@pytest.mark.parametrize("name, data, status, message", [
    ("empty.pdf", b"", 422, "This file is empty."),
    ("photo.jpg", b"MZ\x90\x00\x03" + b"\x00" * 200, 422, "not really a .jpg file"),
    ("report.pdf", b"<html><script>alert(1)</script></html>", 422, "not really a .pdf file"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 422,
     "cannot be attached"),
    ("page.html", b"<html><script>alert(1)</script></html>", 422, "cannot be attached"),
    ("notes.txt", b"\x00\x01\x02binary", 422, "not really a .txt file"),
    ("letter.docx", b"PK\x03\x04 not a real zip", 422, "not really a .docx file"),
    ("no-extension", b"hello", 422, "cannot be attached"),
])
def test_bad_files_get_a_clear_refusal_and_leave_nothing(client, member, db, settings, name, data, status, message):
    r = _upload(client, name, data, member)
    assert r.status_code == status, r.text
    assert message in r.json()["errors"][0]
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 0
    assert _no_files_stored(settings)


def test_decompression_bombs_and_oversized_bodies_are_refused_before_decoding(client, member, db, settings):
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, "PNG")  # 144 million pixels in a few kilobytes
    assert len(bomb.getvalue()) < 100_000
    r = _upload(client, "bomb.png", bomb.getvalue(), member)
    assert r.status_code == 422 and "too large" in r.json()["errors"][0]

    settings.max_upload_bytes = 1024 * 1024
    big = _upload(client, "big.pdf", b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024), member)
    assert big.status_code == 413 and "1 MB" in big.json()["errors"][0]
    between = _upload(client, "between.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10), member)
    assert between.status_code == 413  # within the guard's margin: cut off while stored
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Upload)) == 0
    assert _no_files_stored(settings)


def test_uploads_need_an_account_and_count_against_a_daily_quota(client, make_client, member, db):
    from forum.models import SiteSetting

    visitor = make_client()
    assert _upload(visitor, "a.pdf", _pdf(), csrf_of(visitor, "/login")).status_code in (401, 403)
    with db.write() as session:
        session.add(SiteSetting(key="policy.uploads_per_day", value="2"))
    answers = [_upload(client, f"{n}.txt", f"Delegates list {n}\n".encode(), member) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "today's limit of 2 files" in answers[2].json()["errors"][0]


def test_admins_choose_sizes_kinds_per_tier_and_the_quota(client, make_client, make_user, make_category, staff, db):
    make_category("News")
    make_user("pat", tier="participant")
    make_user("ana", tier="member")
    login(client, "staffer")
    token = csrf_of(client, "/admin/settings")
    page = client.get("/admin/settings").text
    assert 'id="upload_extensions_participant"' in page and 'id="upload_max_mb" name="upload_max_mb"' in page
    bad = client.post("/admin/settings", data={"csrf_token": token, "upload_extensions_worker": "pdf, exe, svg"})
    assert bad.status_code == 422 and "These kinds of file cannot be allowed: exe, svg." in html_text(bad.text)
    saved = client.post("/admin/settings", data={"csrf_token": token, "upload_extensions_participant": "pdf, txt",
                                                "upload_max_mb": "1"})
    assert saved.status_code == 200

    pat = make_client()
    login(pat, "pat")
    pat_token = csrf_of(pat, "/latest")
    refused = _upload(pat, "photo.jpg", _jpeg(), pat_token)
    assert refused.status_code == 422 and refused.json()["errors"][0] == \
        "Files of this type cannot be attached. Allowed: pdf, txt."
    assert _upload(pat, "notes.txt", b"Notes\n", pat_token).status_code == 200
    big = _upload(pat, "big.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 100), pat_token)
    assert big.status_code == 413 and "1 MB" in big.json()["errors"][0]
    composer = pat.get("/new-topic").text
    assert 'accept=".pdf,.txt"' in composer and "You may attach: pdf, txt; up to 1 MB each." in composer

    ana = make_client()
    login(ana, "ana")
    assert _upload(ana, "photo.jpg", _jpeg(), csrf_of(ana, "/latest")).status_code == 200  # members keep every kind


def test_spreadsheets_and_documents_are_told_apart_by_their_content(client, member):
    import zipfile

    def ooxml(part: str) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr(part, "<x/>")
        return out.getvalue()

    assert _upload(client, "delegates.xlsx", ooxml("xl/workbook.xml"), member).status_code == 200
    wrong = _upload(client, "delegates.docx", ooxml("xl/workbook.xml"), member)
    assert wrong.status_code == 422 and "not really a .docx file" in wrong.json()["errors"][0]
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<x/>")
    assert _upload(client, "statutes.odt", odt.getvalue(), member).status_code == 200
    csv = _upload(client, "delegates.csv", "país,delegados\nItalia,3\n".encode(), member)
    assert csv.status_code == 200 and csv.json()["extension"] == "csv"
    assert client.get(csv.json()["url"]).headers["content-disposition"].startswith("attachment;")


def test_a_post_cannot_reach_a_file_by_a_name_that_does_not_exist(client, member, make_category):
    category = make_category("News")
    created = client.post("/posts.json", data={"title": "A link to nowhere at all", "category": category.id,
                                               "raw": "[x|attachment](upload://abc123.pdf) ![y](upload://zz.png)"},
                          headers={"X-CSRF-Token": member}).json()
    cooked = client.get(f"/posts/{created['id']}.json").json()["cooked"]
    assert "upload://" not in cooked and "/uploads/" not in cooked


def test_the_composer_attaches_files_without_scripts(client, member, db, make_user, make_category, make_topic):
    with db.read() as session:
        author = session.scalar(select(User).where(User.username == "ana"))
    topic = make_topic(author, make_category("Reports"), title="Annual report on worker co-operatives")
    path = f"/t/{topic.slug}/{topic.id}"
    token = csrf_of(client, path)
    page = client.get(path).text
    assert 'enctype="multipart/form-data"' in page and 'type="file" id="reply-files" name="files" multiple' in page
    r = client.post(f"/t/{topic.id}/reply", data={"raw": "The annex, as promised.", "csrf_token": token},
                    files=[("files", ("annex.pdf", _pdf(), "application/pdf"))], follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.read() as session:
        reply = session.scalar(select(Post).where(Post.topic_id == topic.id, Post.post_number == 2))
        upload = session.scalar(select(Upload))
    assert reply.raw.startswith("The annex, as promised.\n\n[annex.pdf|attachment](upload://")
    assert 'class="attachment"' in reply.cooked and upload.original_filename == "annex.pdf"

    refused = client.post(f"/t/{topic.id}/reply", data={"raw": "And the logo.", "csrf_token": token},
                          files=[("files", ("logo.svg", b"<svg/>", "image/svg+xml"))], follow_redirects=False)
    assert refused.status_code == 422
    assert "“logo.svg” was not attached: Files of this type cannot be attached." in refused.text
    assert "And the logo." in refused.text  # the text is kept
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Post).where(Post.topic_id == topic.id)) == 2


def test_files_no_post_or_draft_refers_to_are_removed_after_two_days(client, member, db, settings, make_category):
    from datetime import timedelta

    from forum import uploads
    from forum.models import utcnow

    category = make_category("News")
    posted = _upload(client, "posted.pdf", _pdf(), member).json()
    drafted = _upload(client, "drafted.txt", b"A draft's file\n", member).json()
    orphan = _upload(client, "orphan.txt", b"Nobody wants me\n", member).json()
    client.post("/posts.json", data={"title": "The posted report itself", "category": category.id,
                                     "raw": posted["markdown"]}, headers={"X-CSRF-Token": member})
    client.post("/drafts.json", data={"draft_key": "new_topic", "sequence": "0",
                                      "data": '{"reply": "' + drafted["markdown"] + '"}'},
                headers={"X-CSRF-Token": member})
    assert uploads.remove_orphans(db, settings, utcnow()) == 0  # all of them young
    assert uploads.remove_orphans(db, settings, utcnow() + timedelta(hours=49)) == 1
    assert client.get(orphan["url"]).status_code == 404
    assert client.get(posted["url"]).status_code == 200 and client.get(drafted["url"]).status_code == 200
    with db.read() as session:
        assert sorted(session.scalars(select(Upload.original_filename))) == ["drafted.txt", "posted.pdf"]
        kept = uploads.verify(session, settings)
    assert (kept.checked, kept.missing, kept.damaged) == (2, [], [])
    assert len([p for p in settings.uploads_path.rglob("*") if p.is_file()]) == 2


def test_forum_uploads_verify_reports_missing_and_damaged_files(client, member, db, settings, database_url):
    import os
    import subprocess
    import sys

    one = _upload(client, "one.txt", b"one\n", member).json()
    two = _upload(client, "two.txt", b"two\n", member).json()
    root = settings.uploads_path

    def run():
        env = {**os.environ, "FORUM_DATABASE_URL": database_url, "FORUM_UPLOADS_DIR": str(root)}
        return subprocess.run([sys.executable, "-m", "forum.cli", "uploads", "verify"], capture_output=True,
                              text=True, env=env, timeout=60)

    ok = run()
    assert ok.returncode == 0 and "2 files checked" in ok.stdout and "0 missing, 0 damaged" in ok.stdout
    (root / one["url"].removeprefix("/uploads/default/")).write_bytes(b"tampered\n")
    (root / two["url"].removeprefix("/uploads/default/")).unlink()
    bad = run()
    assert bad.returncode == 1 and "1 missing, 1 damaged" in bad.stdout
    assert "damaged (content does not match its SHA-1)" in bad.stdout and "missing: " in bad.stdout


def test_feeds_carry_a_file_as_an_enclosure_only_where_their_reader_may_fetch_it(
        client, make_client, db, make_user, make_category):
    import feedparser

    from forum import feedtokens

    make_user("ana", tier="member")
    news, lounge = make_category("News"), make_category("Members' lounge", "members_only")
    login(client, "ana")
    token = csrf_of(client, "/latest")
    public = _upload(client, "newsletter.pdf", _pdf(), token).json()
    private = _upload(client, "minutes.txt", b"Minutes of the board\n", token).json()
    for title, category, upload in (("The March newsletter is out", news, public),
                                    ("Minutes of the board meeting", lounge, private)):
        client.post("/posts.json", data={"title": title, "category": category.id, "raw": upload["markdown"]},
                    headers={"X-CSRF-Token": token})
    reader = make_client()
    feed = feedparser.parse(reader.get("/latest.rss").content)
    (entry,) = feed.entries
    assert [dict(e) for e in entry.enclosures] == [{"href": f"http://testserver{public['url']}",
                                                    "length": str(public["filesize"]), "type": "application/pdf"}]
    assert reader.get(entry.enclosures[0]["href"].removeprefix("http://testserver")).status_code == 200

    with db.write() as session:
        ana = session.scalar(select(User).where(User.username == "ana"))
        secret = feedtokens.create_feed_token(session, Viewer(ana), scope="all").secret
    private_feed = feedparser.parse(reader.get(f"/latest.rss?token={secret}").content)
    by_title = {e.title: e for e in private_feed.entries}
    assert set(by_title) == {"The March newsletter is out", "Minutes of the board meeting"}
    assert by_title["The March newsletter is out"].enclosures
    assert not by_title["Minutes of the board meeting"].enclosures  # its reader could not fetch it
    assert reader.get(private["url"]).status_code == 404


@pytest.mark.server
def test_two_servers_sharing_the_directory_serve_each_others_files(database_url, db, make_user, make_category,
                                                                    staff, tmp_path):
    import httpx

    from forum import apikeys
    from tests.server import running_server

    make_user("ana", tier="member")
    category = make_category("Members' lounge", "members_only")
    shared = {"FORUM_UPLOADS_DIR": str(tmp_path / "shared-uploads")}
    with db.write() as session:
        secret = apikeys.create_api_key(session, Viewer(staff), description="two servers", username="ana").secret
    headers = {"Api-Key": secret, "Api-Username": "ana"}
    with running_server(database_url, env=shared) as first, running_server(database_url, env=shared) as second:
        upload = httpx.post(f"{first}/uploads.json", headers=headers, files={"file": ("plan.pdf", _pdf())},
                            timeout=30).json()
        created = httpx.post(f"{second}/posts.json", headers=headers, timeout=30,
                             data={"title": "The housing plan, attached", "category": category.id,
                                   "raw": upload["markdown"]}).json()
        assert "/uploads/default/original/1X/" in created["cooked"]
        assert httpx.get(second + upload["url"], headers=headers, timeout=30).content == _pdf()
        assert httpx.get(second + upload["url"], timeout=30).status_code == 404  # and only for those who may


def test_a_phones_heic_photo_becomes_a_jpeg_without_its_location(client, member):
    from PIL import Image as PILImage

    img = PILImage.new("RGB", (300, 200), (10, 120, 90))
    exif = PILImage.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (45.0, 27.0, 0.0)})
    heic = io.BytesIO()
    img.save(heic, "HEIF", exif=exif.tobytes())
    r = _upload(client, "IMG_0042.HEIC", heic.getvalue(), member)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["extension"], body["original_filename"], body["width"]) == ("jpg", "IMG_0042.jpg", 300)
    served = client.get(body["url"])
    assert served.headers["content-type"] == "image/jpeg"
    shown = PILImage.open(io.BytesIO(served.content))
    assert shown.format == "JPEG" and not shown.getexif().get_ifd(GPS_IFD)
    fake = _upload(client, "IMG_0043.heic", _jpeg(), member)
    assert fake.status_code == 422 and "not really a .heic file" in fake.json()["errors"][0]


def test_a_profile_picture_replaces_the_letter_avatar_everywhere(client, make_client, member, db, settings,
                                                                 make_category):
    page = client.get("/my/preferences").text
    assert 'action="/my/avatar"' in page and "/letter_avatar/ana/" in page
    token = csrf_of(client, "/my/preferences")
    picture = _jpeg(300, 200)  # with a GPS position
    saved = client.post("/my/avatar", data={"csrf_token": token}, files={"avatar": ("me.jpg", picture)})
    assert saved.status_code == 200 and "Your profile picture has been saved." in saved.text
    with db.read() as session:
        upload_id = session.scalar(select(User.uploaded_avatar_id).where(User.username == "ana"))
    assert upload_id
    address = f"/user_avatar/default/ana/96/{upload_id}_2.png"
    assert f'src="{address}"' in client.get("/u/ana").text
    visitor = make_client()
    shown = visitor.get(address)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(shown.content))
    assert img.size == (96, 96) and b"GPS" not in shown.content
    assert visitor.get(f"/user_avatar/default/ana/96/{upload_id + 1}_2.png").status_code == 404
    assert visitor.get(f"/user_avatar/default/nobody/96/{upload_id}_2.png").status_code == 404

    category = make_category("News")
    created = client.post("/posts.json", data={"title": "A post with my new picture", "category": category.id,
                                               "raw": "Hello from the assembly."},
                          headers={"X-CSRF-Token": member}).json()
    assert created["avatar_template"] == f"/user_avatar/default/ana/{{size}}/{upload_id}_2.png"
    topic = visitor.get(f"/t/{created['topic_slug']}/{created['topic_id']}").text
    assert f"/user_avatar/default/ana/45/{upload_id}_2.png" in topic

    from datetime import timedelta

    from forum import uploads
    from forum.models import utcnow

    assert uploads.remove_orphans(db, settings, utcnow() + timedelta(days=3)) == 0  # a picture is no orphan
    not_image = client.post("/my/avatar", data={"csrf_token": token}, files={"avatar": ("cv.pdf", _pdf())})
    assert not_image.status_code == 422 and "A profile picture must be an image" in not_image.text
    removed = client.post("/my/avatar/remove", data={"csrf_token": token})
    assert removed.status_code == 200 and "/letter_avatar/ana/" in client.get("/u/ana").text
    assert visitor.get(address).status_code == 404  # the old address no longer shows it


def test_the_api_picks_an_uploaded_image_as_the_profile_picture(client, member, make_user):
    photo = _upload(client, "me.png", _jpeg(), member)
    assert photo.status_code == 422  # a JPEG named .png is refused first
    photo = _upload(client, "me.jpg", _jpeg(), member).json()
    doc = _upload(client, "cv.pdf", _pdf(), member).json()
    pick = client.put("/u/ana/preferences/avatar/pick.json", data={"type": "uploaded", "upload_id": photo["id"]},
                      headers={"X-CSRF-Token": member})
    assert pick.status_code == 200 and pick.json() == {"success": "OK"}
    assert client.get("/u/ana.json").json()["user"]["avatar_template"] == \
        f"/user_avatar/default/ana/{{size}}/{photo['id']}_2.png"
    assert client.put("/u/ana/preferences/avatar/pick.json", data={"type": "uploaded", "upload_id": doc["id"]},
                      headers={"X-CSRF-Token": member}).status_code == 422
    make_user("bea", tier="member")
    assert client.put("/u/bea/preferences/avatar/pick.json", data={"type": "uploaded", "upload_id": photo["id"]},
                      headers={"X-CSRF-Token": member}).status_code == 403
    back = client.put("/u/ana/preferences/avatar/pick.json", data={"type": "system"}, headers={"X-CSRF-Token": member})
    assert back.status_code == 200
    assert client.get("/u/ana.json").json()["user"]["avatar_template"].startswith("/letter_avatar/ana/")


def test_a_repeated_fetch_follows_every_change_at_once(client, make_client, db, make_user, make_category, staff):
    """The second fetch of a file by the same person is answered by the fast path; any change that
    could alter who may fetch it reaches that answer at once."""
    make_user("ana", tier="member")
    make_user("bea", tier="member")
    lounge, news = make_category("Members' lounge", "members_only"), make_category("News")
    login(client, "ana")
    token = csrf_of(client, "/latest")
    upload = _upload(client, "plan.pdf", _pdf(), token).json()
    created = client.post("/posts.json", data={"title": "The housing plan for members", "category": news.id,
                                               "raw": upload["markdown"]}, headers={"X-CSRF-Token": token}).json()
    bea, visitor = make_client(), make_client()
    login(bea, "bea")
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        costs = []
        for _ in range(3):
            statements.clear()
            first, again = bea.get(upload["url"]), visitor.get(upload["url"])
            costs.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
            assert (first.status_code, again.status_code) == (200, 200)
            assert first.content == _pdf() and first.headers["etag"] == again.headers["etag"]
            assert first.headers["content-security-policy"] == "sandbox"
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # Again: only one read of the generation for each of the two, which on a SQLite file goes
    # through the thread's own connection beside the engine (Database.generation), so no statement.
    assert costs[1] == costs[2] == (0 if db.engine.dialect.name == "sqlite" else 2) < costs[0]
    with db.write() as session:
        moderation.move_topic(session, Viewer(staff), created["topic_id"], lounge.id)
    assert visitor.get(upload["url"]).status_code == 404
    assert bea.get(upload["url"]).status_code == 200
    with db.write() as session:
        session.execute(update(User).where(User.username == "bea").values(tier="participant"))
    assert bea.get(upload["url"]).status_code == 404
    assert client.get(upload["url"]).status_code == 200  # the uploader still


def test_a_large_opaque_png_becomes_a_jpeg_and_a_transparent_one_stays(client, member):
    import random

    rng = random.Random(3)
    noisy = Image.frombytes("RGB", (900, 700), bytes(rng.getrandbits(8) for _ in range(900 * 700 * 3)))
    data = io.BytesIO()
    noisy.save(data, "PNG")
    assert len(data.getvalue()) > 1024 * 1024
    photo = _upload(client, "screenshot.png", data.getvalue(), member).json()
    assert (photo["extension"], photo["original_filename"]) == ("jpg", "screenshot.jpg")
    assert photo["filesize"] < len(data.getvalue()) * 0.8
    assert client.get(photo["url"]).headers["content-type"] == "image/jpeg"

    see_through = noisy.convert("RGBA")
    see_through.putpixel((0, 0), (0, 0, 0, 0))
    data = io.BytesIO()
    see_through.save(data, "PNG")
    kept = _upload(client, "logo.png", data.getvalue(), member).json()
    assert (kept["extension"], kept["original_filename"]) == ("png", "logo.png")


def test_uploading_the_same_file_again_puts_back_a_missing_copy(client, member, settings):
    first = _upload(client, "minutes.pdf", _pdf(), member).json()
    stored = settings.uploads_path / first["url"].removeprefix("/uploads/default/")
    stored.unlink()
    assert client.get(first["url"]).status_code == 404
    again = _upload(client, "minutes again.pdf", _pdf(), member).json()
    assert again["id"] == first["id"] and stored.read_bytes() == _pdf()
    assert client.get(first["url"]).content == _pdf()


def test_a_notification_email_links_the_post_files_and_attaches_none(
        client, db, mail_settings, smtp_server, make_user, make_category):
    from forum import emails, outbox

    make_user("ana", tier="member")
    bob = make_user("bob", tier="member")
    with db.write() as session:
        emails.confirm_address(session, bob.id)
    lounge = make_category("Members' lounge", "members_only")
    login(client, "ana")
    token = csrf_of(client, "/latest")
    upload = _upload(client, "minutes.pdf", _pdf(), token).json()
    r = client.post("/posts.json", data={"title": "Signed minutes of the assembly", "category": lounge.id,
                                         "raw": f"@bob the signed minutes:\n\n{upload['markdown']}"},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    outbox.drain(db, mail_settings)
    [message] = smtp_server.wait_for(1)
    parts = {p.get_content_type(): p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}  # linked, never attached
    link = f"http://testserver{upload['url']}"
    assert f"minutes.pdf ({upload['human_filesize']}): {link}" in parts["text/plain"].decode()
    assert f'<a href="{link}">minutes.pdf</a>' in parts["text/html"].decode()
    # The link asks whoever opens it: the members-only file is not for a visitor.
    assert client.__class__(client.app).get(upload["url"]).status_code == 404
