"""An open dataset's passages and files carry its terms (license, attribution, page) wherever a GPT that
uses it hands them out: the GPT's page and its download, MCP `search_knowledge`, and the search results of
`/v1/responses`, not only the citations of answers (docs/data-library.md)."""

from __future__ import annotations

from tests.datasets.factories import create_dataset, create_gpt_using
from tests.datasets.test_attribution import FERRIES, QUESTION
from tests.factories import auth_headers, create_user
from tests.store.test_mcp_server import api_key, mcp_session, running
from tests.web.test_pages import HTML

ATTRIBUTION = "Ferry data: Statens vegvesen"


async def _gpt(client, session, settings, db, creator, creator_headers):
    dataset = await create_dataset(
        session, settings, creator, db=db, attribution=ATTRIBUTION, files={"ferries.md": FERRIES}
    )
    gpt_id = await create_gpt_using(client, creator_headers, session, [dataset])
    return dataset, gpt_id


async def test_the_gpt_page_and_its_download_name_the_dataset_of_a_file(
    client, session, settings, db, creator, creator_headers
):
    dataset, gpt_id = await _gpt(client, session, settings, db, creator, creator_headers)
    page = await client.get(f"/api/store/gpts/{gpt_id}")
    assert page.status_code == 200, page.text
    [item] = page.json()["knowledge"]
    assert item["license"] == "CC-BY-4.0"
    assert item["dataset"]["name"] == "Fjord ferry timetables"
    assert item["dataset"]["attribution"] == ATTRIBUTION
    assert item["dataset"]["url"] == f"/datasets/{dataset.id}"

    download = await client.get(item["download_url"])
    assert download.status_code == 200, download.text
    # The same terms as the dataset's own download of the file: its attribution and its page.
    assert download.headers["dataset-attribution"] == ATTRIBUTION
    assert f'/datasets/{dataset.id}>; rel="describedby"' in download.headers["link"]
    head = await client.head(item["download_url"])
    assert head.headers["dataset-attribution"] == ATTRIBUTION

    html = await client.get(f"/g/{gpt_id}", headers=HTML)
    assert f'href="/datasets/{dataset.id}#file-' in html.text
    assert "Fjord ferry timetables" in html.text


async def test_search_results_of_mcp_and_responses_carry_the_terms(settings, db, redis, session, creator):
    async with running(settings, db, redis) as (app, client):
        creator_headers = auth_headers(creator, settings)
        dataset, gpt_id = await _gpt(client, session, settings, db, creator, creator_headers)
        user = await create_user(session, settings)
        key = await api_key(session, settings, user)
        async with mcp_session(app, gpt_id, key) as mcp:
            found = await mcp.call_tool("search_knowledge", {"query": QUESTION})
        assert not found.is_error, found.content
        [passage] = found.structured_content["passages"]
        assert passage["license"] == "CC-BY-4.0"
        assert passage["license_url"] == "https://spdx.org/licenses/CC-BY-4.0.html"
        assert passage["dataset"]["attribution"] == ATTRIBUTION
        # Whole URLs: an MCP client is elsewhere, and a path alone leads nowhere from there.
        assert passage["dataset"]["url"] == f"http://testserver/datasets/{dataset.id}"
        assert passage["download_url"].startswith(f"http://testserver/api/store/gpts/{gpt_id}/files/")
        download = await client.get(passage["download_url"])
        assert download.status_code == 200 and download.headers["dataset-attribution"] == ATTRIBUTION

        response = await client.post(
            "/v1/responses",
            json={"model": gpt_id, "input": QUESTION, "include": ["file_search_call.results"]},
            headers=auth_headers(user, settings),
        )
        assert response.status_code == 200, response.text
        [search] = [item for item in response.json()["output"] if item["type"] == "file_search_call"]
        [result] = search["results"]
        assert result["text"]
        assert result["attributes"]["license"] == "CC-BY-4.0"
        assert result["attributes"]["attribution"] == ATTRIBUTION
        assert (
            result["attributes"]["dataset_url"] == f"http://testserver/datasets/{dataset.id}"
        )  # absolute: an API client follows it
