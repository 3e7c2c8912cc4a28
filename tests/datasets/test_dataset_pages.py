"""The dataset pages: the directory, a dataset's page with "Use in my GPT", and a contributor's numbers,
each over the same data as its JSON twin."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from retrieval.models import GptDataset
from store.models import DatasetCitationDaily
from tests.datasets.factories import create_dataset, create_gpt_using
from tests.factories import create_user
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE


async def test_directory_page_searches_and_filters_like_the_api(client, session, settings, creator):
    await create_dataset(session, settings, creator, files={"ferries.md": "Ferries."})
    await create_dataset(
        session, settings, creator, name="Volcano <readings>", license="CC0-1.0", files={"a.md": "Hekla."}
    )
    await create_dataset(session, settings, creator, name="Hidden memos", access="private", license=None)
    page = await client.get("/datasets", headers=HTML)
    assert page.status_code == 200
    assert "Fjord ferry timetables" in page.text and "Volcano &lt;readings&gt;" in page.text
    assert "Hidden memos" not in page.text
    assert 'href="/datasets"' in page.text  # the nav link
    assert '<option value="CC0-1.0">CC0-1.0 (1)</option>' in page.text
    filtered = await client.get("/datasets?license=CC0-1.0&q=&sort=", headers=HTML)
    assert "Volcano &lt;readings&gt;" in filtered.text and "Fjord ferry timetables" not in filtered.text
    searched = await client.get("/datasets?q=ferry", headers=HTML)
    assert "Fjord ferry timetables" in searched.text and "Volcano" not in searched.text


async def test_dataset_page_and_use_in_my_gpt(client, session, settings, creator, creator_headers):
    dataset = await create_dataset(
        session, settings, creator, attribution="Data: Statens vegvesen", files={"ferries.md": "Ferries."}
    )
    gpt_id = await create_gpt_using(client, creator_headers, session, [], name="Trip <Draft>", publish=False)
    anonymous = await client.get(f"/datasets/{dataset.id}", headers=HTML)
    assert anonymous.status_code == 200
    html = anonymous.text
    assert "Data: Statens vegvesen" in html and 'rel="license noopener"' in html
    assert f'href="/api/store/datasets/{dataset.id}/download"' in html
    assert "Log in</a> to build a GPT" in html and "Contributor numbers" not in html

    await log_in(client, creator.email)
    page = await client.get(f"/datasets/{dataset.id}", headers=HTML)
    assert f'<option value="{gpt_id}">Trip &lt;Draft&gt;</option>' in page.text
    assert f'href="/creator/datasets/{dataset.id}/stats"' in page.text  # the owner's numbers
    token = client.cookies.get(CSRF_COOKIE)
    form = {"gpt_id": gpt_id, "follow_latest": "true", "csrf_token": token}
    used = await client.post(f"/datasets/{dataset.id}/use", data=form, headers=HTML)
    assert used.status_code == 303
    assert used.headers["location"].startswith(f"/datasets/{dataset.id}?attached=")
    attached = GptDataset.gpt_id == uuid.UUID(gpt_id), GptDataset.dataset_id == dataset.id
    row = await session.scalar(sa.select(GptDataset).where(*attached))
    assert row is not None and row.follow_latest is True

    someone_elses = str((await create_dataset(session, settings, await create_user(session, settings))).id)
    form = {"gpt_id": str(uuid.uuid4()), "csrf_token": token}
    refused = await client.post(f"/datasets/{someone_elses}/use", data=form, headers=HTML)
    assert refused.status_code == 404 and "No such GPT" in refused.text  # shown at the form
    invalid = await client.post(
        f"/datasets/{dataset.id}/use", data={"gpt_id": "nope", "csrf_token": token}, headers=HTML
    )
    assert invalid.status_code == 422 and 'id="e-use-gpt"' in invalid.text


async def test_use_in_my_gpt_follows_the_one_attach_rule(client, session, settings, creator, creator_headers):
    """The directory's "Use in my GPT" and `POST /api/gpts/{id}/datasets` refuse and accept the same
    datasets (`DatasetService.attach`); using an attached one again only changes its follow-latest."""
    dataset = await create_dataset(session, settings, creator, files={"ferries.md": "Ferries."})
    gpt_id = await create_gpt_using(client, creator_headers, session, [], publish=False)
    await log_in(client, creator.email)
    await client.get(f"/datasets/{dataset.id}", headers=HTML)
    token = client.cookies.get(CSRF_COOKIE)
    for follow in ("true", ""):
        form = {"gpt_id": gpt_id, "follow_latest": follow, "csrf_token": token}
        used = await client.post(f"/datasets/{dataset.id}/use", data=form, headers=HTML)
        assert used.status_code == 303
        row = await session.scalar(
            sa.select(GptDataset)
            .where(GptDataset.gpt_id == uuid.UUID(gpt_id), GptDataset.dataset_id == dataset.id)
            .execution_options(populate_existing=True)
        )
        assert row.follow_latest is (follow == "true")
    again = await client.post(
        f"/api/gpts/{gpt_id}/datasets", json={"dataset_id": str(dataset.id)}, headers=creator_headers
    )
    assert again.status_code == 409  # the API names the double attach

    other = await create_user(session, settings)
    private = await create_dataset(session, settings, other, access="private", license=None)
    form = {"gpt_id": gpt_id, "csrf_token": token}
    refused = await client.post(f"/datasets/{private.id}/use", data=form, headers=HTML)
    api = await client.post(
        f"/api/gpts/{gpt_id}/datasets", json={"dataset_id": str(private.id)}, headers=creator_headers
    )
    assert refused.status_code == api.status_code == 404
    assert "no such dataset" in refused.text.lower()  # shown at the form
    link = sa.select(GptDataset).where(GptDataset.dataset_id == private.id)
    assert (await session.scalar(link)) is None


async def test_private_dataset_page_is_404(client, session, settings, creator):
    dataset = await create_dataset(session, settings, creator, access="private", license=None)
    await log_in(client, creator.email)
    assert (await client.get(f"/datasets/{dataset.id}", headers=HTML)).status_code == 404


async def test_contributor_numbers_page_draws_the_api_numbers(
    client, session, settings, creator, creator_headers
):
    dataset = await create_dataset(session, settings, creator, files={"ferries.md": "Ferries."})
    gpt_id = await create_gpt_using(client, creator_headers, session, [dataset], name="Ferry <Planner>")
    today = datetime.now(UTC).date()
    counted = {"dataset_id": dataset.id, "gpt_id": uuid.UUID(gpt_id), "citations": 17, "answers": 9}
    session.add(DatasetCitationDaily(day=today, **counted))
    await session.commit()
    api = (await client.get(f"/api/datasets/{dataset.id}/stats?days=7", headers=creator_headers)).json()
    assert api["totals"]["citations"] == 17

    await log_in(client, creator.email)
    page = await client.get(f"/creator/datasets/{dataset.id}/stats?days=7", headers=HTML)
    assert page.status_code == 200
    html = page.text
    assert len(re.findall(r"<svg viewBox=\"0 0 360", html)) == 2 and "style=" not in html
    assert re.search(r"<title>[A-Z][a-z]{2} \d+: 17</title>", html)  # today's citations bar
    assert f'<a href="/g/{gpt_id}">Ferry &lt;Planner&gt;</a>' in html
    assert "17 citations in 9 answers of 1 GPT" in html

    other = await create_user(session, settings)
    client.cookies.clear()
    await log_in(client, other.email)
    assert (await client.get(f"/creator/datasets/{dataset.id}/stats", headers=HTML)).status_code == 403
