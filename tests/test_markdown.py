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
