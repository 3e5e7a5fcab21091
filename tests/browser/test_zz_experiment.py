import pytest
from tests.browser.conftest import log_in

@pytest.mark.browser
def test_exp(page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    make_user("bob")
    cat = make_category("News")
    topic = make_topic(ana, cat, title="General assembly 2027", raw="We meet in Lisbon in spring.\n\nSecond paragraph here.")
    log_in(page, "bob")
    page.goto(f"/t/{topic.slug}/{topic.id}")
    page.evaluate("""() => { const p = document.querySelector('#post_1 .cooked p');
      const r = document.createRange(); r.selectNodeContents(p); const s = getSelection(); s.removeAllRanges(); s.addRange(r); }""")
    print("sel before:", page.evaluate("String(getSelection())"))
    url = page.url
    page.locator("#post_1 a.quote-link").click()
    page.wait_for_timeout(500)
    print("url", url, "->", page.url)
    print("textarea:", repr(page.locator("#reply-raw").input_value()))
