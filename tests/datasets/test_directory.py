"""The dataset directory: open datasets found, filtered, sorted and downloaded; private ones never seen."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from retrieval.models import Dataset, KnowledgeFile
from retrieval.service import KnowledgeService
from store import datasets as directory_module
from store.datasets import ORDERS, open_datasets_of_organization
from store.jobs import flush_counters
from tests.datasets.factories import content, create_dataset, create_gpt_using
from tests.factories import auth_headers, create_user
from tests.orgs.factories import create_organization

FERRIES = "Bergen to Stavanger: the first ferry leaves at 06:30 every weekday."
VOLCANOES = "Hekla erupted in 2000; its magma chamber lies about 10 km deep."


async def _zip(client, dataset_id) -> zipfile.ZipFile:
    response = await client.get(f"/api/store/datasets/{dataset_id}/download")
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


async def _names(client, **params) -> list[str]:
    response = await client.get("/api/store/datasets", params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["data"]]


async def test_directory_lists_searches_filters_and_sorts_open_datasets_only(
    client, session, settings, db, redis, creator, creator_headers
):
    ferries = await create_dataset(session, settings, creator, files={"ferries.md": FERRIES})
    await create_dataset(
        session, settings, creator, name="Icelandic volcano measurements",
        description="Eruptions and magma depths.", license="CC0-1.0", files={"hekla.md": VOLCANOES},
    )  # fmt: skip
    await create_dataset(
        session, settings, creator, name="Fjord staff memos", description="Internal fjord notes.",
        access="private", license=None, files={"memo.md": "Do not share."},
    )  # fmt: skip
    await create_gpt_using(client, creator_headers, session, [ferries])  # its home dataset is private

    assert sorted(await _names(client)) == ["Fjord ferry timetables", "Icelandic volcano measurements"]
    assert await _names(client, q="fjord") == ["Fjord ferry timetables"]  # the private memo never
    assert await _names(client, q="Icelandc volcno") == ["Icelandic volcano measurements"]  # typos
    assert await _names(client, q="magma eruptions") == ["Icelandic volcano measurements"]  # description
    assert await _names(client, q="xyzzy") == []
    assert await _names(client, license="cc0-1.0") == ["Icelandic volcano measurements"]
    assert await _names(client, sort="name") == ["Fjord ferry timetables", "Icelandic volcano measurements"]
    assert await _names(client, sort="new") == ["Icelandic volcano measurements", "Fjord ferry timetables"]
    # `used` (the default): the ferries are used by one listed GPT, the volcanoes by none, as of the last
    # run of the counters job
    await flush_counters({"db": db, "redis": redis})
    response = await client.get("/api/store/datasets")
    items = response.json()["data"]
    assert [(i["name"], i["used_by"]) for i in items] == [
        ("Fjord ferry timetables", 1),
        ("Icelandic volcano measurements", 0),
    ]
    first = items[0]
    assert first["owner"] == {
        "type": "user", "handle": creator.handle, "name": creator.display_name,
        "url": f"/creators/{creator.handle}",
    }  # fmt: skip
    assert first["size"] == {"bytes": len(FERRIES.encode()), "files": 1, "chunks": 1}
    assert first["license_url"] == "https://spdx.org/licenses/CC-BY-4.0.html"

    one = await client.get("/api/store/datasets", params={"limit": 1})
    assert len(one.json()["data"]) == 1 and one.json()["next_cursor"]
    rest = await client.get("/api/store/datasets", params={"limit": 1, "cursor": one.json()["next_cursor"]})
    assert [i["name"] for i in rest.json()["data"]] == ["Icelandic volcano measurements"]

    licenses = (await client.get("/api/store/datasets/licenses")).json()
    assert {(x["license"], x["count"]) for x in licenses} == {("CC-BY-4.0", 1), ("CC0-1.0", 1)}

    # `relevance` without a text to be relevant to is the default order, most used first
    assert await _names(client, sort="relevance") == [i["name"] for i in items]
    bad = await client.get("/api/store/datasets", params={"sort": "best"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sort"


async def test_dataset_page_names_files_license_and_the_gpts_using_it(
    client, session, settings, creator, creator_headers
):
    dataset = await create_dataset(session, settings, creator, files={"ferries.md": FERRIES})
    gpt_id = await create_gpt_using(client, creator_headers, session, [dataset])
    await create_gpt_using(client, creator_headers, session, [dataset], name="Draft only", publish=False)

    page = (await client.get(f"/api/store/datasets/{dataset.id}")).json()
    assert page["license"] == "CC-BY-4.0" and page["used_by"] == 1
    assert [g["id"] for g in page["used_by_gpts"]] == [gpt_id]
    [file] = page["files"]
    assert file["filename"] == "ferries.md" and file["bytes"] == len(FERRIES.encode())
    assert file["download_url"] == f"/api/store/datasets/{dataset.id}/files/{file['id']}/download"
    assert page["download_url"] == f"/api/store/datasets/{dataset.id}/download"


async def test_private_datasets_are_404_to_everyone_on_every_directory_route(
    client, session, settings, creator, creator_headers
):
    dataset = await create_dataset(
        session, settings, creator, access="private", license=None, files={"memo.md": "Internal only."}
    )
    file_id = await session.scalar(sa.select(KnowledgeFile.id).where(KnowledgeFile.dataset_id == dataset.id))
    other = auth_headers(await create_user(session, settings), settings)
    paths = [
        f"/api/store/datasets/{dataset.id}",
        f"/api/store/datasets/{dataset.id}/files/{file_id}/download",
        f"/api/store/datasets/{dataset.id}/download",
        f"/api/store/datasets/{uuid.uuid4()}",
    ]
    for headers in ({}, other, creator_headers):  # the owner reads it through /api/datasets, not here
        for path in paths:
            response = await client.get(path, headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_private_file_of_an_open_home_dataset_is_neither_listed_nor_downloadable(
    client, session, settings, creator, creator_headers
):
    gpt_id = await create_gpt_using(client, creator_headers, session, [], publish=False)
    home = await session.get(Dataset, uuid.UUID(gpt_id))
    home.access, home.license, home.name = "open", "MIT", "Ferry Planner knowledge"
    knowledge = KnowledgeService(session, settings)
    shown = await knowledge.add_file(home, "open.md", content(b"Open notes."), access="open", license="MIT")
    hidden = await knowledge.add_file(home, "private.md", content(b"Private notes."), access="private")
    for row in (shown, hidden):
        row.status = "completed"
    await session.commit()

    page = (await client.get(f"/api/store/datasets/{gpt_id}")).json()
    assert [f["filename"] for f in page["files"]] == ["open.md"]
    private = await client.get(f"/api/store/datasets/{gpt_id}/files/{hidden.id}/download")
    assert private.status_code == 404
    archive = await _zip(client, gpt_id)
    assert "private.md" not in archive.namelist() and "open.md" in archive.namelist()


async def test_downloads_carry_license_and_attribution(client, session, settings, creator):
    attribution = "© Statens vegvesen, Norwegian Public Roads Administration"
    dataset = await create_dataset(
        session, settings, creator, attribution=attribution,
        files={"ferries.md": FERRIES, "ferries-2.md": "Molde to Vestnes: every 20 minutes."},
    )  # fmt: skip
    page = (await client.get(f"/api/store/datasets/{dataset.id}")).json()
    file = page["files"][0]

    one = await client.get(file["download_url"])
    assert one.status_code == 200 and one.content == FERRIES.encode()
    assert '<https://spdx.org/licenses/CC-BY-4.0.html>; rel="license"' in one.headers["link"]
    assert f'/datasets/{dataset.id}>; rel="describedby"' in one.headers["link"]
    assert one.headers["dataset-license"] == "CC-BY-4.0"
    encoded = one.headers["dataset-attribution"]
    assert encoded.startswith("UTF-8''") and unquote(encoded.removeprefix("UTF-8''")) == attribution
    assert 'filename="ferries.md"' in one.headers["content-disposition"]
    # HEAD answers with the same headers and no body (a download manager's or `curl -I`'s first question)
    asked = await client.head(file["download_url"])
    assert asked.status_code == 200 and asked.content == b""
    for name in ("content-length", "content-type", "content-disposition", "link", "dataset-license"):
        assert asked.headers[name] == one.headers[name], name

    whole = await client.get(page["download_url"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/zip"
    assert whole.headers["dataset-license"] == "CC-BY-4.0"
    archive = zipfile.ZipFile(io.BytesIO(whole.content))
    assert sorted(archive.namelist()) == ["ATTRIBUTION.txt", "LICENSE.txt", "ferries-2.md", "ferries.md"]
    assert archive.read("ferries.md") == FERRIES.encode()
    assert attribution in archive.read("ATTRIBUTION.txt").decode()
    assert "https://spdx.org/licenses/CC-BY-4.0.html" in archive.read("LICENSE.txt").decode()
    assert archive.testzip() is None

    settings.dataset_zip_max_bytes = 10
    capped = await client.get(page["download_url"])
    assert capped.status_code == 409 and "dataset_zip_max_bytes" in capped.text


async def test_repeated_file_names_get_distinct_zip_members(client, session, settings, creator):
    dataset = await create_dataset(session, settings, creator, files={"notes.md": "one"})
    row = await KnowledgeService(session, settings).add_file(
        dataset, "notes.md", content(b"two"), access="open", license="CC-BY-4.0"
    )
    row.status = "completed"
    await session.commit()
    archive = await _zip(client, dataset.id)
    assert sorted(n for n in archive.namelist() if n.startswith("notes")) == ["notes (2).md", "notes.md"]
    assert {archive.read("notes.md"), archive.read("notes (2).md")} == {b"one", b"two"}


async def test_an_organizations_open_datasets_for_its_page(session, settings, creator):
    organization_id = (await create_organization(session, settings, creator)).id
    shown = await create_dataset(session, settings, creator, organization_id=organization_id)
    await create_dataset(
        session, settings, creator, organization_id=organization_id, access="private", license=None
    )
    await create_dataset(session, settings, creator, name="Someone else's")
    items = await open_datasets_of_organization(session, organization_id)
    assert [item.id for item in items] == [shown.id]


async def test_an_organizations_dataset_is_listed_under_its_name(client, session, settings, creator):
    organization = await create_organization(session, settings, creator)
    await create_dataset(session, settings, creator, organization_id=organization.id)
    [item] = (await client.get("/api/store/datasets")).json()["data"]
    assert item["owner"] == {
        "type": "organization", "handle": organization.handle, "name": organization.name,
        "url": f"/o/{organization.handle}",
    }  # fmt: skip


async def test_used_by_follows_the_counters_job_and_a_dataset_made_private_drops_to_zero(
    client, session, settings, db, redis, creator, creator_headers
):
    ferries = await create_dataset(session, settings, creator, files={"ferries.md": FERRIES})
    await create_gpt_using(client, creator_headers, session, [ferries])
    await flush_counters({"db": db, "redis": redis})
    assert [i["used_by"] for i in (await client.get("/api/store/datasets")).json()["data"]] == [1]

    private = await client.patch(
        f"/api/datasets/{ferries.id}", json={"access": "private"}, headers=creator_headers
    )
    assert private.status_code == 200, private.text
    await flush_counters({"db": db, "redis": redis})
    await session.refresh(ferries)
    assert ferries.used_by == 0  # opened again, it starts from 0 until the job counts it


async def test_each_sort_reads_its_page_from_an_index(session, settings, creator):
    """`used`, `new` and `name` read their rows in order from a partial index (migration 0023), not by
    sorting every open dataset (79 ms a page at 100,000 open datasets before, docs/performance.md)."""
    await create_dataset(session, settings, creator, files={"ferries.md": FERRIES})
    await session.commit()
    for sort, index in (("used", "ix_dataset_open_used"), ("new", "ix_dataset_open_new"),
                        ("name", "ix_dataset_open_name")):  # fmt: skip
        statement = (
            f"SELECT d.id FROM dataset d WHERE d.access = 'open' ORDER BY {ORDERS[sort]}, d.id"
            " OFFSET 0 LIMIT 21"
        )
        async with session.begin():
            await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            await session.execute(sa.text("SET LOCAL enable_sort = off"))
            plan = "\n".join(r[0] for r in await session.execute(sa.text(f"EXPLAIN (COSTS OFF) {statement}")))
        assert index in plan and "Disabled: true" not in plan, plan


async def test_relevance_ranks_a_capped_number_of_matches_and_other_sorts_list_them_all(
    client, session, settings, creator, monkeypatch
):
    for n in range(4):
        await create_dataset(
            session, settings, creator, name=f"Ferry timetables {n}", files={"f.md": FERRIES}
        )
    monkeypatch.setattr(directory_module, "RANKED_CANDIDATES", 1)
    ranked = await _names(client, q="ferry timetables")
    # one match with every word, one with any word (the same or another), one by name: at most three
    assert 1 <= len(ranked) <= 3 and all(name.startswith("Ferry timetables") for name in ranked)
    assert len(await _names(client, q="ferry timetables", sort="new")) == 4  # a sort, not a ranking: all


@pytest.mark.parametrize(
    ("name", "filename"),
    [("Maps of N/S America", "Maps of N-S America.zip"), ("Roads \\ ferries", "Roads - ferries.zip")],
)
async def test_a_datasets_archive_is_named_after_the_whole_name(
    client, session, settings, creator, name, filename
):
    """A slash in a title is no path: the archive keeps the whole name (as a GPT export does)."""
    dataset = await create_dataset(session, settings, creator, name=name, files={"ferries.md": FERRIES})
    whole = await client.get(f"/api/store/datasets/{dataset.id}/download")
    assert f'filename="{filename}"' in whole.headers["content-disposition"]


async def test_a_dataset_made_private_leaves_the_cached_store_page_at_once(
    client, session, settings, creator, creator_headers
):
    """The store's GPT page is cached for a minute: a change of its dataset's access drops it, so the
    files of a dataset made private are not listed (nor counted open) meanwhile."""
    dataset = await create_dataset(session, settings, creator, files={"secret-plan.md": FERRIES})
    gpt_id = await create_gpt_using(client, creator_headers, session, [dataset])
    before = (await client.get(f"/api/store/gpts/{gpt_id}")).json()  # anonymous: the cached page
    assert [f["filename"] for f in before["knowledge"]] == ["secret-plan.md"]
    made = await client.patch(
        f"/api/datasets/{dataset.id}", json={"access": "private"}, headers=creator_headers
    )
    assert made.status_code == 200, made.text
    after = (await client.get(f"/api/store/gpts/{gpt_id}")).json()
    assert after["knowledge"] == [] and "secret-plan.md" not in json.dumps(after)


async def test_words_glued_to_cjk_or_hangul_text_and_korean_parts_find_a_dataset(
    session, settings, client, creator
):
    """Where scripts meet without spaces (migration 0030): an identifier against Japanese, a Korean word
    inside a word with its particle, in every sort."""
    await create_dataset(session, settings, creator, files={"ferries.md": FERRIES})
    await create_dataset(
        session, settings, creator, name="請求データ", description="請求コードはJP-7070です。",
        files={"a.md": "請求"},
    )  # fmt: skip
    await create_dataset(
        session, settings, creator, name="발표 모음", description="발표자료를 모았습니다. 코드KR-8181입니다.",
        files={"b.md": "발표"},
    )  # fmt: skip
    for query, name in (("JP-7070", "請求データ"), ("KR-8181", "발표 모음"), ("발표자료", "발표 모음")):
        for sort in ("relevance", "new"):
            assert await _names(client, q=query, sort=sort) == [name], (query, sort)
