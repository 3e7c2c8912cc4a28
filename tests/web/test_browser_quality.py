"""In Chromium: the store is usable with the keyboard alone (every stop shows its focus), and every page,
the embedded chat window and an error page included, fits a 360 px wide screen without sideways scrolling."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from core.db import Database, create_engine
from tests.web.conftest import PASSWORD, _in_thread
from tools.models import GptMcpServer


def focused(page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
            const name = e.getAttribute('aria-label') || e.innerText || e.value || '';
            return {tag: e.tagName, name: name.trim(), href: e.getAttribute('href') || '',
                    outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"""
    )


def tab_to(page, pattern: str, limit: int = 60) -> dict:
    """Press Tab until the focused element's name matches; every stop on the way must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        assert element["outline"] != "none" and element["width"] >= 2, element  # a visible focus ring
        if re.search(pattern, element["name"]):
            return element
    raise AssertionError(f"no focusable element named {pattern!r} within {limit} Tab presses")


def test_the_store_works_with_the_keyboard_alone(page, site):
    page.goto("/")
    tab_to(page, r"^Skip to content$")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.type("fjord")  # the search box is the first control of the content
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=fjord"))
    page.wait_for_load_state()
    card = tab_to(page, r"^(FG\s+)?Fjord Guide")
    assert card["href"] == f"/g/{site.gpt_id}", card
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Fjord Guide")
    page.wait_for_load_state()
    tab_to(page, r"^Start chat$")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # signed out: log in first, then come back
    page.keyboard.press("Tab")
    for _ in range(20):
        if focused(page)["tag"] == "INPUT":
            break
        page.keyboard.press("Tab")
    page.keyboard.type(site.creator_email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/g/{site.gpt_id}$"))


def _with_wordy_mcp_server(database_url: str, gpt_id: str) -> None:
    """An MCP server row of the GPT's draft as saving one stores it, its tool described by one unbroken
    3,000-character word."""

    async def add() -> None:
        db = Database(create_engine(database_url, pool_size=1))
        async with db.session_scope() as session:
            tool = {"name": "wordy", "description": "D" * 3000, "input_schema": {"type": "object"}}
            session.add(
                GptMcpServer(
                    gpt_id=uuid.UUID(gpt_id),
                    server_label="wordy",
                    server_url="https://mcp.example.com/" + "p" * 300,
                    tools=[tool],
                    require_approval="never",
                )
            )
        await db.dispose()

    _in_thread(add())


def test_every_page_fits_360_pixels(browser, site):
    context = browser.new_context(base_url=site.url, viewport={"width": 360, "height": 740})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(site.creator_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/g/{site.gpt_id}")
    page.get_by_role("button", name="Start chat").click()
    page.get_by_label("Message").fill("A long question " * 20)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant[aria-busy]")).to_have_count(0)
    chat = page.url
    _with_wordy_mcp_server(site.settings.database_url, site.gpt_id)
    paths = [
        "/", "/search?q=fjord", f"/g/{site.gpt_id}", f"/g/{site.xss_gpt_id}", chat, "/chats", "/account",
        "/creator", f"/g/{site.gpt_id}/embed", f"/embed/{site.gpt_id}", "/no/such/page", "/signup",
        f"/builder/{site.gpt_id}/tools",  # a tool described by one 3,000-character word made it 37,094 px
    ]  # fmt: skip
    for path in paths:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways at 360 px ({width} px wide)"
        # nor inside: a table in a scrolling box showed a third of its columns (the creator dashboard)
        inner = page.evaluate(
            "[...document.querySelectorAll('.table-wrap')].map(e => e.scrollWidth - e.clientWidth)"
        )
        assert all(extra <= 1 for extra in inner), f"{path} has a table that scrolls sideways: {inner}"
    # The publish dialog, many screens long on a phone, is closed from its top, where it opens.
    page.goto(f"/builder/{site.gpt_id}")
    page.get_by_role("link", name="Publish").click()
    close = page.locator("#publish-dialog").get_by_role("button", name="Close")
    box = close.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 740 / 2, box
    page.locator("#publish-panel").evaluate("p => p.scrollTo(0, p.scrollHeight)")
    box = close.bounding_box()
    assert box is not None and 0 <= box["y"] <= 740 - box["height"], box  # still in view at its end
    close.click()
    expect(page.locator("#publish-dialog")).not_to_be_visible()
    context.close()


def test_a_name_ending_right_to_left_keeps_the_words_after_it_in_order(page, site):
    """A creator named "Ådne نور" made the byline read "By Ådne 0 · نور conversations": the name's Arabic
    end took the count after it into its right-to-left run."""
    page.goto(f"/g/{site.gpt_id}")
    after_the_name = page.evaluate(
        """() => {
            const name = document.querySelector("main p.muted a");
            name.textContent = "Ådne نور";  // as the page renders such a name
            let rest = name.nextSibling;  // up to " · 1 conversation · version 1": a GPT without a category
            while (rest && !/[0-9]/.test(rest.textContent)) {
                const next = rest.nextSibling;
                rest.remove();
                rest = next;
            }
            const at = rest.textContent.search(/[0-9]/);
            const range = document.createRange();
            range.setStart(rest, at);
            range.setEnd(rest, at + 1);
            return range.getBoundingClientRect().left >= name.getBoundingClientRect().right - 1;
        }"""
    )
    assert after_the_name, "the count after the creator's name was drawn inside it"
