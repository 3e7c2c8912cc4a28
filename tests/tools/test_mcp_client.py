"""The MCP client (tools.mcp_client) against the local MCP server: listing and calling tools, over the SSRF
guard."""

import pytest

from tests.tools.servers import MCP_TOKEN, LocalMcpServer
from tools import mcp_client, net
from tools.redact import REDACTED

AUTH = {"Authorization": f"Bearer {MCP_TOKEN}"}


async def test_list_tools_gives_names_descriptions_and_schemas(mcp_server: LocalMcpServer, tools_settings):
    tools = await mcp_client.list_tools(tools_settings, mcp_server.url, AUTH)
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"add", "weather", "echo_headers", "fail"}
    assert by_name["add"].description == "Add two integers and return the sum."
    assert by_name["add"].input_schema["required"] == ["a", "b"]
    assert by_name["weather"].input_schema["properties"]["city"]["type"] == "string"


async def test_call_tool_joins_text_and_reports_errors(mcp_server: LocalMcpServer, tools_settings):
    assert await mcp_client.call_tool(tools_settings, mcp_server.url, AUTH, "weather", {"city": "Porto"}) == (
        "Sunny in Porto, 21 °C",
        False,
    )
    text, is_error = await mcp_client.call_tool(
        tools_settings, mcp_server.url, AUTH, "fail", {"reason": "closed"}
    )
    assert is_error and "closed" in text


async def test_a_server_refusing_the_credentials_is_an_error(mcp_server: LocalMcpServer, tools_settings):
    with pytest.raises(mcp_client.McpError, match="MCP server .* failed"):
        await mcp_client.list_tools(tools_settings, mcp_server.url, {"Authorization": "Bearer wrong"})
    assert mcp_server.headers_seen[-1]["authorization"] == "Bearer wrong"


def test_an_mcp_error_text_shows_no_configured_credential():
    """The SDK's words may quote what was sent: each header value goes, as sent and as an echo writes it,
    and a text cut inside one loses its start too (tools/redact.py)."""
    token = "tok-" + "9f3a" * 10
    headers = {"Authorization": f"Bearer {token}", "X-Team": "team secret/77"}
    echo = RuntimeError(f"refused Bearer {token} with X-Team=team%20secret%2F77\nsecond line")
    assert mcp_client.describe_error(echo, headers) == f"refused {REDACTED} with X-Team={REDACTED}"
    cut = mcp_client.describe_error(RuntimeError("x" * 290 + token), headers)
    assert cut == "x" * 290 + REDACTED and token[:10] not in cut


async def test_an_unreachable_server_is_an_error(tools_settings):
    with pytest.raises(mcp_client.McpError, match="failed"):
        await mcp_client.list_tools(tools_settings, "http://127.0.0.1:9/mcp", AUTH)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:{port}/mcp", "loopback"),
        ("http://127.0.0.1:{port}/mcp", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/mcp", "loopback"),
        ("http://169.254.169.254/mcp", "cloud metadata"),
        ("ws://127.0.0.1:{port}/mcp", "scheme"),
    ],
)
async def test_mcp_servers_follow_the_ssrf_rules(
    mcp_server: LocalMcpServer, plain_settings, url: str, reason: str
):
    seen = len(mcp_server.headers_seen)
    with pytest.raises(net.RefusedRequest, match=reason):
        await mcp_client.list_tools(plain_settings, url.format(port=mcp_server.port), AUTH)
    assert len(mcp_server.headers_seen) == seen  # nothing reached the server


async def test_allowed_by_setting(mcp_server: LocalMcpServer, plain_settings):
    intranet = plain_settings.model_copy(update={"actions_allow_private_networks": True})
    tools = await mcp_client.list_tools(intranet, f"http://localhost:{mcp_server.port}/mcp", AUTH)
    assert "add" in {t.name for t in tools}
