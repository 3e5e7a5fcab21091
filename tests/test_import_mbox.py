"""`forum import mbox`: a mailing list archive, generated here, becomes topics and replies."""

import io
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from PIL import Image
from sqlalchemy import func, select

from forum import accounts, auth, emails, uploads
from forum.config import get_settings
from forum.errors import ValidationFailed
from forum.imports import mbox
from forum.imports.mbox import normalise_subject
from forum.models import ImportedRecord, Post, Topic, User


def _when(day: int, hour: int) -> datetime:
    return datetime(2021, 3, day, hour, 0, tzinfo=UTC)


def _mail(frm: str | None, subject: str, body: str | None, *, mid: str, day: int, hour: int,
          in_reply_to: str = "", references: str = "", html: str | None = None,
          charset: str = "utf-8") -> bytes:
    msg = EmailMessage()
    if frm:
        msg["From"] = frm
    msg["Subject"] = subject
    msg["Date"] = format_datetime(_when(day, hour))
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if body is not None:
        msg.set_content(body, charset=charset)
    else:
        msg.set_content(html, subtype="html", charset=charset)
    return bytes(msg)


def _raw(headers: str, body: bytes) -> bytes:
    """A message written by hand, for charsets that EmailMessage would tidy up."""
    return headers.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _mbox(*messages: bytes) -> bytes:
    out = []
    for m in messages:
        lines = m.replace(b"\r\n", b"\n").split(b"\n")
        # mboxrd: a body line starting with "From " is quoted
        lines = [b">" + line if line.startswith(b"From ") else line for line in lines]
        out.append(b"From sender@example.org Mon Mar  1 10:00:00 2021\n" + b"\n".join(lines) + b"\n")
    return b"\n".join(out)


def archive() -> list[bytes]:
    with_file = EmailMessage()
    with_file["From"] = "Dan Brown <dan@farm.example>"
    with_file["Subject"] = "Re: Harvest plans"
    with_file["Date"] = format_datetime(_when(5, 9))
    with_file["Message-ID"] = "<m6@list.example>"
    with_file["In-Reply-To"] = "<m4@list.example>"
    with_file.set_content("The field plan is attached.")
    with_file.add_attachment(_png(), maintype="image", subtype="png", filename="field-plan.png")
    return [
        _mail("Alice <alice@example.org>", "Bakery meeting", "Shall we meet on Friday to plan the new oven?",
              mid="<m1@list.example>", day=1, hour=10),
        _mail("Bob Baker <bob@bakery.example>", "Re: [coops] Bakery meeting",
              "Friday works for me, I will bring the quotes.\n\nCheers,\nBob\n-- \nBob Baker\nCo-op Bakery\n\n"
              "On Mon, Mar 1, 2021 at 10:00 AM Alice <alice@example.org> wrote:\n"
              "> Shall we meet on Friday to plan the new oven?\n",
              mid="<m2@list.example>", day=1, hour=12, in_reply_to="<m1@list.example>",
              references="<m1@list.example>"),
        # References only, and Latin-1 in quoted-printable
        _raw("From: =?iso-8859-1?q?J=FCrgen?= <juergen@koeln.example>\nSubject: AW: Bakery meeting\n"
             "Date: " + format_datetime(_when(2, 8)) + "\nMessage-ID: <m3@list.example>\n"
             "References: <m1@list.example> <m2@list.example>\nMIME-Version: 1.0\n"
             "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable",
             b"Gr=FC=DFe aus K=F6ln, ich komme auch."),
        # HTML only, in Windows-1252
        _raw("From: Dan Brown <dan@farm.example>\nSubject: Harvest plans\nDate: " + format_datetime(_when(4, 9)) +
             "\nMessage-ID: <m4@list.example>\nMIME-Version: 1.0\nContent-Type: text/html; charset=windows-1252",
             "<html><body><p>The harvest costs 300 € a day: <b>we need helpers</b>.</p>"
             "<ul><li>apples</li><li>pears</li></ul></body></html>".encode("cp1252")),
        # no In-Reply-To or References: threaded by its subject; ISO-2022-JP
        _raw("From: =?iso-2022-jp?b?GyRCOzNFRBsoQg==?= <yamada@example.jp>\nSubject: Re: Harvest plans\n"
             "Date: " + format_datetime(_when(4, 15)) + "\nMessage-ID: <m5@list.example>\nMIME-Version: 1.0\n"
             "Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: 7bit",
             "こんにちは、手伝います。".encode("iso-2022-jp")),
        bytes(with_file),
        _mail("Dan Brown <dan@farm.example>", "Re: Harvest plans", "Thank you, see you at the orchard.",
              mid="<m9@list.example>", day=4, hour=18, in_reply_to="<m5@list.example>"),
        # a declared charset that does not exist: the bytes are UTF-8
        _raw("From: eve@example.org\nSubject: Odd charset\nDate: " + format_datetime(_when(6, 9)) +
             "\nMessage-ID: <m7@list.example>\nMIME-Version: 1.0\n"
             "Content-Type: text/plain; charset=x-no-such-charset\nContent-Transfer-Encoding: 8bit",
             "Un café pour tout le monde.".encode()),
        # the same subject again, not as a reply: a topic of its own
        _mail("Frank <frank@example.org>", "Odd charset", "Another thread that happens to share a subject.",
              mid="<m10@list.example>", day=8, hour=9),
        _mail(None, "Nobody sent this", "A message without a sender.", mid="<bad1@list.example>", day=7, hour=9),
        b"\x00\x01garbage that is no message at all\n\xff\xfe\n",
    ]


