"""What a web import keeps of the URLs it is given or finds: no user info (`user:password@`) from a creator,
a sitemap or a redirect; the case of everything but scheme and host; refusals worded for imports; and a
page's title read in the page's own encoding. The website is `tests/retrieval/web_site.py`'s."""

from __future__ import annotations

import pytest

from tests.retrieval.test_files import create_gpt
from tests.retrieval.web_site import Resource, finished, page, start_import, urlset, xml


def with_password(url: str) -> str:
    return url.replace("http://", "http://alice:S3cretPw@", 1)


@pytest.mark.parametrize("field", ["url", "urls", "sitemap_url"])
async def test_a_url_with_a_user_name_or_password_is_a_422_naming_the_field(
    client, creator_headers, site, field
):
    url = with_password(site.url("/plain-sitemap.txt"))
    body = {"urls": ["https://example.com/", url]} if field == "urls" else {field: url}
    gpt_id = await create_gpt(client, creator_headers)
    response = await client.post(f"/api/gpts/{gpt_id}/files/imports", json=body, headers=creator_headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["urls[1]" if field == "urls" else field]
    assert "user name or password" in problem["detail"] and "S3cretPw" not in response.text
    imports = await client.get(f"/api/gpts/{gpt_id}/files/imports", headers=creator_headers)
    assert imports.json()["data"] == []


async def test_a_sitemap_entry_or_a_redirect_with_a_password_is_skipped_with_its_reason(
    web_client, creator_headers, db, web_settings, site
):
    site.html("/open", page("Open page", "Aurora tours leave at nine."))
    site.redirect("/jump", with_password(site.url("/open")))
    listed = [site.url("/open"), with_password(site.url("/secret")), site.url("/jump")]
    site.pages["/passwords.xml"] = xml(urlset(*listed))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/passwords.xml"))
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)

    assert [e["url"] for e in status["sitemap_errors"]] == [listed[1]]
    assert "user name or password" in status["sitemap_errors"][0]["error"]
    pages = {p["url"]: p for p in status["pages"]}
    assert pages[site.url("/open")]["status"] == "added"
    assert pages[site.url("/jump")]["status"] == "failed"
    assert "redirected to a URL with a user name or password" in pages[site.url("/jump")]["error"]
    files = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert [(f["filename"], f["source_url"]) for f in files] == [("Open page.html", site.url("/open"))]
    assert site.fetched("/secret") == 0


async def test_only_scheme_and_host_are_lowered(web_client, creator_headers, db, web_settings, site):
    site.pages["/Docs/Ferry.TXT?Lang=NO"] = Resource(b"Ferries run hourly.", content_type="text/plain")
    gpt_id = await create_gpt(web_client, creator_headers)
    url = site.url("/Docs/Ferry.TXT?Lang=NO").replace("http://127.0.0.1", "HTTP://127.0.0.1")
    job = await start_import(web_client, creator_headers, gpt_id, url=url)
    assert job["urls"] == [site.url("/Docs/Ferry.TXT?Lang=NO")]
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["pages"][0]["status"] == "added", status


async def test_refusals_are_worded_for_imports(client, creator_headers):
    gpt_id = await create_gpt(client, creator_headers)
    for body in ({"url": "http://127.0.0.2/"}, {"url": "ftp://example.com/a"}):
        response = await client.post(f"/api/gpts/{gpt_id}/files/imports", json=body, headers=creator_headers)
        assert response.status_code == 422, response.text
        assert "tools" not in response.json()["detail"]
    loopback = await client.post(
        f"/api/gpts/{gpt_id}/files/imports", json={"url": "http://127.0.0.2/"}, headers=creator_headers
    )
    assert "pages may only be imported from public addresses" in loopback.json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type", "name"),
    [
        ("<title>עברית 中文 😀 é</title><p>Shalom.</p>".encode(), "text/html; charset=utf-8",
         "עברית 中文 😀 é.html"),
        # the header's charset, no meta: as a browser reads it
        ("<title>Café Größe</title><p>Kaffee.</p>".encode("cp1252"), "text/html; charset=windows-1252",
         "Café Größe.html"),
        # a meta charset, no header charset
        ('<meta charset="koi8-r"><title>Привет</title><p>Мир.</p>'.encode("koi8-r"), "text/html",
         "Привет.html"),
    ],
)  # fmt: skip
async def test_a_pages_title_is_read_in_the_pages_encoding(
    web_client, creator_headers, db, web_settings, site, body, content_type, name
):
    site.pages["/titled"] = Resource(b"<html><head>" + body + b"</head></html>", content_type=content_type)
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, url=site.url("/titled"))
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    file_id = status["pages"][0]["file_id"]
    file = (await web_client.get(f"/api/gpts/{gpt_id}/files/{file_id}", headers=creator_headers)).json()
    assert file["filename"] == name
