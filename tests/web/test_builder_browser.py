"""The builder editor in real Chromium: build by chat (scripted LLM and offline), undo, Configure with a
field error and starters by keyboard, two files uploaded by file input and by drag-and-drop and followed
to completion, a preview answer with a clickable citation, the Publish dialog's review result, restoring a
version, export and import; the dataset directory (search, license filter, "Use in my GPT") and the
preview citing the borrowed dataset.

Two servers share one database on loopback: one answers with the scripted local LLM
(`tests/fake_openai.py`), one offline; both run the ingestion worker in process, as the embedded default.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import uvicorn
from playwright.sync_api import expect
from pydantic import SecretStr

from builder.schemas import GptCreate
from builder.service import GptService
from core.app import create_app
from core.db import Database, create_engine
from core.models import User
from core.settings import Settings
from tests.conftest import TEST_SECRET, migrated_database
from tests.datasets.factories import create_dataset
from tests.factories import create_user
from tests.fake_openai import text, tool_call
from tests.web.conftest import (
    PASSWORD,
    _drop_database,
    _free_port,
    _in_thread,
    _redis_db,
    chromium_executable,
)

GUIDE = (
    "# Kayaking\n\nKayak rental at Flåm costs 600 NOK per day in summer. "
    "Guided kayak tours start at nine in the morning from the harbour.\n"
)
INGESTION_SECONDS = 60  # the first file loads the offline embedding model in the worker


@dataclass
class Builders:
    llm_url: str
    offline_url: str
    settings: Settings
    creator_email: str


def _serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"builder-test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


async def _prepare(settings: Settings) -> str:
    seed = Database(create_engine(settings.database_url, pool_size=1))
    async with seed.session_scope() as session:
        creator = await create_user(session, settings, display_name="Builder Creator", plan="plus")
    await seed.dispose()
    return creator.email


@pytest.fixture(scope="module")
def builders(server_urls, migrated_template, tmp_path_factory, fake_openai_server) -> Iterator[Builders]:
    name = f"gptstore_builder_{os.getpid()}"
    url = _in_thread(migrated_database(server_urls[0], name, migrated_template))
    offline = Settings(
        database_url=url,
        redis_url=_redis_db(server_urls[1], 4),
        data_dir=tmp_path_factory.mktemp("builder-data"),
        secret_key=TEST_SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        run_worker=True,
    )
    llm = offline.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_openai_server.base_url,
            "llm_api_key": SecretStr("test-key"),
            "llm_max_retries": 0,
        }
    )
    email = _in_thread(_prepare(offline))
    servers = [_serve(llm), _serve(offline)]
    try:
        yield Builders(servers[0][2], servers[1][2], offline, email)
    finally:
        for server, thread, _ in servers:
            server.should_exit = True
            thread.join(30)
        _in_thread(_drop_database(server_urls[0], name))


@pytest.fixture(scope="module")
def browser(builders: Builders) -> Iterator:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


def _page(browser, base_url: str, email: str) -> Iterator:
    context = browser.new_context(base_url=base_url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto("/login?next=/builder")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My GPTs")).to_be_visible()
    allowed = ["status of 422"]
    page.allow_console_error = allowed.append  # a refusal the test expects: "status of 409"
    yield page
    context.close()
    # Expected refusals (a 422 of a form the test sends wrong) show as console errors of the resource.
    problems = [p for p in problems if not any(words in p for words in allowed)]
    assert not problems, f"the page reported errors (CSP violations show here): {problems}"


@pytest.fixture
def page(browser, builders: Builders) -> Iterator:
    """Signed in as the creator on the server with the scripted LLM."""
    yield from _page(browser, builders.llm_url, builders.creator_email)


@pytest.fixture
def offline_page(browser, builders: Builders) -> Iterator:
    """Signed in as the creator on the offline server."""
    yield from _page(browser, builders.offline_url, builders.creator_email)


def _draft(builders: Builders, **fields) -> str:
    async def create() -> str:
        db = Database(create_engine(builders.settings.database_url, pool_size=1))
        async with db.session_scope() as session:
            user = await session.scalar(sa.select(User).where(User.email == builders.creator_email))
            gpt = await GptService(session, builders.settings).create(user, GptCreate(**fields))
            gpt_id = str(gpt.id)
        await db.dispose()
        return gpt_id

    return _in_thread(create())


def test_build_by_chat_with_an_llm_then_undo(page, fake_openai_server):
    fake_openai_server.reset()
    fake_openai_server.script(
        tool_call(
            "update_gpt",
            {
                "name": "Chef Helper",
                "description": "Suggests dinners.",
                "welcome_message": "What is in your fridge?",
                "conversation_starters": ["Dinner for two?"],
            },
        ),
        text("I named it Chef Helper."),
    )
    page.get_by_role("button", name="Create a GPT").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Untitled draft")
    page.get_by_label("Message the builder").fill("A GPT that suggests dinners, named Chef Helper")
    page.keyboard.press("Enter")
    expect(page.locator("#builder-messages .message.assistant .text").last).to_have_text(
        "I named it Chef Helper."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Chef Helper")
    expect(page.get_by_text("Changed Name, Description")).to_be_visible()
    # the preview of a new draft follows the turn: its name, welcome message and starters, no reload
    preview = page.locator("#preview")
    expect(preview.get_by_label("Message Chef Helper")).to_be_visible()
    expect(preview.get_by_text("What is in your fridge?")).to_be_visible()
    expect(preview.get_by_role("button", name="Dinner for two?")).to_be_visible()

    page.get_by_role("tab", name="Configure").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Chef Helper")
    page.get_by_role("tab", name="Create").click()
    page.get_by_role("button", name="Undo this turn's changes").click()
    expect(page.get_by_text("The last builder change was undone.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Untitled draft")
    expect(page.get_by_text("(undone)")).to_be_visible()


def test_build_by_chat_offline(offline_page):
    page = offline_page
    page.get_by_role("button", name="Create a GPT").click()
    page.get_by_label("Message the builder").fill(
        "Make a GPT called Fjord Guide that helps tourists plan fjord trips."
    )
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fjord Guide")
    expect(page.locator("#builder-messages .message.assistant .text").last).to_contain_text(
        "no language model"
    )
    page.get_by_role("tab", name="Configure").click()
    expect(page.get_by_label("Description")).to_have_value("Helps tourists plan fjord trips.")

    # Back on the Create tab after a few more turns, on a phone: the chat opens at its newest turn.
    page.set_viewport_size({"width": 390, "height": 700})
    page.get_by_role("tab", name="Create").click()
    for message in ("Use a friendly tone", "Answer in Norwegian", "Add a starter about ferries"):
        asked = page.locator("#builder-messages .message.user").count()
        send = page.get_by_role("button", name="Send")
        expect(send).to_be_enabled()  # the turn before has ended
        page.get_by_label("Message the builder").fill(message)
        send.click()
        expect(page.locator("#builder-messages .message.user")).to_have_count(asked + 1)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.reload()
    at_end = page.evaluate(
        "(() => { const l = document.getElementById('builder-messages');"
        " return l.scrollHeight > l.clientHeight && l.scrollTop + l.clientHeight >= l.scrollHeight - 2; })()"
    )
    assert at_end, "the builder chat opened scrolled to its greeting"


def test_a_builder_turn_keeps_unsaved_configure_edits(page, builders, fake_openai_server):
    """A turn refreshed Configure from the server and took what was typed there, unsaved, without a word."""
    gpt_id = _draft(builders, name="Trail Buddy", instructions="Suggest hikes.")
    fake_openai_server.reset()
    fake_openai_server.script(
        tool_call("update_gpt", {"description": "Hikes near Bergen."}), text("Described it.")
    )
    page.goto(f"/builder/{gpt_id}")
    page.get_by_role("tab", name="Configure").click()
    page.locator("#f-instructions").fill("Suggest hikes with the weather in mind.")
    page.get_by_role("tab", name="Create").click()
    page.get_by_label("Message the builder").fill("Describe it as hikes near Bergen")
    page.keyboard.press("Enter")
    expect(page.locator("#builder-messages .message.assistant .text").last).to_have_text("Described it.")
    page.get_by_role("tab", name="Configure").click()
    expect(page.locator("#configure-kept")).to_contain_text("your unsaved edits here are kept")
    expect(page.locator("#f-instructions")).to_have_value("Suggest hikes with the weather in mind.")
    page.allow_console_error("status of 409")
    page.get_by_role("button", name="Save").click()  # made on the draft before the turn: asked first
    expect(page.get_by_text("This draft changed since this form was opened")).to_be_visible()
    expect(page.locator("#f-instructions")).to_have_value("Suggest hikes with the weather in mind.")


def test_configure_by_keyboard_with_a_field_error(page, builders):
    gpt_id = _draft(builders, name="Trail Buddy", conversation_starters=["First?", "Second?"])
    page.goto(f"/builder/{gpt_id}")
    page.get_by_role("tab", name="Create").focus()
    page.keyboard.press("ArrowRight")  # tabs follow the arrow keys
    expect(page.get_by_role("tab", name="Configure")).to_be_focused()
    expect(page.get_by_role("tab", name="Configure")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("Name", exact=True)).to_be_visible()

    page.get_by_role("button", name="Move starter 2 up").click()
    page.get_by_role("button", name="Add a starter").press("Enter")
    page.keyboard.type("Third?")
    page.get_by_role("button", name="Remove starter 3").click()
    page.get_by_role("button", name="Add a starter").click()
    page.keyboard.type("Last?")
    page.get_by_label("Passages per answer (top_k, 1-50)").fill("99")
    page.get_by_role("button", name="Save").click()

    top_k = page.get_by_label("Passages per answer (top_k, 1-50)")
    expect(top_k).to_have_attribute("aria-invalid", "true")
    expect(top_k).to_be_focused()  # the refused save lands on its first invalid field
    expect(page.locator("#e-retrieval-top_k")).to_have_text("Passages per answer must be at most 50.")
    top_k.fill("5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    starters = page.locator("#starters input")
    expect(starters).to_have_count(3)
    expect(starters.nth(0)).to_have_value("Second?")
    expect(starters.nth(1)).to_have_value("First?")
    expect(starters.nth(2)).to_have_value("Last?")
    expect(top_k).to_have_value("5")


def test_upload_two_files_watch_them_complete_and_cite_one(offline_page, builders):
    page = offline_page
    gpt_id = _draft(builders, name="Fjord Guide", instructions="Answer from the files.")
    page.goto(f"/builder/{gpt_id}?tab=knowledge")
    page.get_by_label("Open: users can download it and answers may quote it").check()
    page.get_by_label("License (for open files)").fill("CC-BY-4.0")
    page.get_by_label("Knowledge files").set_input_files(
        [
            {"name": "kayak.md", "mimeType": "text/markdown", "buffer": GUIDE.encode()},
            {
                "name": "ferries.txt",
                "mimeType": "text/plain",
                "buffer": b"Ferries leave Bergen every hour.\n",
            },
        ]
    )
    files = page.locator("#files li.file")
    expect(files).to_have_count(2)
    ready = [re.compile("^Ready"), re.compile("^Ready")]
    expect(files.locator("[data-status-text]")).to_have_text(ready, timeout=INGESTION_SECONDS * 1000)

    # A third file dropped onto the drop zone, as a drag from the desktop does it.
    drop = page.evaluate_handle(
        """() => { const t = new DataTransfer();
          const text = ["Hut opening hours are from June to September."];
          t.items.add(new File(text, "huts.txt", {type: "text/plain"}));
          return t; }"""
    )
    page.locator("#dropzone").dispatch_event("drop", {"dataTransfer": drop})
    expect(files).to_have_count(3)
    expect(files.nth(2).locator("[data-status-text]")).to_have_text(
        re.compile("^Ready"), timeout=INGESTION_SECONDS * 1000
    )

    page.get_by_label("Message Fjord Guide").fill("What does kayak rental cost?")
    page.get_by_role("button", name="Ask").click()
    citation = page.locator("#preview-messages details.citation").first
    expect(citation.locator("summary")).to_have_text("kayak.md, Kayaking")
    citation.locator("summary").click()
    expect(citation.locator("blockquote")).to_contain_text("600 NOK")
    citation.get_by_role("link", name="Show the file in Knowledge").click()
    expect(page.get_by_role("tab", name="Knowledge")).to_have_attribute("aria-selected", "true")
    # The cited file is the one focused (files sent together in one batch share their upload time).
    expect(files.filter(has_text="kayak.md")).to_be_focused()


def test_a_dataset_created_filled_and_attached_answers_in_the_preview(offline_page, builders):
    page = offline_page
    page.goto("/builder")
    page.get_by_role("link", name="My datasets").click()
    page.get_by_role("link", name="Create a dataset").click()
    page.get_by_label("Name").fill("Harbour facts")
    expect(page.get_by_label("Name")).to_have_attribute("maxlength", "100")
    page.get_by_label("Open: anyone's GPTs may use it").check()
    page.get_by_label("License (an SPDX id; required when open)").fill("CC-BY-4.0")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_have_text("Dataset created. Add its files below.")
    harbour = b"# Harbour\n\nThe ferry to Undredal leaves the harbour at 10 am every day.\n"
    page.get_by_label("Knowledge files").set_input_files(
        [{"name": "harbour.md", "mimeType": "text/markdown", "buffer": harbour}]
    )
    files = page.locator("#files li.file")
    expect(files.locator("[data-status-text]")).to_have_text(
        [re.compile("^Ready")], timeout=INGESTION_SECONDS * 1000
    )
    expect(files.first).to_contain_text("open · CC-BY-4.0")

    gpt_id = _draft(builders, name="Harbour Helper", instructions="Answer from the files.")
    page.goto(f"/builder/{gpt_id}?tab=knowledge")
    page.get_by_label("Attach one of your datasets").select_option(label="Harbour facts (open)")
    page.get_by_role("button", name="Attach", exact=True).click()
    expect(page.locator("#attached-datasets")).to_contain_text("Harbour facts")
    page.get_by_label("Message Harbour Helper").fill("When does the ferry to Undredal leave?")
    page.get_by_role("button", name="Ask").click()
    citation = page.locator("#preview-messages details.citation").first
    expect(citation.locator("summary")).to_have_text(re.compile("^harbour.md"))


def test_publish_dialog_review_result_versions_export_import(page, builders):
    gpt_id = _draft(
        builders, name="Harbour Guide", description="Harbour tips.", instructions="Help with the harbour."
    )
    page.goto(f"/builder/{gpt_id}")
    page.get_by_role("link", name="Publish").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Public in the store (reviewed)").check()
    dialog.get_by_label("Category").select_option("lifestyle")
    dialog.get_by_label("Release notes").fill("First try")
    dialog.get_by_role("button", name="Publish", exact=True).click()
    expect(dialog.get_by_text("Version 1 was not approved.")).to_be_visible()
    expect(dialog.locator("#publish-result .reasons li")).to_have_text(
        ["a public GPT needs at least one conversation starter"]
    )
    dialog.get_by_role("button", name="Close").click()

    page.get_by_role("tab", name="Configure").click()
    page.get_by_label("Conversation starter 1").fill("Where can I park?")
    page.get_by_label("Name", exact=True).fill("Harbour Guide 2")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_role("link", name="Publish").click()
    dialog.get_by_role("button", name="Publish", exact=True).click()
    expect(dialog.get_by_text("Version 2 is live")).to_be_visible()
    expect(dialog.locator("#versions > li")).to_have_count(2)

    dialog.get_by_role("button", name="Restore version 1 into the draft").click()
    expect(page.get_by_text("The version was restored into the draft.")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Harbour Guide")

    page.get_by_role("link", name="Publish").click()
    with page.expect_download() as download:
        dialog.get_by_role("link", name="Export (.zip)").click()
    archive = download.value.path()
    assert download.value.suggested_filename == "Harbour Guide.gptstore.zip"
    page.goto("/builder")
    page.get_by_label("Import a GPT from an export (.zip)").set_input_files(archive)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour Guide")
    assert page.url.split("/builder/")[1].split("?")[0] != gpt_id
    uuid.UUID(page.url.split("/builder/")[1].split("?")[0])


def test_the_editor_fits_360_pixels_and_opens_publish_by_keyboard(offline_page, builders):
    page = offline_page
    gpt_id = _draft(builders, name="Narrow Guide", conversation_starters=["A rather long starter question?"])
    page.set_viewport_size({"width": 360, "height": 740})
    for tab in ("create", "configure", "knowledge"):
        page.goto(f"/builder/{gpt_id}?tab={tab}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the {tab} tab scrolls sideways at 360 px ({width} px wide)"
    page.get_by_role("link", name="Publish").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the publish dialog scrolls sideways at 360 px ({width} px wide)"
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_the_builder_works_without_javascript(browser, builders):
    context = browser.new_context(base_url=builders.offline_url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/login?next=/builder")
    page.get_by_label("Email").fill(builders.creator_email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Create a GPT").click()
    page.get_by_label("Message the builder").fill("Make a GPT called Moss Guide that helps people grow moss.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Moss Guide")
    page.get_by_role("tab", name="Configure").click()  # a link to ?tab=configure
    page.get_by_label("Conversation starter 2").fill("Which moss likes shade?")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_role("link", name="Publish").click()  # the dialog's content as a page
    page.get_by_label("Only me").check()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_text("Version 1 is live")).to_be_visible()
    context.close()


def _open_datasets(builders: Builders) -> dict[str, str]:
    """Another user's datasets: two open ones (one ingested, so answers can cite it) and a private one."""

    async def create() -> dict[str, str]:
        db = Database(create_engine(builders.settings.database_url, pool_size=1))
        async with db.session_scope() as session:
            owner = await create_user(session, builders.settings, display_name="Coast Keeper", plan="plus")
            lighthouse = await create_dataset(
                session, builders.settings, owner, db=db, name="Lighthouse logbook",
                description="When the Hellisøy lighthouse is lit.", license="ODbL-1.0",
                attribution="Logbook: Coast Keeper", files={"lighthouse.md": LIGHTHOUSE},
            )  # fmt: skip
            glacier = await create_dataset(
                session, builders.settings, owner, name="Glacier measurements",
                description="Yearly lengths of Nigardsbreen.", files={"glacier.md": "Nigardsbreen."},
            )  # fmt: skip
            await create_dataset(
                session, builders.settings, owner, name="Secret coast notes", access="private", license=None
            )
            ids = {"lighthouse": str(lighthouse.id), "glacier": str(glacier.id)}
        await db.dispose()
        return ids

    return _in_thread(create())


