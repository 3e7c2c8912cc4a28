"""Regenerate the README's screenshots (docs/screenshots/) from a real app with sample data.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--dark]

Starts embedded PostgreSQL and Redis in a temp dir (as `gptstore serve` does by default), serves the app
offline (no language model) with its worker, and fills it through the JSON API: a creator with a few
published GPTs, one with an uploaded guide that is indexed before it is published. Then Debian's Chromium
(`GPTSTORE_TEST_CHROMIUM`, else `chromium` on the PATH), driven by Playwright, takes: the store front, the
builder, a chat with a cited answer, and the chat embedded on another website. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._servers import bench_servers  # noqa: E402
from core.app import create_app  # noqa: E402
from core.settings import Settings  # noqa: E402

PASSWORD = "correct horse battery"
GUIDE = """# Norwegian fjords: a travel guide

## When to go
May and June have long days and waterfalls full of snowmelt; July and August are warmest but busiest.
September is quiet, with autumn colours along Hardangerfjord.

## Geirangerfjord
A UNESCO World Heritage fjord. The Seven Sisters waterfall is best seen from the ferry between Geiranger
and Hellesylt. The Eagle Road viewpoint opens when the snow has been cleared, usually in late May.

## Water temperature
The fjords stay cold: about 8 °C in May and 14 to 17 °C at the surface in late July.
"""
GPTS = [
    ("Fjord Guide", "Plans fjord trips: when to go, ferries, hikes and viewpoints.", "lifestyle"),
    ("Essay Coach", "Gives feedback on structure, argument and style of your essays.", "writing"),
    ("SQL Tutor", "Explains queries step by step and checks your answers.", "education"),
    ("Meeting Summarizer", "Turns meeting notes into decisions, owners and deadlines.", "productivity"),
    ("Paper Explainer", "Reads a research abstract with you and explains the methods.", "research"),
    ("Regex Helper", "Writes and explains regular expressions with test cases.", "programming"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium() -> str:
    path = os.environ.get("GPTSTORE_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise SystemExit("no Chromium: `apt-get install chromium` or set GPTSTORE_TEST_CHROMIUM")
    return path


def seed(base: str) -> dict[str, str]:
    """Sample data through the JSON API, as a creator would make it; returns ids and the creator's email."""
    with httpx.Client(base_url=base, timeout=60) as api:
        email = "ingrid@example.com"
        signup = {"email": email, "password": PASSWORD, "display_name": "Ingrid Fjeld"}
        token = api.post("/api/auth/signup", json=signup).raise_for_status().json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        ids = []
        for name, description, category in GPTS:
            fields = {
                "name": name,
                "description": description,
                "category": category,
                "instructions": f"You are {name}. {description}",
                "welcome_message": f"Hi! I am {name}. Ask me anything about it.",
                "conversation_starters": ["When is the best time to visit?", "How cold is the water?"]
                if name == "Fjord Guide"
                else [f"What can {name} do?"],
            }
            ids.append(api.post("/api/gpts", json=fields, headers=auth).raise_for_status().json()["id"])
        fjord = ids[0]
        upload = api.post(
            f"/api/gpts/{fjord}/files",
            files={"file": ("fjord-guide.md", GUIDE.encode(), "text/markdown")},
            data={"access": "open", "license": "CC BY 4.0"},
            headers=auth,
        ).raise_for_status()
        file_id = upload.json()["id"]
        deadline = time.monotonic() + 300
        while api.get(f"/api/gpts/{fjord}/files/{file_id}", headers=auth).json()["status"] != "completed":
            if time.monotonic() > deadline:
                raise RuntimeError("the knowledge file was not indexed in 5 minutes")
            time.sleep(0.5)
        for gpt_id in ids:
            publish = {"visibility": "public"}
            api.post(f"/api/gpts/{gpt_id}/publish", json=publish, headers=auth).raise_for_status()
    return {"email": email, "fjord": fjord}


