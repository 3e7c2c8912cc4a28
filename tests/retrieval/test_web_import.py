"""Import from the web against a website on 127.0.0.1: a page, lists, sitemaps, robots.txt, caps, the SSRF
rules on redirects, who may see an import, and the SAQ job. The job code runs for real (`run_import`).
Re-sync: test_web_import_resync.py; the sitemap parser: test_sitemaps.py."""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from core.app import job_functions
from core.jobs import create_queue
from retrieval.imports import import_web, run_import
from retrieval.jobs import ingest
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.retrieval.test_files import create_gpt
from tests.retrieval.web_site import (
    LocalSite,
    Resource,
    finished,
    outcomes,
    page,
    sitemap_index,
    start_import,
    urlset,
    xml,
)

GEIRANGER = "<html><head><title>Geiranger ferry</title></head><body><h1>Ferry</h1>" \
    "<p>The Geirangerfjord ferry runs from May to September, four times a day.</p></body></html>"  # fmt: skip


async def test_a_page_becomes_a_searchable_file_with_its_url(
    web_client, creator_headers, db, web_settings, site
):
    site.html("/fjords/geiranger", GEIRANGER)
    gpt_id = await create_gpt(web_client, creator_headers, name="Fjord Guide")
    job = await start_import(web_client, creator_headers, gpt_id, url=site.url("/fjords/geiranger#ferry"))
    assert job["status"] == "queued" and job["urls"] == [site.url("/fjords/geiranger")]

    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["status"] == "completed" and status["finished_at"]
    assert status["page_counts"] == {
        "total": 1, "done": 1, "added": 1, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0
    }  # fmt: skip
    file_id = status["pages"][0]["file_id"]
    file = (await web_client.get(f"/api/gpts/{gpt_id}/files/{file_id}", headers=creator_headers)).json()
    assert file["filename"] == "Geiranger ferry.html"
    assert file["source_url"] == site.url("/fjords/geiranger")
    assert file["media_type"] == "text/html"
    page_requests = [s for s in site.requests if s.path == "/fjords/geiranger"]
    assert "gptstore" in page_requests[0].headers["user-agent"]
    assert site.fetched("/robots.txt") == 1  # read before the page (404 here: no rules)

    assert await ingest(db, web_settings, uuid.UUID(file_id)) == "completed"
    results = await web_client.post(
        f"/api/gpts/{gpt_id}/search", json={"query": "when does the ferry run"}, headers=creator_headers
    )
    best = results.json()["data"][0]
    assert "May to September" in best["text"] and best["filename"] == "Geiranger ferry.html"
    assert best["source_url"] == site.url("/fjords/geiranger")
    answer = await web_client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "When does the ferry run?"},
        headers=creator_headers,
    )
    citation = answer.json()["message"]["citations"][0]  # the offline answer cites the page by its URL
    assert citation["filename"] == "Geiranger ferry.html" and citation["url"] == site.url("/fjords/geiranger")


async def test_a_list_records_each_failing_url_and_goes_on(
    web_client, creator_headers, db, web_settings, site
):
    site.robots("User-agent: *\nDisallow: /private\nAllow: /private/ok\n")
    site.html("/a", page("Alpha", "Aurora tours leave at nine."))
    site.html("/b", page("Beta", "Bergen has rain on 231 days a year."))
    site.html("/private/secret", page("Secret", "Not for crawlers."))
    site.html("/private/ok/open", page("Open", "Allowed by the longer Allow rule."))
    site.pages["/logo.png"] = Resource(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png")
    site.pages["/broken"] = Resource(b"oops", status=500)
    urls = ["/a", "/missing", "/private/secret", "/logo.png", "/broken", "/private/ok/open", "/b"]
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, urls=[site.url(u) for u in urls])

    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["status"] == "completed"
    counts = status["page_counts"]
    assert (counts["total"], counts["added"], counts["failed"]) == (7, 3, 4)
    errors = {p["url"].removeprefix(site.base_url): p["error"] for p in status["pages"] if p["error"]}
    assert "HTTP 404" in errors["/missing"]
    assert "robots.txt" in errors["/private/secret"] and "disallows" in errors["/private/secret"]
    assert "image/png" in errors["/logo.png"]
    assert "HTTP 500" in errors["/broken"]
    assert site.fetched("/private/secret") == 0  # never requested
    files = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert sorted(f["filename"] for f in files) == ["Alpha.html", "Beta.html", "Open.html"]