LIGHTHOUSE = "# Hellisøy\n\nThe Hellisøy lighthouse is lit every evening at dusk from August to April.\n"


def test_the_dataset_directory_searches_filters_and_lends_a_dataset_to_my_gpt(offline_page, builders):
    page = offline_page
    ids = _open_datasets(builders)
    gpt_id = _draft(builders, name="Coast Helper", instructions="Answer from the files.")

    page.goto("/datasets")
    expect(page.get_by_role("heading", name="Open datasets", level=1)).to_be_visible()
    results = page.locator("#results")
    expect(results).to_contain_text("Lighthouse logbook")
    expect(results).to_contain_text("Glacier measurements")
    expect(results).not_to_contain_text("Secret coast notes")  # private: in no directory

    page.get_by_label("Search datasets").fill("lighthouse")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Datasets matching “lighthouse”")
    expect(results.locator(".card-name")).to_have_text(["Lighthouse logbook"])

    page.get_by_label("Search datasets").fill("")
    page.get_by_label("License").select_option("ODbL-1.0")
    page.get_by_role("button", name="Search").click()
    expect(results.locator(".card-name")).to_have_text(["Lighthouse logbook"])
    page.get_by_label("License").select_option("")
    page.get_by_role("button", name="Search").click()
    expect(results).to_contain_text("Glacier measurements")

    results.get_by_role("link", name=re.compile("Lighthouse logbook")).click()
    expect(page).to_have_url(re.compile(f"/datasets/{ids['lighthouse']}$"))
    expect(page.get_by_role("heading", name="Lighthouse logbook", level=1)).to_be_visible()
    expect(page.get_by_text("Logbook: Coast Keeper").first).to_be_visible()
    page.get_by_label("Your GPT").select_option(gpt_id)
    page.get_by_role("button", name="Use in my GPT").click()
    expect(page.get_by_role("status")).to_contain_text("Attached")

    page.goto(f"/builder/{gpt_id}?tab=knowledge")
    expect(page.locator("#attached-datasets")).to_contain_text("Lighthouse logbook")
    page.get_by_label("Message Coast Helper").fill("When is the Hellisøy lighthouse lit?")
    page.get_by_role("button", name="Ask").click()
    citation = page.locator("#preview-messages details.citation").first
    expect(citation.locator("summary")).to_have_text(re.compile("^lighthouse.md"))
    citation.locator("summary").click()
    expect(citation).to_contain_text("From the dataset Lighthouse logbook by Coast Keeper, ODbL-1.0")
    # Its file is not in this GPT's Knowledge tab: the link opens the dataset's public page at its row.
    citation.get_by_role("link", name="Show the file in Lighthouse logbook").click()
    expect(page).to_have_url(re.compile(f"/datasets/{ids['lighthouse']}#file-"))
    expect(page.locator("li:target")).to_contain_text("lighthouse.md")
