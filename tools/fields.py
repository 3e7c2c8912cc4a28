"""The field types of tool requests: function and header names, URLs, credential parts, finite numbers.

Each refuses what HTTP or the model cannot use, with a sentence the 422 shows (docs/tools.md).
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.patterns import Matches
from tools.headers import header_value_problem, reserved_header_problem

FUNCTION_NAME = r"^[a-zA-Z0-9_-]{1,64}$"
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"  # an HTTP token (RFC 9110, 5.6.2)
FunctionName = Annotated[str, Matches(FUNCTION_NAME, "must be 1-64 letters, digits, '_' or '-'")]
HeaderName = Annotated[
    str, Matches(HEADER_NAME, "must be an HTTP header name: 1-100 letters, digits or !#$%&'*+-.^_`|~")
]


def _not_reserved(name: str) -> str:
    if problem := reserved_header_problem(name):
        raise ValueError(problem)
    return name


# A header name gptstore sets on the creator's behalf (`user_id_header`): never one it reserves.
ConfigurableHeaderName = Annotated[HeaderName, AfterValidator(_not_reserved)]


def _credential_part(value: str | None) -> str | None:
    """A basic-auth user-id or an OAuth client id: sent in `Authorization: Basic`, where RFC 7617 allows no
    colon in the user-id (it ends it) and no control characters. Other characters, beyond ASCII too, are
    sent as UTF-8 (RFC 7617's `charset="UTF-8"`) inside the base64, which the header carries as it is."""
    if value is None:
        return None
    if ":" in value:
        raise ValueError("cannot contain ':', which ends the user-id in HTTP basic authentication (RFC 7617)")
    if problem := header_value_problem(value.encode("ascii", "replace").decode()):
        raise ValueError(f"cannot be sent in HTTP basic authentication: it {problem}")
    return value


CredentialPart = AfterValidator(_credential_part)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        # It would be sent as basic auth, yet shown in reads and exports like any URL.
        raise ValueError(
            "must not contain a user name or password (user:password@host); give an action's credentials "
            "as auth (type basic), an MCP server's as headers or authorization"
        )
    return value


HttpUrl = Annotated[
    str, Field(min_length=8, max_length=2000, json_schema_extra={"format": "uri"}), AfterValidator(_http_url)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def finite(value: Any, path: str = "arguments") -> Any:
    """`value` when every number in it is finite: JSON has no `Infinity` or `NaN` (json.loads reads them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path} is {value}; only finite numbers are accepted")
    if isinstance(value, dict):
        for key, item in value.items():
            finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite(item, f"{path}[{index}]")
    return value


# Arguments as the model would send them: JSON, so every number finite.
FiniteArguments = Annotated[dict[str, Any], AfterValidator(finite)]
