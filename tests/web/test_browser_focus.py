"""Focus and keys after asynchronous actions, in real Chromium: the store chat sends on Enter (Shift+Enter is
a new line, an input method's Enter only confirms) and gives the caret back after the answer; "More" moves
the focus to the first new item; a refused form lands on its first invalid field; chart labels are legible.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import PASSWORD


def _log_in(page, site):
    page.goto("/login")
    page.get_by_label("Email").fill(site.creator_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


def test_the_chat_sends_on_enter_and_keeps_the_caret_in_the_message_box(page, site):
    _log_in(page, site)
    page.goto(f"/g/{site.gpt_id}")
    page.get_by_role("button", name="Start chat").click()
    box = page.get_by_label("Message")
    box.fill("First line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("First line\nsecond line")
    expect(page.locator(".message.user")).to_have_count(0)

    # Enter while an input method composes confirms the text: nothing is sent
    page.evaluate(
        """() => document.querySelector('form[data-stream-chat] textarea').dispatchEvent(new KeyboardEvent(
            'keydown', {key: 'Enter', isComposing: true, bubbles: true, cancelable: true}))"""
    )
    expect(page.locator(".message.user")).to_have_count(0)

    box.press("Enter")
    expect(page.locator(".message.user .text")).to_have_text(["First line\nsecond line"])
    expect(page.locator(".message.assistant[aria-busy]")).to_have_count(0)
    expect(page.locator(".message.assistant .text").last).not_to_be_empty()
    expect(box).to_be_focused()
    expect(box).to_have_value("")

    box.fill("And with the button?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.user")).to_have_count(2)
    expect(page.locator(".message.assistant[aria-busy]")).to_have_count(0)
    expect(box).to_be_focused()

    page.allow_console_error("status of 422")  # the page that comes back says why
    box.fill("   ")  # only spaces: said at the box, not swallowed without a word
    box.press("Enter")
    expect(page.locator("#e-content")).to_have_text("Message must not be blank.")
    expect(page.get_by_label("Message")).to_be_focused()


def test_more_results_moves_the_focus_to_the_first_new_result(page, site):
    page.goto("/search?q=fjord")
    expect(page.locator("#results .card").first).to_be_visible()
    cards = page.locator("#results > a.card, #results > .card").count()
    # A "More" link as the template writes it (the seeded store fits on one page), loaded by the page's htmx.
    page.evaluate(
        """() => {
            const more = document.createElement('p');
            more.className = 'more';
            more.innerHTML = '<a class="button secondary" href="/search?sort=new" ' +
                'hx-get="/search?sort=new" hx-select="#results > *" hx-target="closest .more" ' +
                'hx-swap="outerHTML">More results</a>';
            document.getElementById('results').appendChild(more);
            window.htmx.process(more);
        }"""
    )
    page.get_by_role("link", name="More results").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="More results")).to_have_count(0)
    first_new = page.locator("#results > *").nth(cards)
    expect(first_new.get_by_role("link").first).to_be_focused()


def test_a_refused_form_puts_the_focus_on_its_first_invalid_field(page, site):
    page.allow_console_error("status of 422")  # the refused form's page comes back as a 422
    page.goto("/signup")
    page.get_by_label("Display name").fill("Reader")
    page.get_by_label("Email").fill("not an address")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email")).to_be_focused()


def test_chart_labels_are_legible_on_a_phone(browser, site):
    context = browser.new_context(base_url=site.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    _log_in(page, site)
    page.goto(f"/creator/gpts/{site.gpt_id}/stats")
    heights = page.locator("svg text.label").evaluate_all(
        "labels => labels.map(l => l.getBoundingClientRect().height)"
    )
    context.close()
    assert heights and min(heights) >= 9, heights
