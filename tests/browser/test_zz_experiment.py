import pytest
from sqlalchemy import text

@pytest.mark.browser
def test_exp(page, db, make_user):
    make_user("bob")
    with db.engine.connect() as c:
        print(c.execute(text("select * from site_settings")).all())
    page.goto("/login")
    print(page.context.cookies())
    print(page.locator("input[name=csrf_token]").first.get_attribute("value"))
    page.fill("input[name=login]", "bob")
    page.fill("input[name=password]", "correct-horse-battery")
    page.on("request", lambda r: print("REQ", r.method, r.url, r.headers, r.post_data))
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_timeout(500)
    print(page.url, page.title())
