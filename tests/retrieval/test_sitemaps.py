"""The sitemap parser of the web import on its own: forms, entity attacks, gzip bombs, URL counts."""

from __future__ import annotations

import gzip

import pytest

from core.settings import Settings
from retrieval.web_documents import ImportLimits, PageError, parse_sitemap
from tests.retrieval.web_site import sitemap_index, urlset


def limits() -> ImportLimits:
    return ImportLimits.of(Settings(llm_provider="offline"))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://x/&lol3;</loc></url></urlset>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&secret;</loc></url></urlset>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_sitemaps_with_entities_are_refused(document):
    with pytest.raises(PageError, match="DTD"):
        parse_sitemap(document, limits())


def test_sitemap_forms():
    assert parse_sitemap(urlset("https://a.example/1"), limits()) == ("urlset", ["https://a.example/1"])
    assert parse_sitemap(sitemap_index("https://a.example/s.xml"), limits()) == (
        "sitemapindex",
        ["https://a.example/s.xml"],
    )
    text = b"https://a.example/1\n\nhttps://a.example/2\n"
    assert parse_sitemap(text, limits()) == ("urlset", ["https://a.example/1", "https://a.example/2"])
    no_namespace = b"<urlset><url><loc> https://a.example/1 </loc></url></urlset>"
    assert parse_sitemap(no_namespace, limits())[1] == ["https://a.example/1"]


def test_gzip_bombs_stop_at_the_sitemap_cap():
    small = ImportLimits(**{**limits().__dict__, "max_sitemap_bytes": 10_000})
    bomb = gzip.compress(b"<urlset>" + b" " * 50_000 + b"</urlset>")
    assert len(bomb) < 10_000
    with pytest.raises(PageError, match="larger than 10,000 bytes uncompressed"):
        parse_sitemap(bomb, small)
    many = ImportLimits(**{**limits().__dict__, "max_sitemap_urls": 2})
    with pytest.raises(PageError, match="more than 2 URLs"):
        parse_sitemap(urlset("http://a/1", "http://a/2", "http://a/3"), many)