class HostPage(BaseHTTPRequestHandler):
    """Another website (127.0.0.2) with the embed snippet on its page."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def shoot(base: str, data: dict[str, str], out: Path, dark: bool) -> None:
    from playwright.sync_api import expect, sync_playwright

    host = ThreadingHTTPServer(("127.0.0.2", 0), HostPage)
    HostPage.body = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Fjord Adventures</title></head>"
        "<body style='font:18px/1.5 Georgia,serif;margin:0;background:#f4efe6;color:#222'>"
        "<header style='background:#24475e;color:#fff;padding:24px 48px'><h1>Fjord Adventures</h1></header>"
        "<main style='padding:24px 48px;max-width:40rem'><h2>Boat tours on Geirangerfjord</h2>"
        "<p>Daily departures from May to September. Questions? Ask our guide at the bottom right.</p></main>"
        f"<script src='{base}/static/embed.js' data-gpt='{data['fjord']}' data-label='Ask our fjord guide' "
        "async></script></body></html>"
    ).encode()
    threading.Thread(target=host.serve_forever, daemon=True).start()
    out.mkdir(parents=True, exist_ok=True)
    scheme = "dark" if dark else "light"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            context = browser.new_context(
                base_url=base, viewport={"width": 1280, "height": 800}, color_scheme=scheme
            )
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("Email").fill(data["email"])
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("button", name="Log out", exact=False)).to_be_visible()

            page.goto("/")
            page.screenshot(path=out / "store.png")

            # The builder: the Fjord Guide changed by chat, and a cited answer in its preview.
            page.goto(f"/builder/{data['fjord']}")
            page.get_by_label("Message the builder").fill("Use a friendly tone")
            page.get_by_role("button", name="Send").click()
            expect(page.locator("#builder-messages .message.assistant .text").last).not_to_be_empty()
            page.get_by_label("Message Fjord Guide").fill("How cold is the water in May?")
            page.get_by_role("button", name="Ask").click()
            expect(page.locator("#preview-messages details.citation").first).to_be_visible()
            page.screenshot(path=out / "builder.png")

            page.goto(f"/g/{data['fjord']}")
            page.get_by_role("button", name="Start chat").click()
            page.get_by_label("Message").fill("How cold is the water in May?")
            page.get_by_role("button", name="Send").click()
            expect(page.locator(".message.assistant[aria-busy]")).to_have_count(0)
            expect(page.locator(".citations").last).to_be_visible()
            page.screenshot(path=out / "chat.png")

            visitor = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
            shop = visitor.new_page()
            shop.goto(f"http://127.0.0.2:{host.server_address[1]}/")
            shop.get_by_role("button", name="Ask our fjord guide").click()
            frame = shop.frame_locator("iframe[title^='Ask our fjord guide']")
            frame.get_by_role("button", name="When is the best time to visit?").click()
            expect(frame.locator(".message.assistant[aria-busy]")).to_have_count(0)
            expect(frame.locator(".message.assistant .text").last).not_to_be_empty()
            shop.screenshot(path=out / "embed.png")
            browser.close()
    finally:
        host.shutdown()
        host.server_close()


async def serve_and_shoot(out: Path, dark: bool, workdir: Path) -> None:
    async with bench_servers(workdir, "gptstore_screenshots") as servers:
        settings = Settings(
            database_url=servers.database_url,
            redis_url=servers.redis_url,
            data_dir=workdir / "data",
            llm_provider="offline",
            default_plan="plus",
            run_worker=True,
        )
        port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        try:
            data = await asyncio.to_thread(seed, base)
            await asyncio.to_thread(shoot, base, data, out, dark)
        finally:
            server.should_exit = True
            await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-screenshots-") as tmp:
        asyncio.run(serve_and_shoot(args.out, args.dark, Path(tmp)))
    print(f"screenshots written to {args.out}")


if __name__ == "__main__":
    main()