async def test_unreadable_robots_txt_means_nothing_is_fetched(
    web_client, creator_headers, db, web_settings, site
):
    site.pages["/robots.txt"] = Resource(b"down", status=503, content_type="text/plain")
    site.html("/a", page("Alpha", "Aurora tours leave at nine."))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, url=site.url("/a"))
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["page_counts"]["failed"] == 1 and "robots.txt" in status["pages"][0]["error"]
    assert site.fetched("/a") == 0  # RFC 9309: a server error on robots.txt means complete disallow


async def test_sitemap_index_with_gzip_sitemaps_and_duplicate_content(
    web_client, creator_headers, db, web_settings, site
):
    for name in ("one", "two", "three"):
        site.html(f"/docs/{name}", page(name.title(), f"Page {name} of the handbook."))
    site.html("/docs/copy-of-one", page("One", "Page one of the handbook."))  # the same bytes as /docs/one
    site.pages["/sitemap-a.xml"] = xml(urlset(site.url("/docs/one"), site.url("/docs/two")))
    site.pages["/sitemap-b.xml.gz"] = Resource(
        gzip.compress(urlset(site.url("/docs/three"), site.url("/docs/copy-of-one"), site.url("/docs/one"))),
        content_type="application/gzip",
    )
    site.pages["/sitemap.xml"] = xml(
        sitemap_index(site.url("/sitemap-a.xml"), site.url("/sitemap-b.xml.gz"), site.url("/gone.xml"))
    )
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/sitemap.xml"))

    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["status"] == "completed"
    assert outcomes(status) == {
        site.url("/docs/one"): "added",
        site.url("/docs/two"): "added",
        site.url("/docs/three"): "added",
        site.url("/docs/copy-of-one"): "duplicate",
    }
    by_url = {p["url"]: p["file_id"] for p in status["pages"]}
    assert by_url[site.url("/docs/copy-of-one")] == by_url[site.url("/docs/one")]  # one file, by content hash
    assert status["sitemap_errors"] == [{"url": site.url("/gone.xml"), "error": "answered HTTP 404"}]
    files = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert len(files) == 3


async def test_caps_on_pages_page_size_and_file_slots(web_client, creator_headers, db, web_settings, site):
    site.html("/small", page("Small", "A short page."))
    site.html("/large", page("Large", "words " * 2000))
    site.html("/other", page("Other", "Another short page."))
    site.pages["/sitemap.xml"] = xml(urlset(*(site.url(p) for p in ("/small", "/large", "/other"))))
    capped = web_settings.model_copy(update={"web_import_max_pages": 2, "web_import_max_page_bytes": 5_000})
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, sitemap_url=site.url("/sitemap.xml"))

    status = await finished(web_client, creator_headers, db, capped, gpt_id, job)
    assert status["capped"] is True and status["page_counts"]["total"] == 2
    assert outcomes(status) == {site.url("/small"): "added", site.url("/large"): "failed"}
    assert "larger than the limit of 5,000 bytes" in status["pages"][1]["error"]

    one_file = web_settings.model_copy(update={"max_files_per_gpt": 1})
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(
        web_client, creator_headers, gpt_id, urls=[site.url("/small"), site.url("/other")]
    )
    before = site.fetched("/other")
    status = await finished(web_client, creator_headers, db, one_file, gpt_id, job)
    assert outcomes(status) == {site.url("/small"): "added", site.url("/other"): "failed"}
    assert "GPTSTORE_MAX_FILES_PER_GPT" in status["pages"][1]["error"]
    assert site.fetched("/other") == before  # no slot: not even fetched


