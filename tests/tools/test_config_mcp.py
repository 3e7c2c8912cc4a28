"""MCP servers over HTTP (tools listed at save time from the local MCP server), and actions imported from a
URL through the SSRF-safe fetch."""

import io
import json
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from tests.tools.conftest import HTML
from tests.tools.servers import MCP_TOKEN
from tools.snapshot import load_definitions

TEAM_KEY = "team-header-secret-5d1c"
GOOD = {
    "name": "Trip Helper",
    "description": "Plans trips.",
    "instructions": "Help with trips.",
    "conversation_starters": ["Plan a trip"],
    "category": "lifestyle",
}
WEATHER_ACTION = {
    "openapi": "3.1.0",
    "info": {"title": "Clash", "version": "1"},
    "servers": [{"url": "https://clash.example"}],
    "paths": {"/w": {"get": {"operationId": "weather", "responses": {"200": {"description": "ok"}}}}},
}


async def make_gpt(client, headers) -> str:
    return (await client.post("/api/gpts", json=GOOD, headers=headers)).json()["id"]


async def add_server(client, auth, gpt_id, server, **body):
    payload = {"server_label": "local", "server_url": server.url, "authorization": MCP_TOKEN, **body}
    return await client.post(f"/api/gpts/{gpt_id}/mcp_servers", json=payload, headers=auth)


async def test_an_mcp_server_lists_its_tools_when_saved(
    tools_client, creator_headers, mcp_server, session, app_settings
):
    gpt_id = await make_gpt(tools_client, creator_headers)
    response = await add_server(
        tools_client, creator_headers, gpt_id, mcp_server,
        headers={"X-Team": TEAM_KEY}, allowed_tools=["add", "weather"],
        require_approval={"never": {"tool_names": ["add"]}},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    server = response.json()
    assert MCP_TOKEN not in response.text and TEAM_KEY not in response.text
    assert server["authorization"] == {"set": True, "last4": MCP_TOKEN[-4:]}
    assert server["headers"] == {"X-Team": {"set": True, "last4": TEAM_KEY[-4:]}}
    assert server["domain"] == "127.0.0.1"
    tools = {t["name"]: (t["enabled"], t["requires_approval"]) for t in server["tools"]}
    assert tools == {
        "add": (True, False), "weather": (True, True), "echo_headers": (False, False), "fail": (False, False)
    }  # fmt: skip
    sealed = (await session.execute(sa.text("SELECT sealed, hints::text FROM tool_secret"))).one()
    assert MCP_TOKEN.encode() not in bytes(sealed.sealed) and TEAM_KEY.encode() not in bytes(sealed.sealed)
    definitions = await load_definitions(session, app_settings, uuid.UUID(gpt_id))
    [loaded] = definitions.mcp_servers
    assert loaded.headers == {"X-Team": TEAM_KEY, "Authorization": f"Bearer {MCP_TOKEN}"}
    assert [t.name for t in loaded.tools] == ["add", "weather"] and loaded.require_approval == ("weather",)
    assert loaded.tools[0].input_schema["properties"].keys() == {"a", "b"}


async def test_mcp_problems_are_422s_naming_the_field(tools_client, creator_headers, mcp_server):
    gpt_id = await make_gpt(tools_client, creator_headers)
    no_token = await add_server(tools_client, creator_headers, gpt_id, mcp_server, authorization=None)
    assert no_token.status_code == 422 and no_token.json()["errors"][0]["field"] == "server_url"
    unknown = await add_server(tools_client, creator_headers, gpt_id, mcp_server, allowed_tools=["nope"])
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]
    bad_label = await add_server(tools_client, creator_headers, gpt_id, mcp_server, server_label="has space")
    assert bad_label.status_code == 422
    assert (await add_server(tools_client, creator_headers, gpt_id, mcp_server)).status_code == 201
    again = await add_server(tools_client, creator_headers, gpt_id, mcp_server)
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "server_label"
    # An action whose operation is called like an enabled MCP tool is refused, whichever comes second.
    clash = await tools_client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": WEATHER_ACTION}, headers=creator_headers
    )
    assert clash.status_code == 422 and "Duplicate function name 'weather'" in clash.json()["detail"]


