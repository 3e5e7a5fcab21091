"""The markdown renderer: features on, raw HTML off, links marked, output sanitised."""

import re

import pytest

from forum.markdown import cook, excerpt


def known(*names):
    return lambda candidates: {c: n for n in names for c in candidates if c == n.lower()}


def test_commonmark_tables_strikethrough_and_fenced_code():
    html = cook("| a | b |\n|---|--:|\n| 1 | 2 |\n\n~~old~~ **bold**\n\n```python\nprint(1)\n```").html
    assert "<table>" in html and '<td style="text-align:right">2</td>' in html
    assert "<s>old</s>" in html and "<strong>bold</strong>" in html
    assert '<pre><code class="lang-python">print(1)' in html


def test_autolinks_carry_rel():
    html = cook("See https://cicopa.example.org/report for details").html
    assert '<a href="https://cicopa.example.org/report" rel="nofollow ugc noopener">' in html


@pytest.mark.parametrize("attack", [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "![x](javascript:alert(1))",
])
def test_raw_html_and_dangerous_links_are_neutralised(attack):
    html = cook(attack).html
    assert "<script" not in html and "<iframe" not in html
    assert not re.search(r"<[a-z]+[^>]*\bon\w+=", html)  # no event-handler attribute on a real tag
    assert not re.search(r"<[a-z]+[^>]*\b(href|src)=\"javascript:", html)


def test_mentions_link_only_existing_users():
    html = cook("Thanks @Ana and @ghost, mail me at x@ana.org", known("Ana")).html
    assert '<a class="mention" href="/u/Ana"' in html
    assert "@ghost" in html and 'href="/u/ghost"' not in html
    assert 'href="/u/ana.org"' not in html


def test_mentions_are_not_made_inside_code():
    html = cook("`@Ana` and\n\n    @Ana in a block", known("Ana")).html
    assert 'class="mention"' not in html


def test_quote_block_with_attribution_and_nested_markdown():
    cooked = cook('[quote="ana, post:3, topic:7"]\nWe **agree**.\n[/quote]\n\nMe too.')
    assert '<aside class="quote" data-username="ana" data-post="3" data-topic="7">' in cooked.html
    assert "<strong>agree</strong>" in cooked.html and "Me too." in cooked.html
    assert cooked.quotes == [("ana", 3, 7)]


def test_unclosed_quote_stays_text():
    assert "<aside" not in cook('[quote="ana"]\nno end').html


def test_excerpt_is_plain_text_cut_at_a_word():
    text = excerpt(cook("Hello **world** " + "word " * 100).html, 30)
    assert text.startswith("Hello world") and text.endswith("…") and "<" not in text


def test_footnotes_render_after_the_post_with_links_both_ways():
    html = cook("Our bylaws[^1] changed, see the minutes^[Of the 2026 assembly.].\n\n[^1]: Article 7, on **tiers**.").html
    refs = re.findall(r'<sup class="footnote-ref"><a href="#(fn-[0-9a-f]+-\d)" id="(fnref-[0-9a-f]+-\d)"', html)
    assert len(refs) == 2
    assert '<hr class="footnotes-sep">' in html and '<section class="footnotes">' in html
    for target, back in refs:
        assert f'<li id="{target}" class="footnote-item">' in html
        assert f'<a href="#{back}" class="footnote-backref"' in html
    assert "Article 7, on <strong>tiers</strong>." in html and "Of the 2026 assembly." in html
    assert excerpt(html) == "Our bylaws[1] changed, see the minutes[2]."


def test_footnote_ids_differ_between_posts_on_one_page():
    first = cook("One[^1]\n\n[^1]: First post's note.").html
    second = cook("Two[^1]\n\n[^1]: Second post's note.").html
    assert set(re.findall(r'id="([^"]+)"', first)).isdisjoint(re.findall(r'id="([^"]+)"', second))


def test_footnotes_are_sanitised_like_the_rest_of_the_post():
    html = cook('Note[^1]\n\n[^1]: <script>alert(1)</script> [x](javascript:alert(1))').html
    assert '<section class="footnotes">' in html
    assert "<script>" not in html and 'href="javascript' not in html


def test_sanitizer_keeps_only_footnote_ids():
    from forum.markdown import sanitize

    html = sanitize('<a id="main" href="#top">a</a><li id="fn-0123456789-1" class="footnote-item">b</li>'
                    '<section class="footnotes" onclick="x()" id="content">c</section>')
    assert 'id="main"' not in html and 'id="content"' not in html and "onclick" not in html
    assert '<li id="fn-0123456789-1" class="footnote-item">' in html and '<section class="footnotes">' in html


def test_emoji_shortcodes_become_emoji_outside_code():
    html = cook("Budget approved :tada: :+1:, see `:tada:` and 10:30:45\n\n```\n:smile:\n```").html
    assert "Budget approved 🎉 👍," in html
    assert "<code>:tada:</code>" in html and ":smile:" in html and "10:30:45" in html
    assert ":not_an_emoji:" in cook("a :not_an_emoji: stays").html
