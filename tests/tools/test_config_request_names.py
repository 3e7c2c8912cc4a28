"""One header (or query parameter) of an action's calls has one source: the API key, the per-user id header
and the document's parameters may not name the same one in any case (docs/tools-safety.md)."""

import copy

import pytest

from tests.tools.test_config_checks import DOCUMENT, make_gpt

KEY = {"type": "api_key", "name": "X-Api-Key", "location": "header", "secret": "sk-live-CREATORKEY-9911"}
QUERY_KEY = {"type": "api_key", "name": "api_key", "location": "query", "secret": "sk-live-CREATORKEY-9911"}


def with_parameter(name: str, location: str, *, shared: bool = False) -> dict:
    """DOCUMENT with one more parameter of listTrips (on the path item when `shared`)."""
    document = copy.deepcopy(DOCUMENT)
    parameter = {"name": name, "in": location, "schema": {"type": "string"}}
    item = document["paths"]["/trips"]
    target = item if shared else item["get"]
    target.setdefault("parameters", []).append(parameter)
    return document


def errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_a_user_id_header_named_like_the_api_key_header_is_refused(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    created = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": DOCUMENT, "auth": KEY}, headers=creator_headers
    )
    assert created.status_code == 201, created.text
    url = f"/api/gpts/{gpt_id}/actions/{created.json()['id']}"
    response = await client.patch(url, json={"user_id_header": "x-api-key"}, headers=creator_headers)
    problems = errors(response)
    assert set(problems) == {"user_id_header"}
    assert "'X-Api-Key'" in problems["user_id_header"] and "'x-api-key'" in problems["user_id_header"]
    assert (await client.get(url, headers=creator_headers)).json()["user_id_header"] is None
    # The other way round: the auth changed to the user id header's name.
    assert (
        await client.patch(url, json={"user_id_header": "X-GPT-User"}, headers=creator_headers)
    ).is_success
    renamed = await client.patch(url, json={"auth": {"name": "x-gpt-user"}}, headers=creator_headers)
    assert set(errors(renamed)) == {"auth.name"}


@pytest.mark.parametrize(
    ("document", "auth", "where"),
    [
        (with_parameter("x-api-key", "header"), KEY, "/paths/~1trips/get/parameters/0"),
        (with_parameter("X-API-KEY", "header", shared=True), KEY, "/paths/~1trips/parameters/0"),
        (with_parameter("API_KEY", "query"), QUERY_KEY, "/paths/~1trips/get/parameters/0"),
    ],
    ids=["header", "shared header", "query"],
)
async def test_a_document_parameter_named_like_the_api_key_is_refused_with_its_place(
    document, auth, where, client, creator_headers
):
    """Else the model, whom a user can steer, chooses the key the API is called with."""
    gpt_id = await make_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": document, "auth": auth}, headers=creator_headers
    )
    problems = errors(response)
    assert set(problems) == {"auth.name", "document"}
    assert where in problems["document"] and "choose the API key" in problems["document"]
    assert (await client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json() == []
    # A new document for a saved action names only the document.
    saved = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": DOCUMENT, "auth": auth}, headers=creator_headers
    )
    url = f"/api/gpts/{gpt_id}/actions/{saved.json()['id']}"
    replaced = await client.patch(url, json={"document": document}, headers=creator_headers)
    assert set(errors(replaced)) == {"document"}


async def test_header_parameters_differing_only_in_case_and_the_user_id_header_are_refused(
    client, creator_headers
):
    gpt_id = await make_gpt(client, creator_headers)
    twice = with_parameter("X-Trace", "header")
    twice["paths"]["/trips"]["get"]["parameters"].append(
        {"name": "x-trace", "in": "header", "schema": {"type": "string"}}
    )
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": twice}, headers=creator_headers
    )
    assert "/paths/~1trips/get/parameters/1" in errors(response)["document"]
    named = await client.post(
        f"/api/gpts/{gpt_id}/actions",
        json={"document": with_parameter("X-Trace", "header"), "user_id_header": "x-trace"},
        headers=creator_headers,
    )
    assert set(errors(named)) == {"user_id_header", "document"}


async def test_other_names_in_other_places_are_accepted(client, creator_headers):
    """A query parameter named like a header key, or the key's header in another operation's query."""
    gpt_id = await make_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions",
        json={"document": with_parameter("X-Api-Key", "query"), "auth": KEY, "user_id_header": "X-GPT-User"},
        headers=creator_headers,
    )
    assert response.status_code == 201, response.text
