"""Organisations in real Chromium: one user creates an organisation and an invitation link, another opens
the link and joins; no CSP violation (the `page` fixture fails on any console error)."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.web.conftest import PASSWORD


def _sign_up(page, name: str) -> None:
    page.goto("/signup")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(f"{name.lower().replace(' ', '-')}-{uuid.uuid4().hex[:8]}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()


def test_an_invitation_link_brings_a_new_member_in(page, browser, site):
    _sign_up(page, "Org Owner")
    page.get_by_role("link", name="Organisations").click()
    page.get_by_label("Name").fill("Fjord Tours")
    handle = f"fjord-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Handle").fill(handle)
    page.get_by_role("button", name="Create organisation").click()
    expect(page.get_by_role("heading", name="Fjord Tours", level=1)).to_be_visible()
    settings_url = page.url

    page.get_by_label("Role", exact=True).select_option("builder")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_label("Invitation link").input_value()
    assert f"{site.url}/invitations/" in link
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    expect(page.locator("#invitation-list")).to_contain_text("pending")

    guest = browser.new_context(base_url=site.url)
    try:
        other = guest.new_page()
        _sign_up(other, "Guest Builder")
        other.goto(link)
        expect(other.get_by_text("as builder")).to_be_visible()
        other.get_by_role("button", name="Accept invitation").click()
        expect(other.get_by_role("status")).to_contain_text("you joined the organisation")
        expect(other.get_by_text("your role: builder")).to_be_visible()
    finally:
        guest.close()

    page.goto(settings_url)
    expect(page.locator("#member-list")).to_contain_text("Guest Builder")
    expect(page.locator("#invitation-list")).to_contain_text("accepted")
    page.goto(f"/o/{handle}")
    expect(page.get_by_role("heading", name="Fjord Tours")).to_be_visible()