async def test_too_many_urls_are_refused(web_client, creator_headers, web_settings, db, redis, site):
    few = web_settings.model_copy(update={"web_import_max_pages": 2})
    async with app_client_for(few, db=db, redis=redis) as client:
        gpt_id = await create_gpt(client, creator_headers)
        response = await client.post(
            f"/api/gpts/{gpt_id}/files/imports",
            json={"urls": [site.url(f"/{n}") for n in range(3)]},
            headers=creator_headers,
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "urls"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.20.30.40/internal", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:192.168.0.1]/", "private address"),
        ("file:///etc/passwd", "file scheme"),
    ],
)
async def test_a_redirect_to_a_private_address_is_refused(
    web_client, creator_headers, db, web_settings, site, target, reason
):
    site.redirect("/jump", target)
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, url=site.url("/jump"))
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["pages"][0]["status"] == "failed"
    assert "refused" in status["pages"][0]["error"] and reason in status["pages"][0]["error"]
    assert (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1:9/"}, "url"),  # loopback: only allowed hosts (the operator's setting)
        ({"url": "http://169.254.169.254/"}, "url"),
        ({"urls": ["https://example.com/", "gopher://example.com/"]}, "urls[1]"),
        ({"sitemap_url": "http://[::1]/sitemap.xml"}, "sitemap_url"),
        ({"url": "http://[::1/"}, "url"),
        ({"url": "https://example.com?" + "q" * 1980}, "url"),  # 2,001 characters once the path is added
        ({"url": "https://example.com/", "sitemap_url": "https://example.com/s.xml"}, "url"),
        ({"urls": [f"https://example.com/{n}" for n in range(101)]}, "urls"),  # more: a sitemap
        ({}, "url"),
    ],
)
async def test_refused_sources_are_a_422_naming_the_field(client, creator_headers, body, field):
    gpt_id = await create_gpt(client, creator_headers)
    response = await client.post(f"/api/gpts/{gpt_id}/files/imports", json=body, headers=creator_headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_only_the_owner_sees_and_resyncs_an_import(web_client, creator_headers, db, web_settings, site):
    site.html("/a", page("Alpha", "Aurora tours leave at nine."))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, url=site.url("/a"))
    async with db.session_scope() as session:
        stranger = auth_headers(await create_user(session, web_settings, plan="plus"), web_settings)
    base = f"/api/gpts/{gpt_id}/files/imports"
    assert (await web_client.get(f"{base}/{job['id']}", headers=stranger)).status_code == 404
    assert (await web_client.post(f"{base}/{job['id']}/resync", headers=stranger)).status_code == 404
    assert (await web_client.post(base, json={"url": site.url("/a")}, headers=stranger)).status_code == 404
    listed = (await web_client.get(base, headers=creator_headers)).json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]


async def test_the_route_queues_the_saq_job_that_runs_the_import(
    web_client, creator_headers, db, web_settings, redis, site
):
    site.html("/a", page("Alpha", "Aurora tours leave at nine."))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, url=site.url("/a"))
    queued = [json.loads(await redis.get(key)) for key in await redis.keys("saq:job:*web-import*")]
    assert [(q["function"], q["kwargs"]) for q in queued] == [
        ("retrieval.import_web", {"import_id": job["id"]})
    ]
    assert dict(job_functions())["retrieval.import_web"] is import_web

    queue = create_queue(redis)
    ctx = {"db": db, "settings": web_settings, "queue": queue, "redis": redis}
    assert await import_web(ctx, import_id=job["id"]) == "completed"
    status = (
        await web_client.get(f"/api/gpts/{gpt_id}/files/imports/{job['id']}", headers=creator_headers)
    ).json()
    ingestions = [json.loads(await redis.get(key)) for key in await redis.keys("saq:job:*ingest:*")]
    assert [q["kwargs"]["file_id"] for q in ingestions] == [status["pages"][0]["file_id"]]


async def test_crawl_delay_spaces_the_requests_to_a_host(web_client, creator_headers, db, web_settings, site):
    site.robots("User-agent: gptstore\nCrawl-delay: 1\n")
    site.html("/a", page("Alpha", "Aurora tours leave at nine."))
    site.html("/b", page("Beta", "Bergen has rain on 231 days a year."))
    gpt_id = await create_gpt(web_client, creator_headers)
    job = await start_import(web_client, creator_headers, gpt_id, urls=[site.url("/a"), site.url("/b")])
    status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert status["page_counts"]["added"] == 2
    arrivals = {seen.path: seen.at for seen in site.requests}
    # The server notes a request when it handles it, which a loaded machine may delay by a moment (for
    # /a more than for /b): half the delay is a bound no such jitter reaches, and no importer without the
    # wait comes near it (the two requests would be milliseconds apart).
    assert arrivals["/b"] - arrivals["/a"] >= 0.5


