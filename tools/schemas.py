"""Request and response shapes of a GPT's actions and MCP servers (docs/tools.md).

Secrets (`auth.secret`, MCP `headers` and `authorization`) are write-only: reads say only whether one is
set and its last 4 characters. The field types are `tools.fields`; the shapes of export archives
`tools.export_schemas`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from core.schemas import StrictBool
from tools.fields import (
    ConfigurableHeaderName,
    CredentialPart,
    FiniteArguments,
    FunctionName,
    HeaderName,
    HttpUrl,
    Strict,
)
from tools.headers import HeaderValue, header_value_problem, reserved_header_problem

AuthType = Literal["none", "api_key", "bearer", "basic", "oauth_client_credentials"]


class ActionAuthWrite(Strict):
    """How the action authenticates. `secret` is the API key, bearer token, basic password or OAuth client
    secret; omit it in an update to keep the one stored, send null to remove it."""

    type: AuthType = "none"
    location: Literal["header", "query"] | None = Field(default=None, description="api_key only")
    name: HeaderName | None = Field(
        default=None, description="api_key: header or query name (a header not one tools-safety.md reserves)"
    )
    username: Annotated[str | None, CredentialPart] = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="basic (no ':', no control characters; sent as UTF-8)",
    )
    client_id: Annotated[str | None, CredentialPart] = Field(
        default=None, min_length=1, max_length=500, description="oauth (no ':', no control characters)"
    )
    token_url: HttpUrl | None = Field(default=None, description="oauth_client_credentials")
    scope: str | None = Field(default=None, max_length=1000, description="oauth_client_credentials")
    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=8000,
        description="Write-only; surrounding whitespace is removed. No control characters; ASCII only where "
        "it is sent in a header as it is (bearer, api_key in a header)",
    )

    @field_validator("name")
    @classmethod
    def _name_not_reserved(cls, name: str | None, info: ValidationInfo) -> str | None:
        if name is not None and info.data.get("location") == "header":
            if problem := reserved_header_problem(name):
                raise ValueError(problem)
        return name

    @field_validator("secret")
    @classmethod
    def _sendable_secret(cls, secret: str | None, info: ValidationInfo) -> str | None:
        """A pasted secret's surrounding whitespace is removed; what HTTP cannot carry is refused."""
        if secret is None:
            return None
        secret = secret.strip()
        if not secret:
            raise ValueError("is empty once surrounding whitespace is removed")
        in_header = info.data.get("type") == "bearer" or (
            info.data.get("type") == "api_key" and info.data.get("location") != "query"
        )
        problem = header_value_problem(secret if in_header else secret.encode("ascii", "replace").decode())
        if problem:
            raise ValueError(f"cannot be sent: it {problem}")
        return secret

    @model_validator(mode="after")
    def _complete(self) -> ActionAuthWrite:
        needed = {
            "api_key": ("name", "location"),
            "basic": ("username",),
            "oauth_client_credentials": ("client_id", "token_url"),
        }.get(self.type, ())
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"auth type {self.type} needs {', '.join(missing)}")
        return self


class ActionFields(Strict):
    server_url: HttpUrl | None = Field(
        default=None, description="Base URL of the operations; default: the document's first server"
    )
    privacy_policy_url: HttpUrl | None = Field(default=None, description="Required to publish publicly")
    consequential: dict[FunctionName, StrictBool] | None = Field(
        default=None,
        max_length=30,
        description="Per operation name: whether it waits for the user's approval (overrides the default: "
        "every non-GET, or the operation's x-openai-isConsequential)",
    )
    user_id_header: ConfigurableHeaderName | None = Field(
        default=None,
        description="Send an opaque per-user id in this header (not one tools-safety.md reserves)",
    )
    auth: ActionAuthWrite | None = None


def _document_shape(value: Any) -> Any:
    """An OpenAPI document is an object or text: anything else is named as `document` (not as the union's
    members, `document.str` and `document.dict[str,any]`)."""
    if value is not None and not isinstance(value, str | dict):
        kind = (
            "an array"
            if isinstance(value, list)
            else "true or false"
            if isinstance(value, bool)
            else "a number"
        )
        raise ValueError(f"must be an OpenAPI document: a JSON object, or JSON or YAML text (not {kind})")
    return value


Document = Annotated[str | dict[str, Any] | None, BeforeValidator(_document_shape)]


class ActionCreate(ActionFields):
    """An action from an OpenAPI 3.0/3.1 document: pasted (`document`, JSON or YAML text, or an object) or
    imported (`import_url`); exactly one of them."""

    document: Document = Field(default=None, description="OpenAPI 3.0 or 3.1, JSON or YAML")
    import_url: HttpUrl | None = Field(default=None, description="Fetch the document from this URL")

    @model_validator(mode="after")
    def _one_source(self) -> ActionCreate:
        if (self.document is None) == (self.import_url is None):
            raise ValueError("send exactly one of document and import_url")
        return self


class ActionUpdate(ActionFields):
    document: Document = Field(default=None, description="A new document")
    import_url: HttpUrl | None = Field(default=None, description="Fetch a new document from this URL")

    @model_validator(mode="after")
    def _one_source(self) -> ActionUpdate:
        if self.document is not None and self.import_url is not None:
            raise ValueError("send at most one of document and import_url")
        return self


class SecretHint(BaseModel):
    set: bool = True
    last4: str | None = Field(description="The last 4 characters; null for secrets under 8 characters")


