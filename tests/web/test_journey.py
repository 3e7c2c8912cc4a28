"""The whole journey of issue #9 in real Chromium, on an app configured like the embedded default (offline,
the ingestion worker in the web process): a creator signs up and gets a paid plan from the admin, builds a
GPT by chat, configures it, uploads a file and watches it complete, previews an answer with its citation
and publishes; a reader finds it by search, chats, rates and reports it; the admin resolves the report.
Each step goes through the pages only, as a person with a browser would."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import expect

from core.app import create_app
from core.db import Database, create_engine
from core.settings import Settings
from tests.conftest import TEST_SECRET, migrated_database
from tests.factories import create_user
from tests.web.conftest import (
    PASSWORD,
    _drop_database,
    _free_port,
    _in_thread,
    _redis_db,
    chromium_executable,
)

TIMETABLE = (
    "# Ferries in western Norway\n\n## Bergen to Stavanger\n"
    "The express boat leaves Bergen at 08:00 and 14:30 every day and takes four and a half hours.\n\n"
    "## Car ferries\nCar ferries across Sognefjord run every 40 minutes between Lavik and Oppedal.\n"
)
INGESTION_MS = 90_000  # the first file loads the offline embedding model in the worker


async def _prepare(settings: Settings) -> str:
    seed = Database(create_engine(settings.database_url, pool_size=1))
    async with seed.session_scope() as session:
        admin = await create_user(session, settings, display_name="Site Admin", is_admin=True)
    await seed.dispose()
    return admin.email


@pytest.fixture(scope="module")
def journey_site(server_urls, migrated_template, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """An app like `gptstore serve` on the embedded default: offline, worker in process. (url, admin email)"""
    name = f"gptstore_journey_{os.getpid()}"
    url = _in_thread(migrated_database(server_urls[0], name, migrated_template))
    settings = Settings(
        database_url=url,
        redis_url=_redis_db(server_urls[1], 5),
        data_dir=tmp_path_factory.mktemp("journey-data"),
        secret_key=TEST_SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        run_worker=True,
    )
    admin_email = _in_thread(_prepare(settings))
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="journey-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the journey server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", admin_email
    finally:
        server.should_exit = True
        thread.join(30)
        _in_thread(_drop_database(server_urls[0], name))


@pytest.fixture(scope="module")
def chromium(journey_site) -> Iterator:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


class People:
    """One browser context per person; any console error (a CSP violation included) or dialog fails."""

    def __init__(self, browser, url: str):
        self.browser, self.url, self.contexts, self.problems = browser, url, [], []

    def new(self):
        context = self.browser.new_context(base_url=self.url)
        context.set_default_timeout(20_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def sign_up(page, name: str) -> str:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()
    return email


def test_sign_up_plan_build_upload_preview_publish_find_chat_rate_report_resolve(chromium, journey_site):
    url, admin_email = journey_site
    people = People(chromium, url)
    try:
        # A creator signs up; building needs a paid plan, which the account page explains.
        creator = people.new()
        creator_email = sign_up(creator, "Journey Creator")
        creator.get_by_role("link", name="Account").click()
        expect(creator.locator("#h-plan + p")).to_contain_text("Your plan is free")
        expect(creator.get_by_text("an administrator gives it")).to_be_visible()

        # The admin gives the plan on the desk.
        admin = people.new()
        admin.goto("/login")
        admin.get_by_label("Email").fill(admin_email)
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Log in").click()
        admin.get_by_role("link", name="Admin").click()
        admin.get_by_role("link", name="Users").click()
        admin.get_by_label("Search e-mail, handle or name").fill(creator_email)
        admin.get_by_role("button", name="Search").click()
        account = admin.locator(".desk-item", has_text=creator_email)
        account.get_by_label("Plan").select_option("plus")
        account.get_by_role("button", name=re.compile("^Change plan")).click()
        expect(admin.locator(".desk-item", has_text=creator_email).get_by_label("Plan")).to_have_value("plus")
        creator.reload()
        expect(creator.locator("#h-plan + p")).to_contain_text("Your plan is plus")

        # Build by chat (the offline rule-based builder), then configure what chat did not set.
        creator.get_by_role("link", name="My GPTs").click()
        creator.get_by_role("button", name="Create a GPT").click()
        creator.get_by_label("Message the builder").fill(
            "Make a GPT called Ferry Planner that helps travellers plan ferry trips in Norway."
        )
        creator.get_by_role("button", name="Send").click()
        expect(creator.get_by_role("heading", level=1)).to_have_text("Ferry Planner")
        creator.get_by_role("tab", name="Configure").click()
        creator.get_by_label("Conversation starter 1").fill("When does the boat leave Bergen?")
        creator.get_by_role("tabpanel", name="Configure").get_by_label("Category").select_option("lifestyle")
        creator.get_by_role("button", name="Save").click()
        expect(creator.get_by_text("Saved.")).to_be_visible()

        # Upload the timetable as an open file and watch it complete.
        creator.get_by_role("tab", name="Knowledge").click()
        creator.get_by_label("Open: users can download it and answers may quote it").check()
        creator.get_by_label("License (for open files)").fill("CC-BY-4.0")
        creator.get_by_label("Knowledge files").set_input_files(
            [{"name": "ferries.md", "mimeType": "text/markdown", "buffer": TIMETABLE.encode()}]
        )
        status = creator.locator("#files li.file [data-status-text]")
        expect(status).to_have_text([re.compile("^Ready")], timeout=INGESTION_MS)

        # Preview: the answer cites the file.
        creator.get_by_label("Message Ferry Planner").fill("When does the express boat leave Bergen?")
        creator.get_by_role("button", name="Ask").click()
        citation = creator.locator("#preview-messages details.citation").first
        expect(citation.locator("summary")).to_contain_text("ferries.md")
        citation.locator("summary").click()
        expect(citation.locator("blockquote")).to_contain_text("08:00")

        # Publish publicly: the review approves it.
        creator.get_by_role("link", name="Publish").click()
        dialog = creator.get_by_role("dialog")
        dialog.get_by_label("Public in the store (reviewed)").check()
        dialog.get_by_label("Category").select_option("lifestyle")
        dialog.get_by_label("Release notes").fill("First version")
        dialog.get_by_role("button", name="Publish", exact=True).click()
        expect(dialog.get_by_text("Version 1 is live")).to_be_visible()

        # Another person finds it by search, chats, rates and reports it.
        reader = people.new()
        sign_up(reader, "Journey Reader")
        reader.get_by_role("searchbox", name="Search GPTs").fill("ferry")
        reader.get_by_role("button", name="Search").click()
        reader.get_by_role("link", name=re.compile("Ferry Planner")).first.click()
        expect(reader.get_by_role("heading", level=1)).to_have_text("Ferry Planner")
        expect(reader.get_by_text("ferries.md").first).to_be_visible()  # the open file, with its license
        reader.get_by_role("button", name="Start chat").click()
        reader.get_by_role("button", name="When does the boat leave Bergen?").click()  # a starter
        answer = reader.locator(".message.assistant .text").last
        expect(reader.locator(".message.assistant[aria-busy]")).to_have_count(0)
        expect(answer).to_contain_text("08:00")
        expect(reader.locator(".citations").last).to_contain_text("ferries.md")

        reader.get_by_role("heading", level=1).get_by_role("link", name="Ferry Planner").click()
        reader.get_by_text("Rate this GPT").click()
        reader.get_by_label("5", exact=True).check()
        reader.get_by_label("Review (optional)").fill("Found my boat in a minute.")
        reader.get_by_role("button", name="Save rating").click()
        expect(reader.locator("#reviews")).to_contain_text("Found my boat in a minute.")
        reader.get_by_text("Report this GPT").click()
        reader.get_by_label("Reason").select_option(index=0)
        reader.get_by_label("Details (optional)").fill("The winter timetable is missing")
        reader.get_by_role("button", name="Send report").click()
        expect(reader.get_by_role("status")).to_contain_text("your report was sent")

        # The admin resolves the report.
        admin.get_by_role("navigation", name="Admin desk").get_by_role("link", name="Reports").click()
        report = admin.locator(".desk-item", has_text="The winter timetable is missing")
        expect(report).to_contain_text("by Journey Reader")
        report.get_by_label("Resolution note (optional)").fill("Asked the creator to add it")
        report.get_by_role("button", name=re.compile("^Dismiss")).click()
        expect(admin.get_by_text("No reports with status open")).to_be_visible()

        # The creator sees the rating on the dashboard's totals.
        creator.goto("/creator")
        expect(creator.get_by_role("link", name=re.compile("Ferry Planner")).first).to_be_visible()
    finally:
        people.close()
    problems = [p for p in people.problems if "status of 422" not in p]
    assert not problems, f"the pages reported errors (CSP violations show here): {problems}"