async def test_a_redirect_to_another_site_obeys_that_sites_robots_txt(
    web_client, creator_headers, db, web_settings, site
):
    with LocalSite() as other:
        other.robots("User-agent: *\nDisallow: /closed\n")
        other.html("/closed", page("Closed", "Not for crawlers."))
        other.html("/open", page("Open", "Anyone may read this."))
        site.redirect("/to-closed", other.url("/closed"))
        site.redirect("/to-open", other.url("/open"))
        gpt_id = await create_gpt(web_client, creator_headers)
        urls = [site.url("/to-closed"), site.url("/to-open")]
        job = await start_import(web_client, creator_headers, gpt_id, urls=urls)
        status = await finished(web_client, creator_headers, db, web_settings, gpt_id, job)
    assert outcomes(status) == {urls[0]: "failed", urls[1]: "added"}
    assert "disallows" in status["pages"][0]["error"]
    assert other.fetched("/closed") == 0  # robots.txt is read before the redirect is followed
    files = (await web_client.get(f"/api/gpts/{gpt_id}/files", headers=creator_headers)).json()["data"]
    assert [(f["filename"], f["source_url"]) for f in files] == [("Open.html", other.url("/open"))]


async def test_a_dataset_imports_pages_through_its_own_routes_and_only_its_editors_may(
    web_client, creator_headers, db, web_settings, site
):
    site.html("/fjords/geiranger", GEIRANGER)
    created = await web_client.post(
        "/api/datasets",
        json={"name": "Fjord timetables", "access": "open", "license": "CC-BY-4.0"},
        headers=creator_headers,
    )
    assert created.status_code == 201, created.text
    dataset_id = created.json()["id"]
    imports = f"/api/datasets/{dataset_id}/imports"
    body = {"url": site.url("/fjords/geiranger")}
    started = await web_client.post(imports, json=body, headers=creator_headers)
    assert started.status_code == 202, started.text
    await run_import(db, web_settings, uuid.UUID(started.json()["id"]))
    status = (await web_client.get(f"{imports}/{started.json()['id']}", headers=creator_headers)).json()
    assert status["status"] == "completed" and status["page_counts"]["added"] == 1
    file_id = status["pages"][0]["file_id"]
    file = (
        await web_client.get(f"/api/datasets/{dataset_id}/files/{file_id}", headers=creator_headers)
    ).json()
    assert (file["access"], file["license"]) == ("open", "CC-BY-4.0")  # the dataset's, not the import's
    # An import asking for other terms than the dataset's is refused at the field, as uploads and batches
    # are (it was stored "private" while its pages were published open under the dataset's licence).
    for other in ({"access": "private"}, {"license": "MIT"}):
        asked = await web_client.post(imports, json={**body, **other}, headers=creator_headers)
        assert asked.status_code == 422, asked.text
        assert [e["field"] for e in asked.json()["errors"]] == list(other)
    same = await web_client.post(imports, json={**body, "access": "open"}, headers=creator_headers)
    assert same.status_code == 202 and same.json()["access"] == "open"

    async with db.session_scope() as session:
        stranger = auth_headers(await create_user(session, web_settings, plan="plus"), web_settings)
    refused = await web_client.post(imports, json=body, headers=stranger)
    assert refused.status_code == 403  # an open dataset: seen by anyone, changed by its owner only
    assert (await web_client.get(imports, headers=stranger)).status_code == 403


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Maps of N/S America", "Maps of N-S America.html"),
        ("ünicode 😀 <b>x</b>", "ünicode 😀 <b>x<-b>.html"),
        ("Report.HTML", "Report.HTML"),
        (None, "example.org_fjords_geiranger.html"),
        ("  /  ", "page.html"),
    ],
)
def test_a_pages_file_is_named_after_its_whole_title(title, name):
    """A title is no path: its slashes do not cut it to what follows the last one (`b>.html`)."""
    from retrieval.web_documents import page_filename

    assert page_filename("https://example.org/fjords/geiranger/", title, ".html") == name
