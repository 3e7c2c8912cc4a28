"""Re-sync of a web import: unchanged pages kept (conditional requests, sha256), changed ones replaced, new
ones added, pages gone from the sitemap removed, and nothing removed when the sitemap was not read whole."""

from __future__ import annotations

from tests.retrieval.test_files import create_gpt
from tests.retrieval.web_site import Resource, finished, page, sitemap_index, start_import, urlset, xml


async def test_resync_keeps_unchanged_pages_and_follows_the_sitemap(
    web_client, creator_headers, db, web_settings, site
):
    site.html("/keep", page("Keep", "This page never changes."))
    site.html("/edit", page("Edit", "First version of the page."))
    site.html("/drop", page("Drop", "This page will leave the sitemap."))
    site.html("/plain", page("Plain", "A server without validators."), etag=False)
    site.pages["/sitemap.xml"] = xml(urlset(*(site.url(p) for p in ("/keep", "/edit", "/drop", "/plain"))))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/sitemap.xml"))
    first = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert first["page_counts"]["added"] == 4
    files_before = {p["url"]: p["file_id"] for p in first["pages"]}

    site.html("/edit", page("Edit", "Second version of the page."))
    site.html("/new", page("New", "A page added to the sitemap later."))
    site.pages["/sitemap.xml"] = xml(urlset(*(site.url(p) for p in ("/keep", "/edit", "/plain", "/new"))))
    resync = await web_client.post(
        f"/api/gpts/{gpt_id}/files/imports/{job['id']}/resync", headers=creator_headers
    )
    assert resync.status_code == 202 and resync.json()["status"] == "queued"
    again = await web_client.post(
        f"/api/gpts/{gpt_id}/files/imports/{job['id']}/resync", headers=creator_headers
    )
    assert again.status_code == 409  # one run at a time

    second = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert second["runs"] == 2
    assert second["page_counts"] == {
        "total": 4, "done": 4, "added": 1, "updated": 1, "unchanged": 2, "removed": 1, "failed": 0
    }  # fmt: skip
    files_after = {p["url"]: p["file_id"] for p in second["pages"]}
    assert files_after[site.url("/keep")] == files_before[site.url("/keep")]
    assert files_after[site.url("/plain")] == files_before[site.url("/plain")]  # same sha256
    assert files_after[site.url("/edit")] != files_before[site.url("/edit")]
    assert site.url("/drop") not in files_after
    keep_requests = [s for s in site.requests if s.path == "/keep"]
    assert "if-none-match" in keep_requests[-1].headers  # conditional: answered 304, nothing downloaded

    files = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert {f["filename"] for f in files} == {"Keep.html", "Edit.html", "Plain.html", "New.html"}
    assert files_before[site.url("/drop")] not in {f["id"] for f in files}
    gone = await web_client.get(
        f"/api/gpts/{gpt_id}/files/{files_before[site.url('/edit')]}", headers=creator_headers
    )
    assert gone.status_code == 404


async def test_resync_removes_nothing_when_a_sitemap_or_a_page_cannot_be_read(
    web_client, creator_headers, db, web_settings, site
):
    site.html("/a/1", page("A one", "First page of part A."))
    site.html("/a/2", page("A two", "Second page of part A."))
    site.html("/b/1", page("B one", "First page of part B."))
    site.pages["/a.xml"] = xml(urlset(site.url("/a/1"), site.url("/a/2")))
    site.pages["/b.xml"] = xml(urlset(site.url("/b/1")))
    site.pages["/index.xml"] = xml(sitemap_index(site.url("/a.xml"), site.url("/b.xml")))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/index.xml"))
    first = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert first["page_counts"]["added"] == 3

    site.pages["/b.xml"] = Resource(b"busy", status=503, content_type="text/plain")
    site.pages["/a/2"] = Resource(b"busy", status=503)
    url = f"/api/gpts/{gpt_id}/files/imports/{job['id']}/resync"
    assert (await web_client.post(url, headers=creator_headers)).status_code == 202
    second = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert second["status"] == "completed"
    assert second["sitemap_errors"] == [{"url": site.url("/b.xml"), "error": "answered HTTP 503"}]
    assert second["page_counts"]["removed"] == 0 and second["page_counts"]["failed"] == 1
    kept = {p["url"]: p["file_id"] for p in second["pages"]}
    assert kept == {p["url"]: p["file_id"] for p in first["pages"]}  # every file stays where it was
    files = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert len(files) == 3


async def test_an_unreadable_sitemap_fails_the_import_and_changes_nothing(
    web_client, creator_headers, db, web_settings, site
):
    site.pages["/sitemap.xml"] = xml(b"<html><body>not a sitemap</body></html>")
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/sitemap.xml"))
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["status"] == "failed" and "root element is <html>" in status["error"]
    assert status["pages"] == []


async def test_a_changed_pages_old_file_kept_for_a_twin_page_cites_the_twin(
    web_client, creator_headers, db, web_settings, site
):
    """Two pages of one content share one file; when the first changes, the old file stays for the second,
    and its `source_url` becomes the second's: it used to keep the first page's URL, so its passages were
    cited with a link to a page that now says something else."""
    site.html("/one", page("Prices", "Entry costs 120 NOK."))
    site.html("/two", page("Prices", "Entry costs 120 NOK."))
    site.pages["/sitemap.xml"] = xml(urlset(site.url("/one"), site.url("/two")))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/sitemap.xml"))
    first = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert [p["status"] for p in first["pages"]] == ["added", "duplicate"]
    shared = first["pages"][0]["file_id"]

    site.html("/one", page("Prices", "Entry now costs 150 NOK."))
    url = f"/api/gpts/{gpt_id}/files/imports/{job['id']}/resync"
    assert (await web_client.post(url, headers=creator_headers)).status_code == 202
    second = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    files = {p["url"]: p["file_id"] for p in second["pages"]}
    assert files[site.url("/two")] == shared != files[site.url("/one")]
    listed = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert {f["id"]: f["source_url"] for f in listed} == {
        shared: site.url("/two"),
        files[site.url("/one")]: site.url("/one"),
    }
