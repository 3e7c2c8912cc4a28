"""Fetching for "Import from the web": pages, robots.txt and sitemaps (docs/retrieval.md#import-from-the-web).

No database here: `retrieval.imports` turns what this module fetches into knowledge files.

Every request goes through the actions' SSRF guard (`tools.net`: checked addresses, at most
`actions_max_redirects` redirects, each checked again; timeouts of the actions), with a User-Agent naming
gptstore. robots.txt is read once per origin with Protego (Scrapy's parser: RFC 9309 longest-match
precedence, `*` and `$` patterns, Crawl-delay), which the standard library's `urllib.robotparser` lacks (it
takes the first matching rule and no wildcards, so it misreads robots.txt files written for Google).
Sitemaps (urlset, sitemap index, gzip, plain text) and pages are read by `retrieval.web_documents`, which
also holds the limits (`retrieval/data/web_import.toml`, two of them overridable by settings).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urldefrag, urlsplit, urlunsplit

import anyio
import httpx2
from protego import Protego

from core.settings import Settings
from retrieval.web_documents import (
    ImportLimits,
    PageError,
    charset_of,
    html_title,
    media_type_of,
    page_filename,
    parse_sitemap,
)
from tools.fetch import request
from tools.net import RefusedRequest, ToolNetworkError, check_url, guarded_client

MAX_URL_CHARS = 2000  # the `web_page.url` column; browsers and CDNs agree on 2,000 (RFC 9110 asks >= 8,000)


USERINFO_REFUSED = (
    "refused: the URL holds a user name or password (user:password@host), which would be shown with the "
    "imported files; gptstore imports public pages only, without credentials"
)


def check_no_userinfo(url: str) -> None:
    """`PageError` when `url` carries user info (`user:password@`): it would become a file's `source_url`
    and name, shown to everyone the file is cited to (tools refuse it the same way, tools/schemas.py)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise PageError(str(exc)) from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise PageError(USERINFO_REFUSED)


def normalize_url(settings: Settings, url: str) -> str:
    """`url` without its fragment, its scheme and host in lower case (the port, path and query as given);
    `PageError` for what the SSRF rules refuse without a request (not http(s), no host, a private or
    metadata IP literal or host name), for user info (`user:password@`), and for a URL longer than
    `MAX_URL_CHARS`."""
    try:
        url = urldefrag(url.strip())[0]
        check_no_userinfo(url)
        check_url(settings, url, "web_import")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except (ToolNetworkError, ValueError) as exc:
        raise PageError(str(exc)) from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    url = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
    if len(url) > MAX_URL_CHARS:
        raise PageError(f"the URL is longer than {MAX_URL_CHARS} characters")
    return url


@dataclass(frozen=True)
class Page:
    """A fetched page; `content` is None when the server answered 304 Not Modified."""

    url: str  # the final URL, after redirects
    content: bytes | None
    sha256: str | None
    media_type: str | None
    filename: str | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class SitemapResult:
    urls: list[str]  # page URLs in document order, without duplicates, at most the cap asked for
    errors: list[tuple[str, str]]  # (URL, reason): nested sitemaps not read, listed URLs refused
    capped: bool  # more URLs were listed than the cap
    complete: bool  # every sitemap file was read (so a page not listed is gone, not just unseen)


