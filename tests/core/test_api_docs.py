"""The API docs page works offline: every script, stylesheet and icon it loads is served by the app."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(found["src"])
        if tag == "link" and found.get("href"):
            self.urls.append(found["href"])


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_api_docs_load_only_local_assets(client, page):
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(response.text)
    assert len(parser.urls) >= 3  # the Swagger UI bundle, its standalone preset and its stylesheet
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is loaded from another host"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content
