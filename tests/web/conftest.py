"""A real gptstore served by uvicorn on loopback, and Debian's Chromium driven by Playwright.

The browser is the system's (`apt-get install chromium`; Playwright's own downloads are never used):
`GPTSTORE_TEST_CHROMIUM` names it, else `chromium` on the PATH. Without one the browser tests are skipped
locally; under CI (`CI=true`) a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from builder.schemas import GptCreate
from builder.service import GptService
from core.app import create_app
from core.db import Database, create_engine
from core.redis import create_redis
from core.settings import Settings
from store.service import StoreService
from tests.conftest import TEST_SECRET, _drop_database, migrated_database
from tests.factories import create_user

XSS_NAME = "<img src=x onerror=alert(1)>"
PASSWORD = "correct horse battery"


@dataclass
class Site:
    url: str
    creator_email: str
    gpt_id: str
    xss_gpt_id: str
    settings: Settings | None = None  # the server's (a test may run its jobs: web imports)


def chromium_executable() -> str:
    path = os.environ.get("GPTSTORE_TEST_CHROMIUM") or shutil.which("chromium")
    if path and os.path.exists(path):
        return path
    reason = "no Chromium: `apt-get install chromium` (Debian) or set GPTSTORE_TEST_CHROMIUM"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_db(url: str, db: int) -> str:
    """The same Redis server, another database number (the view tests flush db 0 between tests)."""
    if url.startswith("unix://"):
        return f"{url}{'&' if '?' in url else '?'}db={db}"
    return f"{url.rstrip('/').rsplit('/', 1)[0] if url.count('/') > 2 else url}/{db}"


async def _publish(session, settings: Settings, owner, name: str, description: str) -> str:
    """A GPT built and published through the services, as the API does it (searchable, embedded)."""
    fields = GptCreate(
        name=name,
        description=description,
        instructions="Help people plan fjord trips.",
        conversation_starters=["Best fjord in May?", "How cold is the water?"],
        category="lifestyle",
    )
    gpt = await GptService(session, settings).create(owner, fields)
    version, _ = await StoreService(session, settings).publish(owner, gpt.id, "public", None, None)
    assert version.review_status == "approved", version.review_reasons
    return str(gpt.id)


async def _prepare_database(admin_url: str, settings: Settings) -> tuple[str, str, str]:
    """Seed the site's own (migrated) database: a creator with two published GPTs. The site's Redis
    database is emptied first: the same database name is reused by every module, and a page cached for the
    previous module's GPTs (a search, a listing) would point at ids that no longer exist."""
    redis = create_redis(settings.redis_url)
    await redis.flushdb()
    await redis.aclose()
    seed = Database(create_engine(settings.database_url, pool_size=1))
    async with seed.session_scope() as session:
        creator = await create_user(session, settings, display_name="Fjord Creator", plan="plus")
        gpt_id = await _publish(session, settings, creator, "Fjord Guide", "Plans fjord trips.")
        xss_id = await _publish(session, settings, creator, XSS_NAME, XSS_NAME)
    await seed.dispose()
    return creator.email, gpt_id, xss_id


def _in_thread(coroutine) -> object:
    """Run a coroutine on a loop of its own: Playwright's sync API keeps a loop running in this thread."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)))
    thread.start()
    thread.join()
    if not result:
        raise RuntimeError("preparing the test site failed (see the log above)")
    return result[0]


@pytest.fixture(scope="module")
def site(
    server_urls: tuple[str, str], migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """gptstore in its own database (seeded: a creator, two listed GPTs) served by uvicorn on loopback."""
    name = f"gptstore_web_{os.getpid()}"
    url = _in_thread(migrated_database(server_urls[0], name, migrated_template))
    settings = Settings(
        database_url=url,
        redis_url=_redis_db(server_urls[1], 3),
        data_dir=tmp_path_factory.mktemp("web-data"),
        secret_key=TEST_SECRET,
        llm_provider="offline",
        # web imports from a site a test serves on loopback, by this name (127.0.0.1 itself stays refused)
        actions_allowed_hosts=["localhost"],
    )
    email, gpt_id, xss_id = _in_thread(_prepare_database(server_urls[0], settings))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", email, gpt_id, xss_id, settings)
    finally:
        server.should_exit = True
        thread.join(30)
        _in_thread(_drop_database(server_urls[0], name))


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator:
    """Chromium for this module only (after the site is up): Playwright's loop must not outlive it."""
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site: Site) -> Iterator:
    """A fresh browser context (no cookies) whose console errors and dialogs fail the test, but those a test
    expects (`page.allow_console_error("status of 422")`: the browser logs each 4xx a script fetched)."""
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    allowed: list[str] = []
    page.allow_console_error = allowed.append
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    context.close()
    problems = [p for p in problems if not any(text in p for text in allowed)]
    assert not problems, f"the page reported errors (CSP violations show here): {problems}"
