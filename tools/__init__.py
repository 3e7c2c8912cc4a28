"""Tools for GPTs: OpenAPI actions and MCP servers (docs/tools.md)."""
