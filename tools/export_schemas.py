"""A GPT's tools in an export archive (`gptstore.json`'s `tools`, written by
`tools.portability.export_tools`): no secrets; null only where an export writes it (no description, every
tool allowed, no privacy policy)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from core.schemas import StrictBool, not_null
from tools.fields import ConfigurableHeaderName, FunctionName, HttpUrl, Strict
from tools.schemas import ActionAuthWrite, ApprovalRules, McpToolSpecIn


class ActionAuthExport(ActionAuthWrite):
    _not_null = not_null("name", "location", "username", "client_id", "token_url", "scope", "secret")


class ActionExport(Strict):
    document: str = Field(description="OpenAPI 3.0 or 3.1, JSON or YAML, as the creator saved it")
    source_url: HttpUrl | None = Field(default=None, description="Where the document was imported from")
    server_url: HttpUrl | None = None
    privacy_policy_url: HttpUrl | None = None
    user_id_header: ConfigurableHeaderName | None = None
    consequential: dict[FunctionName, StrictBool] | None = Field(default=None, max_length=30)
    auth: ActionAuthExport | None = None
    needs_credentials: StrictBool | None = Field(
        default=None, description="Informative: the import says it again"
    )

    _not_null = not_null("server_url", "consequential", "auth", "needs_credentials")


class ApprovalRulesExport(ApprovalRules):
    _not_null = not_null("always", "never")


class McpServerExport(Strict):
    server_label: FunctionName
    server_url: HttpUrl
    server_description: str | None = Field(default=None, max_length=1000)
    tools: list[McpToolSpecIn] | None = Field(default=None, description="As the server listed them")
    allowed_tools: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=200)
    require_approval: Literal["always", "never"] | ApprovalRulesExport | None = None
    needs_credentials: StrictBool | None = None
    header_names: list[ConfigurableHeaderName] | None = Field(default=None, max_length=20)

    _not_null = not_null("tools", "require_approval", "needs_credentials", "header_names")


class ToolsExport(Strict):
    actions: list[ActionExport] | None = None
    mcp_servers: list[McpServerExport] | None = None

    _not_null = not_null("actions", "mcp_servers")