class Fetcher:
    """The HTTP of one import run: one guarded client, robots.txt once per origin, Crawl-delay per host.

    async with Fetcher(settings) as fetcher:
        page = await fetcher.page("https://example.com/docs", etag=None, last_modified=None)
    """

    def __init__(self, settings: Settings, limits: ImportLimits | None = None):
        self.settings = settings
        self.limits = limits or ImportLimits.of(settings)
        # Per origin: the rules, True (no rules), False (unreadable) or the SSRF refusal of the origin.
        self._robots: dict[str, Protego | bool | str] = {}
        self._last_request: dict[str, float] = {}
        self._client: httpx2.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        self._client = guarded_client(
            self.settings, headers={"User-Agent": self.limits.user_agent}, caller="web_import"
        )
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._client is not None
        await self._client.__aexit__(*exc)

    # robots.txt ------------------------------------------------------------------------------------------

    async def _robots_of(self, url: str) -> Protego | bool | str:
        """The parsed robots.txt of `url`'s origin; True: everything allowed, False: nothing (RFC 9309
        section 2.3.1: 4xx means no rules, 5xx or no answer means complete disallow); a string: the reason
        the SSRF rules refuse the origin."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            try:
                result = await self._get(f"{origin}/robots.txt", max_bytes=self.limits.max_robots_bytes)
            except RefusedRequest as exc:
                self._robots[origin] = str(exc)
            except ToolNetworkError:
                self._robots[origin] = False
            else:
                if 200 <= result.status_code < 300:
                    text = result.content.decode("utf-8", errors="replace")
                    self._robots[origin] = Protego.parse(text)
                else:
                    self._robots[origin] = 400 <= result.status_code < 500
        return self._robots[origin]

    async def check_robots(self, url: str) -> None:
        """`PageError` unless robots.txt of `url`'s origin lets `robots_token` fetch it."""
        rules = await self._robots_of(url)
        if isinstance(rules, str):
            raise PageError(rules)
        if rules is False:
            raise PageError(
                f"robots.txt of {urlsplit(url).netloc} could not be read; nothing is fetched there"
            )
        if rules is not True and not rules.can_fetch(url, self.limits.robots_token):
            raise PageError(f"robots.txt of {urlsplit(url).netloc} disallows this page for gptstore")

    async def _wait_crawl_delay(self, url: str) -> None:
        host = urlsplit(url).netloc
        rules = self._robots.get(f"{urlsplit(url).scheme}://{host}")
        delay = rules.crawl_delay(self.limits.robots_token) if isinstance(rules, Protego) else None
        if delay and host in self._last_request:
            wait = min(float(delay), self.limits.max_crawl_delay_seconds)
            await anyio.sleep(max(0.0, self._last_request[host] + wait - time.monotonic()))
        self._last_request[host] = time.monotonic()

    async def _get(self, url: str, *, max_bytes: int, headers: Mapping[str, str] | None = None):
        assert self._client is not None
        return await request(
            self._client,
            self.settings,
            "GET",
            url,
            max_bytes=max_bytes,
            redirect_check=self._check_redirect,
            caller="web_import",
            headers=dict(headers or {}),
        )

    async def _check_redirect(self, next_url: str) -> None:
        """Before a redirect is followed: the target holds no user info (it would be the file's
        `source_url`), and its robots.txt allows it (its own origin's too)."""
        try:
            check_no_userinfo(next_url)
        except PageError as exc:
            raise PageError(f"redirected to a URL with a user name or password; {exc}") from None
        await self.check_robots(next_url)

    async def _fetch(self, url: str, *, max_bytes: int, headers: Mapping[str, str] | None = None):
        """GET `url` as robots.txt allows; `PageError` for a refused or failed request or one past
        `max_bytes`. A redirect is followed only where robots.txt allows the target."""
        await self.check_robots(url)
        await self._wait_crawl_delay(url)
        try:
            result = await self._get(url, max_bytes=max_bytes, headers=headers)
        except ToolNetworkError as exc:
            raise PageError(str(exc)) from None
        if result.truncated:
            raise PageError(f"larger than the limit of {max_bytes:,} bytes")
        return result

    # Pages -----------------------------------------------------------------------------------------------

    async def page(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Page:
        """Fetch one page; with `etag` / `last_modified` of an earlier fetch, conditionally (RFC 9110
        section 13.1), and a 304 answer gives a `Page` without content. `PageError` says why not."""
        check_no_userinfo(url)  # an import recorded before such URLs were refused
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        result = await self._fetch(url, max_bytes=self.limits.max_page_bytes, headers=headers)
        etag = result.headers.get("etag") or etag
        last_modified = result.headers.get("last-modified") or last_modified
        if result.status_code == 304 and headers:
            return Page(result.url, None, None, None, None, etag, last_modified)
        if not 200 <= result.status_code < 300:
            raise PageError(f"answered HTTP {result.status_code}")
        media_type = media_type_of(result.headers.get("content-type"))
        extension = self.limits.media_types.get(media_type)
        if extension is None:
            raise PageError(f"{media_type or 'no media type'} is not a document gptstore imports")
        if not result.content.strip():
            raise PageError("the page is empty")
        charset = charset_of(result.headers.get("content-type"))
        title = html_title(result.content, charset) if extension == ".html" else None
        return Page(
            url=result.url,
            content=result.content,
            sha256=hashlib.sha256(result.content).hexdigest(),
            media_type=media_type,
            filename=page_filename(result.url, title, extension),
            etag=etag,
            last_modified=last_modified,
        )

    # Sitemaps --------------------------------------------------------------------------------------------

    async def sitemap(self, sitemap_url: str, max_urls: int) -> SitemapResult:
        """The page URLs a sitemap lists, following sitemap index files (`max_sitemap_depth` levels, at most
        `max_sitemaps` files), up to `max_urls`. `PageError` if the first sitemap cannot be read; a nested
        one that cannot be read is listed in `errors`."""
        urls: dict[str, None] = {}
        errors: list[tuple[str, str]] = []
        seen: set[str] = set()
        pending: list[tuple[str, int]] = [(normalize_url(self.settings, sitemap_url), 0)]
        capped = False
        unread = 0  # sitemap files not read: the listing is incomplete
        while pending:
            current, depth = pending.pop(0)
            if current in seen:
                continue
            if len(seen) >= self.limits.max_sitemaps:
                errors.append(
                    (current, f"not read: an import reads at most {self.limits.max_sitemaps} sitemaps")
                )
                unread += 1
                continue
            seen.add(current)
            try:
                result = await self._fetch(current, max_bytes=self.limits.max_sitemap_bytes)
                if not 200 <= result.status_code < 300:
                    raise PageError(f"answered HTTP {result.status_code}")
                kind, locations = parse_sitemap(result.content, self.limits)
            except PageError as exc:
                if depth == 0:
                    raise
                errors.append((current, str(exc)))
                unread += 1
                continue
            if kind == "sitemapindex":
                if depth >= self.limits.max_sitemap_depth:
                    errors.append((current, "not read: sitemap index files nested too deep"))
                    unread += 1
                    continue
                for location in locations:
                    try:
                        pending.append((normalize_url(self.settings, location), depth + 1))
                    except PageError as exc:
                        errors.append((location, str(exc)))
                        unread += 1
                continue
            for location in locations:
                try:
                    location = normalize_url(self.settings, location)
                except PageError as exc:
                    errors.append((location, str(exc)))
                    continue
                if len(urls) >= max_urls and location not in urls:
                    capped = True
                    break
                urls[location] = None
        return SitemapResult(list(urls), errors, capped, complete=unread == 0)
