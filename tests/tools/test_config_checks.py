"""What a creator's tool configuration is checked for before it is stored: secrets and header values HTTP can
carry, reserved header names, no credentials in URLs, finite numbers; and "test this operation" sending what
a chat sends (docs/tools.md, docs/tools-safety.md)."""

import io
import json
import uuid
import zipfile

import pytest

from tests.tools.servers import MCP_TOKEN
from tools.snapshot import load_definitions

GOOD = {
    "name": "Trip Helper",
    "description": "Plans trips.",
    "instructions": "Help with trips.",
    "conversation_starters": ["Plan a trip"],
    "category": "lifestyle",
}
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Trips", "version": "1"},
    "servers": [{"url": "https://api.trips.example"}],
    "paths": {"/trips": {"get": {"operationId": "listTrips", "responses": {"200": {"description": "ok"}}}}},
}
SECRET = "sk-live-CREATORKEY-9911"


async def make_gpt(client, headers) -> str:
    return (await client.post("/api/gpts", json=GOOD, headers=headers)).json()["id"]


def fields(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("auth", "field", "words"),
    [
        ({"type": "bearer", "secret": f"{SECRET}\r\nX-Evil: 1"}, "auth.secret", "line break"),
        ({"type": "bearer", "secret": "ü-unicode-secret"}, "auth.secret", "outside ASCII"),
        ({"type": "bearer", "secret": "sk\x07live"}, "auth.secret", "control character"),
        ({"type": "api_key", "name": "X-K", "location": "header", "secret": "ü-key"}, "auth.secret", "ASCII"),
        ({"type": "basic", "username": "u", "secret": "pw\r\nX: 1"}, "auth.secret", "line break"),
        ({"type": "bearer", "secret": " \r\n"}, "auth.secret", "empty"),
        (
            {"type": "api_key", "name": "Host", "location": "header", "secret": "evil.example.com"},
            "auth.name",
            "'Host' is set by gptstore",
        ),
        (
            {"type": "api_key", "name": "Content-Length", "location": "header", "secret": "5"},
            "auth.name",
            "set by gptstore",
        ),
        (
            {"type": "api_key", "name": "user-agent", "location": "header", "secret": "evil-agent"},
            "auth.name",
            "'user-agent' is set by gptstore",
        ),
    ],
)
async def test_a_secret_or_header_http_cannot_carry_is_a_422_without_its_value(
    auth, field, words, client, creator_headers
):
    gpt_id = await make_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": DOCUMENT, "auth": auth}, headers=creator_headers
    )
    assert words in fields(response)[field], response.json()
    secret = auth["secret"].strip()
    assert len(secret) < 4 or secret not in response.text


async def test_a_pasted_secret_loses_its_trailing_newline(client, creator_headers, session, settings):
    gpt_id = await make_gpt(client, creator_headers)
    created = await client.post(
        f"/api/gpts/{gpt_id}/actions",
        json={"document": DOCUMENT, "auth": {"type": "bearer", "secret": "old-secret-123"}},
        headers=creator_headers,
    )
    url = f"/api/gpts/{gpt_id}/actions/{created.json()['id']}"
    changed = await client.patch(url, json={"auth": {"secret": f"{SECRET}\r\n"}}, headers=creator_headers)
    assert changed.status_code == 200, changed.text
    [action] = (await load_definitions(session, settings, uuid.UUID(gpt_id))).actions
    assert action.auth.secret == SECRET
    # An update without a type is checked against the stored type: the field is still named.
    bad = await client.patch(url, json={"auth": {"secret": "ü-unicode-secret"}}, headers=creator_headers)
    assert "outside ASCII" in fields(bad)["auth.secret"] and "ü-unicode" not in bad.text
    # A query API key is not a header: any text but control characters.
    query = {"type": "api_key", "name": "key", "location": "query", "secret": "ü-query-key"}
    assert (await client.patch(url, json={"auth": query}, headers=creator_headers)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"server_url": "http://apiuser:SUPERSECRETPW@127.0.0.1:18954"}, "server_url"),
        ({"privacy_policy_url": "https://u:SUPERSECRETPW@p.example/privacy"}, "privacy_policy_url"),
        (
            {
                "auth": {
                    "type": "oauth_client_credentials",
                    "client_id": "c",
                    "secret": "s-123456",
                    "token_url": "https://c:SUPERSECRETPW@auth.example/token",
                }
            },
            "auth.token_url",
        ),  # fmt: skip
    ],
)
async def test_credentials_in_a_url_are_refused_pointing_to_basic_auth(body, field, client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": DOCUMENT, **body}, headers=creator_headers
    )
    assert "auth (type basic)" in fields(response)[field]
    assert "SUPERSECRETPW" not in response.text


