"""What the web import fetches, read: its limits (`retrieval/data/web_import.toml`), an HTML page's text,
title and file name, and a sitemap's URLs (docs/retrieval.md#import-from-the-web).

No network and no database here: `retrieval.web_import.Fetcher` fetches, this reads what it got. Sitemaps
(urlset, sitemap index, gzip, plain text) are read with lxml, entities unresolved, no DTD loaded, no network.
"""

from __future__ import annotations

import codecs
import tomllib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from functools import cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

from lxml import etree

from core.filenames import title_filename
from core.settings import Settings


class PageError(Exception):
    """One URL that could not be imported; `str()` says why, for the import's status."""


@cache
def _table() -> dict[str, Any]:
    return tomllib.loads(resources.files("retrieval").joinpath("data/web_import.toml").read_text())


@dataclass(frozen=True)
class ImportLimits:
    """The limits of one import (sources in retrieval/data/web_import.toml)."""

    robots_token: str
    user_agent: str
    max_page_bytes: int
    max_pages: int
    max_sitemap_bytes: int
    max_sitemap_urls: int
    max_sitemaps: int
    max_sitemap_depth: int
    max_robots_bytes: int
    max_crawl_delay_seconds: float
    media_types: Mapping[str, str]

    @classmethod
    def of(cls, settings: Settings) -> ImportLimits:
        table = _table()
        return cls(
            robots_token=table["robots_token"],
            user_agent=table["user_agent"],
            max_page_bytes=settings.web_import_max_page_bytes or table["max_page_bytes"],
            max_pages=settings.web_import_max_pages or table["max_pages"],
            max_sitemap_bytes=table["max_sitemap_bytes"],
            max_sitemap_urls=table["max_sitemap_urls"],
            max_sitemaps=table["max_sitemaps"],
            max_sitemap_depth=table["max_sitemap_depth"],
            max_robots_bytes=table["max_robots_bytes"],
            max_crawl_delay_seconds=float(table["max_crawl_delay_seconds"]),
            media_types=dict(table["media_types"]),
        )


def media_type_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    return message.get_content_type()


def charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.strip() if isinstance(charset, str) and charset.strip() else None


def html_text(content: bytes, charset: str | None = None) -> str:
    """An HTML page's bytes as text, the way browsers pick the encoding (WHATWG "encoding sniffing"): a
    BOM, else the HTTP header's `charset`, else a `<meta charset>` / `http-equiv` declaration, else
    detection (`retrieval.parsing.encoding`, as uploads are read)."""
    from bs4.dammit import EncodingDetector

    from retrieval.parsing.encoding import decode_or_none

    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if content.startswith(bom):
            return content[len(bom) :].decode(codec, errors="replace")
    for encoding in (charset, EncodingDetector.find_declared_encoding(content, is_html=True)):
        if not encoding:
            continue
        try:
            return content.decode(codecs.lookup(encoding).name)
        except (LookupError, UnicodeDecodeError):  # an unknown or wrong label: the next clue
            continue
    return decode_or_none(content) or content.decode("utf-8", errors="replace")


def html_title(content: bytes, charset: str | None = None) -> str | None:
    """The page's `<title>`, whitespace collapsed, or None; the bytes read as `html_text` reads them
    (`charset`: the Content-Type header's). lxml's HTML parser: no network, no DTD."""
    import lxml.html

    try:
        text = html_text(content, charset)
        title = lxml.html.document_fromstring(text).findtext(".//title")
    except Exception:  # a title is a nicety: any page lxml cannot read keeps its URL as its name
        return None
    return " ".join(title.split())[:200] or None if title else None


def page_filename(url: str, title: str | None, extension: str) -> str:
    """A knowledge file's name for a page: its title, else its host and path (`/` as `_`), with
    `extension`. The full URL is kept with the file (`source_url`)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # never the user info
    stem = title or (host + parts.path.rstrip("/")).replace("/", "_")
    # a title is no path: "Maps of N/S America" -> "Maps of N-S America.html" (clean_filename would keep
    # only what follows the last slash)
    return title_filename(stem, "" if stem.lower().endswith(extension) else extension, "page")


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise PageError(f"the gzip sitemap is damaged: {exc}") from None
    if len(out) > limit:
        raise PageError(f"the sitemap is larger than {limit:,} bytes uncompressed")
    return out


def parse_sitemap(data: bytes, limits: ImportLimits) -> tuple[Literal["urlset", "sitemapindex"], list[str]]:
    """The `<loc>` URLs of a sitemap (`urlset`) or sitemap index (`sitemapindex`), or of a plain-text
    sitemap (one URL a line); gzip is undone within `max_sitemap_bytes`. `PageError` for what is not a
    sitemap, a document with a DTD (sitemaps have none; entity tricks need one), or more than
    `max_sitemap_urls` URLs."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, limits.max_sitemap_bytes)
    text_start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if text_start and text_start != b"<":
        lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines()]
        locations = [line for line in lines if line.startswith(("http://", "https://"))]
        kind: Literal["urlset", "sitemapindex"] = "urlset"
    else:
        parser = etree.XMLParser(
            resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False, remove_pis=True
        )
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            raise PageError(f"not a sitemap: {exc}") from None
        if root is None:
            raise PageError("not a sitemap: the document is empty")
        if root.getroottree().docinfo.internalDTD is not None:
            raise PageError("refused: the sitemap declares a DTD")
        kind_name = etree.QName(root).localname
        if kind_name not in ("urlset", "sitemapindex"):
            raise PageError(f"not a sitemap: the root element is <{kind_name}>")
        kind = kind_name  # type: ignore[assignment]
        entry = "url" if kind == "urlset" else "sitemap"
        locations = []
        for element in root:
            if isinstance(element.tag, str) and etree.QName(element).localname == entry:
                for child in element:
                    if isinstance(child.tag, str) and etree.QName(child).localname == "loc" and child.text:
                        locations.append(child.text.strip())
    if len(locations) > limits.max_sitemap_urls:
        raise PageError(f"the sitemap lists more than {limits.max_sitemap_urls:,} URLs")
    return kind, locations
