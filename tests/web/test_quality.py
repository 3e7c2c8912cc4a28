"""Accessibility and error pages over httpx: WCAG AA contrast of the stylesheet's colour pairs, an
accessible name on every control of the store pages and the embedded window, and the error pages (403,
404, 500, an offline provider) in the app's look."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from litestar import get
from pydantic import SecretStr

from core.app import create_app
from tests.asgi import app_client, app_client_for
from tests.store.factories import create_conversation, create_published_gpt
from tests.web.test_pages import HTML, csrf, log_in
from web.templates import STATIC

# (foreground, background, minimum ratio): WCAG 2.2 SC 1.4.3 (text 4.5:1) and 1.4.11 (focus ring and
# input borders against the page, 3:1).
PAIRS = [
    ("fg", "bg", 4.5), ("fg", "card", 4.5), ("fg", "notice", 4.5),
    ("muted", "bg", 4.5), ("muted", "card", 4.5), ("muted", "notice", 4.5),
    ("accent", "bg", 4.5), ("accent", "card", 4.5), ("accent", "notice", 4.5),
    ("accent-fg", "accent", 4.5), ("error", "bg", 4.5), ("error", "card", 4.5),
    ("focus", "bg", 3.0), ("focus", "card", 3.0), ("muted", "bg", 3.0),
]  # fmt: skip


def luminance(colour: str) -> float:
    """Relative luminance of `#rrggbb` (WCAG 2.2 definition, sRGB)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def palettes() -> dict[str, dict[str, str]]:
    """The light (`:root`) and dark (`prefers-color-scheme: dark`) custom properties of app.css."""
    css = (STATIC / "app.css").read_text()
    dark_at = css.index("prefers-color-scheme: dark")
    found = {}
    for name, part in (("light", css[:dark_at]), ("dark", css[dark_at:])):
        block = part[part.index(":root") :]
        block = block[: block.index("}")]
        found[name] = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", block))
    return found


def test_known_contrast_ratios():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_stylesheet_colours_meet_wcag_aa(scheme):
    colours = palettes()[scheme]
    failing = [
        f"--{fg} on --{bg}: {contrast(colours[fg], colours[bg]):.2f} < {minimum}"
        for fg, bg, minimum in PAIRS
        if contrast(colours[fg], colours[bg]) < minimum
    ]
    assert not failing, failing


def test_the_embed_launcher_colours_meet_wcag_aa():
    script = (Path(STATIC) / "embed.js").read_text()
    background = re.search(r'"background": "(#[0-9a-f]{6})"', script).group(1)
    text = re.search(r'"color": "(#[0-9a-f]{6})"', script).group(1)
    border = re.search(r'"border": "1px solid (#[0-9a-f]{6})", "border-radius": "12px"', script).group(1)
    assert contrast(text, background) >= 4.5
    assert contrast(border, "#ffffff") >= 3.0  # the open window's edge on a white host page


class Controls(HTMLParser):
    """Interactive elements without an accessible name (content, aria-label(ledby), a <label>, title)."""

    CONTROLS = {"a", "button", "input", "select", "textarea", "summary"}

    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.open: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "label" and attributes.get("for"):
            self.labels.add(attributes["for"])
        if tag in self.CONTROLS and attributes.get("type") != "hidden":
            control = {"tag": tag, **attributes, "text": ""}
            self.controls.append(control)
            if tag in ("a", "button", "summary"):
                self.open.append(control)

    def handle_endtag(self, tag: str) -> None:
        if self.open and tag == self.open[-1]["tag"]:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        for control in self.open:
            control["text"] = (control["text"] or "") + data

    def unnamed(self) -> list[str]:
        def named(c: dict[str, str | None]) -> bool:
            return bool(
                (c.get("text") or "").strip()
                or c.get("aria-label")
                or c.get("aria-labelledby")
                or c.get("title")
                or (c.get("id") and c["id"] in self.labels)
                or (c["tag"] == "input" and c.get("type") in ("submit", "button") and c.get("value"))
            )

        return [str(c) for c in self.controls if not named(c)]


async def test_every_control_has_an_accessible_name(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    await create_conversation(session, creator, listing.gpt_id)
    anonymous = [
        "/",
        "/search?q=fjord",
        "/search?sort=top",
        f"/g/{listing.gpt_id}",
        f"/embed/{listing.gpt_id}",
    ]
    anonymous += [f"/creators/{creator.handle}", "/login", "/signup", "/no/such/page"]
    for path in anonymous:
        response = await client.get(path, headers=HTML)
        parser = Controls()
        parser.feed(response.text)
        assert parser.controls, path
        assert not parser.unnamed(), (path, parser.unnamed())
    await log_in(client, creator.email)
    for path in (f"/g/{listing.gpt_id}", f"/g/{listing.gpt_id}/embed", "/chats", "/account", "/creator"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 200, path
        parser = Controls()
        parser.feed(response.text)
        assert not parser.unnamed(), (path, parser.unnamed())


def assert_app_page(response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    page = response.text
    assert (
        '<link rel="stylesheet" href="/static/app.css">' in page and 'class="top"' in page
    )  # the app's look
    assert f'<p class="status" aria-hidden="true">{status}</p>' in page and "<h1>" in page
    assert "Traceback" not in page


async def test_error_pages_are_in_the_apps_look(client, settings, db, redis, session, creator):
    assert_app_page(await client.get("/no/such/page", headers=HTML), 404)
    await csrf(client)
    assert_app_page(await client.post("/account/profile", data={"display_name": "x"}, headers=HTML), 403)

    @get("/test-only/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_app(settings, db=db, redis=redis)
    app.register(boom)
    async with app_client(app) as failing:
        response = await failing.get("/test-only/boom", headers=HTML)
        assert_app_page(response, 500)
        assert "a bug" not in response.text  # the cause is logged, never shown

    # The language-model provider is offline: the chat comes back in the app's look with the 503/502, the
    # reason at the message box and the message still in it (tests/web/test_chat_refusals.py).
    offline = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": "http://127.0.0.1:9/v1",  # the discard port: nothing listens
            "llm_api_key": SecretStr("test-key"),
            "llm_max_retries": 0,
        }
    )
    listing = await create_published_gpt(session, creator)
    conversation = await create_conversation(session, creator, listing.gpt_id)
    async with app_client_for(offline, db=db, redis=redis) as chat:
        await log_in(chat, creator.email)
        token = await csrf(chat, f"/chats/{conversation.id}")
        form = {"csrf_token": token, "content": "Hello?"}
        response = await chat.post(f"/chats/{conversation.id}/messages", data=form, headers=HTML)
        assert response.status_code in (502, 503), response.text
        assert response.headers["content-type"].startswith("text/html")
        assert '<link rel="stylesheet" href="/static/app.css">' in response.text
        assert 'id="e-content"' in response.text and ">Hello?</textarea>" in response.text
