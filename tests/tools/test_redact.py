"""A tool's own credentials never come back in what its call returns (docs/tools-safety.md, "Credentials in
responses"): an API echoing its request, or an MCP tool returning its headers, would hand them to the model,
which any user can steer into repeating them, and to `/v1/responses` call items."""

import base64
import json
import uuid

import pytest

from core.llm import ToolCall
from tests.tools.servers import (
    BASIC_PASSWORD,
    BASIC_USERNAME,
    MCP_TOKEN,
    LocalMcpServer,
    TripsApi,
    auth_for,
    mcp_server_tool,
    trips_action,
)
from tools.definitions import ActionAuth, ToolDefinitions
from tools.redact import REDACTED, redact
from tools.runtime import Toolset


def call(name: str, arguments: dict | None = None) -> ToolCall:
    return ToolCall(id=f"call_{uuid.uuid4().hex[:8]}", name=name, arguments=json.dumps(arguments or {}))


async def run(definitions: ToolDefinitions, settings, tool_call: ToolCall):
    toolset = Toolset(definitions, settings)
    try:
        return await toolset.call(tool_call)
    finally:
        await toolset.aclose()


@pytest.mark.parametrize("kind", ["api_key_header", "api_key_query", "bearer", "basic", "oauth"])
async def test_an_api_echoing_its_request_never_shows_the_credentials(
    kind, tools_api: TripsApi, tools_settings
):
    auth = auth_for(kind, tools_api)
    output = await run(ToolDefinitions(actions=(trips_action(tools_api, auth=auth),)), tools_settings,
                       call("echo"))  # fmt: skip
    assert output.status == "completed", output.content
    sent = [auth.secret, *tools_api.issued_tokens]
    if kind == "basic":
        sent.append(base64.b64encode(f"{BASIC_USERNAME}:{BASIC_PASSWORD}".encode()).decode())
    assert REDACTED in output.content
    assert not [s for s in sent if s and s in output.content], output.content
    echoed = json.loads(output.content)
    assert echoed["method"] == "POST" and echoed["headers"]["user-agent"].startswith("gptstore-actions")


async def test_an_error_quoting_the_key_in_any_encoding_never_shows_it(tools_api: TripsApi, tools_settings):
    secret = 'sk live/key+é"1'
    auth = ActionAuth(type="api_key", name="key", location="query", secret=secret)
    output = await run(ToolDefinitions(actions=(trips_action(tools_api, auth=auth),)), tools_settings,
                       call("echo"))  # fmt: skip
    assert json.loads(output.content)["query"] == {"key": REDACTED}
    for text in (
        secret,
        "sk%20live%2Fkey%2B%C3%A9%221",
        "sk+live%2Fkey%2B%C3%A9%221",
        'sk live/key+\\u00e9\\"1',
    ):
        assert redact(f"invalid key {text}.", [secret]) == f"invalid key {REDACTED}."


async def test_an_mcp_tool_returning_its_headers_never_shows_the_token(
    mcp_server: LocalMcpServer, tools_settings
):
    server = mcp_server_tool(
        mcp_server, headers={"Authorization": f"Bearer {MCP_TOKEN}", "X-Team": "blue-team-01"}
    )
    output = await run(ToolDefinitions(mcp_servers=(server,)), tools_settings, call("echo_headers"))
    assert output.status == "completed", output.content
    lines = dict(line.split(": ", 1) for line in output.content.splitlines())
    assert lines["authorization"] == REDACTED and lines["x-team"] == REDACTED
    assert mcp_server.headers_seen[-1]["authorization"] == f"Bearer {MCP_TOKEN}"


def test_short_values_and_other_text_are_left_alone():
    assert redact("a b abc abcd", ["abcd", "abc", "b"]) == "a b abc " + REDACTED
    assert redact("nothing here", []) == "nothing here"


def test_a_response_cut_inside_a_credential_never_shows_its_start():
    secret = "sk-live-0123456789abcdef"
    assert redact("key: " + secret[:10], [secret], cut=True) == "key: " + REDACTED
    assert redact("the test", ["test-key-0001"], cut=False) == "the test"  # whole texts end as they do
