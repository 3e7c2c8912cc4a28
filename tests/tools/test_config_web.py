"""The builder's Tools page (forms over the actions and MCP server API) and "test this operation", against
the local trips API and MCP server."""

import html
import re

import pytest

from tests.tools.conftest import HTML
from tests.tools.servers import API_KEY, MCP_TOKEN, OPENAPI_DOCUMENT
from web.session import CSRF_COOKIE


def trips_document(api) -> str:
    return OPENAPI_DOCUMENT.read_text().replace("http://127.0.0.1:0", api.base_url)


async def post(client, path, **form):
    return await client.post(path, data={"csrf_token": client.cookies[CSRF_COOKIE], **form}, headers=HTML)


async def test_a_creator_adds_tests_edits_and_deletes_an_action_in_the_web_app(
    web, creator_headers, tools_api
):
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    configure = await web.get(f"/builder/{gpt_id}", headers=HTML)
    assert f'href="/builder/{gpt_id}/tools"' in configure.text
    page = await web.get(f"/builder/{gpt_id}/tools", headers=HTML)
    assert page.status_code == 200 and "No actions yet." in page.text

    bad = await post(web, f"/builder/{gpt_id}/tools/actions", document="openapi: [3", auth_type="none")
    assert bad.status_code == 422 and "not valid JSON or YAML" in bad.text
    assert "openapi: [3" in bad.text  # the creator's input is kept

    added = await post(
        web, f"/builder/{gpt_id}/tools/actions", document=trips_document(tools_api),
        privacy_policy_url="https://trips.example/privacy", auth_type="api_key",
        auth_name="X-Api-Key", auth_location="header", secret=API_KEY,
    )  # fmt: skip
    assert added.status_code == 303, added.text
    page = (await web.get(f"/builder/{gpt_id}/tools", headers=HTML)).text
    assert "listTrips" in page and "127.0.0.1" in page and API_KEY not in page
    action_id = re.search(r"/tools/actions/([0-9a-f-]{36})/test", page).group(1)

    tested = await post(
        web,
        f"/builder/{gpt_id}/tools/actions/{action_id}/test",
        operation="listTrips",
        arguments='{"limit": 1}',
    )
    assert tested.status_code == 200 and "completed" in tested.text
    assert tools_api.last.headers["x-api-key"] == API_KEY and tools_api.last.query.get("limit") == "1"
    not_json = await post(
        web, f"/builder/{gpt_id}/tools/actions/{action_id}/test", operation="listTrips", arguments="{"
    )
    assert not_json.status_code == 422 and "Not valid JSON" in not_json.text
    for arguments in ('{"limit": ' + "9" * 4301 + "}", "[" * 5000):  # past int()'s digits; past recursion
        refused = await post(
            web,
            f"/builder/{gpt_id}/tools/actions/{action_id}/test",
            operation="listTrips",
            arguments=arguments,
        )
        assert refused.status_code == 422 and "Not valid JSON" in refused.text

    edited = await post(
        web, f"/builder/{gpt_id}/tools/actions/{action_id}", document=trips_document(tools_api),
        privacy_policy_url="https://trips.example/privacy", auth_type="api_key", auth_name="X-Api-Key",
        auth_location="header", consequential_listTrips="1",
    )  # fmt: skip
    assert edited.status_code == 303, edited.text
    [action] = (await web.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    assert {op["name"]: op["consequential"] for op in action["operations"]}["listTrips"] is True
    assert action["auth"]["secret"]["last4"] == API_KEY[-4:]  # a blank secret field keeps the secret

    deleted = await post(web, f"/builder/{gpt_id}/tools/actions/{action_id}/delete")
    assert deleted.status_code == 303
    assert (await web.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json() == []


async def test_a_creator_adds_an_mcp_server_in_the_web_app(web, creator_headers, mcp_server):
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    refused = await post(
        web, f"/builder/{gpt_id}/tools/mcp_servers", server_label="local", server_url=mcp_server.url
    )
    assert refused.status_code == 422 and "could not be listed" in refused.text
    added = await post(
        web, f"/builder/{gpt_id}/tools/mcp_servers", server_label="local", server_url=mcp_server.url,
        authorization=MCP_TOKEN, headers="X-Team: blue-team-0001", allowed_tools="add, weather",
        require_approval="some", approval_never="add",
    )  # fmt: skip
    assert added.status_code == 303, added.text
    page = (await web.get(f"/builder/{gpt_id}/tools", headers=HTML)).text
    assert "weather" in page and MCP_TOKEN not in page and "blue-team-0001" not in page
    [server] = (await web.get(f"/api/gpts/{gpt_id}/mcp_servers", headers=creator_headers)).json()
    assert server["allowed_tools"] == ["add", "weather"] and server["headers"] == {
        "X-Team": {"set": True, "last4": "0001"}
    }
    assert {t["name"] for t in server["tools"] if t["requires_approval"]} == {"weather"}
    # Editing with blank secret fields keeps them; "remove" clears them (then the server refuses listing).
    edit_url = f"/builder/{gpt_id}/tools/mcp_servers/{server['id']}"
    kept = await post(
        web,
        edit_url,
        server_label="local",
        server_url=mcp_server.url,
        allowed_tools="add",
        require_approval="never",
    )
    assert kept.status_code == 303, kept.text
    [server] = (await web.get(f"/api/gpts/{gpt_id}/mcp_servers", headers=creator_headers)).json()
    assert server["authorization"]["last4"] == MCP_TOKEN[-4:] and server["allowed_tools"] == ["add"]
    removed = await post(
        web, edit_url, server_label="local", server_url=mcp_server.url, remove_credentials="1"
    )
    assert removed.status_code == 422 and "could not be listed" in removed.text


async def test_the_test_endpoint_runs_one_operation(web, creator_headers, tools_api):
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    body = {
        "document": trips_document(tools_api),
        "auth": {"type": "api_key", "name": "X-Api-Key", "location": "header", "secret": API_KEY},
    }
    action = (await web.post(f"/api/gpts/{gpt_id}/actions", json=body, headers=creator_headers)).json()
    url = f"/api/gpts/{gpt_id}/actions/{action['id']}/test"
    ran = await web.post(
        url, json={"operation": "listTrips", "arguments": {"destination": "Oslo"}}, headers=creator_headers
    )
    assert ran.status_code == 200, ran.text
    result = ran.json()
    assert (
        result["status"] == "completed" and result["domain"] == "127.0.0.1" and result["name"] == "listTrips"
    )
    assert '"trips"' in result["content"] and API_KEY not in ran.text
    assert tools_api.last.query.get("destination") == "Oslo"
    unknown = await web.post(url, json={"operation": "nope"}, headers=creator_headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "operation"


async def test_test_arguments_with_infinity_or_nan_are_refused_at_the_form(web, creator_headers, tools_api):
    """The form's JSON is read by Python's json, which takes `NaN` and `Infinity`; JSON has neither."""
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    added = await post(web, f"/builder/{gpt_id}/tools/actions", document=trips_document(tools_api),
                       auth_type="none")  # fmt: skip
    assert added.status_code == 303, added.text
    [action] = (await web.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    for arguments, shown in (
        ('{"limit": NaN}', "arguments.limit is nan"),
        ('{"x": [Infinity]}', "[0] is inf"),
    ):
        refused = await post(
            web, f"/builder/{gpt_id}/tools/actions/{action['id']}/test", operation="listTrips",
            arguments=arguments,
        )  # fmt: skip
        assert refused.status_code == 422 and shown in refused.text, refused.text
    assert tools_api.requests == []


async def test_an_edit_can_replace_the_document_with_other_operations(web, creator_headers, tools_api):
    """The edit form's checkboxes are the old document's operations; a document without them is saved, and
    the page names the new operations so the creator can choose their approval."""
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    added = await post(web, f"/builder/{gpt_id}/tools/actions", document=trips_document(tools_api),
                       auth_type="none")  # fmt: skip
    assert added.status_code == 303, added.text
    [action] = (await web.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    v2 = (
        "openapi: 3.1.0\ninfo: {title: Trips, version: '2'}\n"
        f"servers: [{{url: '{tools_api.base_url}'}}]\n"
        "paths:\n  /v2/trips:\n    post:\n      operationId: listTripsV2\n"
        "      responses: {'200': {description: ok}}\n    get:\n      operationId: listTrips\n"
        "      responses: {'200': {description: ok}}\n"
    )
    form = {
        "document": v2,
        "auth_type": "none",
        "consequential_listTrips": "1",
        "consequential_createTrip": "1",
    }
    edited = await post(web, f"/builder/{gpt_id}/tools/actions/{action['id']}", **form)
    assert edited.status_code == 303, edited.text
    assert (
        "new=listTripsV2" in edited.headers["location"]
        and f"edit={action['id']}" in edited.headers["location"]
    )
    [action] = (await web.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    flags = {op["name"]: op["consequential"] for op in action["operations"]}
    assert flags == {"listTripsV2": True, "listTrips": True}  # the new one at its default (POST)
    page = await web.get(edited.headers["location"], headers=HTML)
    assert (
        "The new document added listTripsV2" in page.text
        and "listTripsV2 <strong>(new)</strong>" in page.text
    )
    # Unticked now that the form shows it.
    again = await post(web, f"/builder/{gpt_id}/tools/actions/{action['id']}", document=v2, auth_type="none")
    assert again.status_code == 303 and "new=" not in again.headers["location"]
    [action] = (await web.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    assert {op["name"]: op["consequential"] for op in action["operations"]} == {
        "listTripsV2": False,
        "listTrips": False,
    }


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ("X-Team: blue\nNoColonHere", "Line 2 has no ':'"),
        ("X-A: 1\n\nx-a: 2", "Line 3 gives the header 'x-a' again (line 1"),
        ("X-Empty:", "Line 1: the header 'X-Empty' has no value"),
        (": value-0001", "Line 1 has no header name"),
    ],
)
async def test_mcp_header_lines_that_are_mistakes_are_named_by_line(
    lines, words, web, creator_headers, mcp_server
):
    """They were stored silently: a line without a colon as an empty header, a repeated name dropped."""
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    refused = await post(
        web, f"/builder/{gpt_id}/tools/mcp_servers", server_label="local", server_url=mcp_server.url,
        authorization=MCP_TOKEN, headers=lines,
    )  # fmt: skip
    assert refused.status_code == 422 and words in html.unescape(refused.text), refused.text
    assert "value-0001" not in refused.text
    assert (await web.get(f"/api/gpts/{gpt_id}/mcp_servers", headers=creator_headers)).json() == []


async def test_a_header_mistake_and_a_bad_label_are_named_at_once(web, creator_headers, mcp_server):
    """The header lines were checked alone: the label's mistake showed only after the headers were fixed."""
    gpt_id = (await web.post("/api/gpts", json={"name": "Trip Helper"}, headers=creator_headers)).json()["id"]
    refused = await post(
        web, f"/builder/{gpt_id}/tools/mcp_servers", server_label="wiki 📚", server_url=mcp_server.url,
        headers="NoColonHere",
    )  # fmt: skip
    text = html.unescape(refused.text)
    assert refused.status_code == 422 and "Line 1 has no ':'" in text
    assert "must be 1-64 letters, digits, '_' or '-'" in text
