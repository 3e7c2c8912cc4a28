"""The admin desk and the creator's stats in real Chromium: a reader reports a GPT and the admin resolves
it, moderates a listing from the review queue and reorders the featured shelf; at 360 px, by keyboard, and
with no CSP violation (the `page` fixture fails on any console error)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.web.conftest import PASSWORD, XSS_NAME


def _log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


@pytest.fixture
def desk(browser, site):
    """A fresh browser context like `page`, where the refused forms' own 422 answers are expected: any other
    console error (a CSP violation, a script error) fails the test."""
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    expected = "the server responded with a status of 422"
    page.on("console", lambda m: m.type == "error" and expected not in m.text and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    context.close()
    assert not problems, f"the page reported errors (CSP violations show here): {problems}"


def test_admin_resolves_a_report_moderates_and_reorders_featured(desk, site):
    page = desk
    # A reader reports the Fjord Guide from its page.
    page.goto("/signup")
    page.get_by_label("Display name").fill("Careful Reader")
    page.get_by_label("Email").fill(f"reader-{uuid.uuid4().hex[:8]}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.goto(f"/g/{site.gpt_id}")
    page.get_by_text("Report this GPT").click()
    page.get_by_label("Details (optional)").fill("Links to adverts")
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_role("status")).to_contain_text("your report was sent")
    page.get_by_role("button", name=re.compile("Log out")).click()

    # The first account of the site is its admin (the seeded creator).
    _log_in(page, site.creator_email)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Admin desk")

    # Reports: dismiss with a note.
    page.get_by_role("navigation", name="Admin desk").get_by_role("link", name="Reports").click()
    report = page.locator(".desk-item", has_text="Links to adverts")
    expect(report).to_contain_text("by Careful Reader")
    report.get_by_label("Resolution note (optional)").fill("Checked: the links are fine")
    report.get_by_role("button", name=re.compile("^Dismiss")).click()
    expect(page.get_by_text("No reports with status open")).to_be_visible()
    page.get_by_label("Status").select_option("dismissed")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Resolution: Checked: the links are fine")).to_be_visible()

    # Featured: add both GPTs (one by id, one by its pasted link), then move the second up by keyboard.
    page.get_by_role("link", name="Featured").click()
    field = page.get_by_label("Add a GPT: its id or the link to its page")
    field.fill(site.gpt_id)
    page.get_by_role("button", name="Add to featured").click()
    page.get_by_label("Add a GPT: its id or the link to its page").fill(f"{site.url}/g/{site.xss_gpt_id}")
    page.get_by_role("button", name="Add to featured").click()
    names = page.locator(".featured-name")
    expect(names).to_have_text(["Fjord Guide", XSS_NAME])
    page.get_by_role("button", name=f"Move up {XSS_NAME}").focus()
    page.keyboard.press("Enter")
    expect(names).to_have_text([XSS_NAME, "Fjord Guide"])
    page.get_by_label("Add a GPT: its id or the link to its page").fill("no such gpt")
    page.get_by_role("button", name="Add to featured").click()
    expect(page.get_by_role("alert")).to_have_text("Enter a GPT's id or the link to its page")

    # Review queue: unlisting needs a reason (said at the form), then takes the GPT off the store.
    page.get_by_role("link", name="Review queue").click()
    item = page.locator(".desk-item", has_text=XSS_NAME)
    item.get_by_role("button", name=re.compile("^Unlist")).click()
    expect(page.locator(".desk-item", has_text=XSS_NAME).locator(".error")).to_contain_text(
        "Reason is required."
    )
    item = page.locator(".desk-item", has_text=XSS_NAME)
    item.get_by_label("Reason").fill("Misleading name")
    item.get_by_role("button", name=re.compile("^Unlist")).click()
    expect(page.locator(".desk-item", has_text=XSS_NAME)).to_contain_text("unlisted: Misleading name")
    page.get_by_role("link", name="Featured").click()
    expect(names).to_have_text(["Fjord Guide"])  # an unlisted GPT leaves the shelf


def test_desk_and_stats_fit_360_pixels(browser, site):
    context = browser.new_context(base_url=site.url, viewport={"width": 360, "height": 740})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    _log_in(page, site.creator_email)
    paths = ["/admin", "/admin/appeals", "/admin/reports", "/admin/featured", "/admin/users", "/creator"]
    for path in [*paths, f"/creator/gpts/{site.gpt_id}/stats"]:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways at 360 px ({width} px wide)"
    chart = page.get_by_role("img", name=re.compile("Conversations per day"))
    expect(chart).to_be_visible()
    fill = chart.locator("line").first.evaluate("e => getComputedStyle(e).stroke")
    assert fill not in ("", "none")  # the stylesheet reached the inline SVG
    page.get_by_text("Data table: Conversations per day").click()
    expect(page.get_by_role("table", name="Conversations per day")).to_be_visible()
    context.close()
    assert not problems, problems