@pytest.fixture
def mbox_file(tmp_path):
    path = tmp_path / "list.mbox"
    path.write_bytes(_mbox(*archive()))
    return path


def _import(db, settings, path, category="mail", *, dry_run=False):
    return mbox.run(db, settings, mbox.Options(path=path, category=category, dry_run=dry_run), out=io.StringIO())


def _topic(s, title) -> Topic:
    return s.scalar(select(Topic).where(Topic.title == title))


def _posts(s, topic) -> list[Post]:
    return list(s.scalars(select(Post).where(Post.topic_id == topic.id).order_by(Post.post_number)))


def test_subjects_lose_their_reply_and_list_prefixes():
    assert normalise_subject("Re: [coops] AW: Fwd: Bakery meeting") == ("Bakery meeting", True)
    assert normalise_subject("RE[2]: Bakery") == ("Bakery", True)
    assert normalise_subject("Fwd: Minutes") == ("Minutes", False)
    assert normalise_subject("[coops] Minutes") == ("Minutes", False)


def test_an_archive_becomes_threads_with_their_authors_dates_charsets_and_files(db, settings, make_user,
                                                                                 make_category, mbox_file):
    alice = make_user("alice")
    make_category("Mail")
    report = _import(db, settings, mbox_file)
    assert report.ok, report.failed
    assert report.done["topics"] == 4 and report.done["messages"] == 9 and report.done["attachments"] == 1
    assert report.done["staged accounts"] == 6
    assert report.skipped[("messages", "no usable From address")] == 2  # no From, and the garbage
    with db.read() as s:
        bakery = _topic(s, "Bakery meeting")
        posts = _posts(s, bakery)
        assert [p.user.email for p in posts] == ["alice@example.org", "bob@bakery.example", "juergen@koeln.example"]
        assert posts[0].user_id == alice.id and not posts[0].user.staged
        assert posts[1].user.staged and posts[1].user.name == "Bob Baker"
        assert posts[2].user.name == "Jürgen"
        assert [p.reply_to_post_number for p in posts] == [None, 1, 2]
        assert posts[1].created_at.replace(tzinfo=UTC) == _when(1, 12)
        assert bakery.created_at.replace(tzinfo=UTC) == _when(1, 10)
        assert bakery.last_posted_at.replace(tzinfo=UTC) == _when(2, 8) and bakery.posts_count == 3
        # the quote and the signature are folded away
        assert "quotes" in posts[1].raw and "Shall we meet" not in posts[1].raw and "Co-op Bakery" not in posts[1].raw
        assert posts[2].raw == "Grüße aus Köln, ich komme auch." and "<p>Grüße aus Köln" in posts[2].cooked

        harvest = _topic(s, "Harvest plans")
        posts = _posts(s, harvest)
        assert "300 € a day" in posts[0].raw and "**we need helpers**" in posts[0].raw
        assert "<strong>we need helpers</strong>" in posts[0].cooked and "<li>pears</li>" in posts[0].cooked
        assert posts[1].raw == "こんにちは、手伝います。" and posts[1].user.name == "山田"
        assert posts[1].reply_to_post_number is None  # joined by its subject only
        assert posts[2].raw == "Thank you, see you at the orchard." and posts[2].reply_to_post_number == 2
        assert posts[3].reply_to_post_number == 1
        files = uploads.attached(s, posts[3].id)
        assert [f.original_filename for f in files] == ["field-plan.png"] and files[0].user_id == posts[3].user_id

        odd = list(s.scalars(select(Topic).where(Topic.title == "Odd charset").order_by(Topic.id)))
        assert [_posts(s, t)[0].raw for t in odd] == ["Un café pour tout le monde.",
                                                      "Another thread that happens to share a subject."]
        assert s.scalar(select(func.count()).select_from(Topic)) == 4
        # counters and search are those of ordinary posting
        assert s.get(User, alice.id).post_count == 1 and s.get(User, alice.id).topic_count == 1

    again = _import(db, settings, mbox_file)
    assert not again.done and again.ok and again.skipped[("messages", "imported before")] == 9