@pytest.mark.parametrize(
    ("path", "why"),
    [("/echo", "its JSON is not a JSON-RPC message"), ("/privacy", "HTTP 404 Not Found")],
)
async def test_a_url_that_is_no_mcp_server_is_said_so(path, why, tools_client, creator_headers, tools_api):
    """Not the SDK's "Failed to parse JSON response: 9 validation errors for union[JSONRPCRequest,...]"."""
    gpt_id = await make_gpt(tools_client, creator_headers)
    payload = {"server_label": "local", "server_url": tools_api.base_url + path}
    response = await tools_client.post(
        f"/api/gpts/{gpt_id}/mcp_servers", json=payload, headers=creator_headers
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "server_url"
    detail = response.json()["detail"]
    assert f"{path} did not answer as an MCP server ({why})" in detail, detail
    assert "validation error" not in detail and "JSONRPCRequest" not in detail


async def test_a_loopback_mcp_server_is_refused_unless_allowed(client, creator_headers, mcp_server):
    gpt_id = await make_gpt(client, creator_headers)
    refused = await add_server(client, creator_headers, gpt_id, mcp_server)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "server_url"


async def test_changing_mcp_credentials_keeps_or_replaces_them(
    tools_client, creator_headers, mcp_server, session, app_settings
):
    gpt_id = await make_gpt(tools_client, creator_headers)
    created = (
        await add_server(tools_client, creator_headers, gpt_id, mcp_server, headers={"X-Team": TEAM_KEY})
    ).json()
    url = f"/api/gpts/{gpt_id}/mcp_servers/{created['id']}"
    changed = await tools_client.patch(url, json={"require_approval": "never"}, headers=creator_headers)
    assert changed.status_code == 200 and changed.json()["headers"] == created["headers"]
    assert not any(t["requires_approval"] for t in changed.json()["tools"])
    cleared = await tools_client.patch(url, json={"headers": None}, headers=creator_headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["headers"] == {} and cleared.json()["authorization"]["last4"] == MCP_TOKEN[-4:]
    [loaded] = (await load_definitions(session, app_settings, uuid.UUID(gpt_id))).mcp_servers
    assert loaded.headers == {"Authorization": f"Bearer {MCP_TOKEN}"}
    assert (await tools_client.delete(url, headers=creator_headers)).status_code == 204
    assert await session.scalar(sa.text("SELECT count(*) FROM tool_secret")) == 0


async def test_mcp_servers_export_without_credentials_and_show_on_the_store_page(
    web, creator_headers, mcp_server
):
    tools_client = web
    gpt_id = await make_gpt(tools_client, creator_headers)
    await add_server(tools_client, creator_headers, gpt_id, mcp_server, headers={"X-Team": TEAM_KEY})
    export = await tools_client.get(f"/api/gpts/{gpt_id}/export", headers=creator_headers)
    assert MCP_TOKEN.encode() not in export.content and TEAM_KEY.encode() not in export.content
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        [server] = json.loads(archive.read("gptstore.json"))["tools"]["mcp_servers"]
    assert server["needs_credentials"] is True and server["header_names"] == ["X-Team"]
    files = {"file": ("g.zip", export.content, "application/zip")}
    new_id = (await tools_client.post("/api/gpts/import", files=files, headers=creator_headers)).json()["id"]
    [imported] = (await tools_client.get(f"/api/gpts/{new_id}/mcp_servers", headers=creator_headers)).json()
    assert imported["authorization"] is None and imported["headers"] == {}
    assert {t["name"] for t in imported["tools"]} == {"add", "weather", "echo_headers", "fail"}
    # The import keeps which credentials the server needs, and so does an export of the imported GPT.
    assert imported["needs_credentials"] is True and imported["missing_headers"] == ["X-Team"]
    again = await tools_client.get(f"/api/gpts/{new_id}/export", headers=creator_headers)
    with zipfile.ZipFile(io.BytesIO(again.content)) as archive:
        [server_again] = json.loads(archive.read("gptstore.json"))["tools"]["mcp_servers"]
    assert server_again["needs_credentials"] is True and server_again["header_names"] == ["X-Team"]
    page = await web.get(f"/builder/{new_id}/tools", headers=HTML)
    assert "needs credentials: enter X-Team" in page.text
    filled = await tools_client.patch(
        f"/api/gpts/{new_id}/mcp_servers/{imported['id']}",
        json={"headers": {"x-team": TEAM_KEY}, "authorization": MCP_TOKEN},
        headers=creator_headers,
    )
    assert filled.status_code == 200, filled.text
    assert filled.json()["needs_credentials"] is False and filled.json()["missing_headers"] == []
    published = await tools_client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert published.json()["review_status"] == "approved", published.text
    page = (await tools_client.get(f"/api/store/gpts/{gpt_id}")).json()
    assert page["tools"] == [
        {"kind": "mcp_server", "name": "local", "domain": "127.0.0.1", "privacy_policy_url": None}
    ]


async def test_an_action_imported_from_a_url(tools_client, creator_headers, tools_api):
    gpt_id = await make_gpt(tools_client, creator_headers)
    url = f"{tools_api.base_url}/openapi.yaml"
    response = await tools_client.post(
        f"/api/gpts/{gpt_id}/actions", json={"import_url": url}, headers=creator_headers
    )
    assert response.status_code == 201, response.text
    action = response.json()
    assert action["source_url"] == url and action["server_url"] == tools_api.base_url
    assert {op["name"] for op in action["operations"]} >= {"listTrips", "createTrip", "getTrip"}
    missing = await tools_client.post(
        f"/api/gpts/{gpt_id}/actions",
        json={"import_url": f"{tools_api.base_url}/status/404"},
        headers=creator_headers,
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "import_url"


async def test_import_urls_obey_the_ssrf_rules(client, creator_headers, tools_api):
    gpt_id = await make_gpt(client, creator_headers)
    for url in (f"{tools_api.base_url}/openapi.yaml", "http://169.254.169.254/latest/meta-data/"):
        response = await client.post(
            f"/api/gpts/{gpt_id}/actions", json={"import_url": url}, headers=creator_headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "import_url"
