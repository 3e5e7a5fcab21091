"""Attaching files in Chromium: by the button (with and without JavaScript) and by drag and drop;
the image shows in the post."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.browser.conftest import log_in, require_playwright

require_playwright()
from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (20, 120, 60)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_attach_an_image_with_the_button(new_page, make_user, make_category, make_topic, javascript):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Photos"), title="Photos of the assembly hall")
    page = new_page(javascript=javascript)
    log_in(page, "ana")
    page.goto(f"/t/{topic.slug}/{topic.id}")
    page.locator("#reply-raw").fill("The hall before the assembly.")
    page.get_by_label("Attach files").set_input_files(
        files=[{"name": "hall.png", "mimeType": "image/png", "buffer": _png()}])
    if javascript:
        expect(page.locator(".upload-status")).to_have_text("Attached hall.png.")
        expect(page.locator("#reply-raw")).to_have_value(
            re.compile(r"^The hall before the assembly\.\n!\[hall\|320x200\]\(upload://\w+\.png\)\n$"))
    page.get_by_role("button", name="Post reply").click()
    image = page.locator("#post_2 .cooked a.lightbox img")
    expect(image).to_have_attribute("width", "320")
    expect(image).to_have_attribute("alt", "hall")
    # The image is there for this person: fetched with the page's own cookies, a 320 px PNG.
    src = image.get_attribute("src")
    fetched = page.request.get(src)
    assert fetched.status == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.body())).size == (320, 200)


def test_drop_a_file_on_the_text_box(page, make_user, make_category, make_topic):
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("Reports"), title="Reports of the national federations")
    log_in(page, "ana")
    page.goto(f"/t/{topic.slug}/{topic.id}")
    area = page.locator("#reply-raw")
    area.fill("Our report:")
    transfer = page.evaluate_handle("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["país,delegados\\nItalia,3\\n"], "delegates.csv", { type: "text/csv" }));
        return dt;
    }""")
    area.dispatch_event("dragover", {"dataTransfer": transfer})
    area.dispatch_event("drop", {"dataTransfer": transfer})
    expect(area).to_have_value(re.compile(r"^Our report:\n\[delegates\.csv\|attachment\]\(upload://\w+\.csv\) \(\d+ B\)\n$"))
    page.get_by_role("button", name="Post reply").click()
    link = page.locator("#post_2 .cooked a.attachment")
    expect(link).to_have_text("delegates.csv")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "delegates.csv"