class ActionAuthRead(BaseModel):
    type: AuthType
    name: str | None = None
    location: Literal["header", "query"] | None = None
    username: str | None = None
    client_id: str | None = None
    token_url: str | None = None
    scope: str | None = None
    secret: SecretHint | None = Field(description="Whether a secret is set (never the secret itself)")
    needs_credentials: bool = Field(description="The auth type needs a secret and none is set")


class OperationRead(BaseModel):
    name: str
    method: str
    path: str
    description: str
    consequential: bool
    parameters: dict[str, Any] = Field(description="The function's parameters as JSON Schema")


class ActionRead(BaseModel):
    id: uuid.UUID
    title: str
    server_url: str
    domain: str
    source_url: str | None
    privacy_policy_url: str | None
    user_id_header: str | None
    auth: ActionAuthRead
    operations: list[OperationRead]
    document: str
    created_at: datetime
    updated_at: datetime


class ApprovalFilter(Strict):
    tool_names: list[Annotated[str, Field(max_length=200)]] = Field(max_length=200)


class ApprovalRules(Strict):
    always: ApprovalFilter | None = None
    never: ApprovalFilter | None = None


RequireApproval = Literal["always", "never"] | ApprovalRules


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("is empty once surrounding whitespace is removed; give a value or leave it out")
    return value


# An MCP server's header value: as `HeaderValue`, and not empty once trimmed (an empty header is a mistake).
McpHeaderValue = Annotated[HeaderValue, Field(max_length=8000), AfterValidator(_not_empty)]


def _one_value_per_name(headers: dict[str, str] | None) -> dict[str, str] | None:
    """Header names are case-insensitive (RFC 9110, 5.1): `x-api-key` and `X-API-KEY` are one header."""
    seen: dict[str, str] = {}
    for name in headers or {}:
        if name.lower() in seen:
            raise ValueError(
                f"names the header '{seen[name.lower()]}' twice ('{name}'; header names are compared without "
                "regard to case); give each header once"
            )
        seen[name.lower()] = name
    return headers


class McpServerFields(Strict):
    server_description: str | None = Field(default=None, max_length=1000)
    headers: Annotated[dict[HeaderName, McpHeaderValue] | None, AfterValidator(_one_value_per_name)] = Field(
        default=None,
        max_length=20,
        description="Write-only; sent with every request to the server. Values: ASCII, no control "
        "characters, not empty (surrounding whitespace removed); names: no reserved header "
        "(docs/tools-safety.md), each once in any case",
    )
    authorization: McpHeaderValue | None = Field(
        default=None, description="Write-only bearer token (ASCII, no control characters)"
    )
    allowed_tools: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=200, description="The enabled tools; null: every tool the server lists"
    )
    require_approval: RequireApproval | None = Field(
        default=None, description='Which tools wait for the user\'s approval (default "always")'
    )


class McpServerCreate(McpServerFields):
    server_label: FunctionName = Field(description="Unique within the GPT")
    server_url: HttpUrl = Field(description="A streamable-HTTP MCP endpoint")


class McpServerUpdate(McpServerFields):
    server_label: FunctionName | None = None
    server_url: HttpUrl | None = None


class McpToolSpecIn(BaseModel):
    """A tool as an MCP server lists it (`tools/list`), or as an export archive keeps it."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=8000)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


McpToolList = TypeAdapter(list[McpToolSpecIn])


class McpToolRead(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]
    enabled: bool
    requires_approval: bool


class McpServerRead(BaseModel):
    id: uuid.UUID
    server_label: str
    server_url: str
    domain: str
    server_description: str | None
    headers: dict[str, SecretHint] = Field(description="Header names set (never their values)")
    authorization: SecretHint | None
    needs_credentials: bool = Field(
        description="Credentials the server is used with are not set (an imported server's, until entered)"
    )
    missing_headers: list[str] = Field(
        description="Headers the server is used with that have no value set (an imported server's)"
    )
    allowed_tools: list[str] | None
    require_approval: RequireApproval
    tools: list[McpToolRead]
    created_at: datetime
    updated_at: datetime


class ActionTestRequest(Strict):
    operation: FunctionName = Field(description="The operation's function name")
    arguments: FiniteArguments = Field(
        default_factory=dict, description="The function's arguments as the model would send them (JSON)"
    )


class ActionTestRead(BaseModel):
    name: str
    domain: str
    status: Literal["completed", "failed"]
    duration_ms: int
    content: str = Field(description="What the model would read: the response (capped) or the error")


class ToolDomainRead(BaseModel):
    """What the store shows of a published GPT's tools before anyone chats."""

    kind: Literal["action", "mcp_server"]
    name: str
    domain: str
    privacy_policy_url: str | None = None


class ToolApprovalRead(BaseModel):
    """A function the caller allowed for good in a GPT (`tools.approvals`): its name, the host it called when
    it was allowed (not the whole URL, which the store page does not show either) and whether the grant
    still applies."""

    name: str
    domain: str = Field(description="The host the function called when it was allowed for good")
    created_at: datetime
    outdated: bool = Field(
        default=False,
        description=(
            "True when the published GPT's function of this name no longer reaches what it reached when it "
            "was allowed (the creator changed its server, path or method, or removed it): the grant does "
            "not apply and its calls ask again; it would apply again if the function were pointed back"
        ),
    )

    @classmethod
    def of(cls, row, current_target: str | None = None) -> ToolApprovalRead:
        """`current_target`: what the function of `row.name` reaches now (`Toolset.grant_target`; None when
        the GPT has no such function)."""
        url = row.target.split(" ")[1] if row.target.count(" ") >= 1 else ""
        return cls(
            name=row.name,
            domain=urlsplit(url).hostname or "",
            created_at=row.created_at,
            outdated=not row.target or row.target != current_target,
        )
