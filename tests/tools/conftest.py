from tests.tools.chatkit import tool_client, tool_settings  # noqa: F401
from tests.tools.servers import mcp_server, tools_api, tools_settings, trips_api_server  # noqa: F401