def test_new_messages_of_a_later_archive_join_their_threads(db, settings, make_category, mbox_file, tmp_path):
    make_category("Mail")
    _import(db, settings, mbox_file)
    later = tmp_path / "later.mbox"
    later.write_bytes(_mbox(*archive()[:2], _mail(
        "Alice <alice@example.org>", "Re: Bakery meeting", "See you all on Friday then.",
        mid="<m8@list.example>", day=3, hour=9, in_reply_to="<m2@list.example>")))
    report = _import(db, settings, later)
    assert dict(report.done) == {"messages": 1}
    with db.read() as s:
        bakery = _topic(s, "Bakery meeting")
        posts = _posts(s, bakery)
        assert len(posts) == 4 and posts[3].reply_to_post_number == 2 and posts[3].raw == "See you all on Friday then."
        assert posts[3].user.staged  # alice has no account here: the same staged one as before
        assert bakery.last_posted_at.replace(tzinfo=UTC) == _when(3, 9)


def test_dry_run_counts_and_writes_nothing(db, settings, make_category, mbox_file):
    make_category("Mail")
    report = _import(db, settings, mbox_file, dry_run=True)
    assert report.done["topics"] == 4 and report.done["messages"] == 9
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(ImportedRecord)) == 0
        assert s.scalar(select(func.count()).select_from(Topic)) == 0


def test_a_staged_account_is_claimed_by_a_password_reset_sent_to_its_address(db, settings, make_category,
                                                                             mbox_file):
    make_category("Mail")
    _import(db, settings, mbox_file)
    with db.write() as s:
        bob = s.scalar(select(User).where(User.email == "bob@bakery.example"))
        assert bob.staged and accounts.authenticate(s, "bob@bakery.example", "anything at all") is None
        with pytest.raises(ValidationFailed) as refused:
            accounts.create_user(s, username="bobby", email="bob@bakery.example", password="a good password 1")
        assert "password reset" in str(refused.value.fields["email"])
        token = emails._new_token(s, bob, emails.RESET)
    with db.write() as s:
        emails.reset_password(s, token, "bob's own password")
    with db.write() as s:
        bob = accounts.authenticate(s, "bob@bakery.example", "bob's own password")
        assert bob is not None and not bob.staged and auth.verify_password(bob.password_hash, "bob's own password")
        assert s.scalar(select(func.count()).select_from(Post).where(Post.user_id == bob.id)) == 1


def _cli(monkeypatch, database_url, *args):
    from forum import cli

    monkeypatch.setenv("FORUM_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        return cli.main(["import", *args])
    finally:
        get_settings.cache_clear()


def test_missing_file_or_unknown_category_stops_with_one_line(db, database_url, make_category, mbox_file,
                                                              monkeypatch, capsys, tmp_path):
    make_category("Mail")
    code = _cli(monkeypatch, database_url, "mbox", str(tmp_path / "nope.mbox"), "--category", "mail")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no such file" in err and "nothing was imported" in err
    not_mail = tmp_path / "notes.txt"
    not_mail.write_text("Just some notes.\n")
    code = _cli(monkeypatch, database_url, "mbox", str(not_mail), "--category", "mail")
    assert code == 2 and "not an mbox file" in capsys.readouterr().err
    code = _cli(monkeypatch, database_url, "mbox", str(mbox_file), "--category", "nowhere")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no category with the slug 'nowhere'" in err
    code = _cli(monkeypatch, database_url, "mbox", str(mbox_file), "--category", "mail", "--dry-run")
    assert code == 0 and "would import" in capsys.readouterr().out
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Topic)) == 0


def test_a_thread_that_fails_is_reported_and_comes_in_on_the_next_run(db, settings, make_category, mbox_file,
                                                                       monkeypatch):
    make_category("Mail")
    real = mbox.append_post

    def failing(session, topic, user_id, raw, created, **kw):
        if "café" in raw:
            raise RuntimeError("disk full")
        return real(session, topic, user_id, raw, created, **kw)

    monkeypatch.setattr(mbox, "append_post", failing)
    first = _import(db, settings, mbox_file)
    assert not first.ok and first.failed[("threads", "RuntimeError: disk full")] == 1
    assert first.done["topics"] == 3 and first.done["messages"] == 8
    with db.read() as s:
        assert [_posts(s, t)[0].user.email for t in s.scalars(select(Topic).where(Topic.title == "Odd charset"))] \
            == ["frank@example.org"]
        assert s.scalar(select(func.count()).select_from(User).where(User.email == "eve@example.org")) == 0
    monkeypatch.setattr(mbox, "append_post", real)
    second = _import(db, settings, mbox_file)
    assert second.ok and dict(second.done) == {"topics": 1, "messages": 1, "staged accounts": 1}
