"""A small website on 127.0.0.1 for the web import tests (stdlib `http.server` in a thread: starts in
milliseconds). A test sets `site.pages[path] = Resource(...)`; every request is recorded in `site.requests`.

    with LocalSite() as site:
        site.html("/docs", "<title>Docs</title><p>Hello</p>")
        site.robots("User-agent: *\\nDisallow: /private")
        url = site.url("/docs")

Resources answer conditional requests (If-None-Match with their ETag: 304). `site.redirect(path, to)`
answers 302 with `Location: to`. Below the site: page and sitemap makers, and the steps of an import test
(`start_import` through the API, `finished` runs the job as the worker would and returns the status).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from retrieval.imports import run_import


@dataclass
class Resource:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # send an ETag and answer If-None-Match with 304


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


class LocalSite:
    def __init__(self) -> None:
        self.pages: dict[str, Resource] = {}
        self.requests: list[Seen] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                site.requests.append(Seen(self.path, headers, time.monotonic()))
                resource = site.pages.get(self.path)
                if resource is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                tag = f'"{hashlib.sha256(resource.body).hexdigest()[:16]}"'
                if resource.etag and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.send_header("ETag", tag)
                    self.end_headers()
                    return
                self.send_response(resource.status)
                self.send_header("Content-Type", resource.content_type)
                self.send_header("Content-Length", str(len(resource.body)))
                if resource.etag:
                    self.send_header("ETag", tag)
                for name, value in resource.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(resource.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def url(self, path: str) -> str:
        return self.base_url + path

    def html(self, path: str, body: str, **options) -> None:
        self.pages[path] = Resource(body.encode(), **options)

    def robots(self, text: str) -> None:
        self.pages["/robots.txt"] = Resource(text.encode(), content_type="text/plain")

    def redirect(self, path: str, to: str) -> None:
        self.pages[path] = Resource(b"", status=302, headers={"Location": to}, etag=False)

    def fetched(self, path: str) -> int:
        """How many GET requests reached `path`."""
        return sum(1 for seen in self.requests if seen.path == path)

    def reset(self) -> None:
        self.pages.clear()
        self.requests.clear()


def page(title: str, text: str) -> str:
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"


def urlset(*urls: str) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    ).encode()


def sitemap_index(*urls: str) -> bytes:
    entries = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    ).encode()


def xml(body: bytes) -> Resource:
    return Resource(body, content_type="application/xml")


async def start_import(client, headers, gpt_id: str, **body) -> dict:
    response = await client.post(f"/api/gpts/{gpt_id}/files/imports", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


async def finished(client, headers, db, settings, gpt_id: str, job: dict) -> dict:
    """Run the import's job (as the worker would) and return its status document."""
    await run_import(db, settings, uuid.UUID(job["id"]))
    response = await client.get(f"/api/gpts/{gpt_id}/files/imports/{job['id']}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def outcomes(status: dict) -> dict[str, str]:
    return {p["url"]: p["status"] for p in status["pages"]}
