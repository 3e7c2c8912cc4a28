"""Import from the web in the builder's Knowledge tab, in real Chromium (docs/web.md, The builder): the
form's errors at their fields, an import listed with its status, its pages fetched from a website the test
serves on loopback (as `localhost`, which the site's settings allow), and Resync."""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from playwright.sync_api import expect

from core.db import Database, create_engine
from retrieval.imports import run_import
from retrieval.models import WebImport
from tests.retrieval.web_site import LocalSite
from tests.retrieval.web_site import page as html_page
from tests.web.conftest import _in_thread
from tests.web.test_knowledge_browser import log_in


async def _run_imports(settings) -> list[str]:
    """Run every queued import as the worker would (the site runs none)."""
    db = Database(create_engine(settings.database_url, pool_size=1))
    try:
        async with db.session_scope() as session:
            ids = list(await session.scalars(sa.select(WebImport.id).where(WebImport.status == "queued")))
        return [await run_import(db, settings, uuid.UUID(str(i))) for i in ids]
    finally:
        await db.dispose()


def test_import_a_page_from_the_knowledge_tab_and_resync_it(page, site):
    with LocalSite() as web:
        web.html("/ferries", html_page("Ferry timetable", "The Geiranger ferry leaves at nine."))
        address = web.url("/ferries").replace("127.0.0.1", "localhost")
        log_in(page, site.creator_email, "/builder")
        page.get_by_role("button", name="Create a GPT").click()
        page.get_by_role("tab", name="Knowledge").click()
        form = page.locator("#import-form")

        page.allow_console_error("status of 422")
        form.get_by_label("A page").fill("http://127.0.0.2/")
        form.get_by_role("button", name="Import pages").click()
        error = page.locator("#e-import-url")
        expect(error).to_contain_text("pages may only be imported from public addresses")
        expect(page.locator("#import-url")).to_have_attribute("aria-invalid", "true")

        form = page.locator("#import-form")
        form.get_by_label("A page").fill(address)
        form.get_by_label("Open", exact=True).check()
        form.get_by_label("License of the pages (an SPDX id, for open files)").fill("NOT-A-LICENSE")
        form.get_by_role("button", name="Import pages").click()
        expect(page.locator("#e-import-license")).to_contain_text("is not an SPDX license id")
        expect(page.locator("#import-url")).to_have_value(address)  # what was typed is kept

        page.locator("#import-form").get_by_label("License of the pages (an SPDX id, for open files)").fill(
            "cc-by-4.0"
        )
        page.locator("#import-form").get_by_role("button", name="Import pages").click()
        expect(page).to_have_url(re.compile(r"done=import-started"))
        row = page.locator("#import-list li").first
        expect(row.locator("[data-import-status]")).to_have_text("Queued")
        expect(row).to_contain_text("CC-BY-4.0")

        assert _in_thread(_run_imports(site.settings)) == ["completed"]
        page.reload()
        row = page.locator("#import-list li").first
        expect(row.locator("[data-import-status]")).to_have_text("Done")
        expect(row.locator("[data-import-counts]")).to_contain_text("1 added")
        expect(page.locator("#files")).to_contain_text("Ferry timetable.html")

        row.get_by_role("button", name=re.compile("Resync")).click()
        expect(page).to_have_url(re.compile(r"done=import-resynced"))
        expect(page.locator("#import-list li").first.locator("[data-import-status]")).to_have_text("Queued")
        assert _in_thread(_run_imports(site.settings)) == ["completed"]
        page.reload()
        expect(page.locator("#import-list li").first.locator("[data-import-counts]")).to_contain_text(
            "1 unchanged"
        )