async def test_credentials_in_an_import_url_or_the_documents_server_are_refused(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    url = f"/api/gpts/{gpt_id}/actions"
    imported = await client.post(
        url, json={"import_url": "https://u:SUPERSECRETPW@docs.example/openapi.json"}, headers=creator_headers
    )
    assert "user name or password" in fields(imported)["import_url"]
    document = {**DOCUMENT, "servers": [{"url": "https://apiuser:SUPERSECRETPW@api.trips.example"}]}
    pasted = await client.post(url, json={"document": document}, headers=creator_headers)
    assert "auth (type basic)" in fields(pasted)["document"] and "SUPERSECRETPW" not in pasted.text
    assert (await client.get(url, headers=creator_headers)).json() == []


async def test_an_mcp_server_url_with_credentials_is_refused(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/mcp_servers",
        json={"server_label": "x", "server_url": "https://u:SUPERSECRETPW@mcp.example/mcp"},
        headers=creator_headers,
    )
    assert "user name or password" in fields(response)["server_url"]


YAML_INFINITY = """openapi: 3.1.0
info: {title: Trips, version: '1'}
servers: [{url: 'https://api.trips.example'}]
paths:
  /trips:
    get:
      operationId: listTrips
      parameters:
        - {name: budget, in: query, schema: {type: number, maximum: .inf, minimum: .nan}}
      responses: {'200': {description: ok}}
"""


async def test_a_document_with_infinity_or_nan_is_a_422_naming_the_place(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    url = f"/api/gpts/{gpt_id}/actions"
    response = await client.post(url, json={"document": YAML_INFINITY}, headers=creator_headers)
    message = fields(response)["document"]
    assert "/paths/~1trips/get/parameters/0/schema/maximum is inf" in message, message
    as_json = json.dumps(DOCUMENT).replace('"1"}', '"1", "x-max": Infinity}', 1)
    assert "Infinity" in as_json
    response = await client.post(url, json={"document": as_json}, headers=creator_headers)
    assert "/info/x-max is inf" in fields(response)["document"]


async def test_an_archive_manifest_with_non_finite_numbers_is_refused(client, creator_headers):
    manifest = {
        "format": "gptstore.gpt", "version": 1, "gpt": {"name": "Broken"}, "files": [],
        "tools": {"mcp_servers": [{"server_label": "m", "server_url": "https://mcp.example/mcp",
                                   "tools": [{"name": "t", "input_schema": {"maximum": "INFINITY"}}]}]},
    }  # fmt: skip
    text = json.dumps(manifest).replace('"INFINITY"', "Infinity")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("gptstore.json", text)
    files = {"file": ("g.zip", buffer.getvalue(), "application/zip")}
    response = await client.post("/api/gpts/import", files=files, headers=creator_headers)
    assert response.status_code == 422, response.text
    assert "gptstore.json is not valid JSON" in response.json()["detail"]
    assert (await client.get("/api/gpts", headers=creator_headers)).json()["data"] == []


async def test_testing_an_operation_sends_what_a_chat_sends(tools_client, creator_headers, tools_api):
    """The user id header (the tester's opaque id) and the missing-parameter rule of a chat call."""
    gpt_id = await make_gpt(tools_client, creator_headers)
    created = await tools_client.post(
        f"/api/gpts/{gpt_id}/actions",
        json={"import_url": f"{tools_api.base_url}/openapi.yaml", "user_id_header": "X-User"},
        headers=creator_headers,
    )
    assert created.status_code == 201, created.text
    url = f"/api/gpts/{gpt_id}/actions/{created.json()['id']}/test"
    echoed = await tools_client.post(url, json={"operation": "echo"}, headers=creator_headers)
    assert echoed.json()["status"] == "completed", echoed.text
    sent = tools_api.last.headers.get("x-user")
    assert sent is not None and len(sent) == 32
    again = await tools_client.post(url, json={"operation": "echo"}, headers=creator_headers)
    assert again.status_code == 200 and tools_api.last.headers["x-user"] == sent  # stable per tester
    for empty in (None, ""):
        tools_api.requests.clear()
        missing = await tools_client.post(
            url, json={"operation": "getTrip", "arguments": {"trip_id": empty}}, headers=creator_headers
        )
        assert missing.json()["status"] == "failed"
        assert missing.json()["content"] == "Error: missing required parameter 'trip_id'"
        assert tools_api.requests == []


MCP_BAD = [
    ({"headers": {"X-U": "ü€"}}, "headers.X-U", "outside ASCII"),
    ({"headers": {"X-A": "v\r\nX-Injected: 1"}}, "headers.X-A", "line break"),
    ({"authorization": "tok\r\nX-Evil: 1"}, "authorization", "line break"),
    ({"headers": {"Host": "evil.example.com"}}, "headers.Host", "set by gptstore"),
    ({"headers": {"Content-Length": "5"}}, "headers.Content-Length", "set by gptstore"),
    ({"headers": {"Accept": "text/html"}}, "headers.Accept", "set by gptstore"),
    ({"headers": {"Mcp-Session-Id": "s-0001"}}, "headers.Mcp-Session-Id", "set by gptstore"),
    ({"headers": {"X-Empty": " "}}, "headers.X-Empty", "is empty"),
    ({"authorization": "  "}, "authorization", "is empty"),
    (
        {"headers": {"x-api-key": "k-0001", "X-API-KEY": "k-0002"}},
        "headers",
        "names the header 'x-api-key' twice",
    ),
    (
        {"require_approval": {"never": {"tool_names": ["add"]}, "always": {"tool_names": ["add", "fail"]}}},
        "require_approval",
        "add under both always and never",
    ),
]


@pytest.mark.parametrize(("body", "field", "words"), MCP_BAD)
async def test_bad_mcp_headers_are_named_before_any_connection(
    body, field, words, tools_client, creator_headers, mcp_server
):
    gpt_id = await make_gpt(tools_client, creator_headers)
    payload = {"server_label": "local", "server_url": mcp_server.url, "authorization": MCP_TOKEN, **body}
    response = await tools_client.post(
        f"/api/gpts/{gpt_id}/mcp_servers", json=payload, headers=creator_headers
    )
    problems = fields(response)
    assert words in problems.get(field, ""), problems
    assert "server_url" not in problems and "Illegal" not in response.text and "codec" not in response.text


async def test_a_basic_user_id_beyond_ascii_is_accepted(client, creator_headers):
    """docs/tools.md: only ':' and control characters are refused; the rest is sent as UTF-8 (RFC 7617)."""
    gpt_id = await make_gpt(client, creator_headers)
    auth = {"type": "basic", "username": "jürgen", "secret": "pässword-0001"}
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": DOCUMENT, "auth": auth}, headers=creator_headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["auth"]["username"] == "jürgen"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"user_id_header": "Host"}, "user_id_header", "set by gptstore itself"),
        ({"user_id_header": "Content-Length"}, "user_id_header", "set by gptstore itself"),
        ({"user_id_header": "Content-Type"}, "user_id_header", "set by gptstore itself"),
        ({"user_id_header": "Accept"}, "user_id_header", "set by gptstore itself"),
        ({"auth": {"type": "basic", "username": "a:b", "secret": "pw"}}, "auth.username", "':'"),
        ({"auth": {"type": "basic", "username": "a\r\nb", "secret": "pw"}}, "auth.username", "line break"),
        (
            {"auth": {"type": "oauth_client_credentials", "client_id": "id\n", "secret": "s",
                      "token_url": "https://auth.example.com/token"}},
            "auth.client_id",
            "line break",
        ),
    ],
)  # fmt: skip
async def test_a_user_id_header_or_basic_user_id_http_cannot_carry_is_refused(
    body, field, words, client, creator_headers
):
    """The per-user header was the one header name not checked against the reserved list (`Host` replaced
    the real one); a colon in a basic user-id silently moved the rest into the password."""
    gpt_id = await make_gpt(client, creator_headers)
    response = await client.post(
        f"/api/gpts/{gpt_id}/actions", json={"document": DOCUMENT, **body}, headers=creator_headers
    )
    assert response.status_code == 422, response.text
    assert words in fields(response)[field], response.json()
