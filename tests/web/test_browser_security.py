"""In real Chromium, from a page on another site (127.0.0.2): the embedded chat (allowed origins, a session
scoped to its GPT, the rate limit), a cross-site form post refused, and markup in a GPT's name shown as text
on every page, the embedded window included, with no dialog ever opening."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.web.conftest import PASSWORD, XSS_NAME


@dataclass
class OtherSite:
    """Another website (another host, so another site for SameSite cookies) serving the pages put here."""

    url: str
    pages: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def other_site() -> Iterator[OtherSite]:
    site = OtherSite("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not here").encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    site.url = f"http://127.0.0.2:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def host_page(site, gpt_id: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><title>A shop</title></head><body><h1>A shop about fjords</h1>"
        f"<script src='{site.url}/static/embed.js' data-gpt='{gpt_id}' data-label='Ask our guide' async>"
        "</script></body></html>"
    )


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


def set_origins(page, gpt_id: str, origins: str) -> None:
    page.goto(f"/g/{gpt_id}/embed")
    page.get_by_label(re.compile("Origins, one per line")).fill(origins)
    page.get_by_role("button", name="Save origins").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")


def test_the_embedded_chat_answers_on_another_site_only_where_allowed(browser, page, site, other_site):
    # The creator finds the snippet on the GPT's page and restricts it to a site that is not this one.
    log_in(page, site.creator_email)
    page.goto(f"/g/{site.gpt_id}")
    page.get_by_role("link", name="Embed on your website").click()
    snippet = page.get_by_label("Embed snippet").input_value()
    assert snippet == f'<script src="{site.url}/static/embed.js" data-gpt="{site.gpt_id}" async></script>'
    set_origins(page, site.gpt_id, "https://shop.example.com")

    other_site.pages["/shop.html"] = host_page(site, site.gpt_id)
    visitor = browser.new_context()
    visitor.set_default_timeout(15_000)
    shop = visitor.new_page()
    refusals: list[str] = []
    shop.on("console", lambda m: refusals.append(m.text) if "frame-ancestors" in m.text else None)
    shop.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    try:
        shop.goto(f"{other_site.url}/shop.html")
        launcher = shop.get_by_role("button", name="Ask our guide")
        launcher.click()
        expect(launcher).to_have_attribute("aria-expanded", "true")
        shop.wait_for_timeout(500)
        frame = shop.frame_locator("iframe[title^='Ask our guide']")
        expect(frame.get_by_label("Message")).to_have_count(0)  # the browser refused to show it here
        assert any("frame-ancestors https://shop.example.com" in r for r in refusals), refusals

        # Allowed now: the visitor chats anonymously.
        set_origins(page, site.gpt_id, f"https://shop.example.com\n{other_site.url}")
        shop.reload()
        shop.get_by_role("button", name="Ask our guide").click()
        frame = shop.frame_locator("iframe[title^='Ask our guide']")
        expect(frame.get_by_role("heading", name="Fjord Guide")).to_be_visible()
        frame.get_by_role("button", name="Best fjord in May?").click()  # a conversation starter
        answer = frame.locator(".message.assistant .text").last
        expect(frame.locator(".message.assistant[aria-busy]")).to_have_count(0)
        expect(answer).not_to_be_empty()
        frame.get_by_label("Message").fill("How cold is the water?")
        frame.get_by_role("button", name="Send").click()
        asked = ["Best fjord in May?", "How cold is the water?"]
        expect(frame.locator(".message.user .text")).to_have_text(asked)
        expect(frame.locator(".message.assistant[aria-busy]")).to_have_count(0)
        assert not frame.locator(".message.error-message").count()
        # Escape closes the window and gives the focus back to the launcher.
        shop.get_by_role("heading", name="A shop about fjords").click()
        shop.keyboard.press("Escape")
        expect(shop.get_by_role("button", name="Ask our guide")).to_have_attribute("aria-expanded", "false")

        # The window's token is scoped to its GPT: another GPT refuses it.
        inner = next(f for f in shop.frames if f.url.startswith(f"{site.url}/embed/"))
        status = inner.evaluate(
            """async (other) => {
                const token = document.querySelector('meta[name="embed-token"]').content;
                const response = await fetch(`/api/embed/${other}/messages`, {method: "POST",
                    headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
                    body: JSON.stringify({content: "hi"})});
                return response.status;
            }""",
            site.xss_gpt_id,
        )
        assert status == 403

        # Past the visitor's limit (GPTSTORE_EMBED_MESSAGES_PER_VISITOR_PER_MINUTE), the window says so.
        statuses = inner.evaluate(
            """async () => {
                const token = document.querySelector('meta[name="embed-token"]').content;
                const out = [];
                for (let i = 0; i < 10; i++) {
                    const response = await fetch(location.pathname.replace('/embed/', '/api/embed/') +
                        '/messages', {method: "POST", body: JSON.stringify({content: "again " + i}),
                        headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"}});
                    out.push(response.status);
                }
                return out;
            }"""
        )
        assert statuses[-1] == 429 and 200 in statuses
        shop.get_by_role("button", name="Ask our guide").click()
        frame.get_by_label("Message").fill("One more?")
        frame.get_by_role("button", name="Send").click()
        expect(frame.get_by_role("alert")).to_contain_text("Too many")
    finally:
        visitor.close()
        set_origins(page, site.gpt_id, "")


def test_several_snippets_on_one_page_share_a_dock_and_one_window_opens_at_a_time(browser, site, other_site):
    other_site.pages["/two.html"] = (
        "<!doctype html><html lang='en'><head><title>Two guides</title></head><body><h1>Two guides</h1>"
        f"<script src='{site.url}/static/embed.js' data-gpt='{site.gpt_id}' data-label='Fjords' async>"
        "</script>"
        f"<script src='{site.url}/static/embed.js' data-gpt='{site.xss_gpt_id}' data-label='Other' async>"
        "</script></body></html>"
    )
    visitor = browser.new_context(viewport={"width": 390, "height": 844})  # a phone: little room
    visitor.set_default_timeout(15_000)
    shop = visitor.new_page()
    try:
        shop.goto(f"{other_site.url}/two.html")
        fjords, other = shop.get_by_role("button", name="Fjords"), shop.get_by_role("button", name="Other")
        expect(other).to_be_visible()
        # A third snippet added later by the page's own script (its copy of embed.js counts from one too).
        shop.evaluate(
            """([src, gpt]) => { const s = document.createElement('script'); s.src = src; s.async = true;
                s.setAttribute('data-gpt', gpt); s.setAttribute('data-label', 'Third');
                document.body.appendChild(s); }""",
            [f"{site.url}/static/embed.js", site.gpt_id],
        )
        third = shop.get_by_role("button", name="Third")
        expect(third).to_be_visible()
        boxes = [b.bounding_box() for b in (fjords, other, third)]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:  # side by side, never on top of each other
                apart = (
                    a["x"] + a["width"] <= b["x"]
                    or b["x"] + b["width"] <= a["x"]
                    or a["y"] + a["height"] <= b["y"]
                    or b["y"] + b["height"] <= a["y"]
                )
                assert apart, boxes
        ids = [b.get_attribute("aria-controls") for b in (fjords, other, third)]
        assert len(set(ids)) == 3, ids

        fjords.click()
        expect(shop.frame_locator(f"#{ids[0]}").get_by_role("heading", name="Fjord Guide")).to_be_visible()
        other.click()  # one window at a time: the first closes
        expect(other).to_have_attribute("aria-expanded", "true")
        expect(fjords).to_have_attribute("aria-expanded", "false")
        expect(shop.locator(f"#{ids[0]}")).to_be_hidden()
        expect(shop.locator(f"#{ids[1]}")).to_be_visible()
        window, dock = shop.locator(f"#{ids[1]}").bounding_box(), other.bounding_box()
        assert window["y"] + window["height"] <= dock["y"], (window, dock)  # above the buttons
        # Escape in the window (the focus is in its message box) closes it and the focus goes back.
        shop.frame_locator(f"#{ids[1]}").get_by_label("Message").press("Escape")
        expect(other).to_have_attribute("aria-expanded", "false")
        expect(other).to_be_focused()
    finally:
        visitor.close()


def test_a_cross_site_form_post_is_refused(browser, site, other_site):
    context = browser.new_context(base_url=site.url)  # the refusal's 403 is logged: not `page`'s failure
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, site.creator_email)
    page.goto("/account")
    before = page.get_by_label("Display name").input_value()
    other_site.pages["/forged.html"] = (
        "<!doctype html><html lang='en'><head><title>Win a prize</title></head><body>"
        f"<form method='post' action='{site.url}/account/profile'>"
        "<input type='hidden' name='display_name' value='Hacked'>"
        "<input type='hidden' name='csrf_token' value='guessed-token-guessed-token-guessed-token'>"
        "<button type='submit'>Claim your prize</button></form></body></html>"
    )
    page.goto(f"{other_site.url}/forged.html")
    with page.expect_response(f"{site.url}/account/profile") as posted:
        page.get_by_role("button", name="Claim your prize").click()
    assert posted.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_be_visible()  # the app's own error page
    page.goto(f"{site.url}/account")
    expect(page.get_by_label("Display name")).to_have_value(before)  # nothing changed
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()  # still signed in
    context.close()


def test_markup_in_a_gpt_name_is_text_everywhere(page, site, other_site):
    # `page` fails the test on any dialog or console error (a CSP violation included).
    for path in ("/", "/search?sort=new", f"/g/{site.xss_gpt_id}", "/creators/"):
        if path == "/creators/":
            page.goto(f"/g/{site.xss_gpt_id}")
            page.get_by_role("link", name="Fjord Creator").first.click()
        else:
            page.goto(path)
        expect(page.get_by_text(XSS_NAME).first).to_be_visible()
        assert page.locator("img[src='x']").count() == 0, path
    log_in(page, site.creator_email)
    for path in (f"/g/{site.xss_gpt_id}", "/creator", f"/g/{site.xss_gpt_id}/embed"):
        page.goto(path)
        assert page.locator("img[src='x']").count() == 0, path
    page.goto(f"/g/{site.xss_gpt_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_NAME)
    page.get_by_role("button", name="Start chat").click()
    expect(page.get_by_role("link", name=XSS_NAME)).to_be_visible()
    page.get_by_label("Message").fill(XSS_NAME)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant[aria-busy]")).to_have_count(0)
    expect(page.locator(".message.user .text")).to_have_text([XSS_NAME])
    assert page.locator("img[src='x']").count() == 0

    other_site.pages["/xss.html"] = host_page(site, site.xss_gpt_id)
    page.goto(f"{other_site.url}/xss.html")
    page.get_by_role("button", name="Ask our guide").click()
    frame = page.frame_locator("iframe[title^='Ask our guide']")
    expect(frame.get_by_role("heading", level=1)).to_have_text(XSS_NAME)
    frame.get_by_label("Message").fill(XSS_NAME)
    frame.get_by_role("button", name="Send").click()
    expect(frame.locator(".message.user .text")).to_have_text([XSS_NAME])
    expect(frame.locator(".message.assistant[aria-busy]")).to_have_count(0)
    assert frame.locator("img[src='x']").count() == 0
