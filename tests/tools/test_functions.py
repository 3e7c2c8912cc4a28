"""The functions a Toolset offers the model keep to docs/tools.md's limits whatever a server listed."""

import uuid

from tools.definitions import McpServerTool, McpToolSpec, ToolDefinitions
from tools.openapi_actions import LIMITS
from tools.runtime import Toolset


def test_an_mcp_tool_description_is_cut_at_the_function_limit(settings):
    spec = McpToolSpec("wordy", "D" * 3000, {"type": "object", "properties": {}})
    server = McpServerTool(
        uuid.uuid4(), "wordy", "https://mcp.example.com/mcp", "mcp.example.com", tools=(spec,)
    )
    (function,) = Toolset(ToolDefinitions(mcp_servers=(server,)), settings).functions()
    assert function["function"]["description"] == "D" * LIMITS["max_description_chars"]
