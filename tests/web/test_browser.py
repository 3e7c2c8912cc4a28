"""The web app in real Chromium: sign up, log out and in, search the store, open a GPT, chat (streamed).

A handful of journeys, each a few seconds; the server is a real `gptstore` app on loopback (conftest.py).
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.web.conftest import PASSWORD, XSS_NAME


def test_sign_up_log_in_search_open_a_gpt_and_chat(page, site):
    email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/")
    expect(page.get_by_role("link", name=re.compile("Fjord Guide")).first).to_be_visible()

    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Display name").fill("Reader")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()

    page.get_by_role("button", name=re.compile("Log out")).click()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()

    page.get_by_role("searchbox", name="Search GPTs").fill("fjord")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search\?q=fjord"))
    page.get_by_role("link", name=re.compile("Fjord Guide")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fjord Guide")
    expect(page.get_by_text("Plans fjord trips.").first).to_be_visible()

    page.get_by_role("button", name="Start chat").click()
    expect(page).to_have_url(re.compile(r"/chats/[0-9a-f-]{36}$"))
    page.get_by_label("Message").fill("Which fjord should I see in May?")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".message.assistant .text").last
    expect(answer).not_to_be_empty()
    expect(page.locator(".message.assistant[aria-busy]")).to_have_count(0)
    streamed = answer.inner_text()
    page.reload()  # the streamed answer was stored: the page shows the same conversation
    expect(page.locator(".message.user .text")).to_have_text(["Which fjord should I see in May?"])
    expect(page.locator(".message.assistant .text").last).to_have_text(streamed.strip())


def test_a_gpt_named_like_markup_shows_as_text(page, site):
    page.goto(f"/g/{site.xss_gpt_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_NAME)
    assert page.locator("main img").count() == 0  # no element was created from the name
    page.goto("/search?sort=new")
    expect(page.get_by_text(XSS_NAME).first).to_be_visible()


def test_store_and_gpt_pages_work_without_javascript(browser, site):
    context = browser.new_context(base_url=site.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    page.get_by_role("link", name=re.compile("Fjord Guide")).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fjord Guide")
    page.get_by_role("link", name="Fjord Creator").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fjord Creator")
    # Without JavaScript, starting a chat asks to log in first and then comes back.
    page.goto(f"/g/{site.gpt_id}")
    page.get_by_role("button", name="Start chat").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/g/"))
    page.get_by_label("Email").fill(site.creator_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/g/{site.gpt_id}$"))
    page.get_by_role("button", name="Start chat").click()
    page.get_by_label("Message").fill("Hello without scripts")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.user .text")).to_have_text(["Hello without scripts"])
    expect(page.locator(".message.assistant")).to_have_count(1)
    context.close()


def test_pages_fit_a_360_pixel_screen_and_show_focus(browser, site):
    context = browser.new_context(base_url=site.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    for path in ("/", f"/g/{site.gpt_id}", "/login", "/search?sort=top"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways at 360 px ({width} px wide)"
    page.goto("/")
    page.keyboard.press("Tab")  # the skip link comes first and is visible when focused
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline not in ("", "none")
    context.close()
